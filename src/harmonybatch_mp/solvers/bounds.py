"""The per-app lower bound: valid for every feasible plan of the model, under both cost
models (``formulations/set_partitioning.md``, "Bounds, certificates and scope")."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..grid import KINDS

if TYPE_CHECKING:
    from .problem import Problem


def per_app_bound(problem: Problem) -> float:
    """A lower bound on the average cost per request of every feasible plan.

    Any group holding app ``i`` runs on a configuration whose ``L_max`` meets the
    group's tightest SLO, so at most ``s_i``; app ``i``'s share of the plan's cost
    is therefore at least ``(r_i/R) min {C_k : k of an allowed kind, memory feasible,
    L_max(k) <= s_i}``. Under ``expected`` the same holds with ``max_{k<=b} L_max(k)``
    for ``L_max`` and ``min_{k<=b} c(k)/k`` (no invocation carries more than ``b``) for
    ``C_k``.
    """
    total = 0.0
    for a, cost in zip(problem.apps, per_app_costs(problem)):
        total += a.rate * cost
    return float(total / problem.total_rate)


def per_app_costs(problem: Problem) -> np.ndarray:
    """Per app, the least cost per request of any group that holds it (inf: none serves it):
    the ``min C_k`` of :func:`per_app_bound`."""
    grid = problem.grid
    out = np.full(problem.n, np.inf)
    for kinds in set(problem.app_kinds):
        ok = grid.memory_ok & np.isin(grid.kind, [KINDS.index(k) for k in kinds])
        if problem.expected:
            lat, cost = problem.tables.latency_max_upto[ok], problem.tables.bound[ok]
        else:
            lat, cost = grid.latency_max[ok], grid.cost[ok]
        order = np.argsort(lat, kind="stable")
        lat, prefix_min = lat[order], np.minimum.accumulate(cost[order])
        apps = [i for i, k in enumerate(problem.app_kinds) if k == kinds]
        pos = np.searchsorted(lat, [problem.apps[i].slo for i in apps], side="right") - 1
        if prefix_min.size:
            out[apps] = np.where(pos >= 0, prefix_min[np.maximum(pos, 0)], np.inf)
    return out
