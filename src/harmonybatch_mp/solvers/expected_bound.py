"""A global lower bound under the expected-batch model, by column generation on a relaxed
set-partitioning model (``formulations/column_generation.md``, "Under the expected-batch
model").

A group ``X`` on configuration ``i`` (function ``f``, batch ``b``, ``u = max_{k<=b} L_max(k)``)
with any timeouts ``t_a <= s_a - u`` has ``E[K] <= 1 + S_X``, ``S_X = sum_a r_a (s_a - u)``: by
memorylessness the buffer opened by an arrival of app ``j`` (probability ``r_j / R``) closes
within ``t_j``, and the arrivals in that window number ``R t_j`` in expectation. Its cost per
request is at least ``LB_i(E)`` for any ``E >= E[K]`` (``expected_search.lower_bound``: the
largest of ``min c(k)/k``, ``min c(k)/E``, ``beta + alpha/E``), non-increasing in ``E``.
So the relaxed column ``(X, i, l)``, ``l = 1..b``, allowed when ``S_X <= l - 1`` or ``l = b``,
weighing ``(r_X / R) LB_i(l)``, costs no more than any real column it stands for, and the
set-partitioning model over relaxed columns bounds every plan from below.

Its pricing is, per ``(i, l)``, a 0-1 knapsack: profits ``y_a - (r_a / R) LB_i(l)``, sizes
``r_a (s_a - u)``, capacity ``l - 1`` (none at ``l = b``). The fractional knapsack bounds it
from above, so ``y.1 - m max(0, P(y))`` is a lower bound at every round (``m``: most groups in
a plan), as in :mod:`.colgen`; the greedy prefix is the column added.
"""

from __future__ import annotations

import time

import numpy as np

from .._validate import integer
from ..errors import InputError
from ..expected_search import lower_bound
from ..grid import KINDS
from .highs import run_highs_lp
from .pricing import cheapest_cover
from .problem import Problem

#: Reduced costs below minus this (scaled units, the plan ~1) price out.
TOLERANCE = 1e-7
#: Most master rounds.
ROUNDS = 200
#: Most weight of a starting column, an app alone (scaled units: a plan costs about 1).
ARTIFICIAL = 1e3
#: Most columns added per round.
PER_ROUND = 50
#: Relaxed columns priced per vectorised chunk.
CHUNK = 2048


class _Relaxed:
    """The ``(configuration, level)`` rows of the relaxed model, as arrays."""

    def __init__(self, problem: Problem, scale: float):
        grid, tables = problem.grid, problem.tables
        slo = np.array([a.slo for a in problem.apps])
        kind_sets = sorted(set(problem.app_kinds))
        kind_ok = np.array([[KINDS[k] in kinds for k in grid.kind] for kinds in kind_sets])
        config = np.flatnonzero(grid.memory_ok)
        level = np.concatenate([np.arange(1, b + 1) for b in grid.batch[config]])
        self.first = np.full(len(grid), -1)
        self.first[config] = np.concatenate([[0], np.cumsum(grid.batch[config])[:-1]])
        config = np.repeat(config, grid.batch[config])
        top = level == grid.batch[config]
        self.config, self.batch = config, grid.batch[config]
        self.low = level - 2.0  # the row of level l holds the groups with l - 2 <= S_X <= l - 1 ...
        self.high = np.where(top, np.inf, level - 1.0)  # ... and, at l = b, every S_X >= b - 2
        self.unit = lower_bound(tables, config, level.astype(float))
        room = slo[None, :] - tables.latency_max_upto[config][:, None]  # s_a - u_i: the longest timeout
        app_kind = np.array([kind_sets.index(k) for k in problem.app_kinds])
        self.served = (room >= 0) & kind_ok[app_kind][:, config].T
        self.rates = np.array([a.rate for a in problem.apps])
        self.size = self.rates[None, :] * np.maximum(room, 0.0)
        self.share = scale * self.rates / problem.total_rate

    def alone(self) -> np.ndarray:
        """Each app's cheapest relaxed column alone: over configurations, at its own level."""
        head = np.unique(self.first[self.first >= 0])  # the level-1 row of each configuration
        level = np.clip(np.ceil(1 + self.size[head] - 1e-12), 1, self.batch[head][:, None]).astype(int)
        unit = self.unit[head[:, None] + level - 1]
        return np.where(self.served[head], self.share[None, :] * unit, np.inf).min(axis=0)

    def price(self, duals: np.ndarray) -> tuple[float, list[tuple[np.ndarray, np.ndarray, float]]]:
        """The largest profit over the rows' LP polytopes (an upper bound on every relaxed
        column's), and the optimal vertices of the best :data:`PER_ROUND` rows that price out, as
        ``(members, fractions, weight)``."""
        gains, vertices = [0.0], []
        for lo in range(0, self.unit.size, CHUNK):
            rows = np.arange(lo, min(lo + CHUNK, self.unit.size))
            profit = np.where(self.served[rows], duals[None, :] - self.share[None, :] * self.unit[rows, None], -np.inf)
            some = np.flatnonzero(np.maximum(profit, 0.0).sum(axis=1) > TOLERANCE)  # the others gain nothing
            rows, profit = rows[some], profit[some]
            gain, x = _knapsack(profit, self.size[rows], self.low[rows], self.high[rows])
            top = np.flatnonzero(gain > TOLERANCE)
            top = top[np.argsort(-gain[top], kind="stable")[:PER_ROUND]]
            gains.append(gain.max(initial=0.0))
            vertices += [(float(gain[r]), int(rows[r]), x[r]) for r in top]
        vertices.sort(key=lambda v: -v[0])
        columns = []
        for _, row, x in vertices[:PER_ROUND]:
            members = np.flatnonzero(x > 0)
            columns.append((members, x[members], float((self.share[members] * x[members]).sum() * self.unit[row])))
        return max(0.0, float(max(gains))), columns


def _knapsack(profit: np.ndarray, size: np.ndarray, low: np.ndarray, high: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the LP optimum of ``max p.x`` s.t. ``low <= s.x <= high``, ``0 <= x <= 1``
    (an upper bound on the 0-1 optimum; -inf when infeasible) and an optimal vertex ``x``:
    the profitable items, less those past ``high`` in ratio order, or plus the cheapest
    others per unit of size until ``low`` is met (at most one item in part)."""
    positive = profit > 0
    free = np.where(positive, size, 0.0).sum(axis=1)
    total = np.where(positive, profit, 0.0).sum(axis=1)
    # too much size: the fractional knapsack of the profitable items up to `high`
    ratio = np.where(positive, profit / np.maximum(size, 1e-300), -np.inf)
    order = np.argsort(-ratio, axis=1, kind="stable")
    p = np.take_along_axis(np.where(positive, profit, 0.0), order, axis=1)
    s = np.take_along_axis(np.where(positive, size, 0.0), order, axis=1)
    before = np.cumsum(s, axis=1) - s
    frac = np.where(s > 0, np.clip((high[:, None] - before) / np.where(s > 0, s, 1.0), 0.0, 1.0),
                    (before <= high[:, None]).astype(float))
    frac = np.where(p > 0, frac, 0.0)
    over = np.zeros(profit.shape)
    np.put_along_axis(over, order, frac, axis=1)
    over_gain = (p * frac).sum(axis=1)
    # too little: every profitable item, and the cheapest fractional cover of `low`
    lost, cover = cheapest_cover(profit, size, low - free)
    under_gain = total - lost
    under = positive.astype(float) + cover
    gain = np.where(free > high, over_gain, np.where(free < low, under_gain, total))
    x = np.where((free > high)[:, None], over, np.where((free < low)[:, None], under, positive.astype(float)))
    return gain, x


def expected_bound(problem: Problem, *, deadline: float | None = None, rounds: int = ROUNDS) -> float:
    """A lower bound on the cost of every plan of ``problem`` under the expected-batch model
    (side constraints relaxed, so it holds with them too); at least the per-app bound. The
    deadline is checked between rounds (one round prices every row once).

    >>> from harmonybatch_mp.solvers import Problem, as_instance
    >>> p = Problem(*as_instance("0.3:2,0.5:5,0.8:10,1.0:20", "VGG19"), cost_model="expected")
    >>> p.lower_bound() <= expected_bound(p)
    True
    """
    if not isinstance(problem, Problem):
        raise InputError(f"problem must be a Problem, got {type(problem).__name__}")
    rounds = integer(rounds, "rounds", minimum=0)
    if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, (int, float))
                                 or deadline != deadline):
        raise InputError(f"deadline must be a time.perf_counter() reading, got {deadline!r}")
    floor = problem.lower_bound()
    if not problem.expected or problem.n == 0:
        return floor
    scale = 1.0 / floor
    relaxed = _Relaxed(problem, scale)
    columns: list[np.ndarray] = [np.array([a]) for a in range(problem.n)]
    fractions: list[np.ndarray] = [np.ones(1)] * problem.n
    weights = list(np.minimum(relaxed.alone(), ARTIFICIAL))  # every app alone: the LP is feasible from the start
    most = problem.n if problem.side.max_functions is None else min(problem.n, problem.side.max_functions)
    best = floor * scale
    for _ in range(rounds):
        if deadline is not None and time.perf_counter() > deadline:
            break
        solved = run_highs_lp(np.asarray(weights), columns, [], problem.n, deadline=deadline, coefficients=fractions,
                              interior=True)
        if solved is None:
            break
        duals = solved[1][:problem.n]
        gain, found = relaxed.price(duals)
        best = max(best, float(duals.sum()) - most * gain)
        if gain <= TOLERANCE or not found:
            break
        for members, x, w in found:
            columns.append(members)
            fractions.append(x)
            weights.append(w)
    return max(floor, best / scale)
