"""The columns a round of the relaxed pricing finds (:meth:`.expected_relaxed.Relaxed.price`):
held as blocks while the rows are priced, and the best of them picked at the end
(``formulations/column_generation.md``, "Under the expected-batch model", "Pricing a row").
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Reduced costs below minus this (scaled units, the plan ~1) price out.
TOLERANCE = 1e-7
#: Most columns returned per round.
PER_ROUND = 200
#: Most columns one bin gives a round (so that a round's columns differ).
PER_BIN = 10
#: Most columns a round's pricing holds before it lets go of those no round could take
#: (:func:`hold`): at n = 1,000 a 48 s round held 3 GB of them, and picking took 7 s.
KEPT_ROWS = 8 * PER_ROUND


def hold(bins: np.ndarray, gain: np.ndarray, weight: np.ndarray, coefficients: Callable[[np.ndarray], np.ndarray],
         found: list) -> None:
    """Append to ``found`` the best :data:`PER_ROUND` columns (found on ``bins``, of ``weight``)
    whose ``gain`` at the duals prices them out, as one block ``(gains, bins, coefficients over
    every app, weights)``, best first (:func:`pick` picks a round's columns from the blocks);
    ``coefficients(indices)`` makes the rows of coefficients of those columns only. Blocks
    holding more than :data:`KEPT_ROWS` columns become one, of the columns :func:`_chosen`
    keeps of them: no other could be picked."""
    better = np.flatnonzero(gain > TOLERANCE)
    if better.size:
        top = better[np.argsort(-gain[better], kind="stable")[:PER_ROUND]]
        found.append((gain[top], bins[top], coefficients(top), weight[top]))
    if sum(block[0].size for block in found) > KEPT_ROWS:
        gain, where, x, weight = (np.concatenate(part) for part in zip(*found))
        chosen = _chosen(gain, where)
        found[:] = [(gain[chosen], where[chosen], x[chosen], weight[chosen])]


def _chosen(gain: np.ndarray, where: np.ndarray) -> np.ndarray:
    """The indices of the columns of largest ``gain`` (of equal gain, the first), at most
    :data:`PER_BIN` of any bin (``where``) and :data:`PER_ROUND` in all, best first. A column
    kept of all is kept of any part of the columns that holds it (the columns before it there
    are fewer)."""
    order = np.argsort(-gain, kind="stable")
    by_bin = np.argsort(where[order], kind="stable")  # each bin's columns, best first
    grouped = where[order][by_bin]
    first = np.searchsorted(grouped, grouped)  # where each column's bin starts
    place = np.empty(order.size, np.int64)
    place[by_bin] = np.arange(order.size) - first
    return order[place < PER_BIN][:PER_ROUND]


def pick(found: list) -> list[tuple[np.ndarray, np.ndarray, float, int]]:
    """The columns of largest gain in the blocks ``found`` (:func:`hold`; of equal gain, the
    first added), at most :data:`PER_BIN` of any bin and :data:`PER_ROUND` in all,
    as ``(members, coefficients, weight, bin)``. The members are found for these columns only: a
    round adds up to a hundred times more to ``found`` than it keeps."""
    if not found:
        return []
    gain, where, x, weight = (np.concatenate(part) for part in zip(*found))
    columns = []
    for r in _chosen(gain, where):
        members = np.flatnonzero(x[r] > 0)
        columns.append((members, x[r, members], float(weight[r]), int(where[r])))
    return columns
