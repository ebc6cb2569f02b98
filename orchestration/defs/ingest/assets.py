"""Raw loader assets: one per landing source, each loading new or changed files in bulk."""

import dagster as dg

from orchestration.defs.resources import WarehouseResource
from orchestration.lib import loader
from orchestration.lib.sources import SOURCES, SourceSpec

RAW_KEY_PREFIX = "raw"


def raw_asset_key(source_name: str) -> dg.AssetKey:
    """The asset key of a raw table; dbt sources map onto the same keys."""
    return dg.AssetKey([RAW_KEY_PREFIX, source_name])


def _build_loader_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_asset_key(spec.name),
        group_name="ingest",
        kinds={"python", "duckdb"},
        description=spec.description,
        metadata={"landing_folder": spec.folder, "format": spec.format},
    )
    def _load(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """Load the source's landing files into raw, quarantining bad records."""
        with warehouse.connect() as con:
            report = loader.load_source(con, spec, warehouse.landing_root)
            totals = con.execute(
                f"select count(*) from raw.{spec.table}"  # table name comes from the spec
            ).fetchone()
            quarantined_total = con.execute(
                "select count(*) from audit.quarantine where source = ?", [spec.name]
            ).fetchone()
        for file in report.files:
            if file.rows_quarantined:
                context.log.warning(
                    f"{file.relative_path}: {file.rows_quarantined} record(s) quarantined"
                )
        return dg.MaterializeResult(
            metadata={
                "files_loaded": report.files_loaded,
                "files_unchanged": report.files_unchanged,
                "rows_loaded": report.rows_loaded,
                "rows_quarantined": report.rows_quarantined,
                "table_rows": int(totals[0]),
                "quarantine_rows": int(quarantined_total[0]),
            }
        )

    return _load


raw_loader_assets = [_build_loader_asset(spec) for spec in SOURCES.values()]
