package dev.tidesync.server;

import dev.tidesync.core.Storage;
import dev.tidesync.protocol.TidesyncException;
import dev.tidesync.server.internal.ApiRoutes;
import dev.tidesync.server.internal.Auth;
import io.javalin.Javalin;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Tidesync sync server: protocol v1 over HTTP/JSON in front of a {@link Storage}.
 *
 * <pre>{@code
 * try (TidesyncServer server = TidesyncServer.start(storage, ServerConfig.defaults().withPort(0))) {
 *   System.out.println(server.url());
 * }
 * }</pre>
 *
 * <p>Auth is on unless {@link ServerConfig#insecure()}: every request but {@code /health} carries
 * a bearer token from {@link Tokens}, whose tenant scopes everything the request can reach.
 *
 * <p>Requests are served concurrently; the {@link Storage} and its dataset stores are
 * thread-safe. {@link #close()} stops the HTTP server; it closes the storage only when the
 * server was started with {@code closeStorage = true} (see {@link #start(Storage, ServerConfig,
 * boolean)}), otherwise the storage stays the caller's to close.
 */
public final class TidesyncServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(TidesyncServer.class);
  /** The gzip level of answers (see {@link #start}'s comment): 1, the fastest. */
  static final int RESPONSE_GZIP_LEVEL = 1;

  private final Javalin app;
  private final Storage storage;
  private final ServerConfig config;
  private final boolean closeStorage;
  private final int port;
  private final AtomicBoolean closed = new AtomicBoolean();

  private TidesyncServer(Javalin app, Storage storage, ServerConfig config, boolean closeStorage) {
    this.app = app;
    this.port = app.port(); // kept: Javalin reports no port once stopped
    this.storage = storage;
    this.config = config;
    this.closeStorage = closeStorage;
  }

  /** Starts serving {@code storage}; the caller keeps ownership of it. */
  public static TidesyncServer start(Storage storage, ServerConfig config) {
    return start(storage, config, false);
  }

  /**
   * Starts serving {@code storage}. With {@code closeStorage}, {@link #close()} closes the storage
   * after the HTTP server has stopped (so no request is still using it).
   *
   * @throws TidesyncException when the server cannot bind its host and port
   */
  public static TidesyncServer start(Storage storage, ServerConfig config, boolean closeStorage) {
    Objects.requireNonNull(storage, "storage");
    Objects.requireNonNull(config, "config");
    Tokens tokens = null;
    if (config.insecure()) {
      LOG.warn("AUTH IS OFF (insecure mode): anyone who can reach {}:{} reads and writes every dataset of tenant '{}'",
          config.host(), config.port(), Storage.DEFAULT_TENANT);
    } else {
      // Read (or created) once at start: every process on the same storage signs with the same key.
      tokens = config.signingKey() != null ? Tokens.withKey(config.signingKey()) : Tokens.of(storage);
    }
    ApiRoutes api = new ApiRoutes(storage, config, new Auth(storage, tokens, config));
    Javalin app = Javalin.create(c -> {
      c.startup.showJavalinBanner = false;
      c.jetty.host = config.host();
      c.jetty.port = config.port();
      // Only bodyAsBytes() honours this; push bodies are streamed and bounded by PushBodies.
      c.http.maxRequestSize = config.maxRequestBytes();
      c.http.prefer405over404 = true;
      // Answers are gzipped at the fastest level when the client accepts gzip (Javalin's default
      // is 6): a page of rows still shrinks about 4x, and at level 6 compressing pages was a third
      // of the server's CPU in a bootstrap (BENCHMARKS.md, session 5). The client sends pushes
      // at the same level.
      c.http.compressionStrategy = new io.javalin.compression.CompressionStrategy(null, new io.javalin.compression.Gzip(RESPONSE_GZIP_LEVEL));
      api.configure(c);
    });
    try {
      app.start();
    } catch (RuntimeException e) {
      try {
        app.stop();
      } catch (RuntimeException ignored) {
        // already failed; report the start failure
      }
      throw new TidesyncException("cannot start the server on " + config.host() + ":" + config.port() + ": " + e.getMessage(), false, e);
    }
    TidesyncServer server = new TidesyncServer(app, storage, config, closeStorage);
    LOG.info("tidesync server listening on {}", server.url());
    return server;
  }

  /** The bound port (the real one when the configured port was 0); unchanged after close. */
  public int port() {
    return port;
  }

  /** {@code http://host:port}, the base URL clients use. */
  public String url() {
    String host = config.host();
    if (host.contains(":") && !host.startsWith("[")) {
      host = "[" + host + "]"; // IPv6 literal
    }
    return "http://" + host + ":" + port();
  }

  public ServerConfig config() {
    return config;
  }

  /** Stops the HTTP server (and the storage, if owned). Idempotent and safe from any thread. */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    try {
      app.stop();
      LOG.info("tidesync server on port {} stopped", port);
    } finally {
      // After the HTTP server: a request still in flight must not find its storage closed.
      if (closeStorage) {
        storage.close();
      }
    }
  }
}
