package dev.tidesync.client;

import java.util.List;

/**
 * What one {@link TidesyncClient#flush()} did: changes pushed and how the server took them,
 * changes pulled and applied, the errors met (a failing table does not stop the others), and
 * {@code superseded}: refused (failed) local changes that a newer pulled change replaced, one
 * line each naming the table, key and columns (the values are kept: see
 * {@link dev.tidesync.sqlite.DeviceReplica#superseded()}). A superseded change is not an error:
 * the row is resolved as the server would have resolved it.
 *
 * <p>{@code pushed} counts changes sent: a row a push sends again in a later round (see {@link
 * TidesyncClient#flush()}: rows refused for now go again while that gets some through) counts
 * each time. {@code rejected} counts rows refused, each once, however often it was sent.
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
    List<String> errors,
    List<String> superseded) {
  public SyncReport {
    errors = List.copyOf(errors);
    superseded = List.copyOf(superseded);
  }

  public SyncReport(int pushed, int applied, int conflicts, int rejected, int pulled, int pages, boolean bootstrap, long millis,
      List<String> errors) {
    this(pushed, applied, conflicts, rejected, pulled, pages, bootstrap, millis, errors, List.of());
  }

  public boolean ok() {
    return errors.isEmpty();
  }

  @Override
  public String toString() {
    return "pushed " + pushed + " (applied " + applied + ", conflicts " + conflicts + ", rejected " + rejected + "), pulled " + pulled
        + " in " + pages + " page(s)" + (bootstrap ? " [bootstrap]" : "") + ", " + millis + " ms"
        + (errors.isEmpty() ? "" : ", " + errors.size() + " error(s): " + String.join("; ", errors))
        + (superseded.isEmpty() ? "" : ", " + superseded.size() + " superseded: " + String.join("; ", superseded));
  }
}
