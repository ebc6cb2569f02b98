"""The published snapshot: the checked marts, copied atomically for readers, and only when every
blocking check passed."""

from __future__ import annotations

import hashlib
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs.publish.assets import PUBLISHED_ASSET_KEY
from orchestration.lib.publish import publish_snapshot
from tests.conftest import PipelineRun
from tests.writer_process import held_read_write

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

# The storage version number in a DuckDB file's header that DuckDB 1.0 wrote (and 0.10 reads);
# DuckDB 2.0's own default is newer and unreadable by 1.x clients.
V1_0_STORAGE_NUMBER = 64


def _storage_number(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[8:12] == b"DUCK", f"{path} is not a DuckDB file"
    return struct.unpack("<Q", header[12:20])[0]


def _fingerprint(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), stat.st_mtime_ns, stat.st_ino


def _mart_totals(database: Path) -> tuple:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(
            """
            select
                (select sum(amount_usd) from marts.mart_chargeback_monthly),
                (select sum(amount_exact_usd) from marts.mart_chargeback_monthly),
                (select sum(effective_cost_usd) from marts.fct_ai_requests),
                (select count(*) from marts.fct_gateway_attempts)
            """
        ).fetchone()


def test_the_run_publishes_every_mart_and_nothing_else_in_a_v1_readable_file(
    pipeline_run: PipelineRun,
) -> None:
    materialised = {e.asset_key for e in pipeline_run.result.get_asset_materialization_events()}
    assert PUBLISHED_ASSET_KEY in materialised
    published = pipeline_run.published
    assert published.exists()
    assert _storage_number(published) == V1_0_STORAGE_NUMBER
    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as con:
        marts = con.execute(
            "select table_name, estimated_size from duckdb_tables() "
            "where schema_name = 'marts' order by 1"
        ).fetchall()
        money_types = con.execute(
            "select column_name, data_type from duckdb_columns() "
            "where table_name = 'mart_chargeback_monthly' and data_type like 'DECIMAL%' "
            "order by 1"
        ).fetchall()
    with duckdb.connect(str(published), read_only=True) as con:
        copied = con.execute(
            "select table_name, estimated_size from duckdb_tables() order by 1"
        ).fetchall()
        schemas = {
            s for (s,) in con.execute("select distinct schema_name from duckdb_tables()").fetchall()
        }
        copied_money_types = con.execute(
            "select column_name, data_type from duckdb_columns() "
            "where table_name = 'mart_chargeback_monthly' and data_type like 'DECIMAL%' "
            "order by 1"
        ).fetchall()
    assert [name for name, _ in copied] == [name for name, _ in marts]
    assert schemas == {"marts"}  # raw and staging (plain user ids, payloads) stay behind
    assert copied_money_types == money_types
    assert ("amount_exact_usd", "DECIMAL(38,12)") in copied_money_types
    assert _mart_totals(published) == _mart_totals(pipeline_run.warehouse)
    assert not list(published.parent.glob("*.tmp*")), "a temporary file was left behind"


def test_readers_open_the_snapshot_while_a_pipeline_process_holds_the_warehouse(
    pipeline_run: PipelineRun, tmp_path: Path
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_run.warehouse, warehouse)
    snapshot = publish_snapshot(warehouse, tmp_path / "published" / "warehouse.duckdb")
    with held_read_write(warehouse):
        # the reason for the snapshot: nobody else can open the warehouse now, read-only included
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(str(warehouse), read_only=True)
        with duckdb.connect(str(snapshot.path), read_only=True) as reader:
            total = reader.execute(
                "select sum(amount_usd) from marts.mart_chargeback_monthly"
            ).fetchone()[0]
    assert total == _mart_totals(pipeline_run.warehouse)[0]


@dataclass(frozen=True)
class Published:
    warehouse: Path
    published: Path


@pytest.fixture()
def published_copy(
    pipeline_run: PipelineRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Published]:
    """A copy of the built warehouse and of its published snapshot, as the job's environment."""
    warehouse = tmp_path / "warehouse.duckdb"
    published = tmp_path / "published" / "ai_chargeback.duckdb"
    shutil.copy(pipeline_run.warehouse, warehouse)
    published.parent.mkdir()
    shutil.copy2(pipeline_run.published, published)
    monkeypatch.setenv("AI_CHARGEBACK_DUCKDB", str(warehouse))
    monkeypatch.setenv("AI_CHARGEBACK_PUBLISHED", str(published))
    monkeypatch.setenv("AI_CHARGEBACK_EXPORTS", str(tmp_path / "exports"))
    yield Published(warehouse=warehouse, published=published)


def _run_checks_and_reports() -> dg.ExecuteInProcessResult:
    from orchestration.definitions import defs

    return defs.resolve_job_def("checks_and_reports").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        partition_key="2026-11-01",
        raise_on_error=False,
    )


def test_a_failed_blocking_check_leaves_the_published_snapshot_unchanged(
    published_copy: Published,
) -> None:
    before = _fingerprint(published_copy.published)
    with duckdb.connect(str(published_copy.warehouse)) as con:
        con.execute(
            """
            update marts.fct_gateway_attempts set output_tokens = -5
            where attempt_id = (
                select min(attempt_id) from marts.fct_gateway_attempts
                where pricing_status = 'priced'
            )
            """
        )

    result = _run_checks_and_reports()

    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed == ["great_expectations_fct_gateway_attempts"]
    materialised = {e.asset_key for e in result.get_asset_materialization_events()}
    assert PUBLISHED_ASSET_KEY not in materialised
    assert _fingerprint(published_copy.published) == before


def test_passing_checks_replace_the_snapshot_by_a_rename_with_the_new_marts(
    published_copy: Published,
) -> None:
    before = _fingerprint(published_copy.published)
    with duckdb.connect(str(published_copy.warehouse)) as con:
        # a correction that keeps every expectation true: one tenant renamed
        con.execute(
            "update marts.mart_chargeback_monthly set tenant_id = 'renamed-tenant' "
            "where tenant_id = (select min(tenant_id) from marts.mart_chargeback_monthly)"
        )

    result = _run_checks_and_reports()

    assert all(e.passed for e in result.get_asset_check_evaluations())
    materialised = {e.asset_key for e in result.get_asset_materialization_events()}
    assert PUBLISHED_ASSET_KEY in materialised
    after = _fingerprint(published_copy.published)
    assert after[0] != before[0] and after[2] != before[2]  # new content, new file (renamed)
    with duckdb.connect(str(published_copy.published), read_only=True) as con:
        renamed = con.execute(
            "select count(*) from marts.mart_chargeback_monthly where tenant_id = 'renamed-tenant'"
        ).fetchone()[0]
    assert renamed > 0
    assert _mart_totals(published_copy.published) == _mart_totals(published_copy.warehouse)
    assert not list(published_copy.published.parent.glob("*.tmp*"))
