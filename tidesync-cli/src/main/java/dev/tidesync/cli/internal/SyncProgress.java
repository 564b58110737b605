package dev.tidesync.cli.internal;

import dev.tidesync.client.SyncListener;
import dev.tidesync.client.SyncReport;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.LocalTime;
import java.time.temporal.ChronoUnit;

/**
 * Progress of long syncs on stderr: once a sync has run for {@value #QUIET_MILLIS} ms, a line a
 * second with the changes pushed and pulled so far (quick syncs stay quiet). Off unless asked for
 * or run from a terminal, so that scripts see one line on failure and nothing else. A ticker thread
 * prints, so the slow first phase of a big initial sync (logging every existing row) shows too.
 * In watch mode it also prints one line per finished sync to stdout.
 */
public final class SyncProgress implements SyncListener, AutoCloseable {
  private static final long QUIET_MILLIS = 2000;
  private static final long EVERY_MILLIS = 1000;

  private final long quietMillis;
  private final long everyMillis;
  private final PrintWriter progress;
  private final PrintWriter err;
  private final PrintWriter perSync;
  private final Thread ticker;
  private boolean running;
  private long started;
  private long lastPrint;
  private long pushed;
  private int batches;
  private long pulled;
  private int pages;
  private String table;
  private String phase;

  /**
   * @param progress where progress lines go (stderr), or null for none
   * @param err where warnings go (repeated failures in watch mode)
   * @param perSync where to print one line per finished sync (watch mode), or null
   */
  public SyncProgress(PrintWriter progress, PrintWriter err, PrintWriter perSync) {
    this(progress, err, perSync, QUIET_MILLIS, EVERY_MILLIS);
  }

  /** As above, with the quiet time before the first progress line and the time between lines. */
  public SyncProgress(PrintWriter progress, PrintWriter err, PrintWriter perSync, long quietMillis, long everyMillis) {
    this.quietMillis = quietMillis;
    this.everyMillis = everyMillis;
    this.progress = progress;
    this.err = err;
    this.perSync = perSync;
    this.ticker = new Thread(this::tick, "tidesync-progress");
    ticker.setDaemon(true);
    if (progress != null) {
      ticker.start();
    }
  }

  /** Shows {@code phase} as progress from now until the sync starts (e.g. opening a big file the first time). */
  public synchronized void begin(String phase) {
    running = true;
    started = System.currentTimeMillis();
    this.phase = phase;
  }

  @Override
  public synchronized void syncStarted() {
    if (!running) {
      started = System.currentTimeMillis();
    }
    running = true;
    phase = "preparing local changes";
    lastPrint = 0;
    pushed = 0;
    batches = 0;
    pulled = 0;
    pages = 0;
    table = null;
  }

  @Override
  public synchronized void batchPushed(String table, int changes, int conflicts, int rejected) {
    if (changes > 0) {
      this.table = table;
      pushed += changes;
      batches++;
    }
  }

  @Override
  public synchronized void pageApplied(int changes, boolean bootstrap) {
    pulled += changes;
    pages++;
  }

  @Override
  public void syncFinished(SyncReport report) {
    ended();
    if (perSync != null) {
      perSync.println(LocalTime.now().truncatedTo(ChronoUnit.SECONDS) + " " + line(report));
      perSync.flush();
    }
  }

  /** The sync ended without a report (it failed): stop printing progress for it. */
  public synchronized void ended() {
    running = false;
  }

  @Override
  public void repeatedFailure(int consecutive, Throwable lastError) {
    err.println(LocalTime.now().truncatedTo(ChronoUnit.SECONDS) + " " + consecutive + " syncs in a row failed; last: "
        + Checks.reason(lastError));
    err.flush();
  }

  /** Stops the ticker (no more progress lines). */
  @Override
  public void close() {
    ended();
    ticker.interrupt();
  }

  private void tick() {
    try {
      while (true) {
        Thread.sleep(Math.min(250, Math.max(10, everyMillis / 4)));
        String line = progressLine(System.currentTimeMillis());
        if (line != null) {
          progress.println(line);
          progress.flush();
        }
      }
    } catch (InterruptedException e) {
      // closed
    }
  }

  private synchronized String progressLine(long now) {
    if (!running || now - started < quietMillis || now - lastPrint < everyMillis) {
      return null;
    }
    lastPrint = now;
    StringBuilder sb = new StringBuilder("  ... ");
    if (batches == 0 && pages == 0) {
      sb.append(phase);
    }
    if (batches > 0) {
      sb.append("pushed ").append(pushed).append(" change(s) in ").append(batches).append(" batch(es), now table ").append(table);
    }
    if (pages > 0) {
      sb.append(batches > 0 ? "; " : "").append("pulled ").append(pulled).append(" change(s) in ").append(pages).append(" page(s)");
    }
    return sb.append(" (").append(Durations.human(Duration.ofMillis(now - started))).append(')').toString();
  }

  /** One finished sync, for watch mode. */
  public static String line(SyncReport r) {
    String s = "pushed " + r.pushed() + " (conflicts " + r.conflicts() + ", rejected " + r.rejected() + "), pulled " + r.pulled()
        + (r.bootstrap() ? " (bootstrap)" : "") + ", " + r.millis() + " ms";
    if (!r.superseded().isEmpty()) {
      s += "; " + r.superseded().size() + " refused change(s) superseded: " + Checks.oneLine(String.join("; ", r.superseded()));
    }
    return r.ok() ? s : s + "; " + r.errors().size() + " error(s): " + Checks.oneLine(String.join("; ", r.errors()));
  }
}
