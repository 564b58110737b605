package dev.tidesync.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tidesync.protocol.internal.OwnedMap;
import java.io.ByteArrayInputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A {@link Change} keeps the collections handed over to it ({@link OwnedMap}) and copies any other. */
class OwnedCollectionsTest {
  static final String HLC = "0000001700000000.00000.dev";

  @Test
  void aCallersMapIsCopiedSoItsLaterChangesDoNotReachTheChange() {
    Map<String, Object> cols = new LinkedHashMap<>();
    cols.put("a", 1L);
    List<Object> pk = new ArrayList<>(List.of("k"));
    Change c = new Change("t", pk, false, cols, HLC, null, 0, 0);
    cols.put("b", 2L);
    pk.set(0, "other");
    assertThat(c.cols()).containsOnlyKeys("a");
    assertThat(c.pk()).containsExactly("k");
  }

  @Test
  void anOwnedMapIsKeptInItsOrderAndCannotBeChangedThroughTheChange() {
    OwnedMap<String, Object> cols = new OwnedMap<>(3);
    cols.put("z", 1L);
    cols.put("a", "x");
    cols.put("m", null);
    Change c = new Change("t", List.of("k"), false, cols, HLC, null, 0, 0);
    assertThat(c.cols().keySet()).containsExactly("z", "a", "m");
    assertThatThrownBy(() -> c.cols().put("b", 2L)).isInstanceOf(UnsupportedOperationException.class);
    assertThatThrownBy(() -> c.pk().add("x")).isInstanceOf(UnsupportedOperationException.class);
  }

  @Test
  void aDecodedChangeIsUnmodifiableAndKeepsTheWireOrder() {
    PushRequest req = new PushRequest("ds", "dev", "b1", List.of(), List.of(new Change("t", List.of("k"), false,
        new LinkedHashMap<>(Map.of("b", 2L)), HLC, null, 0, 0)));
    byte[] body = Wire.writePush(req);
    String json = new String(body, java.nio.charset.StandardCharsets.UTF_8).replace("{\"b\":2}", "{\"c\":3,\"b\":2,\"a\":1}");
    PushRequest back = Wire.readPush(new ByteArrayInputStream(json.getBytes(java.nio.charset.StandardCharsets.UTF_8)), Integer.MAX_VALUE);
    Change c = back.changes().get(0);
    assertThat(c.cols().keySet()).containsExactly("c", "b", "a");
    assertThatThrownBy(() -> c.cols().remove("a")).isInstanceOf(UnsupportedOperationException.class);
    assertThatThrownBy(() -> c.pk().clear()).isInstanceOf(UnsupportedOperationException.class);
  }
}
