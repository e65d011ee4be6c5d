"""Plans: groups of apps, each with a function configuration and timeouts (frozen, serialisable)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import _validate as v
from ._sums import ordered_sum
from .batching import slo_timeouts
from .errors import InputError
from .platform import Platform, platform_from_dict
from .profiles import ModelProfile, profile_from_dict
from .provision import GroupConfig
from .solver_info import (  # noqa: F401  (re-exported: plans carry their solver record)
    BOUNDED,
    HEURISTIC,
    OPTIMAL,
    RESTRICTED_OPTIMAL,
    STATUSES,
    TIME_LIMIT,
    SolverInfo,
    _solver_from_dict,
)
from .workload import App, Workload, workload_from_records

#: The fields that say which function a group runs on (a :class:`GroupPlan`'s, a configuration's).
FUNCTION_FIELDS = ("kind", "vcpu", "gpu_mem_gb", "batch")


@dataclass(frozen=True)
class GroupPlan:
    """One group of a plan: its apps and the function serving them.

    Attributes
    ----------
    apps : tuple of str
        Member app names, in canonical (SLO) order.
    kind : {"cpu", "gpu"}
    vcpu : float
        vCPU of the function (``m/3`` for a GPU function).
    gpu_mem_gb : int or None
        GPU memory (GB) of a GPU function; None for CPU.
    mem_gb : float
        Memory of the function (GB).
    batch : int
    timeouts : tuple of float
        Batching timeout (s) of each member, aligned with ``apps``.
    latency_avg, latency_max : float
        Predicted average and maximum inference latency (s).
    cost_per_request : float
        ``C_X`` (Eq. 6).
    rate : float
        ``r_X``, the group's total rate (requests/s).
    """

    apps: tuple[str, ...]
    kind: str
    vcpu: float
    gpu_mem_gb: int | None
    mem_gb: float
    batch: int
    timeouts: tuple[float, ...]
    latency_avg: float
    latency_max: float
    cost_per_request: float
    rate: float

    @classmethod
    def from_config(cls, apps: list[App], config: GroupConfig) -> GroupPlan:
        """Build a group from its members and a provisioned configuration.

        Timeouts are ``timeout_scale * (s_i - timeout_base)``: under ``full-batch`` the largest
        the SLO allows, ``s_i - L_max`` (Eq. 10); 0 for batch 1.
        """
        v.instance(config, GroupConfig, "config")
        apps = [v.instance(a, App, "apps") for a in v.listed(apps, "apps", "a sequence of App")]
        apps = sorted(apps, key=lambda a: a.sort_key)
        if config.batch == 1:
            timeouts = tuple(0.0 for _ in apps)
        else:
            slos = np.array([a.slo for a in apps])  # (one checked call: 3.5 us an app one at a time)
            timeouts = tuple(float(t) for t in config.timeout_scale * slo_timeouts(slos, config.timeout_base))
        return cls(
            apps=tuple(a.name for a in apps),
            kind=config.kind,
            vcpu=config.vcpu,
            gpu_mem_gb=config.gpu_mem_gb,
            mem_gb=config.mem_gb,
            batch=config.batch,
            timeouts=timeouts,
            latency_avg=config.latency_avg,
            latency_max=config.latency_max,
            cost_per_request=config.cost,
            rate=ordered_sum(a.rate for a in apps),
        )

    def to_dict(self) -> dict[str, Any]:
        """The group in the plan JSON schema."""
        return {
            "apps": list(self.apps),
            "kind": self.kind,
            "vcpu": self.vcpu,
            "gpu_mem_gb": self.gpu_mem_gb,
            "mem_gb": self.mem_gb,
            "batch": self.batch,
            "timeouts": dict(zip(self.apps, self.timeouts)),
            "latency_avg": self.latency_avg,
            "latency_max": self.latency_max,
            "cost_per_request": self.cost_per_request,
            "rate": self.rate,
        }


@dataclass(frozen=True)
class Plan:
    """A provisioning plan for a workload, with what is needed to check or simulate it.

    Attributes
    ----------
    groups : tuple of GroupPlan
        Groups in order of their tightest SLO.
    total_cost : float
        Average cost per request over all apps, ``sum_X (r_X/R) C_X`` (Eq. 7).
    workload : Workload
    profile : ModelProfile
    platform : Platform
    solver : SolverInfo
    cost_model : {"expected", "full-batch"}
        How ``cost_per_request`` and ``total_cost`` price the groups
        (``formulations/model.md`` sections 5 and 12).
    """

    groups: tuple[GroupPlan, ...]
    total_cost: float
    workload: Workload
    profile: ModelProfile
    platform: Platform
    solver: SolverInfo = field(default_factory=lambda: SolverInfo("unknown", status=HEURISTIC))
    cost_model: str = "full-batch"

    @classmethod
    def from_groups(
        cls,
        groups: list[tuple[list[App], GroupConfig]],
        workload: Workload,
        profile: ModelProfile,
        platform: Platform,
        solver: SolverInfo,
        cost_model: str = "full-batch",
    ) -> Plan:
        """Assemble a plan from (members, configuration) pairs; computes the total cost (Eq. 7)."""
        for value, kind, name in ((workload, Workload, "workload"), (profile, ModelProfile, "profile"),
                                  (platform, Platform, "platform"), (solver, SolverInfo, "solver")):
            v.instance(value, kind, name)
        groups = [v.listed(pair, "groups", "(members, configuration) pairs") for pair in
                  v.listed(groups, "groups", "(members, configuration) pairs")]
        if any(len(pair) != 2 for pair in groups):
            raise InputError("groups: expected (members, configuration) pairs")
        apps_by_name = workload.by_name()
        gps = sorted((GroupPlan.from_config(apps, cfg) for apps, cfg in groups),
                     key=lambda g: [apps_by_name[n].sort_key for n in g.apps])
        total = ordered_sum(g.rate * g.cost_per_request for g in gps) / workload.total_rate
        return cls(tuple(gps), float(total), workload, profile, platform, solver, cost_model)

    def with_solver(self, solver: SolverInfo) -> Plan:
        """The same plan with another solver record."""
        return replace(self, solver=solver)

    def group_of(self, app: str) -> GroupPlan:
        """The group that serves ``app``."""
        for g in self.groups:
            if isinstance(app, str) and app in g.apps:
                return g
        raise InputError(f"app {app!r} is in no group of this plan")

    def partition(self) -> frozenset[frozenset[str]]:
        """The plan's partition of app names (order-free), for comparing plans."""
        return frozenset(frozenset(g.apps) for g in self.groups)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict: the CLI's ``--json`` schema plus the model, platform and workload."""
        return {
            "total_cost": self.total_cost,
            "cost_model": self.cost_model,
            "groups": [g.to_dict() for g in self.groups],
            "solver": self.solver.to_dict(),
            "model": self.profile.name,
            "preset": self.platform.name,
            "workload": self.workload.to_list(),
            "profile": self.profile.to_dict(),
            "platform": self.platform.to_dict(),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Serialise to JSON (round-trips through :meth:`from_json`)."""
        return json.dumps(self.to_dict(), indent=v.indent(indent))

    @classmethod
    def from_dict(cls, data: Any, where: str = "plan") -> Plan:
        """Rebuild a plan from :meth:`to_dict` output. Use :func:`check_plan` to verify it."""
        where = v.prefix(where)
        workload = workload_from_records(v.field(data, "workload", where), f"{where}.workload")
        profile = profile_from_dict(v.field(data, "profile", where), f"{where}.profile")
        platform = platform_from_dict(v.field(data, "platform", where), f"{where}.platform")
        groups = []
        raw_groups = v.field(data, "groups", where)
        if not isinstance(raw_groups, list):
            raise InputError(f"{where}.groups: expected a list")
        for i, g in enumerate(raw_groups):
            w = f"{where}.groups[{i}]"
            apps = v.field(g, "apps", w)
            timeouts = v.field(g, "timeouts", w)
            if not isinstance(apps, list) or not isinstance(timeouts, dict):
                raise InputError(f"{w}: apps must be a list and timeouts an object")
            kind = v.field(g, "kind", w)
            if kind not in ("cpu", "gpu"):
                raise InputError(f"{w}.kind: expected 'cpu' or 'gpu', got {kind!r}")
            gm = v.field(g, "gpu_mem_gb", w)
            groups.append(GroupPlan(
                apps=tuple(str(a) for a in apps),
                kind=kind,
                vcpu=v.number(v.field(g, "vcpu", w), f"{w}.vcpu"),
                gpu_mem_gb=None if gm is None else v.integer(gm, f"{w}.gpu_mem_gb"),
                mem_gb=v.number(v.field(g, "mem_gb", w), f"{w}.mem_gb"),
                batch=v.integer(v.field(g, "batch", w), f"{w}.batch"),
                timeouts=tuple(v.number(timeouts.get(str(a)), f"{w}.timeouts[{a!r}]") for a in apps),
                latency_avg=v.number(v.field(g, "latency_avg", w), f"{w}.latency_avg"),
                latency_max=v.number(v.field(g, "latency_max", w), f"{w}.latency_max"),
                cost_per_request=v.number(v.field(g, "cost_per_request", w), f"{w}.cost_per_request"),
                rate=v.number(v.field(g, "rate", w), f"{w}.rate"),
            ))
        solver = _solver_from_dict(data.get("solver"), f"{where}.solver")
        cost_model = data.get("cost_model", "full-batch")  # plans written before cost models were full-batch
        if cost_model not in ("expected", "full-batch"):
            raise InputError(f"{where}.cost_model: expected 'expected' or 'full-batch', got {cost_model!r}")
        return cls(tuple(groups), v.number(v.field(data, "total_cost", where), f"{where}.total_cost"),
                   workload, profile, platform, solver, cost_model)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """Parse a plan from JSON text."""
        return cls.from_dict(v.loads(v.instance(text, (str, bytes, bytearray), "plan"), "plan"))


def load_plan(path: str | Path) -> Plan:
    """Load a plan JSON file written by ``harmonybatch-mp plan --json``.

    The file's fields are read as they are (a malformed one is an :class:`InputError` naming
    it); whether the plan agrees with the model it carries is :func:`.check_plan`'s to say,
    as ``harmonybatch-mp simulate`` does before it replays one.

    >>> import tempfile, os
    >>> from harmonybatch_mp import check_plan, solve
    >>> path = os.path.join(tempfile.mkdtemp(), "plan.json")
    >>> _ = open(path, "w").write(solve("0.5:5,0.8:10", "VGG19").to_json())
    >>> check_plan(load_plan(path))
    >>> import shutil; shutil.rmtree(os.path.dirname(path))
    """
    return Plan.from_dict(v.read_json(path, "plan"), where=f"plan {str(path)!r}")
