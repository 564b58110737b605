#!/usr/bin/env bash
# Instructions per captured row, counted by valgrind's cachegrind in the sqlite3 shell: a measure
# of a capture trigger's cost that the machine's load does not move (unlike wall or CPU time).
# Inserts 20,000 rows shaped like the bench's readings in one transaction, with no trigger, with
# the trigger format before session 3 (table name, json_array key, integer-ms wall clock, WHEN
# guard) and with the current one (capture id, raw key, julianday(), no guard), and prints the
# extra instructions per row of each. Needs valgrind and the sqlite3 shell.
set -euo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
ROWS=20000
run() { # $1: log table DDL, $2: trigger DDL
  rm -f "$dir"/v.db*
  {
    echo "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    echo "CREATE TABLE readings (id TEXT PRIMARY KEY, session_id TEXT, at INTEGER, a REAL, b REAL, c INTEGER, note TEXT);"
    echo "CREATE TABLE _tidesync_apply (x INTEGER);"
    echo "$1"
    echo "$2"
    echo "BEGIN; WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM s WHERE i < $((ROWS - 1))) INSERT INTO readings"
    echo "SELECT lower(hex(randomblob(16))), 'sess-' || (i % 100), 1700000000000 + i, random() / 1e18, random() / 1e17, random(),"
    echo "printf('%.100c', 'x') || i FROM s; COMMIT;"
  } > "$dir/v.sql"
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null sqlite3 "$dir/v.db" < "$dir/v.sql" 2>&1 \
    | awk '/I *refs/ {gsub(",", "", $NF); print $NF}'
}
OLD_LOG="CREATE TABLE _tidesync_log (seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, pk TEXT NOT NULL, op TEXT NOT NULL, mask INTEGER NOT NULL, wall INTEGER NOT NULL, ncols INTEGER NOT NULL DEFAULT 0, vals TEXT);"
OLD_TRIGGER="CREATE TRIGGER t AFTER INSERT ON readings WHEN NOT EXISTS (SELECT 1 FROM _tidesync_apply) BEGIN INSERT INTO _tidesync_log (tbl, pk, op, mask, wall, ncols) VALUES ('readings', json_array(CASE typeof(NEW.id) WHEN 'blob' THEN json_object('\$hex', hex(NEW.id)) ELSE NEW.id END), 'I', -1, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER), 7); END;"
NEW_LOG="CREATE TABLE _tidesync_changes (seq INTEGER PRIMARY KEY, cap INTEGER NOT NULL, pk, op TEXT NOT NULL, mask INTEGER, wall NOT NULL, vals TEXT);"
NEW_TRIGGER="CREATE TRIGGER t AFTER INSERT ON readings BEGIN INSERT INTO _tidesync_changes (cap, pk, op, wall) VALUES (1, NEW.id, 'I', julianday()); END;"
base=$(run "$NEW_LOG" "")
old=$(run "$OLD_LOG" "$OLD_TRIGGER")
new=$(run "$NEW_LOG" "$NEW_TRIGGER")
echo "sqlite3 $(sqlite3 --version | cut -d' ' -f1), $ROWS rows; instructions per row, the insert statement's own included:"
echo "  no trigger:         $((base / ROWS))"
echo "  trigger before:     $((old / ROWS))  (+$(((old - base) / ROWS)) per row)"
echo "  trigger now:        $((new / ROWS))  (+$(((new - base) / ROWS)) per row)"
