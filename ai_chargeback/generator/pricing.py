"""List prices exactly as `genai_prices.calc_price` computes them, fast enough for millions.

`calc_price` runs at about 13k calls/s. Prices only change by UTC date (start-date constraints)
and by price context (batch), so `PriceBook` asks genai-prices once per (provider, model, date,
batch) for the resolved `ModelPrice` and then repeats genai-prices' own arithmetic, operation
by operation (leaf token counts, tier choice, `price * count / per` summed in the same order
and the same decimal context), so the result is the very same `Decimal`. The tests compare it
with `calc_price` on a sample. Time-of-day prices would break the per-date cache, so a model
that has them is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from genai_prices import Usage, calc_price
from genai_prices.decompose import is_descendant_or_self
from genai_prices.types import (
    ModelInfo,
    StartDateConstraint,
    TieredPrices,
    _collect_resolved_model_prices,  # private, but the only way to replay its arithmetic
)
from genai_prices.units import _get_registry

USAGE_KEYS: tuple[str, ...] = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
)
BATCH_CONTEXT: Mapping[str, str] = {"processing": "batch"}


def make_usage(
    *, uncached: int, cache_read: int, cache_write: int, cache_write_1h: int, output: int
) -> Usage:
    """The genai-prices `Usage` of one attempt (input includes cache reads and writes)."""
    return Usage(
        input_tokens=uncached + cache_read + cache_write,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        cache_write_1h_tokens=cache_write_1h,
        output_tokens=output,
    )


def reference_price(
    *,
    provider: str,
    model_ref: str,
    at: datetime,
    batch: bool,
    uncached: int,
    cache_read: int,
    cache_write: int,
    cache_write_1h: int,
    output: int,
) -> Decimal:
    """`genai_prices.calc_price(...).total_price` for one attempt (the slow reference)."""
    usage = make_usage(
        uncached=uncached,
        cache_read=cache_read,
        cache_write=cache_write,
        cache_write_1h=cache_write_1h,
        output=output,
    )
    result = calc_price(
        usage,
        model_ref,
        provider_id=provider,
        genai_request_timestamp=at,
        price_context=BATCH_CONTEXT if batch else None,
    )
    return result.total_price


@dataclass(frozen=True)
class PriceRow:
    """The resolved price of one model on one date in one context, ready to replay."""

    model_id: str
    units: tuple[tuple[str, Decimal | TieredPrices, int], ...]  # (usage_key, price, per)
    leaf_plan: tuple[tuple[str, tuple[str, ...]], ...]  # (usage_key, descendant usage keys)
    tiered: bool
    tier_starts: tuple[int, ...]

    def leaves(self, usage: Mapping[str, int]) -> dict[str, int]:
        """Token counts per priced unit, most specific unit first (genai-prices' leaf values)."""
        leaf: dict[str, int] = {}
        for key, descendants in self.leaf_plan:
            value = usage.get(key, 0)
            for descendant in descendants:
                value -= leaf[descendant]
            if value < 0:
                raise ValueError(f"usage {dict(usage)} gives {key} a negative leaf count {value}")
            leaf[key] = value
        return leaf

    def tier_marker(self, total_input: int) -> int:
        """The largest tier start the prompt exceeds (-1: base prices)."""
        marker = -1
        for start in self.tier_starts:
            if total_input > start:
                marker = start
        return marker

    def rate(self, usage_key: str, marker: int) -> tuple[Decimal, int]:
        """Price per `per` units of one usage key for a tier marker."""
        for key, price, per in self.units:
            if key == usage_key:
                if isinstance(price, TieredPrices):
                    applicable = price.base
                    for tier in reversed(price.tiers):
                        if marker >= tier.start:
                            applicable = tier.price
                            break
                    return applicable, per
                return price, per
        raise KeyError(usage_key)

    def price(self, usage: Mapping[str, int]) -> tuple[Decimal, dict[str, int]]:
        """Total list price and the leaf counts (same Decimal as `calc_price`)."""
        leaf = self.leaves(usage)
        total_input = usage.get("input_tokens", 0) if self.tiered else 0
        total = Decimal(0)
        for key, price, per in self.units:
            count = 1 if key == "requests" else leaf[key]
            if isinstance(price, TieredPrices):
                applicable = price.base
                for tier in reversed(price.tiers):
                    if total_input > tier.start:
                        applicable = tier.price
                        break
                total += applicable * Decimal(count) / per
            else:
                total += price * Decimal(count) / per
        return total, leaf


class PriceBook:
    """Caches one `PriceRow` per (provider, model ref, UTC date, batch)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str, date, bool], PriceRow | None] = {}

    def row(
        self, provider: str, model_ref: str | None, day: date, *, batch: bool
    ) -> PriceRow | None:
        """The price row, or None when genai-prices does not know the provider or model."""
        if model_ref is None:
            return None
        key = (provider, model_ref, day, batch)
        if key not in self._rows:
            self._rows[key] = _resolve(provider, model_ref, day, batch)
        return self._rows[key]


def _resolve(provider: str, model_ref: str, day: date, batch: bool) -> PriceRow | None:
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    try:
        result = calc_price(
            Usage(input_tokens=1, output_tokens=1),
            model_ref,
            provider_id=provider,
            genai_request_timestamp=at,
            price_context=BATCH_CONTEXT if batch else None,
        )
    except LookupError:
        return None
    _refuse_time_of_day_prices(result.model)
    registry = _get_registry()
    resolved = _collect_resolved_model_prices(result.model_price, registry)
    units = tuple((unit.usage_key, price, unit.per) for unit, price in resolved)
    leaf_units = sorted(
        (unit for unit, _ in resolved if unit.usage_key != "requests"),
        key=lambda unit: (-len(unit.dimensions), unit.usage_key),
    )
    leaf_plan = tuple(
        (
            unit.usage_key,
            tuple(
                other.usage_key
                for other in leaf_units
                if other is not unit and is_descendant_or_self(unit, other)
            ),
        )
        for unit in leaf_units
    )
    tier_starts = sorted(
        {
            tier.start
            for _, price, _ in units
            if isinstance(price, TieredPrices)
            for tier in price.tiers
        }
    )
    return PriceRow(
        model_id=result.model.id,
        units=units,
        leaf_plan=leaf_plan,
        tiered=bool(tier_starts),
        tier_starts=tuple(tier_starts),
    )


def _refuse_time_of_day_prices(model: ModelInfo) -> None:
    constraints = []
    if isinstance(model.prices, list):
        constraints.extend(conditional.constraint for conditional in model.prices)
    constraints.extend(variant.constraint for variant in model.price_variants or ())
    for constraint in constraints:
        if constraint is not None and not isinstance(constraint, StartDateConstraint):
            raise ValueError(
                f"model {model.id} has a {type(constraint).__name__} price: the per-date price "
                "cache cannot replay it"
            )
