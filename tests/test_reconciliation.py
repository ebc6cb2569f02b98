"""Reconciliation and the analysts' questions, on generated data with a known invoice."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from ai_chargeback.pipeline import dbt_executable
from orchestration.lib.paths import PROJECT_ROOT
from tests.conftest import PipelineRun

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

CENT = Decimal("0.01")


def _summary(run: PipelineRun) -> dict:
    return json.loads((run.truth / "summary.json").read_text())


def _truth_requests(run: PipelineRun) -> list[dict[str, str]]:
    with (run.truth / "requests.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_attributed_plus_allocated_equals_the_invoice_exactly(pipeline_run: PipelineRun):
    with pipeline_run.connect() as con:
        groups = con.execute(
            """
            select provider_id, invoice_amount_usd, attributed_effective_cost_usd,
                allocated_remainder_usd, remainder_usd
            from marts.mart_invoice_reconciliation
            where reconciliation_status in ('reconciled', 'remainder_allocated')
            """
        ).fetchall()
        by_month = con.execute(
            """
            select provider_id, strftime(billing_month, '%Y-%m'), sum(invoice_amount_usd),
                sum(remainder_usd)
            from marts.mart_invoice_reconciliation
            where invoice_amount_usd is not null
            group by all
            """
        ).fetchall()
    assert groups
    for provider, invoice, attributed, allocated, remainder in groups:
        assert attributed + allocated == invoice, provider
        assert allocated == remainder
    summary = _summary(pipeline_run)
    invoices = {
        (p, m): Decimal(v)
        for p, months in summary["invoice_totals"].items()
        for m, v in months.items()
    }
    assert {(p, m): total for p, m, total, _ in by_month} == invoices
    remainders: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for seeded in summary["invoice_remainders"]:
        remainders[(seeded["provider"], seeded["date"][:7])] += Decimal(seeded["amount_usd"])
    found = {(p, m): r for p, m, _, r in by_month if r != 0}
    assert found == dict(remainders) and found


def test_statement_lines_of_a_month_add_up_to_the_invoice_to_the_cent(pipeline_run: PipelineRun):
    invoices = _summary(pipeline_run)["invoice_totals"]
    with pipeline_run.connect() as con:
        lines = con.execute(
            """
            select provider_id, strftime(billing_month, '%Y-%m'), sum(amount_usd),
                count(*) filter (where line_type = 'allocated_remainder')
            from marts.mart_chargeback_monthly
            group by all
            """
        ).fetchall()
    statement = {(p, m): (total, remainder_lines) for p, m, total, remainder_lines in lines}
    for provider, months in invoices.items():
        for month, invoice in months.items():
            total, _ = statement[(provider, month)]
            assert total == Decimal(invoice).quantize(CENT, rounding=ROUND_HALF_UP), provider
    assert sum(remainder_lines for _, remainder_lines in statement.values()) > 0


def test_usage_reconciliation_flags_the_seeded_mismatches_and_no_others(
    pipeline_run: PipelineRun,
) -> None:
    seeded = {
        (m["provider"], m["date"], m["project_id"], m["api_key_id"], m["model"])
        for m in _summary(pipeline_run)["usage_mismatches"]
    }
    with pipeline_run.connect() as con:
        flagged = con.execute(
            """
            select provider_id, strftime(usage_date, '%Y-%m-%d'), provider_project_id,
                provider_key_id, model, differing_fields
            from marts.mart_usage_reconciliation
            where reconciliation_status <> 'match'
            """
        ).fetchall()
        matched = con.execute(
            "select count(*) from marts.mart_usage_reconciliation "
            "where reconciliation_status = 'match'"
        ).fetchone()[0]
    assert seeded
    assert {row[:5] for row in flagged} == seeded
    assert all("cache_read_tokens" in row[5] for row in flagged)
    assert matched > 10


def test_the_template_change_is_detected_with_the_ground_truth_magnitude(
    pipeline_run: PipelineRun,
) -> None:
    episode = _summary(pipeline_run)["episodes"]["template_change"]
    served = [
        r
        for r in _truth_requests(pipeline_run)
        if r["prompt_template_id"] == episode["prompt_template_id"]
        and r["final_status_code"].startswith("2")
    ]

    def mean_output(version: str) -> Decimal:
        rows = [
            Decimal(r["output_tokens"]) for r in served if r["prompt_template_version"] == version
        ]
        return sum(rows) / len(rows)

    old, new = mean_output(episode["from_version"]), mean_output(episode["to_version"])
    expected_change = (new - old) / old
    with pipeline_run.connect() as con:
        version_mean, previous_mean, change = con.execute(
            """
            select distinct version_output_tokens_mean, previous_version_output_tokens_mean,
                output_tokens_change_vs_previous_version
            from marts.mart_prompt_template_tokens
            where prompt_template_id = ? and prompt_template_version = ?
            """,
            [episode["prompt_template_id"], episode["to_version"]],
        ).fetchone()
    assert version_mean == pytest.approx(float(new), rel=1e-12)
    assert previous_mean == pytest.approx(float(old), rel=1e-12)
    assert change == pytest.approx(float(expected_change), abs=1e-6)
    assert change > 0.25  # the seeded multiplier (x1.45) shows through the sampling noise


def test_the_fallback_episode_is_detected_with_the_ground_truth_counts(
    pipeline_run: PipelineRun,
) -> None:
    episode = _summary(pipeline_run)["episodes"]["fallback_episode"]
    truth = [
        r
        for r in _truth_requests(pipeline_run)
        if r["route"] == episode["route"]
        and r["final_model"] == episode["fallback_model"]
        and r["pricing_status"] == "priced"
    ]
    with pipeline_run.connect() as con:
        rows = con.execute(
            """
            select tenant_id, expected_model_id, served_model_id, sum(request_count),
                sum(fallback_premium_usd)
            from marts.mart_fallback_drift
            where route_name = ? and served_model_id = ?
            group by all
            """,
            [episode["route"], episode["fallback_model"]],
        ).fetchall()
    assert len(truth) > 0
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (t, episode["expected_model"], episode["fallback_model"], len(truth))
        for t in episode["tenant_ids"]
    ]
    assert rows[0][4] > 0  # served by the premium model: it cost more than expected


def _run_analysis(run: PipelineRun, name: str, variables: str | None = None) -> list[tuple]:
    env = {
        **os.environ,
        "AI_CHARGEBACK_DUCKDB": str(run.warehouse),
        "DBT_PROFILES_DIR": str(PROJECT_ROOT),
    }
    command = [dbt_executable(), "compile", "--quiet", "-s", name]
    if variables:
        command += ["--vars", variables]
    completed = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    compiled = Path(PROJECT_ROOT, "target/compiled/ai_chargeback/analyses", f"{name}.sql")
    with run.connect() as con:
        return con.execute(compiled.read_text()).fetchall()


def test_the_analyses_answer_the_three_questions(pipeline_run: PipelineRun) -> None:
    summary = _summary(pipeline_run)
    template = summary["episodes"]["template_change"]
    with pipeline_run.connect() as con:
        (change,) = con.execute(
            """
            select distinct output_tokens_change_vs_previous_version
            from marts.mart_prompt_template_tokens
            where prompt_template_id = ? and prompt_template_version = ?
            """,
            [template["prompt_template_id"], template["to_version"]],
        ).fetchone()
    for threshold, flagged in ((change - 0.01, True), (change + 0.01, False)):
        rows = _run_analysis(
            pipeline_run,
            "prompt_template_output_increase",
            f"{{prompt_template_id: {template['prompt_template_id']}, threshold: {threshold}}}",
        )
        assert [(r[0], r[1], r[-1]) for r in rows] == [
            (template["prompt_template_id"], template["to_version"], flagged)
        ]

    fallback = summary["episodes"]["fallback_episode"]
    rows = _run_analysis(pipeline_run, "fallback_premium_by_route")
    flagged = {(r[0], r[3]) for r in rows if r[-1]}
    assert (fallback["route"], fallback["fallback_model"]) in flagged

    rows = _run_analysis(
        pipeline_run, "top_workload_by_model_family_yesterday", "{model_family: claude-opus}"
    )
    assert len(rows) == 1
    usage_date, family, workload, cost = rows[0][:4]
    assert family == "claude-opus" and cost > 0
    with pipeline_run.connect() as con:
        best = con.execute(
            """
            select workload from marts.mart_chargeback_daily as daily
            inner join (select distinct model_id, model_family from marts.dim_models) as models
                on daily.model_id = models.model_id
            where model_family = 'claude-opus' and usage_date = ?
            group by workload order by sum(effective_cost_usd) desc limit 1
            """,
            [usage_date],
        ).fetchone()
    assert workload == best[0]
