"""Per-row Python pricing, the way users price gateway logs today.

Read the landing files with Python (orjson per line), flatten the span attributes into dicts,
join attempts, provider usage, application requests and keys with pandas, and call
``genai_prices.calc_price`` once per attempt. Then sum the effective cost per tenant and month.
It applies the warehouse's rules (skip what the loaders quarantine, provider record before the
gateway's count, unknown cache split = unpriced, contract discounts, tenant from the app log,
else the keys) so its totals can be held next to the marts; the benchmark reports whether they
agree, but only the time is the point.

``days`` limits the run to the first N landing dates (a measured subset for large scales); the
result then covers the attempts of those days only.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import orjson
import pandas as pd
import zstandard
from genai_prices import Usage, calc_price

_COUNT = re.compile(r"[+-]?[0-9]+")
_CLASS_REPR = re.compile(r"^<class '(.*)'>$")
_CENT_PRECISION = Decimal("1e-12")
_COUNT_KEYS = {
    "input": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    "output": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
    "cache_read": ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"),
    "cache_write": (
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
    ),
    "reasoning": ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens"),
    "total": ("llm.usage.total_tokens",),
    "http_status": ("http.response.status_code",),
    "attempt": ("gateway.attempt",),
}


@dataclass
class PerRowResult:
    """What one per-row run did and how long each part took."""

    days: list[str]
    spans: int = 0
    attempts: int = 0
    priced_calls: int = 0
    totals: dict[tuple[str, str], Decimal | None] = field(default_factory=dict)
    requests: dict[tuple[str, str], int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        return gzip.decompress(data)
    if path.name.endswith(".zst"):
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data))
        return reader.read()
    return data


def _files(landing: Path, source: str, days: list[str], pattern: str) -> list[Path]:
    return [p for day in days for p in sorted((landing / source / day).glob(pattern))]


def _text(value: dict | None) -> str | None:
    if value is None:
        return None
    for key in ("stringValue", "intValue", "doubleValue", "boolValue"):
        if key in value:
            found = value[key]
            if isinstance(found, bool):
                return "true" if found else "false"
            return None if found is None else str(found).strip() or None
    array = value.get("arrayValue", {}).get("values") or []
    return (array[0].get("stringValue") or "").strip() or None if array else None


def _first(attributes: dict[str, dict], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if key in attributes:
            return _text(attributes[key])
    return None


def _span_row(span: dict) -> dict | None:
    """One span as a flat row, or None when the loader would quarantine it."""
    attributes = {a.get("key"): a.get("value") or {} for a in span.get("attributes") or []}
    counts: dict[str, int | None] = {}
    for name, keys in _COUNT_KEYS.items():
        text = _first(attributes, keys)
        if text is None:
            counts[name] = None
            continue
        if not _COUNT.fullmatch(text) or int(text) < 0:
            return None
        counts[name] = int(text)
    kind = str(span.get("kind", "")).strip()
    start = str(span.get("startTimeUnixNano", "")).strip()
    trace_id = (span.get("traceId") or "").strip()
    span_id = (span.get("spanId") or "").strip()
    if not (trace_id and span_id and _COUNT.fullmatch(kind) and _COUNT.fullmatch(start)):
        return None
    provider = _first(attributes, ("gen_ai.provider.name", "gen_ai.system"))
    request_model = _first(attributes, ("gen_ai.request.model",))
    if _first(attributes, ("gen_ai.operation.name",)) is None:
        return None
    if kind == "3" and (provider is None or request_model is None):
        return None
    batch = _first(attributes, ("gateway.request.batch",))
    tier = _first(
        attributes, ("openai.response.service_tier", "gen_ai.openai.response.service_tier")
    )
    error = _first(attributes, ("error.type",))
    if error is not None:
        error = _CLASS_REPR.sub(r"\1", error).strip() or None
    status = (span.get("status") or {}).get("code")
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": (span.get("parentSpanId") or "").strip() or None,
        "kind": int(kind),
        "start_ns": int(start),
        "otel_status": int(status) if status is not None and str(status).isdigit() else None,
        "provider_name": provider.lower() if provider else None,
        "request_model": request_model,
        "response_model": _first(attributes, ("gen_ai.response.model",)),
        "response_id": _first(attributes, ("gen_ai.response.id",)),
        "error_type": error,
        "app_request_id": _first(attributes, ("http.request.header.x-request-id",)),
        "gateway_key_id": _first(attributes, ("gateway.api_key.id",)),
        "provider_key_id": _first(attributes, ("gateway.provider_key.id",)),
        "service_tier": (tier or "default").lower(),
        "is_batch": (batch or "").lower() == "true",
        **counts,
    }


def _read_spans(paths: list[Path]) -> pd.DataFrame:
    rows: list[dict] = []
    seen: set[tuple[str, str]] = set()
    for path in paths:
        for line in _read_bytes(path).splitlines():
            try:
                request = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a truncated export line (the loader quarantines it)
            for resource_span in request.get("resourceSpans") or []:
                for scope_span in resource_span.get("scopeSpans") or []:
                    for span in scope_span.get("spans") or []:
                        row = _span_row(span)
                        if row is None or (row["trace_id"], row["span_id"]) in seen:
                            continue
                        seen.add((row["trace_id"], row["span_id"]))
                        rows.append(row)
    return pd.DataFrame(rows)


def _read_jsonl(paths: list[Path]) -> list[dict]:
    records = []
    for path in paths:
        for line in _read_bytes(path).splitlines():
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def _provider_usage(paths: list[Path]) -> pd.DataFrame:
    rows = []
    for record in _read_jsonl(paths):
        provider = (record.get("provider") or "").lower()
        usage = record.get("usage") or {}
        if provider == "openai":
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
            split = (usage["prompt_tokens"] - cached, cached, 0, 0)
            output = usage.get("completion_tokens")
            reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
        elif provider == "anthropic":
            one_hour = (usage.get("cache_creation") or {}).get("ephemeral_1h_input_tokens")
            split = (
                usage.get("input_tokens"),
                usage.get("cache_read_input_tokens") or 0,
                usage.get("cache_creation_input_tokens") or 0,
                one_hour or 0,
            )
            output, reasoning = usage.get("output_tokens"), 0
        else:  # google
            cached = usage.get("cachedContentTokenCount") or 0
            thoughts = usage.get("thoughtsTokenCount") or 0
            split = (usage.get("promptTokenCount", 0) - cached, cached, 0, 0)
            output, reasoning = (usage.get("candidatesTokenCount") or 0) + thoughts, thoughts
        rows.append(
            {
                "provider_name": provider,
                "response_id": record.get("response_id"),
                "p_uncached": split[0],
                "p_cache_read": split[1],
                "p_cache_write": split[2],
                "p_cache_write_1h": split[3],
                "p_output": output,
                "p_reasoning": reasoning or 0,
            }
        )
    frame = pd.DataFrame(rows)
    return frame.drop_duplicates(["provider_name", "response_id"], keep="last")


def _spend_logs(paths: list[Path]) -> pd.DataFrame:
    rows = []
    for path in paths:
        for record in csv.DictReader(io.StringIO(_read_bytes(path).decode("utf-8"))):
            tokens = [record.get(k) or "" for k in ("prompt_tokens", "completion_tokens")]
            if any(t and not _COUNT.fullmatch(t.strip()) for t in tokens):
                continue  # the loader quarantines a bad count
            try:
                metadata = orjson.loads(record.get("metadata") or "{}")
            except orjson.JSONDecodeError:
                continue
            rows.append(
                {
                    "trace_id": None,
                    "span_id": "litellm:" + record["request_id"],
                    "request_id": metadata.get("spend_logs_metadata", {}).get("app_request_id")
                    or "litellm:" + record["request_id"],
                    "gateway_key_id": record.get("api_key") or None,
                    "provider_key_id": None,
                    "provider_name": (record.get("custom_llm_provider") or "").lower(),
                    "model": record["model"],
                    "response_id": record["request_id"],
                    "started_at": datetime.fromisoformat(record["startTime"]).astimezone(UTC),
                    "attempt": 1,
                    "service_tier": "default",
                    "is_batch": False,
                    "is_success": True,
                    "g_uncached": None,
                    "g_cache_read": None,
                    "g_cache_write": None,
                    "g_output": int(tokens[1]) if tokens[1] else None,
                    "g_reasoning": 0,
                }
            )
    return pd.DataFrame(rows)


def _span_attempts(spans: pd.DataFrame) -> pd.DataFrame:
    servers = spans[spans["kind"] == 2].copy()
    servers["is_child"] = servers["parent_span_id"].notna()
    servers = servers.sort_values(["trace_id", "is_child", "start_ns", "span_id"])
    servers = servers.drop_duplicates("trace_id")[["trace_id", "app_request_id", "gateway_key_id"]]
    clients = spans[spans["kind"] == 3].drop(columns=["app_request_id", "gateway_key_id"])
    attempts = clients.merge(servers, on="trace_id", how="left")
    cache_write = attempts["cache_write"].where(
        attempts["cache_write"].notna() | attempts["cache_read"].isna(), 0
    )
    status_ok = attempts["http_status"].isna() | attempts["http_status"].between(200, 299)
    return pd.DataFrame(
        {
            "trace_id": attempts["trace_id"],
            "span_id": attempts["span_id"],
            "request_id": attempts["app_request_id"].fillna("trace:" + attempts["trace_id"]),
            "gateway_key_id": attempts["gateway_key_id"],
            "provider_key_id": attempts["provider_key_id"],
            "provider_name": attempts["provider_name"],
            "model": attempts["response_model"].fillna(attempts["request_model"]),
            "response_id": attempts["response_id"],
            "started_at": pd.to_datetime(attempts["start_ns"] // 1000, unit="us", utc=True),
            "attempt": attempts["attempt"],
            "service_tier": attempts["service_tier"],
            "is_batch": attempts["is_batch"],
            "is_success": attempts["error_type"].isna()
            & status_ok
            & (attempts["otel_status"].fillna(0) != 2),
            "g_uncached": attempts["input"] - attempts["cache_read"] - cache_write,
            "g_cache_read": attempts["cache_read"],
            "g_cache_write": cache_write,
            "g_output": attempts["output"],
            "g_reasoning": attempts["reasoning"].fillna(0),
        }
    )


def _discounts(seeds: Path) -> dict[str, Decimal]:
    with (seeds / "price_overrides.csv").open(newline="") as handle:
        return {
            row["provider_id"]: Decimal(row["discount_pct"])
            for row in csv.DictReader(handle)
            if row["model_id"] == "*"
        }


def _price(attempts: pd.DataFrame, discounts: dict[str, Decimal]) -> tuple[list, int]:
    """Effective cost per attempt (None = unpriced), one calc_price call per billable attempt."""
    costs: list[Decimal | None] = []
    calls = 0
    for row in attempts.itertuples(index=False):
        has_record = not pd.isna(row.p_output) or not pd.isna(row.p_uncached)
        if has_record:
            split = (row.p_uncached, row.p_cache_read, row.p_cache_write, row.p_cache_write_1h)
            output, reasoning = row.p_output, row.p_reasoning
        else:
            split = (row.g_uncached, row.g_cache_read, row.g_cache_write, 0)
            output, reasoning = row.g_output, row.g_reasoning
        if not row.is_success and pd.isna(split[0]) and pd.isna(output):
            costs.append(Decimal(0))  # a failed attempt without usage is not billed
            continue
        if any(pd.isna(v) for v in split) or pd.isna(output):
            costs.append(None)  # unknown cache split: unpriced, never priced as uncached
            continue
        uncached, cache_read, cache_write, cache_write_1h = (int(v) for v in split)
        context: dict[str, str] = {"processing": "batch"} if row.is_batch else {}
        if row.service_tier not in ("default", "standard", "auto"):
            context["service_tier"] = row.service_tier
        calls += 1
        try:
            price = calc_price(
                Usage(
                    input_tokens=uncached + cache_read + cache_write,
                    cache_read_tokens=cache_read,
                    cache_write_tokens=cache_write,
                    cache_write_1h_tokens=cache_write_1h,
                    output_tokens=int(output),
                    output_reasoning_tokens=int(reasoning),
                ),
                row.model,
                provider_id=row.provider_name,
                genai_request_timestamp=row.started_at.to_pydatetime(),
                price_context=context or None,
            ).total_price
        except LookupError:
            costs.append(None)  # a model genai-prices does not know
            continue
        discount = discounts.get(row.provider_name, Decimal(0))
        listed = Decimal(price).quantize(_CENT_PRECISION, ROUND_HALF_UP)
        effective = listed * (100 - discount) * Decimal("0.01")
        costs.append(effective.quantize(_CENT_PRECISION, ROUND_HALF_UP))
    return costs, calls


def _tenant_by_key(requests: pd.DataFrame, keys: pd.DataFrame) -> dict[str, str]:
    """Tenant of each request without an app tenant: gateway key, else provider key."""
    by_id: dict[str, list[tuple]] = defaultdict(list)
    for key in keys.itertuples(index=False):
        row = (key.key_kind, key.tenant_id, key.valid_from, key.valid_to)
        by_id[key.api_key_id].append(row)
        if isinstance(key.key_hash, str) and key.key_hash:
            by_id[key.key_hash].append(row)
    found: dict[str, str] = {}
    for request in requests.itertuples(index=False):
        tenants: dict[str, str] = {}
        for key_id in {request.gateway_key_id, request.provider_key_id} - {None}:
            for kind, tenant, valid_from, valid_to in by_id.get(key_id, []):
                in_window = valid_from <= request.first_at and (
                    pd.isna(valid_to) or request.first_at < valid_to
                )
                if in_window and isinstance(tenant, str) and tenant:
                    tenants[kind] = max(tenants.get(kind, tenant), tenant)
        found[request.request_id] = tenants.get("gateway") or tenants.get("provider") or ""
    return {k: v for k, v in found.items() if v}


def run(landing: Path, seeds: Path, *, days: int | None = None) -> PerRowResult:
    """Price every attempt of the first `days` landing dates (all when None), row by row."""
    all_days = sorted(p.name for p in (landing / "gateway_spans").iterdir() if p.is_dir())
    chosen = all_days[:days] if days else all_days
    result = PerRowResult(days=chosen)
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        result.seconds[name] = now - clock
        clock = now

    spans = _read_spans(_files(landing, "gateway_spans", chosen, "*.jsonl*"))
    result.spans = len(spans)
    lap("read_spans")
    usage = _provider_usage(_files(landing, "provider_response_usage", chosen, "*.jsonl*"))
    spend = _spend_logs(_files(landing, "gateway_spend_logs", chosen, "*.csv*"))
    apps = pd.DataFrame(_read_jsonl(_files(landing, "app_requests", chosen, "*.jsonl*")))
    key_files = sorted((landing / "api_keys").glob("*/*.csv*"))
    keys = pd.read_csv(io.StringIO(_read_bytes(key_files[-1]).decode("utf-8")), dtype=str)
    lap("read_other_sources")

    attempts = pd.concat([_span_attempts(spans), spend], ignore_index=True)
    attempts = attempts.merge(usage, on=["provider_name", "response_id"], how="left")
    result.attempts = len(attempts)
    lap("join")

    costs, result.priced_calls = _price(attempts, _discounts(seeds))
    attempts["effective_cost"] = costs
    lap("calc_price")

    apps = apps[apps["app_request_id"].notna() & apps["ts"].notna()]
    apps = apps.drop_duplicates("app_request_id", keep="last")
    apps["requested_at"] = pd.to_datetime(apps["ts"], utc=True, format="ISO8601")
    attempts = attempts.sort_values(["request_id", "started_at", "attempt"])
    gateway_requests: dict[str, list] = {}  # request -> [first_at, keys of the final, cost]
    for row in attempts[
        ["request_id", "started_at", "gateway_key_id", "provider_key_id", "effective_cost"]
    ].itertuples(index=False):
        found = gateway_requests.get(row.request_id)
        if found is None:
            found = gateway_requests[row.request_id] = [row.started_at, None, None, Decimal(0)]
        found[1], found[2] = row.gateway_key_id, row.provider_key_id  # the final attempt's
        cost = row.effective_cost
        found[3] = None if cost is None or found[3] is None else found[3] + cost
    by_request = pd.DataFrame(
        [(k, *v) for k, v in gateway_requests.items()],
        columns=["request_id", "first_at", "gateway_key_id", "provider_key_id", "cost"],
    )
    requests = by_request.merge(
        apps[["app_request_id", "tenant_id", "requested_at"]],
        left_on="request_id",
        right_on="app_request_id",
        how="outer",
    )
    requests["request_id"] = requests["request_id"].fillna(requests["app_request_id"])
    keys["valid_from"] = pd.to_datetime(keys["valid_from"], utc=True, format="ISO8601")
    keys["valid_to"] = pd.to_datetime(keys["valid_to"], utc=True, format="ISO8601")
    orphans = requests[requests["tenant_id"].isna() & requests["first_at"].notna()]
    key_tenants = _tenant_by_key(orphans, keys)
    for request in requests.itertuples(index=False):
        tenant = request.tenant_id if isinstance(request.tenant_id, str) else None
        tenant = tenant or key_tenants.get(request.request_id, "unattributed")
        when = request.requested_at if not pd.isna(request.requested_at) else request.first_at
        key = (tenant, when.strftime("%Y-%m"))
        # no gateway traffic costs 0; an unpriced attempt makes the request's cost unknown
        cost = Decimal(0) if pd.isna(request.first_at) else request.cost
        result.requests[key] = result.requests.get(key, 0) + 1
        total = result.totals.get(key, Decimal(0))
        result.totals[key] = total + cost if cost is not None else total
    lap("attribute_and_sum")
    return result
