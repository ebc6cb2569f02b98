"""Resources shared by every domain: the DuckDB warehouse and the landing directory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.lib import loader, paths


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file; one writer at a time, so connections are short-lived.

    Unset paths are read from the environment when used (AI_CHARGEBACK_DUCKDB,
    AI_CHARGEBACK_LANDING), the same variables dbt's profiles.yml reads.
    """

    database: str | None = None
    landing_dir: str | None = None

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


def warehouse_resource() -> WarehouseResource:
    """The resource as configured by the environment (same variables as profiles.yml)."""
    return WarehouseResource()
