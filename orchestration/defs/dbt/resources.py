"""The dbt CLI resource, using the virtualenv's dbt so headless runs need nothing on PATH."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource

from orchestration.defs.dbt.assets import dbt_project


def _dbt_executable() -> str:
    beside_python = Path(sys.executable).with_name("dbt")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("dbt")
    if found is None:
        raise FileNotFoundError("dbt is not installed in this environment (run `make install`)")
    return found


def dbt_resource() -> DbtCliResource:
    """dbt against the project's profiles.yml (target from $AI_CHARGEBACK_TARGET)."""
    return DbtCliResource(
        project_dir=dbt_project,
        profiles_dir=str(dbt_project.profiles_dir),
        dbt_executable=_dbt_executable(),
    )
