package dev.tidesync.protocol;

/**
 * The one unchecked base exception of Tidesync. Every failure says whether retrying the same
 * operation later can succeed ({@link #retriable()}): backoff, quarantine and error reports are
 * all driven by that single classification.
 */
public class TidesyncException extends RuntimeException {
  private final boolean retriable;

  public TidesyncException(String message, boolean retriable) {
    super(message);
    this.retriable = retriable;
  }

  public TidesyncException(String message, boolean retriable, Throwable cause) {
    super(message, cause);
    this.retriable = retriable;
  }

  /** True when the same request may succeed later (network, busy store); false for bad input. */
  public boolean retriable() {
    return retriable;
  }
}
