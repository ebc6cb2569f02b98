"""The measured steps of benchmarks/run.py, each run in its own fresh subprocess.

``python -m benchmarks.steps <step> --out result.json [options]`` does one thing and writes
what it found (totals, timings of its parts) as JSON. run.py measures the process tree from
outside (wall, CPU, peak RSS); nothing here asserts a timing.

Steps: ``generate`` (landing data), ``pipeline`` (Dagster run_all: loaders, dbt build with
tests, full refresh), ``baseline`` (benchmarks/baseline.sql), ``per-row`` (per-row Python
pricing), ``forget-day`` (untimed set-up of the daily run: the last day's files have not been
loaded yet), ``daily`` (Dagster run_day of that day), ``totals`` (the marts' per-tenant
monthly effective cost).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE_SQL = Path(__file__).with_name("baseline.sql")
SEEDS = ROOT / "seeds"

TotalsRow = tuple[str, str, str, int]  # tenant_id, billing month, effective cost, requests


def _decimal_text(value: Decimal | None) -> str:
    return "NULL" if value is None else format(value, "f")


def marts_totals(database: Path) -> list[TotalsRow]:
    """Sum of fct_ai_requests.effective_cost_usd per tenant and month, exact (Decimal), from the
    DuckDB file or, with AI_CHARGEBACK_TARGET=spark, from the Spark target."""
    import duckdb

    if os.environ.get("AI_CHARGEBACK_TARGET") == "spark":
        from orchestration.lib import spark

        con = spark.reader()  # the Spark target's parquet marts
    else:
        con = duckdb.connect(str(database), read_only=True)
    try:
        rows = con.execute(
            """
            select tenant_id, strftime(request_date, '%Y-%m'), sum(effective_cost_usd), count(*)
            from marts.fct_ai_requests
            group by all
            order by 1, 2
            """
        ).fetchall()
    finally:
        con.close()
    return [(r[0], r[1], _decimal_text(r[2]), int(r[3])) for r in rows]


def _step_generate(args: argparse.Namespace) -> dict:
    from ai_chargeback.generator import generate

    summary = generate(
        Path(args.landing),
        days=args.days,
        tenants=args.tenants,
        requests_per_day=args.requests_per_day,
        seed=args.seed,
        start=date.fromisoformat(args.start),
    )
    return {
        "requests": summary.requests,
        "attempts": summary.attempts,
        "records_by_source": summary.records_by_source,
        "files_written": summary.files_written,
    }


def _dagster_profile(instance: object, run_id: str) -> dict[str, float]:
    """Seconds per Dagster step of one run (loader assets, the dbt build)."""
    starts: dict[str, float] = {}
    steps: dict[str, float] = {}
    for entry in instance.all_logs(run_id):  # type: ignore[attr-defined]
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type_value == "STEP_START":
            starts[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            steps[event.step_key] = round(entry.timestamp - starts[event.step_key], 3)
    return steps


def _dbt_profile(run_id: str, *, top: int = 12) -> dict:
    """dbt's own timings (run_results.json of this run's build): by kind and the slowest nodes."""
    found = sorted(
        (ROOT / "target").glob(f"*-{run_id[:7]}-*/run_results.json"),
        key=lambda p: p.stat().st_mtime,
    )
    if not found:
        return {}
    results = json.loads(found[-1].read_text())
    by_kind: dict[str, float] = {}
    nodes = []
    for result in results["results"]:
        kind = result["unique_id"].split(".", 1)[0]
        by_kind[kind] = round(by_kind.get(kind, 0.0) + result["execution_time"], 3)
        nodes.append((result["execution_time"], result["unique_id"].split(".", 2)[-1]))
    nodes.sort(reverse=True)
    return {
        "elapsed_s": round(results["elapsed_time"], 3),
        "node_seconds_by_kind": by_kind,
        "slowest_nodes": [[name, round(seconds, 3)] for seconds, name in nodes[:top]],
    }


def _run_pipeline(run: Callable[..., object]) -> dict:
    import dagster as dg

    from ai_chargeback import pipeline

    parse_seconds: list[float] = []
    prepare = pipeline.prepare_dbt_manifest

    def timed_prepare() -> None:
        began = time.perf_counter()
        prepare()
        parse_seconds.append(time.perf_counter() - began)

    pipeline.prepare_dbt_manifest = timed_prepare
    instance = dg.DagsterInstance.ephemeral()
    began = time.perf_counter()
    result = run(instance)
    wall = time.perf_counter() - began
    steps = _dagster_profile(instance, result.run_id)  # type: ignore[attr-defined]
    dbt_parse = round(sum(parse_seconds), 3)
    return {
        "success": bool(result.success),  # type: ignore[attr-defined]
        "run_id": result.run_id,  # type: ignore[attr-defined]
        "wall_in_process_s": round(wall, 3),
        "dbt_parse_s": dbt_parse,
        "dagster_steps_s": steps,
        "dagster_overhead_s": round(wall - dbt_parse - sum(steps.values()), 3),
        "dbt": _dbt_profile(result.run_id),  # type: ignore[attr-defined]
    }


def _step_pipeline(args: argparse.Namespace) -> dict:
    from ai_chargeback import pipeline

    return _run_pipeline(lambda instance: pipeline.run_all(dagster_instance=instance))


def _step_daily(args: argparse.Namespace) -> dict:
    from ai_chargeback import pipeline

    day = date.fromisoformat(args.day)
    return _run_pipeline(lambda instance: pipeline.run_day(day, dagster_instance=instance))


def _step_forget_day(args: argparse.Namespace) -> dict:
    """Make the last day's landing files new again, as on the morning they arrive."""
    import duckdb

    day = date.fromisoformat(args.day)
    con = duckdb.connect(args.database)
    try:
        tables = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
        ]
        files = con.execute(
            "select source, file_path from audit.load_manifest where landing_date = ?", [day]
        ).fetchall()
        con.begin()
        for table in tables:
            con.execute(f'delete from raw."{table}" where _landing_date = ?', [day])
        for source, file_path in files:
            con.execute(
                "delete from audit.quarantine where source = ? and file_path = ?",
                [source, file_path],
            )
        con.execute("delete from audit.load_manifest where landing_date = ?", [day])
        con.commit()
    finally:
        con.close()
    return {"day": day.isoformat(), "files_forgotten": len(files)}


def _step_baseline(args: argparse.Namespace) -> dict:
    """Run baseline.sql statement by statement (timed), return its per-tenant totals."""
    import duckdb

    con = duckdb.connect()
    # the pipeline's memory ceiling (profiles.yml, loader.connect), so both spill alike
    memory_limit = os.environ.get("AI_CHARGEBACK_DUCKDB_MEMORY_LIMIT", "2GB")
    con.execute(f"set memory_limit = {_sql_text(memory_limit)}")
    if args.database:
        spill = Path(args.database).parent / "baseline.tmp"
        con.execute(f"set temp_directory = {_sql_text(str(spill))}")
    con.execute(f"set variable landing = {_sql_text(args.landing)}")
    con.execute(f"set variable seeds = {_sql_text(str(SEEDS))}")
    statements = [s for s in BASELINE_SQL.read_text().split(";\n") if _has_code(s)]
    timings: list[list] = []
    rows: list = []
    for statement in statements:
        began = time.perf_counter()
        rows = con.execute(statement).fetchall()
        timings.append([_statement_label(statement), round(time.perf_counter() - began, 3)])
    con.close()
    totals = [(r[0], r[1], _decimal_text(r[2]), int(r[3])) for r in rows]
    return {"totals": totals, "statement_seconds": timings}


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _has_code(statement: str) -> bool:
    return any(
        line.strip() and not line.strip().startswith("--") for line in statement.splitlines()
    )


def _statement_label(statement: str) -> str:
    code = [ln for ln in statement.splitlines() if ln.strip() and not ln.strip().startswith("--")]
    first = code[0].strip()
    if first.startswith("create or replace temp table"):
        return first.split()[5]
    return "final select" if first.startswith("with") else first[:40]


def _step_per_row(args: argparse.Namespace) -> dict:
    from benchmarks import per_row

    result = per_row.run(Path(args.landing), SEEDS, days=args.days)
    return {
        "days": result.days,
        "spans": result.spans,
        "attempts": result.attempts,
        "calc_price_calls": result.priced_calls,
        "seconds": {k: round(v, 3) for k, v in result.seconds.items()},
        "totals": [
            (tenant, month, _decimal_text(result.totals[(tenant, month)]), count)
            for (tenant, month), count in sorted(result.requests.items())
        ],
    }


def _step_totals(args: argparse.Namespace) -> dict:
    return {"totals": marts_totals(Path(args.database))}


STEPS: dict[str, Callable[[argparse.Namespace], dict]] = {
    "generate": _step_generate,
    "pipeline": _step_pipeline,
    "daily": _step_daily,
    "forget-day": _step_forget_day,
    "baseline": _step_baseline,
    "per-row": _step_per_row,
    "totals": _step_totals,
}


def main(argv: list[str] | None = None) -> None:
    """Run one step and write its findings as JSON to --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=sorted(STEPS))
    parser.add_argument("--out", required=True)
    parser.add_argument("--landing", default=os.environ.get("AI_CHARGEBACK_LANDING"))
    parser.add_argument("--database", default=os.environ.get("AI_CHARGEBACK_DUCKDB"))
    parser.add_argument("--day")
    parser.add_argument("--days", type=int)
    parser.add_argument("--tenants", type=int, default=8)
    parser.add_argument("--requests-per-day", type=int)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start", default="2026-11-01")
    args = parser.parse_args(argv)
    found = STEPS[args.step](args)
    Path(args.out).write_text(json.dumps(found, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
