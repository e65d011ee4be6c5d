"""Exact pricing for column generation under the full-batch model
(``formulations/column_generation.md``).

A column is a group ``X`` on a configuration ``k``. Its weight is ``(r_X / R) C_k``
(Eq. 7), so with cover duals ``y`` its reduced cost is ``-(sum_{a in X} p_a(k)) + d_k``
with the per-app profit ``p_a(k) = y_a - r_a C_k / R`` and ``d_k`` what the side rows
charge configuration ``k``. Pricing finds, per configuration, the group of apps it can
serve (SLO, kind) with the largest profit subject to Eq. 9: at once where the apps of
positive profit (of a pair in conflict, the one of larger profit: :meth:`Pricer.kept`) fill
the batch, else by the branch and bound of :mod:`.branch_bound`
(Eq. 9 is not monotone in the group: a low-rate app with a tight SLO can shrink
``r_X T_X``).
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from .._cores import usable_cores
from ..grid import GPU
from .branch_bound import BISECTIONS, KEEP, TOLERANCE, GroupSearch, conflict_matching
from .kernels import PACKING, ready
from .penalty import fill_penalty, packing_penalty
from .pricing_configs import PricingConfigs, fills, kinds_allowed, priced_as, pricing_configs, serves
from .problem import Problem

#: Improving groups a round of pricing looks for before it stops searching.
ENOUGH = 50
#: Configurations searched at once, each in a thread (the compiled search releases the GIL):
#: the cores this process may use, at most 4. ``expected_bound``'s row pricing splits its
#: calls over as many (:data:`.expected_relaxed.PARALLEL_ROWS`).
THREADS = min(4, usable_cores())
#: Searches with a node budget of at least this (or none) run in threads; shallower ones take
#: less time than handing them to a thread (n = 30: 7 ms a round alone, 15 ms in two threads).
PARALLEL_NODES = 20_000
#: Configurations (those of largest pricing bound) in the packing LP of :meth:`Pricer.packing`.
PACKING_CONFIGS = 40

T = TypeVar("T")


def cheapest_cover(profit: np.ndarray, size: np.ndarray, deficit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the least profit lost covering ``deficit`` (sizes summing to at least it) with
    the row's items of finite, non-positive profit and positive size, fractionally, cheapest
    per unit of size first: ``(lost, x)``, ``x`` the fraction of each item used; ``lost`` is
    inf where those items cannot cover the deficit, and 0 where it is not positive."""
    served = np.isfinite(profit)
    paid = served & (profit <= 0) & (size > 0)
    with np.errstate(over="ignore"):  # a tiny size: an item no cheaper than inf per unit
        price = np.where(paid, -np.where(served, profit, 0.0) / np.where(size > 0, size, 1.0), np.inf)
    order = np.argsort(price, axis=1, kind="stable")
    q = np.take_along_axis(price, order, axis=1)
    finite = np.isfinite(q)
    a = np.where(finite, np.take_along_axis(size, order, axis=1), 0.0)
    before = np.cumsum(a, axis=1) - a  # covered before each item
    use = np.clip(deficit[:, None] - before, 0.0, a)
    lost = (np.where(finite, q, 0.0) * use).sum(axis=1)
    x = np.zeros(profit.shape)
    np.put_along_axis(x, order, np.where(a > 0, use / np.where(a > 0, a, 1.0), 0.0), axis=1)
    return np.where(a.sum(axis=1) >= deficit * (1 - 1e-12), lost, np.inf), x


def _in_order(fn: Callable[[int, threading.Event | None], T], items: list[int], ahead: list[bool],
              threads: int) -> Generator[T, None, None]:
    """``fn(item, stop)`` over ``items``, results in order. The items marked ``ahead`` are
    computed by ``threads`` threads, in order and ahead of the consumer, so they go on while it
    waits for a long one or computes the others itself (``stop`` None), as they come. Closing
    the generator (the consumer has enough, or Ctrl-C) cancels what has not started, sets
    ``stop`` (``fn`` returns soon once it is set: its result is not used) and waits for what has."""
    if threads <= 1 or sum(ahead) <= 1:
        yield from (fn(item, None) for item in items)
        return
    stop = threading.Event()
    with ThreadPoolExecutor(threads, thread_name_prefix="harmonybatch-pricing") as pool:
        futures = [pool.submit(fn, item, stop) if early else None for item, early in zip(items, ahead)]
        try:
            for item, future in zip(items, futures):
                yield fn(item, None) if future is None else future.result()
        finally:
            stop.set()
            for future in futures:
                if future is not None:
                    future.cancel()


def _root(parent: np.ndarray, a: int) -> int:
    while parent[a] != a:
        a = parent[a]
    return int(a)


class Pricer:
    """Exact pricing over :func:`pricing_configs` for one problem (reused every iteration)."""

    def __init__(self, problem: Problem, scale: float):
        ready(PACKING, time.perf_counter())  # the packing LP's solver starts loading, in the background
        self.problem = problem
        self.configs = pricing_configs(problem)
        self.serves = serves(problem, self.configs)
        #: per grid configuration, the configuration here it is priced as (-1: none)
        self.priced_as = priced_as(problem, self.configs)
        self.rates = np.array([a.rate for a in problem.apps])
        self.slos = np.array([a.slo for a in problem.apps])
        self.weight = scale * self.rates[None, :] / problem.total_rate * self.configs.cost[:, None]
        shortest = np.where(self.serves, self.configs.latency[:, None], np.inf).min(axis=0)
        self.supply = float((self.rates * np.where(np.isfinite(shortest), self.slos - shortest, 0.0)).sum())
        #: per configuration, what its groups must fill (Eq. 9 relaxed: ``sum_i r_i t_i >= b - 1``)
        self.fill = (self.configs.batch - 1).astype(float)
        #: per configuration and app, what the app adds to filling the batch, at most :attr:`fill`
        self.amount = np.where(self.serves, np.minimum(self.rates[None, :] * (self.slos[None, :] - self.configs.latency[:, None]),
                                                       self.fill[:, None]), 0.0)
        g = problem.grid
        one = np.flatnonzero((g.batch == 1) & g.memory_ok)
        alone = (g.latency_max[one][None, :] <= self.slos[:, None]) & kinds_allowed(problem)[:, (g.kind[one] == GPU).astype(int)]
        #: per app, its weight alone on its cheapest batch-1 configuration (inf: none serves it)
        cheapest = np.where(alone, g.cost[one][None, :], np.inf).min(axis=1, initial=np.inf)
        served = np.isfinite(cheapest)
        self.alone = np.full(problem.n, np.inf)
        self.alone[served] = scale * self.rates[served] / problem.total_rate * cheapest[served]
        index = {a.name: i for i, a in enumerate(problem.apps)}
        self.pairs = [(index[a], index[b]) for a, b in problem.side.isolate]
        self.conflicts = np.zeros((problem.n, problem.n), bool) if self.pairs else None
        for i, j in self.pairs:
            self.conflicts[i, j] = self.conflicts[j, i] = True
        #: disjoint pairs of apps in conflict (:func:`.branch_bound.conflict_matching`): a group
        #: takes at most one app of each
        self.matching = conflict_matching(self.conflicts) if self.pairs else np.zeros((0, 2), np.int64)
        self.together: list[tuple[int, int]] = []
        self.forbidden: tuple[int, ...] = ()  # configurations a node of branch and price rules out
        self.leader: np.ndarray | None = None  # per app, the first app of its class of `together` (itself: none)
        self._searches: dict[int, GroupSearch] = {}  # per configuration, its search (:meth:`_search`)

    def restricted(self, together: list[tuple[int, int]], apart: list[tuple[int, int]],
                   forbidden: tuple[int, ...] = ()) -> Pricer:
        """This pricer for the groups that hold both or neither app of each ``together`` pair
        and not both of each ``apart`` pair (app indices), on configurations other than the
        ``forbidden`` ones (positions here): a node of branch and price. The classes
        ``together`` joins are taken whole: a configuration serves a class only when it
        serves every member, and two classes conflict when any two members do."""
        n = self.problem.n
        first = np.arange(n)
        for i, j in together:  # union-find on the first member of each class
            a, b = _root(first, i), _root(first, j)
            first[max(a, b)] = min(a, b)
        first = np.array([_root(first, a) for a in range(n)])
        same = first[:, None] == first[None, :]
        out = copy.copy(self)
        out._searches = {}
        out.serves = self.serves.copy()
        out.serves[list(forbidden)] = False
        out.forbidden = tuple(forbidden)
        for c in np.unique(first[np.bincount(first, minlength=n)[first] > 1]):
            members = first == c
            out.serves[:, members] &= out.serves[:, members].all(axis=1, keepdims=True)
        conflicts = np.zeros((n, n), bool) if self.conflicts is None else self.conflicts.copy()
        for i, j in apart:
            conflicts[i, j] = conflicts[j, i] = True
        conflicts = (same.astype(np.int64) @ conflicts.astype(np.int64) @ same.astype(np.int64)) > 0
        out.conflicts = conflicts if conflicts.any() else None
        out.pairs = [(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(conflicts)))]
        out.matching = conflict_matching(conflicts)
        out.together = [(int(c), int(a)) for a, c in enumerate(first) if c != a]
        out.leader = first if out.together else None
        return out

    def classes(self) -> list[int]:
        """The masks of :meth:`restricted`'s classes of two apps or more."""
        if self.leader is None:
            return []
        return [sum(1 << int(a) for a in np.flatnonzero(self.leader == c)) for c in np.unique(self.leader)
                if (self.leader == c).sum() > 1]

    def pool(self, duals: np.ndarray) -> np.ndarray:
        """The cover duals with each class of :meth:`restricted`'s ``together`` holding the sum
        of its members' on its first app: the same reduced cost for every group that keeps the
        class whole, and the same ``y.b``; only apps left uncovered (the elastic columns of a
        node) told them apart, and their large, opposite duals would blunt the searches."""
        if self.leader is None:
            return duals
        pooled = np.zeros_like(duals)
        np.add.at(pooled, self.leader, duals[:self.leader.size])
        return np.concatenate([pooled[:self.leader.size], duals[self.leader.size:]])

    def _profits(self, duals: np.ndarray) -> np.ndarray:
        """Per configuration and app, the profit ``y_a - w_a(k)`` (-inf where not served). At a
        node, each class of ``together`` carries its members' total on its first app and 0 on
        the others: the same total for every group that keeps the class whole, and bounds
        that count the class once, as the search takes it (the others follow the first)."""
        profit = np.where(self.serves, duals[None, :] - self.weight, -np.inf)
        if self.leader is None:
            return profit
        follow = np.flatnonzero(self.leader != np.arange(self.problem.n))
        served = self.serves[:, follow]
        np.add.at(profit.T, self.leader[follow], np.where(served, profit[:, follow], 0.0).T)
        profit[:, follow] = np.where(served, 0.0, -np.inf)
        return profit

    def _search(self, k: int, profit: np.ndarray) -> GroupSearch:
        """Configuration ``k``'s search at these profits; what does not depend on them (its
        apps, rates, timeouts, conflicts) is made once per pricer."""
        made = self._searches.get(k)
        if made is not None:
            return made.reprice(profit[k, made.apps])
        apps = np.flatnonzero(self.serves[k])
        made = self._searches[k] = GroupSearch(
            apps, profit[k, apps], self.rates[apps], self.slos[apps] - self.configs.latency[k],
            int(self.configs.batch[k]), None if self.conflicts is None else self.conflicts[np.ix_(apps, apps)],
            None if self.leader is None else np.where(self.leader[apps] == apps, -1,
                                                      np.searchsorted(apps, self.leader[apps])))
        return made

    def search(self, k: int, duals: np.ndarray) -> GroupSearch:
        """Configuration ``k``'s search (a position here) at these cover duals."""
        return self._search(k, self._profits(duals))

    def relaxations(self, profit: np.ndarray) -> np.ndarray:
        """An upper bound on every configuration's best profit, at once (vectorised): Eq. 9
        relaxed to ``sum_i r_i t_i >= b - 1`` (each fold step adds at most ``r_i t_i``), as a
        fractional covering knapsack: the positive profits, less the cheapest fractional
        filling by the others (-inf when even that cannot fill the batch)."""
        served = np.isfinite(profit)
        positive = profit > 0
        amount = np.where(served, self.rates[None, :] * (self.slos[None, :] - self.configs.latency[:, None]), 0.0)
        gain = np.where(positive, profit, 0.0).sum(axis=1)
        deficit = (self.configs.batch - 1) - np.where(positive, amount, 0.0).sum(axis=1)
        lost, _ = cheapest_cover(profit, amount, deficit)
        # a group takes one app of each pair in conflict at most: no more than the apps kept
        return np.minimum(np.where(deficit > 0, gain - lost, gain), np.where(self.kept(profit), profit, 0.0).sum(axis=1))

    def kept(self, profit: np.ndarray) -> np.ndarray:
        """Per configuration, the apps of positive profit less, of each pair of
        :attr:`matching` both positive, the one of smaller profit. A group that keeps the
        conflicts gains at most what these do, as it leaves out one app of each such pair
        (the pairs are disjoint); so where these fill the batch and keep every conflict, they
        are the configuration's best group (formulations/column_generation.md, "Pricing")."""
        kept = profit > 0
        if self.matching.size:
            i, j = self.matching.T
            rows, pairs = np.nonzero(kept[:, i] & kept[:, j])
            smaller = np.where(profit[rows, i[pairs]] < profit[rows, j[pairs]], i[pairs], j[pairs])
            kept[rows, smaller] = False
        return kept

    def price(self, duals: np.ndarray, charge: np.ndarray, budget: int | np.ndarray | None = 2_000,
              enough: int | None = ENOUGH,
              deadline: float | None = None, bisections: int = BISECTIONS) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Per configuration, an upper bound (>= 0) on the largest profit of its columns
        (``max_X sum p - charge_k``; 0: none prices out), and improving groups found, as
        ``(config, mask)``.

        Configurations whose positive apps (:meth:`kept`: of a pair in conflict, the one of
        larger profit) fill the batch are priced at once; the others are
        searched in order of their relaxation (:meth:`GroupSearch.best` with ``bisections``
        searches, each stopping after ``budget`` nodes (per configuration when an array) or at
        ``deadline``) until ``enough`` groups are found. Each gets the upper bound its search
        proved, or its relaxation when not searched, so with ``budget`` and ``enough`` None (and
        no deadline reached) the bounds are the exact maxima. Searches with budgets of
        :data:`PARALLEL_NODES` or more run :data:`THREADS` at once, ahead of the results, which
        are taken in order: the same results as in one thread."""
        profit = self._profits(duals)
        positive = self.kept(profit)  # (the apps of positive profit, one of each pair in conflict)
        value = np.where(positive, profit, 0).sum(axis=1) - charge
        candidate = value > TOLERANCE
        quick = np.zeros(len(self.configs), bool)
        if candidate.any():  # (a bonus alone makes a candidate of a configuration without positive apps)
            quick[candidate] = fills(self.problem, self._subset(candidate), positive[candidate]) & positive[
                candidate].any(axis=1)
        for i, j in self.pairs:  # a set still holding a pair in conflict (pairs not disjoint) is searched
            quick &= ~(positive[:, i] & positive[:, j])
        for i, j in self.together:  # as one splitting a class
            quick &= positive[:, i] == positive[:, j]
        found = [(int(k), self._mask(positive[k])) for k in np.flatnonzero(candidate & quick)]
        if deadline is not None and time.perf_counter() > deadline:
            # past it, not even the relaxations (0.9 s at 5,000 apps and 860 configurations, a call
            # given 5 s ended 0.3 s past it): the profits of the apps kept bound each configuration
            return np.where(candidate, value, 0.0), found
        relax = self.relaxations(profit) - charge
        best = np.where(candidate & quick, value, 0.0)  # (profit - charge <= TOLERANCE counts as none)
        rest = np.flatnonzero(candidate & ~quick & (relax > TOLERANCE))
        order = rest[np.argsort(-relax[rest], kind="stable")]
        # each configuration's node budget (-1: none)
        nodes = np.full(len(self.configs), -1) if budget is None else np.broadcast_to(budget, len(self.configs))

        def search(k: int, stop: threading.Event | None) -> tuple[list[tuple[int, float]], float, GroupSearch]:
            made = self._search(k, profit)
            return *made.best(float(charge[k]), float(relax[k] + charge[k]), None if nodes[k] < 0 else int(nodes[k]),
                              deadline, bisections, stop, settle=False), made

        # deep searches run in threads, ahead; shallow ones cost less than handing them to a thread
        deep = (nodes[order] < 0) | (nodes[order] >= PARALLEL_NODES)
        searched = _in_order(search, order.tolist(), deep.tolist(), THREADS)
        try:
            for at, k in enumerate(order.tolist()):
                if (enough is not None and len(found) >= enough) or (deadline is not None and time.perf_counter() > deadline):
                    best[order[at:]] = relax[order[at:]]
                    break
                groups, upper, made = next(searched)
                made.settle()  # (only the searches taken count in the back-off: the same as in one thread)
                found.extend((k, mask) for mask, _ in groups[-KEEP:])  # the best last
                best[k] = max(0.0, upper - float(charge[k]))
        finally:
            searched.close()  # searches run ahead and not needed are cancelled or discarded
        return best, found

    def penalty(self, upper: np.ndarray, most: int, duals: np.ndarray, charge: np.ndarray | None = None) -> float:
        """An upper bound on ``-sum rc`` over the columns of any plan, given :meth:`price`'s
        bounds at ``duals`` and ``charge`` (``formulations/column_generation.md``, "The master
        and the bound"). A column of configuration ``k`` gains at most ``upper[k]`` and at
        most the positive profits ``p_a(k)`` of its apps plus what a negative charge gives it
        (a node's row asking for columns of ``k``), which is at most that bonus per app; so,
        as ``min(U, .)`` is subadditive, a plan gains at most
        ``sum_a max_k min(upper_k, p_a(k)^+ + bonus_k)``. A column that prices out holds an
        app of positive share, so such columns number at most those apps (and ``most``),
        and together they fill their batches from at most :attr:`supply`:
        :func:`fill_penalty`. The smaller of the two bounds (:meth:`packing` holds all three
        together, with each app in one column, at the cost of an LP)."""
        gain = np.maximum(upper, 0.0)
        if not (gain > 0).any():
            return 0.0
        share = self._shares(gain, duals, charge).max(axis=0)
        count = min(int(most), int((share > 0).sum()))
        return min(float(share.sum()), fill_penalty(gain, self.fill, count, self.supply))

    def packing(self, upper: np.ndarray, most: int, duals: np.ndarray, charge: np.ndarray | None = None,
                deadline: float | None = None) -> float:
        """An upper bound on what the columns of any plan gain, given :meth:`price`'s bounds at
        ``duals`` and ``charge``: the packing LP (:func:`.penalty.packing_penalty`) over the
        :data:`PACKING_CONFIGS` configurations of largest bound, with the per-app shares of
        :meth:`penalty`, the batches filled by what each app adds (:attr:`amount`) and at most
        ``most`` columns, each holding an app of positive share; plus :meth:`penalty`'s
        closed forms over the other configurations, which bound what a plan's columns on them
        gain. The LP's size is its time: 456 configurations took 0.2 s at n = 30."""
        gain = np.maximum(upper, 0.0)
        shares = self._shares(gain, duals, charge)
        count = min(int(most), int((shares.max(axis=0, initial=0.0) > 0).sum()))
        big = np.zeros(gain.size, bool)
        big[np.argsort(-gain, kind="stable")[:PACKING_CONFIGS]] = True
        rest = np.where(big, 0.0, gain)
        bound = packing_penalty(np.where(big, gain, 0.0), shares, np.where(self.serves, self.amount, 0.0), self.fill, count,
                                deadline)
        if (rest > 0).any():
            bound += min(float(shares[~big].max(axis=0).sum()), fill_penalty(rest, self.fill, count, self.supply))
        return bound

    def blame(self, upper: np.ndarray, duals: np.ndarray, charge: np.ndarray | None = None) -> np.ndarray:
        """Per configuration, the part of :meth:`penalty`'s per-app sum it carries: the shares
        of the apps for which it gives the largest ``min(upper_k, p_a(k)^+ + bonus_k)``. Where
        the bound is loose, these are the configurations whose pricing bounds to tighten."""
        share = self._shares(np.maximum(upper, 0.0), duals, charge)
        top = share.argmax(axis=0)
        return np.bincount(top, weights=share[top, np.arange(share.shape[1])], minlength=len(self.configs))

    def _shares(self, gain: np.ndarray, duals: np.ndarray, charge: np.ndarray | None = None) -> np.ndarray:
        """``min(gain_k, p_a(k)^+ + bonus_k)`` per configuration and app (``bonus_k``: the
        negative part of ``charge_k``; 0 where ``k`` does not serve ``a``)."""
        share = np.maximum(self._profits(duals), 0.0)
        if charge is not None and (charge < 0).any():
            share = np.where(self.serves, share - np.minimum(charge, 0.0)[:, None], 0.0)
        return np.minimum(share, gain[:, None])

    def enumerate(self, duals: np.ndarray, charge: np.ndarray, slack: float, limit: int,
                  deadline: float | None = None) -> dict[int, int] | None:
        """Every group with a configuration whose reduced cost is at most ``slack`` (profit
        >= charge - slack; the search prunes within :data:`TOLERANCE` of that, so a group
        within it of the slack may be left out), with the grid index of the cheapest such
        configuration; None when
        there are more than ``limit`` or ``deadline`` passes. Without side rows (``charge``
        0) that configuration costs what the group's optimum does when the optimum's batch
        is above 1: the optimum, or a configuration dominating it, is priced, and its reduced
        cost is no larger. (On a batch-1 optimum a group costs no less than its apps alone.)"""
        profit = self._profits(duals)
        keep = self.relaxations(profit) - charge >= -slack - TOLERANCE
        out: dict[int, int] = {}
        for k in np.flatnonzero(keep):
            if deadline is not None and time.perf_counter() > deadline:
                return None
            search = self._search(int(k), profit)
            index = int(self.configs.index[k])
            for mask, _ in search.groups(float(charge[k]) - slack, improve=False, deadline=deadline,
                                         limit=limit - len(out), partial=False):
                if mask not in out or self.configs.cost[k] < self.problem.grid.cost[out[mask]]:
                    out[mask] = index
            if not search.complete or len(out) > limit:
                return None
        return out

    def _subset(self, sel: np.ndarray) -> PricingConfigs:
        c = self.configs
        return PricingConfigs(c.index[sel], c.cost[sel], c.latency[sel], c.batch[sel], c.is_gpu[sel], c.gpu_mem[sel])

    @staticmethod
    def _mask(row: np.ndarray) -> int:
        return sum(1 << int(i) for i in np.flatnonzero(row))
