"""The BI tool (Superset, bi/) on the published snapshot: SQL Lab and every chart answer with the
marts' exact numbers, the "AI spend" dashboard renders in headless Chromium, and it keeps
answering while a pipeline process holds the warehouse."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pytest
import requests
import yaml

from orchestration.lib.paths import PROJECT_ROOT
from tests.browser import CHROMIUM, png_pixels, render
from tests.conftest import PipelineRun
from tests.superset_server import Superset, running_superset
from tests.writer_process import held_read_write

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

DASHBOARDS = {
    yaml.safe_load(path.read_text())["slug"]: yaml.safe_load(path.read_text())
    for path in sorted((PROJECT_ROOT / "bi" / "dashboards").glob("*.yaml"))
}
TOTAL_SQL = """
select
    sum(amount_usd) as total_usd,
    sum(amount_exact_usd) as total_exact_usd,
    count(*) as lines
from marts.mart_chargeback_monthly
"""
# every chart holder of the dashboard, as the page shows it
CHARTS_PROBE = """
[...document.querySelectorAll('[data-test="dashboard-component-chart-holder"]')].map(h => ({
    title: (h.querySelector('[data-test="editable-title"]') || {}).innerText || '',
    error: h.querySelector('.ant-alert-error, [data-test="error-message"]') !== null,
    loading: h.querySelector('.loading, [data-test="loading-indicator"]') !== null,
    canvases: h.querySelectorAll('canvas').length,
    tables: h.querySelectorAll('table').length,
    text: h.innerText,
}))
"""


def _ready(expected_charts: int) -> str:
    """True once every chart holder shows a drawing, a table, a big number or an error."""
    return f"""
    (() => {{
        const holders = [
            ...document.querySelectorAll('[data-test="dashboard-component-chart-holder"]')
        ];
        return holders.length === {expected_charts} && holders.every(h =>
            h.querySelector('.loading') === null && (
                h.querySelector('canvas, table, .header-line, .ant-alert-error') !== null
            ));
    }})()
    """


@pytest.fixture(scope="module")
def superset(
    pipeline_run: PipelineRun, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Superset]:
    """Superset set up by bi/bootstrap.py on the session run's published snapshot."""
    with running_superset(pipeline_run.published, tmp_path_factory.mktemp("superset")) as server:
        yield server


@pytest.fixture(scope="module")
def api(superset: Superset) -> requests.Session:
    return superset.api()


def _mart_totals(pipeline_run: PipelineRun) -> dict[str, Decimal | int]:
    """The statement totals read from the warehouse itself (not the snapshot)."""
    with pipeline_run.connect() as con:
        total, exact, lines = con.execute(TOTAL_SQL).fetchone()
    return {"total_usd": total, "total_exact_usd": exact, "lines": lines}


def _chart_data(superset: Superset, api: requests.Session, chart_id: int) -> list[dict]:
    answer = api.get(f"{superset.url}/api/v1/chart/{chart_id}/data/", timeout=120)
    assert answer.status_code == 200, answer.text[:2000]
    results = json.loads(answer.text, parse_float=Decimal)["result"]
    assert all(result.get("error") is None for result in results), results
    return [row for result in results for row in result["data"]]


def _dashboard_charts(superset: Superset, api: requests.Session, slug: str) -> dict[str, int]:
    answer = api.get(f"{superset.url}/api/v1/dashboard/{slug}/charts", timeout=60)
    assert answer.status_code == 200, answer.text[:2000]
    return {chart["slice_name"]: chart["id"] for chart in answer.json()["result"]}


def test_sql_lab_returns_the_statement_total_exactly_from_the_read_only_snapshot(
    pipeline_run: PipelineRun, superset: Superset, api: requests.Session
) -> None:
    rows = superset.sql_lab(api, TOTAL_SQL)

    assert rows == [_mart_totals(pipeline_run)]
    assert isinstance(rows[0]["total_exact_usd"], Decimal)
    database = api.get(
        f"{superset.url}/api/v1/database/{superset.database_id(api)}/connection", timeout=30
    ).json()["result"]
    extra = json.loads(database["extra"])
    assert extra["engine_params"]["connect_args"]["read_only"] is True
    assert superset.sql_lab(api, "select current_setting('access_mode') as mode") == [
        {"mode": "read_only"}
    ]
    written = api.post(
        f"{superset.url}/api/v1/sqllab/execute/",
        json={
            "database_id": superset.database_id(api),
            "sql": "delete from marts.mart_chargeback_monthly",
            "runAsync": False,
        },
        timeout=60,
    )
    assert written.status_code != 200 and "DML" in written.text


def test_the_dashboards_of_the_yaml_exist_and_every_chart_returns_data(
    pipeline_run: PipelineRun, superset: Superset, api: requests.Session
) -> None:
    charts_by_dashboard = {slug: _dashboard_charts(superset, api, slug) for slug in DASHBOARDS}
    titles = {slug: {c["title"] for c in spec["charts"]} for slug, spec in DASHBOARDS.items()}
    assert {slug: set(charts) for slug, charts in charts_by_dashboard.items()} == titles
    assert {"ai-spend", "reconciliation", "prompt-templates"} <= set(DASHBOARDS)

    data = {
        (slug, title): _chart_data(superset, api, chart_id)
        for slug, charts in charts_by_dashboard.items()
        for title, chart_id in charts.items()
    }
    assert all(rows for rows in data.values()), [k for k, rows in data.items() if not rows]

    # the numbers are the marts': a few charts against the warehouse, exactly
    totals = _mart_totals(pipeline_run)
    statement_total = data["ai-spend", "Statement total (USD)"]
    assert statement_total == [{"statement_total_usd": totals["total_usd"]}]
    with pipeline_run.connect() as con:
        invoices = con.execute(
            """
            select provider_id, sum(invoice_amount_usd), sum(attributed_effective_cost_usd)
            from marts.mart_invoice_reconciliation group by 1
            """
        ).fetchall()
        by_tenant = con.execute(
            "select sum(effective_cost_usd) from marts.mart_chargeback_daily"
        ).fetchone()[0]
    shown = data["reconciliation", "Invoice vs attributed vs allocated, per provider and month"]
    by_provider: dict[str, list[Decimal]] = {}
    for row in shown:
        sums = by_provider.setdefault(row["provider_id"], [Decimal(0), Decimal(0)])
        sums[0] += row["invoice_usd"] or Decimal(0)
        sums[1] += row["attributed_usd"]
    assert by_provider == {p: [i or Decimal(0), a] for p, i, a in invoices}
    spend = data["ai-spend", "Spend by tenant and workload"]
    assert sum(row["effective_cost_usd"] for row in spend) == by_tenant


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is missing: run scripts/install_system_deps.sh (as root)",
)
def test_the_ai_spend_dashboard_renders_in_chromium_with_the_mart_total(
    pipeline_run: PipelineRun, superset: Superset, tmp_path: Path
) -> None:
    expected = DASHBOARDS["ai-spend"]["charts"]

    page = render(
        f"{superset.url}/superset/dashboard/ai-spend/",
        profile=tmp_path / "chromium",
        cookies=superset.browser_cookies(),
        ready=_ready(len(expected)),
        probe=CHARTS_PROBE,
    )
    (tmp_path / "ai-spend.png").write_bytes(page.screenshot)

    charts = {chart["title"]: chart for chart in page.probe}
    assert set(charts) == {chart["title"] for chart in expected}
    assert [title for title, chart in charts.items() if chart["error"] or chart["loading"]] == []
    drawn = {c["title"] for c in expected if c["type"] in ("line", "bar")}
    assert all(charts[title]["canvases"] > 0 for title in drawn), charts
    tables = {c["title"] for c in expected if c["type"] == "table"}
    assert all(charts[title]["tables"] > 0 for title in tables), charts
    # the total as the page shows it: the table cell of the statement total metric
    cell = re.search(r'aria-labelledby="header-statement_total_usd"[^>]*>([^<]+)</td>', page.dom)
    assert cell, "the statement total cell is not in the DOM"
    assert Decimal(cell[1].replace(",", "")) == _mart_totals(pipeline_run)["total_usd"]

    pixels = png_pixels(page.screenshot)[:, :, :3].reshape(-1, 3)
    assert np.count_nonzero((pixels < 235).any(axis=1)) > 0.02 * len(pixels), "blank screenshot"
    assert len(np.unique(pixels, axis=0)) > 50


def test_the_bi_tool_answers_from_the_snapshot_while_a_pipeline_process_holds_the_warehouse(
    pipeline_run: PipelineRun, superset: Superset, api: requests.Session
) -> None:
    expected = _mart_totals(pipeline_run)
    statement_chart = _dashboard_charts(superset, api, "ai-spend")["Statement total (USD)"]

    with held_read_write(pipeline_run.warehouse):
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(str(pipeline_run.warehouse), read_only=True)
        during = superset.sql_lab(api, TOTAL_SQL)
        chart = _chart_data(superset, api, statement_chart)

    assert during == [expected]
    assert chart == [{"statement_total_usd": expected["total_usd"]}]
