"""The `ai-chargeback` command line (typer)."""

from __future__ import annotations

import time
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from ai_chargeback.pipeline import Summary

app = typer.Typer(no_args_is_help=True, add_completion=False)
console = Console()


@app.callback()
def main() -> None:
    """An auditable, per-request AI bill from a multi-tenant AI gateway's traffic."""


@app.command()
def generate(
    days: Annotated[int, typer.Option(min=1, help="Days of traffic to generate.")] = 30,
    tenants: Annotated[int, typer.Option(min=2, max=8, help="First N tenants.")] = 8,
    requests_per_day: Annotated[int, typer.Option(min=1, help="Requests per weekday.")] = 1500,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 42,
    start: Annotated[
        datetime, typer.Option(formats=["%Y-%m-%d"], help="First UTC day (YYYY-MM-DD).")
    ] = datetime(2026, 11, 1),  # noqa: B008 - typer reads defaults at definition time
    out: Annotated[Path, typer.Option(help="Landing directory to write.")] = Path("data/landing"),
) -> None:
    """Write synthetic landing data in the real source formats, with seeded faults."""
    from ai_chargeback.generator import generate as run_generator

    began = time.perf_counter()
    summary = run_generator(
        out,
        days=days,
        tenants=tenants,
        requests_per_day=requests_per_day,
        seed=seed,
        start=date(start.year, start.month, start.day),
    )
    elapsed = time.perf_counter() - began

    table = Table(title=f"Landing data in {out} ({summary.start} + {days} days)")
    table.add_column("source")
    table.add_column("records", justify="right")
    table.add_column("to quarantine", justify="right")
    for source, records in summary.records_by_source.items():
        table.add_row(source, f"{records:,}", f"{summary.quarantined_by_source[source]:,}")
    console.print(table)
    for provider, months in summary.invoice_totals.items():
        for month, amount in months.items():
            console.print(f"invoice {provider} {month}: {amount} USD")
    console.print(
        f"{summary.requests:,} requests, {summary.attempts:,} attempts, "
        f"{summary.files_written:,} files in {elapsed:.1f}s; ground truth: {summary.summary_path}"
    )


def _usd(amount: Decimal | None) -> str:
    """Presentation only: cents, half-even (the warehouse keeps 12 decimals)."""
    if amount is None:
        return "unpriced"
    return f"${amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,}"


@app.command()
def run() -> None:
    """Materialise every asset through Dagster (loaders, dbt, checks) and print a summary."""
    from ai_chargeback import pipeline
    from orchestration.lib.paths import landing_path, warehouse_path

    console.print(f"landing: {landing_path()}\nwarehouse: {warehouse_path()}")
    began = time.perf_counter()
    result = pipeline.run_all()
    elapsed = time.perf_counter() - began
    if not result.success:
        for event in result.all_events:
            if event.event_type_value == "STEP_FAILURE":
                console.print(f"[red]step failed: {event.step_key}[/red]")
                error = event.event_specific_data.error
                console.print(error.message if error is not None else event.message)
        console.print(f"[red]run {result.run_id} failed after {elapsed:.0f}s[/red]")
        raise typer.Exit(code=1)
    _print_summary(pipeline.summarise())
    console.print(f"run {result.run_id} succeeded in {elapsed:.0f}s")


def _print_summary(summary: Summary) -> None:
    spend = Table(title="Spend by tenant (attributed effective cost, after contract discounts)")
    spend.add_column("tenant")
    spend.add_column("requests", justify="right")
    spend.add_column("effective cost", justify="right")
    spend.add_column("unpriced requests", justify="right")
    for tenant, requests, cost, unpriced in summary.spend_by_tenant:
        spend.add_row(tenant, f"{requests:,}", _usd(cost), f"{unpriced:,}")
    total = sum((row[2] for row in summary.spend_by_tenant if row[2] is not None), Decimal(0))
    spend.add_row("total", f"{summary.requests_total:,}", _usd(total), "", style="bold")
    console.print(spend)

    if summary.reconciliation:
        invoices = Table(title="Invoice reconciliation (the invoice is the truth of the total)")
        invoices.add_column("provider")
        invoices.add_column("month")
        invoices.add_column("invoice", justify="right")
        invoices.add_column("attributed", justify="right")
        invoices.add_column("remainder allocated", justify="right")
        invoices.add_column("unpriced attempts", justify="right")
        for provider, month, invoice, attributed, allocated, unpriced in summary.reconciliation:
            invoices.add_row(
                provider,
                month,
                "no invoice yet" if invoice is None else _usd(invoice),
                _usd(attributed),
                _usd(allocated),
                f"{unpriced:,}",
            )
        console.print(invoices)
        console.print(
            f"usage report rows that disagree with the warehouse: {summary.usage_mismatches:,}"
            " (marts.mart_usage_reconciliation)"
        )

    loaded = Table(title="Loaded and quarantined records by source")
    loaded.add_column("source")
    loaded.add_column("files", justify="right")
    loaded.add_column("loaded", justify="right")
    loaded.add_column("quarantined", justify="right")
    for source, files, rows, quarantined in summary.loaded_by_source:
        loaded.add_row(source, f"{files:,}", f"{rows:,}", f"{quarantined:,}")
    console.print(loaded)

    reasons = Table(title="Quarantine reasons (audit.quarantine)")
    reasons.add_column("source")
    reasons.add_column("reason")
    reasons.add_column("records", justify="right")
    for source, reason, count in summary.quarantine_by_source:
        reasons.add_row(source, reason, f"{count:,}")
    console.print(reasons)
