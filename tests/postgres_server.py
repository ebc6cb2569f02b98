"""The local PostgreSQL of the Postgres tests: started by scripts/postgres.sh, one database per
test module, emptied before use."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from orchestration.lib import postgres
from orchestration.lib.paths import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "postgres.sh"
UNAVAILABLE = 2  # scripts/postgres.sh: not installed and cannot be installed here
WAREHOUSE_SCHEMAS = ("raw", "audit", "seeds", "staging", "intermediate", "marts", "security")


def start(dbname: str) -> postgres.PostgresSettings:
    """Start the cluster (installing PostgreSQL if needed) and create ``dbname``; skip the
    tests only when PostgreSQL is unavailable on this machine."""
    env = {**os.environ, "AI_CHARGEBACK_PG_DBNAME": dbname}
    try:
        completed = subprocess.run(
            ["bash", str(SCRIPT), "start"],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    except FileNotFoundError as error:  # no bash: no way to run the script
        pytest.skip(f"PostgreSQL unavailable: cannot run {SCRIPT}: {error}")
    if completed.returncode == UNAVAILABLE:
        pytest.skip(f"PostgreSQL unavailable: {completed.stderr.strip()}")
    if completed.returncode != 0:
        pytest.fail(
            f"{SCRIPT} start failed ({completed.returncode}):\n"
            f"{completed.stdout[-3000:]}{completed.stderr[-3000:]}"
        )
    settings = replace(postgres.PostgresSettings.from_env(), dbname=dbname)
    with postgres.connection(settings) as pg:
        for schema in WAREHOUSE_SCHEMAS:
            pg.execute(f"drop schema if exists {schema} cascade")
    return settings


@contextmanager
def environment(settings: postgres.PostgresSettings, **extra: str) -> Iterator[None]:
    """The environment that points the loaders, dbt and Dagster at this database."""
    values = {
        "AI_CHARGEBACK_TARGET": "postgres",
        "AI_CHARGEBACK_PG_HOST": settings.host,
        "AI_CHARGEBACK_PG_PORT": str(settings.port),
        "AI_CHARGEBACK_PG_USER": settings.user,
        "AI_CHARGEBACK_PG_PASSWORD": settings.password,
        "AI_CHARGEBACK_PG_DBNAME": settings.dbname,
        **extra,
    }
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def landing_env(landing: Path) -> dict[str, str]:
    """The landing directory variable, for ``environment(..., **landing_env(path))``."""
    return {"AI_CHARGEBACK_LANDING": str(landing)}
