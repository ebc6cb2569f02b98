"""`ai-chargeback statement`: self-contained HTML statements whose totals are the mart's."""

from __future__ import annotations

import calendar
import re
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ai_chargeback.cli import app
from tests.browser import png_pixels
from tests.conftest import E2E_START, PipelineRun

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

CHROMIUM = Path("/usr/bin/chromium")
MONTH = date(E2E_START.year, E2E_START.month, 1)
DAILY_BAR_RGB = (0x25, 0x63, 0xEB)  # the day-by-day chart's bar colour in the template
runner = CliRunner()


@pytest.fixture
def warehouse_env(pipeline_run: PipelineRun, monkeypatch: pytest.MonkeyPatch) -> PipelineRun:
    """Point the CLI at the session's warehouse (statements open it read-only)."""
    monkeypatch.setenv("AI_CHARGEBACK_DUCKDB", str(pipeline_run.warehouse))
    return pipeline_run


def _top_tenant(run: PipelineRun) -> str:
    with run.connect() as con:
        return con.execute(
            """
            select tenant_id from marts.mart_chargeback_monthly
            where billing_month = ? and tenant_id <> 'unattributed'
            group by tenant_id order by sum(amount_exact_usd) desc, tenant_id limit 1
            """,
            [MONTH],
        ).fetchall()[0][0]


def _mart_totals(run: PipelineRun, tenant: str) -> dict[str, Decimal]:
    with run.connect() as con:
        exact, cents, retry_cents = con.execute(
            """
            select sum(amount_exact_usd), sum(amount_usd),
                coalesce(sum(amount_usd) filter (where line_type = 'retry_waste'), 0)
            from marts.mart_chargeback_monthly
            where tenant_id = ? and billing_month = ?
            """,
            [tenant, MONTH],
        ).fetchall()[0]
        unpriced = con.execute(
            """
            select count(*) from marts.mart_unpriced_requests
            where tenant_id = ? and date_trunc('month', request_date) = ?
            """,
            [tenant, MONTH],
        ).fetchall()[0][0]
        providers = {
            row[0]
            for row in con.execute(
                "select distinct provider_id from marts.mart_invoice_reconciliation"
                " where billing_month = ?",
                [MONTH],
            ).fetchall()
        }
    return {
        "exact": exact,
        "cents": cents,
        "retry_cents": retry_cents,
        "unpriced": Decimal(unpriced),
        "providers": providers,  # type: ignore[dict-item]
    }


def _amount(html: str, element_id: str) -> Decimal:
    found = re.search(rf'id="{element_id}" data-amount="([-0-9.]+)"', html)
    assert found, f"no #{element_id} with a data-amount"
    return Decimal(found.group(1))


def _write(tmp_path: Path, tenant: str) -> str:
    result = runner.invoke(
        app, ["statement", "--tenant", tenant, "--month", f"{MONTH:%Y-%m}", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    path = tmp_path / f"statement-{tenant}-{MONTH:%Y-%m}.html"
    assert path.exists()
    return path.read_text(encoding="utf-8")


def test_statement_html_has_svg_charts_and_the_mart_totals(
    warehouse_env: PipelineRun, tmp_path: Path
) -> None:
    tenant = _top_tenant(warehouse_env)
    html = _write(tmp_path, tenant)
    mart = _mart_totals(warehouse_env, tenant)

    assert _amount(html, "total-cents") == mart["cents"]
    assert _amount(html, "total-exact") == mart["exact"]
    assert _amount(html, "retry-waste") == mart["retry_cents"]
    unpriced = re.search(r'id="unpriced-requests">([0-9,]+)<', html)
    assert unpriced and Decimal(unpriced.group(1).replace(",", "")) == mart["unpriced"]

    assert html.count("<svg") == 2
    daily = html.split('id="daily-chart"')[1].split("</svg>")[0]
    assert daily.count("<rect") - 1 == calendar.monthrange(MONTH.year, MONTH.month)[1]
    assert sum(Decimal(v) for v in re.findall(r'data-value="([-0-9.]+)"', daily)) > 0
    workloads = html.split('id="workload-chart"')[1].split("</svg>")[0]
    assert workloads.count("<rect") - 1 >= 1
    for provider in mart["providers"]:
        assert f'data-provider="{provider}"' in html
    # self-contained: nothing to fetch, nothing to run
    assert "<script" not in html and "<link" not in html and "src=" not in html
    assert re.findall(r"https?://[^\"']+", html) == ["http://www.w3.org/2000/svg"] * 2


def test_statement_all_writes_one_file_per_tenant_of_the_month(
    warehouse_env: PipelineRun, tmp_path: Path
) -> None:
    result = runner.invoke(
        app, ["statement", "--all", "--month", f"{MONTH:%Y-%m}", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    with warehouse_env.connect() as con:
        tenants = {
            row[0]
            for row in con.execute(
                "select distinct tenant_id from marts.mart_chargeback_monthly"
                " where billing_month = ?",
                [MONTH],
            ).fetchall()
        }
    written = {path.name for path in tmp_path.glob("*.html")}
    assert written == {f"statement-{tenant}-{MONTH:%Y-%m}.html" for tenant in tenants}
    for tenant in tenants:
        html = (tmp_path / f"statement-{tenant}-{MONTH:%Y-%m}.html").read_text()
        assert _amount(html, "total-cents") == _mart_totals(warehouse_env, tenant)["cents"]


def test_statement_of_an_unknown_tenant_or_bad_month_fails_clearly(
    warehouse_env: PipelineRun, tmp_path: Path
) -> None:
    unknown = runner.invoke(
        app, ["statement", "--tenant", "nobody", "--month", "2026-11", "--out", str(tmp_path)]
    )
    assert unknown.exit_code == 1 and "no statement lines" in unknown.output
    bad = runner.invoke(app, ["statement", "--tenant", "x", "--month", "11/2026"])
    assert bad.exit_code == 2 and "YYYY-MM" in bad.output
    neither = runner.invoke(app, ["statement", "--month", "2026-11"])
    assert neither.exit_code == 2


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(CHROMIUM),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is missing: run scripts/install_system_deps.sh (as root)",
)
def test_statement_renders_in_headless_chromium_with_charts_and_the_mart_totals(
    warehouse_env: PipelineRun, tmp_path: Path
) -> None:
    tenant = _top_tenant(warehouse_env)
    html_dir = tmp_path / "html"
    _write(html_dir, tenant)
    page = (html_dir / f"statement-{tenant}-{MONTH:%Y-%m}.html").resolve().as_uri()
    screenshot = tmp_path / "statement.png"

    shot = _chromium(
        f"--screenshot={screenshot}", "--window-size=1200,1800", page, profile=tmp_path / "p1"
    )
    assert screenshot.exists(), shot.stderr[-2000:]
    pixels = png_pixels(screenshot.read_bytes())
    assert pixels.shape[:2] == (1800, 1200)
    rgb = pixels[:, :, :3].reshape(-1, 3)
    non_white = np.count_nonzero((rgb < 245).any(axis=1))
    assert non_white > 0.02 * len(rgb), "the screenshot is (almost) blank"
    assert len(np.unique(rgb, axis=0)) > 50
    bar_pixels = np.count_nonzero((rgb == DAILY_BAR_RGB).all(axis=1))
    assert bar_pixels > 200, "the day-by-day chart's bars are not on the screenshot"

    dom = _chromium("--dump-dom", page, profile=tmp_path / "p2")
    assert dom.returncode == 0, dom.stderr[-2000:]
    mart = _mart_totals(warehouse_env, tenant)
    assert _amount(dom.stdout, "total-cents") == mart["cents"]
    assert _amount(dom.stdout, "total-exact") == mart["exact"]
    assert dom.stdout.count("<svg") == 2
