"""How dbt nodes appear in Dagster: sources are the raw loader assets, folders are groups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

_GROUP_BY_FOLDER = {
    "staging": "staging",
    "intermediate": "intermediate",
    "marts": "marts",
}


class ChargebackDbtTranslator(DagsterDbtTranslator):
    """dbt sources -> ``<schema>/<table>``; models grouped by top folder; seeds in ``reference``."""

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            # raw tables are the loader assets (raw/<table>); audit tables keep their schema
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        fqn = dbt_resource_props.get("fqn", [])
        if len(fqn) > 1 and fqn[1] in _GROUP_BY_FOLDER:
            return _GROUP_BY_FOLDER[fqn[1]]
        return super().get_group_name(dbt_resource_props)
