"""Vectorised simulation of one day of gateway traffic: requests, then upstream attempts.

Everything is numpy arrays (one element per request or per attempt); no Python loop runs per
request here. A day is simulated from its own random stream (`SeedSequence([seed, day])`), so
a day's traffic does not depend on how many days are generated.

Request kinds: SPANS (app request + AI-gateway spans), ORPHAN (spans without an app request),
APP_ONLY (an app request that never reached a gateway), LITELLM (app request + one row of the
legacy LiteLLM proxy).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from ai_chargeback.generator.config import (
    ANTHROPIC_CACHE_MIN,
    BASE_FAILURE_RATE,
    BATCH_FAILURE_RATE,
    CONTRIB,
    CURRENT,
    FAILURE_STATUSES,
    FALLBACK,
    FALLBACK_AFTER_ERROR_SHARE,
    GOOGLE_CACHE_MIN,
    HOURLY_WEIGHTS,
    LATENCY,
    LOAD_BALANCE,
    MAX_ATTEMPTS,
    MODEL_INDEX,
    MODELS,
    NIGHT_HOURS,
    OPENAI_CACHE_MIN,
    OPENAI_CACHE_STEP,
    POLICY,
    PROVIDERS,
    PROVIDERS_WITH_CACHE,
    RETRY,
    STRINGIFIED_ERROR_SHARE,
    UNKNOWN_MODEL_KEY,
    UNKNOWN_MODEL_WORKLOAD,
    WEEKDAY_FACTOR,
    FallbackEpisodeSpec,
    FaultRates,
    TemplateChangeSpec,
    TrafficSettings,
)
from ai_chargeback.generator.directory import (
    NS,
    PROVIDER_INDEX,
    Directory,
    day_start_ns,
    to_ns,
)

SPANS, ORPHAN, APP_ONLY, LITELLM = 0, 1, 2, 3
MS = 1_000_000
_BASE62 = np.frombuffer(
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype="S1"
)

_MODEL_PROVIDER = np.array([PROVIDER_INDEX[m.provider] for m in MODELS], dtype=np.int64)
_MODEL_FACTOR = np.array([m.input_factor for m in MODELS])
_MODEL_TTFT = np.array([m.ttft_ms for m in MODELS])
_MODEL_TPOT = np.array([m.tpot_ms for m in MODELS])
_MODEL_REASON_LO = np.array([m.reasoning_share[0] for m in MODELS])
_MODEL_REASON_HI = np.array([m.reasoning_share[1] for m in MODELS])
_P_OPENAI, _P_ANTHROPIC, _P_GOOGLE, _P_VLLM = (PROVIDER_INDEX[p] for p in PROVIDERS)
_PROVIDER_HAS_CACHE = np.array([p in PROVIDERS_WITH_CACHE for p in PROVIDERS])


@dataclass(frozen=True)
class Episodes:
    """The seeded episodes placed on the generated range."""

    template_workload: int | None
    template_change_ns: int
    template_output_multiplier: float
    fallback_workload: int | None
    fallback_primary_model: int
    fallback_model: int
    fallback_start_ns: int
    fallback_end_ns: int
    unknown_model_workload: int | None


@dataclass
class DayTraffic:
    """One simulated day: request arrays (prefix none) and attempt arrays (prefix `a_`)."""

    day_index: int
    day: date
    day_start_ns: int
    # requests, ordered by gateway start time
    tenant: np.ndarray
    workload: np.ndarray
    user: np.ndarray
    feature: np.ndarray  # index into the workload's features
    kind: np.ndarray
    app_ns: np.ndarray
    start_ns: np.ndarray
    end_ns: np.ndarray
    template_version: np.ndarray
    stream: np.ndarray
    batch: np.ndarray
    late: np.ndarray
    tenant_header: np.ndarray
    content: np.ndarray
    trace_hi: np.ndarray
    trace_lo: np.ndarray
    server_span: np.ndarray
    gateway_key: np.ndarray
    status: np.ndarray
    ok: np.ndarray
    att_first: np.ndarray
    att_count: np.ndarray
    app_ids: list[str]
    # attempts, grouped by request, in attempt order
    a_req: np.ndarray
    a_no: np.ndarray
    a_model: np.ndarray
    a_provider: np.ndarray
    a_snapshot: np.ndarray
    a_decision: np.ndarray
    a_status: np.ndarray
    a_ok: np.ndarray
    a_key: np.ndarray
    a_start: np.ndarray
    a_end: np.ndarray
    a_span: np.ndarray
    a_dialect: np.ndarray
    a_estimated: np.ndarray
    a_content: np.ndarray
    a_error_stringified: np.ndarray
    a_input: np.ndarray  # provider-side truth; input includes cache reads and writes
    a_cache_read: np.ndarray
    a_cache_write: np.ndarray
    a_cache_1h: np.ndarray  # part of a_cache_write written with the 1-hour TTL
    a_output: np.ndarray  # includes reasoning
    a_reasoning: np.ndarray
    a_gw_input: np.ndarray  # what the gateway reports; -1 = not reported
    a_gw_output: np.ndarray
    a_gw_cache_read: np.ndarray
    a_gw_cache_write: np.ndarray
    a_gw_reasoning: np.ndarray
    a_response_id: list[str]

    @property
    def n_requests(self) -> int:
        return len(self.kind)

    @property
    def n_attempts(self) -> int:
        return len(self.a_req)


class TrafficModel:
    """Static per-workload tables plus the day simulation."""

    def __init__(
        self,
        directory: Directory,
        *,
        requests_per_day: int,
        settings: TrafficSettings,
        faults: FaultRates,
        template_change: TemplateChangeSpec,
        fallback_episode: FallbackEpisodeSpec,
    ) -> None:
        self.directory = directory
        self.requests_per_day = requests_per_day
        self.settings = settings
        self.faults = faults
        self.fallback_spec = fallback_episode
        refs = directory.workloads
        specs = [ref.spec for ref in refs]

        def model_or(key: str | None) -> int:
            return MODEL_INDEX[key] if key else -1

        self.wl_tenant = np.array([ref.tenant_index for ref in refs], dtype=np.int64)
        self.wl_model = np.array([MODEL_INDEX[s.model] for s in specs], dtype=np.int64)
        self.wl_alt = np.array([model_or(s.alt_model) for s in specs], dtype=np.int64)
        self.wl_fallback = np.array([model_or(s.fallback_model) for s in specs], dtype=np.int64)
        self.wl_policy = np.array([model_or(s.policy_model) for s in specs], dtype=np.int64)
        self.wl_policy_threshold = np.array([s.policy_threshold for s in specs], dtype=np.int64)
        self.wl_strategy = np.array([s.strategy for s in specs], dtype=np.int64)
        self.wl_alt_share = np.array([s.alt_share for s in specs])
        self.wl_share = np.array([s.share for s in specs])
        self.wl_prompt_mu = np.log(np.array([s.prompt_median for s in specs], dtype=float))
        self.wl_prompt_sigma = np.array([s.prompt_sigma for s in specs])
        self.wl_output_mu = np.log(np.array([s.output_median for s in specs], dtype=float))
        self.wl_output_sigma = np.array([s.output_sigma for s in specs])
        self.wl_long = np.array([s.long_prompt_share for s in specs])
        self.wl_cache_hit = np.array([s.cache_hit for s in specs])
        self.wl_cache_write = np.array([s.cache_write for s in specs])
        self.wl_cache_1h = np.array([s.cache_1h_share for s in specs])
        self.wl_stream = np.array([s.stream_share for s in specs])
        self.wl_batch = np.array([s.batch_share for s in specs])
        self.wl_night = np.array([s.night for s in specs])
        self.wl_version = np.array([s.template_version for s in specs], dtype=np.int64)
        dialects = np.array([s.dialects for s in specs], dtype=float)
        self.wl_dialect_cum = np.cumsum(dialects / dialects.sum(axis=1, keepdims=True), axis=1)
        self.episodes = self._place_episodes(template_change, fallback_episode)

    def _place_episodes(
        self, change: TemplateChangeSpec, fallback: FallbackEpisodeSpec
    ) -> Episodes:
        d = self.directory
        days = d.days

        def at(fraction: float, moment: time) -> int:
            day = d.start + timedelta(days=min(days - 1, int(days * fraction)))
            return to_ns(datetime.combine(day, moment, tzinfo=UTC))

        change_wl = d.workload_index(change.tenant, change.workload)
        fallback_wl = d.workload_index(fallback.tenant, fallback.workload)
        fallback_start = at(fallback.start_fraction, fallback.start_at)
        fallback_end = min(d.range_end_ns, fallback_start + fallback.duration_hours * 3600 * NS)
        primary = int(self.wl_model[fallback_wl]) if fallback_wl is not None else -1
        backup = int(self.wl_fallback[fallback_wl]) if fallback_wl is not None else -1
        return Episodes(
            template_workload=change_wl,
            template_change_ns=at(change.day_fraction, change.at),
            template_output_multiplier=change.output_multiplier,
            fallback_workload=fallback_wl,
            fallback_primary_model=primary,
            fallback_model=backup,
            fallback_start_ns=fallback_start,
            fallback_end_ns=fallback_end,
            unknown_model_workload=d.workload_index(*UNKNOWN_MODEL_WORKLOAD),
        )

    # --- one day -----------------------------------------------------------------------------

    def day(self, day_index: int, rng: np.random.Generator) -> DayTraffic:
        """Simulate all requests and attempts of one UTC day."""
        d = self.directory
        faults = self.faults
        day = d.start + timedelta(days=day_index)
        d0 = day_start_ns(day)
        last_day = day_index == d.days - 1
        n_total = max(20, round(self.requests_per_day * WEEKDAY_FACTOR[day.weekday()]))

        # tenants and workloads
        n_platform = _at_least(rng.binomial(n_total, faults.unattributed_requests), faults)
        n_regular = n_total - n_platform
        weights = np.array([t.weight for t in d.tenants[: d.platform_index]])
        tenant = np.concatenate(
            [
                rng.choice(d.platform_index, size=n_regular, p=weights / weights.sum()),
                np.full(n_platform, d.platform_index),
            ]
        ).astype(np.int64)
        workload = np.empty(n_total, dtype=np.int64)
        draw = rng.random(n_total)
        for t in range(len(d.tenants)):
            mask = tenant == t
            own = np.flatnonzero(self.wl_tenant == t)
            cum = np.cumsum(self.wl_share[own])
            pick = np.searchsorted(cum / cum[-1], draw[mask])
            workload[mask] = own[np.minimum(pick, len(own) - 1)]

        # times
        hours_p = np.array(HOURLY_WEIGHTS[:23] if last_day else HOURLY_WEIGHTS, dtype=float)
        hour = rng.choice(len(hours_p), size=n_total, p=hours_p / hours_p.sum())
        night = self.wl_night[workload]
        hour[night] = rng.choice(np.array(NIGHT_HOURS), size=int(night.sum()))
        start_ns = d0 + hour.astype(np.int64) * 3600 * NS + rng.integers(0, 3600 * NS, n_total)
        order = np.argsort(start_ns, kind="stable")
        tenant, workload, start_ns = tenant[order], workload[order], start_ns[order]

        # users
        n_users = np.array([len(u) for u in d.users], dtype=np.int64)[tenant]
        user = np.where(n_users > 0, (rng.random(n_total) ** 2 * n_users).astype(np.int64), -1)

        n_features = np.array([len(ref.spec.features) for ref in d.workloads])[workload]
        feature = (rng.random(n_total) * n_features).astype(np.int64)

        # request kinds
        is_platform = tenant == d.platform_index
        litellm_tenants = [i for i, t in enumerate(d.tenants) if t.gateway == "litellm"]
        kind = np.where(np.isin(tenant, litellm_tenants), LITELLM, SPANS).astype(np.int8)
        kind[is_platform] = ORPHAN
        _flag(rng, kind, (kind == SPANS), faults.orphan_requests, faults, ORPHAN)
        _flag(
            rng,
            kind,
            ~is_platform & (kind != ORPHAN),
            faults.app_requests_without_spans,
            faults,
            APP_ONLY,
        )
        has_app = ~is_platform & (kind != ORPHAN)
        late = np.zeros(n_total, dtype=bool)
        if not last_day:
            _flag_bool(rng, late, has_app, faults.late_app_requests, faults)

        # prompt template version (seeded change) and token profile
        ep = self.episodes
        version = self.wl_version[workload].copy()
        out_mult = np.ones(n_total)
        if ep.template_workload is not None:
            changed = (workload == ep.template_workload) & (start_ns >= ep.template_change_ns)
            version[changed] += 1
            out_mult[changed] = ep.template_output_multiplier
        prompt = np.exp(
            self.wl_prompt_mu[workload]
            + self.wl_prompt_sigma[workload] * rng.standard_normal(n_total)
        )
        prompt = np.maximum(16, np.rint(prompt)).astype(np.int64)
        long_mask = rng.random(n_total) < self.wl_long[workload]
        prompt[long_mask] = rng.integers(205_000, 420_000, int(long_mask.sum()))
        output = (
            np.exp(
                self.wl_output_mu[workload]
                + self.wl_output_sigma[workload] * rng.standard_normal(n_total)
            )
            * out_mult
        )
        output = np.clip(np.rint(output), 4, 16_000).astype(np.int64)
        batch = rng.random(n_total) < self.wl_batch[workload]
        stream = (rng.random(n_total) < self.wl_stream[workload]) & ~batch
        tenant_header = (rng.random(n_total) >= self.settings.missing_tenant_header) & ~is_platform
        content = rng.random(n_total) < self.settings.message_content_spans

        # identifiers
        trace_hi = rng.bit_generator.random_raw(n_total)
        trace_lo = rng.bit_generator.random_raw(n_total)
        server_span = rng.bit_generator.random_raw(n_total)
        app_tokens = _base62_tokens(rng, n_total, 24)
        app_ids = [
            "req_" + tok if has else "" for tok, has in zip(app_tokens, has_app, strict=True)
        ]
        app_ns = np.maximum(d0, start_ns - rng.integers(2 * MS, 60 * MS, n_total))
        app_ns[kind == APP_ONLY] = start_ns[kind == APP_ONLY]
        gateway_key = d.key_at(np.asarray(d.gateway_slot, dtype=np.int64)[tenant], start_ns)

        # first attempt: routing decision
        model0 = self.wl_model[workload].copy()
        decision0 = self.wl_strategy[workload].copy()
        use_alt = (decision0 == LATENCY) & (rng.random(n_total) < self.wl_alt_share[workload])
        model0[use_alt] = self.wl_alt[workload][use_alt]
        lane0 = ((decision0 == LOAD_BALANCE) & (rng.random(n_total) < 0.5)).astype(np.int64)
        policy = (self.wl_policy[workload] >= 0) & (prompt > self.wl_policy_threshold[workload])
        model0[policy] = self.wl_policy[workload][policy]
        decision0[policy] = POLICY
        if ep.unknown_model_workload is not None:
            eligible = (workload == ep.unknown_model_workload) & (kind != APP_ONLY) & ~policy
            canary = np.zeros(n_total, dtype=bool)
            _flag_bool(rng, canary, eligible, faults.unknown_model_share, faults)
            model0[canary] = MODEL_INDEX[UNKNOWN_MODEL_KEY]
            decision0[canary] = POLICY

        attempts = self._attempts(
            rng,
            d0=d0,
            kind=kind,
            workload=workload,
            tenant=tenant,
            start_ns=start_ns,
            model0=model0,
            decision0=decision0,
            lane0=lane0,
            batch=batch,
            output=output,
        )
        (a_req, a_no, a_model, a_decision, a_lane, a_start, a_end, a_ok, a_status, a_out) = attempts
        m = len(a_req)
        a_provider = _MODEL_PROVIDER[a_model]

        # per-request roll-up of attempts
        att_count = np.bincount(a_req, minlength=n_total).astype(np.int64)
        att_first = np.concatenate([[0], np.cumsum(att_count)[:-1]]).astype(np.int64)
        last = att_first + att_count - 1
        has_att = att_count > 0
        end_ns = start_ns + rng.integers(1 * MS, 4 * MS, n_total)
        end_ns[has_att] = a_end[last[has_att]] + rng.integers(1 * MS, 3 * MS, int(has_att.sum()))
        status = np.zeros(n_total, dtype=np.int64)
        status[has_att] = a_status[last[has_att]]
        ok = np.zeros(n_total, dtype=bool)
        ok[has_att] = a_ok[last[has_att]]

        # attempt details
        a_snapshot = np.zeros(m, dtype=np.int64)
        multi = np.flatnonzero([len(spec.snapshots) > 1 for spec in MODELS])
        for mi in multi:
            mask = a_model == mi
            w = np.array(MODELS[mi].snapshot_weights)
            a_snapshot[mask] = rng.choice(len(w), size=int(mask.sum()), p=w / w.sum())
        slot = d.provider_slot[tenant[a_req], a_provider, a_lane]
        if (slot < 0).any():
            raise AssertionError("an attempt has no provider key slot: check _providers_used")
        a_key = d.key_at(slot, a_start)
        a_span = rng.bit_generator.random_raw(m)
        a_wl = workload[a_req]
        u = rng.random(m)
        a_dialect = (u[:, None] >= self.wl_dialect_cum[a_wl][:, :2]).sum(axis=1).astype(np.int8)
        not_openai = a_provider != _P_OPENAI
        a_dialect[not_openai & (a_dialect == CONTRIB)] = CURRENT
        a_dialect[(a_provider == _P_GOOGLE) | (a_provider == _P_VLLM)] = CURRENT
        a_content = rng.random(m) < self.settings.message_content_spans
        a_error_stringified = rng.random(m) < STRINGIFIED_ERROR_SHARE

        # tokens of successful attempts (the provider-side truth)
        prompt_a = prompt[a_req]
        a_input = np.where(a_ok, np.maximum(8, np.rint(prompt_a * _MODEL_FACTOR[a_model])), 0)
        a_input = a_input.astype(np.int64)
        a_output = np.where(a_ok, a_out, 0).astype(np.int64)
        share = rng.uniform(_MODEL_REASON_LO[a_model], np.maximum(_MODEL_REASON_HI[a_model], 1e-9))
        a_reasoning = np.where(_MODEL_REASON_HI[a_model] > 0, np.rint(a_output * share), 0)
        a_reasoning = a_reasoning.astype(np.int64)
        a_cache_read, a_cache_write, a_cache_1h = self._cache(rng, a_provider, a_wl, a_input, a_ok)

        # what the gateway saw: streamed responses are estimated, dialects hide token types
        s = self.settings
        est_u = rng.random(m)
        estimated = (
            a_ok
            & stream[a_req]
            & (
                ((a_provider == _P_OPENAI) & (est_u < s.stream_estimated_openai))
                | ((a_provider == _P_ANTHROPIC) & (est_u < s.stream_estimated_anthropic))
            )
        )
        is_litellm = kind[a_req] == LITELLM
        estimated &= ~is_litellm
        a_gw_input = np.where(a_ok, _estimate(rng, a_input, estimated, s.estimate_error), -1)
        a_gw_output = np.where(a_ok, _estimate(rng, a_output, estimated, s.estimate_error), -1)
        exact = a_ok & ~estimated & ~is_litellm
        a_gw_cache_read = np.where(
            exact & _PROVIDER_HAS_CACHE[a_provider] & (a_dialect != CONTRIB), a_cache_read, -1
        )
        a_gw_cache_write = np.where(
            exact & (a_provider == _P_ANTHROPIC) & (a_dialect == CURRENT), a_cache_write, -1
        )
        a_gw_reasoning = np.where(
            exact & (_MODEL_REASON_HI[a_model] > 0) & (a_dialect == CURRENT), a_reasoning, -1
        )

        response_tokens = _base62_tokens(rng, m, 29)
        batch_a = batch[a_req]
        a_response_id = [
            _response_id(p, tok, b) if good else ""
            for p, tok, b, good in zip(
                a_provider.tolist(), response_tokens, batch_a.tolist(), a_ok.tolist(), strict=True
            )
        ]

        return DayTraffic(
            day_index=day_index,
            day=day,
            day_start_ns=d0,
            tenant=tenant,
            workload=workload,
            user=user,
            feature=feature,
            kind=kind,
            app_ns=app_ns,
            start_ns=start_ns,
            end_ns=end_ns,
            template_version=version,
            stream=stream,
            batch=batch,
            late=late,
            tenant_header=tenant_header,
            content=content,
            trace_hi=trace_hi,
            trace_lo=trace_lo,
            server_span=server_span,
            gateway_key=gateway_key,
            status=status,
            ok=ok,
            att_first=att_first,
            att_count=att_count,
            app_ids=app_ids,
            a_req=a_req,
            a_no=a_no,
            a_model=a_model,
            a_provider=a_provider,
            a_snapshot=a_snapshot,
            a_decision=a_decision,
            a_status=a_status,
            a_ok=a_ok,
            a_key=a_key,
            a_start=a_start,
            a_end=a_end,
            a_span=a_span,
            a_dialect=a_dialect,
            a_estimated=estimated,
            a_content=a_content,
            a_error_stringified=a_error_stringified,
            a_input=a_input,
            a_cache_read=a_cache_read,
            a_cache_write=a_cache_write,
            a_cache_1h=a_cache_1h,
            a_output=a_output,
            a_reasoning=a_reasoning,
            a_gw_input=a_gw_input,
            a_gw_output=a_gw_output,
            a_gw_cache_read=a_gw_cache_read,
            a_gw_cache_write=a_gw_cache_write,
            a_gw_reasoning=a_gw_reasoning,
            a_response_id=a_response_id,
        )

    def _attempts(
        self,
        rng: np.random.Generator,
        *,
        d0: int,
        kind: np.ndarray,
        workload: np.ndarray,
        tenant: np.ndarray,
        start_ns: np.ndarray,
        model0: np.ndarray,
        decision0: np.ndarray,
        lane0: np.ndarray,
        batch: np.ndarray,
        output: np.ndarray,
    ) -> tuple[np.ndarray, ...]:
        """Attempts until success or MAX_ATTEMPTS: retries, fallbacks, the seeded episode."""
        ep = self.episodes
        spec = self.fallback_spec
        routed = np.flatnonzero(kind != APP_ONLY)
        model = model0[routed].copy()
        decision = decision0[routed].copy()
        lane = lane0[routed].copy()
        at = start_ns[routed] + rng.integers(1 * MS, 6 * MS, len(routed))
        base_fail = np.array([BASE_FAILURE_RATE[p] for p in PROVIDERS])
        active = np.arange(len(routed))
        parts: list[tuple[np.ndarray, ...]] = []
        for k in range(MAX_ATTEMPTS):
            if len(active) == 0:
                break
            r = routed[active]
            m = model[active]
            t = at[active]
            provider = _MODEL_PROVIDER[m]
            p_fail = np.where(batch[r], BATCH_FAILURE_RATE, base_fail[provider])
            in_episode = np.zeros(len(active), dtype=bool)
            if ep.fallback_workload is not None:
                in_episode = (
                    (workload[r] == ep.fallback_workload)
                    & (m == ep.fallback_primary_model)
                    & (t >= ep.fallback_start_ns)
                    & (t < ep.fallback_end_ns)
                )
                p_fail = np.where(in_episode, spec.failure_rate, p_fail)
            fail = (rng.random(len(active)) < p_fail) & (kind[r] != LITELLM)
            status = np.full(len(active), 200, dtype=np.int64)
            for pi, provider_name in enumerate(PROVIDERS):
                mask = fail & (provider == pi) & ~in_episode
                codes, weights = zip(*FAILURE_STATUSES[provider_name], strict=True)
                w = np.array(weights)
                status[mask] = rng.choice(np.array(codes), size=int(mask.sum()), p=w / w.sum())
            mask = fail & in_episode
            codes, weights = zip(*spec.statuses, strict=True)
            w = np.array(weights)
            status[mask] = rng.choice(np.array(codes), size=int(mask.sum()), p=w / w.sum())

            out = np.maximum(1, np.rint(output[r] * rng.uniform(0.9, 1.1, len(active))))
            out = out.astype(np.int64)
            ok_ms = _MODEL_TTFT[m] * rng.lognormal(0, 0.3, len(active)) + out * _MODEL_TPOT[m]
            fail_ms = np.where(
                status == 429,
                rng.uniform(30, 300, len(active)),
                rng.uniform(500, 8000, len(active)),
            )
            duration = np.where(fail, fail_ms, ok_ms) * MS
            batch_ns = rng.integers(30 * NS, 1200 * NS, len(active))
            duration = np.where(batch[r] & ~fail, batch_ns, duration).astype(np.int64)
            end = t + duration
            parts.append(
                (
                    r,
                    np.full(len(active), k + 1),
                    m,
                    decision[active],
                    lane[active],
                    t,
                    end,
                    ~fail,
                    status,
                    out,
                )
            )

            failed = active[fail]
            if k == MAX_ATTEMPTS - 1 or len(failed) == 0:
                break
            rf = routed[failed]
            mf = model[failed]
            fb = self.wl_fallback[workload[rf]]
            share = np.where(in_episode[fail], spec.fallback_share, FALLBACK_AFTER_ERROR_SHARE)
            go_fb = (fb >= 0) & (mf != fb) & (rng.random(len(failed)) < share)
            model[failed] = np.where(go_fb, fb, mf)
            decision[failed] = np.where(go_fb, FALLBACK, RETRY)
            lane[failed] = np.where(go_fb, 0, lane[failed])
            backoff = rng.uniform(0.5, 1.5, len(failed)) * 250 * MS * (2**k)
            at[failed] = end[fail] + backoff.astype(np.int64)
            active = failed

        columns = [np.concatenate(col) for col in zip(*parts, strict=True)]
        order = np.lexsort((columns[1], columns[0]))
        a_req, a_no, a_model, a_decision, a_lane, a_start, a_end, a_ok, a_status, a_out = (
            col[order] for col in columns
        )
        return (
            a_req.astype(np.int64),
            a_no.astype(np.int64),
            a_model.astype(np.int64),
            a_decision.astype(np.int64),
            a_lane.astype(np.int64),
            a_start.astype(np.int64),
            a_end.astype(np.int64),
            a_ok.astype(bool),
            a_status.astype(np.int64),
            a_out.astype(np.int64),
        )

    def _cache(
        self,
        rng: np.random.Generator,
        provider: np.ndarray,
        wl: np.ndarray,
        inp: np.ndarray,
        ok: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cache reads / writes of successful attempts, provider by provider."""
        m = len(provider)
        hit_u = rng.random(m)
        frac = rng.uniform(0.3, 0.95, m)
        ttl_u = rng.random(m)
        hit = self.wl_cache_hit[wl]
        cache_read = np.zeros(m, dtype=np.int64)
        cache_write = np.zeros(m, dtype=np.int64)
        cache_1h = np.zeros(m, dtype=np.int64)

        openai = ok & (provider == _P_OPENAI) & (hit_u < hit) & (inp >= OPENAI_CACHE_MIN)
        cached = (np.floor(inp * frac / OPENAI_CACHE_STEP) * OPENAI_CACHE_STEP).astype(np.int64)
        cache_read[openai] = np.where(cached[openai] >= OPENAI_CACHE_MIN, cached[openai], 0)

        prefix = np.rint(inp * frac).astype(np.int64)
        anthropic = ok & (provider == _P_ANTHROPIC) & (prefix >= ANTHROPIC_CACHE_MIN)
        reads = anthropic & (hit_u < hit)
        writes = anthropic & (hit_u >= hit) & (hit_u < hit + self.wl_cache_write[wl])
        cache_read[reads] = prefix[reads]
        cache_write[writes] = prefix[writes]
        one_hour = writes & (ttl_u < self.wl_cache_1h[wl])
        cache_1h[one_hour] = prefix[one_hour]

        google = ok & (provider == _P_GOOGLE) & (hit_u < hit) & (inp >= GOOGLE_CACHE_MIN)
        cache_read[google] = prefix[google]
        return cache_read, cache_write, cache_1h


def _at_least(count: int, faults: FaultRates) -> int:
    return max(int(count), faults.min_per_day)


def _flag(
    rng: np.random.Generator,
    kind: np.ndarray,
    eligible: np.ndarray,
    rate: float,
    faults: FaultRates,
    new_kind: int,
) -> None:
    """Turn a share of eligible requests into `new_kind` (at least `min_per_day`)."""
    flags = np.zeros(len(kind), dtype=bool)
    _flag_bool(rng, flags, eligible, rate, faults)
    kind[flags] = new_kind


def _flag_bool(
    rng: np.random.Generator,
    flags: np.ndarray,
    eligible: np.ndarray,
    rate: float,
    faults: FaultRates,
) -> None:
    """Set a share of eligible flags (at least `min_per_day` when any is eligible)."""
    candidates = np.flatnonzero(eligible)
    if len(candidates) == 0:
        return
    chosen = candidates[rng.random(len(candidates)) < rate]
    if len(chosen) < faults.min_per_day:
        chosen = rng.choice(
            candidates, size=min(faults.min_per_day, len(candidates)), replace=False
        )
    flags[chosen] = True


def _estimate(
    rng: np.random.Generator, counts: np.ndarray, estimated: np.ndarray, error: float
) -> np.ndarray:
    """The gateway's own count: exact, or off by a few percent (never equal) when estimated."""
    factor = 1 + rng.uniform(-error, error, len(counts))
    guess = np.maximum(1, np.rint(counts * factor)).astype(np.int64)
    guess = np.where(guess == counts, counts + 1, guess)
    return np.where(estimated, guess, counts)


def _base62_tokens(rng: np.random.Generator, n: int, length: int) -> list[str]:
    """n random base62 strings of a fixed length (vectorised)."""
    if n == 0:
        return []
    idx = rng.integers(0, 62, (n, length), dtype=np.uint8)
    return _BASE62[idx].view(f"S{length}").ravel().astype(str).tolist()


def _response_id(provider: int, token: str, batch: bool) -> str:
    if provider == _P_OPENAI:
        return ("batch_req_" + token[:24]) if batch else ("chatcmpl-" + token)
    if provider == _P_ANTHROPIC:
        return "msg_01" + token[:22]
    if provider == _P_GOOGLE:
        return token[:22]
    return "cmpl-" + token[:24].lower()
