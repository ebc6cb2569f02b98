"""What each landing source looks like: its format, its files and its typed columns.

A source's columns keep the names the source itself uses (snake-cased), so a reader of the raw
schema can hold it next to the provider's documentation; renaming happens in dbt staging.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

# Column kinds and the DuckDB type each is stored as in the raw schema.
COLUMN_TYPES: dict[str, str] = {
    "text": "VARCHAR",
    "count": "BIGINT",  # a non-negative integer (token and request counts)
    "integer": "BIGINT",
    "epoch_nanos": "BIGINT",  # unix nanoseconds (OTLP times), 1970 to 2200
    "decimal": "DECIMAL(38, 12)",  # money: parsed from the source's own text, never via float
    "timestamp": "TIMESTAMPTZ",
    "bool": "BOOLEAN",
    "json": "JSON",
    "double": "DOUBLE",  # never money
}

ATTRIBUTE_MAP_PATH = Path(__file__).resolve().parents[2] / "seeds" / "gateway_attribute_map.csv"


@dataclass(frozen=True)
class Column:
    """One typed column of a raw table; ``path`` is where it is found in the record."""

    name: str
    kind: str
    path: str | None = None
    required: bool = False

    @property
    def source_path(self) -> str:
        return self.path or self.name


@dataclass(frozen=True)
class SourceSpec:
    """A landing source: folder, file-name patterns, format and typed columns."""

    name: str
    folder: str
    file_patterns: tuple[str, ...]
    format: str  # otlp_jsonl | jsonl | csv | json_pages
    columns: tuple[Column, ...]
    description: str
    dedupe_key: tuple[str, ...] = ()
    extra_columns: tuple[Column, ...] = field(default=())

    @property
    def table(self) -> str:
        return self.name

    @property
    def all_columns(self) -> tuple[Column, ...]:
        return self.columns + self.extra_columns


@dataclass(frozen=True)
class AttributeCandidate:
    """One OTLP attribute key that may supply a column, in priority order."""

    column_name: str
    priority: int
    attribute_key: str
    value_kind: str  # string | int | bool | double | string_array
    required_on: str  # '' | any | client | server


_VALUE_KIND_TO_COLUMN_KIND = {
    "string": "text",
    "string_array": "text",
    "int": "count",
    "bool": "bool",
    "double": "double",
}


def load_attribute_map(path: Path = ATTRIBUTE_MAP_PATH) -> list[AttributeCandidate]:
    """Read the span attribute map (configuration, shared with dbt as a seed)."""
    candidates: list[AttributeCandidate] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for line_number, row in enumerate(csv.DictReader(handle), start=2):
            kind = row["value_kind"].strip()
            if kind not in _VALUE_KIND_TO_COLUMN_KIND:
                raise ValueError(
                    f"{path}:{line_number}: value_kind {kind!r} is not one of "
                    f"{sorted(_VALUE_KIND_TO_COLUMN_KIND)}"
                )
            required_on = row["required_on"].strip()
            if required_on not in {"", "any", "client", "server"}:
                raise ValueError(
                    f"{path}:{line_number}: required_on {required_on!r} is not one of "
                    "'', any, client, server"
                )
            candidates.append(
                AttributeCandidate(
                    column_name=row["column_name"].strip(),
                    priority=int(row["priority"]),
                    attribute_key=row["attribute_key"].strip(),
                    value_kind=kind,
                    required_on=required_on,
                )
            )
    candidates.sort(key=lambda c: (c.column_name, c.priority))
    return candidates


def span_attribute_columns(candidates: list[AttributeCandidate]) -> tuple[Column, ...]:
    """The raw columns the attribute map produces, in first-seen order."""
    seen: dict[str, Column] = {}
    kinds: dict[str, set[str]] = {}
    for candidate in candidates:
        kind = _VALUE_KIND_TO_COLUMN_KIND[candidate.value_kind]
        kinds.setdefault(candidate.column_name, set()).add(kind)
        seen.setdefault(candidate.column_name, Column(candidate.column_name, kind))
    mixed = {name: sorted(k) for name, k in kinds.items() if len(k) > 1}
    if mixed:
        raise ValueError(f"attribute map gives one column several kinds: {mixed}")
    return tuple(seen.values())


_SPAN_COLUMNS = (
    Column("trace_id", "text", "traceId", required=True),
    Column("span_id", "text", "spanId", required=True),
    Column("parent_span_id", "text", "parentSpanId"),
    Column("span_name", "text", "name"),
    Column("span_kind", "integer", "kind", required=True),
    Column("start_time_unix_nano", "epoch_nanos", "startTimeUnixNano", required=True),
    Column("end_time_unix_nano", "epoch_nanos", "endTimeUnixNano"),
    Column("status_code", "integer", "status.code"),
    Column("status_message", "text", "status.message"),
    Column("service_name", "text", "resource:service.name"),
    Column("scope_name", "text", "scope.name"),
    Column("scope_version", "text", "scope.version"),
)


def _t(name: str, path: str | None = None, *, required: bool = False) -> Column:
    return Column(name, "text", path, required)


def _n(name: str, path: str | None = None, *, required: bool = False) -> Column:
    return Column(name, "count", path, required)


_OPENAI_USAGE_RESULT = (
    _n("input_tokens"),
    _n("output_tokens"),
    _n("input_cached_tokens"),
    _n("input_audio_tokens"),
    _n("output_audio_tokens"),
    _n("num_model_requests"),
    _t("project_id"),
    _t("user_id"),
    _t("api_key_id"),
    _t("model"),
    Column("batch", "bool"),
    _t("service_tier"),
    # newer, drifted fields (optional)
    _n("input_uncached_tokens"),
    _n("input_text_tokens"),
    _n("input_cached_text_tokens"),
    _n("input_image_tokens"),
    _n("input_cached_image_tokens"),
    _n("input_cached_audio_tokens"),
    _n("output_text_tokens"),
    _n("output_image_tokens"),
    _t("api_source"),
)

_ANTHROPIC_USAGE_RESULT = (
    _n("uncached_input_tokens"),
    _n("cache_creation_ephemeral_1h_input_tokens", "cache_creation.ephemeral_1h_input_tokens"),
    _n("cache_creation_ephemeral_5m_input_tokens", "cache_creation.ephemeral_5m_input_tokens"),
    _n("cache_read_input_tokens"),
    _n("server_tool_use_web_search_requests", "server_tool_use.web_search_requests"),
    _t("workspace_id"),
    _t("context_window"),
)


def _merge(*groups: tuple[Column, ...]) -> tuple[Column, ...]:
    merged: dict[str, Column] = {}
    for group in groups:
        for column in group:
            merged.setdefault(column.name, column)
    return tuple(merged.values())


_PAGE_COMMON = (
    _t("provider", required=True),
    Column("bucket_start_time", "timestamp", required=True),
    Column("bucket_end_time", "timestamp", required=True),
    Column("result_json", "json"),
)

SOURCES: dict[str, SourceSpec] = {}


def _register(spec: SourceSpec) -> SourceSpec:
    SOURCES[spec.name] = spec
    return spec


GATEWAY_SPANS = _register(
    SourceSpec(
        name="gateway_spans",
        folder="gateway_spans",
        file_patterns=("*.jsonl", "*.jsonl.gz", "*.jsonl.zst", "*.json", "*.json.gz"),
        format="otlp_jsonl",
        columns=_SPAN_COLUMNS,
        extra_columns=span_attribute_columns(load_attribute_map()),
        dedupe_key=("trace_id", "span_id"),
        description="OTLP JSON spans of the AI gateway (one SERVER span per request, "
        "one CLIENT span per upstream attempt), attributes mapped by gateway_attribute_map.",
    )
)

GATEWAY_SPEND_LOGS = _register(
    SourceSpec(
        name="gateway_spend_logs",
        folder="gateway_spend_logs",
        file_patterns=("*.csv", "*.csv.gz", "*.csv.zst"),
        format="csv",
        columns=(
            _t("request_id", required=True),
            _t("call_type"),
            _t("api_key"),
            Column("spend", "decimal"),
            _n("prompt_tokens"),
            _n("completion_tokens"),
            _n("total_tokens"),
            Column("start_time", "timestamp", "startTime", required=True),
            Column("end_time", "timestamp", "endTime"),
            _t("model", required=True),
            _t("model_group"),
            _t("custom_llm_provider"),
            _t("api_base"),
            _t("litellm_user", "user"),
            _t("team_id"),
            _t("end_user"),
            Column("request_tags", "json"),
            Column("metadata", "json"),
            _t("cache_hit"),
        ),
        description="LiteLLM_SpendLogs export of the legacy gateway (one row per request).",
    )
)

APP_REQUESTS = _register(
    SourceSpec(
        name="app_requests",
        folder="app_requests",
        file_patterns=("*.jsonl", "*.jsonl.gz", "*.jsonl.zst"),
        format="jsonl",
        columns=(
            _t("app_request_id", required=True),
            Column("ts", "timestamp", required=True),
            _t("tenant_id"),
            _t("user_id"),
            _t("workload"),
            _t("feature"),
            _t("prompt_template_id"),
            _t("prompt_template_version"),
            _t("expected_route"),
            _t("expected_model"),
        ),
        description="Request logs written by each product (one JSON object per request).",
    )
)

PROVIDER_RESPONSE_USAGE = _register(
    SourceSpec(
        name="provider_response_usage",
        folder="provider_response_usage",
        file_patterns=("*.jsonl", "*.jsonl.gz", "*.jsonl.zst"),
        format="jsonl",
        columns=(
            _t("provider", required=True),
            _t("response_id", required=True),
            _t("model", required=True),
            Column("created_at", "timestamp", required=True),
            _t("service_tier"),
            Column("batch", "bool"),
            _t("project_id"),
            _t("api_key_id"),
            # OpenAI usage object
            _n("usage_prompt_tokens", "usage.prompt_tokens"),
            _n("usage_completion_tokens", "usage.completion_tokens"),
            _n("usage_total_tokens", "usage.total_tokens"),
            _n("usage_prompt_cached_tokens", "usage.prompt_tokens_details.cached_tokens"),
            _n("usage_prompt_audio_tokens", "usage.prompt_tokens_details.audio_tokens"),
            _n(
                "usage_completion_reasoning_tokens",
                "usage.completion_tokens_details.reasoning_tokens",
            ),
            _n("usage_completion_audio_tokens", "usage.completion_tokens_details.audio_tokens"),
            # Anthropic usage object
            _n("usage_input_tokens", "usage.input_tokens"),
            _n("usage_output_tokens", "usage.output_tokens"),
            _n("usage_cache_read_input_tokens", "usage.cache_read_input_tokens"),
            _n("usage_cache_creation_input_tokens", "usage.cache_creation_input_tokens"),
            _n(
                "usage_cache_creation_5m_input_tokens",
                "usage.cache_creation.ephemeral_5m_input_tokens",
            ),
            _n(
                "usage_cache_creation_1h_input_tokens",
                "usage.cache_creation.ephemeral_1h_input_tokens",
            ),
            # Google usageMetadata
            _n("usage_prompt_token_count", "usage.promptTokenCount"),
            _n("usage_cached_content_token_count", "usage.cachedContentTokenCount"),
            _n("usage_candidates_token_count", "usage.candidatesTokenCount"),
            _n("usage_thoughts_token_count", "usage.thoughtsTokenCount"),
            _n("usage_total_token_count", "usage.totalTokenCount"),
            Column("usage_json", "json", "usage"),
        ),
        description="Per-response usage records captured on the provider side, in each "
        "provider's own usage shape.",
    )
)

PROVIDER_USAGE_BUCKETS = _register(
    SourceSpec(
        name="provider_usage_buckets",
        folder="provider_usage_buckets",
        file_patterns=("*.json", "*.json.gz"),
        format="json_pages",
        columns=_merge(_PAGE_COMMON, _OPENAI_USAGE_RESULT, _ANTHROPIC_USAGE_RESULT),
        description="OpenAI organization usage (completions) pages and Anthropic usage "
        "report pages: one row per bucket x group.",
    )
)

PROVIDER_COSTS = _register(
    SourceSpec(
        name="provider_costs",
        folder="provider_costs",
        file_patterns=("*.json", "*.json.gz"),
        format="json_pages",
        columns=_merge(
            _PAGE_COMMON,
            (
                Column("amount_value", "decimal", "amount.value"),
                _t("amount_currency", "amount.currency"),
                _t("line_item"),
                _t("project_id"),
                _t("organization_id"),
                Column("amount", "decimal"),
                _t("currency"),
                _t("workspace_id"),
                _t("description"),
                _t("cost_type"),
                _t("context_window"),
                _t("model"),
                _t("service_tier"),
                _t("token_type"),
            ),
        ),
        description="OpenAI costs API pages (amount.value in USD) and Anthropic cost report "
        "pages (amount as a decimal string in cents).",
    )
)

PROVIDER_INVOICE_LINES = _register(
    SourceSpec(
        name="provider_invoice_lines",
        folder="provider_costs",
        file_patterns=("*invoice*.csv", "*invoice*.csv.gz"),
        format="csv",
        columns=(
            _t("provider", "_provider"),
            _t("billing_account_id", required=True),
            _t("service_description"),
            _t("sku_description", required=True),
            Column("usage_start_date", "timestamp", required=True),
            Column("usage_end_date", "timestamp", required=True),
            _t("project_id"),
            Column("usage_amount", "decimal"),
            _t("usage_unit"),
            Column("cost_usd", "decimal", required=True),
            _t("currency"),
        ),
        description="Invoice CSVs of providers with no costs API (one row per invoice line).",
    )
)

TENANTS = _register(
    SourceSpec(
        name="tenants",
        folder="tenants",
        file_patterns=("*.csv", "*.csv.gz"),
        format="csv",
        columns=(
            _t("tenant_id", required=True),
            _t("tenant_name"),
            _t("cost_center"),
            _t("business_unit"),
            _t("plan"),
            _t("owner_email"),
            Column("valid_from", "timestamp", required=True),
            Column("valid_to", "timestamp"),
        ),
        description="Tenant directory with history (one row per tenant version).",
    )
)

API_KEYS = _register(
    SourceSpec(
        name="api_keys",
        folder="api_keys",
        file_patterns=("*.csv", "*.csv.gz"),
        format="csv",
        columns=(
            _t("api_key_id", required=True),
            _t("key_hash"),
            _t("key_kind"),
            _t("provider"),
            _t("tenant_id"),
            _t("project_id"),
            Column("valid_from", "timestamp", required=True),
            Column("valid_to", "timestamp"),
        ),
        description="API key inventory with rotation windows (one row per key version).",
    )
)
