"""The optimum over SLO-contiguous partitions, as a shortest path (``formulations/model.md`` section 8)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..plan import RESTRICTED_OPTIMAL, SolverInfo
from ..provision import KINDS, run_optima
from .base import Solution
from .candidates import check_max_run
from .problem import Problem

if TYPE_CHECKING:
    import networkx as nx


def contiguous_graph(problem: Problem, max_run: int | None = None) -> nx.DiGraph:
    """DAG on nodes ``0..n``; edge ``i -> j`` is the group ``apps[i:j]`` weighted by ``(r_X/R) C_X``.

    Only feasible groups of at most ``max_run`` apps get an edge. Group optima are
    computed incrementally (one fold step per extension) and recorded in ``problem``.
    """
    import networkx as nx  # imported on first use: keeps `import harmonybatch_mp` light

    g = nx.DiGraph()
    g.add_nodes_from(range(problem.n + 1))
    grid = problem.grid
    pinned = any(k != KINDS for k in problem.app_kinds)
    for i in range(problem.n):
        mask, rate = 0, 0.0
        stop = problem.n if max_run is None else min(problem.n, i + max_run)
        runs = ((j, None) for j in range(i + 1, stop + 1)) if pinned else run_optima(grid, problem.apps, i, max_run)
        for j, idx in runs:
            mask |= 1 << (j - 1)
            rate += problem.apps[j - 1].rate
            if pinned:
                cfg = problem.group(mask)
            else:
                cfg = None if idx is None else grid.config(idx)
                problem.set_group(mask, cfg)
            if cfg is not None:
                g.add_edge(i, j, weight=rate / problem.total_rate * cfg.cost, mask=mask)
    return g


def dp(problem: Problem, *, max_run: int | None = None) -> Solution:
    """Cheapest partition of the SLO-sorted apps into consecutive runs (shortest path).

    Parameters
    ----------
    problem : Problem
    max_run : int, optional
        Longest run (group) considered; default no limit.

    Returns
    -------
    Solution
        Status ``restricted_optimal``: optimal among contiguous partitions (its cost is
        the ``restricted_bound``); ``bound`` is the global per-app bound.
    """
    import networkx as nx

    check_max_run(max_run)
    g = contiguous_graph(problem, max_run)
    path = nx.shortest_path(g, 0, problem.n, weight="weight", method="dijkstra")
    masks = [g.edges[a, b]["mask"] for a, b in zip(path, path[1:])]
    objective = sum(g.edges[a, b]["weight"] for a, b in zip(path, path[1:]))
    bound = problem.lower_bound()
    scope = "contiguous partitions" if max_run is None else f"contiguous partitions, groups of at most {max_run}"
    info = SolverInfo("dp", status=RESTRICTED_OPTIMAL, objective=objective, bound=bound,
                      gap=max(0.0, (objective - bound) / objective), scope=scope, restricted_bound=objective)
    return Solution.of(problem, masks, info)
