"""FinOps FOCUS 1.2 export of a month's chargeback (`ai-chargeback export focus`).

The column logic is SQL (``models/marts/exports/export_focus.sql``); this module selects a
billing period from ``marts.export_focus`` through Arrow (DECIMAL stays decimal128, never a
float) and writes it as Parquet and CSV. Times are UTC (``timestamp[us, tz=UTC]`` in Parquet,
ISO 8601 with ``Z`` in CSV); money is written as exact decimal text in CSV.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ai_chargeback.warehouse import connect_read_only, decimal_text, require_relations, rows

EXPORT_RELATION = "marts.export_focus"
# FOCUS 1.2 mandatory columns (DESIGN.md, verified stack facts)
MANDATORY_COLUMNS: tuple[str, ...] = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ContractedCost",
    "EffectiveCost",
    "ListCost",
    "InvoiceIssuerName",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
)
CONDITIONAL_COLUMNS: tuple[str, ...] = (
    "ResourceId",
    "SkuId",
    "ConsumedQuantity",
    "ConsumedUnit",
    "Tags",
)


@dataclass(frozen=True)
class FocusExport:
    """What one export wrote."""

    month: date
    csv_path: Path
    parquet_path: Path
    rows: int
    billed_cost: Decimal
    corrections: int


def read_month(month: date, *, database: Path | None = None) -> pa.Table:
    """The FOCUS rows billed in a month, as an Arrow table (times tagged UTC)."""
    con = connect_read_only(database)
    try:
        require_relations(con, EXPORT_RELATION)
        table = con.sql(
            f"""
            select * from {EXPORT_RELATION}
            where "BillingPeriodStart" = cast($month as timestamp)
            order by "x_TenantId", "ProviderName", "ChargeCategory", "x_LineType",
                "x_Workload" nulls last, "x_ModelId" nulls last, "x_StatementLineKey"
            """,
            params={"month": month},
        ).to_arrow_table()
    finally:
        con.close()
    return _tag_utc(table)


def _tag_utc(table: pa.Table) -> pa.Table:
    """Naive warehouse timestamps are UTC: say so in the schema."""
    fields = []
    for schema_field in table.schema:
        if pa.types.is_timestamp(schema_field.type) and schema_field.type.tz is None:
            fields.append(pa.field(schema_field.name, pa.timestamp("us", tz="UTC")))
        else:
            fields.append(schema_field)
    return table.cast(pa.schema(fields))


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return decimal_text(value) or ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def write_csv(table: pa.Table, path: Path) -> None:
    """CSV with a header, exact decimals and ISO 8601 UTC times."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(table.column_names)
        for record in table.to_pylist():
            writer.writerow([_csv_value(record[name]) for name in table.column_names])


def export_month(month: date, *, out: Path, database: Path | None = None) -> FocusExport:
    """Write focus-<YYYY-MM>.parquet and .csv for the month's billing period."""
    table = read_month(month, database=database)
    missing = [name for name in MANDATORY_COLUMNS if name not in table.column_names]
    if missing:
        raise RuntimeError(f"{EXPORT_RELATION} lacks FOCUS mandatory columns: {missing}")
    out.mkdir(parents=True, exist_ok=True)
    parquet_path = out / f"focus-{month:%Y-%m}.parquet"
    csv_path = out / f"focus-{month:%Y-%m}.csv"
    pq.write_table(table, parquet_path)
    write_csv(table, csv_path)
    billed = sum(table.column("BilledCost").to_pylist(), Decimal(0))
    corrections = sum(1 for value in table.column("ChargeClass").to_pylist() if value)
    return FocusExport(
        month=month,
        csv_path=csv_path,
        parquet_path=parquet_path,
        rows=table.num_rows,
        billed_cost=billed,
        corrections=corrections,
    )


def invoiced_total(month: date, *, database: Path | None = None) -> dict[str, Decimal]:
    """The month's invoices and the attributed cost still awaiting one (for the summary)."""
    con = connect_read_only(database)
    try:
        found = rows(
            con,
            """
            select
                coalesce(sum(invoice_amount_usd), 0) as invoiced,
                coalesce(
                    sum(case when invoice_amount_usd is null
                        then attributed_effective_cost_usd end), 0
                ) as awaiting_invoice
            from marts.mart_invoice_reconciliation
            where billing_month = ?
            """,
            [month],
        )
    finally:
        con.close()
    return found[0]
