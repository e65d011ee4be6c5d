"""The pushes of the capped path, compiled (numba; imported on first use;
``formulations/contiguous_shortest_path.md``, "Under a cap on functions").

:func:`.function_cap.capped_path` keeps, per layer ``(f, g, m)`` (functions, GPU functions and
GB of GPU memory used) and app ``j``, the best path to ``j``. Each start ``i`` pushes its runs
``apps[i:j]`` on every class of function (an edge) from each of its live layers into the layer
the edge leads to. With numpy that was a dozen calls per start and edge: under a GPU memory
budget (one edge per GPU memory size) the path took 8.7 s at 2,000 apps, 2.4 s with the pushes
compiled. :func:`push` does one start's pushes in one call, and only the runs its caller weighs
(finite weights).
"""

from __future__ import annotations

import numpy as np

from .kernels import compiled


@compiled()
def _push(best, groups, start, kind, i, weights, sources, targets, first, ends, ends_first, tie):
    """Push the runs ``apps[i:j]``, for ``j`` in ``ends[ends_first[e]:ends_first[e + 1]]``, of
    weight ``weights[e, j - i - 1]`` on edge ``e``, from layer ``sources[k]`` at ``i`` into
    layer ``targets[k]`` at ``j``, for ``k`` in ``first[e]:first[e + 1]``, edge by edge. A push
    replaces what the layer holds at ``j`` where it is cheaper beyond rounding (``tie`` of its
    length), or as cheap but for rounding in fewer groups (``dp``'s ties), and records the run's
    start and edge. (An edge's pushes from distinct layers land in distinct layers.)"""
    for e in range(first.shape[0] - 1):
        for k in range(first[e], first[e + 1]):
            f, g, m = sources[k, 0], sources[k, 1], sources[k, 2]
            tf, tg, tm = targets[k, 0], targets[k, 1], targets[k, 2]
            base, count = best[f, g, m, i], groups[f, g, m, i] + 1
            for t in range(ends_first[e], ends_first[e + 1]):
                j = ends[t]
                pushed = base + weights[e, j - i - 1]
                held, slack = best[tf, tg, tm, j], tie * pushed
                if pushed < held - slack or (pushed <= held + slack and count < groups[tf, tg, tm, j]):
                    best[tf, tg, tm, j], groups[tf, tg, tm, j] = pushed, count
                    start[tf, tg, tm, j], kind[tf, tg, tm, j] = i, e


def push(best: np.ndarray, groups: np.ndarray, start: np.ndarray, kind: np.ndarray, i: int, weights: np.ndarray,
         sources: np.ndarray, targets: np.ndarray, edges: np.ndarray, tie: float) -> None:
    """:func:`_push` of the runs from ``i`` of finite weight, with the pairs ``(sources[k],
    targets[k])`` of edge ``edges[k]`` (in order of edge; the arguments are the caller's to
    check: ``best`` and ``weights`` float64, the other layers and ``sources`` and ``targets``
    int64)."""
    rows, at = np.nonzero(np.isfinite(weights))
    span = np.arange(weights.shape[0] + 1)
    _push(best, groups, start, kind, i, weights, np.ascontiguousarray(sources), np.ascontiguousarray(targets),
          np.searchsorted(edges, span).astype(np.int64), at + (i + 1), np.searchsorted(rows, span).astype(np.int64),
          tie)
