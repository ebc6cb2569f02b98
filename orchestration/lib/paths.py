"""Where the project, the warehouse and the landing data live (overridable by env vars)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DUCKDB_ENV = "AI_CHARGEBACK_DUCKDB"
LANDING_ENV = "AI_CHARGEBACK_LANDING"
DEFAULT_DUCKDB = "warehouse/ai_chargeback.duckdb"
DEFAULT_LANDING = "data/landing"
PUBLISHED_ENV = "AI_CHARGEBACK_PUBLISHED"
TARGET_ENV = "AI_CHARGEBACK_TARGET"
TARGETS = ("duckdb", "postgres", "spark")
SPARK_DIR_ENV = "AI_CHARGEBACK_SPARK_DIR"
DEFAULT_SPARK_DIR = "warehouse/spark"


def _resolve(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else PROJECT_ROOT / path


def warehouse_path() -> Path:
    """The DuckDB warehouse file: $AI_CHARGEBACK_DUCKDB or warehouse/ai_chargeback.duckdb."""
    return _resolve(os.environ.get(DUCKDB_ENV, DEFAULT_DUCKDB))


def published_path() -> Path:
    """The snapshot readers open (BI tool, SQL clients): $AI_CHARGEBACK_PUBLISHED, else
    `published/<warehouse file name>` beside the warehouse (warehouse/published/ai_chargeback.duckdb
    by default)."""
    value = os.environ.get(PUBLISHED_ENV)
    if value:
        return _resolve(value)
    warehouse = warehouse_path()
    return warehouse.parent / "published" / warehouse.name


def landing_path() -> Path:
    """The landing directory: $AI_CHARGEBACK_LANDING or data/landing."""
    return _resolve(os.environ.get(LANDING_ENV, DEFAULT_LANDING))


def spark_dir() -> Path:
    """Everything the Spark target keeps (parquet warehouse, Derby metastore, scratch):
    $AI_CHARGEBACK_SPARK_DIR or warehouse/spark, always absolute."""
    return _resolve(os.environ.get(SPARK_DIR_ENV, DEFAULT_SPARK_DIR))


def warehouse_target() -> str:
    """The warehouse target: $AI_CHARGEBACK_TARGET (duckdb, the default, postgres or spark), the
    same variable that picks the dbt output in profiles.yml."""
    target = os.environ.get(TARGET_ENV, "duckdb")
    if target not in TARGETS:
        raise ValueError(f"{TARGET_ENV}={target!r} is not one of {', '.join(TARGETS)}")
    return target
