"""The Postgres target: the same landing files through the same Dagster loaders and dbt project
give the same warehouse as DuckDB, row for row, and tenants read only their own rows."""

from __future__ import annotations

import collections
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.defs.publish.assets import PUBLISHED_ASSET_KEY
from orchestration.lib import postgres
from orchestration.lib.sources import COLUMN_TYPES, SOURCES
from tests import postgres_server
from tests.conftest import PipelineRun

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

DBNAME = "ai_chargeback_test"
TENANT_MARTS = (
    "fct_ai_requests",
    "fct_gateway_attempts",
    "mart_chargeback_daily",
    "mart_chargeback_monthly",
)
OPTIONAL_TENANT_MARTS = ("mart_statement_lines", "mart_request_evidence")


@dataclass(frozen=True)
class PostgresRun:
    """The Postgres warehouse built from the DuckDB run's landing directory."""

    settings: postgres.PostgresSettings
    duckdb_run: PipelineRun
    result: dg.ExecuteInProcessResult
    exports: Path

    def connect(self) -> psycopg.Connection:
        return postgres.connect(self.settings)


@pytest.fixture(scope="module")
def postgres_run(
    pipeline_run: PipelineRun, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PostgresRun]:
    """The DuckDB run's landing files through the whole Dagster job on Postgres, once: loaders,
    dbt build, Great Expectations checks, the statement export."""
    from ai_chargeback import pipeline

    settings = postgres_server.start(DBNAME)
    exports = tmp_path_factory.mktemp("postgres_exports")
    with postgres_server.environment(
        settings,
        AI_CHARGEBACK_EXPORTS=str(exports),
        **postgres_server.landing_env(pipeline_run.landing),
    ):
        result = pipeline.run_all(dagster_instance=dg.DagsterInstance.ephemeral())
        yield PostgresRun(
            settings=settings, duckdb_run=pipeline_run, result=result, exports=exports
        )


def _normalised(value: Any) -> Any:
    """One comparable form per value: exact decimals by value, UTC naive times, floats to
    1e-9 relative (DuckDB and Postgres may differ in the last bit of a double mean)."""
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return value


def _rows(cursor_rows: list[tuple]) -> collections.Counter:
    return collections.Counter(tuple(_normalised(v) for v in row) for row in cursor_rows)


def _compare_table(run: PostgresRun, schema: str, table: str, *, exclude: tuple = ()) -> int:
    """Assert the table holds the same rows on both engines; return the row count."""
    with run.connect() as pg:
        columns = [
            name
            for (name,) in pg.execute(
                "select column_name from information_schema.columns "
                "where table_schema = %s and table_name = %s order by ordinal_position",
                [schema, table],
            ).fetchall()
            if name not in exclude
        ]
        assert columns, f"{schema}.{table} is missing on Postgres"
        select = ", ".join(f'"{c}"' for c in columns)
        on_postgres = _rows(pg.execute(f"select {select} from {schema}.{table}").fetchall())
    with run.duckdb_run.connect() as con:
        duck_columns = [name for name, *_ in con.execute(f"describe {schema}.{table}").fetchall()]
        assert [c for c in duck_columns if c not in exclude] == columns, table
        on_duckdb = _rows(con.execute(f"select {select} from {schema}.{table}").fetchall())
    only_duckdb = list((on_duckdb - on_postgres).elements())[:3]
    only_postgres = list((on_postgres - on_duckdb).elements())[:3]
    assert (only_duckdb, only_postgres) == ([], []), f"{schema}.{table} differs"
    return sum(on_postgres.values())


def test_the_dagster_job_on_postgres_passes_every_dbt_test_and_expectation_suite(
    postgres_run: PostgresRun,
) -> None:
    assert postgres_run.result.success
    materialised = {
        event.asset_key.to_user_string()
        for event in postgres_run.result.get_asset_materialization_events()
        if event.asset_key is not None
    }
    assert {
        "raw/gateway_spans",
        "marts/fct_ai_requests",
        "marts/mart_chargeback_monthly",
        "exports/chargeback_statement_lines",
    } <= materialised
    evaluations = postgres_run.result.get_asset_check_evaluations()
    suites = {e.check_name for e in evaluations if e.check_name.startswith("great_expectations")}
    assert len(suites) == 6
    assert [e.check_name for e in evaluations if not e.passed] == []


def test_the_statement_export_from_postgres_equals_the_mart_exactly(
    postgres_run: PostgresRun,
) -> None:
    exported = pq.read_table(postgres_run.exports / "chargeback_statement_lines.parquet")
    assert exported.schema.field("amount_usd").type == pa.decimal128(38, 2)
    with postgres_run.connect() as pg:
        total = pg.execute("select sum(amount_usd) from marts.mart_chargeback_monthly").fetchone()
    assert sum(exported.column("amount_usd").to_pylist()) == total[0]
    with postgres_run.duckdb_run.connect() as con:
        duckdb_total = con.execute(
            "select sum(amount_usd) from marts.mart_chargeback_monthly"
        ).fetchone()
    assert total == duckdb_total


def test_every_request_on_postgres_matches_the_ground_truth_exactly(
    postgres_run: PostgresRun,
) -> None:
    with (postgres_run.duckdb_run.truth / "requests.csv").open(newline="") as handle:
        truth = {row["request_key"]: row for row in csv.DictReader(handle)}
    with postgres_run.connect() as pg:
        rows = pg.execute(
            """
            select request_id, tenant_id, coalesce(model_id, resolved_model), pricing_status,
                uncached_input_tokens, cache_read_tokens, cache_write_tokens, output_tokens,
                list_cost_usd, effective_cost_usd
            from marts.fct_ai_requests
            """
        ).fetchall()
    warehouse = {row[0]: row[1:] for row in rows}
    assert set(warehouse) == set(truth)
    mismatches = []
    for key, expected in truth.items():
        tenant, model, status, uncached, cache_read, cache_write, output, list_cost, effective = (
            warehouse[key]
        )
        got = (tenant, model or "", status, output, list_cost, effective)
        want = (
            expected["tenant_id"],
            expected["final_model"],
            expected["pricing_status"],
            int(expected["output_tokens"]),
            Decimal(expected["list_cost_usd"]) if expected["list_cost_usd"] else None,
            Decimal(expected["effective_cost_usd"]) if expected["effective_cost_usd"] else None,
        )
        if uncached is not None:  # NULL = nobody reported the cache split (unpriced)
            got += (uncached, cache_read, cache_write)
            want += tuple(
                int(expected[k])
                for k in ("uncached_input_tokens", "cache_read_tokens", "cache_write_tokens")
            )
        if got != want:
            mismatches.append((key, got, want))
    assert mismatches == []


@pytest.mark.parametrize(
    "mart", ["fct_ai_requests", "mart_chargeback_monthly", "mart_invoice_reconciliation"]
)
def test_marts_on_postgres_equal_the_duckdb_marts_row_for_row(
    postgres_run: PostgresRun, mart: str
) -> None:
    assert _compare_table(postgres_run, "marts", mart) > 0


def test_raw_tables_quarantine_and_manifest_on_postgres_equal_duckdb(
    postgres_run: PostgresRun,
) -> None:
    """Same loader, same semantics: every raw row, quarantine row and manifest entry."""
    for spec in SOURCES.values():
        json_columns = {c.name for c in spec.all_columns if COLUMN_TYPES[c.kind] == "JSON"}
        rows = _compare_table(
            postgres_run, "raw", spec.table, exclude=("_loaded_at", *json_columns)
        )
        assert rows > 0, spec.name
    _compare_table(postgres_run, "audit", "quarantine", exclude=("loaded_at",))
    _compare_table(postgres_run, "audit", "load_manifest", exclude=("loaded_at",))


def test_reloading_the_landing_directory_into_postgres_changes_nothing(
    postgres_run: PostgresRun,
) -> None:
    def counts(pg: psycopg.Connection) -> list[tuple]:
        return pg.execute(
            "select source, count(*), sum(rows_loaded), sum(rows_quarantined) "
            "from audit.load_manifest group by 1 order by 1"
        ).fetchall()

    with postgres_run.connect() as pg:
        before = counts(pg)
        for spec in SOURCES.values():
            report = postgres.load_source(pg, spec, postgres_run.duckdb_run.landing)
            assert report.files_loaded == 0, spec.name
        assert counts(pg) == before


def test_message_contents_never_reach_the_postgres_warehouse(postgres_run: PostgresRun) -> None:
    summary = json.loads((postgres_run.duckdb_run.truth / "summary.json").read_text())
    canary = summary["content_canary"]
    assert canary
    with postgres_run.connect() as pg:
        text_columns = pg.execute(
            """
            select table_schema, table_name, column_name
            from information_schema.columns
            where table_schema in ('raw', 'audit', 'staging', 'marts')
                and data_type in ('text', 'character varying', 'json', 'jsonb')
            """
        ).fetchall()
        hits = [
            (schema, table, column)
            for schema, table, column in text_columns
            if pg.execute(
                f'select count(*) from {schema}.{table} where "{column}"::text like %s',
                [f"%{canary}%"],
            ).fetchone()[0]
        ]
    assert len(text_columns) > 50
    assert hits == []


# --- row-level security --------------------------------------------------------------------


def _visible(settings: postgres.PostgresSettings, role: str, password: str) -> dict[str, set]:
    """The tenant ids a login role can read in each tenant-bearing mart."""
    seen: dict[str, set] = {}
    with psycopg.connect(settings.conninfo(user=role, password=password)) as pg:
        for mart in TENANT_MARTS + OPTIONAL_TENANT_MARTS:
            exists = pg.execute("select to_regclass(%s)", [f"marts.{mart}"]).fetchone()[0]
            if exists is None:
                continue
            seen[mart] = {tenant for (tenant,) in pg.execute(f"select tenant_id from marts.{mart}")}
    return seen


def _rows_per_tenant(run: PostgresRun, mart: str) -> dict[str, int]:
    with run.connect() as pg:
        return dict(pg.execute(f"select tenant_id, count(*) from marts.{mart} group by 1"))


def test_each_tenant_login_reads_only_its_own_rows(postgres_run: PostgresRun) -> None:
    totals = _rows_per_tenant(postgres_run, "fct_ai_requests")
    first, second = sorted(t for t in totals if t != "unattributed")[:2]
    with postgres_run.connect() as pg:
        postgres.grant_tenant_login(pg, "test_tenant_first", [first], "first-secret")
        postgres.grant_tenant_login(pg, "test_tenant_second", [second], "second-secret")
    for role, password, tenant in (
        ("test_tenant_first", "first-secret", first),
        ("test_tenant_second", "second-secret", second),
    ):
        seen = _visible(postgres_run.settings, role, password)
        assert set(TENANT_MARTS) <= set(seen)
        for mart, tenants in seen.items():
            assert tenants == {tenant}, (role, mart, tenants)
        with psycopg.connect(postgres_run.settings.conninfo(user=role, password=password)) as pg:
            for mart in TENANT_MARTS:
                visible_rows = pg.execute(f"select count(*) from marts.{mart}").fetchone()[0]
                assert visible_rows == _rows_per_tenant(postgres_run, mart)[tenant], mart
            # the tenant map shows a tenant its own entry only
            assert pg.execute("select tenant_id from security.tenant_roles").fetchall() == [
                (tenant,)
            ]
            # marts without a tenant column are not readable at all
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                pg.execute("select count(*) from marts.mart_usage_reconciliation")


def test_a_reader_with_no_tenant_sees_nothing_and_finance_sees_everything(
    postgres_run: PostgresRun,
) -> None:
    with postgres_run.connect() as pg:
        postgres.grant_tenant_login(pg, "test_tenant_none", [], "none-secret")
        postgres.grant_finance_admin_login(pg, "test_finance", "finance-secret")
    nobody = _visible(postgres_run.settings, "test_tenant_none", "none-secret")
    assert set(TENANT_MARTS) <= set(nobody)
    assert all(tenants == set() for tenants in nobody.values()), nobody
    finance = _visible(postgres_run.settings, "test_finance", "finance-secret")
    for mart in TENANT_MARTS:
        assert finance[mart] == set(_rows_per_tenant(postgres_run, mart)), mart


def test_the_run_summary_reads_the_same_numbers_from_postgres(postgres_run: PostgresRun) -> None:
    from ai_chargeback import pipeline

    on_duckdb = pipeline.summarise(postgres_run.duckdb_run.warehouse)
    with postgres_server.environment(postgres_run.settings):
        on_postgres = pipeline.summarise()
    assert on_postgres == on_duckdb
    assert on_postgres.requests_total > 0 and on_postgres.reconciliation


def test_on_postgres_the_publish_step_copies_nothing_readers_use_the_marts(
    postgres_run: PostgresRun,
) -> None:
    published = [
        event.materialization.metadata
        for event in postgres_run.result.get_asset_materialization_events()
        if event.asset_key == PUBLISHED_ASSET_KEY
    ]
    assert len(published) == 1
    assert published[0]["target"].value == "postgres"
    assert "path" not in published[0]
