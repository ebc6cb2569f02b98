"""Daily partitioned runs give the same marts as one full refresh; late data re-attributes."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from ai_chargeback import pipeline
from ai_chargeback.generator import generate

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

START = date(2026, 11, 1)
DAYS = 3
MARTS = (
    "fct_ai_requests",
    "fct_gateway_attempts",
    "fct_token_disagreements",
    "mart_chargeback_daily",
    "mart_chargeback_monthly",
    "mart_invoice_reconciliation",
    "mart_usage_reconciliation",
    "mart_fallback_drift",
    "mart_prompt_template_tokens",
    "mart_orphans",
)


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("incremental") / "landing"
    generate(root, days=DAYS, tenants=3, requests_per_day=150, seed=11, start=START)
    return root


@pytest.fixture()
def warehouse_env(tmp_path: Path, landing: Path) -> Iterator[Path]:
    warehouse = tmp_path / "warehouse.duckdb"
    previous = {k: os.environ.get(k) for k in ("AI_CHARGEBACK_DUCKDB", "AI_CHARGEBACK_LANDING")}
    os.environ["AI_CHARGEBACK_DUCKDB"] = str(warehouse)
    os.environ["AI_CHARGEBACK_LANDING"] = str(landing)
    yield warehouse
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _late_requests(landing: Path) -> dict[str, dict[str, str]]:
    with (landing / "_ground_truth" / "requests.csv").open(newline="") as handle:
        return {
            r["request_key"]: r
            for r in csv.DictReader(handle)
            if r["is_late_app_request"] == "true"
        }


def _attribution(warehouse: Path, request_ids: list[str]) -> dict[str, tuple[str, str]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select request_id, tenant_id, attribution_source from marts.fct_ai_requests "
            "where list_contains(?, request_id)",
            [request_ids],
        ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _assert_last_run_validated_its_window(
    result: dg.ExecuteInProcessResult, warehouse: Path, day: date
) -> None:
    """A daily run's GE checks read the window dbt rebuilt in the day-partitioned facts (the
    partition and the lookback days) and every row of the table marts."""
    start, end = day - timedelta(days=2), day + timedelta(days=1)
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for mart, column, extra in (
            ("fct_gateway_attempts", "attempt_date", ""),
            # plus the representative row of each month (its unpriced share)
            (
                "fct_ai_requests",
                "request_date",
                " or request_id in (select min(request_id) from marts.fct_ai_requests "
                "group by date_trunc('month', request_date))",
            ),
        ):
            evaluation = evaluations[f"great_expectations_{mart}"]
            expected = con.execute(
                f"select count(*) from marts.{mart} where ({column} >= ? and {column} < ?)" + extra,
                [start, end],
            ).fetchone()[0]
            total = con.execute(f"select count(*) from marts.{mart}").fetchone()[0]
            assert evaluation.passed, mart
            assert evaluation.metadata["rows_validated"].value == expected, mart
            # (here the window spans the whole 3-day history; the narrowing itself is tested on
            # a hand-made mart in test_expectations.py)
            assert 0 < expected <= total, (mart, expected, total)
            assert f"{start.isoformat()} .. {end.isoformat()}" in str(
                evaluation.metadata["validated_scope"].value
            )
        monthly = evaluations["great_expectations_mart_chargeback_monthly"]
        assert monthly.metadata["validated_scope"].value == "every row"
        assert (
            monthly.metadata["rows_validated"].value
            == con.execute("select count(*) from marts.mart_chargeback_monthly").fetchone()[0]
        )


def test_daily_runs_equal_a_full_refresh_and_late_app_requests_reattribute(
    landing: Path, warehouse_env: Path, tmp_path: Path
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    late = _late_requests(landing)
    late_on_first_days = {
        k: r
        for k, r in late.items()
        if date.fromisoformat(r["request_date"]) < START + timedelta(DAYS - 1)
    }
    assert late_on_first_days, "the generator seeds late app requests"
    ids = list(late_on_first_days)

    for offset in range(DAYS):
        day = START + timedelta(days=offset)
        result = pipeline.run_day(day, dagster_instance=instance)
        assert result.success, day
        if offset == 0:
            before = _attribution(warehouse_env, ids)
            on_day_one = [
                k for k, r in late_on_first_days.items() if r["request_date"] == day.isoformat()
            ]
            # the app log has not arrived yet: the request is attributed by key or not at all
            assert all(before[k][1] != "app_request" for k in on_day_one if k in before)
    _assert_last_run_validated_its_window(result, warehouse_env, day)
    after = _attribution(warehouse_env, ids)
    assert {k: after[k] for k in ids} == {
        k: (r["tenant_id"], "app_request") for k, r in late_on_first_days.items()
    }

    full = tmp_path / "full.duckdb"
    os.environ["AI_CHARGEBACK_DUCKDB"] = str(full)
    assert pipeline.run_all(dagster_instance=instance).success

    with duckdb.connect(str(warehouse_env), read_only=True) as con:
        con.execute(f"attach '{full}' as full_refresh (read_only)")
        for mart in MARTS:
            only_daily = con.execute(
                f"select count(*) from (select * from marts.{mart} "
                f"except all select * from full_refresh.marts.{mart})"
            ).fetchone()[0]
            only_full = con.execute(
                f"select count(*) from (select * from full_refresh.marts.{mart} "
                f"except all select * from marts.{mart})"
            ).fetchone()[0]
            rows = con.execute(f"select count(*) from marts.{mart}").fetchone()[0]
            assert (mart, only_daily, only_full) == (mart, 0, 0)
            assert rows > 0, mart
