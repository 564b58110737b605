package dev.tidesync.cli.internal;

import dev.tidesync.protocol.TidesyncException;

/**
 * A command failed for a reason the user can act on (a file that is not there, a server that
 * cannot be reached). The message is the one line {@code tidesync:} prints; the exit code is 1.
 * Usage errors are picocli's {@code ParameterException}s instead (exit code 2).
 */
public class CliException extends TidesyncException {
  public CliException(String message) {
    super(message, false);
  }

  public CliException(String message, Throwable cause) {
    super(message, false, cause);
  }
}
