"""The dbt project as Dagster assets: seeds, staging, intermediate and marts, with their tests.

Partitioned by day like the loaders. A partitioned run passes its window to dbt
(run_window_start = first day - lookback_days, run_window_end = last day + 1), so the
day-partitioned incremental facts rebuild that window only; `full_refresh` rebuilds everything.
"""

import json
from datetime import timedelta

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from orchestration.defs.partitions import daily_partitions
from orchestration.lib.paths import PROJECT_ROOT
from orchestration.lib.translator import ChargebackDbtTranslator

dbt_project = DbtProject(project_dir=PROJECT_ROOT, profiles_dir=PROJECT_ROOT)
dbt_project.prepare_if_dev()

DEFAULT_LOOKBACK_DAYS = 2


class DbtBuildConfig(dg.Config):
    """Run options of the dbt build."""

    full_refresh: bool = False
    lookback_days: int = DEFAULT_LOOKBACK_DAYS


def dbt_build_args(context: dg.AssetExecutionContext, config: DbtBuildConfig) -> list[str]:
    """`dbt build` arguments for this run: the window vars, or a full refresh."""
    args = ["build"]
    if config.full_refresh:
        return [*args, "--full-refresh"]
    if context.has_partition_key_range:
        window = context.partition_time_window
        variables = {
            "run_window_start": (window.start - timedelta(days=config.lookback_days))
            .date()
            .isoformat(),
            "run_window_end": window.end.date().isoformat(),
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
