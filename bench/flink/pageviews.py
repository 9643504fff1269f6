"""The page-view count on Apache Flink (PyFlink Table API / SQL), for issue 3 benchmark 8a.

Per-URL 5-minute tumbling count, event time from `ts` (epoch ms) with 5 s out-of-orderness,
over a JSON-lines file (or a directory of them) from `sluice gen page-views`, in a local
mini-cluster (the JVM PyFlink starts). Run it through `bench/flink/run.sh`.

Prints one `RESULT` line (key=value pairs):
- `jvm_start_s`: from before `TableEnvironment.create` (which launches the JVM) to after it;
- `job_s`: from submitting the INSERT to the end of the job (the throughput figure);
- `events_per_s`: events / job_s;
- `rows`, `views`: window rows written and the sum of their counts (file sink only);
- `java_hwm_mb`, `python_hwm_mb`: peak RSS (VmHWM) of the JVM and of this Python process.
"""

import argparse
import glob
import os
import sys
import tempfile
import time

from procstat import descendants, hwm_kb


def count_lines(path):
    files = sorted(glob.glob(os.path.join(path, "*"))) if os.path.isdir(path) else [path]
    n = 0
    for f in files:
        with open(f, "rb") as fh:
            while True:
                chunk = fh.read(1 << 24)
                if not chunk:
                    break
                n += chunk.count(b"\n")
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--path", required=True, help="JSON-lines file or directory")
    ap.add_argument("--parallelism", type=int, default=1)
    ap.add_argument("--sink", choices=["file", "blackhole"], default="file")
    ap.add_argument("--events", type=int, help="number of input lines (counted if absent)")
    args = ap.parse_args()

    events = args.events or count_lines(args.path)
    path = os.path.abspath(args.path)

    t0 = time.monotonic()
    from pyflink.table import EnvironmentSettings, TableEnvironment

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t1 = time.monotonic()
    conf = env.get_config()
    conf.set("parallelism.default", str(args.parallelism))
    conf.set("table.local-time-zone", "UTC")

    env.execute_sql(f"""
        CREATE TABLE page_views (
            ts BIGINT,
            url STRING,
            rt AS TO_TIMESTAMP_LTZ(ts, 3),
            WATERMARK FOR rt AS rt - INTERVAL '5' SECOND
        ) WITH (
            'connector' = 'filesystem',
            'path' = 'file://{path}',
            'format' = 'json'
        )""")
    out_dir = None
    if args.sink == "file":
        out_dir = tempfile.mkdtemp(prefix="flink-pageviews-out-")
        sink_with = f"'connector' = 'filesystem', 'path' = 'file://{out_dir}', 'format' = 'csv'"
    else:
        sink_with = "'connector' = 'blackhole'"
    env.execute_sql(f"""
        CREATE TABLE counts (
            window_start TIMESTAMP(3),
            window_end TIMESTAMP(3),
            url STRING,
            `views` BIGINT
        ) WITH ({sink_with})""")

    t2 = time.monotonic()
    env.execute_sql("""
        INSERT INTO counts
        SELECT window_start, window_end, url, COUNT(*) AS `views`
        FROM TABLE(TUMBLE(TABLE page_views, DESCRIPTOR(rt), INTERVAL '5' MINUTES))
        GROUP BY window_start, window_end, url""").wait()
    t3 = time.monotonic()

    java = [p for p in descendants(os.getpid()) if hwm_kb(p) > 0]
    java_hwm = sum(hwm_kb(p) for p in java)
    py_hwm = hwm_kb(os.getpid())

    rows = views = -1
    if out_dir:
        rows = views = 0
        for root, _, files in os.walk(out_dir):
            for f in files:
                if f.startswith("."):
                    continue
                with open(os.path.join(root, f)) as fh:
                    for line in fh:
                        if line.strip():
                            rows += 1
                            views += int(line.rsplit(",", 1)[1])

    job_s = t3 - t2
    print(
        f"RESULT parallelism={args.parallelism} sink={args.sink} events={events} "
        f"jvm_start_s={t1 - t0:.2f} setup_s={t2 - t1:.2f} job_s={job_s:.2f} "
        f"events_per_s={events / job_s:.0f} rows={rows} views={views} "
        f"late_or_dropped={events - views if views >= 0 else -1} "
        f"java_hwm_mb={java_hwm / 1024:.0f} python_hwm_mb={py_hwm / 1024:.0f} out={out_dir}",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
