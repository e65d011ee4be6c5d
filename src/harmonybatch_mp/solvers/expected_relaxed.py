"""The relaxed columns of the expected-batch bound and their pricing
(``formulations/column_generation.md``, "Under the expected-batch model").

A group ``X`` on configuration ``c`` (batch ``b``, ``u = max_{k<=b} L_max(k)``, maximal
timeouts ``tau_a = s_a - u``) whose tightest member (first in SLO order, the *anchor*) is
``j`` has ``E[K] <= 1 + A_j(X)``, ``A_j(X) = sum_{a in X} z_j(a)``, with
:func:`anchored_sizes` ``z_j(a) = r_a (tau_j + (1 - e^{-r_j (tau_a - tau_j)}) / r_j)``:
past ``tau_j`` an arrival of ``j`` (rate ``r_j``) closes the buffer. Its cost per request
is at least ``LB_c(min(b, 1 + A_j(X)))`` (``expected_search.lower_bound``, non-increasing),
and at least ``LB_c(min(b, l))`` at every level ``l >= 1 + A_j(X)``.

Configurations of one kind that serve the same apps and have nearly the same ``u`` share a
bin (:func:`_bins`): a bin takes the smallest ``u`` and, per level, the smallest bound of its
configurations, so its columns cost no more than any of theirs; a bin no better than
another at every level, with no smaller ``u``, is dropped. A row ``(bin, level, anchor)`` prices the groups of that
anchor with ``l - 2 <= A_j <= l - 1``: a 0-1 knapsack over the apps after the anchor, with a
lower and an upper limit, whose LP relaxation (:func:`knapsack`) bounds it.
"""

from __future__ import annotations

import time

import numpy as np

from ..expected_search import lower_bound
from ..grid import KINDS
from .pricing import cheapest_cover
from .problem import Problem

#: Configurations whose smallest timeouts differ by at most this factor share a bin.
SPREAD = 1.1
#: Ratio of consecutive levels of ``1 + A`` (the rows' edges: 1, RATIO, RATIO^2, ...).
RATIO = 1.05
#: Splits of a row's knapsack LP on its fractional item (:func:`knapsack_bound`).
DEPTH = 3
#: Reduced costs below minus this (scaled units, the plan ~1) price out.
TOLERANCE = 1e-7
#: Most columns returned per round.
PER_ROUND = 200
#: Most columns one bin gives a round (so that a round's columns differ).
PER_BIN = 10
#: Most entries (rows x apps) of one vectorised knapsack call.
CHUNK = 1 << 19


def anchored_sizes(rates: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """``z[j, a]``: app ``a``'s share of ``A_j`` (see the module docstring) for every anchor
    ``j`` (rows) and every app ``a`` with ``tau_a >= tau_j``: ``r_a (tau_j + (1 - e^{-r_j
    (tau_a - tau_j)}) / r_j)``, so ``z[j, j] = r_j tau_j`` (entries of other apps: ``r_a
    tau_j``, unused).

    >>> z = anchored_sizes(np.array([1.0, 2.0]), np.array([0.5, 3.0]))
    >>> bool(np.isclose(z[0, 1], 2.0 * (0.5 + (1 - np.exp(-2.5)))))   # app 0 cuts app 1's wait
    True
    >>> z[1, 1]
    6.0
    """
    wait = -np.expm1(-rates[:, None] * np.maximum(tau[None, :] - tau[:, None], 0.0)) / rates[:, None]
    return rates[None, :] * (tau[:, None] + wait)


def knapsack(profit: np.ndarray, size: np.ndarray, low: np.ndarray, high: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the LP optimum of ``max p.x`` s.t. ``low <= s.x <= high``, ``0 <= x <= 1``
    (an upper bound on the 0-1 optimum; -inf when infeasible; items of profit -inf are
    absent) and an optimal vertex ``x``: the profitable items, less those past ``high`` in
    ratio order, or plus the cheapest others per unit of size until ``low`` is met (at most
    one item in part)."""
    positive = profit > 0
    free = np.where(positive, size, 0.0).sum(axis=1)
    total = np.where(positive, profit, 0.0).sum(axis=1)
    # too much size: the fractional knapsack of the profitable items up to `high`
    with np.errstate(over="ignore"):
        ratio = np.where(positive, profit / np.maximum(size, 1e-300), -np.inf)
    order = np.argsort(-ratio, axis=1, kind="stable")
    p = np.take_along_axis(np.where(positive, profit, 0.0), order, axis=1)
    s = np.take_along_axis(np.where(positive, size, 0.0), order, axis=1)
    before = np.cumsum(s, axis=1) - s
    with np.errstate(over="ignore"):  # a tiny size: the ratio is inf, clipped to 1
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


def knapsack_bound(profit: np.ndarray, size: np.ndarray, low: np.ndarray, high: np.ndarray, depth: int = DEPTH
                   ) -> tuple[np.ndarray, np.ndarray]:
    """An upper bound on each row's 0-1 knapsack (as in :func:`knapsack`) and the vertex that
    gives it: an app larger than the room cannot join, sizes are capped at the lower limit
    (a selection reaching it with the true sizes reaches it with the capped ones), and the
    LP is split ``depth`` times on its fractional item (out, or in), keeping the larger.
    Each step only tightens: both halves are restrictions of the LP they split."""
    profit = np.where(size > high[:, None], -np.inf, profit)
    gain, x = knapsack(profit, np.where(low[:, None] > 0, np.minimum(size, low[:, None]), size), low, high)
    part = (x > 1e-9) & (x < 1 - 1e-9)
    rows = np.flatnonzero(part.any(axis=1) & np.isfinite(gain))
    if depth == 0 or rows.size == 0:
        return gain, x
    pick = (np.arange(rows.size), part[rows].argmax(axis=1))
    rest = profit[rows]
    rest[pick] = -np.inf
    out_gain, out_x = knapsack_bound(rest, size[rows], low[rows], high[rows], depth - 1)
    taken = size[rows][pick]
    in_gain, in_x = knapsack_bound(rest, size[rows], low[rows] - taken, high[rows] - taken, depth - 1)
    in_gain += profit[rows][pick]
    in_x[pick] = 1.0
    take = in_gain > out_gain
    gain[rows] = np.where(take, in_gain, out_gain)
    x[rows] = np.where(take[:, None], in_x, out_x)
    return gain, x


def _bins(u: np.ndarray, slos: np.ndarray) -> list[np.ndarray]:
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


def _add(apps: np.ndarray, duals: np.ndarray, x: np.ndarray, weight: np.ndarray, found: list) -> None:
    """Append to ``found`` the best :data:`PER_ROUND` columns (rows of coefficients ``x`` over
    ``apps``) that price out at ``duals``, as ``(gain, members, coefficients, weight)``."""
    gain = x @ duals - weight
    better = np.flatnonzero(gain > TOLERANCE)
    for r in better[np.argsort(-gain[better], kind="stable")[:PER_ROUND]]:
        members = np.flatnonzero(x[r] > 0)
        found.append((float(gain[r]), apps[members], x[r, members], float(weight[r])))


class Relaxed:
    """The bins of the relaxed model for one problem, and its pricing at given duals."""

    def __init__(self, problem: Problem, scale: float):
        grid, tables = problem.grid, problem.tables
        self.slo = np.array([a.slo for a in problem.apps])
        self.rates = np.array([a.rate for a in problem.apps])
        self.share = scale * self.rates / problem.total_rate
        self.order = np.argsort(self.slo, kind="stable")  # the anchor of a group is its first app in this order
        self.rank = np.argsort(self.order)
        top = int(grid.batch.max())
        self.edges = np.minimum(RATIO ** np.arange(int(np.ceil(np.log(top) / np.log(RATIO))) + 1), top)
        levels = self.edges[1:]
        self.tables = tables
        u, unit, batch, kind, self.bins = [], [], [], [], []
        slos = np.unique(self.slo)
        for k in range(len(KINDS)):
            config = np.flatnonzero(grid.memory_ok & (grid.kind == k) & (tables.latency_max_upto <= slos[-1]))
            config = config[np.argsort(tables.latency_max_upto[config], kind="stable")]
            for part in _bins(tables.latency_max_upto[config], slos):
                part = config[part]
                level = np.minimum(levels[None, :], grid.batch[part][:, None])  # beyond b: the bound at b
                bound = lower_bound(tables, np.repeat(part, levels.size), level.ravel())
                self.bins.append(part)
                u.append(tables.latency_max_upto[part[0]])
                unit.append(bound.reshape(part.size, levels.size).min(axis=0))
                batch.append(int(grid.batch[part].max()))
                kind.append(k)
        u, unit, batch, kind = np.array(u), np.array(unit), np.array(batch), np.array(kind)
        # a bin is dropped when another of its kind has u and every level's bound no larger (ties: the first)
        worse = ((kind[:, None] == kind[None, :]) & (u[:, None] <= u[None, :])
                 & (unit[:, None, :] <= unit[None, :, :]).all(axis=2))
        worse &= ~np.eye(u.size, dtype=bool) & ~(worse.T & (np.arange(u.size)[:, None] > np.arange(u.size)[None, :]))
        keep = ~worse.any(axis=0)
        self.bins = [b for b, k in zip(self.bins, keep) if k]
        self.u, self.unit = u[keep], unit[keep]
        self.levels = np.maximum(np.searchsorted(self.edges, batch[keep]), 1)  # rows up to the edge reaching the batch
        allowed = np.array([[KINDS[k] in kinds for k in kind[keep]] for kinds in problem.app_kinds]).T
        self.served = allowed & (self.slo[None, :] >= self.u[:, None])  # (bins, apps)

    def alone(self) -> np.ndarray:
        """Each app's cheapest relaxed column alone (``E[K] <= 1 + r tau``), over the bins."""
        best = np.full(self.share.size, np.inf)
        for v, part in enumerate(self.bins):
            apps = np.flatnonzero(self.served[v])
            fill = 1.0 + self.rates[apps] * (self.slo[apps] - self.u[v])
            unit = lower_bound(self.tables, np.tile(part, apps.size), np.repeat(fill, part.size))
            best[apps] = np.minimum(best[apps], self.share[apps] * unit.reshape(apps.size, part.size).min(axis=1))
        return best

    def _level(self, v: int, fill: np.ndarray) -> np.ndarray:
        """The row (1-based level) of bin ``v`` holding groups of ``1 + A = fill``."""
        return np.clip(np.searchsorted(self.edges, fill), 1, self.levels[v])

    def weight(self, members: np.ndarray) -> float:
        """The least weight of the group ``members`` over the rows that hold it (inf where no
        bin serves it): no more than its cost on any configuration at any timeouts."""
        members = np.asarray(members)
        anchor = int(np.argmin(self.rank[members]))
        best = np.inf
        for v in np.flatnonzero(self.served[:, members].all(axis=1)):
            size = anchored_sizes(self.rates[members], self.slo[members] - self.u[v])[anchor]
            best = min(best, float(self.share[members].sum() * self.unit[v, self._level(v, 1.0 + size.sum()) - 1]))
        return best

    def runs(self) -> tuple[list[np.ndarray], np.ndarray]:
        """Every run of apps consecutive in SLO order as a column, at its cheapest bin (at the
        level its ``1 + A`` reaches): the groups good plans are made of, to start the master.
        Returns the runs' members and weights (runs no bin serves are left out)."""
        n = self.share.size
        best = np.full((n, n), np.inf)  # [i, k]: the run from the i-th to the k-th app in SLO order
        share = np.cumsum(self.share[self.order])
        for v in range(self.u.size):
            ok = self.served[v][self.order]
            size = anchored_sizes(self.rates[self.order], self.slo[self.order] - self.u[v])
            fill = 1.0 + np.cumsum(np.triu(size), axis=1)  # 1 + A_i of the run i..k
            level = self._level(v, fill)
            gap = np.cumsum(~ok)
            valid = np.triu(gap[None, :] - gap[:, None] + ~ok[:, None] == 0)  # every app of the run served
            weight = (share[None, :] - share[:, None] + self.share[self.order][:, None]) * self.unit[v, level - 1]
            best = np.where(valid, np.minimum(best, weight), best)
        first, last = np.nonzero(np.isfinite(best))
        return [self.order[i:k + 1] for i, k in zip(first, last)], best[first, last]

    def price(self, duals: np.ndarray, bins: range | None = None, deadline: float | None = None
              ) -> tuple[float, float, list[tuple[np.ndarray, np.ndarray, float]]]:
        """Two upper bounds at ``duals``: on what the relaxed columns of any plan gain
        together (the sum over apps of the largest ``min(P, p_a^+)`` over the ``(bin,
        level)`` rows, ``P`` the row's largest LP profit, as the columns of a plan are
        disjoint), and on any one column's gain (the largest ``P``); and the best
        :data:`PER_ROUND` columns found that price out, as ``(members, coefficients, weight)``:
        the rows' LP vertices and the groups rounded from them. Priced over some ``bins``
        only, or stopped at the ``deadline``, it finds columns but bounds nothing (both
        bounds are inf)."""
        best = np.zeros(self.share.size)
        most, found = 0.0, []
        every = bins is None
        for v in range(self.u.size) if every else bins:
            if deadline is not None and time.perf_counter() > deadline:
                every = False
                break
            apps = self.order[self.served[v][self.order]]
            if apps.size == 0:
                continue
            profit = duals[apps][None, :] - self.share[apps][None, :] * self.unit[v, :self.levels[v], None]
            mine: list = []
            gains = self._rows(v, apps, profit, mine)
            mine.sort(key=lambda f: -f[0])
            found += mine[:PER_BIN]
            most = max(most, float(gains.max(initial=0.0)))
            best[apps] = np.maximum(best[apps], np.minimum(np.maximum(profit, 0.0), gains[:, None]).max(axis=0))
        found.sort(key=lambda f: -f[0])
        if not every:
            return np.inf, np.inf, [f[1:] for f in found[:PER_ROUND]]
        return float(best.sum()), most, [f[1:] for f in found[:PER_ROUND]]

    def _rows(self, v: int, apps: np.ndarray, profit: np.ndarray, found: list) -> np.ndarray:
        """Price the rows ``(v, level, anchor)``: each level's largest gain (an upper bound,
        at least 0), and the improving groups rounded from the LP vertices appended to
        ``found`` as ``(gain, members, weight)``.

        A row's 0-1 knapsack is relaxed before its LP: an app larger than the room left
        cannot join, and sizes are capped at the lower limit (a selection reaching the limit
        with the true sizes reaches it with the capped ones), which keeps a sliver of a large
        app from lifting a small group to a cheaper level."""
        size = anchored_sizes(self.rates[apps], self.slo[apps] - self.u[v])
        levels, m = profit.shape
        plus = np.maximum(profit, 0.0)
        later = np.cumsum(plus[:, ::-1], axis=1)[:, ::-1] - plus  # the gains of the apps after each anchor
        cap = profit + later  # (level, anchor): what a row can gain at most
        own = np.diag(size)
        edge = self.edges[:levels + 1] - 1.0
        high = np.r_[edge[1:-1], np.inf][:, None] - own[None, :]  # row k: edge_k <= 1 + A_j <= edge_{k+1}, the last unlimited
        fits = high >= 0
        keep = fits & (cap > TOLERANCE)
        gains = np.where(fits & ~keep, cap, 0.0).max(axis=1)  # rows not priced gain at most their cap
        level, anchor = np.nonzero(keep)
        order = np.lexsort((-cap[level, anchor], level))  # per level, the largest caps first
        level, anchor = level[order], anchor[order]
        rank = np.arange(level.size) - np.searchsorted(level, level)
        duals = profit[0] + self.share[apps] * self.unit[v, 0]
        start, width = 0, 1
        while True:  # a row is priced only while its cap exceeds its level's best gain so far
            open_ = (cap[level, anchor] > gains[level]) & (rank >= start)
            if not open_.any():
                break
            now = np.flatnonzero(open_ & (rank < start + width))
            start, width = start + width, 2 * width
            for lo in range(0, now.size, max(1, CHUNK // m)):
                lv, an = level[now[lo:lo + CHUNK // m]], anchor[now[lo:lo + CHUNK // m]]
                first = int(an.min()) + 1  # the apps after the first anchor: the rest are out
                room, low = high[lv, an], edge[lv] - own[an]
                after = np.arange(first, m)[None, :] > an[:, None]
                gain, x = knapsack_bound(np.where(after, profit[lv, first:], -np.inf), size[an, first:], low, room)
                np.maximum.at(gains, lv, gain + profit[lv, an])
                fit = np.isfinite(gain)  # the rows some selection fits
                lv, an = lv[fit], an[fit]
                vertex = np.zeros((lv.size, m))
                vertex[:, first:] = x[fit]
                vertex[np.arange(lv.size), an] = 1.0
                _add(apps, duals, vertex, (self.share[apps] * vertex).sum(axis=1) * self.unit[v, lv], found)
                for chosen in (vertex > 1 - 1e-9, vertex > 1e-9):  # the vertex without its fractional item, and with it
                    _add(apps, duals, chosen.astype(float), self._weight(v, apps, size[an], chosen), found)
        return gains

    def _weight(self, v: int, apps: np.ndarray, size: np.ndarray, members: np.ndarray) -> np.ndarray:
        """The relaxed weight of the groups ``members`` (rows of a boolean matrix, each with
        the anchor whose row of ``size`` it goes with) on bin ``v``: ``share LB(1 + A)``."""
        fill = 1.0 + (size * members).sum(axis=1)  # >= E[K]
        part = self.bins[v]
        unit = lower_bound(self.tables, np.tile(part, fill.size), np.repeat(fill, part.size))
        return (self.share[apps] * members).sum(axis=1) * unit.reshape(fill.size, part.size).min(axis=1)
