"""Synthetic landing data in the real source formats, with seeded faults and exact ground truth.

`generate` simulates a multi-tenant AI gateway day by day (numpy, one random stream per day),
writes every source of docs/landing_formats.md under `out_dir`, and writes what really happened
under `out_dir/_ground_truth/` (requests, attempts, faults, summary.json). Same arguments, same
bytes.

Modules: `config` (the traffic mix), `directory` (tenants, users, projects, keys), `traffic`
(the simulation), `pricing` (exact fast genai-prices replay), `otlp` (gateway spans),
`writers` (app requests, LiteLLM spend logs, provider usage, directories), `reports` (provider
usage/cost pages and invoices), `truth` (ground truth), `files` (deterministic output, fault log).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import numpy as np
import orjson

from ai_chargeback.generator import config
from ai_chargeback.generator.directory import Directory, iso_utc
from ai_chargeback.generator.files import SOURCES, FaultLog, Landing
from ai_chargeback.generator.otlp import SpanWriter
from ai_chargeback.generator.pricing import PriceBook
from ai_chargeback.generator.reports import ReportBook
from ai_chargeback.generator.traffic import ORPHAN, SPANS, TrafficModel
from ai_chargeback.generator.truth import TruthWriter, price_day
from ai_chargeback.generator.writers import (
    AppRequestWriter,
    ProviderUsageWriter,
    SpendLogWriter,
    write_directories,
)

__all__ = ["GenerationSummary", "generate"]

GROUND_TRUTH = "_ground_truth"
_REMAINDER_STREAM = 1_000_000


@dataclass(frozen=True)
class GenerationSummary:
    """What one `generate` call wrote (the full account is `_ground_truth/summary.json`)."""

    out_dir: Path
    start: date
    days: int
    tenants: int
    requests: int
    attempts: int
    records_by_source: dict[str, int]
    quarantined_by_source: dict[str, int]
    files_written: int
    invoice_totals: dict[str, dict[str, str]]
    summary_path: Path


def generate(
    out_dir: Path,
    *,
    days: int,
    tenants: int,
    requests_per_day: int,
    seed: int,
    start: date,
) -> GenerationSummary:
    """Write `days` days of landing data from `start` (UTC) for the first `tenants` tenants."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if requests_per_day < 1:
        raise ValueError(f"requests_per_day must be at least 1, got {requests_per_day}")
    out_dir = Path(out_dir)
    _clear_previous_output(out_dir)

    directory = Directory(n_tenants=tenants, start=start, days=days)
    model = TrafficModel(
        directory,
        requests_per_day=requests_per_day,
        settings=config.TRAFFIC,
        faults=config.FAULTS,
        template_change=config.TEMPLATE_CHANGE,
        fallback_episode=config.FALLBACK_EPISODE,
    )
    landing = Landing(out_dir)
    truth_dir = out_dir / GROUND_TRUTH
    faults = FaultLog(truth_dir / "faults.csv")
    book = PriceBook()
    reports = ReportBook(directory)
    truth = TruthWriter(truth_dir, directory)
    spans = SpanWriter(landing, faults, directory, config.FAULTS)
    apps = AppRequestWriter(landing, faults, directory, config.FAULTS)
    spend_logs = SpendLogWriter(landing, faults, directory, config.FAULTS, book)
    usage = ProviderUsageWriter(landing, faults, directory)
    content_spans = 0
    try:
        for day_index in range(days):
            streams = np.random.SeedSequence([seed, day_index]).spawn(4)
            rngs = [np.random.Generator(np.random.PCG64(s)) for s in streams]
            traffic = model.day(day_index, rngs[0])
            priced = price_day(traffic, book=book, directory=directory, reports=reports)
            truth.write_day(traffic, priced)
            spans.write_day(traffic, rngs[1])
            apps.write_day(traffic, rngs[2])
            spend_logs.write_day(traffic, rngs[3])
            usage.write_day(traffic)
            on_spans = (traffic.kind == SPANS) | (traffic.kind == ORPHAN)
            content_spans += int(traffic.content[on_spans].sum())
            content_spans += int(traffic.a_content[on_spans[traffic.a_req]].sum())
        write_directories(landing, faults, directory)
        remainder_rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence([seed, _REMAINDER_STREAM]))
        )
        reports.write(landing, faults, remainder_rng)
    finally:
        faults.close()
        truth.close()

    summary = _summary(
        directory=directory,
        model=model,
        faults=faults,
        truth=truth,
        reports=reports,
        seed=seed,
        requests_per_day=requests_per_day,
        content_spans=content_spans,
    )
    summary_path = truth_dir / "summary.json"
    summary_path.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")
    counts = faults.counts
    return GenerationSummary(
        out_dir=out_dir,
        start=start,
        days=days,
        tenants=tenants,
        requests=truth.requests,
        attempts=truth.attempts,
        records_by_source={s: counts[s].records_written for s in SOURCES},
        quarantined_by_source={s: sum(counts[s].quarantined.values()) for s in SOURCES},
        files_written=sum(counts[s].files_written for s in SOURCES),
        invoice_totals=summary["invoice_totals"],  # type: ignore[arg-type]
        summary_path=summary_path,
    )


def _clear_previous_output(out_dir: Path) -> None:
    """Remove what an earlier run wrote (only the folders this generator owns)."""
    for name in (*SOURCES, GROUND_TRUTH):
        folder = out_dir / name
        if folder.is_dir():
            shutil.rmtree(folder)


def _nested(values: dict[tuple[str, str], Decimal]) -> dict[str, dict[str, str]]:
    nested: dict[str, dict[str, str]] = {}
    for (provider, month), amount in sorted(values.items()):
        nested.setdefault(provider, {})[month] = format(amount, "f")
    return nested


def _summary(
    *,
    directory: Directory,
    model: TrafficModel,
    faults: FaultLog,
    truth: TruthWriter,
    reports: ReportBook,
    seed: int,
    requests_per_day: int,
    content_spans: int,
) -> dict[str, object]:
    d = directory
    ep = model.episodes
    sources = {s: faults.counts[s].as_dict() for s in SOURCES}
    totals = {
        key: sum(int(src[key]) for src in sources.values())  # type: ignore[call-overload]
        for key in ("records_written", "expected_loaded", "expected_quarantined", "files_written")
    }
    episodes: dict[str, object] = {}
    if ep.template_workload is not None:
        spec = d.workloads[ep.template_workload].spec
        episodes["template_change"] = {
            "tenant_id": config.TEMPLATE_CHANGE.tenant,
            "workload": spec.workload,
            "prompt_template_id": spec.template_id,
            "from_version": str(spec.template_version),
            "to_version": str(spec.template_version + 1),
            "change_at": iso_utc(ep.template_change_ns),
            "change_date": iso_utc(ep.template_change_ns)[:10],
            "output_multiplier": ep.template_output_multiplier,
        }
    if ep.fallback_workload is not None:
        spec = d.workloads[ep.fallback_workload].spec
        primary = config.MODELS[ep.fallback_primary_model]
        backup = config.MODELS[ep.fallback_model]
        episodes["fallback_episode"] = {
            "route": spec.route,
            "tenant_ids": [config.FALLBACK_EPISODE.tenant],
            "workload": spec.workload,
            "expected_model": primary.request_name,
            "expected_provider": primary.provider,
            "fallback_model": backup.request_name,
            "fallback_provider": backup.provider,
            "failure_rate": config.FALLBACK_EPISODE.failure_rate,
            "failure_statuses": [code for code, _ in config.FALLBACK_EPISODE.statuses],
            "start": iso_utc(ep.fallback_start_ns),
            "end": iso_utc(ep.fallback_end_ns),
        }
    litellm = [t.tenant_id for t in d.tenants[: d.platform_index] if t.gateway == "litellm"]
    return {
        "generator": {
            "package_version": version("ai-chargeback"),
            "genai_prices_version": version("genai-prices"),
            "seed": seed,
            "requests_per_day": requests_per_day,
        },
        "range": {
            "start": d.start.isoformat(),
            "end_exclusive": iso_utc(d.range_end_ns)[:10],
            "days": d.days,
        },
        "tenants": [t.tenant_id for t in d.tenants[: d.platform_index]],
        "litellm_tenants": litellm,
        "sources": sources,
        "totals": {
            **totals,
            "requests": truth.requests,
            "attempts": truth.attempts,
            "requests_by_pricing_status": truth.requests_by_status,
            "requests_by_attribution_source": dict(sorted(truth.requests_by_attribution.items())),
            "spans_with_message_content": content_spans,
        },
        "episodes": episodes,
        "usage_mismatches": reports.usage_mismatches,
        "invoice_remainders": reports.remainders,
        "invoice_totals": _nested(reports.invoice_totals),
        "attributed_effective_cost": _nested(truth.effective_by_provider_month),
        "contract_discounts": {p: format(v, "f") for p, v in config.CONTRACT_DISCOUNTS.items()},
        "content_canary": config.CONTENT_CANARY,
    }
