"""Resources shared by every domain: the DuckDB warehouse and the landing directory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.lib import loader, paths


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file; one writer at a time, so connections are short-lived."""

    database: str
    landing_dir: str

    @property
    def landing_root(self) -> Path:
        return Path(self.landing_dir)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = loader.connect(self.database)
        try:
            yield con
        finally:
            con.close()


def warehouse_resource() -> WarehouseResource:
    """The resource as configured by the environment (same variables as profiles.yml)."""
    return WarehouseResource(
        database=str(paths.warehouse_path()),
        landing_dir=str(paths.landing_path()),
    )
