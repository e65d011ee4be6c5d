"""Exact pricing for column generation under the full-batch model
(``formulations/column_generation.md``).

A column is a group ``X`` on a configuration ``k``. Its weight is ``(r_X / R) C_k``
(Eq. 7), so with cover duals ``y`` its reduced cost is ``-(sum_{a in X} p_a(k)) + d_k``
with the per-app profit ``p_a(k) = y_a - r_a C_k / R`` and ``d_k`` what the side rows
charge configuration ``k``. Pricing finds, per configuration, the group of apps it can
serve (SLO, kind) with the largest profit subject to Eq. 9. Eq. 9 is not monotone in the
group (a low-rate app with a tight SLO can shrink ``r_X T_X``), so the search is a
depth-first branch and bound over the apps in SLO order with the exact fold of Eq. 5
and two prunes: the profit still reachable (the positive profits left), and
``r_X T_X <= sum_i r_i t_i`` (each fold step adds at most ``r_i t_i``), which bounds the
batch any extension can fill.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..batching import fold_timeout, max_batch
from ..grid import GPU
from .problem import Problem

#: Profits within this of the threshold count as not improving (scaled units, ~1 = the plan;
#: above the LP's dual feasibility tolerance, 1e-7).
TOLERANCE = 1e-6


@dataclass(frozen=True, eq=False)
class PricingConfigs:
    """The configurations pricing has to consider, as arrays over them: per function kind
    (and GPU memory when a budget row counts it), those no other configuration beats on
    cost, maximum latency and batch at once. A group feasible on a dominated configuration
    is feasible, and cheaper, on the one that dominates it."""

    index: np.ndarray
    cost: np.ndarray
    latency: np.ndarray
    batch: np.ndarray
    is_gpu: np.ndarray
    gpu_mem: np.ndarray

    def __len__(self) -> int:
        return self.index.size


def pricing_configs(problem: Problem) -> PricingConfigs:
    """The non-dominated configurations of ``problem`` (see :class:`PricingConfigs`)."""
    g = problem.grid
    ok = np.flatnonzero(g.memory_ok)
    by_mem = problem.side.gpu_memory_budget is not None
    key = g.kind[ok] * 10_000 + (g.gpu_mem[ok] if by_mem else 0)
    keep = []
    for k in np.unique(key):
        idx = ok[key == k]
        idx = idx[np.lexsort((idx, g.batch[idx], g.latency_max[idx], g.cost[idx]))]
        lat, b = g.latency_max[idx], g.batch[idx]
        dominated = np.zeros(idx.size, bool)
        for start in range(0, idx.size, 512):  # earlier in cost order and no worse on latency and batch
            stop = min(idx.size, start + 512)
            before = np.arange(idx.size)[None, :] < np.arange(start, stop)[:, None]
            dominated[start:stop] = (before & (lat[None, :] <= lat[start:stop, None])
                                     & (b[None, :] <= b[start:stop, None])).any(axis=1)
        keep.append(idx[~dominated])
    index = np.sort(np.concatenate(keep))
    return PricingConfigs(index, g.cost[index], g.latency_max[index], g.batch[index], g.kind[index] == GPU,
                          np.where(g.kind[index] == GPU, g.gpu_mem[index], 0))


def serves(problem: Problem, configs: PricingConfigs) -> np.ndarray:
    """``serves[k, a]``: configuration ``k`` meets app ``a``'s SLO and kind (Eq. 10)."""
    slo = np.array([a.slo for a in problem.apps])
    kinds = np.array([[("cpu" in k), ("gpu" in k)] for k in problem.app_kinds])  # (n, 2)
    return (configs.latency[:, None] <= slo[None, :]) & kinds[:, configs.is_gpu.astype(int)].T


def fills(problem: Problem, configs: PricingConfigs, chosen: np.ndarray) -> np.ndarray:
    """Whether each configuration's chosen group (a boolean row over the apps, canonical
    order) meets Eq. 9, with the same fold as provisioning; vectorised over configurations."""
    T = np.zeros(len(configs))
    rho = np.zeros(len(configs))
    for i, a in enumerate(problem.apps):
        on = chosen[:, i]
        t = a.slo - configs.latency
        first = on & (rho == 0)
        rest = on & (rho > 0)
        T[first], rho[first] = t[first], a.rate
        if rest.any():
            T[rest], rho[rest] = fold_timeout(T[rest], rho[rest], t[rest], a.rate)
    return (configs.batch == 1) | ((rho > 0) & (configs.batch <= max_batch(rho, T)))


class _Search:
    """One configuration's branch and bound over the apps it serves (canonical order)."""

    def __init__(self, apps: np.ndarray, profit: np.ndarray, rate: np.ndarray, timeout: np.ndarray, batch: int,
                 conflicts: np.ndarray):
        self.apps = [int(a) for a in apps]
        self.profit, self.rate, self.timeout = profit.tolist(), rate.tolist(), timeout.tolist()
        self.batch = batch
        self.conflicts = [int(c) for c in conflicts]
        self.best_left = _suffix(np.maximum(profit, 0))
        self.free_fill, self.paid_fill = _cover(profit, rate * timeout)  # for r_X T_X <= sum r t
        self.free_rate, self.paid_rate = _cover(profit, rate)  # for T_X <= T + 1/rho - 1/r_X
        self.complete = True

    @staticmethod
    def _penalty(paid: list[tuple[float, float, int]], deficit: float, i: int) -> float:
        """Least profit lost covering ``deficit`` with non-positive apps from position ``i``
        on, fractionally, cheapest per unit first (inf when they cannot cover it)."""
        lost = 0.0
        for price, amount, j in paid:
            if j >= i:
                use = amount if amount < deficit else deficit
                lost += price * use
                deficit -= use
                if deficit <= 0:
                    return lost
        return math.inf

    def groups(self, threshold: float, improve: bool, budget: int | None = None) -> Iterator[tuple[int, float]]:
        """Feasible groups with profit above ``threshold`` as ``(mask, profit)``; with
        ``improve`` the threshold rises to each group found (so the last is the best). After
        ``budget`` nodes the search stops and :attr:`complete` is False."""
        need = (self.batch - 1) * (1 - 1e-12)  # Eq. 9: r_X T_X >= b - 1
        n = len(self.apps)
        stack = [(0, 0, 0.0, 0.0, 0.0)]  # (position, mask, T, rho, profit)
        nodes = 0
        while stack:
            nodes += 1
            if budget is not None and nodes > budget:
                self.complete = False
                return
            i, mask, T, rho, value = stack.pop()
            reach = value + self.best_left[i]
            if reach <= threshold + TOLERANCE:
                continue
            deficit = need - rho * T - self.free_fill[i]  # r_X T_X <= current + sum of r t taken later
            if deficit > 0 and reach - self._penalty(self.paid_fill, deficit, i) <= threshold + TOLERANCE:
                continue
            if rho > 0:  # r_X T_X <= r_X (T + 1/rho) - 1: the group needs rate (b) / (T + 1/rho)
                deficit = (need + 1) / (T + 1 / rho) - rho - self.free_rate[i]
                if deficit > 0 and reach - self._penalty(self.paid_rate, deficit, i) <= threshold + TOLERANCE:
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
        deficit = (self.batch - 1) - self.free_fill[0]
        return self.best_left[0] - (self._penalty(self.paid_fill, deficit, 0) if deficit > 0 else 0.0)


def _suffix(x: np.ndarray) -> list[float]:
    return np.concatenate([np.cumsum(x[::-1])[::-1], [0.0]]).tolist()


def _cover(profit: np.ndarray, amount: np.ndarray) -> tuple[list[float], list[tuple[float, float, int]]]:
    """For a covering constraint on ``sum amount``: what the positive apps from each position on
    bring for free, and the others as ``(profit lost per unit, amount, position)``, cheapest first."""
    neg = np.flatnonzero((profit <= 0) & (amount > 0))
    order = neg[np.argsort(-profit[neg] / amount[neg], kind="stable")]
    return (_suffix(np.where(profit > 0, amount, 0.0)),
            [(float(-profit[j] / amount[j]), float(amount[j]), int(j)) for j in order])


def _conflicts(problem: Problem) -> np.ndarray:
    out = np.zeros(problem.n, dtype=object)
    out[:] = 0
    for pair in problem.side.isolate:
        m = problem.mask_of(pair)
        for i in range(problem.n):
            if m >> i & 1:
                out[i] |= m & ~(1 << i)
    return out


class Pricer:
    """Exact pricing over :func:`pricing_configs` for one problem (reused every iteration)."""

    def __init__(self, problem: Problem, scale: float):
        self.problem = problem
        self.configs = pricing_configs(problem)
        self.serves = serves(problem, self.configs)
        self.rates = np.array([a.rate for a in problem.apps])
        self.slos = np.array([a.slo for a in problem.apps])
        self.weight = scale * self.rates[None, :] / problem.total_rate * self.configs.cost[:, None]
        self.conflicts = _conflicts(problem)
        index = {a.name: i for i, a in enumerate(problem.apps)}
        self.pairs = [(index[a], index[b]) for a, b in problem.side.isolate]

    def _profits(self, duals: np.ndarray) -> np.ndarray:
        return np.where(self.serves, duals[None, :] - self.weight, -np.inf)

    def _search(self, k: int, profit: np.ndarray) -> _Search:
        apps = np.flatnonzero(self.serves[k])
        return _Search(apps, profit[k, apps], self.rates[apps], self.slos[apps] - self.configs.latency[k],
                       int(self.configs.batch[k]), self.conflicts[apps])

    def price(self, duals: np.ndarray, charge: np.ndarray, budget: int | None = 2_000
              ) -> tuple[float, list[tuple[int, int]]]:
        """An upper bound on the largest profit of any column (``max_X sum p - charge_k``; <= 0
        means none prices out; exact when ``budget`` is None) and improving groups found, as
        ``(config, mask)``. Each configuration's search stops after ``budget`` nodes, its
        bound then the relaxation of :meth:`_Search.relaxation`."""
        profit = self._profits(duals)
        positive = profit > 0
        value = np.where(positive, profit, 0).sum(axis=1) - charge
        candidate = value > TOLERANCE
        quick = np.zeros(len(self.configs), bool)
        if candidate.any():
            quick[candidate] = fills(self.problem, self._subset(candidate), positive[candidate])
        for i, j in self.pairs:  # a positive set holding an isolated pair is searched
            quick &= ~(positive[:, i] & positive[:, j])
        best, found = 0.0, []
        for k in np.flatnonzero(candidate):
            if quick[k]:
                found.append((int(k), self._mask(positive[k])))
                best = max(best, float(value[k]))
                continue
            search = self._search(int(k), profit)
            if search.relaxation() - float(charge[k]) <= TOLERANCE:
                continue
            last = deque(search.groups(float(charge[k]), improve=True, budget=budget), maxlen=1)  # the best
            hit = last[0] if last else None
            if hit is not None:
                found.append((int(k), hit[0]))
            if search.complete:
                best = max(best, -math.inf if hit is None else hit[1] - float(charge[k]))
            else:
                best = max(best, search.relaxation() - float(charge[k]))
        return best, found

    def enumerate(self, duals: np.ndarray, charge: np.ndarray, slack: float, limit: int) -> set[int] | None:
        """Every group with a configuration whose reduced cost is at most ``slack`` (profit
        >= -slack); None when there are more than ``limit``."""
        profit = self._profits(duals)
        out: set[int] = set()
        for k in range(len(self.configs)):
            for mask, _ in self._search(k, profit).groups(float(charge[k]) - slack, improve=False):
                out.add(mask)
                if len(out) > limit:
                    return None
        return out

    def _subset(self, sel: np.ndarray) -> PricingConfigs:
        c = self.configs
        return PricingConfigs(c.index[sel], c.cost[sel], c.latency[sel], c.batch[sel], c.is_gpu[sel], c.gpu_mem[sel])

    @staticmethod
    def _mask(row: np.ndarray) -> int:
        return sum(1 << int(i) for i in np.flatnonzero(row))
