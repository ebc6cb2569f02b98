"""Period close: a closed month never changes; late data becomes adjustments next month."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from typer.testing import CliRunner

from ai_chargeback import pipeline
from ai_chargeback.cli import app
from ai_chargeback.close import close_month
from tests.builders import client_attributes, export_line, span, write_lines
from tests.conftest import E2E_START, PipelineRun

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

MONTH = date(E2E_START.year, E2E_START.month, 1)
NEXT_MONTH = date(MONTH.year + MONTH.month // 12, MONTH.month % 12 + 1, 1)
LANDED_ON = NEXT_MONTH.replace(day=2)  # the late files arrive in the next month
INVOICED_DAY = MONTH.replace(day=2)  # a day the provider invoiced
UNINVOICED_DAY = MONTH.replace(day=20)  # a day no invoice covers yet
runner = CliRunner()


def _rows(database: Path, sql: str, params: list[Any] | None = None) -> list[tuple]:
    con = duckdb.connect(str(database), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


# the statement of record's columns, in the order _statement_of_record returns them
RECORD_COLUMNS = (
    "statement_line_key",
    "billing_month",
    "tenant_id",
    "provider_id",
    "line_type",
    "adjusted_line_type",
    "adjusted_billing_month",
    "adjusts_statement_line_key",
    "model_id",
    "workload",
    "provider_project_id",
    "quantity",
    "quantity_unit",
    "input_tokens",
    "output_tokens",
    "list_cost_usd",
    "amount_exact_usd",
    "amount_usd",
    "statement_status",
    "close_id",
    "closed_at",
)
EXACT = RECORD_COLUMNS.index("amount_exact_usd")
STATUS = RECORD_COLUMNS.index("statement_status")
CLOSE_ID = RECORD_COLUMNS.index("close_id")


def _statement_of_record(database: Path, month: date) -> list[tuple]:
    return _rows(
        database,
        f"select {', '.join(RECORD_COLUMNS)} from marts.mart_statement_lines"
        " where billing_month = ? order by statement_line_key",
        [month],
    )


@dataclass(frozen=True)
class LateRun:
    """A copy of the session warehouse: closed, then fed late data for the closed month."""

    warehouse: Path
    landing: Path
    open_lines_before_close: list[tuple]
    frozen_lines: list[tuple]
    frozen_audit: list[tuple]
    staging_types_before_close: list[tuple]
    staging_types_after_close: list[tuple]
    closed_lines_after_rerun: list[tuple]
    audit_after_rerun: list[tuple]
    late_request_ids: tuple[str, str]
    tenant_id: str


def _ns(day: date, hour: int) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp()) * 10**9


def _late_request_files(
    landing: Path, *, template: dict[str, Any], project_id: str, key_id: str
) -> tuple[str, str]:
    """Two late requests of a known tenant/workload (gpt-4o on OpenAI), in the real formats."""
    app_lines, spans = [], []
    request_ids = []
    for number, day in enumerate((INVOICED_DAY, UNINVOICED_DAY), start=1):
        app_request_id = f"req_late_close_{number:04d}"
        request_ids.append(app_request_id)
        trace_id = f"{number:032x}".replace("0", "c", 8)
        server_id, client_id = (
            f"{number:016x}".replace("0", "a", 4),
            f"{number:016x}".replace("0", "b", 4),
        )
        start = _ns(day, 10)
        app_lines.append(
            json.dumps(
                {
                    "app_request_id": app_request_id,
                    "ts": datetime.fromtimestamp(start / 10**9, UTC).isoformat(),
                    "tenant_id": template["tenant_id"],
                    "user_id": "late.user@corp.example",
                    "workload": template["workload"],
                    "feature": template["feature"],
                    "prompt_template_id": template["prompt_template_id"],
                    "prompt_template_version": template["prompt_template_version"],
                    "expected_route": template["expected_route"],
                    "expected_model": "gpt-4o",
                }
            )
        )
        spans.append(
            span(
                trace_id,
                server_id,
                kind=2,
                start_ns=start,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-08-06",
                    "gen_ai.provider.name": "openai",
                    "http.request.header.x-request-id": [app_request_id],
                    "http.request.header.x-tenant-id": [template["tenant_id"]],
                    "gateway.route": template["expected_route"],
                    "http.response.status_code": 200,
                    "gen_ai.usage.input_tokens": 12_000,
                    "gen_ai.usage.output_tokens": 800,
                },
            )
        )
        spans.append(
            span(
                trace_id,
                client_id,
                parent=server_id,
                kind=3,
                start_ns=start + 1_000_000,
                attributes=client_attributes(
                    **{
                        "gen_ai.usage.input_tokens": 12_000,
                        "gen_ai.usage.output_tokens": 800,
                        "gen_ai.usage.cache_read.input_tokens": 2_000,
                        "gen_ai.response.id": f"chatcmpl-late-close-{number}",
                        "gateway.provider_key.id": key_id,
                        "gateway.provider_project.id": project_id,
                        "http.response.status_code": 200,
                    }
                ),
            )
        )
    write_lines(landing / "app_requests" / f"{LANDED_ON}" / "late-close.jsonl", app_lines)
    write_lines(
        landing / "gateway_spans" / f"{LANDED_ON}" / "spans-late-close.jsonl",
        [export_line(spans)],
    )
    return request_ids[0], request_ids[1]


@pytest.fixture(scope="module")
def late_run(
    pipeline_run: PipelineRun, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LateRun]:
    """Close the month on a copy, land two late requests for it, re-run the whole pipeline."""
    root = tmp_path_factory.mktemp("close")
    warehouse = root / "warehouse.duckdb"
    landing = root / "landing"
    shutil.copyfile(pipeline_run.warehouse, warehouse)
    shutil.copytree(pipeline_run.landing, landing)
    types_sql = "describe staging.stg_audit__closed_statement_lines"

    open_lines = _statement_of_record(warehouse, MONTH)
    staging_types_before = _rows(warehouse, types_sql)
    event = close_month(MONTH, database=warehouse)
    assert event.close_id == f"close-{MONTH:%Y-%m}-1" and event.refreshed
    frozen = _statement_of_record(warehouse, MONTH)
    frozen_audit = _rows(warehouse, "select * from audit.closed_statement_lines order by all")
    staging_types_after = _rows(warehouse, types_sql)

    template_columns = (
        "tenant_id, workload, feature, prompt_template_id, prompt_template_version, expected_route"
    )
    (template_row,) = _rows(
        warehouse,
        f"""
        select {template_columns} from marts.fct_ai_requests
        where provider_id = 'openai' and model_id = 'gpt-4o' and has_app_request
            and expected_model = 'gpt-4o' and attempt_count = 1
        order by request_id limit 1
        """,
    )
    template = dict(
        zip([c.strip() for c in template_columns.split(",")], template_row, strict=True)
    )
    ((project_id, key_id),) = _rows(
        warehouse,
        """
        select provider_project_id, provider_key_id from marts.fct_gateway_attempts
        where provider_id = 'openai' and attempt_date = ? and provider_project_id is not null
            and provider_key_id is not null
        order by attempt_id limit 1
        """,
        [INVOICED_DAY],
    )
    request_ids = _late_request_files(
        landing, template=template, project_id=project_id, key_id=key_id
    )

    previous = {k: os.environ.get(k) for k in ("AI_CHARGEBACK_DUCKDB", "AI_CHARGEBACK_LANDING")}
    os.environ["AI_CHARGEBACK_DUCKDB"] = str(warehouse)
    os.environ["AI_CHARGEBACK_LANDING"] = str(landing)
    try:
        result = pipeline.run_all(dagster_instance=dg.DagsterInstance.ephemeral())
        assert result.success
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    yield LateRun(
        warehouse=warehouse,
        landing=landing,
        open_lines_before_close=open_lines,
        frozen_lines=frozen,
        frozen_audit=frozen_audit,
        staging_types_before_close=staging_types_before,
        staging_types_after_close=staging_types_after,
        closed_lines_after_rerun=_statement_of_record(warehouse, MONTH),
        audit_after_rerun=_rows(
            warehouse, "select * from audit.closed_statement_lines order by all"
        ),
        late_request_ids=request_ids,
        tenant_id=template["tenant_id"],
    )


def test_without_any_close_the_statement_of_record_is_the_live_monthly_mart(
    pipeline_run: PipelineRun,
) -> None:
    tables = _rows(
        pipeline_run.warehouse,
        "select table_name from information_schema.tables where table_schema = 'audit'",
    )
    assert ("period_closes",) not in tables and ("closed_statement_lines",) not in tables
    of_record = _rows(
        pipeline_run.warehouse,
        """
        select statement_line_key, billing_month, line_type, amount_exact_usd, amount_usd,
            statement_status
        from marts.mart_statement_lines order by statement_line_key
        """,
    )
    live = _rows(
        pipeline_run.warehouse,
        """
        select statement_line_key, billing_month, line_type, amount_exact_usd, amount_usd, 'open'
        from marts.mart_chargeback_monthly order by statement_line_key
        """,
    )
    assert of_record == live and live


def test_closing_freezes_the_month_as_it_was_and_types_match_the_empty_fallback(
    late_run: LateRun,
) -> None:
    def strip_status(lines: list[tuple]) -> list[tuple]:
        return [line[:STATUS] for line in lines]  # without status, close id, closed at

    assert strip_status(late_run.frozen_lines) == strip_status(late_run.open_lines_before_close)
    assert {line[STATUS] for line in late_run.frozen_lines} == {"closed"}
    assert {line[CLOSE_ID] for line in late_run.frozen_lines} == {f"close-{MONTH:%Y-%m}-1"}
    assert len(late_run.frozen_audit) == len(late_run.frozen_lines)
    assert late_run.staging_types_after_close == late_run.staging_types_before_close
    log = _rows(
        late_run.warehouse,
        "select action, billing_month, line_count, amount_exact_usd from audit.period_closes",
    )
    total = sum((line[EXACT] for line in late_run.open_lines_before_close), Decimal(0))
    assert log == [("close", MONTH, len(late_run.frozen_lines), total)]


def test_late_data_leaves_the_closed_month_unchanged_byte_for_byte(late_run: LateRun) -> None:
    assert late_run.closed_lines_after_rerun == late_run.frozen_lines
    assert repr(late_run.closed_lines_after_rerun) == repr(late_run.frozen_lines)
    assert late_run.audit_after_rerun == late_run.frozen_audit
    # ... while the live mart did take the late requests in
    live = _rows(
        late_run.warehouse,
        "select request_id, effective_cost_usd from marts.fct_ai_requests"
        " where request_id in (?, ?)",
        list(late_run.late_request_ids),
    )
    assert len(live) == 2 and all(cost > 0 for _, cost in live)


def test_late_data_is_billed_as_adjustment_lines_in_the_next_open_month(
    late_run: LateRun,
) -> None:
    adjustments = _rows(
        late_run.warehouse,
        """
        select adjusts_statement_line_key, adjusted_line_type, adjusted_billing_month,
            tenant_id, amount_exact_usd, amount_usd, statement_status
        from marts.mart_statement_lines
        where billing_month = ? and line_type = 'adjustment'
        """,
        [NEXT_MONTH],
    )
    assert adjustments
    assert {(a[2], a[6]) for a in adjustments} == {(MONTH, "open")}
    frozen = {
        key: (exact, cents)
        for key, exact, cents in _rows(
            late_run.warehouse,
            "select statement_line_key, amount_exact_usd, amount_usd"
            " from audit.closed_statement_lines",
        )
    }
    live = {
        key: (exact, cents)
        for key, exact, cents in _rows(
            late_run.warehouse,
            "select statement_line_key, amount_exact_usd, amount_usd"
            " from marts.mart_chargeback_monthly where billing_month = ?",
            [MONTH],
        )
    }
    zero = (Decimal(0), Decimal(0))
    changed = {
        key: (
            live.get(key, zero)[0] - frozen.get(key, zero)[0],
            live.get(key, zero)[1] - frozen.get(key, zero)[1],
        )
        for key in live.keys() | frozen.keys()
        if live.get(key, zero) != frozen.get(key, zero)
    }
    assert {a[0]: (a[4], a[5]) for a in adjustments} == changed
    exact_change = sum((v[0] for v in live.values()), Decimal(0)) - sum(
        (v[0] for v in frozen.values()), Decimal(0)
    )
    cents_change = sum((v[1] for v in live.values()), Decimal(0)) - sum(
        (v[1] for v in frozen.values()), Decimal(0)
    )
    assert sum((a[4] for a in adjustments), Decimal(0)) == exact_change
    assert sum((a[5] for a in adjustments), Decimal(0)) == cents_change

    # the invoiced day's request only moves money from the invoice remainder to usage; the
    # uninvoiced day's request adds its cost: that is the whole change of the month
    ((uninvoiced_cost,),) = _rows(
        late_run.warehouse,
        "select effective_cost_usd from marts.fct_ai_requests where request_id = ?",
        [late_run.late_request_ids[1]],
    )
    assert exact_change == uninvoiced_cost
    # both late requests land on the tenant's gpt-4o usage line
    ((usage_key, late_cost),) = _rows(
        late_run.warehouse,
        """
        select evidence.statement_line_key, sum(evidence.effective_cost_usd)
        from marts.mart_request_evidence as evidence
        where evidence.request_id in (?, ?)
        group by 1
        """,
        list(late_run.late_request_ids),
    )
    usage_adjustment = next(a for a in adjustments if a[0] == usage_key)
    assert usage_adjustment[1] == "usage" and usage_adjustment[3] == late_run.tenant_id
    assert usage_key in frozen, "the tenant's gpt-4o usage line existed at the close"
    assert usage_adjustment[4] == late_cost
    assert any(a[1] == "allocated_remainder" for a in adjustments)


def test_focus_export_bills_the_adjustments_as_corrections_of_the_closed_month(
    late_run: LateRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AI_CHARGEBACK_DUCKDB", str(late_run.warehouse))
    result = runner.invoke(
        app, ["export", "focus", "--month", f"{NEXT_MONTH:%Y-%m}", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / f"focus-{NEXT_MONTH:%Y-%m}.parquet").to_pylist()
    assert table and {row["ChargeClass"] for row in table} == {"Correction"}
    assert {row["ChargePeriodStart"].date() for row in table} == {MONTH}
    assert {row["BillingPeriodStart"].date() for row in table} == {NEXT_MONTH}
    ((adjusted,),) = _rows(
        late_run.warehouse,
        "select sum(amount_exact_usd) from marts.mart_statement_lines"
        " where billing_month = ? and line_type = 'adjustment'",
        [NEXT_MONTH],
    )
    assert sum((row["BilledCost"] for row in table), Decimal(0)) == adjusted
    closed = runner.invoke(
        app, ["export", "focus", "--month", f"{MONTH:%Y-%m}", "--out", str(tmp_path)]
    )
    assert closed.exit_code == 0
    frozen_total = sum((line[EXACT] for line in late_run.frozen_lines), Decimal(0))
    november = pq.read_table(tmp_path / f"focus-{MONTH:%Y-%m}.parquet").to_pylist()
    assert sum((row["BilledCost"] for row in november), Decimal(0)) == frozen_total
    assert {row["x_StatementStatus"] for row in november} == {"closed"}


def test_statements_and_explain_show_the_close_and_the_adjustments(
    late_run: LateRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AI_CHARGEBACK_DUCKDB", str(late_run.warehouse))
    for month in (MONTH, NEXT_MONTH):
        result = runner.invoke(
            app,
            [
                "statement",
                "--tenant",
                late_run.tenant_id,
                "--month",
                f"{month:%Y-%m}",
                "--out",
                str(tmp_path),
            ],
        )
        assert result.exit_code == 0, result.output
    closed_html = (tmp_path / f"statement-{late_run.tenant_id}-{MONTH:%Y-%m}.html").read_text()
    assert 'id="statement-status">closed<' in closed_html and 'id="restated-note"' in closed_html
    next_html = (tmp_path / f"statement-{late_run.tenant_id}-{NEXT_MONTH:%Y-%m}.html").read_text()
    assert 'id="adjustments"' in next_html and 'id="restated-note"' not in next_html
    ((tenant_adjusted,),) = _rows(
        late_run.warehouse,
        "select sum(amount_usd) from marts.mart_statement_lines"
        " where billing_month = ? and tenant_id = ?",
        [NEXT_MONTH, late_run.tenant_id],
    )
    found = re.search(r'id="total-cents" data-amount="([-0-9.]+)"', next_html)
    assert found and Decimal(found.group(1)) == tenant_adjusted
    explained = runner.invoke(app, ["explain", late_run.late_request_ids[1], "--json"])
    assert explained.exit_code == 0, explained.output
    lines = json.loads(explained.stdout)["statement_lines"]
    usage = next(line for line in lines if line["line_type"] == "usage")
    assert usage["statement_status"] == "closed"
    assert usage["adjustments"] and usage["adjustments"][0]["billing_month"] == f"{NEXT_MONTH}"


def test_close_refuses_a_closed_month_and_reopen_is_explicit_and_logged(
    late_run: LateRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "reopen.duckdb"
    shutil.copyfile(late_run.warehouse, warehouse)
    monkeypatch.setenv("AI_CHARGEBACK_DUCKDB", str(warehouse))

    again = runner.invoke(app, ["close", "--month", f"{MONTH:%Y-%m}"])
    assert again.exit_code == 1 and "already closed" in again.output
    no_reason = runner.invoke(app, ["reopen", "--month", f"{MONTH:%Y-%m}", "--reason", " "])
    assert no_reason.exit_code == 1 and "needs a reason" in no_reason.output
    not_closed = runner.invoke(
        app, ["reopen", "--month", f"{NEXT_MONTH:%Y-%m}", "--reason", "typo"]
    )
    assert not_closed.exit_code == 1 and "is not closed" in not_closed.output

    reopened = runner.invoke(
        app, ["reopen", "--month", f"{MONTH:%Y-%m}", "--reason", "late OpenAI invoice credit"]
    )
    assert reopened.exit_code == 0, reopened.output
    log = _rows(
        warehouse,
        "select action, close_id, reason from audit.period_closes order by acted_at",
    )
    assert log == [
        ("close", f"close-{MONTH:%Y-%m}-1", None),
        ("reopen", f"close-{MONTH:%Y-%m}-1", "late OpenAI invoice credit"),
    ]
    # reopened: the month reads live again and its adjustments are gone from the next month
    live = _rows(
        warehouse,
        "select statement_line_key, amount_exact_usd from marts.mart_chargeback_monthly"
        " where billing_month = ? order by 1",
        [MONTH],
    )
    of_record = _rows(
        warehouse,
        "select statement_line_key, amount_exact_usd from marts.mart_statement_lines"
        " where billing_month = ? order by 1",
        [MONTH],
    )
    assert of_record == live
    assert not _rows(
        warehouse,
        "select * from marts.mart_statement_lines where line_type = 'adjustment'",
    )
    # frozen snapshots are history: the reopen deleted nothing
    assert _rows(warehouse, "select * from audit.closed_statement_lines order by all") == (
        late_run.frozen_audit
    )
    closed_again = runner.invoke(app, ["close", "--month", f"{MONTH:%Y-%m}"])
    assert closed_again.exit_code == 0, closed_again.output
    assert f"close-{MONTH:%Y-%m}-2" in closed_again.output
