package dev.tidesync.sqlite;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.ForeignKey;
import dev.tidesync.protocol.TableSchema;
import dev.tidesync.sqlite.internal.RowIo;
import dev.tidesync.sqlite.internal.Sql;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link RowIo}'s batched writes: what is queued, when it is sent, and what a failure leaves. */
class RowIoBatchingTest {
  static final TableSchema PARENTS = new TableSchema("parents", List.of(new ColumnSchema("id", "TEXT", false, null),
      new ColumnSchema("name", "TEXT", false, null)), List.of("id"), List.of(), ConflictPolicy.FIELD_MERGE);
  static final TableSchema KIDS = new TableSchema("kids", List.of(new ColumnSchema("id", "TEXT", false, null),
      new ColumnSchema("parent", "TEXT", false, null)), List.of("id"),
      List.of(new ForeignKey(List.of("parent"), "parents", List.of("id"), "NO ACTION")), ConflictPolicy.FIELD_MERGE);

  @TempDir Path dir;
  Connection c;
  RowIo io;

  @BeforeEach
  void open() throws SQLException {
    c = Sql.open(dir.resolve("t.db"), false, true);
    Sql.exec(c, "CREATE TABLE parents (id TEXT PRIMARY KEY, name TEXT)");
    Sql.exec(c, "CREATE TABLE kids (id TEXT PRIMARY KEY, parent TEXT REFERENCES parents (id))");
    Sql.exec(c, "CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT)");
    c.setAutoCommit(false);
    io = new RowIo(c);
  }

  @AfterEach
  void close() throws SQLException {
    io.close();
    c.close();
  }

  private long count(String table) throws SQLException {
    return Sql.number(c, "SELECT count(*) FROM " + table);
  }

  private static Map<String, Object> values(Object... nameValue) {
    Map<String, Object> m = new LinkedHashMap<>();
    for (int i = 0; i < nameValue.length; i += 2) {
      m.put((String) nameValue[i], nameValue[i + 1]);
    }
    return m;
  }

  private static final String META = "INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v";

  private void meta(String k, String v) throws SQLException {
    io.write(META, k, v);
  }

  @Test
  void queuedWritesAreSentInOrderAtTheFlushAndNotBefore() throws SQLException {
    io.startBatching();
    io.upsert(PARENTS, List.of("p1"), values("name", "one"));
    io.upsert(PARENTS, List.of("p1"), values("name", "uno")); // the same row again: order kept
    meta("m1", "a");
    meta("m1", "b");
    assertThat(count("parents")).as("queued, not sent").isZero();
    assertThat(count("meta")).isZero();
    io.flush();
    assertThat(Sql.string(c, "SELECT name FROM parents WHERE id = 'p1'")).isEqualTo("uno");
    assertThat(Sql.string(c, "SELECT v FROM meta WHERE k = 'm1'")).isEqualTo("b");
    // Still batching after a flush; stopBatching sends the rest and runs later writes at once.
    io.upsert(PARENTS, List.of("p2"), values("name", "two"));
    assertThat(count("parents")).isEqualTo(1);
    io.stopBatching();
    assertThat(count("parents")).isEqualTo(2);
    meta("m2", "now");
    assertThat(count("meta")).isEqualTo(2);
  }

  @Test
  void aReadOrADeleteSendsTheQueueFirst() throws SQLException {
    io.startBatching();
    io.upsert(PARENTS, List.of("p1"), values("name", "one"));
    assertThat(io.read(PARENTS, List.of("p1"), null)).containsEntry("name", "one");
    io.upsert(PARENTS, List.of("p2"), values("name", "two"));
    assertThat(io.delete(PARENTS, List.of("p2"))).isEqualTo(1);
    io.stopBatching();
    assertThat(count("parents")).isEqualTo(1);
  }

  @Test
  void anotherRowStatementSendsTheQueuedOnesFirstSoAChildFindsItsParent() throws SQLException {
    io.startBatching();
    io.upsert(PARENTS, List.of("p1"), values("name", "one"));
    io.upsert(KIDS, List.of("k1"), values("parent", "p1"));
    assertThat(count("parents")).as("the parents went when the kids' statement came").isEqualTo(1);
    io.stopBatching();
    assertThat(count("kids")).isEqualTo(1);
  }

  @Test
  void aFailureSurfacesAtTheFlushDropsTheQueueAndStopsBatching() throws SQLException {
    io.startBatching();
    io.upsert(KIDS, List.of("k1"), values("parent", "missing"));
    meta("m1", "a");
    assertThatThrownBy(io::flush).isInstanceOf(SQLException.class).hasMessageContaining("FOREIGN KEY");
    // Nothing is left queued to be sent by a later flush, and writes run at once again.
    io.flush();
    meta("m2", "b");
    assertThat(Sql.number(c, "SELECT count(*) FROM meta WHERE k = 'm1'")).isZero();
    assertThat(count("meta")).isEqualTo(1);
    assertThat(count("kids")).isZero();
  }

  @Test
  void discardDropsWhatIsQueued() throws SQLException {
    io.startBatching();
    io.upsert(PARENTS, List.of("p1"), values("name", "one"));
    meta("m1", "a");
    io.discard();
    io.flush();
    assertThat(count("parents")).isZero();
    assertThat(count("meta")).isZero();
  }

  @Test
  void theSameStatementUsedDirectlyWhileWritesAreQueuedSendsThemFirst() throws SQLException {
    // sqlite-jdbc would run it with the first queued parameters, not the ones bound here.
    io.startBatching();
    meta("m1", "a");
    PreparedStatement direct = io.statement(META);
    direct.setString(1, "m2");
    direct.setString(2, "b");
    direct.executeUpdate();
    io.stopBatching();
    assertThat(Sql.string(c, "SELECT group_concat(k || '=' || v, ',') FROM (SELECT k, v FROM meta ORDER BY k)")).isEqualTo("m1=a,m2=b");
  }

  @Test
  void writesLeftQueuedByABlockThatFailedAreDroppedNotSentWithTheNextOne() throws SQLException {
    io.startBatching();
    io.upsert(PARENTS, List.of("p1"), values("name", "left behind"));
    meta("m1", "left behind");
    // The block ends without stopBatching or discard (an Error went past it); its transaction rolls back.
    c.rollback();
    io.startBatching();
    meta("m2", "b");
    io.stopBatching();
    assertThat(count("parents")).isZero();
    assertThat(Sql.string(c, "SELECT group_concat(k) FROM meta")).isEqualTo("m2");
  }

  @Test
  void anUpsertWritesTheTablesColumnsOfItsValuesWhateverTheirOrderAndAColumnAddedLaterToo() throws SQLException {
    Sql.exec(c, "CREATE TABLE wide (id TEXT PRIMARY KEY, a TEXT, b INTEGER, c REAL)");
    TableSchema wide = new TableSchema("wide", List.of(new ColumnSchema("id", "TEXT", false, null), new ColumnSchema("a", "TEXT", false, null),
        new ColumnSchema("b", "INTEGER", false, null), new ColumnSchema("c", "REAL", false, null)), List.of("id"), List.of(), ConflictPolicy.FIELD_MERGE);
    // Values in another order than the table's, the key among them: bound by column, not by position.
    io.upsert(wide, List.of("w1"), values("c", 1.5, "id", "w1", "a", "x", "b", 7L));
    // A subset, then another subset of the same row: each statement sets only its own columns.
    io.upsert(wide, List.of("w2"), values("b", 2L));
    io.upsert(wide, List.of("w2"), values("a", "y"));
    assertThat(Sql.string(c, "SELECT a || '|' || b || '|' || c FROM wide WHERE id = 'w1'")).isEqualTo("x|7|1.5");
    assertThat(Sql.string(c, "SELECT coalesce(a, '-') || '|' || b || '|' || coalesce(c, '-') FROM wide WHERE id = 'w2'")).isEqualTo("y|2|-");
    // The same table described again with a column added (a new TableSchema under the same name):
    // the columns are numbered anew, not by the statements cached for the old description.
    Sql.exec(c, "ALTER TABLE wide ADD COLUMN d TEXT");
    List<ColumnSchema> cols = new java.util.ArrayList<>(wide.columns());
    cols.add(1, new ColumnSchema("d", "TEXT", false, null)); // another position than the file's: names decide
    TableSchema wider = new TableSchema("wide", cols, List.of("id"), List.of(), ConflictPolicy.FIELD_MERGE);
    io.upsert(wider, List.of("w3"), values("a", "z", "d", "dee"));
    io.upsert(wide, List.of("w4"), values("a", "v"));
    assertThat(Sql.string(c, "SELECT a || '|' || d FROM wide WHERE id = 'w3'")).isEqualTo("z|dee");
    assertThat(Sql.string(c, "SELECT a || '|' || coalesce(d, '-') FROM wide WHERE id = 'w4'")).isEqualTo("v|-");
    // A value naming no column is the caller's bug: refused, not dropped.
    assertThatThrownBy(() -> io.upsert(wide, List.of("w5"), values("a", "x", "nope", 1L)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("table 'wide' has no column(s) [nope]");
    assertThat(count("wide")).isEqualTo(4);
  }
}
