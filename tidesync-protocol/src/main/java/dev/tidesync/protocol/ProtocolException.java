package dev.tidesync.protocol;

/**
 * A request or response that does not follow protocol v1: malformed JSON, a wrong value type,
 * an unknown table, a checksum mismatch, a batch over the limits. Always permanent: sending the
 * same bytes again gives the same answer. {@link #code()} is a stable machine-readable reason.
 */
public class ProtocolException extends TidesyncException {
  private final String code;
  private final int status;

  public ProtocolException(String code, String message) {
    this(code, 400, message);
  }

  public ProtocolException(String code, int status, String message) {
    super(message, false);
    this.code = code;
    this.status = status;
  }

  public String code() {
    return code;
  }

  /** The HTTP status the server answers with. */
  public int status() {
    return status;
  }
}
