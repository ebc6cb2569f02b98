"""Dashboards as code: the Superset import bundle built from bi/*.yaml (no Superset needed)."""

from __future__ import annotations

import importlib.util
import json
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from orchestration.lib.paths import PROJECT_ROOT


def _bootstrap() -> ModuleType:
    """bi/bootstrap.py runs in .venv-bi; its bundle code needs only the standard library + yaml."""
    path = PROJECT_ROOT / "bi" / "bootstrap.py"
    spec = importlib.util.spec_from_file_location("bi_bootstrap", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def bootstrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    monkeypatch.setenv("AI_CHARGEBACK_PUBLISHED", str(tmp_path / "snapshot.duckdb"))
    monkeypatch.setenv("AI_CHARGEBACK_BI_HOME", str(tmp_path / "home"))
    return _bootstrap()


def _parsed(contents: dict[str, str], prefix: str) -> list[dict]:
    return [yaml.safe_load(text) for name, text in contents.items() if name.startswith(prefix)]


def test_the_bundle_registers_the_snapshot_read_only_and_every_dashboard_of_the_yaml(
    bootstrap: ModuleType, tmp_path: Path
) -> None:
    contents = bootstrap.bundle_contents(bootstrap.settings())

    (database,) = _parsed(contents, "databases/")
    assert database["sqlalchemy_uri"] == f"duckdb:///{tmp_path / 'snapshot.duckdb'}"
    connect_args = database["extra"]["engine_params"]["connect_args"]
    assert connect_args == {"read_only": True, "config": {"enable_external_access": False}}
    assert not database["allow_dml"] and not database["allow_csv_upload"]
    datasets = _parsed(contents, "datasets/")
    assert all(d["schema"] == "marts" and "sql" not in d for d in datasets)  # physical tables
    dashboards = {d["slug"]: d for d in _parsed(contents, "dashboards/")}
    assert set(dashboards) == {"ai-spend", "reconciliation", "prompt-templates"}
    charts = {c["uuid"]: c for c in _parsed(contents, "charts/")}
    for dashboard in dashboards.values():
        placed = [
            item["meta"]["uuid"]
            for item in dashboard["position"].values()
            if isinstance(item, dict) and item.get("type") == "CHART"
        ]
        assert placed and all(uuid in charts for uuid in placed)
    for chart in charts.values():
        context = json.loads(chart["query_context"])
        assert context["queries"][0]["metrics"], chart["slice_name"]

    # stable ids: a second build (another `make bi`) updates the same objects
    assert bootstrap.bundle_contents(bootstrap.settings()) == contents
    bootstrap.write_bundle(contents, tmp_path / "bundle.zip")
    with zipfile.ZipFile(tmp_path / "bundle.zip") as archive:
        assert "ai_chargeback_bundle/metadata.yaml" in archive.namelist()


def test_a_chart_with_a_metric_its_dataset_lacks_is_refused_with_the_file_named(
    bootstrap: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dashboards = tmp_path / "dashboards"
    dashboards.mkdir()
    bad = dashboards / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "title": "Bad",
                "slug": "bad",
                "charts": [
                    {
                        "key": "total",
                        "title": "Total",
                        "dataset": "mart_chargeback_monthly",
                        "type": "table",
                        "metrics": ["no_such_metric"],
                        "row": 1,
                    }
                ],
            }
        )
    )
    monkeypatch.setattr(bootstrap, "DASHBOARDS_DIR", dashboards)

    with pytest.raises(ValueError, match=r"bad\.yaml.*no_such_metric"):
        bootstrap.bundle_contents(bootstrap.settings())
