"""One Great Expectations suite per guarded mart: the SQL that reads it and the expectations.

A suite is a query over `marts.<mart>` plus GE 1.x expectations over the resulting DataFrame.
DuckDB's `.df()` turns DECIMAL into float64, so every comparison that must be exact in money
(effective <= list, attributed + allocated = invoice, a statement line within one cent of its
exact amount) is computed in the query, in DECIMAL, as a boolean `is_*` column; GE then checks
that column, and the numbers behind it ride along as context columns of the sample rows.
Shares (unattributed spend, unpriced requests, token disagreements, invoice remainder) are
computed per group in SQL and carried on one representative row of each group (NULL elsewhere),
so a failing share reports one row per offending group, not every row of it.

Thresholds live in `Thresholds` and are read from the environment at validation time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import date

import great_expectations as gx
from great_expectations.expectations import Expectation
from great_expectations.expectations.row_conditions import Column

# --- thresholds ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """Upper bounds for the share checks; each is overridable by an environment variable."""

    max_unattributed_share: float = 0.05
    max_unpriced_share: float = 0.05
    max_disagreement_rate: float = 0.5
    max_remainder_share: float = 0.05

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Thresholds:
        """Read `AI_CHARGEBACK_MAX_*` overrides; an unset variable keeps the default."""
        env = os.environ if environ is None else environ
        values: dict[str, float] = {}
        for field in fields(cls):
            name = THRESHOLD_ENV_VARS[field.name]
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                continue
            try:
                value = float(raw)
            except ValueError as error:
                raise ValueError(f"{name}={raw!r}: expected a number between 0 and 1") from error
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={raw!r}: expected a number between 0 and 1")
            values[field.name] = value
        return cls(**values)

    def as_dict(self) -> dict[str, float]:
        """The thresholds as a plain dict (for suite meta and check metadata)."""
        return asdict(self)


THRESHOLD_ENV_VARS: dict[str, str] = {
    "max_unattributed_share": "AI_CHARGEBACK_MAX_UNATTRIBUTED_SHARE",
    "max_unpriced_share": "AI_CHARGEBACK_MAX_UNPRICED_SHARE",
    "max_disagreement_rate": "AI_CHARGEBACK_MAX_DISAGREEMENT_RATE",
    "max_remainder_share": "AI_CHARGEBACK_MAX_REMAINDER_SHARE",
}

# --- suite specification -------------------------------------------------------------------


@dataclass(frozen=True)
class SuiteSpec:
    """A guarded mart: its query, key columns and a builder for its expectations.

    ``day_column`` is the day of each row of the query, on the marts with a row per attempt or
    request: a big mart is read and validated in day ranges of bounded size (the derived
    columns are computed over the whole mart in the query, so the ranges only split the rows).
    ``window_column`` is set on the day-partitioned (incremental) facts: a daily run writes
    only the rows of its window there, so its check validates those rows (plus the rows
    ``window_keep`` names: the representative rows of group shares computed over whole
    groups). Table marts are rebuilt whole on every run and always validated whole.
    """

    name: str
    mart: str
    grain: str
    key_columns: tuple[str, ...]
    query: str
    expectations: Callable[[Thresholds], list[Expectation]]
    day_column: str | None = None
    window_column: str | None = None
    window_keep: str | None = None

    def query_for(self, window: tuple[date, date] | None = None, *, keep: bool = True) -> str:
        """The suite's SQL narrowed to the days ``[start, end)`` of ``day_column`` (with the
        ``window_keep`` rows unless ``keep`` is False), or every row without a window."""
        if window is None:
            return self.query
        if self.day_column is None:
            raise ValueError(f"suite {self.name}: {self.mart} has no day column to narrow by")
        start, end = window
        if start >= end:
            raise ValueError(f"suite {self.name}: empty window {start} .. {end}")
        extra = f"\n    or ({self.window_keep})" if keep and self.window_keep else ""
        return (
            f"select * from (\n{self.query}\n) as suite_rows\n"
            f"where ({self.day_column} >= cast('{start.isoformat()}' as date)\n"
            f"    and {self.day_column} < cast('{end.isoformat()}' as date)){extra}\n"
        )

    def days_query(self) -> str:
        """Rows per day of ``day_column`` (NULL days included), to plan the day ranges."""
        if self.day_column is None:
            raise ValueError(f"suite {self.name}: {self.mart} has no day column")
        # the suite's query has one row per row of the mart, with the same day column
        return (
            f"select {self.day_column} as day, count(*) as row_count\n"
            f"from {self.mart}\ngroup by 1 order by 1"
        )


def _select(columns: Iterable[str], *, table: str = "") -> str:
    """A select list, one column per line, optionally qualified by a CTE name."""
    prefix = f"{table}." if table else ""
    return ",\n        ".join(f"{prefix}{column}" for column in columns)


def _unique_key(column: str) -> list[Expectation]:
    """The primary key is present and unique."""
    return [
        gx.expectations.ExpectColumnValuesToNotBeNull(column=column, notes="Primary key."),
        gx.expectations.ExpectColumnValuesToBeUnique(column=column, notes="Primary key."),
    ]


def _not_null(columns: Sequence[str], notes: str) -> list[Expectation]:
    """Each column has a value on every row."""
    return [
        gx.expectations.ExpectColumnValuesToNotBeNull(column=column, notes=notes)
        for column in columns
    ]


def _non_negative(columns: Sequence[str], notes: str) -> list[Expectation]:
    """Each column is >= 0 where present (the float's sign is exact, so no SQL flag needed)."""
    return [
        gx.expectations.ExpectColumnValuesToBeBetween(column=column, min_value=0, notes=notes)
        for column in columns
    ]


def _in_set(column: str, values: Sequence[str], notes: str) -> Expectation:
    """The column holds one of the accepted values."""
    return gx.expectations.ExpectColumnValuesToBeInSet(
        column=column, value_set=list(values), notes=notes
    )


def _true(column: str, *, context: Sequence[str], notes: str) -> Expectation:
    """An exact check computed in SQL holds (NULL = not applicable, skipped)."""
    return gx.expectations.ExpectColumnValuesToBeInSet(
        column=column, value_set=[True], notes=notes, meta={"context_columns": list(context)}
    )


def _at_most(column: str, max_value: float, *, context: Sequence[str], notes: str) -> Expectation:
    """A share computed in SQL stays within its threshold."""
    return gx.expectations.ExpectColumnValuesToBeBetween(
        column=column,
        min_value=0,
        max_value=max_value,
        notes=notes,
        meta={"context_columns": list(context)},
    )


# --- fct_gateway_attempts ------------------------------------------------------------------

PRICING_STATUSES = ("priced", "unpriced", "no_usage")

ATTEMPT_TOKEN_COLUMNS = (
    "gateway_input_tokens",
    "gateway_uncached_input_tokens",
    "gateway_cache_read_tokens",
    "gateway_cache_write_tokens",
    "gateway_output_tokens",
    "gateway_reasoning_tokens",
    "provider_uncached_input_tokens",
    "provider_cache_read_tokens",
    "provider_cache_write_tokens",
    "provider_cache_write_1h_tokens",
    "provider_output_tokens",
    "provider_reasoning_tokens",
    "uncached_input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
)

FCT_GATEWAY_ATTEMPTS_SQL = f"""
with

attempts as (

    select * from marts.fct_gateway_attempts

),

final as (

    select
        -- ids
        attempt_id,
        request_id,
        authority_rule_id,

        -- dimensions
        tenant_id,
        provider_id,
        model_id,
        attempt_date,
        attempt_number,
        pricing_status,
        agreement_status,
        authoritative_source,

        -- numerics
        {_select(ATTEMPT_TOKEN_COLUMNS)},
        list_cost_usd,
        effective_cost_usd,

        -- checks, exact in DECIMAL / BIGINT (NULL when a side is NULL: not applicable)
        effective_cost_usd <= list_cost_usd as is_effective_le_list,
        cache_read_tokens + cache_write_tokens <= input_tokens as is_cached_le_input

    from attempts

)

select * from final
"""


def _fct_gateway_attempts(thresholds: Thresholds) -> list[Expectation]:
    """Attempt-level pricing and token invariants."""
    priced = Column("pricing_status") == "priced"
    return [
        *_unique_key("attempt_id"),
        *_not_null(
            ["request_id", "authority_rule_id", "tenant_id", "provider_id", "attempt_date"],
            "Every attempt belongs to a request, a tenant (or 'unattributed') and a rule.",
        ),
        _in_set("pricing_status", PRICING_STATUSES, "Accepted pricing statuses."),
        _in_set(
            "agreement_status",
            ("agree", "disagree", "single_source"),
            "Token authority outcome of the attempt.",
        ),
        gx.expectations.ExpectColumnValuesToBeBetween(
            column="attempt_number", min_value=1, notes="Attempts are numbered from 1."
        ),
        *_non_negative(ATTEMPT_TOKEN_COLUMNS, "Token counts are never negative."),
        *_non_negative(["list_cost_usd", "effective_cost_usd"], "Costs are never negative."),
        gx.expectations.ExpectColumnValuesToNotBeNull(
            column="list_cost_usd", row_condition=priced, notes="A priced attempt has a cost."
        ),
        gx.expectations.ExpectColumnValuesToNotBeNull(
            column="effective_cost_usd",
            row_condition=priced,
            notes="A priced attempt has a cost.",
        ),
        gx.expectations.ExpectColumnValuesToBeNull(
            column="effective_cost_usd",
            row_condition=Column("pricing_status") == "unpriced",
            notes="An unpriced attempt has no cost (never a silent $0).",
        ),
        _true(
            "is_effective_le_list",
            context=["pricing_status", "list_cost_usd", "effective_cost_usd"],
            notes="Effective cost (after contract discount) never exceeds list cost.",
        ),
        _true(
            "is_cached_le_input",
            context=["input_tokens", "cache_read_tokens", "cache_write_tokens"],
            notes="Cached tokens (read + write) are part of input tokens, never more.",
        ),
    ]


# --- fct_ai_requests -----------------------------------------------------------------------

REQUEST_COUNT_COLUMNS = ("attempt_count", "retry_count", "fallback_count", "failed_attempt_count")
REQUEST_TOKEN_COLUMNS = (
    "uncached_input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
)

FCT_AI_REQUESTS_SQL = f"""
with

requests as (

    select * from marts.fct_ai_requests

),

months as (

    select
        date_trunc('month', request_date) as request_month,
        count(*) as month_request_count,
        cast(sum(case when pricing_status = 'unpriced' then 1 else 0 end) as bigint)
            as month_unpriced_request_count,
        min(request_id) as representative_request_id
    from requests
    group by 1

),

final as (

    select
        -- ids
        requests.request_id,
        requests.tenant_id,

        -- dimensions
        requests.attribution_source,
        requests.provider_id,
        requests.model_id,
        requests.request_date,
        requests.pricing_status,
        requests.pricing_reason,

        -- numerics
        {_select(REQUEST_COUNT_COLUMNS + REQUEST_TOKEN_COLUMNS, table="requests")},
        requests.list_cost_usd,
        requests.effective_cost_usd,
        requests.retry_waste_usd,

        -- checks, exact in DECIMAL / integers (NULL when a side is NULL: not applicable)
        requests.effective_cost_usd <= requests.list_cost_usd as is_effective_le_list,
        requests.cache_read_tokens + requests.cache_write_tokens <= requests.input_tokens
            as is_cached_le_input,
        requests.retry_waste_usd <= requests.effective_cost_usd as is_retry_waste_le_effective,

        -- the month's unpriced share, on one representative row per month
        months.request_month,
        months.month_request_count,
        months.month_unpriced_request_count,
        case
            when requests.request_id = months.representative_request_id
                then cast(months.month_unpriced_request_count as double precision)
                / months.month_request_count
        end as month_unpriced_request_share

    from requests
    left join months
        on date_trunc('month', requests.request_date) is not distinct from months.request_month

)

select * from final
"""


def _fct_ai_requests(thresholds: Thresholds) -> list[Expectation]:
    """Request-level pricing, attribution and the month's unpriced share."""
    priced = Column("pricing_status") == "priced"
    return [
        *_unique_key("request_id"),
        *_not_null(["tenant_id"], "Never dropped: 'unattributed' is a tenant value."),
        _in_set(
            "attribution_source",
            ("app_request", "gateway_key", "provider_key", "unattributed"),
            "How the tenant was found.",
        ),
        _in_set("pricing_status", PRICING_STATUSES, "Accepted pricing statuses."),
        *_non_negative(REQUEST_COUNT_COLUMNS, "Attempt counts are never negative."),
        *_non_negative(REQUEST_TOKEN_COLUMNS, "Token counts are never negative."),
        *_non_negative(
            ["list_cost_usd", "effective_cost_usd", "retry_waste_usd"],
            "Costs are never negative.",
        ),
        gx.expectations.ExpectColumnValuesToNotBeNull(
            column="effective_cost_usd", row_condition=priced, notes="A priced request has a cost."
        ),
        gx.expectations.ExpectColumnValuesToBeNull(
            column="effective_cost_usd",
            row_condition=Column("pricing_status") == "unpriced",
            notes="An unpriced request has no cost (never a silent $0).",
        ),
        _true(
            "is_effective_le_list",
            context=["pricing_status", "list_cost_usd", "effective_cost_usd"],
            notes="Effective cost (after contract discount) never exceeds list cost.",
        ),
        _true(
            "is_cached_le_input",
            context=["input_tokens", "cache_read_tokens", "cache_write_tokens"],
            notes="Cached tokens (read + write) are part of input tokens, never more.",
        ),
        _true(
            "is_retry_waste_le_effective",
            context=["retry_waste_usd", "effective_cost_usd"],
            notes="Retry waste is part of the request's effective cost.",
        ),
        _at_most(
            "month_unpriced_request_share",
            thresholds.max_unpriced_share,
            context=["request_month", "month_request_count", "month_unpriced_request_count"],
            notes=(
                "Share of the month's requests (all providers) that could not be priced "
                f"({THRESHOLD_ENV_VARS['max_unpriced_share']}). Per month, not per provider: "
                "a self-hosted model nobody prices is 100% of its own provider."
            ),
        ),
    ]


# --- fct_token_disagreements ---------------------------------------------------------------

DISAGREEMENT_TOKEN_COLUMNS = (
    "gateway_input_tokens",
    "provider_input_tokens",
    "gateway_cache_read_tokens",
    "provider_cache_read_tokens",
    "gateway_cache_write_tokens",
    "provider_cache_write_tokens",
    "gateway_output_tokens",
    "provider_output_tokens",
)
DISAGREEMENT_DIFFERENCE_COLUMNS = (
    "input_tokens_difference",
    "cache_read_tokens_difference",
    "cache_write_tokens_difference",
    "output_tokens_difference",
)

_DISAGREEMENT_NUMERICS = _select(
    DISAGREEMENT_TOKEN_COLUMNS + DISAGREEMENT_DIFFERENCE_COLUMNS, table="disagreements"
)

FCT_TOKEN_DISAGREEMENTS_SQL = f"""
with

disagreements as (

    select * from marts.fct_token_disagreements

),

provider_months as (

    select
        provider_id,
        date_trunc('month', attempt_date) as attempt_month,
        count(*) as provider_month_attempt_count,
        cast(sum(case when agreement_status = 'disagree' then 1 else 0 end) as bigint)
            as provider_month_disagreement_count,
        min(attempt_id) as representative_attempt_id
    from disagreements
    group by 1, 2

),

final as (

    select
        -- ids
        disagreements.attempt_id,
        disagreements.request_id,
        disagreements.authority_rule_id,

        -- dimensions
        disagreements.provider_id,
        disagreements.model_id,
        disagreements.attempt_date,
        disagreements.is_usage_estimated,
        disagreements.authoritative_source,
        disagreements.agreement_status,

        -- numerics
        {_DISAGREEMENT_NUMERICS},
        disagreements.gateway_minus_provider_list_cost_usd,

        -- the provider x month disagreement rate, on one representative row per group
        provider_months.attempt_month,
        provider_months.provider_month_attempt_count,
        provider_months.provider_month_disagreement_count,
        case
            when disagreements.attempt_id = provider_months.representative_attempt_id
                then cast(provider_months.provider_month_disagreement_count as double precision)
                / provider_months.provider_month_attempt_count
        end as provider_month_disagreement_rate

    from disagreements
    left join provider_months
        on disagreements.provider_id is not distinct from provider_months.provider_id
        and date_trunc('month', disagreements.attempt_date)
        is not distinct from provider_months.attempt_month

)

select * from final
"""


def _fct_token_disagreements(thresholds: Thresholds) -> list[Expectation]:
    """Both counts are sane and the gateway mostly agrees with the provider."""
    return [
        *_unique_key("attempt_id"),
        *_not_null(["request_id", "authority_rule_id"], "Every row names the deciding rule."),
        _in_set("agreement_status", ("agree", "disagree"), "Within tolerance or not."),
        _in_set("authoritative_source", ("provider", "gateway"), "Whose count is billed."),
        *_non_negative(DISAGREEMENT_TOKEN_COLUMNS, "Token counts are never negative."),
        _at_most(
            "provider_month_disagreement_rate",
            thresholds.max_disagreement_rate,
            context=[
                "provider_id",
                "attempt_month",
                "provider_month_attempt_count",
                "provider_month_disagreement_count",
            ],
            notes=(
                "Share of a provider's attempts in a month whose gateway and provider token "
                f"counts disagree beyond tolerance ({THRESHOLD_ENV_VARS['max_disagreement_rate']}"
                "). Streamed estimates disagree often; a broken instrumentation disagrees always."
            ),
        ),
    ]


# --- mart_chargeback_daily -----------------------------------------------------------------

DAILY_GRAIN = ("tenant_id", "usage_date", "provider_id", "model_id", "workload")
DAILY_COUNT_COLUMNS = (
    "request_count",
    "attempt_count",
    "retry_count",
    "fallback_count",
    "unpriced_attempt_count",
)
DAILY_TOKEN_COLUMNS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")

MART_CHARGEBACK_DAILY_SQL = f"""
with

daily as (

    select * from marts.mart_chargeback_daily

),

final as (

    select
        -- ids
        chargeback_daily_key,

        -- dimensions
        {_select(DAILY_GRAIN)},

        -- numerics
        {_select(DAILY_COUNT_COLUMNS + DAILY_TOKEN_COLUMNS)},
        list_cost_usd,
        effective_cost_usd,
        retry_waste_usd,
        fallback_premium_usd,

        -- checks, exact in DECIMAL / integers
        effective_cost_usd <= list_cost_usd as is_effective_le_list,
        cache_read_tokens + cache_write_tokens <= input_tokens as is_cached_le_input,
        retry_waste_usd <= effective_cost_usd as is_retry_waste_le_effective,
        unpriced_attempt_count <= attempt_count
        and retry_count <= attempt_count
        and request_count <= attempt_count as is_counts_le_attempts

    from daily

)

select * from final
"""


def _mart_chargeback_daily(thresholds: Thresholds) -> list[Expectation]:
    """Daily chargeback rows: grain, non-negative quantities, cost ordering."""
    return [
        *_unique_key("chargeback_daily_key"),
        gx.expectations.ExpectCompoundColumnsToBeUnique(
            column_list=list(DAILY_GRAIN),
            notes="Grain: tenant x day x provider x model x workload.",
        ),
        *_not_null(
            ["tenant_id", "usage_date", "provider_id", "workload"], "Grain columns are present."
        ),
        *_non_negative(DAILY_COUNT_COLUMNS, "Counts are never negative."),
        *_non_negative(DAILY_TOKEN_COLUMNS, "Token counts are never negative."),
        *_non_negative(
            ["list_cost_usd", "effective_cost_usd", "retry_waste_usd"],
            "Costs are never negative.",
        ),
        _true(
            "is_effective_le_list",
            context=["list_cost_usd", "effective_cost_usd"],
            notes="Effective cost (after contract discount) never exceeds list cost.",
        ),
        _true(
            "is_cached_le_input",
            context=["input_tokens", "cache_read_tokens", "cache_write_tokens"],
            notes="Cached tokens (read + write) are part of input tokens, never more.",
        ),
        _true(
            "is_retry_waste_le_effective",
            context=["retry_waste_usd", "effective_cost_usd"],
            notes="Retry waste is part of the day's effective cost.",
        ),
        _true(
            "is_counts_le_attempts",
            context=["attempt_count", "request_count", "retry_count", "unpriced_attempt_count"],
            notes="Requests, retries and unpriced attempts are subsets of attempts.",
        ),
    ]


# --- mart_chargeback_monthly ---------------------------------------------------------------

STATEMENT_LINE_TYPES = ("usage", "retry_waste", "allocated_remainder", "unpriced")

MART_CHARGEBACK_MONTHLY_SQL = """
with

lines as (

    select * from marts.mart_chargeback_monthly

),

provider_months as (

    select
        provider_id,
        billing_month,
        sum(amount_usd) as provider_month_amount_usd,
        sum(amount_exact_usd) as provider_month_amount_exact_usd
    from lines
    group by 1, 2

),

final as (

    select
        -- ids
        lines.statement_line_key,
        lines.tenant_id,

        -- dimensions
        lines.billing_month,
        lines.provider_id,
        lines.line_type,
        lines.model_id,
        lines.workload,
        lines.provider_project_id,

        -- numerics
        lines.quantity,
        lines.input_tokens,
        lines.output_tokens,
        lines.list_cost_usd,
        lines.amount_exact_usd,
        lines.amount_usd,
        provider_months.provider_month_amount_usd,
        provider_months.provider_month_amount_exact_usd,

        -- checks, exact in DECIMAL
        lines.amount_usd - lines.amount_exact_usd as rounding_difference_usd,
        abs(lines.amount_usd - lines.amount_exact_usd) <= 0.01 as is_within_one_cent,
        provider_months.provider_month_amount_usd
        = round(provider_months.provider_month_amount_exact_usd, 2)
            as is_provider_month_total_to_the_cent

    from lines
    left join provider_months
        on lines.provider_id is not distinct from provider_months.provider_id
        and lines.billing_month is not distinct from provider_months.billing_month

)

select * from final
"""


def _mart_chargeback_monthly(thresholds: Thresholds) -> list[Expectation]:
    """Statement lines: accepted types, cents within a cent, provider totals to the cent."""
    return [
        *_unique_key("statement_line_key"),
        *_not_null(
            ["tenant_id", "billing_month", "provider_id", "line_type", "amount_usd"],
            "Every statement line is addressed and has an amount.",
        ),
        _in_set("line_type", STATEMENT_LINE_TYPES, "Accepted statement line types."),
        *_non_negative(
            ["quantity", "input_tokens", "output_tokens"], "Quantities are never negative."
        ),
        _true(
            "is_within_one_cent",
            context=["amount_exact_usd", "amount_usd", "rounding_difference_usd"],
            notes="The cents amount is within one cent of the exact amount.",
        ),
        _true(
            "is_provider_month_total_to_the_cent",
            context=[
                "provider_id",
                "billing_month",
                "provider_month_amount_usd",
                "provider_month_amount_exact_usd",
            ],
            notes="The cent lines of a provider x month add up to its exact total, rounded.",
        ),
        gx.expectations.ExpectColumnValuesToBeBetween(
            column="amount_usd",
            min_value=0,
            max_value=0,
            row_condition=Column("line_type") == "unpriced",
            notes="Unpriced lines are a count with no amount.",
        ),
    ]


# --- mart_invoice_reconciliation -----------------------------------------------------------

RECONCILIATION_STATUSES = (
    "reconciled",
    "remainder_allocated",
    "awaiting_invoice",
    "currency_mismatch",
)

MART_INVOICE_RECONCILIATION_SQL = """
with

reconciliation as (

    select * from marts.mart_invoice_reconciliation

),

provider_months as (

    select
        provider_id,
        billing_month,
        sum(unattributed_effective_cost_usd) as provider_month_unattributed_cost_usd,
        sum(attributed_effective_cost_usd) as provider_month_priced_cost_usd,
        sum(abs(remainder_usd)) as provider_month_abs_remainder_usd,
        sum(invoice_amount_usd) as provider_month_invoice_usd,
        min(reconciliation_key) as representative_reconciliation_key
    from reconciliation
    group by 1, 2

),

final as (

    select
        -- ids
        reconciliation.reconciliation_key,

        -- dimensions
        reconciliation.provider_id,
        reconciliation.provider_project_id,
        reconciliation.billing_month,
        reconciliation.period_started_at,
        reconciliation.reconciliation_status,
        reconciliation.currency,

        -- numerics
        reconciliation.invoice_line_count,
        reconciliation.attempt_count,
        reconciliation.unpriced_attempt_count,
        reconciliation.tenants_allocated,
        reconciliation.invoice_amount_usd,
        reconciliation.attributed_effective_cost_usd,
        reconciliation.unattributed_effective_cost_usd,
        reconciliation.remainder_usd,
        reconciliation.allocated_remainder_usd,

        -- checks, exact in DECIMAL: attributed + allocated = invoice, to the 12th decimal
        case
            when reconciliation.reconciliation_status in ('reconciled', 'remainder_allocated')
                then reconciliation.attributed_effective_cost_usd
                + reconciliation.allocated_remainder_usd
                - reconciliation.invoice_amount_usd
        end as invoice_difference_usd,
        case
            when reconciliation.reconciliation_status in ('reconciled', 'remainder_allocated')
                then reconciliation.attributed_effective_cost_usd
                + reconciliation.allocated_remainder_usd
                = reconciliation.invoice_amount_usd
        end as is_invoice_balanced,

        -- provider x month shares, on one representative row per group
        provider_months.provider_month_unattributed_cost_usd,
        provider_months.provider_month_priced_cost_usd,
        provider_months.provider_month_abs_remainder_usd,
        provider_months.provider_month_invoice_usd,
        case
            when reconciliation.reconciliation_key
                = provider_months.representative_reconciliation_key
                then provider_months.provider_month_unattributed_cost_usd
                / nullif(provider_months.provider_month_priced_cost_usd, 0)
        end as provider_month_unattributed_share,
        case
            when reconciliation.reconciliation_key
                = provider_months.representative_reconciliation_key
                then provider_months.provider_month_abs_remainder_usd
                / nullif(provider_months.provider_month_invoice_usd, 0)
        end as provider_month_remainder_share

    from reconciliation
    left join provider_months
        on reconciliation.provider_id is not distinct from provider_months.provider_id
        and reconciliation.billing_month is not distinct from provider_months.billing_month

)

select * from final
"""


def _mart_invoice_reconciliation(thresholds: Thresholds) -> list[Expectation]:
    """The invoice is the truth of the total: balance, attribution and remainder shares."""
    invoiced = Column("reconciliation_status").is_in(["reconciled", "remainder_allocated"])
    return [
        *_unique_key("reconciliation_key"),
        *_not_null(
            ["provider_id", "billing_month", "period_started_at"], "Provider x period is known."
        ),
        _in_set("reconciliation_status", RECONCILIATION_STATUSES, "Accepted statuses."),
        _in_set("currency", ("USD",), "Invoices are reconciled in USD only."),
        *_non_negative(
            ["invoice_line_count", "attempt_count", "unpriced_attempt_count", "tenants_allocated"],
            "Counts are never negative.",
        ),
        *_non_negative(
            ["attributed_effective_cost_usd", "unattributed_effective_cost_usd"],
            "Attributed costs are never negative.",
        ),
        gx.expectations.ExpectColumnValuesToNotBeNull(
            column="invoice_amount_usd",
            row_condition=invoiced,
            notes="A reconciled group has an invoice amount.",
        ),
        _true(
            "is_invoice_balanced",
            context=[
                "provider_id",
                "provider_project_id",
                "period_started_at",
                "invoice_amount_usd",
                "attributed_effective_cost_usd",
                "allocated_remainder_usd",
                "invoice_difference_usd",
            ],
            notes="Attributed + allocated = invoice per provider x period x project, exactly.",
        ),
        _at_most(
            "provider_month_unattributed_share",
            thresholds.max_unattributed_share,
            context=[
                "provider_id",
                "billing_month",
                "provider_month_unattributed_cost_usd",
                "provider_month_priced_cost_usd",
            ],
            notes=(
                "Share of a provider's priced spend in a month that no tenant could be found "
                f"for ({THRESHOLD_ENV_VARS['max_unattributed_share']})."
            ),
        ),
        _at_most(
            "provider_month_remainder_share",
            thresholds.max_remainder_share,
            context=[
                "provider_id",
                "billing_month",
                "provider_month_abs_remainder_usd",
                "provider_month_invoice_usd",
            ],
            notes=(
                "Sum of |invoice - attributed| over a provider's periods in a month, as a share "
                f"of its invoice ({THRESHOLD_ENV_VARS['max_remainder_share']}): the warehouse "
                "prices what the provider bills, give or take traffic outside the gateway."
            ),
        ),
    ]


# --- registry ------------------------------------------------------------------------------

SUITES: dict[str, SuiteSpec] = {
    spec.name: spec
    for spec in (
        SuiteSpec(
            name="fct_gateway_attempts",
            mart="marts.fct_gateway_attempts",
            grain="one row per upstream attempt",
            key_columns=("attempt_id",),
            query=FCT_GATEWAY_ATTEMPTS_SQL,
            expectations=_fct_gateway_attempts,
            day_column="attempt_date",
            window_column="attempt_date",
        ),
        SuiteSpec(
            name="fct_ai_requests",
            mart="marts.fct_ai_requests",
            grain="one row per application request (plus orphan gateway requests)",
            key_columns=("request_id",),
            query=FCT_AI_REQUESTS_SQL,
            expectations=_fct_ai_requests,
            day_column="request_date",
            window_column="request_date",
            # the month's unpriced share is computed over the whole month in the query
            window_keep="month_unpriced_request_share is not null",
        ),
        SuiteSpec(
            name="fct_token_disagreements",
            mart="marts.fct_token_disagreements",
            grain="one row per attempt with both a gateway and a provider count",
            key_columns=("attempt_id",),
            query=FCT_TOKEN_DISAGREEMENTS_SQL,
            expectations=_fct_token_disagreements,
            day_column="attempt_date",
        ),
        SuiteSpec(
            name="mart_chargeback_daily",
            mart="marts.mart_chargeback_daily",
            grain="tenant x day x provider x model x workload",
            key_columns=("chargeback_daily_key",),
            query=MART_CHARGEBACK_DAILY_SQL,
            expectations=_mart_chargeback_daily,
        ),
        SuiteSpec(
            name="mart_chargeback_monthly",
            mart="marts.mart_chargeback_monthly",
            grain="one statement line per tenant x month x provider x line type x breakdown",
            key_columns=("statement_line_key",),
            query=MART_CHARGEBACK_MONTHLY_SQL,
            expectations=_mart_chargeback_monthly,
        ),
        SuiteSpec(
            name="mart_invoice_reconciliation",
            mart="marts.mart_invoice_reconciliation",
            grain="provider x billing period x provider project",
            key_columns=("reconciliation_key",),
            query=MART_INVOICE_RECONCILIATION_SQL,
            expectations=_mart_invoice_reconciliation,
        ),
    )
}


def get_spec(suite_name: str) -> SuiteSpec:
    """The suite of that name, or a ValueError listing the known ones."""
    try:
        return SUITES[suite_name]
    except KeyError:
        known = ", ".join(sorted(SUITES))
        raise ValueError(f"unknown suite {suite_name!r}: expected one of {known}") from None


def build_suite(suite_name: str, thresholds: Thresholds | None = None) -> gx.ExpectationSuite:
    """A fresh GE ExpectationSuite for the mart, with the thresholds baked into it."""
    spec = get_spec(suite_name)
    limits = thresholds if thresholds is not None else Thresholds.from_env()
    return gx.ExpectationSuite(
        name=spec.name,
        expectations=spec.expectations(limits),
        meta={
            "mart": spec.mart,
            "grain": spec.grain,
            "key_columns": list(spec.key_columns),
            "thresholds": limits.as_dict(),
        },
    )
