"""The evidence trail of one request (`ai-chargeback explain <id>`), for the dispute desk.

Accepts an application request id, a gateway trace id (``trace:<id>`` or the bare 32-hex id), a
LiteLLM id (``litellm:<id>``), a provider response id or an attempt (span) id, and walks the
trail that ``marts.mart_request_evidence`` keeps: the application request -> the gateway request
and each upstream attempt -> both token counts and the authority rule that decided -> the price
row and the cost arithmetic, line by line -> the statement line the cost rolled into -> the
landing file and line of every record. The arithmetic is redone here with Decimal and checked
against the stored cost, so the report proves the number instead of repeating it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ai_chargeback.warehouse import (
    connect_read_only,
    decimal_text,
    has_relation,
    jsonable,
    require_relations,
    rows,
    usd,
)

_MONEY_SCALE = Decimal("0.000000000001")  # DECIMAL(38, 12), rounded as DuckDB casts
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_EVIDENCE = "marts.mart_request_evidence"
# (label, billed token count, price-per-token column): the leaf counts of macros/token_cost.sql
_COST_TERMS: tuple[tuple[str, str, str], ...] = (
    ("uncached input", "uncached_input_tokens - input_audio_tokens", "input_price_per_token"),
    ("cache read", "cache_read_tokens", "cache_read_price_per_token"),
    (
        "cache write (5 min)",
        "cache_write_tokens - cache_write_1h_tokens",
        "cache_write_price_per_token",
    ),
    ("cache write (1 h)", "cache_write_1h_tokens", "cache_write_1h_price_per_token"),
    ("input audio", "input_audio_tokens", "input_audio_price_per_token"),
    (
        "output (text)",
        "output_tokens - output_audio_tokens - reasoning_tokens",
        "output_price_per_token",
    ),
    ("output audio", "output_audio_tokens", "output_audio_price_per_token"),
    ("output reasoning", "reasoning_tokens", "output_reasoning_price_per_token"),
)
# (label, gateway column, provider column, billed column)
_TOKEN_ROWS: tuple[tuple[str, str | None, str | None, str], ...] = (
    ("input (incl. cache)", "gateway_input_tokens", None, "input_tokens"),
    (
        "uncached input",
        "gateway_uncached_input_tokens",
        "provider_uncached_input_tokens",
        "uncached_input_tokens",
    ),
    ("cache read", "gateway_cache_read_tokens", "provider_cache_read_tokens", "cache_read_tokens"),
    (
        "cache write",
        "gateway_cache_write_tokens",
        "provider_cache_write_tokens",
        "cache_write_tokens",
    ),
    ("cache write 1 h", None, "provider_cache_write_1h_tokens", "cache_write_1h_tokens"),
    (
        "output (incl. reasoning)",
        "gateway_output_tokens",
        "provider_output_tokens",
        "output_tokens",
    ),
    ("reasoning", "gateway_reasoning_tokens", "provider_reasoning_tokens", "reasoning_tokens"),
)


class UnknownIdError(LookupError):
    """No request, trace, provider response or attempt has this id."""


@dataclass(frozen=True)
class Explanation:
    """Everything the report shows, as plain data (JSON-able through ``to_json``)."""

    query: str
    matched_by: str
    request: dict[str, Any]
    gateway_requests: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    statement_lines: list[dict[str, Any]] = field(default_factory=list)
    lineage: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The explanation as JSON-ready data: money as decimal strings."""
        return jsonable(
            {
                "query": self.query,
                "matched_by": self.matched_by,
                "request": self.request,
                "gateway_requests": self.gateway_requests,
                "attempts": self.attempts,
                "statement_lines": self.statement_lines,
                "lineage": self.lineage,
            }
        )


def resolve(con: duckdb.DuckDBPyConnection, identifier: str) -> tuple[str, str]:
    """The request id an identifier points to, and what it matched (UnknownIdError if none)."""
    ident = identifier.strip()
    lookups: list[tuple[str, str, list[str]]] = [
        ("request_id", f"select request_id from {_EVIDENCE} where request_id = ?", [ident]),
        ("app_request_id", f"select request_id from {_EVIDENCE} where app_request_id = ?", [ident]),
    ]
    trace = ident.removeprefix("trace:").lower()
    if ident.startswith("trace:") or _TRACE_ID.match(ident.lower()):
        lookups.append(
            ("trace_id", f"select request_id from {_EVIDENCE} where trace_id = ?", [trace])
        )
    lookups += [
        (
            "provider_response_id",
            f"select request_id from {_EVIDENCE} where provider_response_id = ?",
            [ident.removeprefix("litellm:")],
        ),
        ("attempt_id", f"select request_id from {_EVIDENCE} where attempt_id = ?", [ident]),
    ]
    for matched_by, sql, params in lookups:
        found = sorted({row["request_id"] for row in rows(con, sql, params)})
        if found:
            return found[0], matched_by
    raise UnknownIdError(
        f"no request, gateway trace, provider response or attempt has the id {identifier!r}"
    )


def explain(identifier: str, *, database: Path | None = None) -> Explanation:
    """Build the evidence trail of the request an id points to (warehouse opened read-only)."""
    con = connect_read_only(database)
    try:
        require_relations(con, _EVIDENCE, "marts.fct_ai_requests", "marts.mart_chargeback_monthly")
        request_id, matched_by = resolve(con, identifier)
        return _build(con, identifier, request_id, matched_by)
    finally:
        con.close()


def _build(
    con: duckdb.DuckDBPyConnection, query: str, request_id: str, matched_by: str
) -> Explanation:
    request = rows(con, "select * from marts.fct_ai_requests where request_id = ?", [request_id])[0]
    evidence = rows(
        con,
        f"""
        select * from {_EVIDENCE}
        where request_id = ?
        order by attempt_started_at nulls first, attempt_number, attempt_id
        """,
        [request_id],
    )
    first = evidence[0]
    tenant = _tenant(con, request["tenant_id"], request["requested_at"])
    request_view = {
        "request_id": request["request_id"],
        "app_request_id": request["app_request_id"],
        "requested_at": request["requested_at"],
        "tenant_id": request["tenant_id"],
        "tenant_name": tenant.get("tenant_name"),
        "cost_center": tenant.get("cost_center"),
        "user_hash": request["user_hash"],
        "workload": request["workload"],
        "feature": request["feature"],
        "prompt_template_id": request["prompt_template_id"],
        "prompt_template_version": request["prompt_template_version"],
        "expected_route": request["expected_route"],
        "expected_model": request["expected_model"],
        "attribution_source": request["attribution_source"],
        "has_app_request": request["has_app_request"],
        "has_gateway_traffic": request["has_gateway_traffic"],
        "is_late_arrival": request["is_late_arrival"],
        "routing_decisions": request["routing_decisions"],
        "attempt_count": request["attempt_count"],
        "retry_count": request["retry_count"],
        "fallback_count": request["fallback_count"],
        "resolved_provider": request["provider_id"],
        "resolved_model": request["model_id"] or request["resolved_model"],
        "pricing_status": request["pricing_status"],
        "pricing_reason": request["pricing_reason"],
        "list_cost_usd": request["list_cost_usd"],
        "effective_cost_usd": request["effective_cost_usd"],
        "retry_waste_usd": request["retry_waste_usd"],
        "fallback_premium_usd": request["fallback_premium_usd"],
    }
    attempt_rows = [row for row in evidence if row["attempt_id"] is not None]
    attempts = [_attempt(row) for row in attempt_rows]
    gateway_requests = _gateway_requests(con, attempt_rows)
    statement_lines = _statement_lines(con, attempt_rows)
    lineage = _lineage(first, attempt_rows, gateway_requests)
    return Explanation(
        query=query,
        matched_by=matched_by,
        request=request_view,
        gateway_requests=gateway_requests,
        attempts=attempts,
        statement_lines=statement_lines,
        lineage=lineage,
    )


def _tenant(con: duckdb.DuckDBPyConnection, tenant_id: str, at: Any) -> dict[str, Any]:
    if not has_relation(con, "marts", "dim_tenants") or at is None:
        return {}
    found = rows(
        con,
        """
        select tenant_name, cost_center from marts.dim_tenants
        where tenant_id = ? and valid_from <= ? and (valid_to is null or ? < valid_to)
        """,
        [tenant_id, at, at],
    )
    return found[0] if found else {}


def _attempt(row: dict[str, Any]) -> dict[str, Any]:
    """One attempt: routing, tokens and authority, price row, arithmetic, statement line."""
    tokens = [
        {
            "token_type": label,
            "gateway": row[gateway] if gateway else None,
            "provider": row[provider] if provider else None,
            "billed": row[billed],
        }
        for label, gateway, provider, billed in _TOKEN_ROWS
    ]
    price = None
    if row["price_key"] is not None:
        price = {
            "price_key": row["price_key"],
            "provider_id": row["price_book_provider_id"],
            "model_id": row["model_id"],
            "model_name": row["price_model_name"],
            "service_tier": row["price_service_tier"],
            "processing": row["price_processing"],
            "effective_from": row["price_effective_from"],
            "effective_to": row["price_effective_to"],
            "time_of_day_from_second": row["price_time_of_day_from_second"],
            "time_of_day_to_second": row["price_time_of_day_to_second"],
            "tier_min_input_tokens": row["tier_min_input_tokens"],
            "source": row["price_source"],
            "usd_per_million_tokens": {
                "input": row["input_mtok"],
                "cache_read": row["cache_read_mtok"],
                "cache_write": row["cache_write_mtok"],
                "cache_write_1h": row["cache_write_1h_mtok"],
                "input_audio": row["input_audio_mtok"],
                "output": row["output_mtok"],
                "output_audio": row["output_audio_mtok"],
                "output_reasoning": row["output_reasoning_mtok"],
            },
        }
    return {
        "attempt_id": row["attempt_id"],
        "gateway_request_id": row["gateway_request_id"],
        "attempt_number": row["attempt_number"],
        "started_at": row["attempt_started_at"],
        "ended_at": row["attempt_ended_at"],
        "duration_ms": row["attempt_duration_ms"],
        "gateway": row["gateway"],
        "route": row["route_name"],
        "provider_id": row["provider_id"],
        "provider_response_id": row["provider_response_id"],
        "provider_project_id": row["provider_project_id"],
        "requested_model": row["requested_model"],
        "resolved_model": row["resolved_model"],
        "canonical_model": row["model_id"],
        "service_tier": row["service_tier"],
        "is_batch": row["is_batch"],
        "is_stream": row["is_stream"],
        "is_success": row["is_success"],
        "http_status_code": row["http_status_code"],
        "error_type": row["error_type"],
        "routing_decision": row["routing_decision"],
        "routing_reason": row["routing_reason"],
        "is_retry": row["is_retry"],
        "is_fallback": row["is_fallback"],
        "is_final_attempt": row["is_final_attempt"],
        "tokens": tokens,
        "authority": {
            "rule_id": row["authority_rule_id"],
            "rule_version": row["authority_rule_version"],
            "priority": row["authority_rule_priority"],
            "condition": row["authority_rule_condition"],
            "tolerance_pct": row["authority_tolerance_pct"],
            "rationale": row["authority_rationale"],
            "authoritative_source": row["authoritative_source"],
            "has_provider_record": row["has_provider_record"],
            "is_usage_estimated": row["is_usage_estimated"],
            "agreement_status": row["agreement_status"],
        },
        "pricing_status": row["attempt_pricing_status"],
        "pricing_reason": row["attempt_pricing_reason"],
        "price": price,
        "cost": _arithmetic(row),
        "statement_line_key": row["statement_line_key"],
        "statement_line_type": row["statement_line_type"],
        "remainder_statement_line_key": row["remainder_statement_line_key"],
    }


def _arithmetic(row: dict[str, Any]) -> dict[str, Any]:
    """Tokens x USD per token = amount, per leaf token type; summed; discount; effective."""
    result: dict[str, Any] = {
        "lines": [],
        "sum_exact_usd": None,
        "list_cost_usd": row["list_cost_usd"],
        "contract_id": row["contract_id"],
        "discount_pct": row["discount_pct"],
        "effective_cost_usd": row["effective_cost_usd"],
        "recomputed_list_cost_usd": None,
        "recomputed_effective_cost_usd": None,
        "matches_stored_cost": None,
    }
    if row["price_key"] is None:
        return result
    total = Decimal(0)
    for label, expression, price_column in _COST_TERMS:
        tokens = _leaf_tokens(row, expression)
        price = row[price_column] if row[price_column] is not None else Decimal(0)
        amount = tokens * price
        total += amount
        if tokens:
            result["lines"].append(
                {
                    "component": label,
                    "tokens": tokens,
                    "usd_per_token": price,
                    "amount_usd": amount,
                }
            )
    list_cost = total.quantize(_MONEY_SCALE, rounding=ROUND_HALF_UP)
    discount = row["discount_pct"] if row["discount_pct"] is not None else Decimal(0)
    effective = (list_cost * (100 - discount) * Decimal("0.01")).quantize(
        _MONEY_SCALE, rounding=ROUND_HALF_UP
    )
    result.update(
        sum_exact_usd=total,
        recomputed_list_cost_usd=list_cost,
        recomputed_effective_cost_usd=effective,
        matches_stored_cost=(
            list_cost == row["list_cost_usd"] and effective == row["effective_cost_usd"]
        ),
    )
    return result


def _leaf_tokens(row: dict[str, Any], expression: str) -> int:
    """Evaluate 'a - b - c' over the row's billed token columns (NULL counts as 0)."""
    names = [name.strip() for name in expression.split(" - ")]
    values = [int(row[name] or 0) for name in names]
    return values[0] - sum(values[1:])


def _gateway_requests(
    con: duckdb.DuckDBPyConnection, attempt_rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each gateway request of the attempts, with its SERVER span when the gateway wrote one."""
    seen: dict[str, dict[str, Any]] = {}
    for row in attempt_rows:
        key = row["gateway_request_id"]
        if key in seen:
            seen[key]["attempt_ids"].append(row["attempt_id"])
            continue
        seen[key] = {
            "gateway_request_id": key,
            "gateway": row["gateway"],
            "trace_id": row["trace_id"],
            "route": row["route_name"],
            "attempt_ids": [row["attempt_id"]],
            "server_span": None,
        }
    if has_relation(con, "staging", "stg_gateway__spans"):
        for entry in seen.values():
            if entry["gateway"] != "otel_gateway" or entry["trace_id"] is None:
                continue
            spans = rows(
                con,
                """
                select span_id, route_name, request_model, response_model, provider_name,
                    http_status_code, error_type, gateway_key_id, header_tenant_id,
                    started_at, ended_at, source_file, source_line_number
                from staging.stg_gateway__spans
                where trace_id = ? and span_kind = 'server'
                order by case when parent_span_id is null or parent_span_id = '' then 0 else 1
                    end, started_at, span_id
                """,
                [entry["trace_id"]],
            )
            entry["server_span"] = spans[0] if spans else None
    return list(seen.values())


def _statement_lines(
    con: duckdb.DuckDBPyConnection, attempt_rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The statement lines the attempts rolled into, as the statement of record shows them."""
    keys = sorted(
        {row["statement_line_key"] for row in attempt_rows if row["statement_line_key"]}
        | {
            row["remainder_statement_line_key"]
            for row in attempt_rows
            if row["remainder_statement_line_key"]
        }
    )
    if not keys:
        return []
    placeholders = ", ".join("?" for _ in keys)
    live = rows(
        con,
        f"""
        select statement_line_key, tenant_id, billing_month, provider_id, line_type, model_id,
            workload, provider_project_id, quantity, quantity_unit, amount_exact_usd, amount_usd
        from marts.mart_chargeback_monthly
        where statement_line_key in ({placeholders})
        order by billing_month, line_type, statement_line_key
        """,
        keys,
    )
    of_record: dict[str, dict[str, Any]] = {}
    adjustments: dict[str, list[dict[str, Any]]] = {}
    if has_relation(con, "marts", "mart_statement_lines"):
        for line in rows(
            con,
            f"""
            select statement_line_key, billing_month, line_type, statement_status, close_id,
                adjusts_statement_line_key, amount_exact_usd, amount_usd
            from marts.mart_statement_lines
            where statement_line_key in ({placeholders})
                or adjusts_statement_line_key in ({placeholders})
            order by billing_month
            """,
            keys + keys,
        ):
            if line["adjusts_statement_line_key"] in keys:
                adjustments.setdefault(line["adjusts_statement_line_key"], []).append(line)
            else:
                of_record[line["statement_line_key"]] = line
    lines = []
    for line in live:
        record = of_record.get(line["statement_line_key"])
        lines.append(
            {
                **line,
                "statement_status": record["statement_status"] if record else "open",
                "close_id": record["close_id"] if record else None,
                "amount_of_record_exact_usd": record["amount_exact_usd"] if record else None,
                "amount_of_record_usd": record["amount_usd"] if record else None,
                "adjustments": adjustments.get(line["statement_line_key"], []),
            }
        )
    return lines


def _lineage(
    first: dict[str, Any],
    attempt_rows: list[dict[str, Any]],
    gateway_requests: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Where each record of the trail was read from (landing file, line)."""
    found: list[dict[str, Any]] = []
    if first["app_request_source_file"]:
        found.append(
            {
                "record": f"app request {first['app_request_id']}",
                "file": first["app_request_source_file"],
                "line": first["app_request_source_line_number"],
            }
        )
    for entry in gateway_requests:
        span = entry["server_span"]
        if span:
            found.append(
                {
                    "record": f"gateway request {entry['gateway_request_id']} (SERVER span"
                    f" {span['span_id']})",
                    "file": span["source_file"],
                    "line": span["source_line_number"],
                }
            )
    for row in attempt_rows:
        kind = "CLIENT span" if row["gateway"] == "otel_gateway" else "spend log row"
        found.append(
            {
                "record": f"attempt {row['attempt_number']} {row['attempt_id']} ({kind})",
                "file": row["attempt_source_file"],
                "line": row["attempt_source_line_number"],
            }
        )
        if row["provider_record_source_file"]:
            found.append(
                {
                    "record": f"provider usage record {row['provider_response_id']}",
                    "file": row["provider_record_source_file"],
                    "line": row["provider_record_source_line_number"],
                }
            )
    return found


def to_json(explanation: Explanation) -> str:
    """The explanation as JSON (money as decimal strings, times ISO 8601)."""
    return json.dumps(explanation.as_dict(), indent=2)


# ---------------------------------------------------------------------------- rich report


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return decimal_text(value) or "-"
    return str(value)


def _fields(pairs: list[tuple[str, Any]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for label, value in pairs:
        table.add_row(label, _text(value))
    return table


def render(explanation: Explanation, console: Console) -> None:
    """Print the report: request, gateway, attempts, tokens, price, statement line, lineage."""
    request = explanation.request
    console.print(
        Panel(
            _fields(
                [
                    ("request", request["request_id"]),
                    ("matched by", f"{explanation.matched_by} = {explanation.query}"),
                    ("requested at (UTC)", request["requested_at"]),
                    ("tenant", f"{request['tenant_id']} ({_text(request['tenant_name'])})"),
                    ("attribution", request["attribution_source"]),
                    ("user (hashed)", request["user_hash"]),
                    (
                        "workload / feature",
                        f"{_text(request['workload'])} / {_text(request['feature'])}",
                    ),
                    (
                        "prompt template",
                        "-"
                        if request["prompt_template_id"] is None
                        else f"{request['prompt_template_id']}"
                        f" v{_text(request['prompt_template_version'])}",
                    ),
                    (
                        "expected route / model",
                        f"{_text(request['expected_route'])} / {_text(request['expected_model'])}",
                    ),
                    (
                        "served by",
                        f"{_text(request['resolved_provider'])} / "
                        f"{_text(request['resolved_model'])}",
                    ),
                    ("routing", request["routing_decisions"] or "-"),
                    (
                        "attempts",
                        f"{request['attempt_count']} ({request['retry_count']} retries, "
                        f"{request['fallback_count']} fallbacks)",
                    ),
                    ("late app request", request["is_late_arrival"]),
                    (
                        "pricing",
                        request["pricing_status"]
                        + (f": {request['pricing_reason']}" if request["pricing_reason"] else ""),
                    ),
                    ("list cost", usd(request["list_cost_usd"], exact=True)),
                    ("effective cost", usd(request["effective_cost_usd"], exact=True)),
                    ("retry waste", usd(request["retry_waste_usd"], exact=True)),
                    ("fallback premium", usd(request["fallback_premium_usd"], exact=True)),
                ]
            ),
            title="Application request",
            title_align="left",
        )
    )
    if not request["has_app_request"]:
        console.print(
            "[yellow]No application logged this request: it is gateway traffic without an "
            "app request (an orphan); its tenant comes from the "
            f"{request['attribution_source']} attribution.[/yellow]"
        )
    if not explanation.attempts:
        console.print("[yellow]The gateway never saw this request: no attempt, no cost.[/yellow]")
    for gateway_request in explanation.gateway_requests:
        _render_gateway_request(gateway_request, console)
        for attempt in explanation.attempts:
            if attempt["gateway_request_id"] == gateway_request["gateway_request_id"]:
                _render_attempt(attempt, console)
    _render_statement_lines(explanation.statement_lines, console)
    lineage = Table(title="Source lineage", title_justify="left")
    lineage.add_column("record")
    lineage.add_column("landing file")
    lineage.add_column("line", justify="right")
    for entry in explanation.lineage:
        lineage.add_row(entry["record"], _text(entry["file"]), _text(entry["line"]))
    console.print(lineage)


def _render_gateway_request(entry: dict[str, Any], console: Console) -> None:
    span = entry["server_span"]
    pairs: list[tuple[str, Any]] = [
        ("gateway", entry["gateway"]),
        ("route", entry["route"]),
        ("attempts", len(entry["attempt_ids"])),
    ]
    if span:
        pairs += [
            ("SERVER span", span["span_id"]),
            ("asked for", span["request_model"]),
            ("answered by", f"{_text(span['provider_name'])} / {_text(span['response_model'])}"),
            ("status", f"HTTP {_text(span['http_status_code'])}"),
            ("error", span["error_type"]),
            ("gateway key", span["gateway_key_id"]),
            ("tenant header", span["header_tenant_id"]),
        ]
    console.print(
        Panel(
            _fields(pairs),
            title=f"Gateway request {entry['gateway_request_id']}",
            title_align="left",
        )
    )


def _render_attempt(attempt: dict[str, Any], console: Console) -> None:
    flags = [
        name
        for name, on in (
            ("retry", attempt["is_retry"]),
            ("fallback", attempt["is_fallback"]),
            ("final", attempt["is_final_attempt"]),
        )
        if on
    ]
    status = "ok" if attempt["is_success"] else "failed"
    header = _fields(
        [
            ("attempt", f"{attempt['attempt_number']} ({attempt['attempt_id']})"),
            (
                "started (UTC)",
                f"{_text(attempt['started_at'])} ({_text(attempt['duration_ms'])} ms)",
            ),
            ("provider", attempt["provider_id"]),
            (
                "model",
                f"asked {_text(attempt['requested_model'])} -> answered "
                f"{_text(attempt['resolved_model'])} (canonical "
                f"{_text(attempt['canonical_model'])})",
            ),
            ("status", f"{status}, HTTP {_text(attempt['http_status_code'])}"),
            ("error", attempt["error_type"]),
            (
                "routing decision",
                f"{attempt['routing_decision']}"
                + (f" ({attempt['routing_reason']})" if attempt["routing_reason"] else ""),
            ),
            ("flags", ", ".join(flags) or "-"),
            ("provider response", attempt["provider_response_id"]),
            ("service tier / batch", f"{attempt['service_tier']} / {_text(attempt['is_batch'])}"),
        ]
    )
    tokens = Table(title="Token counts", title_justify="left")
    tokens.add_column("token type")
    tokens.add_column("gateway", justify="right")
    tokens.add_column("provider", justify="right")
    tokens.add_column("billed", justify="right")
    for entry in attempt["tokens"]:
        tokens.add_row(
            entry["token_type"],
            _text(entry["gateway"]),
            _text(entry["provider"]),
            _text(entry["billed"]),
        )
    authority = attempt["authority"]
    rule = Text.assemble(
        ("Authority: ", "bold"),
        f"rule {authority['rule_id']} v{_text(authority['rule_version'])} (priority "
        f"{_text(authority['priority'])}, condition {_text(authority['condition'])}, tolerance "
        f"{_text(authority['tolerance_pct'])} %) -> the {authority['authoritative_source']}'s "
        f"count is billed; agreement: {authority['agreement_status']}"
        + (", gateway count estimated" if authority["is_usage_estimated"] else "")
        + f"\nRationale: {_text(authority['rationale'])}",
    )
    parts: list[Any] = [header, tokens, rule]
    parts += _price_parts(attempt)
    parts.append(
        Text(
            f"Statement line: {_text(attempt['statement_line_key'])}"
            f" ({_text(attempt['statement_line_type'])})"
            + (
                f"; invoice remainder line: {attempt['remainder_statement_line_key']}"
                if attempt["remainder_statement_line_key"]
                else ""
            )
        )
    )
    title = f"Attempt {attempt['attempt_number']}: {attempt['provider_id']} {status}"
    console.print(Panel(Group(*parts), title=title, title_align="left"))


def _price_parts(attempt: dict[str, Any]) -> list[Any]:
    price = attempt["price"]
    cost = attempt["cost"]
    if price is None:
        reason = attempt["pricing_reason"] or "no price row"
        return [Text(f"Price: none ({attempt['pricing_status']}: {reason})", style="yellow")]
    window = (
        f"{_text(price['effective_from'])} -> {_text(price['effective_to'])}, "
        f"second of day {price['time_of_day_from_second']}-{price['time_of_day_to_second']}"
    )
    row = Text(
        f"Price row {price['price_key']}: {price['provider_id']} / {price['model_id']}"
        f" ({_text(price['model_name'])}), tier {price['service_tier']}, processing "
        f"{price['processing']}, prompt tier >= {price['tier_min_input_tokens']} tokens, "
        f"effective {window}; source {_text(price['source'])}"
    )
    arithmetic = Table(title="Cost arithmetic", title_justify="left")
    arithmetic.add_column("component")
    arithmetic.add_column("tokens", justify="right")
    arithmetic.add_column("x USD per token", justify="right")
    arithmetic.add_column("= USD", justify="right")
    for line in cost["lines"]:
        arithmetic.add_row(
            line["component"],
            f"{line['tokens']:,}",
            _text(line["usd_per_token"]),
            _text(line["amount_usd"]),
        )
    arithmetic.add_row("sum", "", "", _text(cost["sum_exact_usd"]), style="bold")
    arithmetic.add_row("list cost (12 decimals)", "", "", _text(cost["list_cost_usd"]))
    arithmetic.add_row(
        f"contract discount {_text(cost['discount_pct'])} % ({_text(cost['contract_id'])})",
        "",
        "x (100 - discount) %",
        "",
    )
    arithmetic.add_row("effective cost", "", "", _text(cost["effective_cost_usd"]), style="bold")
    check = (
        Text("Arithmetic reproduces the stored cost.", style="green")
        if cost["matches_stored_cost"]
        else Text(
            f"Arithmetic gives list {_text(cost['recomputed_list_cost_usd'])}, effective "
            f"{_text(cost['recomputed_effective_cost_usd'])}: differs from the stored cost.",
            style="red",
        )
    )
    return [row, arithmetic, check]


def _render_statement_lines(lines: list[dict[str, Any]], console: Console) -> None:
    """Each line as the statement of record shows it; a closed one also live, and its adjustments.

    Keys are cut to 12 characters here (the attempt panels and --json carry them whole).
    """
    if not lines:
        return
    table = Table(title="Statement lines this request rolled into", title_justify="left")
    table.add_column("line", no_wrap=True, max_width=13)
    table.add_column("month", no_wrap=True)
    table.add_column("type", overflow="fold")
    table.add_column("model / project", overflow="fold")
    table.add_column("workload", overflow="fold")
    table.add_column("status", overflow="fold")
    table.add_column("amount (exact)", justify="right", no_wrap=True)
    table.add_column("amount", justify="right", no_wrap=True)
    for line in lines:
        closed = line["statement_status"] == "closed"
        table.add_row(
            line["statement_line_key"][:12],
            line["billing_month"].strftime("%Y-%m"),
            line["line_type"],
            _text(line["model_id"] or line["provider_project_id"]),
            _text(line["workload"]),
            f"closed {line['close_id']}" if closed else "open",
            usd(line["amount_of_record_exact_usd" if closed else "amount_exact_usd"], exact=True),
            usd(line["amount_of_record_usd" if closed else "amount_usd"]),
        )
        if closed:
            table.add_row(
                "",
                "",
                "live now",
                "",
                "",
                "",
                usd(line["amount_exact_usd"], exact=True),
                usd(line["amount_usd"]),
                style="dim",
            )
        for adjustment in line["adjustments"]:
            table.add_row(
                adjustment["statement_line_key"][:12],
                adjustment["billing_month"].strftime("%Y-%m"),
                "adjustment",
                "",
                "",
                adjustment["statement_status"],
                usd(adjustment["amount_exact_usd"], exact=True),
                usd(adjustment["amount_usd"]),
            )
    console.print(table)
