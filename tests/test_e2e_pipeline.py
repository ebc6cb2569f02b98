"""End to end on generated data: Dagster runs loaders + dbt, and the warehouse equals the truth."""

from __future__ import annotations

import csv
import json
from decimal import Decimal

import pytest

from tests.conftest import PipelineRun

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def _truth_requests(run: PipelineRun) -> dict[str, dict[str, str]]:
    with (run.truth / "requests.csv").open(newline="") as handle:
        return {row["request_key"]: row for row in csv.DictReader(handle)}


def _summary(run: PipelineRun) -> dict:
    return json.loads((run.truth / "summary.json").read_text())


def test_the_dagster_run_materialises_every_asset_and_passes_every_dbt_test(
    pipeline_run: PipelineRun,
) -> None:
    assert pipeline_run.result.success
    materialised = {
        event.asset_key.to_user_string()
        for event in pipeline_run.result.get_asset_materialization_events()
        if event.asset_key is not None
    }
    assert "raw/gateway_spans" in materialised
    assert "marts/fct_ai_requests" in materialised
    failed_checks = [
        evaluation
        for evaluation in pipeline_run.result.get_asset_check_evaluations()
        if not evaluation.passed
    ]
    assert failed_checks == []


def test_every_landing_record_is_loaded_or_quarantined(pipeline_run: PipelineRun) -> None:
    summary = _summary(pipeline_run)
    with pipeline_run.connect() as con:
        counts = {
            source: (int(loaded), int(quarantined))
            for source, loaded, quarantined in con.execute(
                """
                select split_part(file_path, '/', 1), sum(rows_loaded), sum(rows_quarantined)
                from audit.load_manifest group by 1
                """
            ).fetchall()
        }
    for source, expected in summary["sources"].items():
        loaded, quarantined = counts[source]
        assert loaded + quarantined == expected["records_written"], source
        assert loaded == expected["expected_loaded"], source
        assert quarantined == expected["expected_quarantined"], source


def test_each_seeded_fault_lands_in_quarantine_with_a_reason_naming_it(
    pipeline_run: PipelineRun,
) -> None:
    reason_words = {
        "malformed_json": "malformed JSON",
        "missing_required_attributes": "missing required attribute",
        "bad_token_count": ("is negative", "is not an integer"),
        "duplicate_span": "duplicate export",
        "bad_csv_row": ("is not an integer", "expected"),
    }
    with (pipeline_run.truth / "faults.csv").open(newline="") as handle:
        faults = [row for row in csv.DictReader(handle) if row["expected_outcome"] == "quarantine"]
    assert {fault["fault_type"] for fault in faults} >= set(reason_words)
    quarantine: dict[tuple[str, int], list[str]] = {}
    with pipeline_run.connect() as con:
        for file_path, line, reason in con.execute(
            "select file_path, line_number, reason from audit.quarantine"
        ).fetchall():
            quarantine.setdefault((file_path, line), []).append(reason)
    for fault in faults:
        reasons = quarantine.get((fault["file"], int(fault["line"])), [])
        words = reason_words[fault["fault_type"]]
        words = (words,) if isinstance(words, str) else words
        assert any(word in reason for word in words for reason in reasons), (fault, reasons)


def test_every_request_matches_the_ground_truth_exactly(pipeline_run: PipelineRun) -> None:
    truth = _truth_requests(pipeline_run)
    with pipeline_run.connect() as con:
        rows = con.execute(
            """
            select request_id, tenant_id, coalesce(model_id, resolved_model), pricing_status,
                uncached_input_tokens, cache_read_tokens, cache_write_tokens, output_tokens,
                list_cost_usd, effective_cost_usd, attempt_count, retry_count, fallback_count
            from marts.fct_ai_requests
            """
        ).fetchall()
    warehouse = {row[0]: row for row in rows}
    assert set(warehouse) == set(truth)
    mismatches = []
    for key, expected in truth.items():
        (
            _,
            tenant,
            model,
            status,
            uncached,
            cache_read,
            cache_write,
            output,
            list_cost,
            effective_cost,
            attempts,
            retries,
            fallbacks,
        ) = warehouse[key]
        got = {
            "tenant_id": tenant,
            "final_model": model or "",
            "pricing_status": status,
            "output_tokens": str(output),
            "list_cost_usd": "" if list_cost is None else list_cost,
            "effective_cost_usd": "" if effective_cost is None else effective_cost,
            "attempts": str(attempts),
            "retries": str(retries),
            "fallbacks": str(fallbacks),
        }
        want = {
            "tenant_id": expected["tenant_id"],
            "final_model": expected["final_model"],
            "pricing_status": expected["pricing_status"],
            "output_tokens": expected["output_tokens"],
            "list_cost_usd": (
                Decimal(expected["list_cost_usd"]) if expected["list_cost_usd"] else ""
            ),
            "effective_cost_usd": (
                Decimal(expected["effective_cost_usd"]) if expected["effective_cost_usd"] else ""
            ),
            "attempts": expected["attempts"],
            "retries": expected["retries"],
            "fallbacks": expected["fallbacks"],
        }
        if uncached is not None:  # NULL = nobody reported the cache split (unpriced)
            got["split"] = (uncached, cache_read, cache_write)
            want["split"] = tuple(
                int(expected[k])
                for k in ("uncached_input_tokens", "cache_read_tokens", "cache_write_tokens")
            )
        if got != want:
            mismatches.append((key, got, want))
    assert mismatches == []


def test_totals_match_the_ground_truth(pipeline_run: PipelineRun) -> None:
    truth = _truth_requests(pipeline_run).values()
    want_list = sum(Decimal(r["list_cost_usd"]) for r in truth if r["list_cost_usd"])
    want_effective = sum(Decimal(r["effective_cost_usd"]) for r in truth if r["effective_cost_usd"])
    with pipeline_run.connect() as con:
        got_list, got_effective, unpriced = con.execute(
            """
            select sum(list_cost_usd), sum(effective_cost_usd),
                count(*) filter (where pricing_status = 'unpriced')
            from marts.fct_ai_requests
            """
        ).fetchone()
    assert (got_list, got_effective) == (want_list, want_effective)
    assert unpriced == sum(1 for r in truth if r["pricing_status"] == "unpriced") > 0


def test_no_request_is_lost_between_staging_and_marts(pipeline_run: PipelineRun) -> None:
    with pipeline_run.connect() as con:
        app_requests, orphan_gateway_requests, marts = con.execute(
            """
            select
                (select count(distinct app_request_id) from staging.stg_app__requests),
                (select count(distinct request_id) from marts.fct_gateway_attempts
                 where request_id not in (select app_request_id from staging.stg_app__requests)),
                (select count(*) from marts.fct_ai_requests)
            """
        ).fetchone()
        attempts_staged, attempts_mart = con.execute(
            """
            select
                (select count(*) from staging.stg_gateway__spans where span_kind = 'client')
                + (select count(*) from staging.stg_gateway__spend_logs),
                (select count(*) from marts.fct_gateway_attempts)
            """
        ).fetchone()
    assert marts == app_requests + orphan_gateway_requests
    assert attempts_mart == attempts_staged


def test_no_money_column_in_the_warehouse_is_a_float(pipeline_run: PipelineRun) -> None:
    with pipeline_run.connect() as con:
        money = con.execute(
            """
            select table_schema, table_name, column_name, data_type
            from information_schema.columns
            where table_schema in ('raw', 'staging', 'intermediate', 'marts', 'seeds')
                and regexp_matches(
                    column_name,
                    '(_usd|_price_per_token|_mtok)$|^(amount|amount_value|spend|usage_amount)$'
                )
            """
        ).fetchall()
    assert len(money) > 20
    floats = [row for row in money if not row[3].upper().startswith("DECIMAL")]
    assert floats == []


def test_reloading_the_generated_landing_directory_changes_nothing(
    pipeline_run: PipelineRun, tmp_path
) -> None:
    import shutil

    from orchestration.lib import loader

    copy = tmp_path / "copy.duckdb"
    shutil.copy(pipeline_run.warehouse, copy)
    con = loader.connect(copy)
    try:
        tables = [
            f"{schema}.{name}"
            for schema, name in con.execute(
                """
                select table_schema, table_name from information_schema.tables
                where table_schema in ('raw', 'audit') and table_type = 'BASE TABLE'
                order by all
                """
            ).fetchall()
        ]
        assert len(tables) == 11

        def fingerprint() -> dict[str, tuple]:
            return {
                t: con.execute(f"select count(*), sum(hash(x)) from {t} as x").fetchone()
                for t in tables
            }

        before = fingerprint()
        reports = loader.load_all(con, pipeline_run.landing)
        after = fingerprint()
    finally:
        con.close()
    assert after == before
    assert all(f.status == "unchanged" for r in reports.values() for f in r.files)


def test_message_contents_never_reach_the_warehouse(pipeline_run: PipelineRun) -> None:
    canary = json.loads((pipeline_run.truth / "summary.json").read_text())["content_canary"]
    assert canary
    with pipeline_run.connect() as con:
        text_columns = con.execute(
            """
            select table_schema, table_name, column_name
            from information_schema.columns
            where table_schema in ('raw', 'audit', 'staging', 'marts')
                and (data_type = 'VARCHAR' or data_type = 'JSON')
            """
        ).fetchall()
        hits = [
            (schema, table, column)
            for schema, table, column in text_columns
            if con.execute(
                f'select count(*) from {schema}.{table} where "{column}"::varchar like ?',
                [f"%{canary}%"],
            ).fetchone()[0]
        ]
    assert len(text_columns) > 50
    assert hits == []
