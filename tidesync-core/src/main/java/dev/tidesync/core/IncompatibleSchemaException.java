package dev.tidesync.core;

import dev.tidesync.protocol.ProtocolException;

/** A pushed schema that cannot be reconciled with the dataset's (409): nothing was applied. */
public class IncompatibleSchemaException extends ProtocolException {
  public IncompatibleSchemaException(String message) {
    super("incompatible_schema", 409, message);
  }
}
