"""The planning problem shared by every solver: apps in canonical order, side constraints,
cached group optima and a lower bound valid for every plan.

Groups are bitmasks over the canonical app order (bit ``i`` = ``workload.apps[i]``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from ..errors import InfeasibleApp, InfeasibleError, InputError
from ..plan import Plan, SolverInfo
from ..platform import Platform
from ..profiles import ModelProfile
from ..provision import KINDS, ConfigGrid, GroupConfig, best_config, config_grid, run_optima
from ..workload import App, Workload
from .side import SideConstraints

_MISSING = object()


def members(mask: int) -> list[int]:
    """Indices of the set bits of ``mask``, ascending (one step per member, not per bit)."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


class Problem:
    """A workload on a model and platform, with each group's optimum computed once.

    Parameters
    ----------
    workload, profile, platform
        The instance.
    side : SideConstraints, optional
        Side constraints; pinned apps only get columns of their kind in every solver.
    """

    def __init__(self, workload: Workload, profile: ModelProfile, platform: Platform,
                 side: SideConstraints | None = None):
        for name, value, cls in (("workload", workload, Workload), ("profile", profile, ModelProfile),
                                 ("platform", platform, Platform)):
            if not isinstance(value, cls):
                raise InputError(f"{name} must be a {cls.__name__}, got {type(value).__name__}")
        if side is not None and not isinstance(side, SideConstraints):
            raise InputError(f"side must be a SideConstraints, got {type(side).__name__}")
        self.side = side or SideConstraints()
        self.side.validate_names(a.name for a in workload.apps)
        self.workload = workload
        self.profile = profile
        self.platform = platform
        self.apps: tuple[App, ...] = workload.apps
        self.n = len(self.apps)
        self.total_rate = workload.total_rate
        self.grid: ConfigGrid = config_grid(profile, platform)
        pins = self.side.kinds()
        self.app_kinds = tuple(pins.get(a.name, KINDS) for a in self.apps)
        self._cache: dict[int, GroupConfig | None] = {}

    def kinds_of(self, mask: int) -> tuple[str, ...]:
        """Function kinds every member of the group allows."""
        allowed = set(KINDS)
        for i in members(mask):
            allowed &= set(self.app_kinds[i])
        return tuple(k for k in KINDS if k in allowed)

    def rate(self, mask: int) -> float:
        """``r_X``, the total rate of the group."""
        return sum(self.apps[i].rate for i in members(mask))

    def group(self, mask: int) -> GroupConfig | None:
        """Cheapest feasible configuration of the group ``mask`` (exhaustive), cached."""
        if mask not in self._cache:
            kinds = self.kinds_of(mask)
            i = best_config(self.grid, [self.apps[i] for i in members(mask)], kinds) if kinds else None
            self._cache[mask] = None if i is None else self.grid.config(i)
        return self._cache[mask]

    def fill_runs(self, max_run: int | None = None) -> Iterator[tuple[int, int, int, GroupConfig | None]]:
        """Optima of every SLO-contiguous run ``apps[i:j]`` of at most ``max_run`` apps, computed
        incrementally (one fold step per extension) and cached; yields ``(i, j, mask, config)``."""
        for i in range(self.n):
            mask = 0
            for j, idx in run_optima(self.grid, self.apps, i, max_run, app_kinds=self.app_kinds):
                mask |= 1 << (j - 1)
                cfg = self._cache.get(mask, _MISSING)
                if cfg is _MISSING:
                    cfg = None if idx is None else self.grid.config(idx)
                    self._cache[mask] = cfg
                yield i, j, mask, cfg

    def weighted_cost(self, mask: int) -> float:
        """``(r_X / R) * C_X`` of the group, or inf when infeasible (Eq. 7)."""
        cfg = self.group(mask)
        return math.inf if cfg is None else self.rate(mask) / self.total_rate * cfg.cost

    def require_feasible(self) -> None:
        """Raise InfeasibleError naming every app no allowed function can serve alone."""
        bad = []
        for i, a in enumerate(self.apps):
            if self.group(1 << i) is None:
                bad.append(InfeasibleApp(a.name, a.slo, self.grid.best_latency(self.app_kinds[i] or KINDS)))
        if bad:
            raise InfeasibleError(
                "no plan: " + "; ".join(str(b) for b in bad), apps=bad
            )

    def lower_bound(self) -> float:
        """A lower bound on the average cost per request of every feasible plan.

        Any group holding app ``i`` runs on a configuration whose ``L_max`` meets the
        group's tightest SLO, so at most ``s_i``; app ``i``'s share of the plan's cost
        is therefore at least ``(r_i/R) min {C_k : k of an allowed kind, memory feasible,
        L_max(k) <= s_i}`` (``formulations/set_partitioning.md``, "Bounds").
        """
        grid = self.grid
        total = 0.0
        for kinds in set(self.app_kinds):
            ok = grid.memory_ok & np.isin(grid.kind, [KINDS.index(k) for k in kinds])
            lat, cost = grid.latency_max[ok], grid.cost[ok]
            order = np.argsort(lat, kind="stable")
            lat, prefix_min = lat[order], np.minimum.accumulate(cost[order])
            apps = [a for a, k in zip(self.apps, self.app_kinds) if k == kinds]
            pos = np.searchsorted(lat, [a.slo for a in apps], side="right") - 1
            for a, p in zip(apps, pos):
                total += a.rate * (prefix_min[p] if p >= 0 else np.inf)
        return float(total / self.total_rate)

    def mask_of(self, names: Iterable[str]) -> int:
        index = {a.name: i for i, a in enumerate(self.apps)}
        mask = 0
        for n in names:
            if n not in index:
                raise InputError(f"unknown app {n!r}")
            mask |= 1 << index[n]
        return mask

    def plan(self, masks: Sequence[int], configs: Sequence[GroupConfig], info: SolverInfo) -> Plan:
        """Build the plan of a partition given as group masks with a configuration each."""
        groups = [([self.apps[i] for i in members(m)], cfg) for m, cfg in zip(masks, configs)]
        return Plan.from_groups(groups, self.workload, self.profile, self.platform, info)
