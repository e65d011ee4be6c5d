"""The cheapest partition of the apps into given columns, by a depth-first search pruned
with reduced costs: the integer master of ``colgen``'s enumeration proof without side rows
(``formulations/column_generation.md``, "The proof's integer master").

At any duals ``y`` a partition costs ``sum_a y_a`` plus the reduced costs ``w_j - sum_{a in
j} y_a`` of its columns. The search covers the first uncovered app (apps with the fewest
columns first) by each of its columns that misses the covered apps, in increasing reduced
cost, and stops where the reduced costs so far, plus a lower bound on the apps still
uncovered (each app's least share ``rc_j / |j|`` of a column holding it), reach the best
plan's. At the duals of the enumeration every column's reduced cost is within the gap, and
the search visits few nodes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

#: Steps (nodes, and columns looked at) per compiled slice between deadline checks (a few ms).
SLICE = 1_000_000


def cheapest_partition(members: Sequence[Sequence[int]], weights: np.ndarray, n: int, duals: np.ndarray,
                       upper: float, deadline: float | None = None, tol: float = 1e-9) -> tuple[list[int] | None, bool]:
    """The columns (indices) of the cheapest partition of apps ``0..n-1`` into columns
    (``members[j]``, cost ``weights[j]``) that costs less than ``upper - tol``: None where
    none was found, with whether the search ended (so that None proves there is none, and
    a partition is the cheapest within ``tol``). ``duals`` (one per app) only guide it.

    >>> cols = [[0], [1], [2], [0, 1], [1, 2]]
    >>> cheapest_partition(cols, np.array([1.0, 1.0, 1.0, 1.5, 1.8]), 3, np.zeros(3), 3.0)
    ([3, 2], True)
    >>> cheapest_partition(cols, np.array([1.0, 1.0, 1.0, 1.5, 1.8]), 3, np.zeros(3), 2.5)
    (None, True)
    """
    from .partition_kernel import DONE, search

    weights = np.asarray(weights, float)
    m = weights.size
    sizes = np.array([len(c) for c in members], np.int64)
    flat = np.fromiter((a for c in members for a in c), np.int64, int(sizes.sum()))
    column = np.repeat(np.arange(m), sizes)
    y = np.asarray(duals, float)[:n]
    rc = weights - np.bincount(column, weights=y[flat], minlength=m)
    count = np.bincount(flat, minlength=n)
    if n == 0 or (count == 0).any():
        return None, True  # an app no column covers
    share = np.full(n, np.inf)
    np.minimum.at(share, flat, (rc / np.maximum(sizes, 1))[column])
    n_words = (n + 63) // 64
    words = np.zeros((m, n_words), np.uint64)
    np.bitwise_or.at(words, (column, flat >> 6), np.left_shift(np.uint64(1), (flat & 63).astype(np.uint64)))
    by_app = np.lexsort((rc[column], flat))
    cols = column[by_app]
    ptr = np.concatenate([[0], np.cumsum(count)]).astype(np.int64)
    order = np.argsort(count, kind="stable").astype(np.int64)
    where = np.empty(n, np.int64)
    where[order] = np.arange(n)
    limit = np.array([upper - float(y.sum()) - tol])
    state = np.zeros(4, np.int64)
    app, pos = np.zeros(n, np.int64), np.zeros(n, np.int64)
    acc, low = np.zeros(n), np.zeros(n)
    chosen, best = np.zeros(n, np.int64), np.zeros(n, np.int64)
    app[0], pos[0], low[0] = order[0], ptr[order[0]], share.sum()
    covered = np.zeros(n_words, np.uint64)
    col_share = np.bincount(column, weights=share[flat], minlength=m)
    floor = float(share[share < 0].sum())
    while True:
        status = search(words, rc, col_share, floor, ptr, cols, order, where, limit, tol, int(state[1]) + SLICE,
                        state, app, pos, acc, low, chosen, covered, best)
        if status == DONE or (deadline is not None and time.perf_counter() > deadline):
            break
    return (best[:state[2]].tolist() if state[2] else None), status == DONE
