package dev.tidesync.sqlite;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tidesync.protocol.ProtocolException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.junit.jupiter.api.Test;

/**
 * A dataset file restored from a backup keeps its epoch, so the cursors devices got after the
 * backup still parse, but they point past the restored file's newest version: such a cursor must
 * be refused (the device bootstraps again), never answered with "nothing new" while the changes
 * made after the restore are skipped.
 */
class RestoredDatasetTest extends SqliteStoreSupport {
  @Test
  void aCursorFromAfterTheBackupIsRefusedAndNoChangeAfterTheRestoreIsSkipped() throws Exception {
    push("dev-a", upsert("dev-a", "items", "i1", 0, cols("qty", 1L)), upsert("dev-a", "items", "i2", 0, cols("qty", 2L)));
    storage.close();
    Path backup = dir.resolve("backup.db");
    Files.copy(file(), backup);
    storage = factory().open(dir.resolve("storage"));
    push("dev-a", upsert("dev-a", "items", "i3", 0, cols("qty", 3L)), upsert("dev-a", "items", "i4", 0, cols("qty", 4L)));
    String cursor = pullAll(null, "dev-b").cursor();
    storage.close();
    Files.copy(backup, file(), StandardCopyOption.REPLACE_EXISTING);
    Files.deleteIfExists(file().resolveSibling(file().getFileName() + "-wal"));
    Files.deleteIfExists(file().resolveSibling(file().getFileName() + "-shm"));
    reopen();
    push("dev-a", upsert("dev-a", "items", "after-restore", 0, cols("qty", 5L)));
    assertThatThrownBy(() -> store().pull(cursor, 100, "dev-b")).isInstanceOfSatisfying(ProtocolException.class, e -> {
      assertThat(e.status()).isEqualTo(409);
      assertThat(e.code()).isEqualTo("cursor_invalid");
    });
    assertThat(pullAll(null, "dev-b").changes()).extracting(c -> c.pk().get(0)).contains("after-restore");
  }

  @Test
  void aWellFormedCursorPastTheNewestVersionIsRefused() {
    push("dev-a", upsert("dev-a", "items", "i1", 0, cols("qty", 1L)));
    String cursor = pullAll(null, "dev-b").cursor();
    String[] parts = cursor.split("\\.");
    String ahead = parts[0] + "." + parts[1] + "." + (Long.parseLong(parts[2]) + 1000);
    assertThatThrownBy(() -> store().pull(ahead, 100, "dev-b")).isInstanceOfSatisfying(ProtocolException.class,
        e -> assertThat(e.code()).isEqualTo("cursor_invalid"));
    assertThat(store().pull(cursor, 100, "dev-b").changes()).isEmpty();
  }
}
