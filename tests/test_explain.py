"""`ai-chargeback explain`: the evidence trail of one request, checked against the warehouse."""

from __future__ import annotations

import csv
import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import zstandard
from typer.testing import CliRunner

from ai_chargeback.cli import app
from tests.conftest import PipelineRun

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

runner = CliRunner()


@pytest.fixture
def warehouse_env(pipeline_run: PipelineRun, monkeypatch: pytest.MonkeyPatch) -> PipelineRun:
    """Point the CLI at the session's warehouse (explain opens it read-only)."""
    monkeypatch.setenv("AI_CHARGEBACK_DUCKDB", str(pipeline_run.warehouse))
    return pipeline_run


def _one(run: PipelineRun, sql: str) -> Any:
    with run.connect() as con:
        found = con.execute(sql).fetchall()
    assert found, sql
    return found[0][0]


def _explain_json(identifier: str) -> dict[str, Any]:
    result = runner.invoke(app, ["explain", identifier, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _landing_line(run: PipelineRun, relative: str, line: int) -> str:
    """Line `line` (1-based) of a landing file, plain or compressed."""
    data = (run.landing / relative).read_bytes()
    if relative.endswith(".gz"):
        data = gzip.decompress(data)
    elif relative.endswith(".zst"):
        data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
    lines = data.decode("utf-8").splitlines()
    assert line <= len(lines), f"{relative} has no line {line}"
    return lines[line - 1]


def _truth_request(run: PipelineRun, request_id: str) -> dict[str, str]:
    with (run.truth / "requests.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["request_key"] == request_id:
                return row
    raise AssertionError(f"{request_id} not in the ground truth")


def test_explain_clean_request_reproduces_cost_rule_price_statement_line_and_lineage(
    warehouse_env: PipelineRun,
) -> None:
    run = warehouse_env
    request_id = _one(
        run,
        """
        select requests.request_id
        from marts.fct_ai_requests as requests
        inner join marts.fct_gateway_attempts as attempts
            on requests.request_id = attempts.request_id
        where requests.attempt_count = 1 and requests.pricing_status = 'priced'
            and requests.has_app_request and attempts.agreement_status = 'agree'
            and requests.gateway = 'otel_gateway' and attempts.cache_read_tokens > 0
            and attempts.discount_pct > 0
        order by requests.request_id
        limit 1
        """,
    )
    report = _explain_json(request_id)
    truth = _truth_request(run, request_id)

    assert report["matched_by"] == "request_id"
    request = report["request"]
    assert (request["tenant_id"], request["workload"], request["feature"]) == (
        truth["tenant_id"],
        truth["workload"],
        truth["feature"],
    )
    assert request["prompt_template_version"] == truth["prompt_template_version"]
    assert request["expected_model"] == truth["expected_model"]
    assert request["attribution_source"] == "app_request"
    assert Decimal(request["effective_cost_usd"]) == Decimal(truth["effective_cost_usd"])

    (attempt,) = report["attempts"]
    assert attempt["routing_decision"] == truth["routing_decisions"]
    assert attempt["is_final_attempt"] and not attempt["is_retry"]
    authority = attempt["authority"]
    assert authority["rule_id"] == "TA-001" and authority["authoritative_source"] == "provider"
    assert authority["rationale"].startswith("The provider bills from its own")
    assert authority["agreement_status"] == "agree"

    # the price row is a dim_price_book row; its per-token prices make the stored cost
    price_key = attempt["price"]["price_key"]
    assert _one(run, f"select count(*) from marts.dim_price_book where price_key = '{price_key}'")
    cost = attempt["cost"]
    components = {line["component"] for line in cost["lines"]}
    assert {"uncached input", "cache read", "output (text)"} <= components
    for line in cost["lines"]:
        assert Decimal(line["tokens"]) * Decimal(line["usd_per_token"]) == Decimal(
            line["amount_usd"]
        )
    assert sum(Decimal(line["amount_usd"]) for line in cost["lines"]) == Decimal(
        cost["sum_exact_usd"]
    )
    assert cost["matches_stored_cost"] is True
    assert Decimal(cost["list_cost_usd"]) == Decimal(truth["list_cost_usd"])
    assert Decimal(cost["effective_cost_usd"]) < Decimal(cost["list_cost_usd"])
    assert cost["contract_id"] is not None

    # the statement line of mart_chargeback_monthly for tenant x month x provider x model x ...
    line = next(
        line
        for line in report["statement_lines"]
        if line["statement_line_key"] == attempt["statement_line_key"]
    )
    assert (line["tenant_id"], line["line_type"], line["workload"]) == (
        truth["tenant_id"],
        "usage",
        truth["workload"],
    )
    assert line["model_id"] == attempt["canonical_model"]
    assert line["billing_month"] == truth["request_date"][:7] + "-01"

    # lineage points at the landing lines that hold the records
    records = {entry["record"].split()[0]: entry for entry in report["lineage"]}
    app_line = _landing_line(run, records["app"]["file"], records["app"]["line"])
    assert json.loads(app_line)["app_request_id"] == request_id
    attempt_entry = next(e for e in report["lineage"] if e["record"].startswith("attempt"))
    span_line = _landing_line(run, attempt_entry["file"], attempt_entry["line"])
    assert attempt["attempt_id"] in span_line
    provider_entry = next(
        e for e in report["lineage"] if e["record"].startswith("provider usage record")
    )
    provider_line = _landing_line(run, provider_entry["file"], provider_entry["line"])
    assert json.loads(provider_line)["response_id"] == attempt["provider_response_id"]

    text = runner.invoke(app, ["explain", request_id])
    assert text.exit_code == 0, text.output
    for expected in (
        request_id,
        "Cost arithmetic",
        "TA-001",
        price_key,
        line["statement_line_key"],
        "Arithmetic reproduces the stored cost",
        records["app"]["file"],
    ):
        assert expected in text.stdout


def test_explain_request_with_retry_and_fallback_shows_every_attempt_and_decision(
    warehouse_env: PipelineRun,
) -> None:
    run = warehouse_env
    request_id = _one(
        run,
        """
        select request_id from marts.fct_ai_requests
        where retry_count > 0 and fallback_count > 0 and has_app_request
            and gateway = 'otel_gateway'
        order by request_id limit 1
        """,
    )
    report = _explain_json(request_id)
    truth = _truth_request(run, request_id)
    attempts = report["attempts"]
    assert len(attempts) == int(truth["attempts"]) == report["request"]["attempt_count"]
    assert [a["routing_decision"] for a in attempts] == truth["routing_decisions"].split("|")
    assert sum(a["is_retry"] for a in attempts) == int(truth["retries"])
    assert sum(a["is_fallback"] for a in attempts) == int(truth["fallbacks"])
    assert [a["is_final_attempt"] for a in attempts] == [False] * (len(attempts) - 1) + [True]
    for failed in attempts[:-1]:
        assert failed["statement_line_type"] == "retry_waste"
        if not failed["is_success"]:
            assert failed["http_status_code"] >= 400 and failed["error_type"]
    assert attempts[-1]["statement_line_type"] == "usage"
    fallback = next(a for a in attempts if a["is_fallback"])
    assert fallback["routing_reason"]
    assert attempts[-1]["provider_id"] == truth["final_provider"]
    assert len(report["gateway_requests"]) == 1
    assert report["gateway_requests"][0]["server_span"] is not None

    # the same trail from a trace id (both spellings) and from the provider's response id
    trace_id = attempts[0]["gateway_request_id"].removeprefix("trace:")
    for identifier in (f"trace:{trace_id}", trace_id, attempts[-1]["provider_response_id"]):
        again = _explain_json(identifier)
        assert again["request"]["request_id"] == request_id
    assert _explain_json(trace_id)["matched_by"] == "trace_id"
    assert (
        _explain_json(attempts[-1]["provider_response_id"])["matched_by"] == "provider_response_id"
    )


def test_explain_token_disagreement_shows_both_counts_and_the_deciding_rule(
    warehouse_env: PipelineRun,
) -> None:
    run = warehouse_env
    attempt_id, request_id = (
        _one(
            run,
            f"select {column} from marts.fct_token_disagreements "
            "where agreement_status = 'disagree' order by attempt_id limit 1",
        )
        for column in ("attempt_id", "request_id")
    )
    report = _explain_json(request_id)
    attempt = next(a for a in report["attempts"] if a["attempt_id"] == attempt_id)
    assert attempt["authority"]["agreement_status"] == "disagree"
    assert attempt["authority"]["rule_id"] == "TA-001"
    assert attempt["authority"]["authoritative_source"] == "provider"
    assert Decimal(attempt["authority"]["tolerance_pct"]) == Decimal("0.5")
    tokens = {entry["token_type"]: entry for entry in attempt["tokens"]}
    differing = [
        entry
        for entry in tokens.values()
        if entry["gateway"] is not None
        and entry["provider"] is not None
        and entry["gateway"] != entry["provider"]
    ]
    assert differing, tokens
    for entry in tokens.values():
        if entry["provider"] is not None:
            assert entry["billed"] == entry["provider"], entry

    text = runner.invoke(app, ["explain", request_id])
    assert "agreement: disagree" in text.stdout
    assert "Rationale: The provider bills from its own" in text.stdout


def test_explain_unpriced_request_gives_the_reason_and_no_price(
    warehouse_env: PipelineRun,
) -> None:
    run = warehouse_env
    request_id, reason = (
        _one(run, f"select {column} from marts.mart_unpriced_requests order by request_id limit 1")
        for column in ("request_id", "pricing_reason")
    )
    report = _explain_json(request_id)
    assert report["request"]["pricing_status"] == "unpriced"
    assert report["request"]["pricing_reason"] == reason
    assert report["request"]["effective_cost_usd"] is None
    unpriced = [a for a in report["attempts"] if a["pricing_status"] == "unpriced"]
    assert unpriced
    for attempt in unpriced:
        assert attempt["price"] is None
        assert attempt["cost"]["lines"] == [] and attempt["cost"]["list_cost_usd"] is None
        assert attempt["statement_line_type"] == "unpriced"
        assert attempt["pricing_reason"]
    text = runner.invoke(app, ["explain", request_id])
    assert "Price: none (unpriced:" in text.stdout
    assert reason in text.stdout


def test_explain_orphan_span_is_found_by_trace_and_says_it_has_no_app_request(
    warehouse_env: PipelineRun,
) -> None:
    run = warehouse_env
    request_id = _one(
        run,
        "select request_id from marts.mart_orphans "
        "where orphan_kind = 'spans_without_app_request' order by request_id limit 1",
    )
    assert request_id.startswith("trace:")
    report = _explain_json(request_id)
    request = report["request"]
    assert request["app_request_id"] is None and request["has_app_request"] is False
    truth = _truth_request(run, request_id)
    assert request["tenant_id"] == truth["tenant_id"]
    assert request["attribution_source"] in ("gateway_key", "provider_key", "unattributed")
    assert report["attempts"], "an orphan span still has its upstream attempts"
    assert not any(entry["record"].startswith("app request") for entry in report["lineage"])
    bare = _explain_json(request_id.removeprefix("trace:"))
    assert bare["request"]["request_id"] == request_id
    text = runner.invoke(app, ["explain", request_id])
    assert "No application logged this request" in text.stdout


def test_explain_app_request_the_gateway_never_saw_has_no_attempt(
    warehouse_env: PipelineRun,
) -> None:
    request_id = _one(
        warehouse_env,
        "select request_id from marts.mart_orphans "
        "where orphan_kind = 'app_request_without_spans' order by request_id limit 1",
    )
    report = _explain_json(request_id)
    assert report["attempts"] == [] and report["statement_lines"] == []
    assert report["request"]["has_gateway_traffic"] is False
    assert report["lineage"][0]["record"] == f"app request {request_id}"


def test_explain_unknown_id_says_so_and_exits_1(warehouse_env: PipelineRun) -> None:
    result = runner.invoke(app, ["explain", "req_does_not_exist_anywhere"])
    assert result.exit_code == 1
    assert "unknown id" in result.output
    assert "req_does_not_exist_anywhere" in result.output
    json_result = runner.invoke(app, ["explain", "0" * 32, "--json"])
    assert json_result.exit_code == 1
    assert json_result.stdout == ""


def test_explain_without_a_warehouse_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AI_CHARGEBACK_DUCKDB", str(tmp_path / "missing.duckdb"))
    result = runner.invoke(app, ["explain", "req_x"])
    assert result.exit_code == 1
    assert "no warehouse" in result.output


def test_explain_refuses_a_non_duckdb_target(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_CHARGEBACK_TARGET", "postgres")
    result = runner.invoke(app, ["explain", "req_x"])
    assert result.exit_code == 1
    assert "DuckDB warehouse only" in result.output
