package dev.tidesync.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** A malformed change in a push is refused with the place of the fault: the change's index and field. */
class PushDecodeErrorsTest {
  private static final String HLC = new Hlc(1_700_000_000_000L, 0, "dev-a").toString();

  /** A valid push of two changes, the second with {@code field} replaced by {@code json} (or removed when null). */
  private static String push(String field, String json) {
    Map<String, Object> cols = new LinkedHashMap<>();
    cols.put("name", "x");
    Change ok = new Change("items", List.of("i1"), false, cols, HLC, null, 0, 0);
    String body = new String(Wire.writePush(new PushRequest("ds", "dev-a", "b1", List.of(), List.of(ok, ok))), StandardCharsets.UTF_8);
    int second = body.lastIndexOf("{\"table\"");
    String change = body.substring(second, body.indexOf('}', body.indexOf("\"cols\"", second)) + 1);
    String fields = change.substring(1);
    String replaced = switch (field) {
      case "table" -> json == null ? fields.replace("\"table\":\"items\",", "") : fields.replace("\"table\":\"items\"", "\"table\":" + json);
      case "cols" -> fields.replace("\"name\":\"x\"", "\"name\":" + json);
      case "extra" -> "\"extra\":1," + fields;
      default -> throw new IllegalArgumentException(field);
    };
    return body.substring(0, second) + "{" + replaced + body.substring(second + change.length());
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "cols  | true  | changes[1].cols.name: booleans are not SQLite values",
      "cols  | {}    | changes[1].cols.name: empty object is not a value",
      "table | 5     | changes[1].table: expected a string",
      "table |       | missing field 'changes[1].table'",
      "extra |       | changes[1] has unknown field 'extra'"})
  void theErrorNamesTheChangeAndTheField(String field, String json, String message) {
    String body = push(field, json);
    assertThatThrownBy(() -> Wire.readPush(new ByteArrayInputStream(body.getBytes(StandardCharsets.UTF_8)), 1000))
        .isInstanceOf(ProtocolException.class).hasMessageContaining(message);
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {"cols | \"y\""})
  void theUnchangedBodyStillReads(String field, String json) {
    String body = push(field, json);
    PushRequest r = Wire.readPush(new ByteArrayInputStream(body.getBytes(StandardCharsets.UTF_8)), 1000);
    assertThat(r.changes()).hasSize(2);
    assertThat(r.changes().get(1).cols()).containsEntry("name", "y");
  }
}
