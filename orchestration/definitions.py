"""The Dagster code location: merges every domain under defs/ into one Definitions."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.dbt.assets import ai_chargeback_dbt_assets
from orchestration.defs.dbt.resources import dbt_resource
from orchestration.defs.ingest.assets import raw_loader_assets
from orchestration.defs.jobs import all_assets_job
from orchestration.defs.resources import warehouse_resource
from orchestration.defs.schedules.schedules import daily_schedule, landing_sensor

defs = dg.Definitions(
    assets=[*raw_loader_assets, ai_chargeback_dbt_assets],
    jobs=[all_assets_job],
    schedules=[daily_schedule],
    sensors=[landing_sensor],
    resources={"warehouse": warehouse_resource(), "dbt": dbt_resource()},
    # DuckDB allows one writer per file: steps run one after another in one process.
    executor=dg.in_process_executor,
)
