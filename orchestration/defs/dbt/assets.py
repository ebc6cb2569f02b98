"""The dbt project as Dagster assets: seeds, staging, intermediate and marts, with their tests."""

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from orchestration.lib.paths import PROJECT_ROOT
from orchestration.lib.translator import ChargebackDbtTranslator

dbt_project = DbtProject(project_dir=PROJECT_ROOT, profiles_dir=PROJECT_ROOT)
dbt_project.prepare_if_dev()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=ChargebackDbtTranslator(),
)
def ai_chargeback_dbt_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """Build every dbt model, seed and data/unit test in dependency order."""
    yield from dbt.cli(["build"], context=context).stream()
