"""Provider-side reports: OpenAI usage/costs pages, Anthropic usage/cost reports, Google invoice.

Billable attempts are accumulated by day (UTC date of the attempt start) while the days are
simulated; the reports are written at the end. Amounts are exact: the sum over line items of
(tokens x unit price / per) x (1 - contract discount), computed in a decimal context that
traps any rounding, plus the seeded invoice remainder. Two seeded episodes live here: the
usage mismatch (OpenAI reports 0 cached tokens for one day x project) and the remainder
(direct-to-provider traffic that shows on the costs and nowhere else).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Context, Decimal, Inexact, localcontext

import numpy as np
import orjson

from ai_chargeback.generator.config import (
    CONTRACT_DISCOUNTS,
    GOOGLE_BILLING_ACCOUNT,
    INVOICE_REMAINDER,
    MAX_RESULTS_PER_PAGE,
    MODEL_INDEX,
    MODELS,
    OPENAI_ORGANIZATION_ID,
    USAGE_MISMATCH,
    USAGE_SCHEMA_DRIFT_FRACTION,
)
from ai_chargeback.generator.directory import Directory, KeyVersion
from ai_chargeback.generator.files import LOADED, FaultLog, Landing, csv_bytes
from ai_chargeback.generator.pricing import PriceRow

_EXACT = Context(prec=80, traps=[Inexact])
_CENTS = Decimal(100)
_OPENAI_LINE = {
    "input_tokens": "input",
    "cache_read_tokens": "cached input",
    "output_tokens": "output",
}
_ANTHROPIC_TOKEN_TYPE = {
    "input_tokens": "uncached_input_tokens",
    "cache_read_tokens": "cache_read_input_tokens",
    "cache_write_tokens": "cache_creation.ephemeral_5m_input_tokens",
    "cache_write_1h_tokens": "cache_creation.ephemeral_1h_input_tokens",
    "output_tokens": "output_tokens",
}
_ANTHROPIC_DESCRIPTION = {
    "input_tokens": "Input Tokens",
    "cache_read_tokens": "Cache Read Input Tokens",
    "cache_write_tokens": "5m Cache Write Input Tokens",
    "cache_write_1h_tokens": "1h Cache Write Input Tokens",
    "output_tokens": "Output Tokens",
}
_GOOGLE_SKU = {
    "input_tokens": "Input Text Tokens",
    "cache_read_tokens": "Cached Input Text Tokens",
    "output_tokens": "Output Text Tokens (incl. Thinking)",
}
GOOGLE_INVOICE_HEADER = (
    "Billing account ID",
    "Service description",
    "SKU description",
    "Usage start date",
    "Usage end date",
    "Project ID",
    "Usage amount",
    "Usage unit",
    "Cost (USD)",
    "Currency",
)


@dataclass
class _CostGroup:
    row: PriceRow
    leaf: dict[str, int]


class ReportBook:
    """Accumulates billable usage per provider report grain; writes all reports at the end."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        # (provider, day, project, snapshot, display, batch, tier marker) -> priced leaf counts
        self._costs: dict[tuple[str, date, str, str, str, bool, int], _CostGroup] = {}
        # (day, project, api key, snapshot, batch) -> [input, cached, output, requests]
        self._openai_usage: dict[tuple[date, str, str, str, bool], list[int]] = defaultdict(
            lambda: [0, 0, 0, 0]
        )
        # (day, api key, workspace, snapshot) -> [uncached, write 5m, write 1h, read, output]
        self._anthropic_usage: dict[tuple[date, str, str, str], list[int]] = defaultdict(
            lambda: [0, 0, 0, 0, 0]
        )
        self.invoice_totals: dict[tuple[str, str], Decimal] = {}
        self.usage_mismatches: list[dict[str, object]] = []
        self.remainders: list[dict[str, str]] = []

    def add(
        self,
        *,
        provider: str,
        day: date,
        key: KeyVersion,
        snapshot: str,
        display: str,
        batch: bool,
        row: PriceRow,
        leaf: dict[str, int],
        marker: int,
        tokens: tuple[int, int, int, int, int],
    ) -> None:
        """One billable, priced attempt."""
        group_key = (provider, day, key.project_id, snapshot, display, batch, marker)
        group = self._costs.get(group_key)
        if group is None:
            group = self._costs[group_key] = _CostGroup(row, dict.fromkeys(leaf, 0))
        for unit, count in leaf.items():
            group.leaf[unit] += count
        inp, cache_read, cache_write, cache_1h, output = tokens
        if provider == "openai":
            usage = self._openai_usage[(day, key.project_id, key.api_key_id, snapshot, batch)]
            usage[0] += inp
            usage[1] += cache_read
            usage[2] += output
            usage[3] += 1
        elif provider == "anthropic":
            usage = self._anthropic_usage[(day, key.api_key_id, key.project_id, snapshot)]
            usage[0] += inp - cache_read - cache_write
            usage[1] += cache_write - cache_1h
            usage[2] += cache_1h
            usage[3] += cache_read
            usage[4] += output

    # --- writing -------------------------------------------------------------------------

    def write(self, landing: Landing, faults: FaultLog, rng: np.random.Generator) -> None:
        """Write every provider report of the generated range."""
        d = self.directory
        days = [d.start + timedelta(days=i) for i in range(d.days)]
        drift_from = d.start + timedelta(days=int(d.days * USAGE_SCHEMA_DRIFT_FRACTION))
        mismatch_offset = min(d.days - 1, int(d.days * USAGE_MISMATCH.day_fraction))
        mismatch_day = d.start + timedelta(days=mismatch_offset)
        openai_costs, anthropic_costs, google_lines = self._amounts()
        self._add_remainders(openai_costs, days, rng)
        for day in days:
            self._write_openai_usage(
                landing, faults, day, drift=day >= drift_from, mismatch=day == mismatch_day
            )
            self._write_anthropic_usage(landing, faults, day)
            self._write_openai_costs(landing, faults, day, openai_costs.get(day, {}))
            self._write_anthropic_costs(landing, faults, day, anthropic_costs.get(day, {}))
        self._write_google_invoices(landing, faults, google_lines, days)

    def _amounts(
        self,
    ) -> tuple[
        dict[date, dict[tuple[str, str], Decimal]],
        dict[date, dict[tuple[str, str, str, str], Decimal]],
        dict[tuple[date, str, str], list[Decimal]],
    ]:
        openai: dict[date, dict[tuple[str, str], Decimal]] = defaultdict(dict)
        anthropic: dict[date, dict[tuple[str, str, str, str], Decimal]] = defaultdict(dict)
        google: dict[tuple[date, str, str], list[Decimal]] = {}
        with localcontext(_EXACT):
            for (provider, day, project, snapshot, display, batch, marker), group in sorted(
                self._costs.items(), key=lambda item: item[0]
            ):
                keep = 1 - CONTRACT_DISCOUNTS[provider]
                for unit, count in sorted(group.leaf.items()):
                    if count == 0:
                        continue
                    rate, per = group.row.rate(unit, marker)
                    amount = rate * count / per * keep
                    if provider == "openai":
                        label = _OPENAI_LINE.get(unit, unit)
                        line_item = f"{snapshot}, {'batch ' if batch else ''}{label}"
                        bucket = openai[day]
                        grain_o = (project, line_item)
                        bucket[grain_o] = bucket.get(grain_o, Decimal(0)) + amount
                    elif provider == "anthropic":
                        token_type = _ANTHROPIC_TOKEN_TYPE[unit]
                        description = f"{display} Usage - {_ANTHROPIC_DESCRIPTION[unit]}"
                        grain = (project, snapshot, token_type, description)
                        bucket_a = anthropic[day]
                        bucket_a[grain] = bucket_a.get(grain, Decimal(0)) + amount * _CENTS
                    else:
                        sku = f"{display} {_GOOGLE_SKU.get(unit, unit)}"
                        if marker >= 0:
                            sku += f" (Long Context >{marker // 1000}K)"
                        if batch:
                            sku += " - Batch"
                        line = google.setdefault((day, project, sku), [Decimal(0), Decimal(0)])
                        line[0] += count
                        line[1] += amount
        return openai, anthropic, google

    def _add_remainders(
        self,
        openai: dict[date, dict[tuple[str, str], Decimal]],
        days: list[date],
        rng: np.random.Generator,
    ) -> None:
        spec = INVOICE_REMAINDER
        d = self.directory
        tenant = next((i for i, t in enumerate(d.tenants) if t.tenant_id == spec.tenant), None)
        if tenant is None or (tenant, spec.provider) not in d.projects:
            return
        project = d.project(tenant, spec.provider)
        model = MODELS[MODEL_INDEX[spec.line_item_model]]
        line_item = f"{model.snapshots[0]}, input"
        chosen = [day for day in days if rng.random() < spec.day_share] or [days[len(days) // 2]]
        with localcontext(_EXACT):
            for day in chosen:
                bucket = openai.setdefault(day, {})
                base = sum(bucket.values(), Decimal(0))  # the provider's cost that day
                share = Decimal(str(round(rng.uniform(*spec.share_range), 4)))
                amount = (base * share).quantize(Decimal("0.000001"), context=Context(prec=80))
                if amount <= 0:
                    continue
                bucket[(project, line_item)] = bucket.get((project, line_item), Decimal(0)) + amount
                self.remainders.append(
                    {
                        "provider": spec.provider,
                        "date": day.isoformat(),
                        "project_id": project,
                        "line_item": line_item,
                        "amount_usd": format(amount, "f"),
                        "share_of_provider_day": format(share, "f"),
                    }
                )

    def _write_pages(
        self,
        landing: Landing,
        faults: FaultLog,
        *,
        source: str,
        day: date,
        stem: str,
        results: list[dict[str, object]],
        bucket: dict[str, object],
        openai_envelope: bool,
        kind: str,
    ) -> list[tuple[str, int]]:
        """Paginate results (<= MAX_RESULTS_PER_PAGE each); returns (file, index) per result."""
        chunks = [
            results[i : i + MAX_RESULTS_PER_PAGE]
            for i in range(0, len(results), MAX_RESULTS_PER_PAGE)
        ] or [[]]
        where: list[tuple[str, int]] = []
        for k, chunk in enumerate(chunks, start=1):
            has_more = k < len(chunks)
            token = "page_" + hashlib.sha1(f"{stem}:{day}:{k + 1}".encode()).hexdigest()[:24]
            page_bucket = {**bucket, "results": chunk}
            page: dict[str, object] = {"data": [page_bucket]}
            if openai_envelope:
                page = {"object": "page", **page}
            page["has_more"] = has_more
            page["next_page"] = token if has_more else None
            path = landing.path(source, day, f"{stem}_p{k}.json")
            path.write_bytes(orjson.dumps(page) + b"\n")
            faults.written(source, len(chunk), files=1)
            faults.counts[source].by_kind[kind] += len(chunk)
            rel = landing.relative(path)
            where.extend((rel, i) for i in range(len(chunk)))
        return where

    def _write_openai_usage(
        self, landing: Landing, faults: FaultLog, day: date, *, drift: bool, mismatch: bool
    ) -> None:
        groups = sorted((key, value) for key, value in self._openai_usage.items() if key[0] == day)
        zero_project = None
        if mismatch:
            cached: dict[str, int] = defaultdict(int)
            for (_, project, _, _, _), value in groups:
                cached[project] += value[1]
            if cached and max(cached.values()) > 0:
                zero_project = min(cached, key=lambda p: (-cached[p], p))
        results: list[dict[str, object]] = []
        mismatched: list[int] = []
        for (_, project, api_key, snapshot, batch), (inp, cached_tokens, output, n) in groups:
            reported = cached_tokens
            if project == zero_project and cached_tokens > 0:
                reported = 0
                mismatched.append(len(results))
                self.usage_mismatches.append(
                    {
                        "provider": "openai",
                        "date": day.isoformat(),
                        "project_id": project,
                        "api_key_id": api_key,
                        "model": snapshot,
                        "batch": batch,
                        "field": "input_cached_tokens",
                        "responses_value": cached_tokens,
                        "reported_value": 0,
                    }
                )
            result: dict[str, object] = {
                "object": "organization.usage.completions.result",
                "input_tokens": inp,
                "output_tokens": output,
                "input_cached_tokens": reported,
                "input_audio_tokens": 0,
                "output_audio_tokens": 0,
                "num_model_requests": n,
                "project_id": project,
                "user_id": None,
                "api_key_id": api_key,
                "model": snapshot,
                "batch": batch,
                "service_tier": "default",
            }
            if drift:
                result.update(
                    input_uncached_tokens=inp - reported,
                    input_text_tokens=inp,
                    input_cached_text_tokens=reported,
                    input_image_tokens=0,
                    input_cached_image_tokens=0,
                    input_cached_audio_tokens=0,
                    output_text_tokens=output,
                    output_image_tokens=0,
                    api_source="api",
                )
            results.append(result)
        start = _unix(day)
        where = self._write_pages(
            landing,
            faults,
            source="provider_usage_buckets",
            day=day,
            stem="openai_usage_completions",
            results=results,
            bucket={"object": "bucket", "start_time": start, "end_time": start + 86_400},
            openai_envelope=True,
            kind="openai_usage_completions",
        )
        for index in mismatched:
            file, position = where[index]
            faults.fault(
                "provider_usage_buckets",
                file,
                1,
                "usage_cached_tokens_reported_zero",
                LOADED,
                f"data[0].results[{position}]",
                f"input_cached_tokens reported 0; the provider responses of this group had "
                f"{groups[index][1][1]} cached tokens",
            )

    def _write_anthropic_usage(self, landing: Landing, faults: FaultLog, day: date) -> None:
        groups = sorted(
            (key, value) for key, value in self._anthropic_usage.items() if key[0] == day
        )
        results = [
            {
                "uncached_input_tokens": uncached,
                "cache_creation": {
                    "ephemeral_1h_input_tokens": write_1h,
                    "ephemeral_5m_input_tokens": write_5m,
                },
                "cache_read_input_tokens": read,
                "output_tokens": output,
                "server_tool_use": {"web_search_requests": 0},
                "api_key_id": api_key,
                "workspace_id": workspace,
                "model": snapshot,
                "service_tier": "standard",
                "context_window": "0-200k",
            }
            for (_, api_key, workspace, snapshot), (
                uncached,
                write_5m,
                write_1h,
                read,
                output,
            ) in groups
        ]
        self._write_pages(
            landing,
            faults,
            source="provider_usage_buckets",
            day=day,
            stem="anthropic_usage_report",
            results=results,
            bucket={"starting_at": _iso_day(day), "ending_at": _iso_day(day + timedelta(days=1))},
            openai_envelope=False,
            kind="anthropic_usage_report",
        )

    def _write_openai_costs(
        self,
        landing: Landing,
        faults: FaultLog,
        day: date,
        amounts: dict[tuple[str, str], Decimal],
    ) -> None:
        results = []
        for (project, line_item), amount in sorted(amounts.items()):
            results.append(
                {
                    "object": "organization.costs.result",
                    "amount": {
                        "value": orjson.Fragment(format(amount, "f").encode()),
                        "currency": "usd",
                    },
                    "line_item": line_item,
                    "project_id": project,
                    "organization_id": OPENAI_ORGANIZATION_ID,
                }
            )
            self._total("openai", day, amount)
        start = _unix(day)
        where = self._write_pages(
            landing,
            faults,
            source="provider_costs",
            day=day,
            stem="openai_costs",
            results=results,
            bucket={"object": "bucket", "start_time": start, "end_time": start + 86_400},
            openai_envelope=True,
            kind="openai_costs",
        )
        for remainder in self.remainders:
            if remainder["date"] != day.isoformat():
                continue
            index = next(
                i
                for i, r in enumerate(results)
                if r["project_id"] == remainder["project_id"]
                and r["line_item"] == remainder["line_item"]
            )
            file, position = where[index]
            faults.fault(
                "provider_costs",
                file,
                1,
                "invoice_remainder",
                LOADED,
                f"data[0].results[{position}]",
                f"{remainder['amount_usd']} USD of direct-to-provider traffic in this line item",
            )

    def _write_anthropic_costs(
        self,
        landing: Landing,
        faults: FaultLog,
        day: date,
        amounts: dict[tuple[str, str, str, str], Decimal],
    ) -> None:
        results = []
        for (workspace, snapshot, token_type, description), cents in sorted(amounts.items()):
            results.append(
                {
                    "currency": "USD",
                    "amount": format(cents, "f"),
                    "workspace_id": workspace,
                    "description": description,
                    "cost_type": "tokens",
                    "context_window": "0-200k",
                    "model": snapshot,
                    "service_tier": "standard",
                    "token_type": token_type,
                }
            )
            with localcontext(_EXACT):
                self._total("anthropic", day, cents / _CENTS)
        self._write_pages(
            landing,
            faults,
            source="provider_costs",
            day=day,
            stem="anthropic_cost_report",
            results=results,
            bucket={"starting_at": _iso_day(day), "ending_at": _iso_day(day + timedelta(days=1))},
            openai_envelope=False,
            kind="anthropic_cost_report",
        )

    def _write_google_invoices(
        self,
        landing: Landing,
        faults: FaultLog,
        lines: dict[tuple[date, str, str], list[Decimal]],
        days: list[date],
    ) -> None:
        months = sorted({(day.year, day.month) for day in days})
        for year, month in months:
            month_days = [day for day in days if (day.year, day.month) == (year, month)]
            next_month = date(year + month // 12, month % 12 + 1, 1)
            delivered = min(next_month - timedelta(days=1), days[-1])
            rows: list[tuple[str, ...]] = [GOOGLE_INVOICE_HEADER]
            for (day, project, sku), (usage, cost) in sorted(lines.items()):
                if day not in month_days:
                    continue
                rows.append(
                    (
                        GOOGLE_BILLING_ACCOUNT,
                        "Gemini API",
                        sku,
                        day.isoformat(),
                        day.isoformat(),
                        project,
                        format(usage, "f"),
                        "tokens",
                        format(cost, "f"),
                        "USD",
                    )
                )
                self._total("google", day, cost)
            path = landing.path("provider_costs", delivered, "google_invoice.csv")
            path.write_bytes(csv_bytes(rows))
            faults.written("provider_costs", len(rows) - 1, files=1)
            faults.counts["provider_costs"].by_kind["google_invoice"] += len(rows) - 1

    def _total(self, provider: str, day: date, amount: Decimal) -> None:
        key = (provider, day.strftime("%Y-%m"))
        with localcontext(_EXACT):
            self.invoice_totals[key] = self.invoice_totals.get(key, Decimal(0)) + amount


def _unix(day: date) -> int:
    return int(datetime.combine(day, time(0, 0), tzinfo=UTC).timestamp())


def _iso_day(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"
