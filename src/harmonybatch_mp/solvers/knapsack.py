"""Upper bounds on a 0-1 knapsack with a lower and an upper limit on the total size, row by
row and vectorised: its LP relaxation in closed form (:func:`knapsack`) and that LP
tightened (:func:`knapsack_bound`). The expected-batch bound prices its rows with them
(``formulations/column_generation.md``, "Under the expected-batch model").
"""

from __future__ import annotations

import numpy as np

from .pricing import cheapest_cover

#: Splits of a row's LP on its fractional item (:func:`knapsack_bound`).
DEPTH = 3


def knapsack(profit: np.ndarray, size: np.ndarray, low: np.ndarray, high: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the LP optimum of ``max p.x`` s.t. ``low <= s.x <= high``, ``0 <= x <= 1``
    (an upper bound on the 0-1 optimum; -inf when infeasible; items of profit -inf are
    absent) and an optimal vertex ``x``: the profitable items, less those past ``high`` in
    ratio order, or plus the cheapest others per unit of size until ``low`` is met (at most
    one item in part)."""
    positive = profit > 0
    free = np.where(positive, size, 0.0).sum(axis=1)
    gain = np.where(positive, profit, 0.0).sum(axis=1)
    x = positive.astype(float)
    over = np.flatnonzero(free > high)  # too much size: the fractional knapsack of the profitable items up to `high`
    if over.size:
        with np.errstate(over="ignore"):
            ratio = np.where(positive[over], profit[over] / np.maximum(size[over], 1e-300), -np.inf)
        order = np.argsort(-ratio, axis=1, kind="stable")
        p = np.take_along_axis(np.where(positive[over], profit[over], 0.0), order, axis=1)
        s = np.take_along_axis(np.where(positive[over], size[over], 0.0), order, axis=1)
        before = np.cumsum(s, axis=1) - s
        with np.errstate(over="ignore"):  # a tiny size: the ratio is inf, clipped to 1
            frac = np.where(s > 0, np.clip((high[over, None] - before) / np.where(s > 0, s, 1.0), 0.0, 1.0),
                            (before <= high[over, None]).astype(float))
        frac = np.where(p > 0, frac, 0.0)
        gain[over] = (p * frac).sum(axis=1)
        part = np.zeros((over.size, profit.shape[1]))
        np.put_along_axis(part, order, frac, axis=1)
        x[over] = part
    under = np.flatnonzero(free < low)  # too little: every profitable item, and the cheapest fractional cover of `low`
    if under.size:
        lost, cover = cheapest_cover(profit[under], size[under], low[under] - free[under])
        gain[under] -= lost
        x[under] += cover
    return gain, x


def knapsack_bound(profit: np.ndarray, size: np.ndarray, low: np.ndarray, high: np.ndarray, depth: int = DEPTH,
                   enough: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """An upper bound on each row's 0-1 knapsack (as in :func:`knapsack`) and the vertex that
    gives it: an app larger than the room cannot join, sizes are capped at the lower limit
    (a selection reaching it with the true sizes reaches it with the capped ones), and the
    LP is split ``depth`` times on its fractional item (out, or in), keeping the larger.
    Each step only tightens: both halves are restrictions of the LP they split. Rows whose
    bound is already at most ``enough`` are not split."""
    profit = np.where(size > high[:, None], -np.inf, profit)
    gain, x = knapsack(profit, np.where(low[:, None] > 0, np.minimum(size, low[:, None]), size), low, high)
    part = (x > 1e-9) & (x < 1 - 1e-9)
    rows = np.flatnonzero(part.any(axis=1) & np.isfinite(gain) & (True if enough is None else gain > enough))
    if depth == 0 or rows.size == 0:
        return gain, x
    pick = (np.arange(rows.size), part[rows].argmax(axis=1))
    rest = profit[rows]
    rest[pick] = -np.inf
    out_gain, out_x = knapsack_bound(rest, size[rows], low[rows], high[rows], depth - 1,
                                     None if enough is None else enough[rows])
    taken = size[rows][pick]
    in_gain, in_x = knapsack_bound(rest, size[rows], low[rows] - taken, high[rows] - taken, depth - 1,
                                   None if enough is None else enough[rows] - profit[rows][pick])
    in_gain += profit[rows][pick]
    in_x[pick] = 1.0
    take = in_gain > out_gain
    gain[rows] = np.where(take, in_gain, out_gain)
    x[rows] = np.where(take[:, None], in_x, out_x)
    return gain, x
