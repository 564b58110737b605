package dev.tidesync.sqlite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.protocol.ForeignKey;
import dev.tidesync.protocol.TableSchema;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Tables as Tidesync reads them from a file: {@code REFERENCES t} without columns means t's primary key. */
class IntrospectTest {
  @TempDir Path dir;

  private Map<String, TableSchema> open(String... ddl) throws Exception {
    Path db = dir.resolve("app.db");
    TestDb.sql(db, ddl);
    try (DeviceReplica r = DeviceReplica.open(db, DeviceReplica.Options.defaults().withDevice("dev-a"))) {
      assertThat(r.skipped()).isEmpty();
      return r.tables().stream().collect(Collectors.toMap(TableSchema::name, t -> t));
    }
  }

  @Test
  void aTableThatRefersToItselfWithoutNamingTheColumnRefersToItsKey() throws Exception {
    // This once recursed until the stack overflowed.
    TableSchema t = open("CREATE TABLE nodes (id TEXT PRIMARY KEY, parent TEXT REFERENCES nodes)").get("nodes");
    assertThat(t.foreignKeys()).containsExactly(new ForeignKey(List.of("parent"), "nodes", List.of("id"), "NO ACTION"));
  }

  @Test
  void twoTablesThatReferToEachOtherWithoutNamingColumnsReferToEachOthersKeys() throws Exception {
    Map<String, TableSchema> t = open("PRAGMA foreign_keys = OFF",
        "CREATE TABLE a (id INTEGER PRIMARY KEY, b_id TEXT REFERENCES b)",
        "CREATE TABLE b (code TEXT PRIMARY KEY, a_id INTEGER REFERENCES a ON DELETE SET NULL)");
    assertThat(t.get("a").foreignKeys()).containsExactly(new ForeignKey(List.of("b_id"), "b", List.of("code"), "NO ACTION"));
    assertThat(t.get("b").foreignKeys()).containsExactly(new ForeignKey(List.of("a_id"), "a", List.of("id"), "SET NULL"));
  }

  @Test
  void aForeignKeyOfOneColumnToACompositeKeyIsReportedAndTheTableSkipped() throws Exception {
    Path db = dir.resolve("mismatch.db");
    TestDb.sql(db, "CREATE TABLE pairs (a TEXT, b TEXT, PRIMARY KEY (a, b))", "CREATE TABLE refs (id TEXT PRIMARY KEY, p TEXT REFERENCES pairs)");
    try (DeviceReplica r = DeviceReplica.open(db, DeviceReplica.Options.defaults().withDevice("dev-a"))) {
      assertThat(r.tables()).extracting(TableSchema::name).containsExactly("pairs");
      assertThat(r.skipped()).containsOnlyKeys("refs");
      assertThat(r.skipped().get("refs")).contains("1 column(s) [p]", "2 column(s) [a, b]", "'pairs'");
    }
  }

  @Test
  void aForeignKeySpelledInAnotherCaseNamesTheTableAndColumnsAsDeclared() throws Exception {
    // SQLite matches these names without regard to case; the server and the parents-first order
    // match them exactly, so introspection gives the declared spelling.
    Map<String, TableSchema> t = open("CREATE TABLE sessions (id TEXT PRIMARY KEY, name TEXT)",
        "CREATE TABLE events (id TEXT PRIMARY KEY, Session_ID TEXT REFERENCES SESSIONS (ID))",
        "CREATE TABLE nodes (id TEXT PRIMARY KEY, parent TEXT, FOREIGN KEY (PARENT) REFERENCES Nodes (Id))",
        "CREATE TABLE leaves (id TEXT PRIMARY KEY, node TEXT REFERENCES NODES)");
    assertThat(t.get("events").foreignKeys()).containsExactly(new ForeignKey(List.of("Session_ID"), "sessions", List.of("id"), "NO ACTION"));
    assertThat(t.get("nodes").foreignKeys()).containsExactly(new ForeignKey(List.of("parent"), "nodes", List.of("id"), "NO ACTION"));
    assertThat(t.get("leaves").foreignKeys()).containsExactly(new ForeignKey(List.of("node"), "nodes", List.of("id"), "NO ACTION"));
  }

  @Test
  void namesThatDifferOnlyInTheCaseOfANonAsciiLetterAreDifferentNames() throws Exception {
    // SQLite ignores the case of ASCII letters only: "étape" and "Étape" are two tables, "ä" and "Ä" two columns.
    Map<String, TableSchema> t = open("CREATE TABLE \"étape\" (id TEXT PRIMARY KEY, name TEXT)",
        "CREATE TABLE \"Étape\" (id TEXT PRIMARY KEY, prev TEXT REFERENCES \"étape\" (id))",
        "CREATE TABLE p (id TEXT PRIMARY KEY, \"ä\" TEXT UNIQUE, \"Ä\" TEXT UNIQUE)",
        "CREATE TABLE c (id TEXT PRIMARY KEY, x TEXT REFERENCES p (\"Ä\"))");
    assertThat(t.get("Étape").foreignKeys()).containsExactly(new ForeignKey(List.of("prev"), "étape", List.of("id"), "NO ACTION"));
    assertThat(t.get("c").foreignKeys()).containsExactly(new ForeignKey(List.of("x"), "p", List.of("Ä"), "NO ACTION"));
  }
}
