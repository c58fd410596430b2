"""Benchmark: the anomaly-discovery job on 1 M and 10 M simulated requests, against DuckDB.

For each size: simulate one planted day (not timed; cached under .cache/bench-anomalies/, so a
rerun reuses it; missing sizes are simulated in parallel processes), run the whole job in
local[*] mode with no history day, and report each stage's wall time, requests per second and
the peak resident memory of the driver (Python plus its JVM); then compute the same cube and the
same pattern counts with DuckDB over the same files, as a ratio. With two or more sizes it prints
the largest / smallest time ratio. Figures go to docs/anomalies.md.

  python -m bench.anomalies                                # 1 M and 10 M
  python -m bench.anomalies --requests 1000000 10000000    # the same, sizes named
  python -m bench.anomalies --requests 200000 --no-duckdb  # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

from anomalies.config import load_config
from anomalies.job import build_session, run_day
from anomalies.simulate import simulate_logs

DAY = date(2026, 11, 24)
REQUESTS_PER_USER = 9.2  # what the simulator's ordinary users make in a day
SEED = 1
CACHE = Path(".cache/bench-anomalies")


class PeakMemory:
    """Samples the resident memory of this process and its children (the JVM) every 0.2 s."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss(os.getpid()))
            self._stop.wait(0.2)


def _tree_rss(pid: int) -> int:
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += next(
            (int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0
        )
        stack.extend(int(c) for c in children)
    return total


def duckdb_counts(logs: Path, dims: list[str], patterns: list[dict]) -> dict[str, float]:
    """The same cube (seven GROUPING SETS) and the same pattern counts in DuckDB, timed."""
    import duckdb

    con = duckdb.connect()
    source = (
        f"read_json('{logs}/day={DAY}/*.jsonl.gz', format='newline_delimited', ignore_errors=true, "
        "columns={ts: 'VARCHAR', request_id: 'VARCHAR', event: 'VARCHAR', api: 'VARCHAR', user_id: 'VARCHAR', "
        "device_id: 'VARCHAR', ip: 'VARCHAR', user_agent: 'VARCHAR', client_id: 'VARCHAR', referer: 'VARCHAR', "
        "status: 'INTEGER', order_id: 'VARCHAR'})"
    )
    started = time.perf_counter()
    con.execute(f"CREATE TABLE requests AS SELECT * FROM {source}")
    read = time.perf_counter() - started
    sets = ", ".join(
        "(" + ", ".join(c) + ")"
        for c in [(dims[0],), (dims[1],), (dims[2],), dims[:2], (dims[0], dims[2]), dims[1:], dims]
    )
    started = time.perf_counter()
    rows = con.execute(
        f"SELECT {', '.join(dims)}, count(*), count(DISTINCT user_id), count(DISTINCT device_id), "
        "count(DISTINCT ip), count(*) FILTER (event = 'order'), count(*) FILTER (event = 'login'), "
        "count(*) FILTER (event = 'login' AND status >= 400), count(*) FILTER (event = 'withdraw') "
        f"FROM requests GROUP BY GROUPING SETS ({sets})"
    ).fetchall()
    cube = time.perf_counter() - started
    started = time.perf_counter()
    filters = []
    for p in patterns:
        cond = " AND ".join(
            f"{item.split('=', 1)[0]} = '{item.split('=', 1)[1].replace(chr(39), chr(39) * 2)}'"
            for item in p["items"]
        )
        filters.append(f"count(*) FILTER ({cond})")
    counts = con.execute(f"SELECT {', '.join(filters)} FROM requests").fetchone() if filters else ()
    pattern_time = time.perf_counter() - started
    agree = all(int(c) == p["count"] for c, p in zip(counts or (), patterns))
    return {
        "read": read,
        "cube": cube,
        "patterns": pattern_time,
        "cube_rows": len(rows),
        "patterns_agree": agree,
    }


def cached_logs(requests: int, cache: Path) -> Path:
    return cache / f"requests-{requests}-seed-{SEED}"


def simulate_into(requests: int, folder: Path) -> float:
    """Simulate the day into a temporary folder renamed at the end, so a cut run leaves no half day."""
    started = time.perf_counter()
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    simulate_logs(partial, days=1, users=max(100, int(requests / REQUESTS_PER_USER)), seed=SEED, last_day=DAY)
    partial.rename(folder)
    return time.perf_counter() - started


def simulate_missing(sizes: list[int], cache: Path) -> dict[int, float]:
    """Seconds spent simulating each size not in the cache (0 for a cached one); in parallel."""
    missing = [n for n in sizes if not cached_logs(n, cache).exists()]
    seconds = {n: 0.0 for n in sizes}
    if missing:
        cache.mkdir(parents=True, exist_ok=True)
        print(f"anomalies bench: simulating {', '.join(f'{n:,}' for n in missing)} requests ...", flush=True)
        workers = min(len(missing), os.cpu_count() or 1)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {n: pool.submit(simulate_into, n, cached_logs(n, cache)) for n in missing}
            seconds.update({n: f.result() for n, f in futures.items()})
    return seconds


def bench_size(requests: int, logs: Path, out: Path, *, duckdb: bool) -> dict:
    truth = json.loads((logs / "ground_truth.json").read_text())
    config = load_config("history_days = 0")
    spark = build_session("local[*]", driver_memory=os.environ.get("BENCH_DRIVER_MEMORY", "8g"))
    try:
        with PeakMemory() as memory:
            result = run_day(spark, logs=str(logs), day=DAY, out=str(out), config=config)
    finally:
        spark.stop()
    timings = result.summary["timings_seconds"]
    rows = result.summary["rows_read"]
    figures = {
        "requests": rows,
        "simulated_requests": sum(truth["requests_per_day"].values()),
        "stages_seconds": timings,
        "requests_per_second": round(rows / timings["total"]),
        "peak_memory_mib": round(memory.peak / 2**20),
        "findings": len(result.findings),
        "severity": result.summary["counts"]["severity"],
    }
    if duckdb:
        duck = duckdb_counts(logs, list(config.monitor.dimensions), result.patterns)
        figures["duckdb_seconds"] = {k: round(v, 2) for k, v in duck.items() if isinstance(v, float)}
        figures["duckdb_patterns_agree"] = duck["patterns_agree"]
        figures["spark_over_duckdb"] = {
            "cube": round(timings["cube"] / max(duck["cube"], 1e-9), 2),
            "patterns": round(timings["fpgrowth"] / max(duck["patterns"], 1e-9), 2),
        }
    return figures


def load_average() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--requests", "--sizes", dest="sizes", type=int, nargs="+", default=[1_000_000, 10_000_000]
    )
    parser.add_argument("--cache", type=Path, default=CACHE, help="where simulated days are kept")
    parser.add_argument("--keep", type=Path, help="keep the job's outputs here")
    parser.add_argument("--no-duckdb", dest="duckdb", action="store_false", help="skip the DuckDB comparison")
    args = parser.parse_args()
    print(f"anomalies bench: cpus {os.cpu_count()}, load average at start {load_average()}", flush=True)
    simulated = simulate_missing(args.sizes, args.cache)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-anomalies-"))
    results = []
    try:
        for size in args.sizes:
            print(f"anomalies bench: {size:,} requests ...", flush=True)
            figures = bench_size(
                size, cached_logs(size, args.cache), work / f"out-{size}", duckdb=args.duckdb
            )
            figures["simulate_seconds"] = round(simulated[size], 1)
            results.append(figures)
            print(json.dumps(figures, indent=2), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if len(results) >= 2:
        small = min(results, key=lambda r: r["requests"])
        large = max(results, key=lambda r: r["requests"])
        ratio = large["stages_seconds"]["total"] / small["stages_seconds"]["total"]
        print(
            f"anomalies bench: {large['requests']:,} / {small['requests']:,} requests: time ratio {ratio:.2f} "
            f"(size ratio {large['requests'] / small['requests']:.1f}); "
            f"{large['requests']:,} in {large['stages_seconds']['total']:.1f} s"
        )
    print(f"anomalies bench: load average at end {load_average()}", flush=True)


if __name__ == "__main__":
    main()
