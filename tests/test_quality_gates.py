"""A bad batch fails the blocking Great Expectations checks and stops the downstream exports."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tests.conftest import PipelineRun

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


@pytest.fixture()
def tampered(pipeline_run: PipelineRun, tmp_path: Path) -> Iterator[tuple[Path, Path, str]]:
    """A copy of the built warehouse with negative tokens and a doubled price injected."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_run.warehouse, warehouse)
    exports = tmp_path / "exports"
    with duckdb.connect(str(warehouse)) as con:
        (bad_attempt,) = con.execute(
            "select min(attempt_id) from marts.fct_gateway_attempts where pricing_status = 'priced'"
        ).fetchone()
        con.execute(
            "update marts.fct_gateway_attempts set output_tokens = -5 where attempt_id = ?",
            [bad_attempt],
        )
        con.execute(
            """
            update marts.fct_gateway_attempts
            set effective_cost_usd = list_cost_usd * 2
            where model_id = 'gpt-4o-mini' and pricing_status = 'priced'
            """
        )
    previous = {k: os.environ.get(k) for k in ("AI_CHARGEBACK_DUCKDB", "AI_CHARGEBACK_EXPORTS")}
    os.environ["AI_CHARGEBACK_DUCKDB"] = str(warehouse)
    os.environ["AI_CHARGEBACK_EXPORTS"] = str(exports)
    yield warehouse, exports, bad_attempt
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _run_checks_and_reports() -> dg.ExecuteInProcessResult:
    from orchestration.definitions import defs

    job = defs.resolve_job_def("checks_and_reports")
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        partition_key="2026-11-01",
        raise_on_error=False,
    )


def test_a_bad_batch_fails_the_blocking_check_and_the_export_is_not_written(
    tampered: tuple[Path, Path, str],
) -> None:
    _, exports, bad_attempt = tampered

    result = _run_checks_and_reports()

    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    failed = evaluations["great_expectations_fct_gateway_attempts"]
    assert not failed.passed
    names = failed.metadata["failed_expectations"].value
    assert any("output_tokens" in name for name in names), names
    details = failed.metadata["failures_with_sample_rows"].value
    assert bad_attempt in details  # the offending row is named
    assert "effective" in details  # the doubled price breaks effective <= list
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "exports/chargeback_statement_lines" not in materialized
    assert not (exports / "chargeback_statement_lines.parquet").exists()


def test_healthy_marts_pass_every_check_and_the_export_is_written(
    pipeline_run: PipelineRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_run.warehouse, warehouse)
    monkeypatch.setenv("AI_CHARGEBACK_DUCKDB", str(warehouse))
    monkeypatch.setenv("AI_CHARGEBACK_EXPORTS", str(tmp_path / "exports"))

    result = _run_checks_and_reports()

    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 6 and all(e.passed for e in evaluations)
    with duckdb.connect() as con:
        exported = con.execute(
            "select count(*) from read_parquet(?)",
            [str(tmp_path / "exports" / "chargeback_statement_lines.parquet")],
        ).fetchone()[0]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        lines = con.execute("select count(*) from marts.mart_chargeback_monthly").fetchone()[0]
    assert exported == lines > 0
