"""The optimum over SLO-contiguous partitions, as a shortest path (``formulations/model.md`` section 8)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..plan import RESTRICTED_OPTIMAL, SolverInfo
from .base import Solution
from .candidates import auto_max_run, check_max_run
from .problem import Problem

if TYPE_CHECKING:
    import networkx as nx


def contiguous_graph(problem: Problem, max_run: int | None = None) -> nx.DiGraph:
    """DAG on nodes ``0..n``; edge ``i -> j`` is the group ``apps[i:j]`` weighted by ``(r_X/R) C_X``.

    Only feasible groups of at most ``max_run`` apps get an edge (group optima computed
    incrementally by :meth:`Problem.fill_runs`).
    """
    import networkx as nx  # imported on first use: keeps `import harmonybatch_mp` light

    g = nx.DiGraph()
    g.add_nodes_from(range(problem.n + 1))
    for i, j, mask, cfg in problem.fill_runs(max_run):
        if cfg is not None:
            g.add_edge(i, j, weight=problem.rate(mask) / problem.total_rate * cfg.cost, mask=mask)
    return g


def dp(problem: Problem, *, max_run: int | None = None) -> Solution:
    """Cheapest partition of the SLO-sorted apps into consecutive runs (shortest path).

    Parameters
    ----------
    problem : Problem
    max_run : int, optional
        Longest run (group) considered; default: no limit up to 446 apps, then
        ``max(64, 100000 // n)``; under ``expected`` no limit up to 99 apps, then
        ``max(4, 5000 // n)`` plus the groups of the full-batch contiguous optimum
        (:func:`~.candidates.auto_max_run`; the scope says which).

    Returns
    -------
    Solution
        Status ``restricted_optimal``: optimal among contiguous partitions (its cost is
        the ``restricted_bound``); ``bound`` is the global per-app bound.
    """
    import networkx as nx

    check_max_run(max_run)
    capped = max_run is None and auto_max_run(problem.n, problem.expected) is not None
    if max_run is None:
        max_run = auto_max_run(problem.n, problem.expected)
    g = contiguous_graph(problem, max_run)
    if capped and problem.expected:  # also offer the full-batch contiguous optimum's groups, repriced
        for mask in dp(problem.full_batch_view()).groups:
            cfg = problem.group(mask)
            if cfg is not None:
                i = (mask & -mask).bit_length() - 1
                g.add_edge(i, i + mask.bit_count(), weight=problem.rate(mask) / problem.total_rate * cfg.cost,
                           mask=mask)
    path = nx.shortest_path(g, 0, problem.n, weight="weight", method="dijkstra")
    masks = [g.edges[a, b]["mask"] for a, b in zip(path, path[1:])]
    objective = sum(g.edges[a, b]["weight"] for a, b in zip(path, path[1:]))
    bound = problem.lower_bound()
    scope = "contiguous partitions" if max_run is None else f"contiguous partitions, groups of at most {max_run}"
    if capped and problem.expected:
        scope += " (and the full-batch contiguous optimum's groups)"
    info = SolverInfo("dp", status=RESTRICTED_OPTIMAL, objective=objective, bound=bound,
                      gap=max(0.0, (objective - bound) / objective), scope=scope, restricted_bound=objective)
    return Solution.of(problem, masks, info)
