"""What the synthetic AI gateway serves: providers, models, tenants, workloads, episodes, faults.

Everything the generator simulates is declared here, as constants, so a reader can see the
whole traffic mix on one page. Models are real genai-prices models (checked in the tests);
`acme-rewrite-llama-3.1-8b-ft` is a self-hosted fine-tune genai-prices does not know, so its
requests must come out of the warehouse as unpriced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal

# --- money ---------------------------------------------------------------------------------

# Contract discount off list price, per provider. The price_overrides seed mirrors this table.
CONTRACT_DISCOUNTS: dict[str, Decimal] = {
    "openai": Decimal("0"),
    "anthropic": Decimal("0.08"),
    "google": Decimal("0.05"),
}

# --- providers -----------------------------------------------------------------------------

PROVIDERS: tuple[str, ...] = ("openai", "anthropic", "google", "vllm")
# Providers that send a per-response usage record (captured `usage` objects / invocation logs).
PROVIDERS_WITH_RESPONSE_USAGE: frozenset[str] = frozenset({"openai", "anthropic"})
# Providers whose usage reports prompt caching at all.
PROVIDERS_WITH_CACHE: frozenset[str] = frozenset({"openai", "anthropic", "google"})

SERVER_ADDRESS: dict[str, str] = {
    "openai": "api.openai.com",
    "anthropic": "api.anthropic.com",
    "google": "generativelanguage.googleapis.com",
    "vllm": "vllm.ml-platform.svc.cluster.local",
}

# Upstream failure: base probability per attempt, and (status code, weight) when it fails.
BASE_FAILURE_RATE: dict[str, float] = {
    "openai": 0.02,
    "anthropic": 0.03,
    "google": 0.02,
    "vllm": 0.04,
}
BATCH_FAILURE_RATE = 0.004
FAILURE_STATUSES: dict[str, tuple[tuple[int, float], ...]] = {
    "openai": ((429, 0.6), (500, 0.2), (503, 0.2)),
    "anthropic": ((429, 0.45), (529, 0.4), (500, 0.15)),
    "google": ((429, 0.6), (503, 0.3), (500, 0.1)),
    "vllm": ((503, 1.0),),
}
# error.type as the gateway records it: (plain name, stringified exception class).
ERROR_TYPES: dict[tuple[str, int], tuple[str, str]] = {
    ("openai", 429): ("rate_limit_exceeded", "<class 'openai.RateLimitError'>"),
    ("openai", 500): ("server_error", "<class 'openai.InternalServerError'>"),
    ("openai", 503): ("service_unavailable", "<class 'openai.InternalServerError'>"),
    ("anthropic", 429): ("rate_limit_error", "<class 'anthropic.RateLimitError'>"),
    ("anthropic", 500): ("api_error", "<class 'anthropic.InternalServerError'>"),
    ("anthropic", 503): ("api_error", "<class 'anthropic.InternalServerError'>"),
    ("anthropic", 529): ("overloaded_error", "<class 'anthropic.InternalServerError'>"),
    ("google", 429): ("RESOURCE_EXHAUSTED", "<class 'google.genai.errors.ClientError'>"),
    ("google", 500): ("INTERNAL", "<class 'google.genai.errors.ServerError'>"),
    ("google", 503): ("UNAVAILABLE", "<class 'google.genai.errors.ServerError'>"),
    ("vllm", 503): ("service_unavailable", "<class 'openai.InternalServerError'>"),
}
STRINGIFIED_ERROR_SHARE = 0.35

# --- models --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """A model the gateway can call: the alias apps ask for and the snapshots that answer."""

    key: str
    provider: str
    request_name: str  # what the app / gateway asks for (`gen_ai.request.model`)
    snapshots: tuple[str, ...]  # what the provider answers with (`gen_ai.response.model`)
    snapshot_weights: tuple[float, ...]
    price_ref: str | None  # genai-prices model ref; None: genai-prices does not know it
    display: str  # name used on invoices
    input_factor: float = 1.0  # tokenizer difference against the request's base token count
    ttft_ms: float = 450.0
    tpot_ms: float = 15.0
    reasoning_share: tuple[float, float] = (0.0, 0.0)  # reasoning tokens as a share of output


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "gpt-4o",
        "openai",
        "gpt-4o",
        ("gpt-4o-2024-08-06", "gpt-4o-2024-11-20"),
        (0.7, 0.3),
        "gpt-4o",
        "GPT-4o",
        ttft_ms=420,
        tpot_ms=14,
    ),
    ModelSpec(
        "gpt-4o-mini",
        "openai",
        "gpt-4o-mini",
        ("gpt-4o-mini-2024-07-18",),
        (1.0,),
        "gpt-4o-mini",
        "GPT-4o mini",
        ttft_ms=300,
        tpot_ms=8,
    ),
    ModelSpec(
        "gpt-4.1",
        "openai",
        "gpt-4.1",
        ("gpt-4.1-2025-04-14",),
        (1.0,),
        "gpt-4.1",
        "GPT-4.1",
        ttft_ms=450,
        tpot_ms=15,
    ),
    ModelSpec(
        "gpt-4.1-mini",
        "openai",
        "gpt-4.1-mini",
        ("gpt-4.1-mini-2025-04-14",),
        (1.0,),
        "gpt-4.1-mini",
        "GPT-4.1 mini",
        ttft_ms=320,
        tpot_ms=9,
    ),
    ModelSpec(
        "o3-mini",
        "openai",
        "o3-mini",
        ("o3-mini-2025-01-31",),
        (1.0,),
        "o3-mini",
        "o3-mini",
        ttft_ms=1800,
        tpot_ms=7,
        reasoning_share=(0.45, 0.8),
    ),
    ModelSpec(
        "claude-sonnet-4",
        "anthropic",
        "claude-sonnet-4-0",
        ("claude-sonnet-4-20250514",),
        (1.0,),
        "claude-sonnet-4-20250514",
        "Claude Sonnet 4",
        input_factor=1.08,
        ttft_ms=650,
        tpot_ms=16,
    ),
    ModelSpec(
        "claude-3-5-haiku",
        "anthropic",
        "claude-3-5-haiku-latest",
        ("claude-3-5-haiku-20241022",),
        (1.0,),
        "claude-3-5-haiku-20241022",
        "Claude Haiku 3.5",
        input_factor=1.08,
        ttft_ms=380,
        tpot_ms=9,
    ),
    ModelSpec(
        "claude-opus-4",
        "anthropic",
        "claude-opus-4-0",
        ("claude-opus-4-20250514",),
        (1.0,),
        "claude-opus-4-20250514",
        "Claude Opus 4",
        input_factor=1.08,
        ttft_ms=900,
        tpot_ms=28,
    ),
    ModelSpec(
        "gemini-2.5-pro",
        "google",
        "gemini-2.5-pro",
        ("gemini-2.5-pro",),
        (1.0,),
        "gemini-2.5-pro",
        "Gemini 2.5 Pro",
        input_factor=0.96,
        ttft_ms=900,
        tpot_ms=11,
        reasoning_share=(0.15, 0.45),
    ),
    ModelSpec(
        "gemini-2.5-flash",
        "google",
        "gemini-2.5-flash",
        ("gemini-2.5-flash",),
        (1.0,),
        "gemini-2.5-flash",
        "Gemini 2.5 Flash",
        input_factor=0.96,
        ttft_ms=350,
        tpot_ms=5,
        reasoning_share=(0.0, 0.25),
    ),
    ModelSpec(
        "acme-rewrite-ft",
        "vllm",
        "acme-rewrite-llama-3.1-8b-ft",
        ("acme-rewrite-llama-3.1-8b-ft",),
        (1.0,),
        None,
        "Self-hosted rewrite fine-tune",
        input_factor=1.02,
        ttft_ms=120,
        tpot_ms=6,
    ),
)
MODEL_INDEX: dict[str, int] = {m.key: i for i, m in enumerate(MODELS)}
UNKNOWN_MODEL_KEY = "acme-rewrite-ft"

# Cache minimums (tokens) under which a provider does not cache a prompt prefix.
OPENAI_CACHE_MIN = 1024
OPENAI_CACHE_STEP = 128
ANTHROPIC_CACHE_MIN = 1024
GOOGLE_CACHE_MIN = 2048

# --- routing -------------------------------------------------------------------------------

ROUTING_DECISIONS: tuple[str, ...] = (
    "primary",
    "retry_after_error",
    "fallback_after_error",
    "latency_based",
    "policy_model_switch",
    "load_balance",
)
PRIMARY, RETRY, FALLBACK, LATENCY, POLICY, LOAD_BALANCE = range(6)
MAX_ATTEMPTS = 4
FALLBACK_AFTER_ERROR_SHARE = 0.35  # share of failures on a route with a fallback that fall back

# Token-attribute dialects of the CLIENT spans (docs/landing_formats.md).
DIALECTS: tuple[str, ...] = ("current", "contrib_openai_v2", "openllmetry_legacy")
CURRENT, CONTRIB, LEGACY = range(3)

# --- tenants and workloads -----------------------------------------------------------------


@dataclass(frozen=True)
class WorkloadSpec:
    """One product workload: its route, model, prompt template and token profile."""

    workload: str
    features: tuple[str, ...]
    template_id: str
    template_version: int
    route: str
    model: str
    share: float
    prompt_median: int
    prompt_sigma: float
    output_median: int
    output_sigma: float = 0.5
    strategy: int = PRIMARY  # PRIMARY | LATENCY | LOAD_BALANCE for the first attempt
    alt_model: str | None = None  # the other candidate of a latency-based route
    alt_share: float = 0.0
    fallback_model: str | None = None
    policy_model: str | None = None  # long prompts switch to this model
    policy_threshold: int = 0
    long_prompt_share: float = 0.0  # prompts of 205k-420k tokens
    cache_hit: float = 0.0
    cache_write: float = 0.0  # Anthropic: share of requests that write the cache
    cache_1h_share: float = 0.0  # Anthropic: share of writes with the 1-hour TTL
    stream_share: float = 0.0
    batch_share: float = 0.0
    dialects: tuple[float, float, float] = (1.0, 0.0, 0.0)
    night: bool = False  # batch jobs run at night (UTC)


@dataclass(frozen=True)
class TenantChange:
    """A new SCD2 version of a tenant: `field` takes `value` at the start of a day."""

    field: str
    value: str
    day_fraction: float


@dataclass(frozen=True)
class TenantSpec:
    """An internal product team billed for its AI usage."""

    tenant_id: str
    name: str
    cost_center: str
    business_unit: str
    plan: str
    owner_email: str
    weight: float
    ts_suffix: str  # offset its app writes into `ts` ("Z", "+00:00", "-05:00", ...)
    gateway: str  # "spans" (the AI gateway) or "litellm" (the legacy LiteLLM proxy)
    n_users: int
    workloads: tuple[WorkloadSpec, ...]
    changes: tuple[TenantChange, ...] = field(default=())


_W = WorkloadSpec
TENANTS: tuple[TenantSpec, ...] = (
    TenantSpec(
        "search",
        "Search",
        "CC-1040",
        "Consumer Products",
        "enterprise",
        "maria.garcia@corp.example",
        0.22,
        "Z",
        "spans",
        40,
        (
            _W(
                "answer-synthesis",
                ("answer-box", "follow-up"),
                "search-answer",
                3,
                "search-answer",
                "gpt-4o",
                0.55,
                3200,
                0.5,
                320,
                cache_hit=0.55,
                stream_share=0.6,
                dialects=(0.6, 0.3, 0.1),
            ),
            _W(
                "query-rewrite",
                ("query-expansion", "spelling"),
                "search-rewrite",
                7,
                "search-rewrite",
                "gpt-4o-mini",
                0.35,
                650,
                0.4,
                45,
                fallback_model="claude-opus-4",
                dialects=(0.7, 0.3, 0.0),
            ),
            _W(
                "catalog-enrichment",
                ("product-attributes",),
                "catalog-enrich",
                2,
                "search-batch",
                "gpt-4.1-mini",
                0.10,
                1400,
                0.4,
                220,
                batch_share=1.0,
                night=True,
            ),
        ),
        (TenantChange("cost_center", "CC-1045", 0.6),),
    ),
    TenantSpec(
        "support-copilot",
        "Support Copilot",
        "CC-2210",
        "Customer Operations",
        "enterprise",
        "kenji.watanabe@corp.example",
        0.16,
        "+00:00",
        "litellm",
        60,
        (
            _W(
                "ticket-triage",
                ("triage", "routing"),
                "support-triage",
                12,
                "support-triage",
                "claude-3-5-haiku",
                0.5,
                1800,
                0.5,
                110,
                cache_hit=0.6,
                cache_write=0.2,
            ),
            _W(
                "reply-draft",
                ("reply-suggestion", "tone-rewrite"),
                "support-reply",
                5,
                "support-reply",
                "gpt-4o-mini",
                0.5,
                2600,
                0.5,
                300,
                cache_hit=0.45,
            ),
        ),
    ),
    TenantSpec(
        "sales-assist",
        "Sales Assist",
        "CC-3105",
        "Revenue",
        "growth",
        "olivia.brown@corp.example",
        0.14,
        "-05:00",
        "spans",
        25,
        (
            _W(
                "account-research",
                ("account-brief",),
                "account-brief",
                4,
                "sales-research",
                "claude-sonnet-4",
                0.35,
                28000,
                1.0,
                900,
                0.4,
                policy_model="gemini-2.5-pro",
                policy_threshold=150_000,
                long_prompt_share=0.08,
                cache_hit=0.3,
                cache_write=0.3,
                cache_1h_share=0.3,
                stream_share=0.3,
                dialects=(0.8, 0.0, 0.2),
            ),
            _W(
                "email-draft",
                ("outreach-email", "follow-up-email"),
                "outreach",
                9,
                "sales-email",
                "claude-sonnet-4",
                0.4,
                4200,
                0.5,
                420,
                strategy=LOAD_BALANCE,
                cache_hit=0.5,
                cache_write=0.25,
                cache_1h_share=0.35,
                stream_share=0.5,
            ),
            _W(
                "deal-scoring",
                ("deal-risk",),
                "deal-score",
                2,
                "sales-scoring",
                "o3-mini",
                0.25,
                2100,
                0.4,
                1400,
                dialects=(0.5, 0.5, 0.0),
            ),
        ),
        (TenantChange("plan", "enterprise", 0.3),),
    ),
    TenantSpec(
        "docs-qa",
        "Docs Q&A",
        "CC-4020",
        "Developer Experience",
        "growth",
        "samir.haddad@corp.example",
        0.14,
        "+01:00",
        "spans",
        30,
        (
            _W(
                "rag-answer",
                ("docs-chat",),
                "docs-answer",
                6,
                "docs-answer",
                "gemini-2.5-flash",
                0.7,
                6000,
                0.5,
                380,
                strategy=LATENCY,
                alt_model="gpt-4.1-mini",
                alt_share=0.3,
                cache_hit=0.35,
                stream_share=0.7,
            ),
            _W(
                "page-summary",
                ("tldr",),
                "docs-summary",
                3,
                "docs-summary",
                "gemini-2.5-pro",
                0.3,
                14000,
                0.6,
                600,
                long_prompt_share=0.03,
            ),
        ),
    ),
    TenantSpec(
        "code-review",
        "Code Review",
        "CC-5030",
        "Engineering Productivity",
        "enterprise",
        "lena.fischer@corp.example",
        0.10,
        "Z",
        "spans",
        45,
        (
            _W(
                "pr-review",
                ("review-comments",),
                "pr-review",
                11,
                "code-review",
                "claude-sonnet-4",
                0.6,
                16000,
                0.6,
                850,
                fallback_model="gpt-4.1",
                cache_hit=0.6,
                cache_write=0.25,
                cache_1h_share=0.7,
                dialects=(0.7, 0.0, 0.3),
            ),
            _W(
                "pr-summary",
                ("pr-description",),
                "pr-summary",
                4,
                "code-summary",
                "gpt-4.1",
                0.4,
                5200,
                0.5,
                280,
                cache_hit=0.4,
                stream_share=0.3,
            ),
        ),
    ),
    TenantSpec(
        "marketing-gen",
        "Marketing Generation",
        "CC-6110",
        "Marketing",
        "growth",
        "chloe.martin@corp.example",
        0.10,
        "+01:00",
        "spans",
        15,
        (
            _W(
                "copy-gen",
                ("ad-copy", "landing-copy"),
                "ad-copy",
                8,
                "marketing-copy",
                "gpt-4o",
                0.7,
                1200,
                0.5,
                650,
                stream_share=0.8,
                dialects=(0.4, 0.6, 0.0),
            ),
            _W(
                "image-caption",
                ("alt-text",),
                "alt-text",
                2,
                "marketing-caption",
                "gemini-2.5-flash",
                0.3,
                900,
                0.4,
                120,
            ),
        ),
        (TenantChange("business_unit", "Brand & Growth", 0.5),),
    ),
    TenantSpec(
        "legal-review",
        "Legal Review",
        "CC-7005",
        "Legal",
        "enterprise",
        "david.cohen@corp.example",
        0.06,
        "-08:00",
        "spans",
        8,
        (
            _W(
                "contract-review",
                ("redline",),
                "contract-review",
                5,
                "legal-contract",
                "claude-opus-4",
                0.5,
                42000,
                0.6,
                1500,
                cache_hit=0.5,
                cache_write=0.3,
                cache_1h_share=0.5,
            ),
            _W(
                "clause-extract",
                ("clause-table",),
                "clause-extract",
                3,
                "legal-clauses",
                "gpt-4.1",
                0.5,
                9000,
                0.5,
                400,
                fallback_model="claude-sonnet-4",
            ),
        ),
    ),
    TenantSpec(
        "data-platform",
        "Data Platform",
        "CC-8001",
        "Platform Engineering",
        "internal",
        "arjun.mehta@corp.example",
        0.08,
        "+00:00",
        "spans",
        6,
        (
            _W(
                "batch-classify",
                ("ticket-labels",),
                "classify",
                14,
                "platform-batch",
                "gpt-4o-mini",
                0.5,
                800,
                0.3,
                30,
                0.4,
                batch_share=1.0,
                night=True,
            ),
            _W(
                "batch-summarize",
                ("weekly-digest",),
                "digest",
                3,
                "platform-batch-google",
                "gemini-2.5-flash",
                0.3,
                5000,
                0.5,
                350,
                batch_share=1.0,
                night=True,
            ),
            _W(
                "pipeline-qa",
                ("sql-explain",),
                "sql-explain",
                2,
                "platform-qa",
                "gpt-4.1-mini",
                0.2,
                1500,
                0.5,
                200,
                cache_hit=0.3,
            ),
        ),
    ),
)

# Requests sent with the shared platform key (a playground): no app request, no tenant.
PLATFORM_TENANT = TenantSpec(
    "",
    "Platform playground",
    "",
    "",
    "",
    "",
    0.0,
    "Z",
    "spans",
    0,
    (
        _W(
            "platform-playground",
            ("playground",),
            "",
            0,
            "platform-playground",
            "gpt-4o-mini",
            1.0,
            900,
            0.6,
            250,
            stream_share=0.5,
        ),
    ),
)
UNATTRIBUTED = "unattributed"

# Request volume by UTC hour (business hours in Europe and the Americas) and for night batches.
HOURLY_WEIGHTS: tuple[float, ...] = (
    2,
    1.5,
    1.2,
    1,
    1,
    1.2,
    2,
    3.5,
    5.5,
    7,
    8,
    8.5,
    8.5,
    9,
    9.5,
    9.5,
    9,
    8,
    6.5,
    5,
    4,
    3.5,
    3,
    2.5,
)
NIGHT_HOURS: tuple[int, ...] = (1, 2, 3, 4)
WEEKDAY_FACTOR: tuple[float, ...] = (1.1, 1.12, 1.12, 1.1, 1.05, 0.72, 0.69)  # Mon..Sun

FIRST_NAMES: tuple[str, ...] = (
    "alice",
    "bob",
    "carla",
    "daniel",
    "elena",
    "farid",
    "grace",
    "hiro",
    "ines",
    "jonas",
    "kavya",
    "liam",
    "mei",
    "nadia",
    "omar",
    "priya",
    "quentin",
    "rosa",
    "sven",
    "tara",
)
LAST_NAMES: tuple[str, ...] = (
    "smith",
    "nguyen",
    "kowalski",
    "okafor",
    "rossi",
    "tanaka",
    "dubois",
    "silva",
    "novak",
    "larsen",
    "ahmed",
    "jensen",
    "moreau",
    "ivanova",
    "kim",
    "patel",
)
EMAIL_DOMAIN = "corp.example"

# --- seeded episodes -----------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateChangeSpec:
    """A prompt template whose new version makes answers longer."""

    tenant: str = "search"
    workload: str = "answer-synthesis"
    day_fraction: float = 0.5
    at: time = time(10, 30)
    output_multiplier: float = 1.45


@dataclass(frozen=True)
class FallbackEpisodeSpec:
    """A route whose cheap primary model fails for days, so the gateway falls back."""

    tenant: str = "search"
    workload: str = "query-rewrite"
    start_fraction: float = 0.55
    start_at: time = time(8, 0)
    duration_hours: int = 84
    failure_rate: float = 0.9
    statuses: tuple[tuple[int, float], ...] = ((429, 0.6), (503, 0.4))
    fallback_share: float = 0.8  # after a failure in the episode, share that falls back at once


@dataclass(frozen=True)
class UsageMismatchSpec:
    """OpenAI usage API reports input_cached_tokens = 0 for one day x project (a real bug)."""

    day_fraction: float = 1 / 3


@dataclass(frozen=True)
class InvoiceRemainderSpec:
    """Direct-to-provider traffic that bypassed the gateway: on the invoice, nowhere else."""

    provider: str = "openai"
    tenant: str = "search"
    line_item_model: str = "gpt-4o"
    day_share: float = 0.4
    share_range: tuple[float, float] = (0.01, 0.02)


TEMPLATE_CHANGE = TemplateChangeSpec()
FALLBACK_EPISODE = FallbackEpisodeSpec()
USAGE_MISMATCH = UsageMismatchSpec()
INVOICE_REMAINDER = InvoiceRemainderSpec()

# Google usage switched to the drifted OpenAI usage-result shape from this share of the range on.
USAGE_SCHEMA_DRIFT_FRACTION = 0.7

# --- traffic details ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TrafficSettings:
    """Shares of request-level behaviours that are not faults."""

    missing_tenant_header: float = 0.05
    message_content_spans: float = 0.03
    stream_estimated_openai: float = 0.9
    stream_estimated_anthropic: float = 0.25
    estimate_error: float = 0.05  # streamed estimates are off by up to this share


TRAFFIC = TrafficSettings()

# --- seeded faults -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultRates:
    """Rates of seeded faults, per gateway request of a day; each type occurs at least
    `min_per_day` times a day (duplicates, orphans, ... included) so small runs show them all."""

    malformed_span_lines: float = 0.0004
    missing_attribute_spans: float = 0.0004
    bad_token_count_spans: float = 0.0006
    duplicate_spans: float = 0.002
    malformed_app_lines: float = 0.0003
    bad_spend_log_rows: float = 0.0005
    orphan_requests: float = 0.01  # tenant key, no x-request-id
    unattributed_requests: float = 0.003  # shared platform key
    app_requests_without_spans: float = 0.008
    late_app_requests: float = 0.01
    unknown_model_share: float = 0.02  # share of the canary route sent to the self-hosted model
    min_per_day: int = 1


FAULTS = FaultRates()
UNKNOWN_MODEL_WORKLOAD = ("search", "query-rewrite")

# --- files -----------------------------------------------------------------------------------

MAX_SPANS_PER_FILE = 50_000
MAX_SPANS_PER_LINE = 100
MIN_SPANS_PER_LINE = 20
MAX_RESULTS_PER_PAGE = 10  # real pages hold 7-180 buckets; small pages exercise paging
ZSTD_DAY_EVERY = 5  # spans of day_index % 5 == 1 are written as .jsonl.zst
GZIP_LEVEL = 5
ZSTD_LEVEL = 6
OPENAI_ORGANIZATION_ID = "org-8RcQwTgP3kLmN2vX6yZaB1dE"
GOOGLE_BILLING_ACCOUNT = "01A7C3-5E9B2D-4F6A80"
GATEWAY_VERSION = "2.14.3"
CONTENT_CANARY = "CANARY-PROMPT-CONTENT-7f3a"
