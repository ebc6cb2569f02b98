"""The organisation behind the traffic: tenants (SCD2), users, provider projects and API keys.

Identifiers are derived from names by hashing, not from the seed, so the same tenant keeps the
same project and key ids across runs. Keys rotate once inside the generated range: a new
version id takes over at the `valid_from` of the next version.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from ai_chargeback.generator.config import (
    EMAIL_DOMAIN,
    FIRST_NAMES,
    LAST_NAMES,
    LOAD_BALANCE,
    MODEL_INDEX,
    MODELS,
    PLATFORM_TENANT,
    PROVIDERS,
    TENANTS,
    UNKNOWN_MODEL_KEY,
    UNKNOWN_MODEL_WORKLOAD,
    TenantSpec,
    WorkloadSpec,
)

NS = 1_000_000_000
NS_PER_DAY = 86_400 * NS
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PROVIDER_INDEX: dict[str, int] = {p: i for i, p in enumerate(PROVIDERS)}


def to_ns(moment: datetime) -> int:
    """Unix nanoseconds of an aware datetime (exact, no float)."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NS + delta.microseconds * 1000


def day_start_ns(day: date) -> int:
    """Unix nanoseconds of 00:00 UTC of a date."""
    return to_ns(datetime.combine(day, time(0, 0), tzinfo=UTC))


def iso_utc(ns: int) -> str:
    """ISO 8601 UTC with microseconds and a Z."""
    seconds, rest = divmod(ns, NS)
    moment = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=rest // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(parts).encode()).digest()


def _base62(*parts: str, length: int) -> str:
    number = int.from_bytes(_digest(*parts), "big")
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 62)
        chars.append(_BASE62[rest])
    return "".join(chars)


@dataclass(frozen=True)
class KeyVersion:
    """One row of the key inventory."""

    api_key_id: str
    key_hash: str
    key_kind: str  # gateway | provider
    provider: str  # '' for gateway keys
    tenant_id: str  # '' for shared platform keys
    project_id: str
    valid_from_ns: int
    valid_to_ns: int | None


@dataclass(frozen=True)
class TenantVersion:
    """One SCD2 row of the tenant directory."""

    tenant_id: str
    tenant_name: str
    cost_center: str
    business_unit: str
    plan: str
    owner_email: str
    valid_from_ns: int
    valid_to_ns: int | None


@dataclass(frozen=True)
class WorkloadRef:
    """A workload with the index of its tenant in `Directory.tenants`."""

    tenant_index: int
    spec: WorkloadSpec


class Directory:
    """Tenants, workloads, users, projects and key versions of one generation run."""

    def __init__(self, *, n_tenants: int, start: date, days: int) -> None:
        if not 2 <= n_tenants <= len(TENANTS):
            raise ValueError(f"--tenants must be between 2 and {len(TENANTS)}, got {n_tenants}")
        self.start = start
        self.days = days
        self.range_start_ns = day_start_ns(start)
        self.range_end_ns = self.range_start_ns + days * NS_PER_DAY
        # The platform pseudo-tenant (shared key, no app requests) is always the last one.
        self.tenants: list[TenantSpec] = [*TENANTS[:n_tenants], PLATFORM_TENANT]
        self.platform_index = len(self.tenants) - 1
        self.workloads: list[WorkloadRef] = [
            WorkloadRef(t, w) for t, tenant in enumerate(self.tenants) for w in tenant.workloads
        ]
        self.users: list[list[str]] = [_users(t, tenant) for t, tenant in enumerate(self.tenants)]
        self.keys: list[KeyVersion] = []
        self.slots: list[list[int]] = []  # key slot -> key indices, oldest first
        self._slot_bounds: list[np.ndarray] = []
        self.gateway_slot: list[int] = []
        # [tenant, provider, load-balance lane] -> provider key slot (-1: none)
        self.provider_slot = np.full((len(self.tenants), len(PROVIDERS), 2), -1, dtype=np.int64)
        self.projects: dict[tuple[int, str], str] = {}
        self._build_keys()
        self.tenant_versions = self._build_tenant_versions()

    # --- lookups -------------------------------------------------------------------------

    def tenant_id(self, tenant_index: int) -> str:
        return self.tenants[tenant_index].tenant_id

    def workload_index(self, tenant_id: str, workload: str) -> int | None:
        for i, ref in enumerate(self.workloads):
            owner = self.tenants[ref.tenant_index].tenant_id
            if owner == tenant_id and ref.spec.workload == workload:
                return i
        return None

    def key_at(self, slots: np.ndarray, at_ns: np.ndarray) -> np.ndarray:
        """Key index (into `keys`) valid at each time for each key slot."""
        result = np.full(slots.shape, -1, dtype=np.int64)
        for slot in np.unique(slots):
            if slot < 0:
                continue
            mask = slots == slot
            version = np.searchsorted(self._slot_bounds[slot], at_ns[mask], side="right")
            result[mask] = np.asarray(self.slots[slot], dtype=np.int64)[version]
        return result

    def project(self, tenant_index: int, provider: str) -> str:
        return self.projects[(tenant_index, provider)]

    # --- construction --------------------------------------------------------------------

    def _rotation_ns(self, fraction: float, hour: int) -> int:
        day = min(self.days - 1, int(self.days * fraction))
        return self.range_start_ns + day * NS_PER_DAY + hour * 3600 * NS

    def _add_slot(self, versions: list[KeyVersion]) -> int:
        indices = []
        for version in versions:
            indices.append(len(self.keys))
            self.keys.append(version)
        self.slots.append(indices)
        bounds = [v.valid_from_ns for v in versions[1:]]
        self._slot_bounds.append(np.asarray(bounds, dtype=np.int64))
        return len(self.slots) - 1

    def _versions(
        self,
        ids: list[str],
        *,
        kind: str,
        provider: str,
        tenant_id: str,
        project_id: str,
        rotation_ns: int | None,
    ) -> list[KeyVersion]:
        first_from = self.range_start_ns - 120 * NS_PER_DAY
        bounds = [first_from] + ([rotation_ns] if rotation_ns is not None else [])
        versions = []
        for i, valid_from in enumerate(bounds):
            valid_to = bounds[i + 1] if i + 1 < len(bounds) else None
            key_id = ids[i]
            versions.append(
                KeyVersion(
                    api_key_id=key_id,
                    key_hash=hashlib.sha256(f"secret:{key_id}".encode()).hexdigest(),
                    key_kind=kind,
                    provider=provider,
                    tenant_id=tenant_id,
                    project_id=project_id,
                    valid_from_ns=valid_from,
                    valid_to_ns=valid_to,
                )
            )
        return versions

    def _build_keys(self) -> None:
        gateway_rotation = self._rotation_ns(0.5, 12)
        openai_rotation = self._rotation_ns(0.4, 9)
        for t, tenant in enumerate(self.tenants):
            is_platform = t == self.platform_index
            tid = tenant.tenant_id
            if is_platform:
                ids = ["gk_platform_shared"]
                rotation = None
            elif tenant.gateway == "litellm":
                ids = [f"lk_{tid}_{_base62('litellm', tid, str(v), length=8)}" for v in (1, 2)]
                rotation = gateway_rotation
            else:
                ids = [f"gk_{tid}_{_base62('gateway', tid, str(v), length=8)}" for v in (1, 2)]
                rotation = gateway_rotation
            self.gateway_slot.append(
                self._add_slot(
                    self._versions(
                        ids,
                        kind="gateway",
                        provider="",
                        tenant_id=tid,
                        project_id="",
                        rotation_ns=rotation,
                    )
                )
            )
            for provider, lanes in sorted(_providers_used(tenant, is_platform).items()):
                project = _project_id(provider, "platform" if is_platform else tid)
                self.projects[(t, provider)] = project
                for lane in sorted(lanes):
                    owner = "" if is_platform or provider == "vllm" else tid
                    rotation = openai_rotation if provider == "openai" and t % 2 == 0 else None
                    if is_platform:
                        rotation = None
                    ids = [
                        _provider_key_id(provider, tid or "platform", lane, version)
                        for version in (1, 2)
                    ]
                    slot = self._add_slot(
                        self._versions(
                            ids,
                            kind="provider",
                            provider=provider,
                            tenant_id=owner,
                            project_id=project,
                            rotation_ns=rotation,
                        )
                    )
                    self.provider_slot[t, PROVIDER_INDEX[provider], lane] = slot

    def _build_tenant_versions(self) -> list[TenantVersion]:
        rows: list[TenantVersion] = []
        first_from = self.range_start_ns - 365 * NS_PER_DAY
        for tenant in self.tenants[: self.platform_index]:
            values = {
                "tenant_name": tenant.name,
                "cost_center": tenant.cost_center,
                "business_unit": tenant.business_unit,
                "plan": tenant.plan,
                "owner_email": tenant.owner_email,
            }
            bounds = [(first_from, dict(values))]
            for change in tenant.changes:
                at = self._rotation_ns(change.day_fraction, 0)
                values = {**values, change.field: change.value}
                bounds.append((at, dict(values)))
            for i, (valid_from, vals) in enumerate(bounds):
                valid_to = bounds[i + 1][0] if i + 1 < len(bounds) else None
                rows.append(
                    TenantVersion(
                        tenant.tenant_id, **vals, valid_from_ns=valid_from, valid_to_ns=valid_to
                    )
                )
        return rows


def _providers_used(tenant: TenantSpec, is_platform: bool) -> dict[str, set[int]]:
    used: dict[str, set[int]] = {}
    for workload in tenant.workloads:
        models = [
            workload.model,
            workload.alt_model,
            workload.fallback_model,
            workload.policy_model,
        ]
        for key in filter(None, models):
            used.setdefault(MODELS[MODEL_INDEX[key]].provider, set()).add(0)
        if workload.strategy == LOAD_BALANCE:
            used[MODELS[MODEL_INDEX[workload.model]].provider].add(1)
        if (tenant.tenant_id, workload.workload) == UNKNOWN_MODEL_WORKLOAD and not is_platform:
            used.setdefault(MODELS[MODEL_INDEX[UNKNOWN_MODEL_KEY]].provider, set()).add(0)
    return used


def _project_id(provider: str, owner: str) -> str:
    if provider == "openai":
        return "proj_" + _base62("openai-project", owner, length=24)
    if provider == "anthropic":
        return "wrkspc_01" + _base62("anthropic-workspace", owner, length=22)
    if provider == "google":
        return f"acme-genai-{owner}"
    return "ml-platform"


def _provider_key_id(provider: str, owner: str, lane: int, version: int) -> str:
    parts = (provider, owner, str(lane), str(version))
    if provider == "openai":
        return "key_" + _base62(*parts, length=16)
    if provider == "anthropic":
        return "apikey_01" + _base62(*parts, length=22)
    if provider == "google":
        return "gcp-key-" + _digest(*parts).hex()[:12]
    return "vllm-" + _digest(*parts).hex()[:10]


def _users(tenant_index: int, tenant: TenantSpec) -> list[str]:
    users: list[str] = []
    seen: set[str] = set()
    for i in range(tenant.n_users):
        first = FIRST_NAMES[(i * 7 + tenant_index * 3) % len(FIRST_NAMES)]
        last = LAST_NAMES[(i * 5 + tenant_index) % len(LAST_NAMES)]
        email = f"{first}.{last}@{EMAIL_DOMAIN}"
        suffix = 2
        while email in seen:
            email = f"{first}.{last}{suffix}@{EMAIL_DOMAIN}"
            suffix += 1
        seen.add(email)
        users.append(email)
    return users


def iso_date_time(ns: int) -> str:
    """ISO 8601 UTC to the second, for directory validity windows."""
    return datetime.fromtimestamp(ns // NS, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def date_of(ns: int) -> date:
    """The UTC date of a unix-nanosecond instant."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)).date()
