"""The SQL price of an attempt equals genai_prices.calc_price on the same inputs, exactly."""

from __future__ import annotations

import random
from datetime import UTC
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price

from tests.conftest import PipelineRun

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

_SAMPLE = 1_000


def test_sql_cost_equals_genai_prices_for_random_priced_attempts(
    pipeline_run: PipelineRun,
) -> None:
    with pipeline_run.connect() as con:
        rows = con.execute(
            """
            select attempt_id, price_book_provider_id, model_id, started_at, service_tier,
                is_batch, uncached_input_tokens, cache_read_tokens, cache_write_tokens,
                cache_write_1h_tokens, output_tokens, reasoning_tokens, list_cost_usd
            from marts.fct_gateway_attempts
            where pricing_status = 'priced' and list_cost_usd > 0
            order by attempt_id
            """
        ).fetchall()
    assert len(rows) >= _SAMPLE
    sample = random.Random(20261204).sample(rows, _SAMPLE)
    mismatches = []
    for (
        attempt_id,
        provider,
        model,
        started_at,
        tier,
        is_batch,
        uncached,
        cache_read,
        cache_write,
        cache_write_1h,
        output,
        reasoning,
        sql_cost,
    ) in sample:
        context = {"processing": "batch"} if is_batch else {}
        if tier and tier != "default":
            context["service_tier"] = tier
        usage = Usage(
            input_tokens=uncached + cache_read + cache_write,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            cache_write_1h_tokens=cache_write_1h,
            output_tokens=output,
            output_reasoning_tokens=reasoning,
        )
        expected = calc_price(
            usage,
            model,
            provider_id=provider,
            genai_request_timestamp=started_at.replace(tzinfo=UTC),
            price_context=context or None,
        ).total_price
        if Decimal(expected) != sql_cost:
            mismatches.append((attempt_id, model, sql_cost, expected))
    assert mismatches == []
    kinds = {(row[2], row[5], row[7] > 0) for row in sample}
    assert len(kinds) >= 5  # the sample spans models, batch and cached traffic
