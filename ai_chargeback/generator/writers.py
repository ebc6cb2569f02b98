"""Writers of the non-span sources: app request logs, LiteLLM spend logs, provider per-response
usage, and the tenant / API key directories. Each writes the source's real format
(docs/landing_formats.md) and logs the seeded faults it plants.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import orjson

from ai_chargeback.generator.config import MODELS, PROVIDERS, FaultRates
from ai_chargeback.generator.directory import (
    NS,
    NS_PER_DAY,
    Directory,
    date_of,
    iso_date_time,
)
from ai_chargeback.generator.files import (
    LOADED,
    QUARANTINE,
    FaultLog,
    Landing,
    csv_bytes,
    open_output,
)
from ai_chargeback.generator.pricing import PriceBook
from ai_chargeback.generator.traffic import APP_ONLY, LITELLM, ORPHAN, DayTraffic
from ai_chargeback.generator.truth import iso_ms

_UTC_SUFFIXES = ("Z", "+00:00")


def _offset_ns(suffix: str) -> int:
    if suffix in _UTC_SUFFIXES:
        return 0
    sign = -1 if suffix[0] == "-" else 1
    hours, minutes = suffix[1:].split(":")
    return sign * (int(hours) * 60 + int(minutes)) * 60 * NS


def _count(rng: np.random.Generator, n: int, rate: float, minimum: int) -> int:
    return max(minimum, int(rng.binomial(max(n, 0), rate)))


class AppRequestWriter:
    """`app_requests/<date>/<workload>.jsonl`; late requests land in the next day's file."""

    SOURCE = "app_requests"

    def __init__(
        self, landing: Landing, faults: FaultLog, directory: Directory, rates: FaultRates
    ) -> None:
        self.landing = landing
        self.faults = faults
        self.directory = directory
        self.rates = rates
        self._carry: dict[str, list[tuple[bytes, list[tuple[str, str, str, str]]]]] = {}

    def write_day(self, day: DayTraffic, rng: np.random.Generator) -> None:
        d = self.directory
        kind = day.kind
        has_app = (kind != ORPHAN) & (day.tenant != d.platform_index)
        idx = np.flatnonzero(has_app)
        idx = idx[np.argsort(day.app_ns[idx], kind="stable")]
        suffixes = [t.ts_suffix for t in d.tenants]
        offsets = np.array([_offset_ns(s) for s in suffixes], dtype=np.int64)
        local = day.app_ns[idx] + offsets[day.tenant[idx]]
        local_text = np.datetime_as_string(local.astype("datetime64[ns]"), unit="ms").tolist()
        files: dict[str, list[tuple[bytes, list[tuple[str, str, str, str]]]]] = {}
        carry: dict[str, list[tuple[bytes, list[tuple[str, str, str, str]]]]] = {}
        for n, i in enumerate(idx.tolist()):
            t = int(day.tenant[i])
            tenant = d.tenants[t]
            spec = d.workloads[int(day.workload[i])].spec
            app_id = day.app_ids[i]
            record = {
                "app_request_id": app_id,
                "ts": local_text[n] + tenant.ts_suffix,
                "tenant_id": tenant.tenant_id,
                "user_id": d.users[t][int(day.user[i])],
                "workload": spec.workload,
                "feature": spec.features[int(day.feature[i])],
                "prompt_template_id": spec.template_id,
                "prompt_template_version": str(int(day.template_version[i])),
                "expected_route": spec.route,
                "expected_model": MODELS[MODEL_POSITION[spec.model]].request_name,
            }
            line = orjson.dumps(record) + b"\n"
            notes: list[tuple[str, str, str, str]] = []
            if tenant.ts_suffix not in _UTC_SUFFIXES:
                notes.append(("non_utc_timestamp", LOADED, app_id, f"ts offset {tenant.ts_suffix}"))
            if kind[i] == APP_ONLY:
                notes.append(
                    (
                        "app_request_without_spans",
                        LOADED,
                        app_id,
                        "the request never reached a gateway",
                    )
                )
            if day.late[i]:
                notes.append(
                    (
                        "late_arrival",
                        LOADED,
                        app_id,
                        f"request of {day.day.isoformat()} delivered a day late",
                    )
                )
                carry.setdefault(spec.workload, []).append((line, notes))
            else:
                files.setdefault(spec.workload, []).append((line, notes))
        for workload, entries in sorted(self._carry.items()):
            files.setdefault(workload, []).extend(entries)
        self._carry = carry

        names = sorted(files)
        rates = self.rates
        for k in range(_count(rng, len(idx), rates.malformed_app_lines, rates.min_per_day)):
            if not names:
                break
            name = names[int(rng.integers(0, len(names)))]
            fake_id = f"req_malformed{day.day_index:04d}{k:04d}"
            record = orjson.dumps(
                {
                    "app_request_id": fake_id,
                    "ts": iso_ms(np.array([day.day_start_ns + 3600 * NS]))[0],
                    "tenant_id": "search",
                }
            )
            truncated = record[: len(record) // 2] + b"\n"
            position = int(rng.integers(0, len(files[name]) + 1))
            files[name].insert(
                position,
                (truncated, [("malformed_json", QUARANTINE, fake_id, "truncated JSON line")]),
            )

        for name in names:
            path = self.landing.path(self.SOURCE, day.day, f"{name}.jsonl")
            rel = self.landing.relative(path)
            entries = files[name]
            path.write_bytes(b"".join(line for line, _ in entries))
            self.faults.written(self.SOURCE, len(entries), files=1)
            for line_no, (_, notes) in enumerate(entries, start=1):
                for fault_type, outcome, ref, detail in notes:
                    self.faults.fault(self.SOURCE, rel, line_no, fault_type, outcome, ref, detail)


SPEND_LOG_COLUMNS: tuple[str, ...] = (
    "request_id",
    "call_type",
    "api_key",
    "spend",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "startTime",
    "endTime",
    "model",
    "model_group",
    "custom_llm_provider",
    "api_base",
    "user",
    "team_id",
    "end_user",
    "request_tags",
    "metadata",
    "cache_hit",
)
_API_BASE = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com/v1"}


def _litellm_time(ns: np.ndarray) -> list[str]:
    text = np.datetime_as_string(ns.astype("datetime64[ns]"), unit="us").tolist()
    return [t.replace("T", " ") + "+00:00" for t in text]


class SpendLogWriter:
    """`gateway_spend_logs/<date>/spend_logs.csv.gz`: one row per LiteLLM request."""

    SOURCE = "gateway_spend_logs"

    def __init__(
        self,
        landing: Landing,
        faults: FaultLog,
        directory: Directory,
        rates: FaultRates,
        book: PriceBook,
    ) -> None:
        self.landing = landing
        self.faults = faults
        self.directory = directory
        self.rates = rates
        self.book = book

    def write_day(self, day: DayTraffic, rng: np.random.Generator) -> None:
        d = self.directory
        idx = np.flatnonzero(day.kind == LITELLM)
        attempts = day.att_first[idx]
        starts = _litellm_time(day.a_start[attempts])
        ends = _litellm_time(day.a_end[attempts])
        rows: list[tuple[tuple[str, ...], tuple[str, str, str, str] | None]] = []
        for n, (i, j) in enumerate(zip(idx.tolist(), attempts.tolist(), strict=True)):
            t = int(day.tenant[i])
            tenant = d.tenants[t]
            spec = d.workloads[int(day.workload[i])].spec
            model = MODELS[int(day.a_model[j])]
            prompt = int(day.a_gw_input[j])
            completion = int(day.a_gw_output[j])
            row = self.book.row(
                model.provider, model.price_ref, date_of(int(day.a_start[j])), batch=False
            )
            spend = 0.0
            if row is not None:
                in_rate, per = row.rate("input_tokens", -1)
                out_rate, _ = row.rate("output_tokens", -1)
                spend = (float(in_rate) * prompt + float(out_rate) * completion) / per
            team = f"team-{tenant.tenant_id}"
            key = d.keys[int(day.gateway_key[i])]
            metadata = {
                "user_api_key_alias": f"{tenant.tenant_id}-prod",
                "user_api_key_team_id": team,
                "model_id": f"{spec.route}-{model.key}",
                "spend_logs_metadata": {"app_request_id": day.app_ids[i]},
            }
            tags = [f"workload:{spec.workload}", f"feature:{spec.features[int(day.feature[i])]}"]
            rows.append(
                (
                    (
                        day.a_response_id[j],
                        "acompletion",
                        key.key_hash,
                        np.format_float_positional(spend),
                        str(prompt),
                        str(completion),
                        str(prompt + completion),
                        starts[n],
                        ends[n],
                        model.snapshots[int(day.a_snapshot[j])],
                        spec.route,
                        model.provider,
                        _API_BASE[model.provider],
                        "default_user_id",
                        team,
                        d.users[t][int(day.user[i])],
                        orjson.dumps(tags).decode(),
                        orjson.dumps(metadata).decode(),
                        "False",
                    ),
                    None,
                )
            )
        rates = self.rates
        for k in range(_count(rng, len(idx), rates.bad_spend_log_rows, rates.min_per_day)):
            request_id = f"chatcmpl-badrow{day.day_index:04d}{k:04d}"
            at = np.array([day.day_start_ns + int(rng.integers(0, 86_000)) * NS])
            bad = (
                request_id,
                "acompletion",
                "0" * 64,
                "0.00042",
                "1.2k",
                "88",
                "1288",
                _litellm_time(at)[0],
                _litellm_time(at + NS)[0],
                "gpt-4o-mini-2024-07-18",
                "support-reply",
                "openai",
                _API_BASE["openai"],
                "default_user_id",
                "team-support-copilot",
                "",
                "[]",
                "{}",
                "False",
            )
            position = int(rng.integers(0, len(rows) + 1))
            rows.insert(
                position,
                (
                    bad,
                    ("bad_csv_row", QUARANTINE, request_id, 'prompt_tokens "1.2k" is not a number'),
                ),
            )
        path = self.landing.path(self.SOURCE, day.day, "spend_logs.csv.gz")
        rel = self.landing.relative(path)
        with open_output(path) as handle:
            handle.write(csv_bytes([SPEND_LOG_COLUMNS, *(row for row, _ in rows)]))
        self.faults.written(self.SOURCE, len(rows), files=1)
        for line_no, (_, fault) in enumerate(rows, start=2):
            if fault is not None:
                self.faults.fault(self.SOURCE, rel, line_no, fault[0], fault[1], fault[2], fault[3])


class ProviderUsageWriter:
    """`provider_response_usage/<date>/<provider>.jsonl` in each provider's own usage shape."""

    SOURCE = "provider_response_usage"

    def __init__(self, landing: Landing, faults: FaultLog, directory: Directory) -> None:
        self.landing = landing
        self.faults = faults
        self.directory = directory

    def write_day(self, day: DayTraffic) -> None:
        keys = self.directory.keys
        with_record = day.a_ok & (
            (day.a_provider == PROVIDERS.index("openai"))
            | (day.a_provider == PROVIDERS.index("anthropic"))
        )
        idx = np.flatnonzero(with_record)
        idx = idx[np.argsort(day.a_start[idx], kind="stable")]
        created = iso_ms(day.a_start[idx])
        lines: dict[str, list[bytes]] = {"anthropic": [], "openai": []}
        batch = day.batch[day.a_req].tolist()
        for n, j in enumerate(idx.tolist()):
            model = MODELS[int(day.a_model[j])]
            inp = int(day.a_input[j])
            cache_read = int(day.a_cache_read[j])
            cache_write = int(day.a_cache_write[j])
            cache_1h = int(day.a_cache_1h[j])
            output = int(day.a_output[j])
            key = keys[int(day.a_key[j])]
            if model.provider == "openai":
                usage: dict[str, object] = {
                    "prompt_tokens": inp,
                    "completion_tokens": output,
                    "total_tokens": inp + output,
                    "prompt_tokens_details": {"cached_tokens": cache_read, "audio_tokens": 0},
                    "completion_tokens_details": {
                        "reasoning_tokens": int(day.a_reasoning[j]),
                        "audio_tokens": 0,
                        "accepted_prediction_tokens": 0,
                        "rejected_prediction_tokens": 0,
                    },
                }
                tier = "default"
            else:
                usage = {
                    "input_tokens": inp - cache_read - cache_write,
                    "cache_creation_input_tokens": cache_write,
                    "cache_read_input_tokens": cache_read,
                    "output_tokens": output,
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": cache_write - cache_1h,
                        "ephemeral_1h_input_tokens": cache_1h,
                    },
                    "service_tier": "standard",
                }
                tier = "standard"
            record = {
                "provider": model.provider,
                "response_id": day.a_response_id[j],
                "model": model.snapshots[int(day.a_snapshot[j])],
                "created_at": created[n],
                "service_tier": tier,
                "batch": batch[j],
                "project_id": key.project_id,
                "api_key_id": key.api_key_id,
                "usage": usage,
            }
            lines[model.provider].append(orjson.dumps(record) + b"\n")
        for provider, content in lines.items():
            if not content:
                continue
            path = self.landing.path(self.SOURCE, day.day, f"{provider}.jsonl")
            path.write_bytes(b"".join(content))
            self.faults.written(self.SOURCE, len(content), files=1)
            self.faults.counts[self.SOURCE].by_kind[provider] += len(content)


TENANT_COLUMNS = (
    "tenant_id",
    "tenant_name",
    "cost_center",
    "business_unit",
    "plan",
    "owner_email",
    "valid_from",
    "valid_to",
)
API_KEY_COLUMNS = (
    "api_key_id",
    "key_hash",
    "key_kind",
    "provider",
    "tenant_id",
    "project_id",
    "valid_from",
    "valid_to",
)


def write_directories(landing: Landing, faults: FaultLog, directory: Directory) -> None:
    """Full exports of the tenant directory and key inventory, on the first day and on every
    day the directory changes; each export holds the history known on its landing date."""
    d = directory
    tenant_days = {date_of(v.valid_from_ns) for v in d.tenant_versions}
    key_days = {date_of(k.valid_from_ns) for k in d.keys}
    last = d.start + timedelta(days=d.days - 1)

    def snapshot_days(changes: set) -> list:
        return sorted({d.start} | {c for c in changes if d.start < c <= last})

    for day in snapshot_days(tenant_days):
        horizon = (day - d.start).days * NS_PER_DAY + d.range_start_ns + NS_PER_DAY
        rows = [TENANT_COLUMNS] + [
            (
                v.tenant_id,
                v.tenant_name,
                v.cost_center,
                v.business_unit,
                v.plan,
                v.owner_email,
                iso_date_time(v.valid_from_ns),
                iso_date_time(v.valid_to_ns)
                if v.valid_to_ns is not None and v.valid_to_ns < horizon
                else "",
            )
            for v in d.tenant_versions
            if v.valid_from_ns < horizon
        ]
        path = landing.path("tenants", day, "tenants.csv")
        path.write_bytes(csv_bytes(rows))
        faults.written("tenants", len(rows) - 1, files=1)
    for day in snapshot_days(key_days):
        horizon = (day - d.start).days * NS_PER_DAY + d.range_start_ns + NS_PER_DAY
        rows = [API_KEY_COLUMNS] + [
            (
                k.api_key_id,
                k.key_hash,
                k.key_kind,
                k.provider,
                k.tenant_id,
                k.project_id,
                iso_date_time(k.valid_from_ns),
                iso_date_time(k.valid_to_ns)
                if k.valid_to_ns is not None and k.valid_to_ns < horizon
                else "",
            )
            for k in d.keys
            if k.valid_from_ns < horizon
        ]
        path = landing.path("api_keys", day, "api_keys.csv")
        path.write_bytes(csv_bytes(rows))
        faults.written("api_keys", len(rows) - 1, files=1)


MODEL_POSITION: dict[str, int] = {m.key: i for i, m in enumerate(MODELS)}
