"""Daily partitions over the landing dates: a run loads one day's files and rebuilds its window."""

from __future__ import annotations

import os
from datetime import date, timedelta

import dagster as dg

PARTITION_START_ENV = "AI_CHARGEBACK_PARTITION_START"
DEFAULT_PARTITION_START = "2026-01-01"

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=os.environ.get(PARTITION_START_ENV, DEFAULT_PARTITION_START),
    timezone="UTC",
)


def landing_dates_of(context: dg.AssetExecutionContext) -> set[date] | None:
    """The landing dates a run covers: its partition range, or every date when unpartitioned."""
    if not context.has_partition_key_range:
        return None
    window = context.partition_time_window
    first, last = window.start.date(), window.end.date()
    return {first + timedelta(days=n) for n in range((last - first).days)}
