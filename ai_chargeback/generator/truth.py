"""Ground truth: what really happened, priced exactly, for the tests of the warehouse.

`price_day` prices every billable attempt (successful; provider record when there is one,
else the gateway's count, which for Google and the self-hosted model is exact) with the
`PriceBook` replay of `genai_prices.calc_price`, and feeds the provider reports. `TruthWriter`
streams `_ground_truth/requests.csv` and `attempts.csv`, one day at a time.

Money is `Decimal` throughout and written with `format(x, "f")` (never float, never exponent).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

from ai_chargeback.generator.config import (
    CONTRACT_DISCOUNTS,
    DIALECTS,
    FALLBACK,
    MODELS,
    PROVIDERS,
    PROVIDERS_WITH_RESPONSE_USAGE,
    RETRY,
    ROUTING_DECISIONS,
    UNATTRIBUTED,
)
from ai_chargeback.generator.directory import NS_PER_DAY, Directory
from ai_chargeback.generator.pricing import PriceBook
from ai_chargeback.generator.reports import ReportBook
from ai_chargeback.generator.traffic import APP_ONLY, LITELLM, ORPHAN, DayTraffic

ZERO = Decimal(0)
PRICED, UNPRICED, NO_USAGE = "priced", "unpriced", "no_usage"
SERVICE_TIER = {"openai": "default", "anthropic": "standard", "google": "", "vllm": ""}

REQUEST_COLUMNS: tuple[str, ...] = (
    "request_key",
    "app_request_id",
    "trace_id",
    "gateway",
    "tenant_id",
    "attribution_source",
    "user_id",
    "workload",
    "feature",
    "prompt_template_id",
    "prompt_template_version",
    "route",
    "expected_model",
    "requested_at",
    "request_date",
    "is_late_app_request",
    "is_stream",
    "is_batch",
    "final_status_code",
    "final_provider",
    "final_model",
    "attempts",
    "retries",
    "fallbacks",
    "routing_decisions",
    "uncached_input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "list_cost_usd",
    "effective_cost_usd",
    "pricing_status",
)
ATTEMPT_COLUMNS: tuple[str, ...] = (
    "request_key",
    "gateway",
    "trace_id",
    "span_id",
    "response_id",
    "attempt",
    "routing_decision",
    "status_code",
    "is_success",
    "provider",
    "requested_model",
    "response_model",
    "canonical_model",
    "provider_key_id",
    "project_id",
    "started_at",
    "ended_at",
    "dialect",
    "is_estimated",
    "is_batch",
    "service_tier",
    "gateway_input_tokens",
    "gateway_cache_read_tokens",
    "gateway_cache_write_tokens",
    "gateway_output_tokens",
    "gateway_reasoning_tokens",
    "provider_input_tokens",
    "provider_cache_read_tokens",
    "provider_cache_write_tokens",
    "provider_cache_write_1h_tokens",
    "provider_output_tokens",
    "provider_reasoning_tokens",
    "uncached_input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "list_cost_usd",
    "effective_cost_usd",
    "pricing_status",
)


def money(value: Decimal | None) -> str:
    """A decimal string without exponent ('' for None)."""
    return "" if value is None else format(value, "f")


def iso_ms(ns: np.ndarray) -> list[str]:
    """ISO 8601 UTC with milliseconds and a Z, vectorised."""
    text = np.datetime_as_string(ns.astype("datetime64[ns]"), unit="ms")
    return [t + "Z" for t in text.tolist()]


def iso_us(ns: np.ndarray) -> list[str]:
    """ISO 8601 UTC with microseconds and a Z, vectorised."""
    text = np.datetime_as_string(ns.astype("datetime64[ns]"), unit="us")
    return [t + "Z" for t in text.tolist()]


@dataclass
class PricedDay:
    """List and effective cost of each attempt and request of a day."""

    a_list: list[Decimal | None]  # None: billable but unpriced
    a_effective: list[Decimal | None]
    a_model_id: list[str]  # canonical genai-prices id (raw model name when unknown)
    a_status: list[str]
    r_list: list[Decimal | None]
    r_effective: list[Decimal | None]
    r_status: list[str]


def price_day(
    day: DayTraffic, *, book: PriceBook, directory: Directory, reports: ReportBook
) -> PricedDay:
    """Price every attempt exactly and feed the provider reports with the billable ones."""
    m = day.n_attempts
    offsets = ((day.a_start - day.day_start_ns) // NS_PER_DAY).tolist()
    dates = {o: day.day + timedelta(days=o) for o in set(offsets)}
    a_list: list[Decimal | None] = [ZERO] * m
    a_effective: list[Decimal | None] = [ZERO] * m
    a_model_id: list[str] = [""] * m
    a_status: list[str] = [NO_USAGE] * m
    batch = day.batch[day.a_req].tolist()
    columns = zip(
        day.a_model.tolist(),
        day.a_snapshot.tolist(),
        day.a_ok.tolist(),
        day.a_key.tolist(),
        day.a_input.tolist(),
        day.a_cache_read.tolist(),
        day.a_cache_write.tolist(),
        day.a_cache_1h.tolist(),
        day.a_output.tolist(),
        offsets,
        batch,
        strict=True,
    )
    keys = directory.keys
    for j, (mi, si, ok, ki, inp, cr, cw, c1h, out, off, is_batch) in enumerate(columns):
        spec = MODELS[mi]
        attempt_date: date = dates[off]
        row = book.row(spec.provider, spec.price_ref, attempt_date, batch=is_batch)
        a_model_id[j] = row.model_id if row is not None else spec.snapshots[si]
        if not ok:
            continue
        if row is None:
            a_list[j] = a_effective[j] = None
            a_status[j] = UNPRICED
            continue
        usage = {
            "input_tokens": inp,
            "cache_read_tokens": cr,
            "cache_write_tokens": cw,
            "cache_write_1h_tokens": c1h,
            "output_tokens": out,
        }
        total, leaf = row.price(usage)
        a_list[j] = total
        a_effective[j] = total * (1 - CONTRACT_DISCOUNTS[spec.provider])
        a_status[j] = PRICED
        reports.add(
            provider=spec.provider,
            day=attempt_date,
            key=keys[ki],
            snapshot=spec.snapshots[si],
            display=spec.display,
            batch=is_batch,
            row=row,
            leaf=leaf,
            marker=row.tier_marker(inp) if row.tiered else -1,
            tokens=(inp, cr, cw, c1h, out),
        )

    n = day.n_requests
    r_list: list[Decimal | None] = [ZERO] * n
    r_effective: list[Decimal | None] = [ZERO] * n
    r_status = [NO_USAGE] * n
    for j, r in enumerate(day.a_req.tolist()):
        status = a_status[j]
        if status == NO_USAGE or r_status[r] == UNPRICED:
            continue
        if status == UNPRICED:
            r_status[r] = UNPRICED
            r_list[r] = r_effective[r] = None
            continue
        r_status[r] = PRICED
        r_list[r] += a_list[j]  # type: ignore[operator]
        r_effective[r] += a_effective[j]  # type: ignore[operator]
    return PricedDay(a_list, a_effective, a_model_id, a_status, r_list, r_effective, r_status)


class TruthWriter:
    """Streams requests.csv and attempts.csv under `_ground_truth/`."""

    def __init__(self, folder: Path, directory: Directory) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._requests = (folder / "requests.csv").open("w", encoding="utf-8", newline="")
        self._attempts = (folder / "attempts.csv").open("w", encoding="utf-8", newline="")
        self._request_writer = csv.writer(self._requests, lineterminator="\n")
        self._attempt_writer = csv.writer(self._attempts, lineterminator="\n")
        self._request_writer.writerow(REQUEST_COLUMNS)
        self._attempt_writer.writerow(ATTEMPT_COLUMNS)
        self.requests = 0
        self.attempts = 0
        self.requests_by_status: dict[str, int] = {PRICED: 0, UNPRICED: 0, NO_USAGE: 0}
        self.requests_by_attribution: dict[str, int] = {}
        self.effective_by_provider_month: dict[tuple[str, str], Decimal] = {}

    def close(self) -> None:
        self._requests.close()
        self._attempts.close()

    def write_day(self, day: DayTraffic, priced: PricedDay) -> list[str]:
        """Write the day's rows; returns the request key of every request."""
        d = self.directory
        keys = d.keys
        trace_ids = [
            f"{hi:016x}{lo:016x}"
            for hi, lo in zip(day.trace_hi.tolist(), day.trace_lo.tolist(), strict=True)
        ]
        kind = day.kind.tolist()
        request_keys = [
            day.app_ids[i] if kind[i] != ORPHAN else f"trace:{trace_ids[i]}"
            for i in range(len(kind))
        ]
        gateway = ["litellm" if k == LITELLM else ("" if k == APP_ONLY else "spans") for k in kind]
        self._write_attempts(day, priced, request_keys, gateway, trace_ids)

        # token sums over billable attempts (the authoritative counts, see module docstring)
        n = day.n_requests
        ok = day.a_ok

        def total(values: np.ndarray) -> list[int]:
            return (
                np.bincount(day.a_req, weights=np.where(ok, values, 0), minlength=n)
                .astype(np.int64)
                .tolist()
            )

        cache_read = total(day.a_cache_read)
        cache_write = total(day.a_cache_write)
        uncached = total(day.a_input - day.a_cache_read - day.a_cache_write)
        cache_1h = total(day.a_cache_1h)
        output = total(day.a_output)
        reasoning = total(day.a_reasoning)
        retries = np.bincount(day.a_req, weights=day.a_decision == RETRY, minlength=n)
        retries = retries.astype(np.int64).tolist()
        fallbacks = np.bincount(day.a_req, weights=day.a_decision == FALLBACK, minlength=n)
        fallbacks = fallbacks.astype(np.int64).tolist()
        requested_at = iso_ms(np.where(day.kind == ORPHAN, day.start_ns, day.app_ns))
        decisions = day.a_decision.tolist()
        first = day.att_first.tolist()
        count = day.att_count.tolist()
        last = [f + c - 1 for f, c in zip(first, count, strict=True)]
        a_provider = day.a_provider.tolist()
        gateway_key = day.gateway_key.tolist()
        tenant = day.tenant.tolist()
        workload = day.workload.tolist()
        user = day.user.tolist()
        feature = day.feature.tolist()
        version = day.template_version.tolist()
        late = day.late.tolist()
        stream = day.stream.tolist()
        batch = day.batch.tolist()
        final_status = day.status.tolist()
        rows = []
        for i in range(n):
            t = tenant[i]
            wl = d.workloads[workload[i]].spec
            has_app = kind[i] != ORPHAN
            if has_app:
                tenant_id, source = d.tenant_id(t), "app_request"
            elif keys[gateway_key[i]].tenant_id:
                tenant_id, source = keys[gateway_key[i]].tenant_id, "api_key"
            else:
                tenant_id, source = UNATTRIBUTED, "unattributed"
            self.requests_by_attribution[source] = self.requests_by_attribution.get(source, 0) + 1
            has_attempts = count[i] > 0
            j = last[i]
            status = priced.r_status[i]
            self.requests_by_status[status] += 1
            rows.append(
                (
                    request_keys[i],
                    day.app_ids[i],
                    trace_ids[i] if gateway[i] == "spans" else "",
                    gateway[i],
                    tenant_id,
                    source,
                    d.users[t][user[i]] if has_app else "",
                    wl.workload if has_app else "",
                    wl.features[feature[i]] if has_app else "",
                    wl.template_id if has_app else "",
                    str(version[i]) if has_app else "",
                    wl.route,
                    MODELS_REQUEST_NAME[wl.model] if has_app else "",
                    requested_at[i],
                    requested_at[i][:10],
                    _flag(late[i]),
                    _flag(stream[i]),
                    _flag(batch[i]),
                    str(final_status[i]) if has_attempts else "",
                    PROVIDERS[a_provider[j]] if has_attempts else "",
                    priced.a_model_id[j] if has_attempts else "",
                    str(count[i]),
                    str(retries[i]),
                    str(fallbacks[i]),
                    "|".join(
                        ROUTING_DECISIONS[k] for k in decisions[first[i] : first[i] + count[i]]
                    ),
                    str(uncached[i]),
                    str(cache_read[i]),
                    str(cache_write[i]),
                    str(cache_1h[i]),
                    str(output[i]),
                    str(reasoning[i]),
                    money(priced.r_list[i]),
                    money(priced.r_effective[i]),
                    status,
                )
            )
        self._request_writer.writerows(rows)
        self.requests += n
        self._accumulate_effective(day, priced)
        return request_keys

    def _accumulate_effective(self, day: DayTraffic, priced: PricedDay) -> None:
        offsets = ((day.a_start - day.day_start_ns) // NS_PER_DAY).tolist()
        for j, (p, effective) in enumerate(
            zip(day.a_provider.tolist(), priced.a_effective, strict=True)
        ):
            if effective is None or priced.a_status[j] != "priced":
                continue
            month = (day.day + timedelta(days=offsets[j])).strftime("%Y-%m")
            key = (PROVIDERS[p], month)
            self.effective_by_provider_month[key] = (
                self.effective_by_provider_month.get(key, ZERO) + effective
            )

    def _write_attempts(
        self,
        day: DayTraffic,
        priced: PricedDay,
        request_keys: list[str],
        gateway: list[str],
        trace_ids: list[str],
    ) -> None:
        keys = self.directory.keys
        started = iso_us(day.a_start)
        ended = iso_us(day.a_end)
        req = day.a_req.tolist()
        provider = day.a_provider.tolist()
        ok = day.a_ok.tolist()
        has_record = [PROVIDERS[p] in PROVIDERS_WITH_RESPONSE_USAGE for p in provider]
        cols = (
            day.a_no.tolist(),
            day.a_decision.tolist(),
            day.a_status.tolist(),
            day.a_model.tolist(),
            day.a_snapshot.tolist(),
            day.a_key.tolist(),
            day.a_span.tolist(),
            day.a_dialect.tolist(),
            day.a_estimated.tolist(),
            day.batch[day.a_req].tolist(),
            day.a_gw_input.tolist(),
            day.a_gw_cache_read.tolist(),
            day.a_gw_cache_write.tolist(),
            day.a_gw_output.tolist(),
            day.a_gw_reasoning.tolist(),
            day.a_input.tolist(),
            day.a_cache_read.tolist(),
            day.a_cache_write.tolist(),
            day.a_cache_1h.tolist(),
            day.a_output.tolist(),
            day.a_reasoning.tolist(),
        )
        rows = []
        for j, values in enumerate(zip(*cols, strict=True)):
            (
                no,
                dec,
                status,
                mi,
                si,
                ki,
                span,
                dialect,
                est,
                batch,
                gi,
                gcr,
                gcw,
                go,
                grs,
                inp,
                cr,
                cw,
                c1h,
                out,
                rs,
            ) = values
            r = req[j]
            spec = MODELS[mi]
            key = keys[ki]
            is_spans = gateway[r] == "spans"
            good = ok[j]
            record = good and has_record[j]
            rows.append(
                (
                    request_keys[r],
                    gateway[r],
                    trace_ids[r] if is_spans else "",
                    f"{span:016x}" if is_spans else "",
                    day.a_response_id[j],
                    str(no),
                    ROUTING_DECISIONS[dec],
                    str(status),
                    _flag(good),
                    spec.provider,
                    spec.request_name,
                    spec.snapshots[si] if good else "",
                    priced.a_model_id[j],
                    key.api_key_id,
                    key.project_id,
                    started[j],
                    ended[j],
                    DIALECTS[dialect] if is_spans else "",
                    _flag(est),
                    _flag(batch),
                    SERVICE_TIER[spec.provider] if good else "",
                    _count(gi),
                    _count(gcr),
                    _count(gcw),
                    _count(go),
                    _count(grs),
                    _count(inp if record else -1),
                    _count(cr if record else -1),
                    _count(cw if record and spec.provider == "anthropic" else -1),
                    _count(c1h if record and spec.provider == "anthropic" else -1),
                    _count(out if record else -1),
                    _count(rs if record and spec.provider == "openai" else -1),
                    str(inp - cr - cw) if good else "0",
                    str(cr) if good else "0",
                    str(cw) if good else "0",
                    str(c1h) if good else "0",
                    str(out) if good else "0",
                    str(rs) if good else "0",
                    money(priced.a_list[j]),
                    money(priced.a_effective[j]),
                    priced.a_status[j],
                )
            )
        self._attempt_writer.writerows(rows)
        self.attempts += len(rows)


MODELS_REQUEST_NAME: dict[str, str] = {m.key: m.request_name for m in MODELS}


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _count(value: int) -> str:
    return "" if value < 0 else str(value)
