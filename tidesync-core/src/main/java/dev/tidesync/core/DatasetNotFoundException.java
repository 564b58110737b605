package dev.tidesync.core;

import dev.tidesync.protocol.ProtocolException;

/** The dataset does not exist (404). */
public class DatasetNotFoundException extends ProtocolException {
  public DatasetNotFoundException(String dataset) {
    super("dataset_not_found", 404, "dataset '" + dataset + "' does not exist");
  }
}
