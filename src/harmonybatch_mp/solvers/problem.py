"""The planning problem shared by every solver: apps in canonical order and cached group optima.

Groups are bitmasks over the canonical app order (bit ``i`` = ``workload.apps[i]``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from ..errors import InfeasibleApp, InfeasibleError
from ..plan import Plan, SolverInfo
from ..platform import Platform
from ..profiles import ModelProfile
from ..provision import KINDS, ConfigGrid, GroupConfig, best_config, config_grid
from ..workload import App, Workload


def members(mask: int) -> list[int]:
    """Indices of the set bits of ``mask``, ascending."""
    out, i = [], 0
    while mask:
        if mask & 1:
            out.append(i)
        mask >>= 1
        i += 1
    return out


class Problem:
    """A workload on a model and platform, with each group's optimum computed once.

    Parameters
    ----------
    workload, profile, platform
        The instance.
    kinds : dict of app name -> tuple of kinds, optional
        Function kinds allowed per app (pinning); default both.
    """

    def __init__(self, workload: Workload, profile: ModelProfile, platform: Platform,
                 kinds: dict[str, tuple[str, ...]] | None = None):
        if not isinstance(workload, Workload):
            raise TypeError(f"workload must be a Workload, got {type(workload).__name__}")
        if not isinstance(profile, ModelProfile):
            raise TypeError(f"profile must be a ModelProfile, got {type(profile).__name__}")
        if not isinstance(platform, Platform):
            raise TypeError(f"platform must be a Platform, got {type(platform).__name__}")
        self.workload = workload
        self.profile = profile
        self.platform = platform
        self.apps: tuple[App, ...] = workload.apps
        self.n = len(self.apps)
        self.total_rate = workload.total_rate
        self.grid: ConfigGrid = config_grid(profile, platform)
        self.app_kinds = tuple((kinds or {}).get(a.name, KINDS) for a in self.apps)
        self._cache: dict[int, GroupConfig | None] = {}

    def kinds_of(self, mask: int) -> tuple[str, ...]:
        """Function kinds every member of the group allows."""
        allowed = set(KINDS)
        for i in members(mask):
            allowed &= set(self.app_kinds[i])
        return tuple(k for k in KINDS if k in allowed)

    def rate(self, mask: int) -> float:
        return sum(self.apps[i].rate for i in members(mask))

    def group(self, mask: int) -> GroupConfig | None:
        """Cheapest feasible configuration of the group ``mask`` (exhaustive), cached."""
        if mask not in self._cache:
            kinds = self.kinds_of(mask)
            i = best_config(self.grid, [self.apps[i] for i in members(mask)], kinds) if kinds else None
            self._cache[mask] = None if i is None else self.grid.config(i)
        return self._cache[mask]

    def set_group(self, mask: int, config: GroupConfig | None) -> None:
        """Record a group optimum computed elsewhere (e.g. incrementally by the DP)."""
        self._cache[mask] = config

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

    def mask_of(self, names: Iterable[str]) -> int:
        index = {a.name: i for i, a in enumerate(self.apps)}
        mask = 0
        for n in names:
            if n not in index:
                raise KeyError(n)
            mask |= 1 << index[n]
        return mask

    def plan(self, masks: Sequence[int], info: SolverInfo, configs: dict[int, GroupConfig] | None = None) -> Plan:
        """Build the plan of a partition given as group masks."""
        groups = []
        for m in masks:
            cfg = (configs or {}).get(m) or self.group(m)
            if cfg is None:
                raise InfeasibleError(f"internal: group {[self.apps[i].name for i in members(m)]} is infeasible")
            groups.append(([self.apps[i] for i in members(m)], cfg))
        return Plan.from_groups(groups, self.workload, self.profile, self.platform, info)
