"""Shared fixtures: a small generated month slice run through the whole pipeline once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

E2E_DAYS = 3
E2E_TENANTS = 4
E2E_REQUESTS_PER_DAY = 500
E2E_SEED = 7
E2E_START = date(2026, 11, 1)


@dataclass(frozen=True)
class PipelineRun:
    """A generated landing directory, the warehouse the pipeline built from it and the snapshot
    it published for readers."""

    landing: Path
    warehouse: Path
    published: Path
    result: dg.ExecuteInProcessResult

    @property
    def truth(self) -> Path:
        return self.landing / "_ground_truth"

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.warehouse), read_only=True)


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineRun]:
    """Generate a small data set and materialise every asset through Dagster, once."""
    from ai_chargeback import pipeline
    from ai_chargeback.generator import generate

    root = tmp_path_factory.mktemp("e2e")
    landing = root / "landing"
    warehouse = root / "warehouse.duckdb"
    published = root / "published" / "warehouse.duckdb"
    generate(
        landing,
        days=E2E_DAYS,
        tenants=E2E_TENANTS,
        requests_per_day=E2E_REQUESTS_PER_DAY,
        seed=E2E_SEED,
        start=E2E_START,
    )
    variables = ("AI_CHARGEBACK_DUCKDB", "AI_CHARGEBACK_LANDING", "AI_CHARGEBACK_PUBLISHED")
    previous = {k: os.environ.get(k) for k in variables}
    os.environ["AI_CHARGEBACK_DUCKDB"] = str(warehouse)
    os.environ["AI_CHARGEBACK_LANDING"] = str(landing)
    # the snapshot follows the warehouse (published/ beside it) in this and every later run
    os.environ.pop("AI_CHARGEBACK_PUBLISHED", None)
    try:
        result = pipeline.run_all(dagster_instance=dg.DagsterInstance.ephemeral())
        yield PipelineRun(landing=landing, warehouse=warehouse, published=published, result=result)
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
