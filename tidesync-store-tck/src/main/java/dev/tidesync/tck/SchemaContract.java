package dev.tidesync.tck;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tidesync.core.DatasetStore;
import dev.tidesync.core.IncompatibleSchemaException;
import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.ForeignKey;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.TableSchema;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The dataset's schema: created by the first push, grown by compatible changes, never broken. */
public abstract class SchemaContract extends ContractSupport {
  static final TableSchema SESSIONS = table("sessions", List.of("id"), col("id", "TEXT"), col("name", "TEXT"));
  static final TableSchema EVENTS = child("events", "session_id", "sessions", "CASCADE",
      col("id", "TEXT"), col("session_id", "TEXT"), col("v", "REAL"));

  static List<String> names(List<TableSchema> tables) {
    return tables.stream().map(TableSchema::name).toList();
  }

  @Test
  void anEmptyDatasetHasNoTablesAndBootstrapsToNothing() {
    DatasetStore s = store();
    assertThat(s.schema()).isEmpty();
    PullPage p = s.pull(null, 100, "dev-a");
    assertThat(p.changes()).isEmpty();
    assertThat(p.schema()).isEmpty();
    assertThat(p.hasMore()).isFalse();
    assertThat(p.bootstrap()).isTrue();
    assertThat(s.status().version()).isZero();
  }

  @Test
  void theFirstPushCreatesItsTablesAndTheSchemaListsParentsFirst() {
    // Children listed before their parent, on purpose.
    push(store(), "dev-a", List.of(EVENTS, SESSIONS),
        upsert("dev-a", "events", "e1", 0, cols("session_id", "s1", "v", 1.5)),
        upsert("dev-a", "sessions", "s1", 0, cols("name", "first")));
    assertThat(names(store().schema())).containsExactly("sessions", "events");
    TableSchema events = store().schema().get(1);
    assertThat(events.primaryKey()).containsExactly("id");
    assertThat(events.columns()).extracting(ColumnSchema::name).containsExactly("id", "session_id", "v");
    assertThat(events.foreignKeys()).extracting(ForeignKey::refTable).containsExactly("sessions");
    assertThat(backendQuery(ID, "SELECT id, session_id, v FROM events")).containsExactly(List.of("e1", "s1", 1.5));
    assertThat(names(store().pull(null, 10, "dev-b").schema())).containsExactly("sessions", "events");
  }

  @Test
  void aPushWithASchemaAndNoChangesCreatesTheTables() {
    push(store(), "dev-a", List.of(ITEMS));
    assertThat(names(store().schema())).containsExactly("items");
    assertThat(backendQuery(ID, "SELECT count(*) FROM items")).containsExactly(List.of(0L));
  }

  @Test
  void aTablesPolicyIsKept() {
    push(store(), "dev-a", List.of(ITEMS.withPolicy(ConflictPolicy.LAST_WRITE_WINS)));
    assertThat(store().schema().get(0).policy()).isEqualTo(ConflictPolicy.LAST_WRITE_WINS);
  }

  @Test
  void aNullableColumnAndANewTableAreAddedAndOldRowsReadNullThere() {
    push("dev-a", upsert("dev-a", "items", "i1", 0, cols("name", "apple")));
    TableSchema wider = withColumn(ITEMS, col("color", "TEXT"));
    TableSchema notes = table("notes", List.of("id"), col("id", "TEXT"), col("body", "TEXT"));
    push(store(), "dev-b", List.of(wider, notes), upsert("dev-b", "items", "i2", 0, cols("name", "pear", "color", "green")),
        upsert("dev-b", "notes", "n1", 0, cols("body", "hello")));
    assertThat(names(store().schema())).containsExactlyInAnyOrder("items", "notes");
    TableSchema items = store().schema().stream().filter(t -> t.name().equals("items")).findFirst().orElseThrow();
    assertThat(items.columns()).extracting(ColumnSchema::name).containsExactly("id", "name", "qty", "price", "img", "color");
    Pulled all = pullAll(null, "dev-c");
    assertThat(all.row("items", "i1").cols()).containsEntry("name", "apple").containsEntry("color", null);
    assertThat(all.row("items", "i2").cols()).containsEntry("color", "green");
    assertThat(all.row("notes", "n1").cols()).containsEntry("body", "hello");
  }

  @Test
  void aNotNullColumnWithALiteralDefaultIsAddedAndFilledForOldRows() {
    push("dev-a", upsert("dev-a", "items", "i1", 0, cols("name", "apple")));
    push(store(), "dev-b", List.of(withColumn(ITEMS, new ColumnSchema("stock", "INTEGER", true, "0"))));
    assertThat(backendQuery(ID, "SELECT stock FROM items WHERE id = 'i1'")).containsExactly(List.of(0L));
    assertThat(pullAll(null, "dev-c").row("items", "i1").cols()).containsEntry("stock", 0L);
  }

  @Test
  void aPushWithoutSomeKnownColumnsOrTablesChangesNothingOfThem() {
    TableSchema notes = table("notes", List.of("id"), col("id", "TEXT"), col("body", "TEXT"));
    push(store(), "dev-a", List.of(withColumn(ITEMS, col("color", "TEXT")), notes));
    // An older device knows only the original items table.
    push("dev-old", upsert("dev-old", "items", "i1", 0, cols("name", "apple")));
    assertThat(names(store().schema())).containsExactlyInAnyOrder("items", "notes");
    assertThat(store().schema().stream().filter(t -> t.name().equals("items")).findFirst().orElseThrow().columns())
        .extracting(ColumnSchema::name).contains("color");
  }

  /** Each variant is a schema the dataset cannot take without breaking rows or other devices. */
  @ParameterizedTest
  @ValueSource(strings = {"other-primary-key", "other-type", "not-null-without-default", "other-policy"})
  void anIncompatibleChangeIsRefusedAndChangesNothing(String variant) {
    TableSchema notes = table("notes", List.of("id"), col("id", "TEXT"), col("body", "TEXT"));
    push("dev-a", upsert("dev-a", "items", "i1", 0, cols("name", "apple", "qty", 1L)));
    long version = store().status().version();
    List<TableSchema> schemaBefore = store().schema();
    TableSchema bad = switch (variant) {
      case "other-primary-key" -> new TableSchema("items", ITEMS.columns(), List.of("name"), List.of(), ConflictPolicy.FIELD_MERGE);
      case "other-type" -> new TableSchema("items", replace(ITEMS.columns(), col("qty", "TEXT")), ITEMS.primaryKey(), List.of(),
          ConflictPolicy.FIELD_MERGE);
      case "not-null-without-default" -> withColumn(ITEMS, notNull("stock", "INTEGER"));
      case "other-policy" -> ITEMS.withPolicy(ConflictPolicy.LAST_WRITE_WINS);
      default -> throw new IllegalArgumentException(variant);
    };
    assertThatThrownBy(() -> push(store(), "dev-b", List.of(bad, notes),
        upsert("dev-b", "items", "i1", 0, cols("name", "changed")), upsert("dev-b", "notes", "n1", 0, cols("body", "x"))))
        .isInstanceOf(IncompatibleSchemaException.class)
        .satisfies(e -> assertThat(((IncompatibleSchemaException) e).status()).isEqualTo(409));
    assertThat(store().schema()).isEqualTo(schemaBefore);
    assertThat(store().status().version()).isEqualTo(version);
    assertThat(backendQuery(ID, "SELECT name, qty FROM items")).containsExactly(List.of("apple", 1L));
  }

  @Test
  void aTableReferencingATableThatExistsNowhereIsRefused() {
    TableSchema orphan = child("orphans", "parent_id", "nowhere", "NO ACTION", col("id", "TEXT"), col("parent_id", "TEXT"));
    assertThatThrownBy(() -> push(store(), "dev-a", List.of(orphan), upsert("dev-a", "orphans", "o1", 0, cols("parent_id", "p"))))
        .isInstanceOf(IncompatibleSchemaException.class);
    assertThat(store().schema()).isEmpty();
  }

  static TableSchema withColumn(TableSchema t, ColumnSchema c) {
    List<ColumnSchema> cols = new ArrayList<>(t.columns());
    cols.add(c);
    return new TableSchema(t.name(), cols, t.primaryKey(), t.foreignKeys(), t.policy());
  }

  static List<ColumnSchema> replace(List<ColumnSchema> cols, ColumnSchema c) {
    return cols.stream().map(x -> x.name().equals(c.name()) ? c : x).toList();
  }
}
