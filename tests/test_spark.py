"""The Spark target: the DuckDB run's landing files through the whole Dagster job on in-process
Apache Spark (dbt-spark, session method) give the same bill, decimal for decimal.

One Dagster run (one `dbt build`: seeds, models, unit tests, data tests, then the Great
Expectations checks and the statement export) in a separate process, so that it parses the
project for the Spark target and its JVM ends with it. The marts are read back from their
parquet files with DuckDB (orchestration/lib/spark.py).
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ai_chargeback.pipeline import prepare_dbt_manifest
from orchestration.lib import spark
from orchestration.lib.paths import PROJECT_ROOT
from tests.conftest import PipelineRun

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

COMPARED_MARTS = ("fct_ai_requests", "mart_chargeback_monthly", "mart_invoice_reconciliation")


@dataclass(frozen=True)
class SparkRun:
    """The Spark target built from the DuckDB run's landing directory."""

    spark_dir: Path
    exports: Path
    duckdb_run: PipelineRun
    completed: subprocess.CompletedProcess
    run_results: list[dict[str, Any]]
    expected_nodes: set[str]
    seconds: float


def _buildable_nodes() -> set[str]:
    """Every seed, model (ephemeral ones are inlined), unit test and data test of the project,
    from the manifest the run parsed for the Spark target."""
    manifest = json.loads((PROJECT_ROOT / "target" / "manifest.json").read_text())
    nodes = {**manifest["nodes"], **manifest.get("unit_tests", {})}
    return {
        unique_id
        for unique_id, node in nodes.items()
        if node["resource_type"] in {"seed", "model", "unit_test", "test"}
        and node.get("config", {}).get("materialized") != "ephemeral"
    }


def _run_results_since(started: float) -> list[dict[str, Any]]:
    """The results of the dbt invocations (dagster-dbt keeps one target folder per call)."""
    results: list[dict[str, Any]] = []
    for path in (PROJECT_ROOT / "target").rglob("run_results.json"):
        if path.stat().st_mtime >= started:
            results.extend(json.loads(path.read_text())["results"])
    return results


@pytest.fixture(scope="module")
def spark_run(
    pipeline_run: PipelineRun, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SparkRun]:
    """`ai-chargeback run` with AI_CHARGEBACK_TARGET=spark on the DuckDB run's landing files."""
    root = tmp_path_factory.mktemp("spark")
    spark_dir, exports = root / "spark", root / "exports"
    env = {
        **os.environ,
        "AI_CHARGEBACK_TARGET": "spark",
        "AI_CHARGEBACK_SPARK_DIR": str(spark_dir),
        "AI_CHARGEBACK_LANDING": str(pipeline_run.landing),
        "AI_CHARGEBACK_EXPORTS": str(exports),
        "DBT_PROFILES_DIR": str(PROJECT_ROOT),
    }
    env.pop("DAGSTER_HOME", None)  # an ephemeral instance, as the other end-to-end runs use
    started = time.time()
    completed = subprocess.run(
        [str(Path(sys.executable).with_name("ai-chargeback")), "run"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1500,
    )
    seconds = time.time() - started
    run_results, expected_nodes = _run_results_since(started), _buildable_nodes()
    prepare_dbt_manifest()  # the manifest of this process's target again, for the tests after
    previous = os.environ.get("AI_CHARGEBACK_SPARK_DIR")
    os.environ["AI_CHARGEBACK_SPARK_DIR"] = str(spark_dir)
    try:
        yield SparkRun(
            spark_dir=spark_dir,
            exports=exports,
            duckdb_run=pipeline_run,
            completed=completed,
            run_results=run_results,
            expected_nodes=expected_nodes,
            seconds=seconds,
        )
    finally:
        if previous is None:
            os.environ.pop("AI_CHARGEBACK_SPARK_DIR", None)
        else:
            os.environ["AI_CHARGEBACK_SPARK_DIR"] = previous


def _normalised(value: Any) -> Any:
    """One comparable form per value: exact decimals by value, UTC naive times, floats to
    1e-9 relative (the engines may differ in the last bit of a double mean)."""
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, float):
        return float(f"{value:.9g}")
    return value


def _rows(rows: list[tuple]) -> collections.Counter:
    return collections.Counter(tuple(_normalised(v) for v in row) for row in rows)


def test_the_dagster_job_on_spark_passes_every_dbt_test_and_expectation_suite(
    spark_run: SparkRun,
) -> None:
    output = spark_run.completed.stdout[-3000:] + spark_run.completed.stderr[-3000:]
    assert spark_run.completed.returncode == 0, output
    print(f"Spark leg: the Dagster run took {spark_run.seconds:.0f}s")
    by_type = collections.Counter(r["unique_id"].split(".")[0] for r in spark_run.run_results)
    statuses = collections.Counter(r["status"] for r in spark_run.run_results)
    assert set(statuses) <= {"success", "pass"}, statuses
    assert by_type["seed"] >= 8 and by_type["model"] >= 35, by_type
    assert by_type["unit_test"] >= 7 and by_type["test"] >= 150, by_type
    missing = spark_run.expected_nodes - {r["unique_id"] for r in spark_run.run_results}
    assert missing == set()
    assert (spark_run.exports / "chargeback_statement_lines.parquet").exists()
    assert "readers: the parquet tables under" in spark_run.completed.stdout


@pytest.mark.parametrize("mart", COMPARED_MARTS)
def test_spark_marts_equal_the_duckdb_marts_row_for_row(spark_run: SparkRun, mart: str) -> None:
    with spark.reader() as on_spark, spark_run.duckdb_run.connect() as on_duckdb:
        duck_columns = [row[0] for row in on_duckdb.execute(f"describe marts.{mart}").fetchall()]
        spark_columns = [row[0] for row in on_spark.execute(f"describe marts.{mart}").fetchall()]
        # Spark keeps a partition column last; every other column is in the same order
        assert sorted(spark_columns) == sorted(duck_columns)
        select = ", ".join(f'"{c}"' for c in duck_columns)
        spark_rows = _rows(on_spark.execute(f"select {select} from marts.{mart}").fetchall())
        duck_rows = _rows(on_duckdb.execute(f"select {select} from marts.{mart}").fetchall())
    assert sum(duck_rows.values()) > 0
    only_duckdb = list((duck_rows - spark_rows).elements())[:3]
    only_spark = list((spark_rows - duck_rows).elements())[:3]
    assert (only_duckdb, only_spark) == ([], []), f"marts.{mart} differs"


def test_tenants_tokens_and_costs_on_spark_add_up_to_the_duckdb_totals(spark_run: SparkRun) -> None:
    query = """
        select tenant_id, count(*), sum(input_tokens + output_tokens), sum(effective_cost_usd)
        from marts.fct_ai_requests group by tenant_id order by tenant_id
    """
    with spark.reader() as on_spark, spark_run.duckdb_run.connect() as on_duckdb:
        spark_totals = on_spark.execute(query).fetchall()
        duck_totals = on_duckdb.execute(query).fetchall()
    assert len(duck_totals) >= 2
    assert spark_totals == duck_totals
    assert all(isinstance(row[3], Decimal) for row in spark_totals if row[3] is not None)


def test_money_columns_of_the_spark_marts_keep_twelve_decimals(spark_run: SparkRun) -> None:
    """Every decimal column of every mart has DuckDB's type on Spark: DECIMAL(38, 12) for money
    (precision loss disabled), DECIMAL(38, 2) only for the statements' rounded cents."""
    marts = spark_run.spark_dir / "warehouse" / "marts.db"
    with spark_run.duckdb_run.connect() as on_duckdb:
        duck_decimals = {
            f"{table}.{column}": (precision, scale)
            for table, column, precision, scale in on_duckdb.execute(
                "select table_name, column_name, numeric_precision, numeric_scale "
                "from information_schema.columns "
                "where table_schema = 'marts' and data_type like 'DECIMAL%'"
            ).fetchall()
        }
    spark_types: dict[str, pa.DataType] = {}
    for table in sorted(p for p in marts.iterdir() if p.is_dir()):
        for field in pq.read_schema(next(table.rglob("*.parquet"))):
            spark_types[f"{table.name}.{field.name}"] = field.type
    money = [name for name, kind in duck_decimals.items() if kind == (38, 12)]
    assert len(money) >= 30
    assert "fct_ai_requests.effective_cost_usd" in money
    differing = {
        name: str(spark_types.get(name))
        for name, (precision, scale) in duck_decimals.items()
        if spark_types.get(name) != pa.decimal128(precision, scale)
    }
    assert differing == {}
    floats = [
        name
        for name, kind in spark_types.items()
        if name.endswith("_usd") and not pa.types.is_decimal(kind)
    ]
    assert floats == []


def test_the_day_partitioned_facts_are_parquet_partitions_by_day(spark_run: SparkRun) -> None:
    marts = spark_run.spark_dir / "warehouse" / "marts.db"
    for table, column in (
        ("fct_gateway_attempts", "attempt_date"),
        ("fct_ai_requests", "request_date"),
        ("mart_chargeback_daily", "usage_date"),
    ):
        days = sorted(p.name for p in (marts / table).glob(f"{column}=*"))
        assert len(days) >= 3, (table, days)
        assert days[0].startswith(f"{column}=2026-1")


def test_raw_tables_and_quarantine_on_spark_equal_duckdb(spark_run: SparkRun) -> None:
    query = """
        select source, sum(rows_loaded), sum(rows_quarantined)
        from audit.load_manifest group by source order by source
    """
    with spark.reader() as on_spark, spark_run.duckdb_run.connect() as on_duckdb:
        assert on_spark.execute(query).fetchall() == on_duckdb.execute(query).fetchall()
        for (table,) in on_duckdb.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
        ).fetchall():
            count = f"select count(*) from raw.{table}"
            assert on_spark.execute(count).fetchone() == on_duckdb.execute(count).fetchone()
