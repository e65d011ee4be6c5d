"""Branch and bound over the groups one configuration can serve: the pricing search of
column generation (``formulations/column_generation.md``, "Pricing").

Apps are visited in SLO order, so the equivalent-timeout fold of Eq. 5 extends by one
step per app taken. A node is pruned when the profit still reachable (the positive
profits left, less the cheapest fractional cover of what Eq. 9 still needs) cannot beat
the threshold. Two covers bound what Eq. 9 needs: ``r_X T_X <= r_X T + sum r_i t_i``
over the apps taken later (each fold step adds at most ``r_i t_i``), and
``T_X <= T + 1/rho - 1/r_X`` (the steps telescope), so the group needs rate
``b / (T + 1/rho)``.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Iterator

import numpy as np

#: Profits within this of the threshold count as not improving (scaled units, ~1 = the plan;
#: above the LP's dual feasibility tolerance, 1e-7).
TOLERANCE = 1e-6


class GroupSearch:
    """One configuration's branch and bound over the apps it serves (canonical order)."""

    def __init__(self, apps: np.ndarray, profit: np.ndarray, rate: np.ndarray, timeout: np.ndarray, batch: int,
                 conflicts: np.ndarray):
        self.apps = [int(a) for a in apps]
        self.profit, self.rate, self.timeout = profit.tolist(), rate.tolist(), timeout.tolist()
        self.batch = batch
        self.conflicts = [int(c) for c in conflicts]
        self.best_left = _suffix(np.maximum(profit, 0))
        self.fill = _Cover(profit, rate * timeout)  # r_X T_X <= sum r t (each fold step adds <= r t)
        self.rate_cover = _Cover(profit, rate)  # T_X <= T + 1/rho - 1/r_X from any state (T, rho)
        self.complete = True

    def groups(self, threshold: float, improve: bool, budget: int | None = None,
               deadline: float | None = None) -> Iterator[tuple[int, float]]:
        """Feasible groups with profit above ``threshold`` as ``(mask, profit)``; with
        ``improve`` the threshold rises to each group found (so the last is the best). After
        ``budget`` nodes, or at ``deadline``, the search stops and :attr:`complete` is False."""
        need = (self.batch - 1) * (1 - 1e-12)  # Eq. 9: r_X T_X >= b - 1
        n = len(self.apps)
        stack = [(0, 0, 0.0, 0.0, 0.0)]  # (position, mask, T, rho, profit)
        nodes = 0
        while stack:
            nodes += 1
            if (budget is not None and nodes > budget) or (
                    deadline is not None and nodes % 4096 == 0 and time.perf_counter() > deadline):
                self.complete = False
                return
            i, mask, T, rho, value = stack.pop()
            reach = value + self.best_left[i]
            if reach <= threshold + TOLERANCE:
                continue
            spare = reach - threshold - TOLERANCE
            deficit = need - rho * T - self.fill.free[i]  # r_X T_X <= current + sum of r t taken later
            if deficit > 0 and self.fill.penalty(deficit, i, spare) >= spare:
                continue
            if rho > 0:  # r_X T_X <= r_X (T + 1/rho) - 1: the group needs rate b / (T + 1/rho)
                deficit = (need + 1) / (T + 1 / rho) - rho - self.rate_cover.free[i]
                if deficit > 0 and self.rate_cover.penalty(deficit, i, spare) >= spare:
                    continue
            if i == n:
                if mask and (self.batch == 1 or self.batch <= math.floor(rho * T) + 1):
                    yield mask, value
                    if improve:
                        threshold = value
                continue
            skip = (i + 1, mask, T, rho, value)
            if mask & self.conflicts[i]:
                stack.append(skip)
                continue
            t, r = self.timeout[i], self.rate[i]
            if rho == 0:
                T2, rho2 = t, r
            else:  # the fold of Eq. 5 (batching.fold_timeout) on floats
                T2, rho2 = T + (r / (rho + r)) * (-math.expm1(-rho * (t - T))) / rho, rho + r
            take = (i + 1, mask | (1 << self.apps[i]), T2, rho2, value + self.profit[i])
            if self.profit[i] > 0:  # explore the likelier branch first (the stack pops it first)
                stack.extend((skip, take))
            else:
                stack.extend((take, skip))

    def relaxation(self) -> float:
        """An upper bound on the best profit: Eq. 9 relaxed to ``sum_i r_i t_i >= b - 1``
        (each fold step adds at most ``r_i t_i``), as a fractional covering knapsack; -inf
        when even that cannot fill the batch."""
        deficit = (self.batch - 1) - self.fill.free[0]
        return self.best_left[0] - (self.fill.penalty(deficit, 0, math.inf) if deficit > 0 else 0.0)


def _suffix(x: np.ndarray) -> list[float]:
    return np.concatenate([np.cumsum(x[::-1])[::-1], [0.0]]).tolist()


class _Cover:
    """A covering constraint ``sum amount >= deficit`` over the apps from a position on: the
    positive apps bring their amount for free; the others cost ``-profit`` per app. The
    cheapest fractional cover from position ``i`` is read off cumulative sums over the paid
    apps in price order (apps before ``i`` masked out), by bisection."""

    def __init__(self, profit: np.ndarray, amount: np.ndarray):
        paid = (profit <= 0) & (amount > 0)
        price = np.where(paid, -profit / np.where(amount > 0, amount, 1.0), np.inf)
        self.free = _suffix(np.where(profit > 0, amount, 0.0))
        self.paid_left = _suffix(np.where(paid, amount, 0.0))
        self.cheapest_left = (np.minimum.accumulate(np.r_[price, np.inf][::-1])[::-1]).tolist()
        order = np.flatnonzero(paid)[np.argsort(price[paid], kind="stable")]
        self.price = price[order].tolist()
        after = order[None, :] >= np.arange(profit.size + 1)[:, None]  # [i, q]: paid app q is at or after i
        self._amount = np.cumsum(np.where(after, amount[order][None, :], 0.0), axis=1)
        self._cost = np.cumsum(np.where(after, -profit[order][None, :], 0.0), axis=1)  # price * amount = -profit
        self._rows: dict[int, tuple[list[float], list[float]]] = {}

    def penalty(self, deficit: float, i: int, spare: float) -> float:
        """Least profit lost covering ``deficit`` with paid apps from position ``i`` on,
        fractionally (inf when they cannot); may stop at any value above ``spare``."""
        if deficit > self.paid_left[i] * (1 + 1e-12):
            return math.inf
        if deficit * self.cheapest_left[i] > spare:
            return deficit * self.cheapest_left[i]
        row = self._rows.get(i)
        if row is None:
            row = self._rows[i] = (self._amount[i].tolist(), self._cost[i].tolist())
        amount, cost = row
        q = bisect.bisect_left(amount, deficit)
        if q == len(amount):
            return math.inf
        return cost[q] - self.price[q] * (amount[q] - deficit)  # the last app used in part
