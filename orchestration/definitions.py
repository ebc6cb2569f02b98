"""The Dagster code location: merges every domain under defs/ into one Definitions."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.dbt.assets import ai_chargeback_dbt_assets
from orchestration.defs.dbt.resources import dbt_resource
from orchestration.defs.ingest.assets import raw_loader_assets
from orchestration.defs.jobs import all_assets_job, checks_and_reports_job
from orchestration.defs.publish.assets import published_marts
from orchestration.defs.quality.checks import great_expectations_checks
from orchestration.defs.reports.assets import chargeback_statement_lines
from orchestration.defs.resources import warehouse_resource
from orchestration.defs.schedules.schedules import daily_schedule, landing_sensor

defs = dg.Definitions(
    assets=[
        *raw_loader_assets,
        ai_chargeback_dbt_assets,
        chargeback_statement_lines,
        published_marts,
    ],
    asset_checks=great_expectations_checks,
    jobs=[all_assets_job, checks_and_reports_job],
    schedules=[daily_schedule],
    sensors=[landing_sensor],
    resources={"warehouse": warehouse_resource(), "dbt": dbt_resource()},
    # DuckDB allows one writer per file: steps run one after another in one process.
    executor=dg.in_process_executor,
)
