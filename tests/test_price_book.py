"""The price-book seeds reproduce `genai_prices.calc_price` with plain row lookups.

Prices are computed here the way the SQL does it: map the model string through
`seeds/model_aliases.csv`, pick the `seeds/price_book.csv` row effective at the request time for
the service tier / processing / prompt length, and sum tokens x USD-per-token with `Decimal`.
The generator and its semantics are documented in `scripts/build_price_book.py`.
"""

from __future__ import annotations

import csv
import importlib.util
import random
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, localcontext
from pathlib import Path
from types import ModuleType

import genai_prices
import pytest
from genai_prices import Usage, data_snapshot
from genai_prices.data import providers as CATALOGUE

PROJECT_DIR = Path(__file__).resolve().parents[1]
SEEDS_DIR = PROJECT_DIR / "seeds"
SCRIPT = PROJECT_DIR / "scripts" / "build_price_book.py"

DRAWS = 4_000
MIN_COMPARED_DRAWS = 2_000
SEED = 20_260_101
WINDOW_START = datetime(2024, 1, 1, tzinfo=UTC)
WINDOW_END = datetime(2027, 1, 1, tzinfo=UTC)
# Rounding 12-decimal USD/MTok float noise moves a per-token price by < 5e-19.
ROUNDING_TOLERANCE_PER_TOKEN = Decimal("1e-18")

# Leaf token counts priced at each `<type>_price_per_token` (see the build script's docstring).
TOKEN_TYPES = (
    "input",
    "cache_read",
    "cache_write",
    "cache_write_1h",
    "input_audio",
    "cache_audio_read",
    "output",
    "output_audio",
    "output_reasoning",
)
_COMPACT_DATE_RE = re.compile(r"(-)(20\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=-|:|$)")

REAL_MODEL_STRINGS: tuple[tuple[str, str], ...] = (
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-2024-08-06"),
    ("openai", "gpt-4o-2024-05-13"),
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4o-mini-2024-07-18"),
    ("openai", "gpt-4.1"),
    ("openai", "gpt-4.1-2025-04-14"),
    ("openai", "gpt-4.1-mini-2025-04-14"),
    ("openai", "o3-mini"),
    ("openai", "o3-mini-2025-01-31"),
    ("openai", "o1-2024-12-17"),
    ("openai", "gpt-5"),
    ("openai", "gpt-5-2025-08-07"),
    ("openai", "gpt-5.2-20251211"),
    ("openai", "chatgpt-4o-latest"),
    ("openai", "gpt-4o-audio-preview-2024-12-17"),
    ("openai", "text-embedding-3-small"),
    ("openai", "whisper-1"),
    ("openai", "ft:gpt-4o-mini-2024-07-18:acme::abc123"),
    ("anthropic", "claude-sonnet-4-20250514"),
    ("anthropic", "claude-sonnet-4-0"),
    ("anthropic", "claude-3-5-haiku-20241022"),
    ("anthropic", "claude-3-5-haiku-latest"),
    ("anthropic", "claude-3-5-sonnet-20241022"),
    ("anthropic", "claude-3-7-sonnet-20250219"),
    ("anthropic", "claude-opus-4-20250514"),
    ("anthropic", "claude-opus-4-1-20250805"),
    ("anthropic", "claude-haiku-4-5-20251001"),
    ("anthropic", "Claude-Sonnet-4-20250514"),
    ("google", "gemini-2.5-pro"),
    ("google", "gemini-2.5-pro-preview-05-06"),
    ("google", "gemini-2.5-pro-preview-tts"),
    ("google", "gemini-2.5-flash"),
    ("google", "gemini-2.5-flash-preview-05-20"),
    ("google", "gemini-2.5-flash-preview-tts"),
    ("google", "gemini-2.5-flash-lite"),
    ("google", "gemini-2.5-flash-lite-preview-06-17"),
    ("google", "gemini-2.0-flash-001"),
    ("google", "gemini-1.5-pro-002"),
    ("google", "claude-sonnet-4@20250514"),
    ("google", "claude-3-5-haiku@20241022"),
    ("azure", "gpt-4o"),
    ("azure", "gpt-4o-2024-08-06"),
    ("azure", "gpt-4.1-mini"),
    ("aws", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
    ("aws", "us.anthropic.claude-sonnet-4-20250514-v1:0"),
    ("aws", "amazon.nova-pro-v1:0"),
    ("aws", "meta.llama3-70b-instruct-v1:0"),
    ("mistral", "mistral-large-latest"),
    ("mistral", "mistral-small-2503"),
    ("deepseek", "deepseek-chat"),
    ("deepseek", "deepseek-reasoner"),
    ("x-ai", "grok-4"),
    ("x-ai", "grok-3-mini"),
    ("groq", "llama-3.3-70b-versatile"),
    ("openrouter", "openai/gpt-4o"),
    ("openrouter", "anthropic/claude-sonnet-4"),
    ("openai", "no-such-model-anywhere"),
    ("anthropic", "gpt-4o"),
)


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_price_book", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _read_csv(name: str) -> list[dict[str, str]]:
    with (SEEDS_DIR / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _timestamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


# --------------------------------------------------------------------------- aliases


@dataclass(frozen=True)
class Resolved:
    """The canonical model a model string maps to."""

    model_provider_id: str
    model_id: str
    is_fallback: bool


def _leaf_matches(kind: str, value: str, ref: str) -> bool:
    if kind == "equals":
        return ref == value
    if kind == "starts_with":
        return ref.startswith(value)
    if kind == "ends_with":
        return ref.endswith(value)
    if kind == "contains":
        return value in ref
    if kind == "regex":
        return re.search(value, ref) is not None
    raise AssertionError(f"unknown match_kind {kind!r}")


class AliasBook:
    """`model_aliases.csv` evaluated the way the SQL macro does it."""

    def __init__(self, rows: list[dict[str, str]]) -> None:
        groups: dict[tuple[str, int], dict[int, list[tuple[str, str, bool]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        models: dict[tuple[str, int], Resolved] = {}
        for row in rows:
            key = (row["provider_id"], int(row["match_priority"]))
            groups[key][int(row["match_group"])].append(
                (row["match_kind"], row["match_value"], row["is_negated"] == "true")
            )
            resolved = Resolved(
                row["model_provider_id"], row["model_id"], row["is_fallback"] == "true"
            )
            assert models.setdefault(key, resolved) == resolved, f"priority clash at {key}"
        self._by_provider: dict[str, list[tuple[Resolved, list[list[tuple[str, str, bool]]]]]] = (
            defaultdict(list)
        )
        for (provider_id, _priority), resolved in sorted(models.items()):
            self._by_provider[provider_id].append(
                (resolved, list(groups[(provider_id, _priority)].values()))
            )

    def _match(self, provider_id: str, ref: str) -> Resolved | None:
        for resolved, model_groups in self._by_provider[provider_id]:
            for group in model_groups:
                if all(
                    _leaf_matches(kind, value, ref) != negated for kind, value, negated in group
                ):
                    return resolved
        return None

    def resolve(self, provider_id: str, model_ref: str) -> Resolved | None:
        """First match on the lower-cased string, else on its compact dates rewritten."""
        ref = model_ref.lower()
        if found := self._match(provider_id, ref):
            return found
        normalized = _COMPACT_DATE_RE.sub(_dash_date, ref)
        return self._match(provider_id, normalized) if normalized != ref else None


def _dash_date(match: re.Match[str]) -> str:
    year, month, day = (int(match.group(index)) for index in range(2, 5))
    try:
        date(year, month, day)
    except ValueError:
        return match.group(0)
    return f"-{year:04d}-{month:02d}-{day:02d}"


_OWNERS = {id(model): provider.id for provider in CATALOGUE for model in provider.models}


def _genai_lookup(provider_id: str, model_ref: str) -> Resolved | None:
    """genai-prices' own model lookup (the one `calc_price` uses), as a `Resolved`."""
    try:
        provider, model = data_snapshot.get_snapshot().find_provider_model(
            model_ref, None, provider_id, None
        )
    except LookupError:
        return None
    owner = _OWNERS[id(model)]
    return Resolved(owner, model.id, owner != provider.id)


# --------------------------------------------------------------------------- prices


@dataclass(frozen=True)
class BookRow:
    """A typed `price_book.csv` row."""

    service_tier: str
    processing: str
    effective_from: datetime
    effective_to: datetime
    time_of_day_from_second: int
    time_of_day_to_second: int
    tier_min_input_tokens: int
    per_token: dict[str, Decimal | None]
    excluded_price_keys: frozenset[str]
    is_price_rounded: bool


class PriceBook:
    """`price_book.csv` rows by (model_provider_id, model_id)."""

    def __init__(self, rows: list[dict[str, str]]) -> None:
        self.rows: dict[tuple[str, str], list[BookRow]] = defaultdict(list)
        for row in rows:
            self.rows[(row["provider_id"], row["model_id"])].append(
                BookRow(
                    service_tier=row["service_tier"],
                    processing=row["processing"],
                    effective_from=_timestamp(row["effective_from"]),
                    effective_to=_timestamp(row["effective_to"]),
                    time_of_day_from_second=int(row["time_of_day_from_second"]),
                    time_of_day_to_second=int(row["time_of_day_to_second"]),
                    tier_min_input_tokens=int(row["tier_min_input_tokens"]),
                    per_token={
                        token: Decimal(text) if (text := row[f"{token}_price_per_token"]) else None
                        for token in TOKEN_TYPES
                    },
                    excluded_price_keys=frozenset(
                        filter(None, row["excluded_price_keys"].split(";"))
                    ),
                    is_price_rounded=row["is_price_rounded"] == "true",
                )
            )

    def select(
        self,
        resolved: Resolved,
        *,
        at: datetime,
        service_tier: str,
        processing: str,
        input_tokens: int,
    ) -> BookRow | None:
        """The row the SQL join picks, or None (unpriced)."""
        rows = self.rows.get((resolved.model_provider_id, resolved.model_id), [])
        if resolved.is_fallback:
            service_tier, processing = "default", "standard"
        if service_tier not in {row.service_tier for row in rows}:
            service_tier = "default"
        if processing not in {row.processing for row in rows}:
            processing = "standard"
        second = at.hour * 3600 + at.minute * 60 + at.second
        candidates = [
            row
            for row in rows
            if row.service_tier == service_tier
            and row.processing == processing
            and row.effective_from <= at < row.effective_to
            and row.time_of_day_from_second <= second < row.time_of_day_to_second
            and row.tier_min_input_tokens <= input_tokens
        ]
        return max(candidates, key=lambda row: row.tier_min_input_tokens, default=None)


def leaf_tokens(usage: dict[str, int]) -> dict[str, int]:
    """Token counts priced at each type's price, from inclusive usage counts."""
    return {
        "input": usage["input_tokens"]
        - usage["cache_read_tokens"]
        - usage["cache_write_tokens"]
        - usage["input_audio_tokens"]
        + usage["cache_audio_read_tokens"],
        "cache_read": usage["cache_read_tokens"] - usage["cache_audio_read_tokens"],
        "cache_write": usage["cache_write_tokens"] - usage["cache_write_1h_tokens"],
        "cache_write_1h": usage["cache_write_1h_tokens"],
        "input_audio": usage["input_audio_tokens"] - usage["cache_audio_read_tokens"],
        "cache_audio_read": usage["cache_audio_read_tokens"],
        "output": usage["output_tokens"]
        - usage["output_audio_tokens"]
        - usage["output_reasoning_tokens"],
        "output_audio": usage["output_audio_tokens"],
        "output_reasoning": usage["output_reasoning_tokens"],
    }


def book_cost(row: BookRow, usage: dict[str, int]) -> Decimal:
    """Σ leaf tokens x USD per token; a NULL price is charged 0, as genai-prices does."""
    with localcontext() as context:
        context.prec = 60
        return sum(
            (
                Decimal(tokens) * price
                for token, tokens in leaf_tokens(usage).items()
                if (price := row.per_token[token]) is not None
            ),
            start=Decimal(0),
        )


def _draw_usage(rng: random.Random, thresholds: list[int]) -> dict[str, int]:
    """Disjoint token parts, summed into the inclusive counts genai-prices expects."""
    roll = rng.random()
    if thresholds and roll < 0.4:
        edge = rng.choice(thresholds)  # genai-prices' tier `start`: the tier needs input > start
        total_input = max(0, edge + rng.choice((-1, 0, 1, 2)))
    elif roll < 0.45:
        total_input = 0
    elif roll < 0.8:
        total_input = rng.randint(1, 20_000)
    else:
        total_input = rng.randint(20_000, 1_200_000)
    with_audio = rng.random() < 0.15
    cache_audio_read = rng.randint(0, total_input // 10) if with_audio else 0
    rest = total_input - cache_audio_read
    input_audio_only = rng.randint(0, rest // 5) if with_audio else 0
    rest -= input_audio_only
    cache_read = rng.randint(0, rest) if rng.random() < 0.6 else 0
    rest -= cache_read
    cache_write = rng.randint(0, rest) if rng.random() < 0.4 else 0
    cache_write_1h = rng.randint(0, cache_write) if rng.random() < 0.5 else 0
    output_text = rng.randint(0, 8_000)
    output_audio = rng.randint(0, 2_000) if with_audio else 0
    output_reasoning = rng.randint(0, 6_000) if rng.random() < 0.3 else 0
    return {
        "input_tokens": total_input,
        "cache_read_tokens": cache_read + cache_audio_read,
        "cache_write_tokens": cache_write,
        "cache_write_1h_tokens": cache_write_1h,
        "input_audio_tokens": input_audio_only + cache_audio_read,
        "cache_audio_read_tokens": cache_audio_read,
        "output_tokens": output_text + output_audio + output_reasoning,
        "output_audio_tokens": output_audio,
        "output_reasoning_tokens": output_reasoning,
    }


def _draw_timestamp(rng: random.Random, rows: list[BookRow]) -> datetime:
    edges = [
        moment
        for row in rows
        for moment in (row.effective_from, row.effective_to)
        if WINDOW_START < moment < WINDOW_END
    ] + [
        datetime.combine(date(2026, 3, 1), datetime.min.time(), tzinfo=UTC)
        + timedelta(seconds=row.time_of_day_from_second)
        for row in rows
        if row.time_of_day_from_second
    ]
    if edges and rng.random() < 0.3:
        return rng.choice(edges) + timedelta(seconds=rng.choice((-1, 0, 1)))
    span = int((WINDOW_END - WINDOW_START).total_seconds())
    return WINDOW_START + timedelta(seconds=rng.randrange(span))


@pytest.fixture(scope="module")
def aliases() -> AliasBook:
    return AliasBook(_read_csv("model_aliases.csv"))


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return PriceBook(_read_csv("price_book.csv"))


def _draw_requests(
    aliases_rows: list[dict[str, str]], book: PriceBook
) -> Iterator[tuple[str, str, random.Random]]:
    """(provider_id, model string) pairs for models that have prices, with the seeded rng."""
    rng = random.Random(SEED)
    refs: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for row in aliases_rows:
        key = (row["provider_id"], row["model_provider_id"], row["model_id"])
        if row["match_kind"] == "equals" and row["is_negated"] == "false":
            refs[key].append(row["match_value"])
        else:
            refs.setdefault(key, [])
    priced = sorted(key for key in refs if (key[1], key[2]) in book.rows)
    # Models with dated prices, tiers, variants or time windows are where the pricing can break.
    complex_ = [key for key in priced if len(book.rows[(key[1], key[2])]) > 1]
    for _ in range(DRAWS):
        provider_id, _owner, model_id = rng.choice(complex_ if rng.random() < 0.7 else priced)
        candidates = refs[(provider_id, _owner, model_id)] or [model_id]
        yield provider_id, rng.choice(candidates), rng


def test_price_book_rows_reproduce_genai_prices_calc_price(
    aliases: AliasBook, book: PriceBook
) -> None:
    compared = rounded = 0
    failures: list[str] = []
    tiers = ("default", "default", "priority", "flex", "fast", "scale")
    for provider_id, model_ref, rng in _draw_requests(_read_csv("model_aliases.csv"), book):
        resolved = aliases.resolve(provider_id, model_ref)
        assert resolved == _genai_lookup(provider_id, model_ref), (provider_id, model_ref)
        if resolved is None:
            continue  # a model reachable only through a pattern, drawn by its id: no match
        rows = book.rows.get((resolved.model_provider_id, resolved.model_id))
        if not rows:
            continue  # the string maps to a model without token prices: unpriced in SQL
        thresholds = sorted({row.tier_min_input_tokens - 1 for row in rows} - {-1})
        usage = _draw_usage(rng, thresholds)
        at = _draw_timestamp(rng, rows)
        service_tier = rng.choice(tiers)
        processing = "batch" if rng.random() < 0.35 else "standard"
        # 'default' is sent both explicitly and as no context at all.
        explicit_tier = service_tier != "default" or rng.random() < 0.5
        context = {"service_tier": service_tier} if explicit_tier else {}
        if processing == "batch":
            context["processing"] = "batch"

        row = book.select(
            resolved,
            at=at,
            service_tier=service_tier,
            processing=processing,
            input_tokens=usage["input_tokens"],
        )
        assert row is not None, (provider_id, model_ref, at, service_tier, processing)
        if "requests_kcount" in row.excluded_price_keys:
            continue  # the per-request fee is not in the book (see the build script)
        expected = genai_prices.calc_price(
            Usage(**usage),
            model_ref,
            provider_id=provider_id,
            genai_request_timestamp=at,
            price_context=context or None,
        ).total_price
        actual = book_cost(row, usage)
        compared += 1
        if row.is_price_rounded:
            rounded += 1
            tolerance = ROUNDING_TOLERANCE_PER_TOKEN * sum(leaf_tokens(usage).values())
            ok = abs(actual - expected) <= tolerance
        else:
            ok = actual == expected
        if not ok:
            failures.append(
                f"{provider_id} {model_ref!r} at {at} {context} usage={usage}: "
                f"book {actual} != genai {expected}"
            )
    assert not failures, f"{len(failures)} mismatches, first: " + "\n".join(failures[:5])
    assert compared >= MIN_COMPARED_DRAWS, compared
    assert rounded < compared // 10


@pytest.mark.parametrize(
    ("provider_id", "model_id", "at", "input_tokens", "expected_tier_min"),
    [
        ("google", "gemini-2.5-pro", datetime(2025, 9, 1, tzinfo=UTC), 200_000, 0),
        ("google", "gemini-2.5-pro", datetime(2025, 9, 1, tzinfo=UTC), 200_001, 200_001),
    ],
)
def test_prompt_tier_applies_only_above_the_genai_prices_threshold(
    book: PriceBook,
    provider_id: str,
    model_id: str,
    at: datetime,
    input_tokens: int,
    expected_tier_min: int,
) -> None:
    row = book.select(
        Resolved(provider_id, model_id, False),
        at=at,
        service_tier="default",
        processing="standard",
        input_tokens=input_tokens,
    )
    assert row is not None
    assert row.tier_min_input_tokens == expected_tier_min


def test_committed_seeds_match_a_fresh_build() -> None:
    script = _load_script()
    for name, text in script.render().items():
        committed = (SEEDS_DIR / name).read_bytes()
        assert committed == text.encode("utf-8"), (
            f"seeds/{name} is stale: run `python scripts/build_price_book.py`"
        )


def test_model_aliases_agree_with_genai_prices_lookup(aliases: AliasBook) -> None:
    assert aliases.resolve("openai", "gpt-4o-2024-08-06") == Resolved("openai", "gpt-4o", False)
    assert aliases.resolve("azure", "gpt-4o") == Resolved("openai", "gpt-4o", True)
    assert aliases.resolve("openai", "no-such-model-anywhere") is None
    outcomes = {
        (provider_id, ref): (aliases.resolve(provider_id, ref), _genai_lookup(provider_id, ref))
        for provider_id, ref in REAL_MODEL_STRINGS
    }
    mismatches = {key: pair for key, pair in outcomes.items() if pair[0] != pair[1]}
    assert not mismatches
    assert sum(found is not None for found, _ in outcomes.values()) >= len(outcomes) - 5


def test_every_catalogue_alias_and_its_dated_forms_resolve_like_genai_prices(
    aliases: AliasBook,
) -> None:
    refs: set[tuple[str, str]] = set()
    for row in _read_csv("model_aliases.csv"):
        if row["match_kind"] in {"equals", "starts_with"}:
            value = row["match_value"]
            refs.update(
                (row["provider_id"], ref)
                for ref in (
                    value,
                    f"{value}-20250514",
                    f"{value}-2025-05-14",
                    f"x/{value}",
                    value.upper(),
                )
            )
    mismatches = [
        (provider_id, ref)
        for provider_id, ref in sorted(refs)
        if aliases.resolve(provider_id, ref) != _genai_lookup(provider_id, ref)
    ]
    assert not mismatches, mismatches[:10]


def test_price_overrides_hold_the_contract_discounts() -> None:
    rows = {row["contract_id"]: row for row in _read_csv("price_overrides.csv")}
    terms = {
        (row["provider_id"], row["model_id"], Decimal(row["discount_pct"]), row["effective_from"])
        for row in rows.values()
    }
    assert terms == {
        ("anthropic", "*", Decimal(8), "2026-01-01 00:00:00"),
        ("google", "*", Decimal(5), "2026-01-01 00:00:00"),
    }
    assert all(row["effective_to"] == "9999-12-31 00:00:00" for row in rows.values())
