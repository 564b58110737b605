package dev.tidesync.pg.internal;

import static dev.tidesync.pg.internal.Pg.q;

import dev.tidesync.core.internal.ChainWaits;
import dev.tidesync.protocol.TableSchema;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * What {@link ChainWaits} needs to know of a dataset's PostgreSQL schema: the tables whose
 * reference to themselves fails in ways it can foresee, and whether a row and its parent are
 * absent. During a push every key is checked at its statement ({@code SET CONSTRAINTS ALL
 * IMMEDIATE}).
 *
 * <p>A table qualifies when PostgreSQL compares the keys as the texts the changes name and nothing
 * but the batch's own changes can write its rows or refuse them at another pass:
 *
 * <ul>
 *   <li>no trigger on a table of the schema but Tidesync's capture trigger, with its own function
 *       and that function's own body (a backend's trigger could write the parent); no rule; no
 *       foreign key from a table outside the schema (its cascade could fire a trigger there);
 *   <li>the key is one column of type text or varchar without a length (a varchar(n) drops the
 *       trailing spaces past n, so it would hold another key than the text the change names),
 *       with a deterministic collation, and the table's only reference to itself is one such
 *       column referring to the key;
 *   <li>no foreign key of the table over its key column with an action (ON DELETE SET DEFAULT
 *       would write a key behind the batch's back: found in review);
 *   <li>no unique index or exclusion constraint but the key's, no CHECK, no column of a domain
 *       type (a domain's CHECK), no DEFAULT but a literal and no identity column (now(),
 *       random() or a sequence give another value, or use one up, at each attempt), no row-level
 *       security.
 * </ul>
 *
 * <p>One object per attempt at a batch: what it read of the schema holds for that attempt.
 */
public final class PgSelfKeys implements ChainWaits.Probe<SQLException> {
  /** A default PostgreSQL shows as a constant: a quoted or numeric literal, NULL or a boolean, with casts. */
  private static final Pattern LITERAL = Pattern.compile(
      "\\(?('([^']|'')*'|-?[0-9]+(\\.[0-9]+)?([eE][+-]?[0-9]+)?|NULL|true|false)\\)?(::[a-z ]+(\\([0-9, ]+\\))?(\\[\\])?)*");

  private record SelfKey(String keyColumn, String refColumn) {}

  private final Connection c;
  private final String schema;
  private final Map<String, TableSchema> tables;
  /** Whether the schema as a whole allows it; read at the first question (most batches never ask). */
  private Boolean usable;
  private final Map<String, Optional<SelfKey>> known = new HashMap<>();

  /** For the dataset schema {@code schema}, whose tables the store knows as {@code tables}. */
  public PgSelfKeys(Connection c, String schema, Map<String, TableSchema> tables) {
    this.c = c;
    this.schema = schema;
    this.tables = tables;
  }

  private boolean usable() throws SQLException {
    if (usable == null) {
      usable = onlyCaptureTriggers() && Pg.number(c, "SELECT count(*) FROM pg_rules WHERE schemaname = ?", schema) == 0
          && Pg.number(c, "SELECT count(*) FROM pg_constraint k JOIN pg_class p ON p.oid = k.confrelid JOIN pg_class r ON r.oid = k.conrelid "
              + "WHERE k.contype = 'f' AND p.relnamespace = ?::regnamespace AND r.relnamespace <> p.relnamespace", q(schema)) == 0;
    }
    return usable;
  }

  /** Whether every trigger on the schema's tables is Tidesync's capture trigger of a table the store knows, running its own body. */
  private boolean onlyCaptureTriggers() throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("SELECT r.relname, g.tgname, f.proname, f.pronamespace = r.relnamespace, f.prosrc "
        + "FROM pg_trigger g JOIN pg_class r ON r.oid = g.tgrelid JOIN pg_proc f ON f.oid = g.tgfoid "
        + "WHERE r.relnamespace = ?::regnamespace AND NOT g.tgisinternal")) {
      ps.setString(1, q(schema));
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          TableSchema t = tables.get(rs.getString(1));
          if (t == null || !rs.getString(2).equals("_tidesync_capture") || !rs.getString(3).equals(PgDdl.functionName(t.name()))
              || !rs.getBoolean(4) || !rs.getString(5).equals(captureBody(t))) {
            return false;
          }
        }
      }
    }
    return true;
  }

  /** The body PostgreSQL keeps of the capture function {@link PgDdl#captureTrigger} makes for {@code t}. */
  private String captureBody(TableSchema t) {
    String create = PgDdl.captureTrigger(schema, t).get(0);
    int open = create.indexOf(" AS $") + 4;
    String tag = create.substring(open, create.indexOf('$', open + 1) + 1);
    return create.substring(open + tag.length(), create.length() - tag.length());
  }

  @Override
  public String selfReference(String table) throws SQLException {
    if (!usable()) {
      return null;
    }
    Optional<SelfKey> self = known.get(table);
    if (self == null) {
      self = Optional.ofNullable(readSelfKey(table));
      known.put(table, self);
    }
    return self.map(SelfKey::refColumn).orElse(null);
  }

  /** Asked only of a table {@link #selfReference} named a reference of (ChainWaits asks that first). */
  @Override
  public boolean newAndParentAbsent(String table, String key, String canonicalKey, String parent) throws SQLException {
    if (key.indexOf('\u0000') >= 0 || parent.indexOf('\u0000') >= 0 || canonicalKey.indexOf('\u0000') >= 0) {
      return false; // text cannot hold it, and a failed probe would abort the push's transaction
    }
    SelfKey self = known.get(table).orElseThrow();
    String row = "EXISTS (SELECT 1 FROM " + q(schema) + "." + q(table) + " WHERE " + q(self.keyColumn()) + " = ?)";
    // One round trip for the three questions.
    try (PreparedStatement ps = c.prepareStatement("SELECT EXISTS (SELECT 1 FROM " + q(schema) + "._tidesync_rows WHERE tbl = ? AND pk = ?) OR "
        + row + " OR " + row)) {
      Pg.bindAll(ps, table, canonicalKey, key, parent);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() && !rs.getBoolean(1);
      }
    }
  }

  private SelfKey readSelfKey(String table) throws SQLException {
    String rel = q(schema) + "." + q(table);
    if (Pg.number(c, "SELECT count(*) FROM pg_class WHERE oid = ?::regclass AND relrowsecurity", rel) != 0
        || Pg.number(c, "SELECT count(*) FROM pg_index WHERE indrelid = ?::regclass AND NOT indisprimary AND (indisunique OR indisexclusion)", rel) != 0
        || Pg.number(c, "SELECT count(*) FROM pg_constraint WHERE conrelid = ?::regclass AND contype IN ('c', 'x', 'u')", rel) != 0
        || Pg.number(c, "SELECT count(*) FROM pg_attribute a JOIN pg_type y ON y.oid = a.atttypid "
            + "WHERE a.attrelid = ?::regclass AND a.attnum > 0 AND NOT a.attisdropped AND (y.typtype = 'd' OR a.attidentity <> '')", rel) != 0) {
      return null;
    }
    try (PreparedStatement ps = c.prepareStatement("SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d "
        + "JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = ?::regclass AND a.attgenerated = ''")) {
      ps.setString(1, rel);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          if (!LITERAL.matcher(rs.getString(1)).matches()) {
            return null;
          }
        }
      }
    }
    // The key: one column, text or varchar, compared by a deterministic collation.
    String keyColumn = Pg.string(c, "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
        + "WHERE i.indrelid = ?::regclass AND i.indisprimary AND i.indnkeyatts = 1 AND " + textColumn("a"), rel);
    // A foreign key over the key column whose action rewrites or removes rows of this table
    // (ON DELETE SET DEFAULT writes the default key) changes keys no change of the batch names.
    if (keyColumn == null || Pg.number(c, "SELECT count(*) FROM pg_constraint k JOIN pg_index i ON i.indrelid = k.conrelid AND i.indisprimary "
        + "WHERE k.contype = 'f' AND k.conrelid = ?::regclass AND i.indkey[0] = ANY (k.conkey) "
        + "AND (k.confdeltype NOT IN ('a', 'r') OR k.confupdtype NOT IN ('a', 'r'))", rel) != 0) {
      return null;
    }
    // Every key of the table to itself: exactly one, of one text column, referring to the key.
    String refColumn = null;
    int selfKeys = 0;
    try (PreparedStatement ps = c.prepareStatement("SELECT array_length(k.conkey, 1), f.attname, " + textColumn("f") + ", t.attname "
        + "FROM pg_constraint k JOIN pg_attribute f ON f.attrelid = k.conrelid AND f.attnum = k.conkey[1] "
        + "JOIN pg_attribute t ON t.attrelid = k.confrelid AND t.attnum = k.confkey[1] "
        + "WHERE k.contype = 'f' AND k.conrelid = ?::regclass AND k.confrelid = k.conrelid")) {
      ps.setString(1, rel);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          selfKeys++;
          if (rs.getInt(1) == 1 && rs.getBoolean(3) && rs.getString(4).equals(keyColumn)) {
            refColumn = rs.getString(2);
          }
        }
      }
    }
    return selfKeys == 1 && refColumn != null ? new SelfKey(keyColumn, refColumn) : null;
  }

  /** SQL: whether the column {@code a} (a pg_attribute alias) is text or varchar without a length, under a deterministic collation. */
  private static String textColumn(String a) {
    return "(" + a + ".atttypid IN ('text'::regtype, 'varchar'::regtype) AND " + a + ".atttypmod = -1 "
        + "AND COALESCE((SELECT collisdeterministic FROM pg_collation WHERE oid = " + a + ".attcollation), false))";
  }
}
