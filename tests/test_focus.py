"""`ai-chargeback export focus`: FOCUS 1.2 columns, exact money, BilledCost = the invoices."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ai_chargeback.cli import app
from ai_chargeback.focus import CONDITIONAL_COLUMNS, MANDATORY_COLUMNS
from tests.conftest import E2E_START, PipelineRun

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

MONTH = date(E2E_START.year, E2E_START.month, 1)
runner = CliRunner()


@pytest.fixture
def exported(
    pipeline_run: PipelineRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[pa.Table, list[dict[str, str]]]:
    """The month exported through the CLI: (Parquet table, CSV rows)."""
    monkeypatch.setenv("AI_CHARGEBACK_DUCKDB", str(pipeline_run.warehouse))
    result = runner.invoke(
        app, ["export", "focus", "--month", f"{MONTH:%Y-%m}", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    table = pq.read_table(tmp_path / f"focus-{MONTH:%Y-%m}.parquet")
    with (tmp_path / f"focus-{MONTH:%Y-%m}.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return table, rows


def _invoice_totals(run: PipelineRun) -> dict[str, Decimal]:
    summary = json.loads((run.truth / "summary.json").read_text())
    return {
        provider: Decimal(months[f"{MONTH:%Y-%m}"])
        for provider, months in summary["invoice_totals"].items()
        if f"{MONTH:%Y-%m}" in months
    }


def test_focus_export_has_every_mandatory_column_and_keeps_money_decimal(
    exported: tuple[pa.Table, list[dict[str, str]]],
) -> None:
    table, rows = exported
    for name in (*MANDATORY_COLUMNS, *CONDITIONAL_COLUMNS):
        assert name in table.column_names, name
        assert name in rows[0], name
    custom = [n for n in table.column_names if n not in (*MANDATORY_COLUMNS, *CONDITIONAL_COLUMNS)]
    focus_optional = {
        "ChargeFrequency",
        "ServiceSubcategory",
        "ResourceName",
        "ResourceType",
        "SubAccountId",
        "SubAccountName",
    }
    assert all(n.startswith("x_") or n in focus_optional for n in custom), custom
    for money in ("BilledCost", "EffectiveCost", "ContractedCost", "ListCost"):
        assert table.schema.field(money).type == pa.decimal128(38, 12), money
    assert table.schema.field("BillingPeriodStart").type == pa.timestamp("us", tz="UTC")
    assert table.num_rows == len(rows) > 0
    for row in rows:
        assert row["BillingCurrency"] == "USD"
        assert row["BillingPeriodStart"] == f"{MONTH:%Y-%m}-01T00:00:00Z"
        assert row["ServiceCategory"] == "AI and Machine Learning"
        assert row["ChargeCategory"] in ("Usage", "Adjustment")
        assert "E" not in row["BilledCost"]  # exact decimal text, never exponent notation
        tags = json.loads(row["Tags"])
        assert tags["tenant"] == row["x_TenantId"] and "workload" in tags
        if row["ChargeCategory"] == "Usage":
            assert row["PricingUnit"] == "Tokens" and row["PricingQuantity"] != ""
            assert row["SkuId"] and row["ResourceId"]


def test_focus_billed_cost_of_the_month_sums_to_the_invoices_exactly(
    pipeline_run: PipelineRun, exported: tuple[pa.Table, list[dict[str, str]]]
) -> None:
    table, rows = exported
    invoices = _invoice_totals(pipeline_run)
    by_provider: dict[str, Decimal] = defaultdict(Decimal)
    for provider, billed in zip(
        table.column("x_ProviderId").to_pylist(),
        table.column("BilledCost").to_pylist(),
        strict=True,
    ):
        by_provider[provider] += billed
    with pipeline_run.connect() as con:
        awaiting = con.execute(
            """
            select coalesce(sum(attributed_effective_cost_usd), 0)
            from marts.mart_invoice_reconciliation
            where billing_month = ? and invoice_amount_usd is null
            """,
            [MONTH],
        ).fetchall()[0][0]
    assert awaiting == 0, "this data set has no attributed cost awaiting an invoice"
    for provider, invoice in invoices.items():
        assert by_provider[provider] == invoice, provider
    assert sum(by_provider.values(), Decimal(0)) == sum(invoices.values(), Decimal(0))
    # the CSV carries the same exact amounts
    assert sum(Decimal(row["BilledCost"]) for row in rows) == sum(invoices.values(), Decimal(0))


def test_focus_allocated_remainder_is_its_own_adjustment_charge(
    pipeline_run: PipelineRun, exported: tuple[pa.Table, list[dict[str, str]]]
) -> None:
    _, rows = exported
    remainder_rows = [row for row in rows if row["x_LineType"] == "allocated_remainder"]
    assert remainder_rows
    for row in remainder_rows:
        assert row["ChargeCategory"] == "Adjustment"
        assert row["PricingQuantity"] == "" and row["ConsumedQuantity"] == ""
        assert row["SubAccountId"]
    with pipeline_run.connect() as con:
        allocated = con.execute(
            "select sum(allocated_remainder_usd) from marts.mart_invoice_reconciliation"
            " where billing_month = ?",
            [MONTH],
        ).fetchall()[0][0]
    assert sum(Decimal(row["BilledCost"]) for row in remainder_rows) == allocated


def test_focus_export_of_a_month_without_lines_writes_empty_files(
    pipeline_run: PipelineRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AI_CHARGEBACK_DUCKDB", str(pipeline_run.warehouse))
    result = runner.invoke(app, ["export", "focus", "--month", "2020-01", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    table = pq.read_table(tmp_path / "focus-2020-01.parquet")
    assert table.num_rows == 0 and "BilledCost" in table.column_names
