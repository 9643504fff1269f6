"""Runs a file of Flink SQL statements on Apache Flink (PyFlink, local mini-cluster), as one job.

The Flink side of issue 4's benchmark: Sluice's `sluice run FILE.sql` and this script execute the
very same file. Statements are separated by `;` (outside quotes and comments):
- `SET 'key' = 'value'` sets a table config option;
- `CREATE ...` / `DROP ...` run at once;
- every `INSERT INTO ...` is collected into one statement set, executed at the end as one job.

`--set key=value` (repeatable) adds options before the file's (e.g. `parallelism.default=1`).
`table.local-time-zone` defaults to UTC, as in Sluice. Run it through `bench/flink/run_sql.sh`.

Prints one `RESULT` line: `jvm_start_s` (TableEnvironment.create, which starts the JVM),
`setup_s` (DDL), `job_s` (submit → end of the INSERTs: the throughput figure), `events_per_s`
(`--events` / job_s), and the peak RSS (VmHWM) of the JVM(s) and of this process.
"""

import argparse
import os
import sys
import time

from procstat import descendants, hwm_kb


def split_statements(text):
    """The statements of `text`, split on `;` outside '...', "...", `...`, -- and /* */."""
    out, cur, i, n = [], [], 0, len(text)
    while i < n:
        c = text[i]
        if c in "'\"`":
            j = i + 1
            while j < n:
                if text[j] == c:
                    if j + 1 < n and text[j + 1] == c:  # doubled quote
                        j += 2
                        continue
                    break
                j += 1
            cur.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == ";":
            out.append("".join(cur).strip())
            cur = []
            i += 1
        else:
            cur.append(c)
            i += 1
    out.append("".join(cur).strip())
    return [s for s in out if s]


def parse_set(stmt):
    """`SET 'k' = 'v'` → (k, v)."""
    body = stmt[3:].strip()
    key, _, value = body.partition("=")
    return key.strip().strip("'"), value.strip().strip("'")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file", help="the .sql file")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--events", type=int, default=0, help="input events, for events/s")
    args = ap.parse_args()

    with open(args.file) as fh:
        statements = split_statements(fh.read())

    t0 = time.monotonic()
    from pyflink.table import EnvironmentSettings, TableEnvironment

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t1 = time.monotonic()
    conf = env.get_config()
    conf.set("table.local-time-zone", "UTC")
    for kv in args.set:
        key, _, value = kv.partition("=")
        conf.set(key, value)

    inserts = []
    for stmt in statements:
        head = stmt.split(None, 1)[0].upper()
        if head == "SET":
            conf.set(*parse_set(stmt))
        elif head == "INSERT":
            inserts.append(stmt)
        else:
            env.execute_sql(stmt)
    if not inserts:
        print("sql_file.py: the file has no INSERT statement", file=sys.stderr)
        return 2

    t2 = time.monotonic()
    stmt_set = env.create_statement_set()
    for stmt in inserts:
        stmt_set.add_insert_sql(stmt)
    stmt_set.execute().wait()
    t3 = time.monotonic()

    java_hwm = sum(hwm_kb(p) for p in descendants(os.getpid()))
    job_s = t3 - t2
    rate = f"{args.events / job_s:.0f}" if args.events else "n/a"
    print(
        f"RESULT file={os.path.basename(args.file)} inserts={len(inserts)} events={args.events} "
        f"jvm_start_s={t1 - t0:.2f} setup_s={t2 - t1:.2f} job_s={job_s:.2f} events_per_s={rate} "
        f"java_hwm_mb={java_hwm / 1024:.0f} python_hwm_mb={hwm_kb(os.getpid()) / 1024:.0f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
