"""Set up and run the project's BI tool: Apache Superset on the published snapshot of the marts.

Runs with the BI virtualenv's interpreter (`.venv-bi/bin/python bi/bootstrap.py ...`, which
`make bi` does); it imports nothing from the pipeline's packages, whose pins clash with Superset's.

    init    metadata DB, admin user, roles, the read-only warehouse database, and the dashboards
            of bi/dashboards/*.yaml (datasets: bi/datasets.yaml) imported as a Superset bundle
    start   Superset (gunicorn) on 127.0.0.1, in the background, with a pidfile
    stop    stop the instance of the pidfile
    bundle  write the import bundle (ZIP) built from the YAML, for inspection or another Superset

Environment (defaults in brackets): AI_CHARGEBACK_PUBLISHED [published/ beside
AI_CHARGEBACK_DUCKDB, i.e. warehouse/published/ai_chargeback.duckdb], AI_CHARGEBACK_BI_HOME
[.superset], AI_CHARGEBACK_BI_PORT [8088], AI_CHARGEBACK_BI_ADMIN_USER [admin],
AI_CHARGEBACK_BI_ADMIN_PASSWORD [admin], SUPERSET_SECRET_KEY [a local-demo key].
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

BI_DIR = Path(__file__).resolve().parent
REPOSITORY = BI_DIR.parent
CONFIG_PATH = BI_DIR / "superset_config.py"
DATASETS_FILE = BI_DIR / "datasets.yaml"
DASHBOARDS_DIR = BI_DIR / "dashboards"
# Stable ids: re-importing the YAML updates the same database, datasets, charts and dashboards.
_NAMESPACE = uuid.UUID("6f1d3c52-8e0a-4c1e-9a57-2b3f1b0c7a10")
_GRID_COLUMNS = 12
_CHART_HEIGHT = 50
_VIZ_TYPES = {
    "table": "table",
    "big_number": "big_number_total",
    "line": "echarts_timeseries_line",
    "bar": "echarts_timeseries_bar",
}


@dataclass(frozen=True)
class Settings:
    """Where things are and who logs in, from the environment."""

    published: Path
    home: Path
    port: int
    admin_user: str
    admin_password: str

    @property
    def pidfile(self) -> Path:
        return self.home / "superset.pid"

    @property
    def logfile(self) -> Path:
        return self.home / "superset.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _resolve(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else REPOSITORY / path


def settings() -> Settings:
    """The settings of this environment (same variables and defaults as the pipeline's)."""
    published = os.environ.get("AI_CHARGEBACK_PUBLISHED")
    if published:
        published_path = _resolve(published)
    else:
        warehouse = _resolve(
            os.environ.get("AI_CHARGEBACK_DUCKDB", "warehouse/ai_chargeback.duckdb")
        )
        published_path = warehouse.parent / "published" / warehouse.name
    return Settings(
        published=published_path.resolve(),
        home=_resolve(os.environ.get("AI_CHARGEBACK_BI_HOME", ".superset")).resolve(),
        port=int(os.environ.get("AI_CHARGEBACK_BI_PORT", "8088")),
        admin_user=os.environ.get("AI_CHARGEBACK_BI_ADMIN_USER", "admin"),
        admin_password=os.environ.get("AI_CHARGEBACK_BI_ADMIN_PASSWORD", "admin"),
    )


def _stable_uuid(kind: str, key: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}/{key}"))


# --- the import bundle -----------------------------------------------------------------------


def database_config(config: Settings, database: dict[str, Any]) -> dict[str, Any]:
    """The warehouse as a Superset database: the published DuckDB file, opened read-only."""
    return {
        "database_name": database["name"],
        "sqlalchemy_uri": f"duckdb:///{config.published}",
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_ctas": False,
        "allow_cvas": False,
        "allow_dml": False,
        "allow_csv_upload": False,
        "extra": {
            # read_only: the snapshot is replaced by the pipeline, never written by readers;
            # no external access: SQL Lab cannot read other files or attach databases
            "engine_params": {
                "connect_args": {
                    "read_only": True,
                    "config": {"enable_external_access": False},
                }
            },
            "allows_virtual_table_explore": False,
        },
        "uuid": _stable_uuid("database", database["name"]),
        "version": "1.0.0",
    }


def dataset_config(
    name: str, spec: dict[str, Any], *, schema: str, database_uuid: str
) -> dict[str, Any]:
    """A physical dataset on a mart, with its saved metrics (columns: read from the table)."""
    return {
        "table_name": name,
        "schema": schema,
        "description": spec.get("description"),
        "main_dttm_col": spec.get("main_dttm_col"),
        "columns": [],
        "metrics": [
            {
                "metric_name": metric_name,
                "verbose_name": metric["label"],
                "expression": metric["expression"],
                "d3format": metric.get("format"),
                "description": metric.get("description"),
            }
            for metric_name, metric in spec.get("metrics", {}).items()
        ],
        "uuid": _stable_uuid("dataset", f"{schema}.{name}"),
        "database_uuid": database_uuid,
        "version": "1.0.0",
    }


def _axis_column(chart: dict[str, Any]) -> str | dict[str, Any]:
    if chart.get("time_grain"):
        return {
            "columnType": "BASE_AXIS",
            "expressionType": "SQL",
            "label": chart["x_axis"],
            "sqlExpression": chart["x_axis"],
            "timeGrain": chart["time_grain"],
        }
    return chart["x_axis"]


def form_data(chart: dict[str, Any], metric_formats: dict[str, str | None]) -> dict[str, Any]:
    """The chart's saved parameters (Superset's form data) for the chart types the YAML uses."""
    viz_type = _VIZ_TYPES[chart["type"]]
    metrics = list(chart["metrics"])
    params: dict[str, Any] = {
        "viz_type": viz_type,
        "adhoc_filters": [
            {
                "expressionType": "SQL",
                "clause": "WHERE",
                "sqlExpression": condition,
                "filterOptionName": f"filter_{number}",
            }
            for number, condition in enumerate(chart.get("filters", []))
        ],
        "row_limit": chart.get("row_limit", 1000),
    }
    if viz_type == "table":
        params |= {
            "query_mode": "aggregate",
            "groupby": chart.get("groupby", []),
            "metrics": metrics,
            "all_columns": [],
            "percent_metrics": [],
            "order_desc": True,
            "timeseries_limit_metric": metrics[0],
            "server_pagination": False,
            "include_search": False,
            "show_cell_bars": False,
            "table_timestamp_format": "%Y-%m-%d",
        }
    elif viz_type == "big_number_total":
        params |= {
            "metric": metrics[0],
            "header_font_size": 0.4,
            "subheader_font_size": 0.15,
            "y_axis_format": metric_formats.get(metrics[0]) or "SMART_NUMBER",
        }
    else:
        params |= {
            "x_axis": chart["x_axis"],
            "metrics": metrics,
            "groupby": chart.get("groupby", []),
            "order_desc": True,
            "show_legend": True,
            "rich_tooltip": True,
            "y_axis_format": metric_formats.get(metrics[0]) or "SMART_NUMBER",
            "x_axis_title_margin": 15,
            "truncate_metric": True,
        }
        if chart.get("time_grain"):
            params["time_grain_sqla"] = chart["time_grain"]
        else:  # a categorical axis: the largest first
            params |= {"x_axis_sort": metrics[0], "x_axis_sort_asc": False}
    return params


def query_context(chart: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """What `/api/v1/chart/{id}/data/` runs for the chart (the dashboard builds the same query
    in the browser from the form data)."""
    metrics = list(chart["metrics"])
    columns: list[Any] = []
    if chart.get("x_axis"):
        columns.append(_axis_column(chart))
    columns += chart.get("groupby", [])
    where = " AND ".join(f"({condition})" for condition in chart.get("filters", []))
    query = {
        "columns": columns,
        "metrics": metrics,
        "orderby": [[metrics[0], False]],
        "filters": [],
        "extras": {"where": where, "having": ""},
        "row_limit": params["row_limit"],
        "series_limit": 0,
        "order_desc": True,
        "annotation_layers": [],
        "applied_time_extras": {},
        "url_params": {},
        "custom_params": {},
        "custom_form_data": {},
    }
    if chart.get("time_grain"):
        query["extras"]["time_grain_sqla"] = chart["time_grain"]
    return {
        "datasource": {"id": 0, "type": "table"},  # set to the dataset's id on import
        "force": False,
        "queries": [query],
        "form_data": params,
        "result_format": "json",
        "result_type": "full",
    }


def chart_config(
    chart: dict[str, Any], *, dashboard_slug: str, dataset_uuid: str, metric_formats: dict
) -> dict[str, Any]:
    """One chart of a dashboard's YAML as a Superset chart."""
    params = form_data(chart, metric_formats)
    return {
        "slice_name": chart["title"],
        "description": chart.get("description"),
        "viz_type": params["viz_type"],
        "params": params,
        "query_context": json.dumps(query_context(chart, params)),
        "cache_timeout": None,
        "uuid": _stable_uuid("chart", f"{dashboard_slug}/{chart['key']}"),
        "dataset_uuid": dataset_uuid,
        "version": "1.0.0",
    }


def dashboard_config(spec: dict[str, Any], chart_configs: list[dict[str, Any]]) -> dict[str, Any]:
    """A dashboard whose grid has the YAML's rows, each chart `width` twelfths wide."""
    position: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
        "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": spec["title"]}},
    }
    rows: dict[int, list[str]] = {}
    for chart, config in zip(spec["charts"], chart_configs, strict=True):
        row_id = f"ROW-{chart['row']}"
        chart_id = f"CHART-{chart['key']}"
        rows.setdefault(chart["row"], []).append(chart_id)
        position[chart_id] = {
            "type": "CHART",
            "id": chart_id,
            "children": [],
            "parents": ["ROOT_ID", "GRID_ID", row_id],
            "meta": {
                "width": chart.get("width", _GRID_COLUMNS),
                "height": chart.get("height", _CHART_HEIGHT),
                "chartId": 0,  # set to the chart's id on import
                "uuid": config["uuid"],
                "sliceName": config["slice_name"],
            },
        }
    for number in sorted(rows):
        row_id = f"ROW-{number}"
        widths = sum(position[c]["meta"]["width"] for c in rows[number])
        if widths > _GRID_COLUMNS:
            raise ValueError(
                f"dashboard {spec['title']!r}: row {number} is {widths} columns wide "
                f"(at most {_GRID_COLUMNS})"
            )
        position["GRID_ID"]["children"].append(row_id)
        position[row_id] = {
            "type": "ROW",
            "id": row_id,
            "children": rows[number],
            "parents": ["ROOT_ID", "GRID_ID"],
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
        }
    return {
        "dashboard_title": spec["title"],
        "description": spec.get("description"),
        "slug": spec["slug"],
        "uuid": _stable_uuid("dashboard", spec["slug"]),
        "position": position,
        "metadata": {
            "color_scheme": "supersetColors",
            "refresh_frequency": 0,
            "cross_filters_enabled": False,
            "native_filter_configuration": [],
        },
        "published": True,
        "version": "1.0.0",
    }


def bundle_contents(config: Settings) -> dict[str, str]:
    """The Superset import bundle (file name -> YAML text) built from bi/*.yaml."""
    datasets_spec = yaml.safe_load(DATASETS_FILE.read_text())
    database = database_config(config, datasets_spec["database"])
    schema = datasets_spec["database"]["schema"]
    contents: dict[str, str] = {
        "metadata.yaml": yaml.safe_dump({"version": "1.0.0", "timestamp": "2026-01-01T00:00:00"}),
        f"databases/{database['database_name']}.yaml": yaml.safe_dump(database),
    }
    datasets: dict[str, dict[str, Any]] = {}
    for name, spec in datasets_spec["datasets"].items():
        datasets[name] = dataset_config(name, spec, schema=schema, database_uuid=database["uuid"])
        contents[f"datasets/{database['database_name']}/{name}.yaml"] = yaml.safe_dump(
            datasets[name]
        )
    for path in sorted(DASHBOARDS_DIR.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text())
        charts = []
        for chart in spec["charts"]:
            if chart["dataset"] not in datasets:
                raise ValueError(
                    f"{path}: chart {chart['key']!r} uses dataset {chart['dataset']!r}, "
                    f"which {DATASETS_FILE} does not define"
                )
            dataset = datasets[chart["dataset"]]
            formats = {m["metric_name"]: m["d3format"] for m in dataset["metrics"]}
            unknown = set(chart["metrics"]) - set(formats)
            if unknown:
                raise ValueError(
                    f"{path}: chart {chart['key']!r} uses metrics {sorted(unknown)} that dataset "
                    f"{chart['dataset']!r} does not define in {DATASETS_FILE}"
                )
            charts.append(
                chart_config(
                    chart,
                    dashboard_slug=spec["slug"],
                    dataset_uuid=dataset["uuid"],
                    metric_formats=formats,
                )
            )
            contents[f"charts/{spec['slug']}_{chart['key']}.yaml"] = yaml.safe_dump(charts[-1])
        contents[f"dashboards/{spec['slug']}.yaml"] = yaml.safe_dump(dashboard_config(spec, charts))
    return contents


def write_bundle(contents: dict[str, str], target: Path) -> None:
    """The bundle as the ZIP that Superset's import (UI, API, CLI) reads."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in contents.items():
            archive.writestr(f"ai_chargeback_bundle/{name}", text)
    target.write_bytes(buffer.getvalue())


# --- commands --------------------------------------------------------------------------------


def _superset_env(config: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "SUPERSET_CONFIG_PATH": str(CONFIG_PATH),
        "AI_CHARGEBACK_BI_HOME": str(config.home),
        "FLASK_APP": "superset.app:create_app()",
    }


def _superset(config: Settings, *args: str) -> None:
    command = [str(Path(sys.executable).with_name("superset")), *args]
    completed = subprocess.run(
        command, env=_superset_env(config), capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command[:3])} failed ({completed.returncode}):\n"
            + completed.stdout[-3000:]
            + completed.stderr[-3000:]
        )


def _import_bundle(config: Settings, contents: dict[str, str]) -> None:
    """Import (overwrite) database, datasets, charts and dashboards; read datasets' columns."""
    os.environ.update(_superset_env(config))
    from flask import g
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset import db, security_manager
        from superset.commands.chart.importers.v1 import ImportChartsCommand
        from superset.commands.dashboard.importers.v1 import ImportDashboardsCommand
        from superset.commands.database.importers.v1 import ImportDatabasesCommand
        from superset.commands.dataset.importers.v1 import ImportDatasetsCommand
        from superset.connectors.sqla.models import SqlaTable

        g.user = security_manager.find_user(username=config.admin_user)
        # one command per kind, each overwriting: the dashboard command alone keeps existing
        # charts and datasets as they were, and the YAML is the source of truth here
        for command in (
            ImportDatabasesCommand,
            ImportDatasetsCommand,
            ImportChartsCommand,
            ImportDashboardsCommand,
        ):
            command(dict(contents), overwrite=True).run()
        uuids = {
            yaml.safe_load(text)["uuid"]
            for name, text in contents.items()
            if name.startswith("datasets/")
        }
        for dataset in db.session.query(SqlaTable).all():
            if str(dataset.uuid) in uuids:
                dataset.fetch_metadata()
        db.session.commit()


def init(config: Settings) -> None:
    """Metadata DB, admin, roles, then the warehouse database and the dashboards."""
    if not config.published.exists():
        raise SystemExit(
            f"no published snapshot at {config.published}: run the pipeline first (make demo), "
            "or set AI_CHARGEBACK_PUBLISHED"
        )
    config.home.mkdir(parents=True, exist_ok=True)
    _superset(config, "db", "upgrade")
    _superset(
        config,
        "fab",
        "create-admin",
        "--username",
        config.admin_user,
        "--firstname",
        "Chargeback",
        "--lastname",
        "Admin",
        "--email",
        f"{config.admin_user}@localhost",
        "--password",
        config.admin_password,
    )
    _superset(config, "init")
    contents = bundle_contents(config)
    write_bundle(contents, config.home / "dashboards_bundle.zip")
    _import_bundle(config, contents)
    print(f"bi: Superset initialised in {config.home} on {config.published} (read-only)")


def _running_pid(config: Settings) -> int | None:
    if not config.pidfile.exists():
        return None
    pid = int(config.pidfile.read_text().strip())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        config.pidfile.unlink()
        return None
    return pid


def _port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_until_healthy(
    url: str, *, timeout_s: float, process: subprocess.Popen | None = None
) -> None:
    """Wait for Superset's /health to answer OK (and `process` to be still running)."""
    deadline = time.monotonic() + timeout_s
    last_error = ""
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"Superset exited with code {process.returncode} while starting")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            last_error = str(error)
        time.sleep(1)
    raise TimeoutError(f"Superset at {url} not healthy after {timeout_s:.0f}s: {last_error}")


def start(config: Settings, *, timeout_s: float = 180) -> None:
    """Superset under gunicorn on 127.0.0.1, detached, its pid in the pidfile."""
    if (pid := _running_pid(config)) is not None:
        print(f"bi: already running (pid {pid}) on {config.url}")
        return
    if _port_in_use(config.port):
        raise SystemExit(
            f"bi: port {config.port} on 127.0.0.1 is taken by another program: "
            "set AI_CHARGEBACK_BI_PORT"
        )
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    command = [
        gunicorn,
        "--bind",
        f"127.0.0.1:{config.port}",
        "--workers",
        "1",
        "--threads",
        "8",
        "--timeout",
        "120",
        "superset.app:create_app()",
    ]
    with config.logfile.open("ab") as log:
        process = subprocess.Popen(
            command,
            env=_superset_env(config),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    config.pidfile.write_text(str(process.pid))
    try:
        wait_until_healthy(config.url, timeout_s=timeout_s, process=process)
    except (TimeoutError, RuntimeError) as error:
        stop(config)
        raise SystemExit(f"bi: {error}; see {config.logfile}") from error
    print(
        f"bi: Superset on {config.url} (pid {process.pid}, log {config.logfile}); "
        f"dashboards: {config.url}/dashboard/list/"
    )


def stop(config: Settings, *, timeout_s: float = 30) -> None:
    """Stop the instance of the pidfile (SIGTERM, then SIGKILL after `timeout_s`)."""
    pid = _running_pid(config)
    if pid is None:
        print("bi: not running")
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.5)
    else:
        os.kill(pid, signal.SIGKILL)
    config.pidfile.unlink(missing_ok=True)
    print(f"bi: stopped (pid {pid})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["init", "start", "stop", "bundle"])
    parser.add_argument("--out", type=Path, help="bundle: the ZIP to write")
    args = parser.parse_args(argv)
    config = settings()
    if args.command == "init":
        init(config)
    elif args.command == "start":
        start(config)
    elif args.command == "stop":
        stop(config)
    else:
        target = args.out or config.home / "dashboards_bundle.zip"
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bundle(bundle_contents(config), target)
        print(f"bi: bundle written to {target}")


if __name__ == "__main__":
    main()
