#!/usr/bin/env python3
"""Where the time goes in a JFR recording written by `./bench --jfr DIR`.

usage: jfr_summary.py FILE.jfr [TOP]

Reads jdk.ExecutionSample and jdk.NativeMethodSample events (the bench samples both every 10 ms,
so one sample is ~10 ms of a busy thread), drops idle frames (epoll, accept, park) and the bench's
own setup (dev.tidesync.bench.Data), and prints per thread group (device = main, server = Jetty):
  1. a phase x kind matrix: which engine step a sample is in (the innermost listed phase on its
     stack) and what the top frame is doing (SQLite native code, JSON, gzip/SHA, other Java);
  2. the top self frames;
     (with the PostgreSQL store, a thread blocked on a PostgreSQL answer counts as "pg wait");
  3. inclusive counts of the engine's own methods.
Needs the JDK's `jfr` tool on PATH.
"""
import collections
import json
import subprocess
import sys

IDLE = {"sun.nio.ch.EPoll.wait", "sun.nio.ch.Net.accept", "jdk.internal.misc.Unsafe.park", "java.lang.Object.wait",
        "java.lang.Thread.sleep", "sun.nio.ch.Net.poll", "java.lang.ref.Reference.waitForReferencePendingList"}

# (phase label, method) - the innermost (closest to the top of the stack) match wins.
PHASES = [
    ("open: refreshSchema", "dev.tidesync.sqlite.DeviceReplica.refreshSchema"),
    ("absorb (log -> _tidesync_rows)", "dev.tidesync.sqlite.DeviceReplica.absorbTx"),
    ("nextBatch (collect + outbox)", "dev.tidesync.sqlite.DeviceReplica.nextBatch"),
    ("  nextBatch: collect", "dev.tidesync.sqlite.DeviceReplica.collect"),
    ("HttpTransport.push (encode, gzip, SHA)", "dev.tidesync.client.HttpTransport.push"),
    ("recordPushResult", "dev.tidesync.sqlite.DeviceReplica.recordPushResult"),
    ("HttpTransport.pull (decode)", "dev.tidesync.client.HttpTransport.pull"),
    ("applyPage", "dev.tidesync.sqlite.DeviceReplica.applyPage"),
    ("server: read push body (gunzip, JSON)", "dev.tidesync.server.internal.PushBodies.read"),
    ("server: store push", "dev.tidesync.sqlite.SqliteDatasetStore.push"),
    ("  store push: applyOne", "dev.tidesync.sqlite.SqliteDatasetStore.applyOne"),
    ("server: write push result", "dev.tidesync.protocol.Wire.writePushResult"),
    ("server: store pull", "dev.tidesync.sqlite.SqliteDatasetStore.pull"),
    # PostgreSQL store (./bench pg --jfr DIR): the per-change steps of a push, innermost wins.
    ("server: PG store push", "dev.tidesync.pg.PgDatasetStore.push"),
    ("  PG push: absorb capture log", "dev.tidesync.pg.PgDatasetStore.absorb"),
    ("  PG push: loadState (SELECT meta + row)", "dev.tidesync.pg.PgDatasetStore.loadState"),
    ("  PG push: writeRow (upsert)", "dev.tidesync.pg.PgDatasetStore.writeRow"),
    ("  PG push: saveRowMeta (upsert)", "dev.tidesync.pg.PgDatasetStore.saveRowMeta"),
    ("  PG push: merge", "dev.tidesync.core.Merge.merge"),
    ("server: PG store pull", "dev.tidesync.pg.PgDatasetStore.pull"),
    ("server: encode page", "dev.tidesync.protocol.Wire.writePull"),
    ("server: HTTP (Jetty, gzip)", "io.javalin.jetty.JavalinJettyServlet.service"),
]
PHASE_OF = {m: label for label, m in PHASES}
ORDER = [label for label, _ in PHASES] + ["other"]


def name(frame):
    m = frame["method"]
    return (m["type"]["name"] + "." + m["name"]).replace("/", ".")


def group(thread):
    n = thread or ""
    if n == "main":
        return "device (main thread)"
    if n.startswith("qtp") or "Jetty" in n or n.startswith("JettyVirtual"):
        return "server (Jetty threads)"
    if "HttpClient" in n:
        return "JDK HttpClient threads"
    return "other threads"


def kind(top, names=()):
    if top in IDLE:
        return "pg wait"  # only kept when waiting for a PostgreSQL answer (see main)
    if top.startswith("org.postgresql"):
        return "pgjdbc"
    if top.startswith("org.sqlite.core.NativeDB"):
        return "sqlite"
    if top.startswith(("com.fasterxml.jackson", "jdk.internal.math.FloatingDecimal", "java.lang.Double")):
        return "json"
    if top.startswith(("java.util.zip", "sun.security", "java.util.HexFormat")):
        return "gzip/sha"
    return "java"


def main():
    path = sys.argv[1]
    top_n = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    out = subprocess.run(["jfr", "print", "--json", "--stack-depth", "200", "--events",
                          "jdk.ExecutionSample,jdk.NativeMethodSample", path],
                         capture_output=True, text=True, check=True).stdout
    events = json.loads(out)["recording"]["events"]
    kinds = ["sqlite", "json", "gzip/sha", "java", "pgjdbc", "pg wait"]
    matrix = collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
    selfc = collections.defaultdict(collections.Counter)
    incl = collections.defaultdict(collections.Counter)
    totals = collections.Counter()
    for e in events:
        v = e["values"]
        th = v.get("sampledThread") or {}
        frames = (v.get("stackTrace") or {}).get("frames") or []
        if not frames:
            continue
        names = [name(f) for f in frames]
        # A thread blocked reading a PostgreSQL answer (pgjdbc on the stack) is waiting on a round
        # trip, not idle: kept, as kind "pg wait" (native samples come every 10 ms while it waits).
        pg_wait = names[0] in IDLE and any(n.startswith("org.postgresql.core") for n in names)
        if (names[0] in IDLE and not pg_wait) or any(n.startswith("dev.tidesync.bench.Data") for n in names):
            continue
        g = group(th.get("javaName") or th.get("osName"))
        totals[g] += 1
        phase = "other"
        for n in names:  # top of stack first: the first phase found is the innermost
            if n in PHASE_OF:
                phase = PHASE_OF[n]
                break
        matrix[g][phase][kind(names[0], names)] += 1
        selfc[g][names[0]] += 1
        for n in set(names):
            incl[g][n] += 1
    for g in sorted(totals, key=lambda x: -totals[x]):
        tot = totals[g]
        if tot < 20:
            continue
        print(f"\n=== {g}: {tot} samples (~{tot / 100:.1f} s of CPU)")
        print(f"  {'phase':42s} {'total':>12s} " + " ".join(f"{k:>9s}" for k in kinds))
        for ph in ORDER:
            c = matrix[g].get(ph)
            if not c:
                continue
            s = sum(c.values())
            print(f"  {ph:42s} {s:6d} {100 * s / tot:4.0f}% " + " ".join(f"{c[k]:9d}" for k in kinds))
        print(f"  -- top self frames")
        for n, c in selfc[g].most_common(top_n):
            print(f"  {c:6d} {100 * c / tot:4.1f}%  {n}")
        print(f"  -- inclusive, engine methods")
        k = 0
        for n, c in incl[g].most_common():
            if n.startswith("dev.tidesync") and not n.startswith("dev.tidesync.bench") and "lambda$" not in n \
                    and "$$Lambda" not in n:
                print(f"  {c:6d} {100 * c / tot:4.1f}%  {n}")
                k += 1
                if k >= top_n:
                    break


if __name__ == "__main__":
    main()
