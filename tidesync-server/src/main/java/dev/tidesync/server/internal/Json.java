package dev.tidesync.server.internal;

import com.fasterxml.jackson.core.JsonGenerator;
import dev.tidesync.protocol.Wire;
import io.javalin.http.Context;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

/** Small JSON documents written with Jackson's streaming generator (no databind). */
final class Json {
  static final String CONTENT_TYPE = "application/json";

  interface Body {
    void write(JsonGenerator g) throws IOException;
  }

  private Json() {}

  static byte[] write(Body body) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(1024);
    try (JsonGenerator g = Wire.factory().createGenerator(out)) {
      body.write(g);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  /** Sends bytes as the JSON answer; Javalin gzips it when the client accepts gzip. */
  static void send(Context ctx, byte[] json) {
    ctx.contentType(CONTENT_TYPE).result(json);
  }
}
