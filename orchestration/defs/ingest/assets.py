"""Raw loader assets: one per landing source, each loading its new or changed files in bulk.

Partitioned by landing date: a daily run loads that day's folder only; a range backfill (one
run, BackfillPolicy.single_run) loads every date of the range.
"""

import dagster as dg

from orchestration.defs.partitions import daily_partitions, landing_dates_of
from orchestration.defs.resources import WarehouseResource
from orchestration.lib.paths import warehouse_target
from orchestration.lib.sources import SOURCES, SourceSpec

RAW_KEY_PREFIX = "raw"


def raw_asset_key(source_name: str) -> dg.AssetKey:
    """The asset key of a raw table; dbt sources map onto the same keys."""
    return dg.AssetKey([RAW_KEY_PREFIX, source_name])


def _build_loader_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_asset_key(spec.name),
        group_name="ingest",
        kinds={"python", warehouse_target()},
        description=spec.description,
        metadata={"landing_folder": spec.folder, "format": spec.format},
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def _load(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """Load the source's landing files of the run's dates, quarantining bad records."""
        dates = landing_dates_of(context)
        report, table_rows, quarantine_rows = warehouse.load_source(spec, dates=dates)
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
                "table_rows": int(table_rows),
                "quarantine_rows": int(quarantine_rows),
            }
        )

    return _load


raw_loader_assets = [_build_loader_asset(spec) for spec in SOURCES.values()]
