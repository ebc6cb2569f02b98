"""The daily schedule targets yesterday; the landing sensor launches complete or changed days."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from ai_chargeback.pipeline import prepare_dbt_manifest

pytestmark = pytest.mark.xdist_group("e2e")  # dbt parse writes target/


@pytest.fixture(scope="module")
def schedules_module():
    prepare_dbt_manifest()
    from orchestration.defs.schedules import schedules

    return schedules


def test_the_daily_schedule_runs_yesterday_after_the_usage_apis_settle(schedules_module) -> None:
    from orchestration.definitions import defs

    schedule = defs.resolve_schedule_def("daily_chargeback_schedule")
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 5, 6, 0, tzinfo=UTC)
    )
    result = schedule.evaluate_tick(context)
    assert [r.partition_key for r in result.run_requests] == ["2026-11-04"]
    assert schedule.cron_schedule == "0 6 * * *"


def _land(root: Path, source: str, day: str, name: str, text: str = "{}\n") -> None:
    path = root / source / day / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_sensor_launches_a_run_for_each_newly_complete_or_changed_day(
    schedules_module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AI_CHARGEBACK_LANDING", str(tmp_path))
    for source in ("gateway_spans", "app_requests", "provider_costs"):
        _land(tmp_path, source, "2026-11-03", "part-1.jsonl")
    _land(tmp_path, "gateway_spans", "2026-11-04", "part-1.jsonl")  # still landing
    sensor = schedules_module.landing_sensor

    first = sensor(dg.build_sensor_context(cursor=None))
    assert [r.partition_key for r in first.run_requests] == ["2026-11-03"]

    again = sensor(dg.build_sensor_context(cursor=first.cursor))
    assert isinstance(again, dg.SkipReason)

    _land(tmp_path, "app_requests", "2026-11-04", "late.jsonl")
    _land(tmp_path, "provider_costs", "2026-11-04", "openai_costs_p1.json")
    _land(tmp_path, "app_requests", "2026-11-03", "late-from-yesterday.jsonl")
    third = sensor(dg.build_sensor_context(cursor=first.cursor))
    keys = sorted(r.partition_key for r in third.run_requests)
    assert keys == ["2026-11-03", "2026-11-04"]
    run_keys = {r.run_key for r in first.run_requests} | {r.run_key for r in third.run_requests}
    assert len(run_keys) == 3  # a changed day gets a new run key
    assert set(json.loads(third.cursor)) == {"2026-11-03", "2026-11-04"}
