"""Monthly HTML statements per tenant (`ai-chargeback statement`).

One self-contained HTML file per tenant and month: inline CSS, charts drawn here as inline SVG
(no script, no network), rendered from ``templates/statement.html.j2``. The lines come from the
statement of record (``marts.mart_statement_lines``: the frozen snapshot for a closed month, the
live ``mart_chargeback_monthly`` lines plus adjustments for an open one); the day-by-day chart
from ``mart_chargeback_daily``, unpriced requests from ``mart_unpriced_requests`` and the
providers' status from ``mart_invoice_reconciliation``. Money stays Decimal; chart geometry is
computed in Decimal too and only rounded to tenths of a pixel.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ai_chargeback.warehouse import (
    connect_read_only,
    decimal_text,
    has_relation,
    next_month,
    require_relations,
    rows,
    usd,
)

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "statement.html.j2"
LINE_TYPE_LABELS = {
    "usage": "Usage",
    "retry_waste": "Retry waste",
    "allocated_remainder": "Allocated invoice remainder",
    "unpriced": "Unpriced attempts",
    "adjustment": "Adjustment of a closed month",
}
_PIXEL = Decimal("0.1")
_TOP_WORKLOADS = 10


class NoStatementError(LookupError):
    """The tenant has no statement line in that month."""


@dataclass(frozen=True)
class Bar:
    """One bar of a chart, in SVG user units."""

    label: str
    value: Decimal
    value_text: str
    x: Decimal
    y: Decimal
    width: Decimal
    height: Decimal
    is_negative: bool = False


@dataclass(frozen=True)
class Chart:
    """A simple bar chart: geometry computed here, drawn by the template as inline SVG."""

    chart_id: str
    title: str
    orientation: str  # vertical | horizontal
    width: int
    height: int
    baseline: Decimal
    bars: list[Bar] = field(default_factory=list)
    max_text: str = ""


def _px(value: Decimal) -> Decimal:
    return value.quantize(_PIXEL)


def vertical_bar_chart(
    chart_id: str,
    title: str,
    points: list[tuple[str, Decimal]],
    *,
    width: int = 1040,
    height: int = 260,
) -> Chart:
    """Vertical bars (one per label), scaled to the largest absolute value; negatives hang down."""
    left, right, top, bottom = Decimal(56), Decimal(12), Decimal(16), Decimal(40)
    plot_width = Decimal(width) - left - right
    plot_height = Decimal(height) - top - bottom
    largest = max((abs(value) for _, value in points), default=Decimal(0))
    has_negative = any(value < 0 for _, value in points)
    baseline = top + (plot_height / 2 if has_negative else plot_height)
    span = plot_height / 2 if has_negative else plot_height
    slot = plot_width / max(len(points), 1)
    bars = []
    for index, (label, value) in enumerate(points):
        size = (abs(value) / largest * span) if largest else Decimal(0)
        bars.append(
            Bar(
                label=label,
                value=value,
                value_text=usd(value),
                x=_px(left + slot * index + slot * Decimal("0.15")),
                y=_px(baseline if value < 0 else baseline - size),
                width=_px(slot * Decimal("0.7")),
                height=_px(size),
                is_negative=value < 0,
            )
        )
    return Chart(
        chart_id=chart_id,
        title=title,
        orientation="vertical",
        width=width,
        height=height,
        baseline=_px(baseline),
        bars=bars,
        max_text=usd(largest),
    )


def horizontal_bar_chart(
    chart_id: str,
    title: str,
    points: list[tuple[str, Decimal]],
    *,
    width: int = 1040,
    bar_height: int = 26,
) -> Chart:
    """Horizontal bars (one row per label), scaled to the largest absolute value."""
    left, right, top = Decimal(220), Decimal(120), Decimal(8)
    plot_width = Decimal(width) - left - right
    height = int(top * 2) + bar_height * max(len(points), 1)
    largest = max((abs(value) for _, value in points), default=Decimal(0))
    bars = []
    for index, (label, value) in enumerate(points):
        size = (abs(value) / largest * plot_width) if largest else Decimal(0)
        bars.append(
            Bar(
                label=label,
                value=value,
                value_text=usd(value),
                x=_px(left),
                y=_px(top + Decimal(bar_height) * index + Decimal(bar_height) * Decimal("0.15")),
                width=_px(size),
                height=_px(Decimal(bar_height) * Decimal("0.7")),
                is_negative=value < 0,
            )
        )
    return Chart(
        chart_id=chart_id,
        title=title,
        orientation="horizontal",
        width=width,
        height=height,
        baseline=_px(left),
        bars=bars,
        max_text=usd(largest),
    )


def statement_relation(con: duckdb.DuckDBPyConnection) -> str:
    """The statement of record when built, else the live monthly lines."""
    if has_relation(con, "marts", "mart_statement_lines"):
        return "marts.mart_statement_lines"
    return "marts.mart_chargeback_monthly"


def tenants_of_month(con: duckdb.DuckDBPyConnection, month: date) -> list[str]:
    """Tenants with at least one statement line in the month."""
    relation = statement_relation(con)
    found = rows(
        con,
        f"select distinct tenant_id from {relation} where billing_month = ? order by tenant_id",
        [month],
    )
    return [row["tenant_id"] for row in found]


def load(con: duckdb.DuckDBPyConnection, *, tenant_id: str, month: date) -> dict[str, Any]:
    """Everything one tenant's statement of one month shows, read from the marts."""
    require_relations(
        con,
        "marts.mart_chargeback_monthly",
        "marts.mart_chargeback_daily",
        "marts.mart_invoice_reconciliation",
        "marts.mart_unpriced_requests",
    )
    relation = statement_relation(con)
    of_record = relation == "marts.mart_statement_lines"
    extra = (
        "statement_status, close_id, closed_at, adjusted_line_type, adjusted_billing_month"
        if of_record
        else "'open' as statement_status, null as close_id, null as closed_at, "
        "null as adjusted_line_type, null as adjusted_billing_month"
    )
    lines = rows(
        con,
        f"""
        select statement_line_key, provider_id, line_type, model_id, workload,
            provider_project_id, quantity, quantity_unit, input_tokens, output_tokens,
            list_cost_usd, amount_exact_usd, amount_usd, {extra}
        from {relation}
        where tenant_id = ? and billing_month = ?
        order by
            case line_type when 'usage' then 1 when 'retry_waste' then 2 when 'unpriced' then 3
                when 'allocated_remainder' then 4 else 5 end,
            workload nulls last, model_id nulls last, provider_id, statement_line_key
        """,
        [tenant_id, month],
    )
    if not lines:
        raise NoStatementError(f"tenant {tenant_id!r} has no statement lines in {month:%Y-%m}")
    live_totals = rows(
        con,
        """
        select coalesce(sum(amount_exact_usd), 0) as exact, coalesce(sum(amount_usd), 0) as cents
        from marts.mart_chargeback_monthly
        where tenant_id = ? and billing_month = ?
        """,
        [tenant_id, month],
    )[0]
    end = next_month(month)
    daily = rows(
        con,
        """
        select usage_date, sum(effective_cost_usd) as effective_cost_usd,
            sum(retry_waste_usd) as retry_waste_usd,
            sum(fallback_premium_usd) as fallback_premium_usd,
            sum(request_count) as requests, sum(attempt_count) as attempts,
            sum(retry_count) as retries, sum(fallback_count) as fallbacks,
            sum(unpriced_attempt_count) as unpriced_attempts
        from marts.mart_chargeback_daily
        where tenant_id = ? and usage_date >= ? and usage_date < ?
        group by usage_date
        order by usage_date
        """,
        [tenant_id, month, end],
    )
    unpriced = rows(
        con,
        """
        select pricing_reason, count(*) as requests
        from marts.mart_unpriced_requests
        where tenant_id = ? and request_date >= ? and request_date < ?
        group by pricing_reason
        order by requests desc, pricing_reason
        """,
        [tenant_id, month, end],
    )
    reconciliation = rows(
        con,
        """
        select provider_id,
            count(*) as periods,
            count(invoice_amount_usd) as invoiced_periods,
            sum(invoice_amount_usd) as invoice_amount_usd,
            sum(attributed_effective_cost_usd) as attributed_effective_cost_usd,
            sum(remainder_usd) as remainder_usd,
            sum(allocated_remainder_usd) as allocated_remainder_usd,
            sum(unpriced_attempt_count) as unpriced_attempts,
            string_agg(distinct reconciliation_status, ', '
                order by reconciliation_status) as statuses
        from marts.mart_invoice_reconciliation
        where billing_month = ?
        group by provider_id
        order by provider_id
        """,
        [month],
    )
    tenant = _tenant(con, tenant_id, month)
    return _shape(
        tenant_id=tenant_id,
        month=month,
        tenant=tenant,
        lines=lines,
        live_totals=live_totals,
        daily=daily,
        unpriced=unpriced,
        reconciliation=reconciliation,
        of_record=of_record,
    )


def _tenant(con: duckdb.DuckDBPyConnection, tenant_id: str, month: date) -> dict[str, Any]:
    """The tenant's directory entry valid in the month (all None for 'unattributed')."""
    empty = dict.fromkeys(("tenant_name", "cost_center", "business_unit", "plan", "owner_email"))
    if not has_relation(con, "marts", "dim_tenants"):
        return empty
    found = rows(
        con,
        """
        select tenant_name, cost_center, business_unit, plan, owner_email
        from marts.dim_tenants
        where tenant_id = ? and valid_from < ? and (valid_to is null or valid_to > ?)
        order by valid_from desc
        limit 1
        """,
        [tenant_id, next_month(month), month],
    )
    return found[0] if found else empty


def _sum(values: list[Decimal | None]) -> Decimal:
    return sum((value for value in values if value is not None), Decimal(0))


def _shape(
    *,
    tenant_id: str,
    month: date,
    tenant: dict[str, Any],
    lines: list[dict[str, Any]],
    live_totals: dict[str, Any],
    daily: list[dict[str, Any]],
    unpriced: list[dict[str, Any]],
    reconciliation: list[dict[str, Any]],
    of_record: bool,
) -> dict[str, Any]:
    by_type: dict[str, dict[str, Any]] = {}
    for line in lines:
        entry = by_type.setdefault(
            line["line_type"],
            {
                "line_type": line["line_type"],
                "label": LINE_TYPE_LABELS.get(line["line_type"], line["line_type"]),
                "lines": 0,
                "quantity": 0,
                "exact": Decimal(0),
                "cents": Decimal(0),
            },
        )
        entry["lines"] += 1
        entry["quantity"] += int(line["quantity"] or 0)
        entry["exact"] += line["amount_exact_usd"]
        entry["cents"] += line["amount_usd"]
    total_exact = _sum([line["amount_exact_usd"] for line in lines])
    total_cents = _sum([line["amount_usd"] for line in lines])
    # what the month's own lines (not the adjustments billed in it) add up to, as of record
    own_exact = _sum(
        [line["amount_exact_usd"] for line in lines if line["line_type"] != "adjustment"]
    )

    by_day = {row["usage_date"]: row for row in daily}
    days_in_month = calendar.monthrange(month.year, month.month)[1]
    day_points = [
        (
            f"{day:%d}",
            by_day[day]["effective_cost_usd"] if day in by_day else Decimal(0),
        )
        for day in (month + timedelta(days=offset) for offset in range(days_in_month))
    ]
    workloads: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        if line["line_type"] in ("usage", "retry_waste", "adjustment") and line["workload"]:
            workloads[line["workload"]] += line["amount_exact_usd"]
    top_workloads = sorted(workloads.items(), key=lambda item: (-item[1], item[0]))
    statuses = {line["statement_status"] for line in lines if line["line_type"] != "adjustment"}
    closed = [line for line in lines if line["statement_status"] == "closed"]
    return {
        "tenant_id": tenant_id,
        "tenant": tenant,
        "month": month,
        "month_label": f"{month:%B %Y}",
        "month_key": f"{month:%Y-%m}",
        "generated_at": datetime.now(UTC).replace(microsecond=0),
        "source": "marts.mart_statement_lines" if of_record else "marts.mart_chargeback_monthly",
        "status": "closed" if statuses == {"closed"} else "open",
        "close_id": closed[0]["close_id"] if closed else None,
        "closed_at": closed[0]["closed_at"] if closed else None,
        "lines": lines,
        "by_type": [by_type[key] for key in LINE_TYPE_LABELS if key in by_type],
        "total_exact": total_exact,
        "total_cents": total_cents,
        "live_total_exact": live_totals["exact"],
        "live_total_cents": live_totals["cents"],
        "is_restated_since_close": statuses == {"closed"} and own_exact != live_totals["exact"],
        "retry_waste_exact": by_type.get("retry_waste", {}).get("exact", Decimal(0)),
        "retry_waste_cents": by_type.get("retry_waste", {}).get("cents", Decimal(0)),
        "retries": sum(int(row["retries"] or 0) for row in daily),
        "fallback_premium": _sum([row["fallback_premium_usd"] for row in daily]),
        "fallbacks": sum(int(row["fallbacks"] or 0) for row in daily),
        "requests": sum(int(row["requests"] or 0) for row in daily),
        "attempts": sum(int(row["attempts"] or 0) for row in daily),
        "remainder_lines": [line for line in lines if line["line_type"] == "allocated_remainder"],
        "adjustment_lines": [line for line in lines if line["line_type"] == "adjustment"],
        "unpriced": unpriced,
        "unpriced_requests": sum(int(row["requests"]) for row in unpriced),
        "unpriced_attempts": by_type.get("unpriced", {}).get("quantity", 0),
        "reconciliation": reconciliation,
        "daily_chart": vertical_bar_chart(
            "daily-chart",
            "Attributed effective cost per day (before the invoice remainder)",
            day_points,
        ),
        "workload_chart": horizontal_bar_chart(
            "workload-chart",
            f"Top workloads by amount (top {_TOP_WORKLOADS})",
            top_workloads[:_TOP_WORKLOADS],
        ),
    }


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["usd"] = usd
    environment.filters["exact"] = lambda value: usd(value, exact=True)
    environment.filters["plain"] = lambda value: decimal_text(value) or ""
    environment.filters["count"] = lambda value: f"{int(value or 0):,}"
    return environment


def render_html(data: dict[str, Any]) -> str:
    """The statement as one self-contained HTML document."""
    return _environment().get_template(TEMPLATE).render(**data, line_labels=LINE_TYPE_LABELS)


def statement_path(out: Path, tenant_id: str, month: date) -> Path:
    """Where a tenant's statement of a month is written."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in tenant_id)
    return out / f"statement-{safe}-{month:%Y-%m}.html"


def write_statements(
    *,
    month: date,
    out: Path,
    tenant_ids: list[str] | None = None,
    database: Path | None = None,
) -> list[Path]:
    """Write the statements of the given tenants (every tenant of the month when None)."""
    con = connect_read_only(database)
    try:
        tenants = tenant_ids if tenant_ids is not None else tenants_of_month(con, month)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for tenant_id in tenants:
            html = render_html(load(con, tenant_id=tenant_id, month=month))
            path = statement_path(out, tenant_id, month)
            path.write_text(html, encoding="utf-8")
            written.append(path)
        return written
    finally:
        con.close()
