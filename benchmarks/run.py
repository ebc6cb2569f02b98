"""Benchmark the pipeline against baselines measured in the same run, and print the ratios.

    BENCH_ATTEMPTS=100000 .venv/bin/python -m benchmarks.run      # default scale, a few minutes
    BENCH_ATTEMPTS=1000000 .venv/bin/python -m benchmarks.run     # ~15 min on 2 cores
    BENCH_ATTEMPTS=10000000 .venv/bin/python -m benchmarks.run    # hours; ~20 GB of disk

For one scale (about BENCH_ATTEMPTS upstream attempts over 30 days) it generates the landing
data once (cached under benchmarks/cache/<scale>/), then measures, each step in its own fresh
subprocess (wall time, user+sys CPU of the process tree, peak RSS of the process tree):

1. ``pipeline``: the Dagster run_all (dbt parse, loaders, dbt build --full-refresh with tests);
2. ``baseline``: benchmarks/baseline.sql in DuckDB over the same landing files; its per-tenant
   monthly effective cost must equal marts.fct_ai_requests exactly, else the run fails;
3. ``per-row``: per-row Python pricing (genai_prices.calc_price per attempt, pandas joins) on the
   full set, or on the first days when the full set would not finish in BENCH_PER_ROW_TIMEOUT;
4. ``daily``: run_day of the last landing date after the full build (that day's files arrive
   again), which must leave the marts' totals unchanged;
5. ``pipeline_spark`` (only with BENCH_SPARK=1 and the spark extra, `make install-spark`): the
   same Dagster run_all on the Spark target (in-process Spark, AI_CHARGEBACK_TARGET=spark); its
   per-tenant monthly totals must equal the DuckDB marts exactly.

It writes benchmarks/results/<time>-<scale>.json and prints a Markdown table of every scale
that has results (the latest run of each), with the log-log slope of time vs attempts.
Timings are printed, never asserted; other work on the machine shows in ``machine_busy_cpu_s``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
CACHE_DIR = Path(os.environ.get("BENCH_CACHE", BENCH_DIR / "cache"))
RESULTS_DIR = Path(os.environ.get("BENCH_RESULTS", BENCH_DIR / "results"))

DEFAULT_ATTEMPTS = 100_000
GENERATE_DAYS = 30
GENERATE_START = "2026-11-01"
GENERATE_TENANTS = 8
GENERATE_SEED = 42
# 30 days from a Sunday at the generator's weekday mix (29.39 weekday-days) x ~1.057 attempts
# per request: requests per weekday for about N attempts.
_ATTEMPTS_PER_WEEKDAY_REQUEST = 31.07
PER_ROW_TIMEOUT_S = float(os.environ.get("BENCH_PER_ROW_TIMEOUT", "600"))
PER_ROW_SUBSET_DAYS = int(os.environ.get("BENCH_PER_ROW_SUBSET_DAYS", "3"))
# Above this many attempts the full per-row run is not even tried (~13k calc_price calls/s
# plus the Python decode cannot finish 10M attempts in BENCH_PER_ROW_TIMEOUT).
PER_ROW_FULL_MAX_ATTEMPTS = int(os.environ.get("BENCH_PER_ROW_FULL_MAX", "3000000"))
SPARK_LEG = os.environ.get("BENCH_SPARK", "") == "1"
_POLL_S = 0.2
_MIB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICKS = os.sysconf("SC_CLK_TCK")


class BenchmarkError(RuntimeError):
    """A step failed; ``step`` and ``measured`` say which and what it cost until then."""

    def __init__(self, message: str, *, step: str = "", measured: Measured | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.measured = measured


@dataclass
class Measured:
    """One step's process-tree measurement and what the step itself reported."""

    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_tree_mib: float
    max_process_rss_mib: float
    machine_busy_cpu_s: float
    loadavg_before: float
    loadavg_after: float
    returncode: int
    timed_out: bool
    log: str
    output: dict

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    def as_json(self) -> dict:
        return {
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "user_s": round(self.user_s, 3),
            "sys_s": round(self.sys_s, 3),
            "peak_rss_tree_mib": round(self.peak_rss_tree_mib, 1),
            "max_process_rss_mib": round(self.max_process_rss_mib, 1),
            "machine_busy_cpu_s": round(self.machine_busy_cpu_s, 3),
            "other_processes_cpu_s": round(max(self.machine_busy_cpu_s - self.cpu_s, 0.0), 3),
            "loadavg_before": self.loadavg_before,
            "loadavg_after": self.loadavg_after,
            "returncode": self.returncode,
            "timed_out": self.timed_out,
            "log": self.log,
            "output": self.output,
        }


# --- measuring a process tree from outside ---------------------------------------------------


def _process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, resident bytes) for every process we can read."""
    table: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
            with open(f"/proc/{entry.name}/statm", "rb") as handle:
                resident_pages = int(handle.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        parent = int(stat.rsplit(b")", 1)[1].split()[1])
        table[int(entry.name)] = (parent, resident_pages * _PAGE)
    return table


def tree_rss_bytes(root_pid: int) -> int:
    """Resident memory of a process and all its descendants right now."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += table.get(pid, (0, 0))[1]
        stack.extend(children.get(pid, []))
    return total


def _machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used since boot (not idle, not iowait)."""
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / _TICKS


def _loadavg() -> float:
    with open("/proc/loadavg") as handle:
        return float(handle.read().split()[0])


def measure(
    step: str, args: list[str], *, env: dict[str, str], log: Path, timeout: float | None = None
) -> Measured:
    """Run ``python -m benchmarks.steps <step>`` in a fresh process and measure its tree."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    command = [sys.executable, "-m", "benchmarks.steps", step, "--out", str(out), *args]
    peak = [0]
    done = threading.Event()
    busy_before, load_before = _machine_busy_seconds(), _loadavg()
    began = time.perf_counter()
    with log.open("w") as log_handle:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a timeout ends the whole tree
        )

        def poll() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], tree_rss_bytes(process.pid))
                done.wait(_POLL_S)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            os.killpg(process.pid, signal.SIGTERM)

        timer = threading.Timer(timeout, stop) if timeout else None
        if timer:
            timer.start()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - began
        if timer:
            timer.cancel()
        done.set()
        poller.join()
    output = json.loads(out.read_text()) if out.stat().st_size else {}
    out.unlink(missing_ok=True)
    return Measured(
        wall_s=wall,
        user_s=usage.ru_utime,
        sys_s=usage.ru_stime,
        peak_rss_tree_mib=peak[0] / _MIB,
        max_process_rss_mib=usage.ru_maxrss / 1024,  # KiB on Linux
        machine_busy_cpu_s=_machine_busy_seconds() - busy_before,
        loadavg_before=load_before,
        loadavg_after=_loadavg(),
        returncode=process.returncode,
        timed_out=timed_out.is_set(),
        log=str(log.relative_to(ROOT) if log.is_relative_to(ROOT) else log),
        output=output,
    )


def _require(measured: Measured, step: str) -> Measured:
    if measured.returncode != 0 or measured.output.get("success") is False:
        tail = Path(ROOT / measured.log).read_text()[-3000:]
        raise BenchmarkError(
            f"step {step} failed (exit {measured.returncode}):\n{tail}",
            step=step,
            measured=measured,
        )
    return measured


# --- the run -----------------------------------------------------------------------------------


def _step_env(*, landing: Path, database: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}  # ephemeral instance
    env.update(
        {
            "PYTHONPATH": str(ROOT),  # this checkout's packages, whatever is installed
            "DBT_PROFILES_DIR": str(ROOT),
            "AI_CHARGEBACK_LANDING": str(landing),
            "AI_CHARGEBACK_DUCKDB": str(database),
        }
    )
    return env


def ensure_landing(scale: int, cache: Path, env: dict[str, str]) -> dict:
    """Generate the landing data of a scale once; later runs reuse benchmarks/cache/<scale>/."""
    params = {
        "attempts_target": scale,
        "days": GENERATE_DAYS,
        "tenants": GENERATE_TENANTS,
        "seed": GENERATE_SEED,
        "start": GENERATE_START,
    }
    params_file = cache / "params.json"
    if params_file.exists():
        cached = json.loads(params_file.read_text())
        if {k: cached.get(k) for k in params} == params:
            return cached
    shutil.rmtree(cache / "landing", ignore_errors=True)
    requests_per_day = max(1, round(scale / _ATTEMPTS_PER_WEEKDAY_REQUEST))
    print(f"generating ~{scale:,} attempts ({requests_per_day:,} requests per weekday) ...")
    measured = _require(
        measure(
            "generate",
            [
                "--landing",
                str(cache / "landing"),
                "--days",
                str(GENERATE_DAYS),
                "--tenants",
                str(GENERATE_TENANTS),
                "--requests-per-day",
                str(requests_per_day),
                "--seed",
                str(GENERATE_SEED),
                "--start",
                GENERATE_START,
            ],
            env=env,
            log=cache / "logs" / "generate.log",
        ),
        "generate",
    )
    cached = {
        **params,
        "requests_per_day": requests_per_day,
        "attempts": measured.output["attempts"],
        "requests": measured.output["requests"],
        "spans_written": measured.output["records_by_source"]["gateway_spans"],
        "generate": measured.as_json(),
    }
    params_file.write_text(json.dumps(cached, indent=2) + "\n")
    return cached


def _disk_usage(path: Path, *, exclude: str = "_ground_truth") -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and exclude not in p.parts)


def _totals_diff(left: list, right: list) -> list:
    a = {(r[0], r[1]): (r[2], r[3]) for r in left}
    b = {(r[0], r[1]): (r[2], r[3]) for r in right}
    return [
        [*key, a.get(key), b.get(key)]
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]


def _git(*args: str) -> str:
    completed = subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return completed.stdout.strip()


def _last_landing_day(landing: Path) -> str:
    return max(p.name for p in (landing / "gateway_spans").iterdir() if p.is_dir())


def run_scale(scale: int) -> dict:
    """Measure every step at one scale and return the result document."""
    cache = CACHE_DIR / str(scale)
    landing = cache / "landing"
    work = cache / "work"
    work.mkdir(parents=True, exist_ok=True)
    database = work / "warehouse.duckdb"
    env = _step_env(landing=landing, database=database)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    logs = cache / "logs" / stamp
    generated = ensure_landing(scale, cache, env)
    attempts = int(generated["attempts"])
    print(f"scale {scale:,}: {attempts:,} attempts in {landing}")
    steps: dict[str, dict] = {}
    checks: dict[str, object] = {}
    document = {
        "scale": scale,
        "attempts": attempts,
        "requests": generated.get("requests"),
        "spans": generated.get("spans_written"),
        "landing_bytes_on_disk": _disk_usage(landing),
        "measured_at": stamp,
        "git": {
            "commit": _git("rev-parse", "HEAD"),
            "uncommitted": _git("status", "--short", "--untracked-files=no").splitlines()[:40],
        },
        "machine": {
            "cpus": os.cpu_count(),
            "mem_gib": round(os.sysconf("SC_PHYS_PAGES") * _PAGE / 1024**3, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "duckdb_memory_limit": env.get("AI_CHARGEBACK_DUCKDB_MEMORY_LIMIT", "(default)"),
            "note": "shared machine: other work may run concurrently, see machine_busy_cpu_s",
        },
        "generation": generated.get("generate"),
        "steps": steps,
        "checks": checks,
    }
    try:
        _measure_steps(document, env=env, landing=landing, database=database, logs=logs)
    except BenchmarkError as error:
        if error.measured is not None:
            steps[error.step] = error.measured.as_json()
        document["error"] = str(error)[-4000:]
        path = RESULTS_DIR / f"{stamp}-{scale}-failed.json"
        path.write_text(json.dumps(document, indent=2) + "\n")
        print(f"partial result: {path}", file=sys.stderr)
        raise
    document["warehouse_bytes"] = database.stat().st_size if database.exists() else None
    document["ratios"] = ratios(document)
    return document


def _measure_steps(
    document: dict, *, env: dict[str, str], landing: Path, database: Path, logs: Path
) -> None:
    """The measured steps of one scale, filling document["steps"] and ["checks"] as they go."""
    steps, checks, attempts = document["steps"], document["checks"], document["attempts"]
    work = database.parent

    print("baseline (benchmarks/baseline.sql) ...")
    baseline = _require(
        measure("baseline", ["--landing", str(landing)], env=env, log=logs / "baseline.log"),
        "baseline",
    )
    steps["baseline"] = baseline.as_json()

    print("pipeline (Dagster run_all, full refresh) ...")
    for stale in work.glob("warehouse.duckdb*"):
        stale.unlink()
    pipeline = _require(measure("pipeline", [], env=env, log=logs / "pipeline.log"), "pipeline")
    steps["pipeline"] = pipeline.as_json()
    marts = _require(measure("totals", [], env=env, log=logs / "totals_full.log"), "totals").output[
        "totals"
    ]
    checks["marts_totals"] = marts
    checks["baseline_equals_marts"] = _totals_diff(baseline.output["totals"], marts) == []
    checks["baseline_vs_marts_diff"] = _totals_diff(baseline.output["totals"], marts)

    if SPARK_LEG:
        print("pipeline on Spark (Dagster run_all, AI_CHARGEBACK_TARGET=spark) ...")
        spark_dir = work / "spark"
        shutil.rmtree(spark_dir, ignore_errors=True)
        spark_env = {
            **env,
            "AI_CHARGEBACK_TARGET": "spark",
            "AI_CHARGEBACK_SPARK_DIR": str(spark_dir),
        }
        on_spark = _require(
            measure("pipeline", [], env=spark_env, log=logs / "pipeline_spark.log"),
            "pipeline_spark",
        )
        steps["pipeline_spark"] = on_spark.as_json()
        spark_totals = _require(
            measure("totals", [], env=spark_env, log=logs / "totals_spark.log"), "totals"
        ).output["totals"]
        checks["spark_equals_duckdb"] = _totals_diff(spark_totals, marts) == []
        checks["spark_vs_duckdb_diff"] = _totals_diff(spark_totals, marts)

    print("per-row Python pricing ...")
    per_row: Measured | None = None
    if attempts <= PER_ROW_FULL_MAX_ATTEMPTS:
        per_row = measure(
            "per-row",
            ["--landing", str(landing)],
            env=env,
            log=logs / "per_row.log",
            timeout=PER_ROW_TIMEOUT_S,
        )
    per_row_mode = "full"
    if per_row is None or per_row.timed_out:
        if per_row is not None:
            print(f"  did not finish in {PER_ROW_TIMEOUT_S:.0f}s: measuring the first days")
            steps["per_row_full_attempt"] = per_row.as_json()
        per_row = measure(
            "per-row",
            ["--landing", str(landing), "--days", str(PER_ROW_SUBSET_DAYS)],
            env=env,
            log=logs / "per_row_subset.log",
        )
        per_row_mode = f"subset: first {PER_ROW_SUBSET_DAYS} days"
    _require(per_row, "per-row")
    steps["per_row"] = {**per_row.as_json(), "mode": per_row_mode}
    if per_row_mode == "full":
        checks["per_row_equals_marts"] = _totals_diff(per_row.output["totals"], marts) == []
        checks["per_row_vs_marts_diff"] = _totals_diff(per_row.output["totals"], marts)

    last_day = _last_landing_day(landing)
    print(f"daily run of {last_day} after the full build ...")
    _require(
        measure("forget-day", ["--day", last_day], env=env, log=logs / "forget_day.log"),
        "forget-day",
    )
    daily = _require(
        measure("daily", ["--day", last_day], env=env, log=logs / "daily.log"), "daily"
    )
    steps["daily"] = {**daily.as_json(), "day": last_day}
    after_daily = _require(
        measure("totals", [], env=env, log=logs / "totals_daily.log"), "totals"
    ).output["totals"]
    checks["daily_equals_full"] = _totals_diff(after_daily, marts) == []
    checks["daily_vs_full_diff"] = _totals_diff(after_daily, marts)


def ratios(document: dict) -> dict:
    """The numbers the issue asks for, from one result document."""
    steps, attempts = document["steps"], document["attempts"]
    pipeline, baseline, daily = steps["pipeline"], steps["baseline"], steps["daily"]
    per_row = steps["per_row"]
    per_row_attempts = per_row["output"]["attempts"]
    per_row_rate = per_row_attempts / per_row["wall_s"]
    pipeline_rate = attempts / pipeline["wall_s"]
    calc_seconds = per_row["output"]["seconds"].get("calc_price") or float("nan")
    sql_pricing = dict(baseline["output"].get("statement_seconds", [])).get("priced_attempts")
    return {
        "pipeline_attempts_per_s": round(pipeline_rate, 1),
        "baseline_attempts_per_s": round(attempts / baseline["wall_s"], 1),
        "pipeline_over_baseline_wall": round(pipeline["wall_s"] / baseline["wall_s"], 2),
        "pipeline_over_baseline_cpu": round(pipeline["cpu_s"] / baseline["cpu_s"], 2),
        "per_row_attempts_per_s": round(per_row_rate, 1),
        "per_row_mode": per_row["mode"],
        "pipeline_throughput_over_per_row": round(pipeline_rate / per_row_rate, 3),
        "calc_price_calls_per_s": round(per_row["output"]["calc_price_calls"] / calc_seconds, 1),
        "sql_pricing_attempts_per_s": round(attempts / sql_pricing, 1) if sql_pricing else None,
        "sql_pricing_over_calc_price": round(
            (attempts / sql_pricing) / (per_row["output"]["calc_price_calls"] / calc_seconds), 1
        )
        if sql_pricing
        else None,
        "daily_over_full_wall": round(daily["wall_s"] / pipeline["wall_s"], 3),
        "spark_over_duckdb_pipeline_wall": round(
            steps["pipeline_spark"]["wall_s"] / pipeline["wall_s"], 2
        )
        if "pipeline_spark" in steps
        else None,
        "pipeline_peak_rss_mib": pipeline["peak_rss_tree_mib"],
        "baseline_peak_rss_mib": baseline["peak_rss_tree_mib"],
    }


# --- the report --------------------------------------------------------------------------------


def latest_results() -> list[dict]:
    """The latest result document of every scale in benchmarks/results/."""
    latest: dict[int, dict] = {}
    for path in sorted(RESULTS_DIR.glob("*.json")):
        try:
            document = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue
        if "scale" in document and "ratios" in document:
            latest[document["scale"]] = document
    return [latest[k] for k in sorted(latest)]


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(y) against log(x): the scaling exponent."""
    if len(points) < 2:
        return None
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    denominator = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / denominator


def markdown(documents: list[dict]) -> str:
    """The result table(s) of README.md, from the latest run of each scale."""
    lines = [
        "| attempts | pipeline wall s (CPU s) | peak RSS MiB | attempts/s "
        "| baseline wall s (CPU s) | baseline RSS MiB | pipeline / baseline "
        "| per-row Python wall s | per-row attempts/s | pipeline / per-row throughput "
        "| daily wall s | daily / full | totals equal |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|",
    ]
    for d in documents:
        s, r, c = d["steps"], d["ratios"], d["checks"]
        per_row = s["per_row"]
        subset = "" if per_row["mode"] == "full" else f" ({per_row['output']['attempts']:,}†)"
        equal = "baseline {} · daily {}{}".format(
            "yes" if c.get("baseline_equals_marts") else "NO",
            "yes" if c.get("daily_equals_full") else "NO",
            ""
            if "per_row_equals_marts" not in c
            else " · per-row " + ("yes" if c["per_row_equals_marts"] else "no"),
        )
        lines.append(
            f"| {d['attempts']:,} "
            f"| {s['pipeline']['wall_s']:.0f} ({s['pipeline']['cpu_s']:.0f}) "
            f"| {s['pipeline']['peak_rss_tree_mib']:,.0f} "
            f"| {r['pipeline_attempts_per_s']:,.0f} "
            f"| {s['baseline']['wall_s']:.1f} ({s['baseline']['cpu_s']:.0f}) "
            f"| {s['baseline']['peak_rss_tree_mib']:,.0f} "
            f"| {r['pipeline_over_baseline_wall']:.1f}× "
            f"| {per_row['wall_s']:.0f}{subset} "
            f"| {r['per_row_attempts_per_s']:,.0f} "
            f"| {r['pipeline_throughput_over_per_row']:.2f}× "
            f"| {s['daily']['wall_s']:.0f} "
            f"| {100 * r['daily_over_full_wall']:.0f} % "
            f"| {equal} |"
        )
    if any(d["steps"]["per_row"]["mode"] != "full" for d in documents):
        lines.append("")
        lines.append(
            "† per-row Python measured on a subset (first days); its rate is that subset's."
        )
    lines.append("")
    lines.append(
        "Pricing alone: SQL price join (baseline's pricing statement) "
        + ", ".join(
            f"{d['attempts']:,}: {d['ratios']['sql_pricing_attempts_per_s']:,.0f}/s vs "
            f"calc_price {d['ratios']['calc_price_calls_per_s']:,.0f}/s "
            f"({d['ratios']['sql_pricing_over_calc_price']:,.0f}×)"
            for d in documents
            if d["ratios"].get("sql_pricing_attempts_per_s")
        )
    )
    exponents = {
        name: slope([(d["attempts"], d["steps"][step]["wall_s"]) for d in documents])
        for name, step in (("pipeline", "pipeline"), ("baseline", "baseline"), ("daily", "daily"))
    }
    if all(v is not None for v in exponents.values()):
        lines.append("")
        lines.append(
            "Scaling exponent of wall time vs attempts (log-log slope over "
            f"{len(documents)} scales): "
            + ", ".join(f"{name} {value:.2f}" for name, value in exponents.items())
        )
    return "\n".join(lines)


def main() -> int:
    """Benchmark BENCH_ATTEMPTS, save the result, print the table of every scale measured."""
    scale = int(os.environ.get("BENCH_ATTEMPTS", DEFAULT_ATTEMPTS))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    failed: str | None = None
    try:
        document = run_scale(scale)
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    path = RESULTS_DIR / f"{document['measured_at']}-{scale}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nresult: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}\n")
    checks = document["checks"]
    if not checks["baseline_equals_marts"]:
        failed = f"baseline totals differ from the marts: {checks['baseline_vs_marts_diff']}"
    elif not checks["daily_equals_full"]:
        failed = f"the daily run changed the totals: {checks['daily_vs_full_diff']}"
    print(markdown(latest_results()))
    if failed:
        print(f"\nFAILED: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
