"""Shared resources: the warehouse (DuckDB, Postgres or Spark) and the landing directory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa

from orchestration.lib import loader, paths
from orchestration.lib.sources import SourceSpec


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file; one writer at a time, so connections are short-lived.

    Unset paths are read from the environment when used (AI_CHARGEBACK_DUCKDB,
    AI_CHARGEBACK_LANDING), the same variables dbt's profiles.yml reads. The target
    (AI_CHARGEBACK_TARGET: duckdb, the default, postgres or spark) decides where the raw loaders
    write; on Postgres they parse with DuckDB in memory and COPY the rows
    (orchestration/lib/postgres.py); on Spark, Spark itself reads the landing files and writes
    the parquet that dbt-spark registers as the raw tables (orchestration/lib/spark_loader.py),
    and marts are read back from their parquet (orchestration/lib/spark.py).
    """

    database: str | None = None
    landing_dir: str | None = None
    target: str | None = None

    @property
    def target_name(self) -> str:
        return self.target or paths.warehouse_target()

    @property
    def database_path(self) -> Path:
        return Path(self.database) if self.database else paths.warehouse_path()

    @property
    def landing_root(self) -> Path:
        return Path(self.landing_dir) if self.landing_dir else paths.landing_path()

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = loader.connect(self.database_path)
        try:
            yield con
        finally:
            con.close()

    def load_source(
        self, spec: SourceSpec, *, dates: set[date] | None
    ) -> tuple[loader.LoadReport, int, int]:
        """Load a source's new or changed files: (report, rows in its raw table, its quarantine
        rows)."""
        if self.target_name == "postgres":
            from orchestration.lib import postgres

            with postgres.connection() as pg:
                report = postgres.load_source(pg, spec, self.landing_root, dates=dates)
                return report, *postgres.table_counts(pg, spec)
        if self.target_name == "spark":
            from orchestration.lib import spark

            return spark.load_source(spec, self.landing_root, dates=dates)
        with self.connect() as con:
            report = loader.load_source(con, spec, self.landing_root, dates=dates)
            table_rows = con.execute(f"select count(*) from raw.{spec.table}").fetchone()[0]
            quarantine_rows = con.execute(
                "select count(*) from audit.quarantine where source = ?", [spec.name]
            ).fetchone()[0]
        return report, int(table_rows), int(quarantine_rows)

    def read_arrow(self, query: str) -> pa.Table:
        """A query's result as Arrow, read-only (DECIMAL kept exact) from either target."""
        if self.target_name == "postgres":
            from orchestration.lib import postgres

            with postgres.connection() as pg:
                return postgres.query_arrow(pg, query)
        if self.target_name == "spark":
            from orchestration.lib import spark

            return spark.read_arrow(query)
        con = duckdb.connect(str(self.database_path), read_only=True)
        try:
            return con.execute(query).to_arrow_table()
        finally:
            con.close()


def warehouse_resource() -> WarehouseResource:
    """The resource as configured by the environment (same variables as profiles.yml)."""
    return WarehouseResource()
