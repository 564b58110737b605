package dev.tidesync.client;

import java.util.List;

/**
 * What one {@link TidesyncClient#flush()} did: changes pushed and how the server took them,
 * changes pulled and applied, and the errors met (a failing table does not stop the others).
 */
public record SyncReport(
    int pushed,
    int applied,
    int conflicts,
    int rejected,
    int pulled,
    int pages,
    boolean bootstrap,
    long millis,
    List<String> errors) {
  public SyncReport {
    errors = List.copyOf(errors);
  }

  public boolean ok() {
    return errors.isEmpty();
  }

  @Override
  public String toString() {
    return "pushed " + pushed + " (applied " + applied + ", conflicts " + conflicts + ", rejected " + rejected + "), pulled " + pulled
        + " in " + pages + " page(s)" + (bootstrap ? " [bootstrap]" : "") + ", " + millis + " ms"
        + (errors.isEmpty() ? "" : ", " + errors.size() + " error(s): " + String.join("; ", errors));
  }
}
