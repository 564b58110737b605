package dev.tidesync.server.internal;

import dev.tidesync.protocol.ProtocolException;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.TidesyncException;
import dev.tidesync.protocol.Wire;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;

/**
 * Reads a push body as a stream: optional gunzip, a size bound before and after decompression,
 * the batch checksum, and the protocol v1 parse. The body is never buffered whole; the digest is
 * computed while the parser reads.
 */
final class PushBodies {
  private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");

  private PushBodies() {}

  /**
   * @param raw the request body as received
   * @param contentEncoding the Content-Encoding header, or null
   * @param checksum the {@link Wire#CHECKSUM_HEADER} header, or null
   * @param contentLength the declared Content-Length, or -1 when unknown (chunked)
   */
  static PushRequest read(InputStream raw, String contentEncoding, String checksum, long contentLength, long maxBytes, int maxChanges) {
    // The checksum header is checked before a single byte is read: a request without it is
    // refused whatever its body.
    if (checksum == null || checksum.isBlank()) {
      throw new ProtocolException("checksum_missing", "header " + Wire.CHECKSUM_HEADER + " is required (SHA-256 hex of the uncompressed body)");
    }
    String expected = checksum.trim().toLowerCase(Locale.ROOT);
    if (!SHA256_HEX.matcher(expected).matches()) {
      throw new ProtocolException("checksum_mismatch", "header " + Wire.CHECKSUM_HEADER + " is not a SHA-256 hex digest");
    }
    if (contentLength > maxBytes) {
      // Read and discard a body that is only somewhat too large before answering: a client still
      // sending when the server closes may never see the 413, take it for a network error and
      // retry forever. A body far over the limit is refused without reading it.
      if (contentLength <= drainLimit(maxBytes)) {
        skipQuietly(raw, contentLength);
      }
      throw new ProtocolException("too_large", 413, "request body is larger than " + maxBytes + " bytes");
    }
    InputStream in = new Bounded(new RawSource(raw), maxBytes, "request body");
    if (isGzip(contentEncoding)) {
      // Bounded again after inflation: a few KiB of gzip can expand to gigabytes.
      in = new Bounded(GzipGuard.open(in), maxBytes, "decompressed request body");
    }
    MessageDigest md = sha256();
    DigestInputStream digest = new DigestInputStream(in, md);
    PushRequest request;
    try {
      // Wire closes its source when done; keep ours open so that the rest can be drained.
      request = Wire.readPush(new NonClosing(digest), maxChanges);
    } catch (ProtocolException e) {
      if (e.status() == 413) {
        // Too large (the body, once inflated, or a value or the batch's changes): the digest
        // cannot tell, since the limit stopped the reading part-way, and the client must see the
        // 413 to send smaller batches.
        throw e;
      }
      // A body damaged in transit usually fails to parse. When the rest of it can be read and
      // the digest does not match, the damage is the real reason: report that instead.
      if (drainQuietly(digest) && !HexFormat.of().formatHex(md.digest()).equals(expected)) {
        throw mismatch();
      }
      throw e;
    }
    drain(digest);
    if (!HexFormat.of().formatHex(md.digest()).equals(expected)) {
      throw mismatch();
    }
    return request;
  }

  private static boolean isGzip(String contentEncoding) {
    if (contentEncoding == null) {
      return false;
    }
    String e = contentEncoding.trim().toLowerCase(Locale.ROOT);
    if (e.isEmpty() || e.equals("identity")) {
      return false;
    }
    if (e.equals("gzip") || e.equals("x-gzip")) {
      return true;
    }
    throw new ProtocolException("unsupported_encoding", 415, "Content-Encoding '" + Errors.cut(contentEncoding) + "' is not supported (use gzip)");
  }

  private static ProtocolException mismatch() {
    return new ProtocolException("checksum_mismatch", "body does not match header " + Wire.CHECKSUM_HEADER + " (SHA-256 of the uncompressed body)");
  }

  /** How much of a too-large body is read and discarded so that the client gets its answer. */
  static long drainLimit(long maxBytes) {
    // At least 64 MiB: a client whose batch is too large for a server configured with a small
    // limit must see the 413 to send smaller batches (a reset looks like a network error, and
    // the same batch would be retried for ever).
    return Math.min(Math.max(4 * maxBytes, 64L * 1024 * 1024), 256L * 1024 * 1024);
  }

  private static void skipQuietly(InputStream raw, long n) {
    byte[] buf = new byte[65536];
    try {
      long left = n;
      int r;
      while (left > 0 && (r = raw.read(buf, 0, (int) Math.min(buf.length, left))) >= 0) {
        left -= r;
      }
    } catch (IOException e) {
      // the client went away: nothing to answer
    }
  }

  private static void drain(InputStream in) {
    byte[] buf = new byte[8192];
    try {
      while (in.read(buf) >= 0) {
        // discard
      }
    } catch (IOException e) {
      throw new TidesyncException("reading the request body failed: " + e.getMessage(), true, e);
    }
  }

  private static boolean drainQuietly(InputStream in) {
    try {
      drain(in);
      return true;
    } catch (RuntimeException e) {
      return false;
    }
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Fails with 413 once more than {@code max} bytes went through. */
  static final class Bounded extends FilterInputStream {
    private final long max;
    private final String what;
    private long count;

    Bounded(InputStream in, long max, String what) {
      super(in);
      this.max = max;
      this.what = what;
    }

    @Override
    public int read() throws IOException {
      int b = in.read();
      if (b >= 0) {
        add(1);
      }
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = in.read(b, off, len);
      if (n > 0) {
        add(n);
      }
      return n;
    }

    @Override
    public long skip(long n) throws IOException {
      // Counted like a read, so that skipping cannot get around the bound.
      if (n <= 0) {
        return 0;
      }
      return Math.max(read(new byte[(int) Math.min(n, 8192)]), 0);
    }

    private void add(int n) {
      count += n;
      if (count > max) {
        throw new ProtocolException("too_large", 413, what + " is larger than " + max + " bytes");
      }
    }
  }

  /**
   * The socket side: its I/O errors (client gone, read timeout) become unchecked here, so that any
   * IOException seen further up comes from the gzip decoder and means a malformed body.
   */
  static final class RawSource extends FilterInputStream {
    RawSource(InputStream in) {
      super(in);
    }

    @Override
    public int read() {
      try {
        return in.read();
      } catch (IOException e) {
        throw failed(e);
      }
    }

    @Override
    public int read(byte[] b, int off, int len) {
      try {
        return in.read(b, off, len);
      } catch (IOException e) {
        throw failed(e);
      }
    }

    private static TidesyncException failed(IOException e) {
      return new TidesyncException("reading the request body failed: " + e.getMessage(), true, e);
    }
  }

  /** Gunzips; any decoder error becomes a 400 {@code bad_gzip}. */
  static final class GzipGuard extends FilterInputStream {
    private GzipGuard(InputStream in) {
      super(in);
    }

    static GzipGuard open(InputStream in) {
      try {
        // GZIPInputStream reads and checks the header in its constructor.
        return new GzipGuard(new GZIPInputStream(in, 8192));
      } catch (IOException e) {
        throw bad(e);
      }
    }

    @Override
    public int read() {
      try {
        return in.read();
      } catch (IOException e) {
        throw bad(e);
      }
    }

    @Override
    public int read(byte[] b, int off, int len) {
      try {
        return in.read(b, off, len);
      } catch (IOException e) {
        throw bad(e);
      }
    }

    private static ProtocolException bad(IOException e) {
      return new ProtocolException("bad_gzip", "body is not valid gzip: " + Errors.cut(String.valueOf(e.getMessage())));
    }
  }

  /** Ignores close(), so that the parser's close does not end the stream we still drain. */
  static final class NonClosing extends FilterInputStream {
    NonClosing(InputStream in) {
      super(in);
    }

    @Override
    public void close() {}
  }
}
