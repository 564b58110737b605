package dev.tidesync.cli.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.client.SyncReport;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;

class SyncProgressTest {
  @Test
  void longSyncsShowProgressAndQuickOnesDoNot() throws Exception {
    StringWriter progress = new StringWriter();
    StringWriter perSync = new StringWriter();
    try (SyncProgress p = new SyncProgress(new PrintWriter(progress, true), new PrintWriter(new StringWriter()),
        new PrintWriter(perSync, true), 200, 50)) {
      p.syncStarted();
      p.batchPushed("events", 1000, 0, 0);
      p.syncFinished(new SyncReport(1000, 1000, 0, 0, 0, 1, false, 20, List.of()));
      Thread.sleep(400);
      assertThat(progress.toString()).as("a sync that ended before the quiet time prints no progress").isEmpty();
      assertThat(perSync.toString()).contains("pushed 1000 (conflicts 0, rejected 0), pulled 0, 20 ms");

      p.syncStarted();
      p.batchPushed("sessions", 500, 0, 0);
      p.batchPushed("events", 1000, 0, 0);
      p.pageApplied(700, true);
      Thread.sleep(500);
      p.ended();
      String shown = progress.toString();
      assertThat(shown).contains("  ... pushed 1500 change(s) in 2 batch(es), now table events; pulled 700 change(s) in 1 page(s)");
      Thread.sleep(200);
      assertThat(progress.toString()).as("nothing after the sync ended").isEqualTo(shown);
    }
  }

  @Test
  void aSyncLineNamesRefusedChangesThatWereSupersededWithoutCallingThemErrors() {
    SyncReport r = new SyncReport(0, 0, 0, 0, 1, 1, false, 5, List.of(),
        List.of("items [\"i1\"]: refused local value(s) of qty superseded by a newer pulled change (version 7); refused because: x"));
    assertThat(r.ok()).isTrue();
    assertThat(SyncProgress.line(r)).isEqualTo("pushed 0 (conflicts 0, rejected 0), pulled 1, 5 ms; 1 refused change(s) superseded: "
        + "items [\"i1\"]: refused local value(s) of qty superseded by a newer pulled change (version 7); refused because: x");
  }

  @Test
  void withoutAProgressWriterNothingIsPrinted() throws Exception {
    StringWriter err = new StringWriter();
    try (SyncProgress p = new SyncProgress(null, new PrintWriter(err, true), null, 0, 10)) {
      p.begin("opening");
      p.syncStarted();
      Thread.sleep(100);
    }
    assertThat(err.toString()).isEmpty();
  }
}
