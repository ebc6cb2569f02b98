"""Jobs over the asset graph."""

from __future__ import annotations

import dagster as dg


all_assets_job = dg.define_asset_job(
    name="ai_chargeback_all",
    selection=dg.AssetSelection.all(),
    description="Landing files of the partition's days -> raw -> staging -> marts, with checks.",
)
