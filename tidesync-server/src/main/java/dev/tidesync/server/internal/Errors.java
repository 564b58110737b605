package dev.tidesync.server.internal;

import dev.tidesync.protocol.ProtocolException;
import dev.tidesync.protocol.TidesyncException;
import dev.tidesync.protocol.Wire;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns every failure into a JSON error body {@code {"error": code, "message": text}} with the
 * right status. Messages are cut to {@value #MAX_MESSAGE} characters: they may quote input.
 */
final class Errors {
  static final int MAX_MESSAGE = 200;
  private static final Logger LOG = LoggerFactory.getLogger("dev.tidesync.server");

  private Errors() {}

  static void register(RoutesConfig routes) {
    // Javalin picks the handler of the most specific registered class.
    routes.exception(ProtocolException.class, (e, ctx) -> {
      LOG.debug("{} {} -> {} {}", ctx.method(), ctx.path(), e.status(), e.code());
      if (e.status() == 401) {
        ctx.header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
      }
      send(ctx, e.status(), e.code(), e.getMessage());
    });
    routes.exception(RateLimitedException.class, (e, ctx) -> {
      LOG.debug("{} {} -> 429: {}", ctx.method(), ctx.path(), e.getMessage());
      ctx.header("Retry-After", Long.toString(e.retryAfterSeconds()));
      send(ctx, 429, "rate_limited", e.getMessage());
    });
    routes.exception(TidesyncException.class, (e, ctx) -> {
      if (e.retriable()) {
        LOG.warn("{} {} -> 503: {}", ctx.method(), ctx.path(), e.getMessage());
        ctx.header("Retry-After", "1");
        send(ctx, 503, "unavailable", "temporarily unavailable, retry: " + e.getMessage());
      } else {
        LOG.error("{} {} failed", ctx.method(), ctx.path(), e);
        send(ctx, 500, "internal", e.getMessage());
      }
    });
    // Javalin's own answers: unknown route (404), wrong method (405), and the like.
    routes.exception(HttpResponseException.class, (e, ctx) -> {
      send(ctx, e.getStatus(), codeFor(e.getStatus()), e.getMessage());
    });
    routes.exception(Exception.class, (e, ctx) -> {
      LOG.error("{} {} failed", ctx.method(), ctx.path(), e);
      send(ctx, 500, "internal", "internal server error (" + e.getClass().getSimpleName() + "); see the server log");
    });
  }

  /** The error code of an answer that only has an HTTP status. */
  static String codeFor(int status) {
    return switch (status) {
      case 400 -> "bad_request";
      case 401 -> "unauthorized";
      case 403 -> "forbidden";
      case 404 -> "not_found";
      case 405 -> "method_not_allowed";
      case 408 -> "timeout";
      case 413 -> "too_large";
      case 414 -> "uri_too_long";
      case 431 -> "headers_too_large";
      case 500 -> "internal";
      case 503 -> "unavailable";
      default -> "http_" + status;
    };
  }

  static void send(Context ctx, int status, String code, String message) {
    ctx.status(status);
    Json.send(ctx, Wire.writeError(code, cut(message)));
  }

  static String cut(String s) {
    if (s == null) {
      return "";
    }
    return s.length() <= MAX_MESSAGE ? s : s.substring(0, MAX_MESSAGE - 3) + "...";
  }
}
