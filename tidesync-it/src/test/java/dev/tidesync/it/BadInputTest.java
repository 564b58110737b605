package dev.tidesync.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.core.DatasetId;
import dev.tidesync.core.Storage;
import dev.tidesync.protocol.Checksums;
import dev.tidesync.protocol.Wire;
import dev.tidesync.server.ServerConfig;
import dev.tidesync.server.TidesyncServer;
import dev.tidesync.tck.StorageFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad input against the real server and each real store: every kind gets a 4xx naming the
 * problem, the dataset is unchanged (rows, versions, conflict log, tables), and the server keeps
 * serving.
 */
@ParameterizedClass(name = "[{argumentSetName}]")
@MethodSource("dev.tidesync.it.ServerStores#all")
class BadInputTest {
  @Parameter StorageFactory store;
  @TempDir Path dir;
  Storage storage;
  TidesyncServer server;
  HttpClient http = HttpClient.newHttpClient();

  static final String TABLE = "{\"name\":\"t\",\"policy\":\"field-merge\",\"columns\":[{\"name\":\"id\",\"type\":\"TEXT\",\"notNull\":false},"
      + "{\"name\":\"n\",\"type\":\"INTEGER\",\"notNull\":false}],\"primaryKey\":[\"id\"],\"foreignKeys\":[]}";

  static String push(String batch, String changes) {
    return "{\"v\":1,\"device\":\"d1\",\"batch\":\"" + batch + "\",\"schema\":[" + TABLE + "],\"changes\":[" + changes + "]}";
  }

  static String change(String id, String value) {
    return "{\"table\":\"t\",\"pk\":[\"" + id + "\"],\"op\":\"upsert\",\"cols\":{\"n\":" + value + "},\"hlc\":\"0001700000000000.00000.d1\"}";
  }

  @BeforeEach
  void start() throws Exception {
    storage = store.open(dir.resolve("data"));
    server = TidesyncServer.start(storage, ServerConfig.defaults().withInsecure(true).withPort(0).withMaxBatchChanges(100)
        .withMaxRequestBytes(1 << 20), true);
    HttpResponse<String> ok = post(push("good", change("a", "1")), true);
    assertThat(ok.statusCode()).isEqualTo(200);
  }

  @AfterEach
  void stop() {
    server.close();
  }

  HttpResponse<String> post(String body, boolean rightChecksum) throws Exception {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    return http.send(HttpRequest.newBuilder(URI.create(server.url() + "/v1/datasets/field/push"))
        .header(Wire.CHECKSUM_HEADER, rightChecksum ? Checksums.sha256(bytes) : Checksums.sha256(new byte[1]))
        .POST(HttpRequest.BodyPublishers.ofByteArray(bytes)).build(), HttpResponse.BodyHandlers.ofString());
  }

  /** Everything a bad request must leave as it was, read as a backend would. */
  String state() throws Exception {
    DatasetId id = DatasetId.of("field");
    return ServerStores.rows(store, storage, id, "SELECT id, n FROM t ORDER BY id")
        + " seq=" + ServerStores.rows(store, storage, id, "SELECT v FROM _tidesync_meta WHERE k = 'seq'")
        + " conflicts=" + ServerStores.rows(store, storage, id, "SELECT count(*) FROM _tidesync_conflicts")
        + " batches=" + ServerStores.rows(store, storage, id, "SELECT count(*) FROM _tidesync_batches")
        + " tables=" + ServerStores.tables(store, storage, id);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "malformed JSON        | {\"v\":1,\"device\":\"d1\",                       | 400 | bad_json",
      "boolean value         | BOOL                                                | 400 | bad_value",
      "array value           | ARRAY                                               | 400 | bad_value",
      "integer beyond 64 bit | BIGINT                                              | 400 | bad_value",
      "unknown table         | UNKNOWN_TABLE                                       | 400 | unknown_table",
      "unknown column        | UNKNOWN_COLUMN                                      | 400 | unknown_column",
      "injection in a name   | INJECTION                                           | 400 | unknown_table",
      "injected table name   | INJECTED_TABLE                                      | 400 | bad_identifier",
      "injected column name  | INJECTED_COLUMN                                     | 400 | bad_identifier",
      "injected column type  | INJECTED_TYPE                                       | 400 | bad_schema",
      "JSON nested too deep  | DEEP                                                | 413 | limit_exceeded",
      "checksum mismatch     | CHECKSUM                                            | 400 | checksum_mismatch",
      "oversized batch       | OVERSIZED_BATCH                                     | 413 | batch_too_large",
      "oversized body        | OVERSIZED_BODY                                      | 413 | too_large",
      "incompatible schema   | INCOMPATIBLE                                        | 409 | incompatible_schema",
  })
  void badInputIsRefusedWithAReasonAndChangesNothing(String what, String kind, int status, String code) throws Exception {
    String before = state();
    String body = switch (kind.trim()) {
      case "BOOL" -> push("b1", change("b", "1") + "," + change("c", "true"));
      case "ARRAY" -> push("b1", change("b", "[1]"));
      case "BIGINT" -> push("b1", change("b", "99999999999999999999"));
      case "UNKNOWN_TABLE" -> push("b1", change("b", "1") + "," + change("c", "2").replace("\"table\":\"t\"", "\"table\":\"nope\""));
      case "UNKNOWN_COLUMN" -> push("b1", change("b", "1").replace("\"n\":", "\"missing\":"));
      case "INJECTION" -> push("b1", change("b", "1").replace("\"table\":\"t\"", "\"table\":\"t\\\"; DROP TABLE t; --\""));
      case "INJECTED_TABLE" -> push("b1", change("b", "1")).replace("\"name\":\"t\"", "\"name\":\"x\\\"; DROP TABLE t; --\"");
      case "INJECTED_COLUMN" -> push("b1", change("b", "1")).replace("{\"name\":\"n\"", "{\"name\":\"n\\\"; DROP TABLE t; --\"");
      case "INJECTED_TYPE" -> push("b1", change("b", "1")).replace("\"type\":\"INTEGER\"", "\"type\":\"INTEGER, evil TEXT\"");
      case "DEEP" -> push("b1", change("b", "1")).replace("{\"v\":1,", "{\"v\":1,\"x\":" + "[".repeat(40) + "]".repeat(40) + ",");
      case "CHECKSUM" -> null;
      case "OVERSIZED_BATCH" -> {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 101; i++) {
          sb.append(i > 0 ? "," : "").append(change("x" + i, Integer.toString(i)));
        }
        yield push("b1", sb.toString());
      }
      case "OVERSIZED_BODY" -> push("b1", change("b", "\"" + "x".repeat(1 << 20) + "\""));
      case "INCOMPATIBLE" -> push("b1", change("b", "1")).replace("\"name\":\"n\",\"type\":\"INTEGER\"", "\"name\":\"n\",\"type\":\"TEXT\"");
      default -> kind;
    };
    HttpResponse<String> r = body == null ? post(push("b1", change("b", "1")), false) : post(body, true);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
    assertThat(r.body()).contains("\"error\":\"" + code + "\"").contains("\"message\":");
    if (kind.trim().startsWith("INJECTED_")) {
      assertThat(r.body()).as("the answer names what it refused").contains(kind.trim().equals("INJECTED_TYPE") ? "evil TEXT" : "DROP TABLE t");
    }
    assertThat(state()).as("dataset unchanged").isEqualTo(before);
    HttpResponse<String> health = http.send(HttpRequest.newBuilder(URI.create(server.url() + "/health")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(health.statusCode()).isEqualTo(200);
    assertThat(post(push("after-" + code, change("z", "9")), true).statusCode()).as("still serving pushes").isEqualTo(200);
  }
}
