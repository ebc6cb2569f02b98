"""Build the price-book seeds from the `genai-prices` catalogue.

Writes two generated seeds (sorted, byte-for-byte deterministic for a given genai-prices version):

- ``seeds/price_book.csv``: one row per provider x model x service tier x processing (standard or
  batch) x price period (``effective_from`` <= ts < ``effective_to``) x UTC time-of-day window x
  prompt-length tier, with USD per million tokens and USD per token for every token type.
- ``seeds/model_aliases.csv``: the catalogue's ``match`` clauses flattened to rows, so SQL maps a
  provider's model string to the canonical model exactly as ``genai_prices`` does.

``seeds/price_overrides.csv`` (contract discounts) is written by hand and is not touched here.

Refreshing the seeds
--------------------
1. Bump ``genai-prices`` in ``pyproject.toml`` and ``requirements.lock``, then ``make install``.
2. Run ``.venv/bin/python scripts/build_price_book.py`` (``--seeds-dir`` to write elsewhere).
3. Run ``.venv/bin/python -m pytest tests/test_price_book.py``: it re-prices thousands of random
   requests from the CSV and compares them with ``genai_prices.calc_price``, and fails when the
   committed CSVs differ from a fresh build.
4. If the build stops on an unknown price key, variant key or clause shape, extend the tables
   below (``TOKEN_TYPES``, ``EXCLUDED_TOKEN_PRICE_KEYS``) after reading how genai-prices prices it.
5. Commit the regenerated CSVs together with the version bump; ``source`` records the version.

How genai-prices prices a request (0.2.3), and how the rows reproduce it
-------------------------------------------------------------------------
- Usage counts are *inclusive*: ``input_tokens`` includes cache reads, cache writes and audio
  input; ``cache_write_tokens`` includes the 1-hour writes; ``output_tokens`` includes audio and
  reasoning output. Each priced unit is charged for its *leaf* count: its own count minus the
  leaf counts of the more specific units that are priced (``decompose.compute_leaf_values``).
- A token type without its own price stays inside the nearest priced ancestor (cache writes of a
  model with no cache-write price are charged as plain input). The seed fills such a price with
  the ancestor's price, so one formula serves every row::

      cost = (input - cache_read - cache_write - input_audio + cache_audio_read) * input
           + (cache_read - cache_audio_read) * cache_read
           + (cache_write - cache_write_1h) * cache_write + cache_write_1h * cache_write_1h
           + (input_audio - cache_audio_read) * input_audio + cache_audio_read * cache_audio_read
           + (output - output_audio - output_reasoning) * output
           + output_audio * output_audio + output_reasoning * output_reasoning

  (each term: tokens x ``<type>_price_per_token``). A price left NULL has no priced ancestor
  either; genai-prices charges such tokens 0. ``catalogue_price_keys`` lists what the catalogue
  itself priced.
- Prompt-length tiers (``TieredPrices``) are cliffs: a tier applies to *all* tokens of that price
  when the request's total ``input_tokens`` (cache reads/writes included) is *strictly greater*
  than the tier's ``start``; the highest such tier wins, independently per price key, with the
  same total input for output prices. The seed stores ``tier_min_input_tokens = start + 1``
  (0 for the base row): pick the row with the highest ``tier_min_input_tokens <= input_tokens``.
- Dated prices (``ConditionalPrice``): the *last* entry whose constraint is active wins; when none
  is active the first entry applies. ``StartDateConstraint`` compares the request's UTC *date*, so
  periods start at UTC midnight. ``TimeOfDateConstraint`` (DeepSeek off-peak) is a daily UTC
  window: rows carry ``time_of_day_from_second`` / ``time_of_day_to_second`` (0 and 86400 when the
  price holds all day).
- Price variants (``price_variants``, ``when`` = request context): applied only when a context is
  passed, on top of the dated standard price, *per price key*: the first active matching variant
  in list order sets a key, keys it does not set keep the standard price (a tiered key replaced by
  a flat variant loses its tiers). ``{'processing': 'batch'}`` -> ``processing = 'batch'``;
  ``{'service_tier': X}`` -> ``service_tier = X``; both together when a request has both. Variants
  carry their own start dates. ``service_tier = 'default'`` is the base price (the catalogue's
  ``default`` variants are empty; the build fails if one ever is not).
- A model lists a (service_tier, processing) pair for all time or not at all. A request whose tier
  is not listed for its model is priced as ``'default'``, and a batch request on a model without
  batch rows as ``'standard'``: that is what genai-prices does (the batch discount is simply not
  in its catalogue for that model), so SQL should flag it.
- A model found through a provider's ``fallback_model_providers`` (Azure -> OpenAI, Google Vertex
  -> Anthropic, ...) ignores the price context: price it at ``default`` / ``standard``.

Model matching (``model_aliases.csv``)
--------------------------------------
The reference is lower-cased. Within the requested provider, models are tried in catalogue order,
then each fallback provider's models in its catalogue order (one step, no fallback of a fallback);
the first whose clause matches wins (``match_priority``, lower wins). ``equals``/``starts_with``/
``ends_with``/``contains`` compare lower-cased values; ``regex`` is a search (not anchored) on the
lower-cased reference. ``or``/``and`` are flattened to disjunctive normal form: a model matches when
all rows of one of its ``match_group`` s match (``is_negated`` rows must *not* match). If nothing
matches, genai-prices rewrites compact dates (``-20251211`` -> ``-2025-12-11``, valid dates only,
followed by ``-``, ``:`` or the end) and tries once more. The provider itself is matched by id (then
``provider_match`` clauses), which this seed does not flatten.

Not expressed as rows (listed per row in ``excluded_price_keys``)
-----------------------------------------------------------------
Per-request fees (``requests_kcount``), per-search fees (``web_searches_kcount``,
``storage_searches_kcount``), audio hours, characters, messages, document pages, and image, video
and citation token prices. Such tokens stay inside input/output in this book (the gateway does not
report them separately), which is also what genai-prices does when they are not reported; the
per-request fee, however, is charged by genai-prices on every request and is missing here.
Variants keyed on anything but ``service_tier`` / ``processing`` (Anthropic ``speed = fast``,
OpenRouter ``route``, Perplexity ``search_type``) are not expressed. Models with no token price at
all are skipped (they still appear in ``model_aliases.csv``); a model whose price is empty
(OpenRouter ``:free`` models) gets rows of 0, as genai-prices charges it 0 (``catalogue_price_keys``
is empty).
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import genai_prices
from genai_prices import types as gp
from genai_prices.data import providers as CATALOGUE
from genai_prices.units import UnitDef, _get_registry
from genai_prices.validation import validate_priced_units

PROJECT_DIR = Path(__file__).resolve().parents[1]
DEFAULT_SEEDS_DIR = PROJECT_DIR / "seeds"
SOURCE = f"genai-prices {genai_prices.__version__}"

PRICE_SCALE = 12  # decimal places of USD per million tokens: decimal(38, 12)
PER_TOKEN_SHIFT = -6  # USD per token = USD per million tokens x 10^-6: decimal(38, 18)
UNBOUNDED_FROM = datetime(1970, 1, 1, tzinfo=UTC)
OPEN_TO = datetime(9999, 12, 31, tzinfo=UTC)
SECONDS_PER_DAY = 86_400

# (column prefix, genai-prices price key); usage keys are the prefix + "_tokens".
TOKEN_TYPES: tuple[tuple[str, str], ...] = (
    ("input", "input_mtok"),
    ("cache_read", "cache_read_mtok"),
    ("cache_write", "cache_write_mtok"),
    ("cache_write_1h", "cache_write_1h_mtok"),
    ("input_audio", "input_audio_mtok"),
    ("cache_audio_read", "cache_audio_read_mtok"),
    ("output", "output_mtok"),
    ("output_audio", "output_audio_mtok"),
    ("output_reasoning", "output_reasoning_mtok"),
)
EXPRESSED_PRICE_KEYS = frozenset(price_key for _, price_key in TOKEN_TYPES)
# Token prices for token counts the gateway never reports separately: they stay inside
# input/output here, as in genai-prices when the usage does not report them.
EXCLUDED_TOKEN_MODALITIES = frozenset({"image", "video"})
EXCLUDED_TOKEN_TYPES = frozenset({"citation"})
VARIANT_KEYS = frozenset({"service_tier", "processing"})
BASE_SERVICE_TIER = "default"

PRICE_BOOK_KEY = (
    "provider_id",
    "model_id",
    "model_name",
    "service_tier",
    "processing",
    "effective_from",
    "effective_to",
    "time_of_day_from_second",
    "time_of_day_to_second",
    "tier_min_input_tokens",
)
PRICE_BOOK_COLUMNS: tuple[str, ...] = (
    *PRICE_BOOK_KEY,
    *(f"{prefix}_mtok" for prefix, _ in TOKEN_TYPES),
    *(f"{prefix}_price_per_token" for prefix, _ in TOKEN_TYPES),
    "catalogue_price_keys",
    "excluded_price_keys",
    "is_price_rounded",
    "source",
)
MODEL_ALIAS_COLUMNS: tuple[str, ...] = (
    "provider_id",
    "match_priority",
    "model_provider_id",
    "model_id",
    "match_group",
    "match_kind",
    "match_value",
    "is_negated",
    "is_fallback",
)

# `^(?!.*X)` (Python-only negative lookahead) is exactly "X is not found": RE2 has no lookaround.
_NEGATIVE_LOOKAHEAD_RE = re.compile(r"^\^\(\?!\.\*(?P<inner>.+)\)$")
_NON_RE2_RE = re.compile(r"\(\?[=!<]|\\[1-9]|\(\?P=")


class CatalogueError(ValueError):
    """The catalogue holds something this build does not know how to express."""


@dataclass(frozen=True)
class PriceRow:
    """One price-book row before formatting."""

    provider_id: str
    model_id: str
    model_name: str
    service_tier: str
    processing: str
    effective_from: datetime
    effective_to: datetime
    time_of_day_from_second: int
    time_of_day_to_second: int
    tier_min_input_tokens: int
    prices_mtok: tuple[Decimal | None, ...]
    catalogue_price_keys: tuple[str, ...]
    excluded_price_keys: tuple[str, ...]
    is_price_rounded: bool


@dataclass(frozen=True)
class _DayPrices:
    """Rows of one period (time windows x tiers), compared to merge equal adjacent periods."""

    rows: tuple[tuple[int, int, int, tuple[Decimal | None, ...], bool], ...]
    catalogue_price_keys: tuple[str, ...]
    excluded_price_keys: tuple[str, ...]


@dataclass
class BuildReport:
    """What the build skipped or could not express, for the report and the tests."""

    skipped_models: list[str] = field(default_factory=list)
    unpriceable_prices: list[str] = field(default_factory=list)
    skipped_variants: list[str] = field(default_factory=list)
    rounded_prices: list[str] = field(default_factory=list)
    unexpressed_clauses: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- prices


def _token_units() -> dict[str, UnitDef]:
    registry = _get_registry()
    return {price_key: registry.unit_for_price_key(price_key) for _, price_key in TOKEN_TYPES}


def _is_excluded_price_key(price_key: str) -> bool:
    """Price keys that are not expressed but do not change the price of the expressed tokens."""
    try:
        unit = _get_registry().unit_for_price_key(price_key)
    except KeyError:
        return True  # genai-prices itself warns about and ignores unknown keys
    dims = unit.dimensions
    if dims.get("family") != "tokens":
        return True
    return (
        dims.get("modality") in EXCLUDED_TOKEN_MODALITIES
        or dims.get("token_type") in EXCLUDED_TOKEN_TYPES
    )


def quantize_price(value: Decimal) -> Decimal:
    """USD per million tokens at 12 decimals (removes float noise such as 0.18000000000000002)."""
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-PRICE_SCALE), rounding=ROUND_HALF_EVEN)


def format_decimal(value: Decimal | None) -> str:
    """Plain decimal text without exponent or trailing zeros; '' for NULL."""
    if value is None:
        return ""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def _price_at_tier(value: Decimal | gp.TieredPrices, tier_start: int | None) -> Decimal:
    """The price genai-prices applies when total input tokens exceed `tier_start` (None: base)."""
    if isinstance(value, Decimal):
        return value
    price = value.base
    if tier_start is not None:
        for tier in value.tiers:
            if tier.start <= tier_start:
                price = tier.price
    return price


def _fill_from_ancestors(
    stored: Mapping[str, Decimal], units: Mapping[str, UnitDef]
) -> tuple[Decimal | None, ...]:
    """Each token type's own price, else its most specific priced ancestor's, else NULL."""
    filled: list[Decimal | None] = []
    for _, price_key in TOKEN_TYPES:
        unit = units[price_key]
        ancestors = [
            units[key] for key in stored if units[key].dimensions.items() <= unit.dimensions.items()
        ]
        if not ancestors:
            filled.append(None)
            continue
        depth = max(len(ancestor.dimensions) for ancestor in ancestors)
        nearest = [ancestor for ancestor in ancestors if len(ancestor.dimensions) == depth]
        if len(nearest) != 1:
            keys = ", ".join(sorted(ancestor.price_key for ancestor in nearest))
            raise CatalogueError(f"{price_key} inherits from several prices ({keys})")
        filled.append(stored[nearest[0].price_key])
    return tuple(filled)


def _tier_rows(
    model_price: gp.ModelPrice, units: Mapping[str, UnitDef]
) -> tuple[list[tuple[int, tuple[Decimal | None, ...], bool]], tuple[str, ...], tuple[str, ...]]:
    """Rows (tier_min_input_tokens, filled prices, rounded?) of one resolved ModelPrice."""
    present = {
        key: value
        for key, value in model_price.__dict__.items()
        if not key.startswith("_") and value is not None
    }
    unknown = sorted(
        key
        for key in present
        if key not in EXPRESSED_PRICE_KEYS and not _is_excluded_price_key(key)
    )
    if unknown:
        raise CatalogueError(f"price keys not expressible by this build: {', '.join(unknown)}")
    if not present:
        # An empty price (OpenRouter ':free' models): genai-prices charges 0 for every token.
        return [(0, tuple(Decimal(0) for _ in TOKEN_TYPES), False)], (), ()
    token_prices = {key: value for key, value in present.items() if key in EXPRESSED_PRICE_KEYS}
    starts = sorted(
        {
            tier.start
            for value in token_prices.values()
            if isinstance(value, gp.TieredPrices)
            for tier in value.tiers
        }
    )
    rows: list[tuple[int, tuple[Decimal | None, ...], bool]] = []
    for tier_start in [None, *starts]:
        raw = {key: _price_at_tier(value, tier_start) for key, value in token_prices.items()}
        quantized = {key: quantize_price(value) for key, value in raw.items()}
        rounded = any(quantized[key] != raw[key] for key in raw)
        tier_min = 0 if tier_start is None else tier_start + 1
        rows.append((tier_min, _fill_from_ancestors(quantized, units), rounded))
    catalogue_keys = tuple(sorted(present))
    excluded_keys = tuple(sorted(key for key in present if key not in EXPRESSED_PRICE_KEYS))
    return rows, catalogue_keys, excluded_keys


def _constraints(model: gp.ModelInfo) -> Iterator[object]:
    if not isinstance(model.prices, gp.ModelPrice):
        yield from (conditional.constraint for conditional in model.prices)
    yield from (variant.constraint for variant in model.price_variants or ())


def _date_boundaries(model: gp.ModelInfo) -> list[date]:
    return sorted(
        {c.start_date for c in _constraints(model) if isinstance(c, gp.StartDateConstraint)}
    )


def _second_of_day(value: time) -> int:
    utc = gp._utc_timetz(value)  # the library's own UTC normalisation of constraint times
    return utc.hour * 3600 + utc.minute * 60 + utc.second


def _time_windows(model: gp.ModelInfo) -> list[tuple[int, int]]:
    cuts = {0, SECONDS_PER_DAY}
    for constraint in _constraints(model):
        if isinstance(constraint, gp.TimeOfDateConstraint):
            cuts.add(_second_of_day(constraint.start_time))
            cuts.add(_second_of_day(constraint.end_time))
    ordered = sorted(cuts)
    return list(itertools.pairwise(ordered))


def _contexts(model: gp.ModelInfo, report: BuildReport, provider_id: str) -> list[tuple[str, str]]:
    """(service_tier, processing) pairs the model's variants distinguish."""
    tiers: set[str] = set()
    has_batch = False
    for variant in model.price_variants or ():
        if not set(variant.when) <= VARIANT_KEYS:
            report.skipped_variants.append(f"{provider_id}/{model.id}: when={variant.when}")
            continue
        processing = variant.when.get("processing")
        if processing is not None and processing != "batch":
            raise CatalogueError(f"{provider_id}/{model.id}: unknown processing {processing!r}")
        has_batch = has_batch or processing == "batch"
        tier = variant.when.get("service_tier")
        is_base_variant = tier == BASE_SERVICE_TIER and set(variant.when) == {"service_tier"}
        if is_base_variant and any(v is not None for v in variant.prices.__dict__.values()):
            raise CatalogueError(f"{provider_id}/{model.id}: non-empty 'default' variant")
        if tier is not None and tier != BASE_SERVICE_TIER:
            tiers.add(tier)
    service_tiers = [BASE_SERVICE_TIER, *sorted(tiers)]
    processings = ["standard", "batch"] if has_batch else ["standard"]
    return list(itertools.product(service_tiers, processings))


def price_context(service_tier: str, processing: str) -> dict[str, str]:
    """The genai-prices price context of a (service_tier, processing) pair."""
    context: dict[str, str] = {}
    if service_tier != BASE_SERVICE_TIER:
        context["service_tier"] = service_tier
    if processing == "batch":
        context["processing"] = "batch"
    return context


def _is_priceable(model_price: gp.ModelPrice) -> bool:
    registry = _get_registry()
    units = []
    for key, value in model_price.__dict__.items():
        if key.startswith("_") or value is None:
            continue
        try:
            units.append(registry.unit_for_price_key(key))
        except KeyError:
            continue
    try:
        validate_priced_units(units, registry)
    except ValueError:
        return False
    return True


def _model_rows(provider: gp.Provider, model: gp.ModelInfo, report: BuildReport) -> list[PriceRow]:
    """Every (tier, processing) x period x time window x prompt tier of one model."""
    units = _token_units()
    dates = _date_boundaries(model)
    period_starts = [UNBOUNDED_FROM.date(), *dates]
    windows = _time_windows(model)
    rows: list[PriceRow] = []
    for service_tier, processing in _contexts(model, report, provider.id):
        context = price_context(service_tier, processing)
        periods: list[tuple[date, _DayPrices | None]] = []
        for period_start in period_starts:
            day_rows: list[tuple[int, int, int, tuple[Decimal | None, ...], bool]] = []
            catalogue_keys: set[str] = set()
            excluded_keys: set[str] = set()
            for window_from, window_to in windows:
                at = datetime.combine(period_start, time(), tzinfo=UTC) + timedelta(
                    seconds=window_from
                )
                model_price = model.get_prices(at, context or None)
                if not _is_priceable(model_price):
                    report.unpriceable_prices.append(
                        f"{provider.id}/{model.id} {service_tier}/{processing} from {at:%Y-%m-%d}"
                    )
                    continue
                tiers, keys, excluded = _tier_rows(model_price, units)
                catalogue_keys.update(keys)
                excluded_keys.update(excluded)
                for tier_min, prices, rounded in tiers:
                    if rounded:
                        report.rounded_prices.append(f"{provider.id}/{model.id}")
                    day_rows.append((window_from, window_to, tier_min, prices, rounded))
            has_token_price = any(
                price is not None for *_, prices, _ in day_rows for price in prices
            )
            state = (
                _DayPrices(
                    rows=_merge_windows(day_rows),
                    catalogue_price_keys=tuple(sorted(catalogue_keys)),
                    excluded_price_keys=tuple(sorted(excluded_keys)),
                )
                if has_token_price
                else None
            )
            if periods and periods[-1][1] == state:
                continue
            periods.append((period_start, state))
        for index, (period_start, state) in enumerate(periods):
            if state is None:
                continue
            period_end = periods[index + 1][0] if index + 1 < len(periods) else OPEN_TO.date()
            for window_from, window_to, tier_min, prices, rounded in state.rows:
                rows.append(
                    PriceRow(
                        provider_id=provider.id,
                        model_id=model.id,
                        model_name=model.name or model.id,
                        service_tier=service_tier,
                        processing=processing,
                        effective_from=datetime.combine(period_start, time(), tzinfo=UTC),
                        effective_to=datetime.combine(period_end, time(), tzinfo=UTC),
                        time_of_day_from_second=window_from,
                        time_of_day_to_second=window_to,
                        tier_min_input_tokens=tier_min,
                        prices_mtok=prices,
                        catalogue_price_keys=state.catalogue_price_keys,
                        excluded_price_keys=state.excluded_price_keys,
                        is_price_rounded=rounded,
                    )
                )
    return rows


def _merge_windows(
    day_rows: Sequence[tuple[int, int, int, tuple[Decimal | None, ...], bool]],
) -> tuple[tuple[int, int, int, tuple[Decimal | None, ...], bool], ...]:
    """Join adjacent time-of-day windows whose tier rows are identical."""
    by_window: dict[tuple[int, int], list[tuple[int, tuple[Decimal | None, ...], bool]]] = {}
    for window_from, window_to, tier_min, prices, rounded in day_rows:
        by_window.setdefault((window_from, window_to), []).append((tier_min, prices, rounded))
    merged: list[tuple[int, int, list[tuple[int, tuple[Decimal | None, ...], bool]]]] = []
    for (window_from, window_to), tiers in sorted(by_window.items()):
        if merged and merged[-1][1] == window_from and merged[-1][2] == tiers:
            merged[-1] = (merged[-1][0], window_to, tiers)
        else:
            merged.append((window_from, window_to, tiers))
    return tuple(
        (window_from, window_to, tier_min, prices, rounded)
        for window_from, window_to, tiers in merged
        for tier_min, prices, rounded in tiers
    )


def build_price_rows(report: BuildReport) -> list[PriceRow]:
    """Flatten every token-priced model of the catalogue."""
    rows: list[PriceRow] = []
    for provider in CATALOGUE:
        for model in provider.models:
            model_rows = _model_rows(provider, model, report)
            if not model_rows:
                report.skipped_models.append(f"{provider.id}/{model.id}")
            rows.extend(model_rows)
    rows.sort(
        key=lambda row: (
            row.provider_id,
            row.model_id,
            row.service_tier,
            row.processing,
            row.effective_from,
            row.time_of_day_from_second,
            row.tier_min_input_tokens,
        )
    )
    return rows


def _price_row_values(row: PriceRow) -> list[str]:
    return [
        row.provider_id,
        row.model_id,
        row.model_name,
        row.service_tier,
        row.processing,
        f"{row.effective_from:%Y-%m-%d %H:%M:%S}",
        f"{row.effective_to:%Y-%m-%d %H:%M:%S}",
        str(row.time_of_day_from_second),
        str(row.time_of_day_to_second),
        str(row.tier_min_input_tokens),
        *(format_decimal(price) for price in row.prices_mtok),
        *(
            format_decimal(None if price is None else price.scaleb(PER_TOKEN_SHIFT))
            for price in row.prices_mtok
        ),
        ";".join(row.catalogue_price_keys),
        ";".join(row.excluded_price_keys),
        "true" if row.is_price_rounded else "false",
        SOURCE,
    ]


# --------------------------------------------------------------------------- aliases


@dataclass(frozen=True)
class AliasRow:
    """One flattened match clause."""

    provider_id: str
    match_priority: int
    model_provider_id: str
    model_id: str
    match_group: int
    match_kind: str
    match_value: str
    is_negated: bool
    is_fallback: bool


def _leaf(clause: object) -> tuple[str, str, bool]:
    """(match_kind, match_value, is_negated) of a leaf clause, ready for SQL."""
    if isinstance(clause, gp.ClauseEquals):
        return "equals", clause.equals.lower(), False
    if isinstance(clause, gp.ClauseStartsWith):
        return "starts_with", clause.starts_with.lower(), False
    if isinstance(clause, gp.ClauseEndsWith):
        return "ends_with", clause.ends_with.lower(), False
    if isinstance(clause, gp.ClauseContains):
        return "contains", clause.contains.lower(), False
    if isinstance(clause, gp.ClauseRegex):
        if not _NON_RE2_RE.search(clause.regex):
            return "regex", clause.regex, False
        lookahead = _NEGATIVE_LOOKAHEAD_RE.match(clause.regex)
        if lookahead and not _NON_RE2_RE.search(lookahead["inner"]):
            return "regex", lookahead["inner"], True
        raise CatalogueError(f"regex not expressible in RE2: {clause.regex!r}")
    raise CatalogueError(f"unknown clause {clause!r}")


def _dnf(clause: object) -> list[list[object]]:
    """Disjunctive normal form: a list of conjunctions of leaf clauses."""
    if isinstance(clause, gp.ClauseOr):
        return [conjunction for child in clause.or_ for conjunction in _dnf(child)]
    if isinstance(clause, gp.ClauseAnd):
        products = itertools.product(*(_dnf(child) for child in clause.and_))
        return [[leaf for part in product for leaf in part] for product in products]
    return [[clause]]


def _search_order(provider: gp.Provider) -> Iterator[tuple[gp.Provider, gp.ModelInfo]]:
    """Models in the order `Provider.find_model` tries them (own models, then one fallback step)."""
    yield from ((provider, model) for model in provider.models)
    by_id = {candidate.id: candidate for candidate in CATALOGUE}
    for fallback_id in provider.fallback_model_providers or ():
        if fallback := by_id.get(fallback_id):
            yield from ((fallback, model) for model in fallback.models)


def build_alias_rows(report: BuildReport) -> list[AliasRow]:
    """Flatten every provider's model-matching order."""
    rows: list[AliasRow] = []
    for provider in CATALOGUE:
        for priority, (owner, model) in enumerate(_search_order(provider), start=1):
            group = 0
            for conjunction in _dnf(model.match):
                try:
                    leaves = sorted({_leaf(clause) for clause in conjunction})
                except CatalogueError as error:
                    report.unexpressed_clauses.append(f"{owner.id}/{model.id}: {error}")
                    continue
                group += 1
                rows.extend(
                    AliasRow(
                        provider_id=provider.id,
                        match_priority=priority,
                        model_provider_id=owner.id,
                        model_id=model.id,
                        match_group=group,
                        match_kind=kind,
                        match_value=value,
                        is_negated=negated,
                        is_fallback=owner is not provider,
                    )
                    for kind, value, negated in leaves
                )
    rows.sort(
        key=lambda row: (
            row.provider_id,
            row.match_priority,
            row.match_group,
            row.match_kind,
            row.match_value,
            row.is_negated,
        )
    )
    return rows


def _alias_row_values(row: AliasRow) -> list[str]:
    return [
        row.provider_id,
        str(row.match_priority),
        row.model_provider_id,
        row.model_id,
        str(row.match_group),
        row.match_kind,
        row.match_value,
        "true" if row.is_negated else "false",
        "true" if row.is_fallback else "false",
    ]


# --------------------------------------------------------------------------- output


def _to_csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for values in rows:
        for value in values:
            # dbt reads '' and 'null' in text columns as NULL: only prices may be empty.
            if value.lower() == "null":
                raise CatalogueError(f"value {value!r} would load as NULL in dbt")
        writer.writerow(values)
    return buffer.getvalue()


def render(report: BuildReport | None = None) -> dict[str, str]:
    """The generated seed files, by file name."""
    report = report if report is not None else BuildReport()
    price_rows = build_price_rows(report)
    alias_rows = build_alias_rows(report)
    return {
        "price_book.csv": _to_csv(PRICE_BOOK_COLUMNS, map(_price_row_values, price_rows)),
        "model_aliases.csv": _to_csv(MODEL_ALIAS_COLUMNS, map(_alias_row_values, alias_rows)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Write the generated seeds and print what could not be expressed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds-dir", type=Path, default=DEFAULT_SEEDS_DIR)
    parser.add_argument("--verbose", action="store_true", help="list every skipped item")
    args = parser.parse_args(argv)

    report = BuildReport()
    files = render(report)
    args.seeds_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = args.seeds_dir / name
        path.write_text(text, encoding="utf-8", newline="")
        rows = text.count("\n") - 1
        print(f"wrote {path} ({rows} rows, {len(text.encode()):,} bytes) from {SOURCE}")
    sections = {
        "models without token prices (skipped)": report.skipped_models,
        "prices genai-prices itself rejects (skipped)": report.unpriceable_prices,
        "variants on other context keys (not expressed)": report.skipped_variants,
        "models with float-noise prices (rounded to 12 dp)": sorted(set(report.rounded_prices)),
        "clauses not expressible in SQL (dropped)": report.unexpressed_clauses,
    }
    for title, items in sections.items():
        print(f"{title}: {len(items)}")
        if args.verbose:
            for item in items:
                print(f"  {item}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
