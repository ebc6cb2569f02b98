"""When runs start: every morning for yesterday, and whenever a landing day becomes complete."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import date
from pathlib import Path

import dagster as dg

from orchestration.defs.jobs import all_assets_job
from orchestration.defs.partitions import daily_partitions
from orchestration.lib import landing, paths

# Provider usage and cost APIs settle a few hours after midnight UTC.
SCHEDULE_HOUR_UTC = 6

# A landing day is complete when each of these sources has delivered at least one file for it.
COMPLETE_DAY_SOURCES = ("gateway_spans", "app_requests", "provider_costs")

daily_schedule = dg.build_schedule_from_partitioned_job(
    all_assets_job,
    hour_of_day=SCHEDULE_HOUR_UTC,
    minute_of_hour=0,
    name="daily_chargeback_schedule",
    description="Every day at 06:00 UTC, load and rebuild yesterday (plus the lookback window).",
)


def _day_fingerprint(landing_root: Path, day: date) -> str | None:
    """A digest of every file of the day, or None while the day is incomplete."""
    files = []
    for source_dir in sorted(p for p in landing_root.iterdir() if p.is_dir()):
        if source_dir.name.startswith("_"):
            continue
        for found in landing.discover(landing_root, source_dir.name, dates={day}):
            stat = found.path.stat()
            files.append((found.relative_path, stat.st_size, stat.st_mtime_ns))
    sources = {relative.split("/", 1)[0] for relative, _, _ in files}
    if not set(COMPLETE_DAY_SOURCES) <= sources:
        return None
    return hashlib.sha256(json.dumps(files).encode()).hexdigest()[:16]


@dg.sensor(
    job=all_assets_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Launches a run for a landing day that became complete or whose files changed.",
)
def landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """Watch the landing directory; one run per complete (or changed) day."""
    landing_root = Path(os.environ.get(paths.LANDING_ENV) or paths.landing_path())
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    if not landing_root.is_dir():
        return dg.SkipReason(f"landing directory {landing_root} does not exist")
    valid_keys = set(daily_partitions.get_partition_keys())
    requests: list[dg.RunRequest] = []
    for day in landing.landing_dates(landing_root):
        key = day.isoformat()
        if key not in valid_keys:
            continue
        fingerprint = _day_fingerprint(landing_root, day)
        if fingerprint is None or seen.get(key) == fingerprint:
            continue
        seen[key] = fingerprint
        requests.append(dg.RunRequest(run_key=f"{key}:{fingerprint}", partition_key=key))
    if not requests:
        return dg.SkipReason("no landing day became complete or changed")
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))
