"""GE suites of the guarded marts: they pass on healthy marts and name the bad rows otherwise.

Each test builds a tiny in-memory warehouse with only the columns the suites read, so the
suites' SQL (exact DECIMAL checks) runs as it does on the real warehouse; one e2e test runs
every suite on the warehouse the whole pipeline builds from generated data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from expectations.runner import (
    FailedExpectation,
    SuiteResult,
    build_data_docs,
    chunk_rows,
    day_ranges,
    duckdb_reader,
    query_mart,
    validate_dataframe,
    validate_mart,
    validate_marts,
)
from expectations.suites import SUITES, Thresholds
from tests.conftest import PipelineRun

MONEY = "decimal(38, 12)"
DAY = date(2026, 11, 2)
MONTH = date(2026, 11, 1)

_TOKEN_TYPES = {
    name: "bigint"
    for name in (
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
}

# Only the columns the suites read, with the marts' types.
MART_COLUMNS: dict[str, dict[str, str]] = {
    "fct_gateway_attempts": {
        "attempt_id": "varchar",
        "request_id": "varchar",
        "authority_rule_id": "varchar",
        "tenant_id": "varchar",
        "provider_id": "varchar",
        "model_id": "varchar",
        "attempt_date": "date",
        "attempt_number": "bigint",
        "pricing_status": "varchar",
        "agreement_status": "varchar",
        "authoritative_source": "varchar",
        **_TOKEN_TYPES,
        "list_cost_usd": MONEY,
        "effective_cost_usd": MONEY,
    },
    "fct_ai_requests": {
        "request_id": "varchar",
        "tenant_id": "varchar",
        "attribution_source": "varchar",
        "provider_id": "varchar",
        "model_id": "varchar",
        "request_date": "date",
        "pricing_status": "varchar",
        "pricing_reason": "varchar",
        "attempt_count": "bigint",
        "retry_count": "hugeint",
        "fallback_count": "hugeint",
        "failed_attempt_count": "hugeint",
        "uncached_input_tokens": "hugeint",
        "cache_read_tokens": "hugeint",
        "cache_write_tokens": "hugeint",
        "input_tokens": "hugeint",
        "output_tokens": "hugeint",
        "reasoning_tokens": "hugeint",
        "list_cost_usd": MONEY,
        "effective_cost_usd": MONEY,
        "retry_waste_usd": MONEY,
    },
    "fct_token_disagreements": {
        "attempt_id": "varchar",
        "request_id": "varchar",
        "authority_rule_id": "varchar",
        "provider_id": "varchar",
        "model_id": "varchar",
        "attempt_date": "date",
        "is_usage_estimated": "boolean",
        "authoritative_source": "varchar",
        "agreement_status": "varchar",
        "gateway_input_tokens": "bigint",
        "provider_input_tokens": "bigint",
        "gateway_cache_read_tokens": "bigint",
        "provider_cache_read_tokens": "bigint",
        "gateway_cache_write_tokens": "bigint",
        "provider_cache_write_tokens": "bigint",
        "gateway_output_tokens": "bigint",
        "provider_output_tokens": "bigint",
        "input_tokens_difference": "bigint",
        "cache_read_tokens_difference": "bigint",
        "cache_write_tokens_difference": "bigint",
        "output_tokens_difference": "bigint",
        "gateway_minus_provider_list_cost_usd": MONEY,
    },
    "mart_chargeback_daily": {
        "chargeback_daily_key": "varchar",
        "tenant_id": "varchar",
        "usage_date": "date",
        "provider_id": "varchar",
        "model_id": "varchar",
        "workload": "varchar",
        "request_count": "bigint",
        "attempt_count": "bigint",
        "retry_count": "hugeint",
        "fallback_count": "hugeint",
        "unpriced_attempt_count": "hugeint",
        "input_tokens": "hugeint",
        "cache_read_tokens": "hugeint",
        "cache_write_tokens": "hugeint",
        "output_tokens": "hugeint",
        "list_cost_usd": MONEY,
        "effective_cost_usd": MONEY,
        "retry_waste_usd": MONEY,
        "fallback_premium_usd": MONEY,
    },
    "mart_chargeback_monthly": {
        "statement_line_key": "varchar",
        "tenant_id": "varchar",
        "billing_month": "date",
        "provider_id": "varchar",
        "line_type": "varchar",
        "model_id": "varchar",
        "workload": "varchar",
        "provider_project_id": "varchar",
        "quantity": "bigint",
        "input_tokens": "hugeint",
        "output_tokens": "hugeint",
        "list_cost_usd": MONEY,
        "amount_exact_usd": MONEY,
        "amount_usd": "decimal(38, 2)",
    },
    "mart_invoice_reconciliation": {
        "reconciliation_key": "varchar",
        "provider_id": "varchar",
        "provider_project_id": "varchar",
        "billing_month": "date",
        "period_started_at": "timestamp",
        "reconciliation_status": "varchar",
        "currency": "varchar",
        "invoice_line_count": "bigint",
        "attempt_count": "bigint",
        "unpriced_attempt_count": "hugeint",
        "tenants_allocated": "bigint",
        "invoice_amount_usd": MONEY,
        "attributed_effective_cost_usd": MONEY,
        "unattributed_effective_cost_usd": MONEY,
        "remainder_usd": MONEY,
        "allocated_remainder_usd": MONEY,
    },
}


def _attempt(attempt_id: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "attempt_id": attempt_id,
        "request_id": f"req_{attempt_id}",
        "authority_rule_id": "provider_record",
        "tenant_id": "search",
        "provider_id": "openai",
        "model_id": "gpt-4o",
        "attempt_date": DAY,
        "attempt_number": 1,
        "pricing_status": "priced",
        "agreement_status": "agree",
        "authoritative_source": "provider",
        **{name: 0 for name in _TOKEN_TYPES},
        "gateway_input_tokens": 1200,
        "gateway_uncached_input_tokens": 1000,
        "gateway_cache_read_tokens": 200,
        "gateway_output_tokens": 300,
        "provider_uncached_input_tokens": 1000,
        "provider_cache_read_tokens": 200,
        "provider_output_tokens": 300,
        "uncached_input_tokens": 1000,
        "cache_read_tokens": 200,
        "input_tokens": 1200,
        "output_tokens": 300,
        "list_cost_usd": Decimal("0.005750000000"),
        "effective_cost_usd": Decimal("0.005290000000"),
    }
    return base | overrides


def _request(request_id: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "request_id": request_id,
        "tenant_id": "search",
        "attribution_source": "app_request",
        "provider_id": "anthropic",
        "model_id": "claude-sonnet-4-0",
        "request_date": DAY,
        "pricing_status": "priced",
        "pricing_reason": None,
        "attempt_count": 2,
        "retry_count": 1,
        "fallback_count": 0,
        "failed_attempt_count": 1,
        "uncached_input_tokens": 900,
        "cache_read_tokens": 100,
        "cache_write_tokens": 0,
        "input_tokens": 1000,
        "output_tokens": 250,
        "reasoning_tokens": 0,
        "list_cost_usd": Decimal("0.006780000000"),
        "effective_cost_usd": Decimal("0.006237600000"),
        "retry_waste_usd": Decimal("0"),
    }
    return base | overrides


def _disagreement(attempt_id: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "attempt_id": attempt_id,
        "request_id": f"req_{attempt_id}",
        "authority_rule_id": "provider_record",
        "provider_id": "openai",
        "model_id": "gpt-4o",
        "attempt_date": DAY,
        "is_usage_estimated": False,
        "authoritative_source": "provider",
        "agreement_status": "agree",
        "gateway_input_tokens": 1200,
        "provider_input_tokens": 1200,
        "gateway_cache_read_tokens": 200,
        "provider_cache_read_tokens": 200,
        "gateway_cache_write_tokens": 0,
        "provider_cache_write_tokens": 0,
        "gateway_output_tokens": 300,
        "provider_output_tokens": 300,
        "input_tokens_difference": 0,
        "cache_read_tokens_difference": 0,
        "cache_write_tokens_difference": 0,
        "output_tokens_difference": 0,
        "gateway_minus_provider_list_cost_usd": Decimal("0"),
    }
    return base | overrides


def _daily(key: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "chargeback_daily_key": key,
        "tenant_id": "search",
        "usage_date": DAY,
        "provider_id": "openai",
        "model_id": "gpt-4o",
        "workload": key,
        "request_count": 10,
        "attempt_count": 12,
        "retry_count": 2,
        "fallback_count": 0,
        "unpriced_attempt_count": 0,
        "input_tokens": 12000,
        "cache_read_tokens": 2000,
        "cache_write_tokens": 0,
        "output_tokens": 3000,
        "list_cost_usd": Decimal("0.057500000000"),
        "effective_cost_usd": Decimal("0.052900000000"),
        "retry_waste_usd": Decimal("0.008000000000"),
        "fallback_premium_usd": Decimal("0"),
    }
    return base | overrides


def _line(key: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "statement_line_key": key,
        "tenant_id": "search",
        "billing_month": MONTH,
        "provider_id": "openai",
        "line_type": "usage",
        "model_id": "gpt-4o",
        "workload": "w",
        "provider_project_id": None,
        "quantity": 3,
        "input_tokens": 3000,
        "output_tokens": 900,
        "list_cost_usd": Decimal("0"),
        "amount_exact_usd": Decimal("0"),
        "amount_usd": Decimal("0.00"),
    }
    return base | overrides


def _group(key: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "reconciliation_key": key,
        "provider_id": "openai",
        "provider_project_id": "proj_a",
        "billing_month": MONTH,
        "period_started_at": datetime(2026, 11, 2),
        "reconciliation_status": "reconciled",
        "currency": "USD",
        "invoice_line_count": 2,
        "attempt_count": 40,
        "unpriced_attempt_count": 0,
        "tenants_allocated": 0,
        "invoice_amount_usd": Decimal("10.000000000000"),
        "attributed_effective_cost_usd": Decimal("10.000000000000"),
        "unattributed_effective_cost_usd": Decimal("0.100000000000"),
        "remainder_usd": Decimal("0"),
        "allocated_remainder_usd": Decimal("0"),
    }
    return base | overrides


def _healthy_rows() -> dict[str, list[dict[str, Any]]]:
    """Small marts that satisfy every rule (and sit inside every default threshold)."""
    requests = [_request(f"r{i:02d}") for i in range(38)] + [
        _request("r_unattributed", tenant_id="unattributed", attribution_source="unattributed"),
        _request(
            "r_unpriced",
            provider_id="vllm",
            model_id=None,
            pricing_status="unpriced",
            pricing_reason="unknown model: acme-rewrite-llama-3.1-8b-ft",
            list_cost_usd=None,
            effective_cost_usd=None,
        ),
        _request(
            "r_orphan_app",
            provider_id=None,
            model_id=None,
            pricing_status="no_usage",
            attempt_count=0,
            retry_count=0,
            failed_attempt_count=0,
            list_cost_usd=Decimal("0"),
            effective_cost_usd=Decimal("0"),
        ),
    ]
    return {
        "fct_gateway_attempts": [
            _attempt("a1"),
            _attempt(
                "a2",
                attempt_number=2,
                provider_id="anthropic",
                agreement_status="single_source",
                authoritative_source="gateway",
                cache_write_tokens=100,
                input_tokens=1300,
            ),
            _attempt(
                "a3",
                provider_id="vllm",
                model_id=None,
                pricing_status="unpriced",
                list_cost_usd=None,
                effective_cost_usd=None,
            ),
            _attempt(
                "a4",
                pricing_status="no_usage",
                input_tokens=None,
                cache_read_tokens=None,
                uncached_input_tokens=None,
                list_cost_usd=Decimal("0"),
                effective_cost_usd=Decimal("0"),
            ),
        ],
        "fct_ai_requests": requests,
        "fct_token_disagreements": [
            _disagreement("d1"),
            _disagreement("d2"),
            _disagreement(
                "d3",
                agreement_status="disagree",
                is_usage_estimated=True,
                gateway_output_tokens=320,
                output_tokens_difference=20,
            ),
            _disagreement("d4", provider_id="anthropic"),
        ],
        "mart_chargeback_daily": [
            _daily("k1"),
            _daily("k2", provider_id="anthropic", unpriced_attempt_count=1),
        ],
        "mart_chargeback_monthly": [
            _line("l1", amount_exact_usd=Decimal("0.334"), amount_usd=Decimal("0.34")),
            _line(
                "l2",
                tenant_id="docs-qa",
                amount_exact_usd=Decimal("0.333"),
                amount_usd=Decimal("0.33"),
            ),
            _line(
                "l3",
                tenant_id="sales",
                amount_exact_usd=Decimal("0.333"),
                amount_usd=Decimal("0.33"),
            ),
            _line("l4", provider_id="vllm", line_type="unpriced", model_id="acme-ft"),
            _line(
                "l5",
                line_type="allocated_remainder",
                model_id=None,
                provider_project_id="proj_a",
                quantity=1,
                input_tokens=0,
                output_tokens=0,
                amount_exact_usd=Decimal("-0.002"),
                amount_usd=Decimal("0.00"),
            ),
        ],
        "mart_invoice_reconciliation": [
            _group("g1"),
            _group(
                "g2",
                provider_project_id="proj_b",
                reconciliation_status="remainder_allocated",
                tenants_allocated=2,
                invoice_amount_usd=Decimal("5.100000000001"),
                attributed_effective_cost_usd=Decimal("5.000000000000"),
                unattributed_effective_cost_usd=Decimal("0"),
                remainder_usd=Decimal("0.100000000001"),
                allocated_remainder_usd=Decimal("0.100000000001"),
            ),
            _group(
                "g3",
                period_started_at=datetime(2026, 11, 3),
                reconciliation_status="awaiting_invoice",
                invoice_line_count=0,
                invoice_amount_usd=None,
                attributed_effective_cost_usd=Decimal("1.000000000000"),
                unattributed_effective_cost_usd=Decimal("0"),
                remainder_usd=None,
            ),
        ],
    }


def _warehouse(rows: dict[str, list[dict[str, Any]]]) -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse whose `marts` schema holds the given rows."""
    con = duckdb.connect()
    con.execute("create schema marts")
    for mart, columns in MART_COLUMNS.items():
        declared = ", ".join(f"{name} {kind}" for name, kind in columns.items())
        con.execute(f"create table marts.{mart} ({declared})")
        placeholders = ", ".join("?" for _ in columns)
        values = [[row.get(name) for name in columns] for row in rows[mart]]
        con.executemany(f"insert into marts.{mart} values ({placeholders})", values)
    return con


@pytest.fixture
def healthy() -> Iterator[duckdb.DuckDBPyConnection]:
    con = _warehouse(_healthy_rows())
    yield con
    con.close()


def _only_failure(result: SuiteResult) -> FailedExpectation:
    assert not result.success
    assert len(result.failed_expectations) == 1, result.failed_expectation_types
    return result.failed_expectations[0]


# --- healthy marts pass --------------------------------------------------------------------


@pytest.mark.parametrize("suite_name", sorted(SUITES))
def test_every_suite_passes_on_a_healthy_mart(
    healthy: duckdb.DuckDBPyConnection, suite_name: str
) -> None:
    result = validate_mart(healthy, suite_name, thresholds=Thresholds())
    assert result.success, json.dumps(result.to_dict(), indent=1)
    assert result.failed_expectations == []
    assert result.evaluated_expectations >= 10
    assert result.mart == f"marts.{suite_name}"
    assert result.row_count == len(_healthy_rows()[suite_name])


# --- bad data fails, naming the expectation and the rows -----------------------------------


def test_negative_token_count_names_the_column_and_the_attempt(
    healthy: duckdb.DuckDBPyConnection,
) -> None:
    frame = query_mart(healthy, "fct_gateway_attempts")
    frame.loc[frame["attempt_id"] == "a2", "provider_output_tokens"] = -7

    failed = _only_failure(validate_dataframe(frame, "fct_gateway_attempts"))

    assert failed["expectation_type"] == "expect_column_values_to_be_between"
    assert failed["column"] == "provider_output_tokens"
    assert failed["kwargs"]["min_value"] == 0
    assert failed["unexpected_count"] == 1
    assert failed["sample_rows"] == [{"attempt_id": "a2", "provider_output_tokens": -7}]


def test_effective_cost_above_list_cost_is_caught_in_exact_decimal(
    healthy: duckdb.DuckDBPyConnection,
) -> None:
    # a doubled price; and on a large amount, one 1e-12 over list: equal once turned into float
    healthy.execute(
        "update marts.fct_gateway_attempts set effective_cost_usd = list_cost_usd * 2 "
        "where attempt_id = 'a1'"
    )
    healthy.execute(
        "update marts.fct_gateway_attempts set list_cost_usd = 1234567.000000000000, "
        "effective_cost_usd = 1234567.000000000001 where attempt_id = 'a2'"
    )

    failed = _only_failure(validate_mart(healthy, "fct_gateway_attempts"))

    assert failed["expectation_type"] == "expect_column_values_to_be_in_set"
    assert failed["column"] == "is_effective_le_list"
    assert failed["unexpected_count"] == 2
    by_attempt = {row["attempt_id"]: row for row in failed["sample_rows"]}
    assert by_attempt["a1"] == {
        "attempt_id": "a1",
        "is_effective_le_list": False,
        "pricing_status": "priced",
        "list_cost_usd": 0.00575,
        "effective_cost_usd": 0.0115,
    }
    assert by_attempt["a2"]["list_cost_usd"] == by_attempt["a2"]["effective_cost_usd"]


def test_null_cost_on_a_priced_request_fails_while_unpriced_requests_stay_null(
    healthy: duckdb.DuckDBPyConnection,
) -> None:
    healthy.execute(
        "update marts.fct_ai_requests set effective_cost_usd = null, list_cost_usd = null "
        "where request_id = 'r07'"
    )

    failed = _only_failure(validate_mart(healthy, "fct_ai_requests"))

    assert failed["expectation_type"] == "expect_column_values_to_not_be_null"
    assert failed["column"] == "effective_cost_usd"
    assert failed["kwargs"]["row_condition"]["parameter"] == "priced"
    assert failed["unexpected_count"] == 1
    assert failed["sample_rows"] == [{"request_id": "r07", "effective_cost_usd": None}]


def test_duplicate_primary_key_returns_both_rows(healthy: duckdb.DuckDBPyConnection) -> None:
    healthy.execute(
        "insert into marts.mart_chargeback_daily "
        "select * replace ('k3' as workload) from marts.mart_chargeback_daily "
        "where chargeback_daily_key = 'k1'"
    )

    failed = _only_failure(validate_mart(healthy, "mart_chargeback_daily"))

    assert failed["expectation_type"] == "expect_column_values_to_be_unique"
    assert failed["column"] == "chargeback_daily_key"
    assert failed["unexpected_count"] == 2
    assert failed["sample_rows"] == [
        {"chargeback_daily_key": "k1"},
        {"chargeback_daily_key": "k1"},
    ]


def test_invoice_difference_of_one_trillionth_fails_with_the_group(
    healthy: duckdb.DuckDBPyConnection,
) -> None:
    healthy.execute(
        "update marts.mart_invoice_reconciliation "
        "set invoice_amount_usd = invoice_amount_usd + 0.000000000001 "
        "where reconciliation_key = 'g2'"
    )

    failed = _only_failure(validate_mart(healthy, "mart_invoice_reconciliation"))

    assert failed["column"] == "is_invoice_balanced"
    assert failed["unexpected_count"] == 1
    [row] = failed["sample_rows"]
    assert row["reconciliation_key"] == "g2"
    assert row["is_invoice_balanced"] is False
    assert row["provider_project_id"] == "proj_b"
    assert row["invoice_difference_usd"] == pytest.approx(-1e-12, abs=1e-15)


def test_unattributed_share_over_the_threshold_reports_one_row_per_provider_month(
    healthy: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy.execute(
        "update marts.mart_invoice_reconciliation set unattributed_effective_cost_usd = 2 "
        "where reconciliation_key = 'g1'"
    )

    failed = _only_failure(validate_mart(healthy, "mart_invoice_reconciliation"))

    assert failed["expectation_type"] == "expect_column_values_to_be_between"
    assert failed["column"] == "provider_month_unattributed_share"
    assert failed["kwargs"]["max_value"] == 0.05
    assert failed["unexpected_count"] == 1
    [row] = failed["sample_rows"]
    assert row["provider_id"] == "openai"
    assert row["provider_month_unattributed_share"] == pytest.approx(2 / 16)
    assert row["provider_month_unattributed_cost_usd"] == 2.0
    assert row["provider_month_priced_cost_usd"] == 16.0

    monkeypatch.setenv("AI_CHARGEBACK_MAX_UNATTRIBUTED_SHARE", "0.2")
    assert validate_mart(healthy, "mart_invoice_reconciliation").success


def _make_unpriced(con: duckdb.DuckDBPyConnection, request_ids: list[str]) -> None:
    con.execute(
        "update marts.fct_ai_requests set pricing_status = 'unpriced', "
        "list_cost_usd = null, effective_cost_usd = null where list_contains(?, request_id)",
        [request_ids],
    )


def test_unpriced_request_share_over_the_threshold_fails(
    healthy: duckdb.DuckDBPyConnection,
) -> None:
    _make_unpriced(healthy, ["r01", "r02", "r03"])

    failed = _only_failure(validate_mart(healthy, "fct_ai_requests"))

    assert failed["column"] == "month_unpriced_request_share"
    [row] = failed["sample_rows"]
    assert row["month_request_count"] == 41
    assert row["month_unpriced_request_count"] == 4
    assert row["month_unpriced_request_share"] == pytest.approx(4 / 41)


def test_a_daily_window_validates_only_the_rows_it_wrote_in_the_day_partitioned_facts(
    healthy: duckdb.DuckDBPyConnection,
) -> None:
    # a bad attempt on a day outside the window: a daily run did not write it
    healthy.execute(
        "update marts.fct_gateway_attempts set provider_output_tokens = -7, "
        "attempt_date = date '2026-10-30' where attempt_id = 'a2'"
    )
    window = (DAY, date(2026, 11, 3))
    all_rows = query_mart(healthy, "fct_gateway_attempts")

    inside = validate_mart(healthy, "fct_gateway_attempts", window=window)
    everything = validate_mart(healthy, "fct_gateway_attempts")

    assert inside.success, inside.failed_expectation_types
    assert inside.row_count == len(all_rows) - 1
    assert _only_failure(everything)["sample_rows"] == [
        {"attempt_id": "a2", "provider_output_tokens": -7}
    ]
    # in the window, the same row fails
    healthy.execute(
        "update marts.fct_gateway_attempts set attempt_date = ? where attempt_id = 'a2'", [DAY]
    )
    assert (
        _only_failure(validate_mart(healthy, "fct_gateway_attempts", window=window))["column"]
        == "provider_output_tokens"
    )


def test_a_daily_window_keeps_the_month_share_computed_over_the_whole_month(
    healthy: duckdb.DuckDBPyConnection,
) -> None:
    # three unpriced requests of the month, none of them (nor the month's representative row)
    # in the window: the month's share is still checked, over the whole month
    _make_unpriced(healthy, ["r01", "r02", "r03"])
    window = (date(2026, 11, 20), date(2026, 11, 21))

    windowed = query_mart(healthy, "fct_ai_requests", window=window)
    failed = _only_failure(validate_mart(healthy, "fct_ai_requests", window=window))

    assert len(windowed) == 1  # no request of the month in the window: only the share's row
    assert failed["column"] == "month_unpriced_request_share"
    [row] = failed["sample_rows"]
    assert (row["month_request_count"], row["month_unpriced_request_count"]) == (41, 4)


def test_only_marts_with_a_day_column_narrow_and_an_empty_window_is_refused() -> None:
    monthly = SUITES["mart_chargeback_monthly"]
    assert (monthly.window_column, monthly.day_column) == (None, None)
    assert monthly.query_for(None) == monthly.query
    with pytest.raises(ValueError, match="no day column"):
        monthly.query_for((DAY, date(2026, 11, 3)))
    with pytest.raises(ValueError, match="empty window"):
        SUITES["fct_ai_requests"].query_for((DAY, DAY))


def _spread_over_days(con: duckdb.DuckDBPyConnection, mart: str, column: str, key: str) -> None:
    """Spread the mart's rows over the 20 days from DAY (in key order), within one month."""
    con.execute(
        f"update marts.{mart} set {column} = ranked.day from ("
        f"select {key} as row_key, date '2026-11-02' + "
        f"cast((row_number() over (order by {key}) - 1) % 20 as integer) as day "
        f"from marts.{mart}) as ranked where {key} = ranked.row_key"
    )


@pytest.mark.parametrize(
    ("suite_name", "column", "key"),
    [
        ("fct_gateway_attempts", "attempt_date", "attempt_id"),
        ("fct_ai_requests", "request_date", "request_id"),
        ("fct_token_disagreements", "attempt_date", "attempt_id"),
    ],
)
def test_a_big_mart_is_validated_in_day_ranges_with_the_same_outcome(
    healthy: duckdb.DuckDBPyConnection, suite_name: str, column: str, key: str
) -> None:
    _spread_over_days(healthy, suite_name, column, key)
    whole = validate_mart(healthy, suite_name, thresholds=Thresholds())
    ranges = day_ranges(duckdb_reader(healthy), SUITES[suite_name], 2)

    in_parts = validate_mart(healthy, suite_name, thresholds=Thresholds(), max_rows=2)

    assert len(ranges) >= 2
    assert all(start < end for start, end in ranges)
    assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    assert whole.success and in_parts.success, in_parts.failed_expectation_types
    assert in_parts.row_count == whole.row_count == len(_healthy_rows()[suite_name])


def test_failures_found_in_several_day_ranges_are_merged_into_one_per_expectation(
    healthy: duckdb.DuckDBPyConnection,
) -> None:
    _spread_over_days(healthy, "fct_gateway_attempts", "attempt_date", "attempt_id")
    healthy.execute("update marts.fct_gateway_attempts set provider_output_tokens = -7")
    whole = _only_failure(validate_mart(healthy, "fct_gateway_attempts"))

    in_parts = _only_failure(validate_mart(healthy, "fct_gateway_attempts", max_rows=1))

    assert in_parts["column"] == whole["column"] == "provider_output_tokens"
    assert (
        in_parts["unexpected_count"]
        == whole["unexpected_count"]
        == len(_healthy_rows()["fct_gateway_attempts"])
    )
    assert in_parts["element_count"] == whole["element_count"]
    assert len(in_parts["sample_rows"]) == min(5, whole["unexpected_count"])


def test_a_mart_with_rows_without_a_day_is_validated_whole(
    healthy: duckdb.DuckDBPyConnection,
) -> None:
    _spread_over_days(healthy, "fct_gateway_attempts", "attempt_date", "attempt_id")
    healthy.execute(
        "update marts.fct_gateway_attempts set attempt_date = null where attempt_id = 'a1'"
    )

    assert day_ranges(duckdb_reader(healthy), SUITES["fct_gateway_attempts"], 1) == []
    failed = _only_failure(validate_mart(healthy, "fct_gateway_attempts", max_rows=1))
    assert failed["column"] == "attempt_date"


def test_the_chunk_size_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AI_CHARGEBACK_GE_CHUNK_ROWS", raising=False)
    assert chunk_rows() == 1_000_000
    monkeypatch.setenv("AI_CHARGEBACK_GE_CHUNK_ROWS", "250000")
    assert chunk_rows() == 250_000
    monkeypatch.setenv("AI_CHARGEBACK_GE_CHUNK_ROWS", "0")
    with pytest.raises(ValueError, match="at least 1"):
        chunk_rows()


def test_token_disagreement_rate_over_the_threshold_fails(
    healthy: duckdb.DuckDBPyConnection,
) -> None:
    healthy.execute(
        "update marts.fct_token_disagreements set agreement_status = 'disagree' "
        "where attempt_id = 'd1'"
    )

    failed = _only_failure(validate_mart(healthy, "fct_token_disagreements"))

    assert failed["column"] == "provider_month_disagreement_rate"
    [row] = failed["sample_rows"]
    assert row["provider_id"] == "openai"
    assert row["provider_month_disagreement_rate"] == pytest.approx(2 / 3)


def test_statement_line_off_by_more_than_a_cent_and_unknown_line_type_fail(
    healthy: duckdb.DuckDBPyConnection,
) -> None:
    healthy.execute(
        "update marts.mart_chargeback_monthly set amount_usd = 0.32 where statement_line_key = 'l3'"
    )
    healthy.execute(
        "update marts.mart_chargeback_monthly set line_type = 'discount' "
        "where statement_line_key = 'l2'"
    )

    result = validate_mart(healthy, "mart_chargeback_monthly")

    failed = {item["column"]: item for item in result.failed_expectations}
    assert set(failed) == {"line_type", "is_within_one_cent", "is_provider_month_total_to_the_cent"}
    assert failed["line_type"]["sample_rows"] == [
        {"statement_line_key": "l2", "line_type": "discount"}
    ]
    [off] = failed["is_within_one_cent"]["sample_rows"]
    assert off["statement_line_key"] == "l3"
    assert off["rounding_difference_usd"] == pytest.approx(-0.013)
    assert failed["is_provider_month_total_to_the_cent"]["unexpected_count"] == 4


def test_failed_results_are_plain_json(healthy: duckdb.DuckDBPyConnection) -> None:
    healthy.execute("update marts.fct_gateway_attempts set attempt_date = null")
    result = validate_mart(healthy, "fct_gateway_attempts")
    assert not result.success
    decoded = json.loads(json.dumps(result.to_dict()))
    assert decoded["failed_expectations"][0]["column"] == "attempt_date"
    assert len(decoded["failed_expectations"][0]["sample_rows"]) == 4


# --- thresholds ----------------------------------------------------------------------------


def test_thresholds_default_and_read_overrides_from_the_environment() -> None:
    assert Thresholds.from_env({}) == Thresholds(
        max_unattributed_share=0.05,
        max_unpriced_share=0.05,
        max_disagreement_rate=0.5,
        max_remainder_share=0.05,
    )
    assert Thresholds.from_env(
        {"AI_CHARGEBACK_MAX_UNPRICED_SHARE": "0.01", "AI_CHARGEBACK_MAX_DISAGREEMENT_RATE": ""}
    ) == Thresholds(max_unpriced_share=0.01)
    with pytest.raises(ValueError, match="AI_CHARGEBACK_MAX_REMAINDER_SHARE='ten'"):
        Thresholds.from_env({"AI_CHARGEBACK_MAX_REMAINDER_SHARE": "ten"})
    with pytest.raises(ValueError, match="between 0 and 1"):
        Thresholds.from_env({"AI_CHARGEBACK_MAX_UNATTRIBUTED_SHARE": "5"})


# --- data docs -----------------------------------------------------------------------------


def test_data_docs_are_written_for_every_suite_and_rebuilt_from_scratch(
    healthy: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    site = tmp_path / "data_docs"
    healthy.execute(
        "update marts.fct_gateway_attempts set output_tokens = -1 where attempt_id = 'a1'"
    )

    first = build_data_docs(healthy, site_dir=site)

    assert first.index_html == site.resolve() / "index.html"
    index = first.index_html.read_text()
    assert {result.suite_name for result in first.results} == set(SUITES)
    assert not first.success
    for suite_name in SUITES:
        pages = list((site / "validations" / suite_name).rglob("*.html"))
        assert len(pages) == 1, suite_name
        assert suite_name in index
    attempts_page = next((site / "validations" / "fct_gateway_attempts").rglob("*.html"))
    assert "output_tokens" in attempts_page.read_text()

    build_data_docs(healthy, site_dir=site, suite_names=["mart_chargeback_daily"])
    assert sorted(path.name for path in (site / "validations").iterdir()) == [
        "mart_chargeback_daily"
    ]

    (tmp_path / "notes.txt").write_text("not a site")
    with pytest.raises(ValueError, match="not a Data Docs folder"):
        build_data_docs(healthy, site_dir=tmp_path)


# --- on the warehouse the pipeline builds ---------------------------------------------------


@pytest.mark.e2e
@pytest.mark.xdist_group("e2e")
def test_every_suite_passes_on_the_generated_warehouse(pipeline_run: PipelineRun) -> None:
    con = pipeline_run.connect()
    try:
        results = validate_marts(con)
    finally:
        con.close()
    assert [result.suite_name for result in results] == list(SUITES)
    for result in results:
        assert result.success, json.dumps(result.to_dict(), indent=1)
        assert result.row_count > 0, result.suite_name
