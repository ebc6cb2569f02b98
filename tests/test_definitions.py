"""The Dagster code location loads, with every loader, dbt asset and resource wired."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from ai_chargeback.pipeline import prepare_dbt_manifest
from orchestration.lib.sources import SOURCES

# dbt parse writes target/: keep it in the worker that runs the end-to-end pipeline
pytestmark = pytest.mark.xdist_group("e2e")


def test_definitions_load_with_a_loader_per_source_and_the_dbt_graph() -> None:
    prepare_dbt_manifest()
    from orchestration.definitions import defs

    keys = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    assert {f"raw/{name}" for name in SOURCES} <= keys
    assert {"marts/fct_ai_requests", "marts/fct_gateway_attempts"} <= keys
    job = defs.resolve_job_def("ai_chargeback_all")
    assert isinstance(job, dg.JobDefinition)
    # dbt sources are the loader assets: staging depends on raw
    graph = defs.resolve_asset_graph()
    parents = graph.get(dg.AssetKey(["staging", "stg_gateway__spans"])).parent_keys
    assert dg.AssetKey(["raw", "gateway_spans"]) in parents


def test_dagster_definitions_validate_passes(tmp_path: Path) -> None:
    prepare_dbt_manifest()
    dagster = [sys.executable, "-m", "dagster", "definitions", "validate"]
    # a fresh instance directory, as on a clean checkout (DAGSTER_HOME must exist)
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    completed = subprocess.run(
        [*dagster, "-m", "orchestration.definitions"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_end_to_end_group_stays_on_one_worker(request: pytest.FixtureRequest) -> None:
    """The e2e tests share one pipeline run, dbt target/ and Postgres databases per worker:
    under `--dist loadgroup` pytest-xdist must tag them with their group (pytest 9.2 broke
    that silently, so two workers dropped each other's schemas)."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not running under pytest-xdist --dist loadgroup")
    assert request.node.nodeid.endswith("@e2e"), request.node.nodeid
