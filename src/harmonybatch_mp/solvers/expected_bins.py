"""The bins of the expected-batch bound's relaxed model: configurations of one kind that serve
the same apps and have nearly the same smallest timeout share one, and a bin no better than
another at every level is dropped (``formulations/column_generation.md``, "Under the
expected-batch model", "Rows"); used by :class:`.expected_relaxed.Relaxed`.
"""

from __future__ import annotations

import numpy as np

#: Configurations whose smallest timeouts differ by at most this factor share a bin.
SPREAD = 1.1
#: Bins are first compared at every this-many-th level (:func:`undominated`).
SAMPLED = 32


def config_bins(u: np.ndarray, slos: np.ndarray) -> list[np.ndarray]:
    """Consecutive runs of the sorted latencies ``u`` that serve the same apps (no SLO in
    ``slos`` lies between two of them) and whose smallest timeout ``s - u`` (``s`` the
    tightest SLO they serve) varies by at most the factor :data:`SPREAD` (or 1 ms)."""
    tightest = slos[np.searchsorted(slos, u)]
    runs, start = [], 0
    for i in range(1, u.size + 1):
        if i == u.size or tightest[i] != tightest[start] or tightest[i] - u[start] > SPREAD * (tightest[i] - u[i]) + 1e-3:
            runs.append(np.arange(start, i))
            start = i
    return runs


def undominated(u: np.ndarray, unit: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Which bins no other bin of their kind dominates: one with ``u`` and every level's bound
    no larger (of equal bins, the first is kept). The bins no larger at every
    :data:`SAMPLED`-th level are found a block at a time, and only those compared at every
    level (n = 500 VideoMAE, 844 bins by 1,680 levels: 1.1 s comparing every pair in full)."""
    keep = np.ones(u.size, dtype=bool)
    index = np.arange(u.size)
    sampled = unit[:, ::SAMPLED]
    for lo in range(0, u.size, 64):
        block = index[lo:lo + 64]  # the bins that may be dominated
        maybe = ((kind[:, None] == kind[None, block]) & (u[:, None] <= u[None, block])
                 & (sampled[:, None, :] <= sampled[None, block, :]).all(axis=2) & (index[:, None] != block[None, :]))
        for j, column in zip(block, maybe.T):
            i = np.flatnonzero(column)
            better = (unit[i] <= unit[j]).all(axis=1)
            equal = better & (u[i] == u[j]) & (unit[i] == unit[j]).all(axis=1)
            keep[j] = not (better & ~(equal & (i > j))).any()
    return keep
