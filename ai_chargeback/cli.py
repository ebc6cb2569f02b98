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
def run(
    day: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="Run one daily partition (incremental) instead of every landing date.",
        ),
    ] = None,
) -> None:
    """Materialise every asset through Dagster (loaders, dbt, checks) and print a summary."""
    from ai_chargeback import pipeline
    from orchestration.lib.paths import landing_path, warehouse_path

    console.print(f"landing: {landing_path()}\nwarehouse: {warehouse_path()}")
    began = time.perf_counter()
    if day is None:
        result = pipeline.run_all()
    else:
        result = pipeline.run_day(date(day.year, day.month, day.day))
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
    _print_published()
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


def _print_published() -> None:
    """Where readers (the BI tool, SQL clients) find the checked marts after this run."""
    from orchestration.lib.paths import published_path, warehouse_target

    if warehouse_target() == "postgres":
        console.print("readers: schema marts in PostgreSQL (docs/postgres.md for the roles)")
        return
    if warehouse_target() == "spark":
        from orchestration.lib import spark

        console.print(f"readers: the parquet tables under {spark.warehouse_dir()}", soft_wrap=True)
        return
    if published_path().exists():
        console.print("published for readers (the checked marts, README: For analysts):")
        console.print(f"  {published_path()}", soft_wrap=True)
        console.print("  dashboards on it: `make bi`, then http://127.0.0.1:8088")


def _report_console() -> Console:
    """A console for reports: the terminal's width, or 120 columns when piped or captured."""
    probe = Console()
    return Console(width=None if probe.is_terminal else 120)


@app.command()
def explain(
    identifier: Annotated[
        str,
        typer.Argument(
            help="App request id, gateway trace id (trace:<id> or the 32-hex id), "
            "provider response id or attempt id."
        ),
    ],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON (money as decimal strings).")
    ] = False,
) -> None:
    """The evidence trail of one request: attempts, tokens, authority, price, statement line."""
    from ai_chargeback import explain as evidence
    from ai_chargeback.warehouse import WarehouseError

    errors = Console(stderr=True)
    try:
        explanation = evidence.explain(identifier)
    except evidence.UnknownIdError as error:
        errors.print(f"[red]unknown id:[/red] {error}")
        raise typer.Exit(code=1) from error
    except WarehouseError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(code=1) from error
    if json_output:
        typer.echo(evidence.to_json(explanation))
    else:
        evidence.render(explanation, _report_console())


def _month_option(value: str) -> date:
    from ai_chargeback.warehouse import parse_month

    try:
        return parse_month(value)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error


@app.command()
def statement(
    month: Annotated[str, typer.Option(help="Billing month, YYYY-MM.")],
    tenant: Annotated[str | None, typer.Option(help="Tenant id.")] = None,
    all_tenants: Annotated[
        bool, typer.Option("--all", help="One statement per tenant of the month.")
    ] = False,
    out: Annotated[Path, typer.Option(help="Directory to write the HTML to.")] = Path("statements"),
) -> None:
    """Self-contained HTML statements (inline CSS and SVG charts) per tenant and month."""
    from ai_chargeback import statement as statements
    from ai_chargeback.warehouse import WarehouseError

    errors = Console(stderr=True)
    billing_month = _month_option(month)
    if (tenant is None) == (not all_tenants):
        errors.print("[red]give either --tenant T or --all[/red]")
        raise typer.Exit(code=2)
    try:
        written = statements.write_statements(
            month=billing_month, out=out, tenant_ids=None if all_tenants else [tenant]
        )
    except (statements.NoStatementError, WarehouseError) as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(code=1) from error
    if not written:
        errors.print(f"[red]no statement lines in {month}[/red]")
        raise typer.Exit(code=1)
    for path in written:
        console.print(f"wrote {path}")


export_app = typer.Typer(no_args_is_help=True, help="Exports of the chargeback.")
app.add_typer(export_app, name="export")


@export_app.command("focus")
def export_focus(
    month: Annotated[str, typer.Option(help="Billing month, YYYY-MM.")],
    out: Annotated[Path, typer.Option(help="Directory to write the files to.")] = Path("exports"),
) -> None:
    """The month's chargeback in FinOps FOCUS 1.2 columns, as CSV and Parquet."""
    from ai_chargeback import focus
    from ai_chargeback.warehouse import WarehouseError, decimal_text

    billing_month = _month_option(month)
    try:
        written = focus.export_month(billing_month, out=out)
        invoiced = focus.invoiced_total(billing_month)
    except WarehouseError as error:
        Console(stderr=True).print(f"[red]{error}[/red]")
        raise typer.Exit(code=1) from error
    console.print(f"wrote {written.parquet_path}\nwrote {written.csv_path}")
    console.print(
        f"{written.rows:,} charge rows ({written.corrections:,} corrections), BilledCost "
        f"{decimal_text(written.billed_cost)} USD; invoices of {month}: "
        f"{decimal_text(invoiced['invoiced'])} USD (+ "
        f"{decimal_text(invoiced['awaiting_invoice'])} USD attributed, awaiting an invoice)"
    )


@app.command()
def close(
    month: Annotated[str, typer.Option(help="Billing month to close, YYYY-MM.")],
    refresh: Annotated[
        bool, typer.Option(help="Rebuild the statement models (dbt) after the close.")
    ] = True,
) -> None:
    """Freeze a month's statement lines; later data becomes adjustments in the next open month."""
    from ai_chargeback.close import PeriodCloseError, close_month
    from ai_chargeback.warehouse import WarehouseError, decimal_text

    billing_month = _month_option(month)
    try:
        event = close_month(billing_month, refresh=refresh)
    except (PeriodCloseError, WarehouseError) as error:
        Console(stderr=True).print(f"[red]{error}[/red]")
        raise typer.Exit(code=1) from error
    console.print(
        f"closed {month} as {event.close_id} at {event.acted_at:%Y-%m-%d %H:%M:%S} UTC by "
        f"{event.acted_by}: {event.line_count:,} statement lines, "
        f"{decimal_text(event.amount_exact_usd)} USD ({_usd(event.amount_usd)})"
    )
    if not event.refreshed:
        console.print("[yellow]statement models not rebuilt: run `ai-chargeback run`[/yellow]")


@app.command()
def reopen(
    month: Annotated[str, typer.Option(help="Closed billing month to reopen, YYYY-MM.")],
    reason: Annotated[str, typer.Option(help="Why the month is reopened (logged).")],
    refresh: Annotated[
        bool, typer.Option(help="Rebuild the statement models (dbt) after the reopen.")
    ] = True,
) -> None:
    """Reopen a closed month, explicitly and with a logged reason."""
    from ai_chargeback.close import PeriodCloseError, reopen_month
    from ai_chargeback.warehouse import WarehouseError

    billing_month = _month_option(month)
    try:
        event = reopen_month(billing_month, reason=reason, refresh=refresh)
    except (PeriodCloseError, WarehouseError) as error:
        Console(stderr=True).print(f"[red]{error}[/red]")
        raise typer.Exit(code=1) from error
    console.print(
        f"reopened {month} (was {event.close_id}) at {event.acted_at:%Y-%m-%d %H:%M:%S} UTC by "
        f"{event.acted_by}: {event.reason}"
    )
    if not event.refreshed:
        console.print("[yellow]statement models not rebuilt: run `ai-chargeback run`[/yellow]")
