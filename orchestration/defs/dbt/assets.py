"""The dbt project as Dagster assets: seeds, staging, intermediate and marts, with their tests.

Partitioned by day like the loaders. A partitioned run passes its window to dbt
(run_window_start = first day - lookback_days, run_window_end = last day + 1), so the
day-partitioned incremental facts rebuild that window only; `full_refresh` rebuilds everything.
"""

import json
from collections.abc import Mapping
from datetime import date, timedelta

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from orchestration.defs.partitions import daily_partitions
from orchestration.lib.paths import PROJECT_ROOT
from orchestration.lib.translator import ChargebackDbtTranslator

dbt_project = DbtProject(project_dir=PROJECT_ROOT, profiles_dir=PROJECT_ROOT)
dbt_project.prepare_if_dev()

DEFAULT_LOOKBACK_DAYS = 2
DBT_OP_NAME = "ai_chargeback_dbt_assets"


class DbtBuildConfig(dg.Config):
    """Run options of the dbt build."""

    full_refresh: bool = False
    lookback_days: int = DEFAULT_LOOKBACK_DAYS


def rebuilt_window(partitions: dg.TimeWindow, lookback_days: int) -> tuple[date, date]:
    """The days ``[start, end)`` a partitioned run rebuilds in the day-partitioned facts: its
    partition range widened back by ``lookback_days``."""
    return (partitions.start - timedelta(days=lookback_days)).date(), partitions.end.date()


def dbt_build_config_of_run(run_config: Mapping) -> DbtBuildConfig:
    """The dbt asset's config in a run's config (its defaults when the run sets none)."""
    ops = run_config.get("ops") or {}
    op_config = (ops.get(DBT_OP_NAME) or {}).get("config") or {}
    return DbtBuildConfig(**op_config)


def dbt_build_args(context: dg.AssetExecutionContext, config: DbtBuildConfig) -> list[str]:
    """`dbt build` arguments for this run: the window vars, or a full refresh."""
    args = ["build"]
    if config.full_refresh:
        return [*args, "--full-refresh"]
    if context.has_partition_key_range:
        start, end = rebuilt_window(context.partition_time_window, config.lookback_days)
        variables = {
            "run_window_start": start.isoformat(),
            "run_window_end": end.isoformat(),
            "lookback_days": config.lookback_days,
        }
        args += ["--vars", json.dumps(variables)]
    return args


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=ChargebackDbtTranslator(),
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def ai_chargeback_dbt_assets(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig
):
    """Build every dbt model, seed and data/unit test of the run's window in dependency order."""
    yield from dbt.cli(dbt_build_args(context, config), context=context).stream()
