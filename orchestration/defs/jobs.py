"""Jobs over the asset graph."""

import dagster as dg

from orchestration.defs.quality.checks import great_expectations_checks

all_assets_job = dg.define_asset_job(
    name="ai_chargeback_all",
    selection=dg.AssetSelection.all(),
    description="Landing files of the partition's days -> raw -> staging -> marts, with checks.",
)

checks_and_reports_job = dg.define_asset_job(
    name="checks_and_reports",
    selection=(
        dg.AssetSelection.checks(*great_expectations_checks) | dg.AssetSelection.groups("reports")
    ),
    description="Re-validate the marts (Great Expectations), re-write the reports and re-publish "
    "the readers' snapshot, without rebuilding the marts.",
)
