"""Branch and bound over the groups one configuration can serve: the pricing search of
column generation (``formulations/column_generation.md``, "Pricing").

Apps are visited in SLO order, so the equivalent-timeout fold of Eq. 5 extends by one
step per app taken. A node is pruned when the profit still reachable (the positive
profits left, less the cheapest fractional cover of what Eq. 9 still needs) cannot beat
the threshold. Two covers bound what Eq. 9 needs: ``r_X T_X <= r_X T + sum r_i t_i``
over the apps taken later (each fold step adds at most ``r_i t_i``), and
``T_X <= T + 1/rho - 1/r_X`` (the steps telescope), so the group needs rate
``b / (T + 1/rho)``.

The depth-first search is compiled with numba (:mod:`.branch_bound_kernel`, imported on
first use so that ``import harmonybatch_mp`` stays light) and is resumable: its state
lives in arrays, so :class:`GroupSearch` runs it in slices of nodes and checks the
deadline between them.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import NamedTuple

import numpy as np

#: Profits within this of the threshold count as not improving (scaled units, ~1 = the plan;
#: above the LP's dual feasibility tolerance, 1e-7).
TOLERANCE = 1e-6
#: Nodes per compiled slice between deadline checks (about 10 ms).
SLICE = 200_000
#: Most threshold bisections of :meth:`GroupSearch.best`.
BISECTIONS = 6
#: Groups each search of :meth:`GroupSearch.best` returns: the last (best) it found.
KEEP = 4
#: Nodes of the first search of :meth:`GroupSearch.best` where its budget is larger (or none);
#: where that search does not end, labels price the configuration (:mod:`.label_search`),
#: keeping one per :data:`NODES_PER_LABEL` nodes of the budget (the bisection runs up to six
#: searches of it; 8 million nodes a second, 1 million labels), or :data:`LABELS` without
#: a budget (at most). Past that it searches depth first.
LABEL_NODES = 20_000
#: Apps a configuration serves from which it is priced by labels: below, the depth-first
#: search is faster (n = 30 random BERT: searches of 200,000 nodes took 3.5 ms on average,
#: labels 13 ms, and four of part 4's draws ended with larger gaps).
LABEL_APPS = 40
#: Apps from which only searches without a budget are priced by labels: at n = 150 random
#: VGG19 (120 s), labels on the searches of 2,000,000 nodes took 146 ms each on average
#: against 114 ms depth first, and the gap ended at 1.028% against 0.930%.
LABEL_APPS_CUT = 100
NODES_PER_LABEL = 2
LABELS = 2_000_000
#: Most pairs in conflict a configuration's labels keep in their state (a bit each): past that
#: it is searched depth first.
LABEL_PAIRS = 20
#: Most searches of one configuration run depth first after its labels passed their limit.
BACKOFF = 64
#: Node budget from which :meth:`GroupSearch.best` bounds a configuration by merged labels
#: (:func:`.label_search.merged_bound`), as it does every search without a budget; and the
#: most apps of a configuration it bounds so: at n = 200 (ladder BERT, 60 s) the bounds of
#: configurations of up to 200 apps took 23 s of the run, whose gap went from 4.4% to 11.3%
#: (5.8% with this cut; formulations/column_generation.md, "A bound by merged labels").
MERGED_NODES, MERGED_APPS = 2_000_000, 150


class _Cover(NamedTuple):
    """A covering constraint ``sum amount >= deficit`` over the apps from a position on: the
    positive apps bring their amount for free; the others cost ``-profit`` per app, so the
    cheapest fractional cover takes them in order of price (profit lost per unit)
    (:func:`.branch_bound_kernel.cover`)."""

    price: np.ndarray
    amount: np.ndarray
    free: np.ndarray
    paid_left: np.ndarray
    cheapest_left: np.ndarray
    order: np.ndarray


class GroupSearch:
    """One configuration's branch and bound over the apps it serves (canonical order).

    ``conflicts[i, j]``: apps ``i`` and ``j`` (positions here) must not share a group;
    ``leader[i] >= 0``: app ``i`` is in a group exactly when app ``leader[i] < i`` is."""

    def __init__(self, apps: np.ndarray, profit: np.ndarray, rate: np.ndarray, timeout: np.ndarray, batch: int,
                 conflicts: np.ndarray | None = None, leader: np.ndarray | None = None):
        self.apps = np.asarray(apps, dtype=np.int64)
        n = self.apps.size
        self.profit = np.ascontiguousarray(profit, dtype=float)
        self.rate = np.ascontiguousarray(rate, dtype=float)
        self.timeout = np.ascontiguousarray(timeout, dtype=float)
        self.batch = int(batch)
        self.conflicts = np.zeros((n, n), bool) if conflicts is None else np.ascontiguousarray(conflicts, bool)
        self.clash = self.conflicts.any(axis=0)
        self.pairs = conflict_matching(self.conflicts)
        self.leader = np.full(n, -1, np.int64) if leader is None else np.ascontiguousarray(leader, np.int64)
        self.follow = np.flatnonzero(self.leader >= 0).astype(np.int64)
        #: per app, its partner in conflict (-1: none), and per first app of a pair its bit in
        #: the labels' state (-1 for the others); labels need the conflicts to be these pairs
        self.partner, self.bit = np.full(n, -1, np.int64), np.full(n, -1, np.int64)
        self.partner[self.pairs[:, 0]], self.partner[self.pairs[:, 1]] = self.pairs[:, 1], self.pairs[:, 0]
        self.bit[self.pairs[:, 0]] = np.arange(len(self.pairs))
        paired = int(np.triu(self.conflicts, 1).sum()) == len(self.pairs) <= LABEL_PAIRS
        #: whether :meth:`best` may price by labels (:mod:`.label_search`: no classes, conflicts
        #: in disjoint pairs, and :data:`LABEL_APPS` apps or more)
        free = paired and not self.follow.size
        self.labels = n >= LABEL_APPS and free
        #: whether :meth:`best` may bound it by merged labels (the same, and at most
        #: :data:`MERGED_APPS` apps)
        self.merges = n <= MERGED_APPS and free
        #: searches left to run depth first since the labels last passed their limit, how many
        #: the next time, and that limit (shared with :meth:`reprice`'s copies: the same
        #: configuration)
        self._backoff = [0, 1, 0]
        #: how the last :meth:`best` used labels, for :meth:`settle`: "skipped", "passed" (their
        #: limit), "ended", or None (not tried, or stopped before the end)
        self.outcome: str | None = None
        self._limit = 0  # the labels' limit in the last :meth:`best`
        self._prepare()

    def _prepare(self) -> None:
        from .branch_bound_kernel import prepare

        # r_X T_X <= sum r t (each fold step adds <= r t); T_X <= T + 1/rho - 1/r_X from any state (T, rho)
        n = self.profit.size
        out, order, self.prefer = np.empty((11, n + 1)), np.empty((2, n), np.int64), np.empty(n, np.bool_)
        paid_fill, paid_rate = prepare(self.profit, self.rate, self.timeout, self.batch, self.leader, self.pairs, out, order,
                                       self.prefer)
        self.best_left = out[0]
        self.fill = _Cover(out[1, :n], out[2, :n], out[3], out[4], out[5], order[0, :paid_fill])
        self.rate_cover = _Cover(out[6, :n], out[7, :n], out[8], out[9], out[10], order[1, :paid_rate])
        self.complete = True

    def reprice(self, profit: np.ndarray) -> GroupSearch:
        """This search over the same apps and configuration with other ``profit`` (per app
        here): only the arrays that depend on the profits are made anew (a round of pricing
        searches each configuration with the round's duals)."""
        out = copy.copy(self)
        out.profit = np.ascontiguousarray(profit, dtype=float)
        out._prepare()
        return out

    def groups(self, threshold: float, improve: bool, budget: int | None = None, deadline: float | None = None,
               limit: int | None = None, last: int | None = None,
               stop: threading.Event | None = None, partial: bool = True) -> list[tuple[int, float]]:
        """Feasible groups with profit above ``threshold`` as ``(mask, profit)``, in the order
        found (only the ``last`` ones when given); with ``improve`` the threshold rises to each
        group found (so the last is the best). After ``budget`` nodes, at ``deadline``, past
        ``limit`` groups, or once ``stop`` is set, the search stops and :attr:`complete` is False;
        without ``partial`` it then returns no group (their masks took 0.33 s for 100,001
        groups of up to 126 apps, which an enumeration cut short throws away)."""
        from .branch_bound_kernel import DONE, RUNNING, search

        n = self.apps.size
        state = np.zeros(4, np.int64)  # depth, nodes, groups found, status
        T, rho, value = np.zeros(n + 1), np.zeros(n + 1), np.zeros(n + 1)
        stage, took = np.zeros(n + 1, np.int8), np.zeros(n + 1, np.bool_)
        level = np.array([float(threshold)])
        found, values = np.zeros((16, n), np.bool_), np.zeros(16)
        cap = -1 if limit is None else int(limit) + 1
        while True:
            nodes = SLICE if budget is None else min(SLICE, budget - int(state[1]))
            status = search(
                self.profit, self.prefer, self.rate, self.timeout, self.batch, self.conflicts, self.clash, self.pairs,
                self.leader, self.follow, self.best_left,
                self.fill.free, self.fill.price, self.fill.amount, self.fill.paid_left, self.fill.cheapest_left,
                self.fill.order, self.rate_cover.free, self.rate_cover.price, self.rate_cover.amount,
                self.rate_cover.paid_left, self.rate_cover.cheapest_left, self.rate_cover.order,
                improve, cap, int(state[1]) + nodes, state, T, rho, value, stage, took, level, found, values)
            if status != RUNNING:
                break
            if state[2] == found.shape[0]:  # full: grown, and the search resumes at the node it stopped before
                found = np.concatenate([found, np.zeros_like(found)])
                values = np.concatenate([values, np.zeros_like(values)])
                continue
            if (budget is not None and state[1] >= budget) or (deadline is not None and time.perf_counter() > deadline) \
                    or (stop is not None and stop.is_set()):
                break
        self.complete = status == DONE
        if not (self.complete or partial):
            return []
        first = 0 if last is None else max(0, int(state[2]) - last)
        return list(zip(self.masks(found[first:state[2]]), values[first:state[2]].tolist()))

    def masks(self, rows: np.ndarray) -> list[int]:
        """The groups of ``rows`` (a boolean row per group over the apps here) as masks over the problem's apps."""
        rows = np.asarray(rows, np.bool_)
        if rows.size == 0:
            return [0] * len(rows)
        if self.apps.max() < 63:  # masks fit an int64: one product for them all
            return (rows.astype(np.int64) @ (np.int64(1) << self.apps)).tolist()
        apps = self.apps.tolist()  # Python ints past 63 apps
        return [sum(1 << apps[i] for i in np.flatnonzero(row).tolist()) for row in rows]

    def settle(self) -> None:
        """Count the last :meth:`best` in this configuration's back-off: after labels pass their
        limit, its next 1, 2, 4, ... up to :data:`BACKOFF` searches with no larger a limit go
        depth first (a larger limit tries labels again); once labels end, they are tried every
        time again. (``price`` settles only the searches whose results it takes, so searches
        run ahead in threads leave it as one thread would.)"""
        if self.outcome == "skipped":
            self._backoff[0] -= 1
        elif self.outcome == "passed":
            self._backoff[:] = [self._backoff[1], min(BACKOFF, 2 * self._backoff[1]), self._limit]
        elif self.outcome == "ended":
            self._backoff[:] = [0, 1, 0]
        self.outcome = None

    def _by_labels(self, low: float, high: float, budget: int | None, deadline: float | None,
                   stop: threading.Event | None) -> tuple[list[tuple[int, float]], float] | None:
        """:meth:`best` where the budget is above :data:`LABEL_NODES` (on fewer than
        :data:`LABEL_APPS_CUT` apps) or there is none: a first search of that many nodes, and
        where it does not end, the labels of :mod:`.label_search` from the best it found,
        exactly. None where they pass their limit, or :meth:`settle`'s back-off skips them (the
        caller then bisects depth first); :attr:`outcome` says which."""
        probe = self.groups(low, improve=True, budget=LABEL_NODES, deadline=deadline, last=KEEP, stop=stop)
        if not self.complete:
            from .label_search import label_search

            self._limit = LABELS if budget is None else min(LABELS, budget // NODES_PER_LABEL)
            if self._backoff[0] > 0 and self._limit <= self._backoff[2]:
                self.outcome = "skipped"
                return None
            labelled = label_search(self, probe[-1][1] if probe else low, self._limit, deadline, stop)
            if labelled is None:
                self.outcome = "passed"
                return None
            groups, self.complete = labelled
            probe += groups
            if not self.complete:
                return probe, max(probe[-1][1] if probe else low, high)
            self.outcome = "ended"
        return probe, probe[-1][1] if probe else max(low, min(high, low + TOLERANCE))

    def best(self, low: float, high: float, budget: int | None = None, deadline: float | None = None,
             bisections: int = BISECTIONS, stop: threading.Event | None = None,
             settle: bool = True) -> tuple[list[tuple[int, float]], float]:
        """Groups with profit above ``low`` (the last :data:`KEEP` of each search, best last) and
        an upper bound on the best profit (``high`` is one known already). The first search
        runs from ``low``; while they are cut short, later ones run from thresholds halfway up
        to the bound: one that ends without a group proves the best is at most its threshold,
        one that finds groups raises ``low``, and is the best of all when it ends. Each search
        stops after ``budget`` nodes; the bisection after ``bisections`` searches, at
        ``deadline``, once ``stop`` is set, or when the bound is within 2 tolerances of what is known.
        Where :meth:`_by_labels` prices the configuration, its result instead. Searches
        without a budget, or of :data:`MERGED_NODES` or more, are bounded by merged labels
        (:func:`.label_search.merged_bound`) too: first, taking ``high`` down to their bound
        and ending there where it proves that nothing beats ``low``; and, with a budget, again
        after the searches from the best found, where those leave their bound unproven."""
        self.outcome = None
        merges = self.merges and (budget is None or budget >= MERGED_NODES)
        if merges:
            high = min(high, self._merged(low, deadline, stop))
            if high <= low + TOLERANCE:
                self.complete = True
                return [], high
        found, upper = self._searched(low, high, budget, deadline, bisections, stop, settle)
        known = max([low] + [value for _, value in found])
        if merges and budget is not None and upper - known > 2 * TOLERANCE:
            upper = max(known, min(upper, self._merged(known, deadline, stop)))
        return found, upper

    def _merged(self, threshold: float, deadline: float | None, stop: threading.Event | None) -> float:
        """:func:`.label_search.merged_bound` (inf where it gives none)."""
        from .label_search import merged_bound

        merged = merged_bound(self, threshold, deadline, stop)
        return np.inf if merged is None else merged

    def _searched(self, low: float, high: float, budget: int | None, deadline: float | None, bisections: int,
                  stop: threading.Event | None, settle: bool) -> tuple[list[tuple[int, float]], float]:
        """:meth:`best` by labels or depth first, without merged labels."""
        if self.labels and (budget is None or LABEL_NODES < budget and self.apps.size < LABEL_APPS_CUT):
            priced = self._by_labels(low, high, budget, deadline, stop)
            if settle:
                self.settle()
            if priced is not None:
                return priced
        found: list[tuple[int, float]] = []
        theta = low
        for _ in range(bisections):
            groups = self.groups(theta, improve=True, budget=budget, deadline=deadline, last=KEEP, stop=stop)
            found.extend(groups)
            low = max(low, groups[-1][1]) if groups else low
            if self.complete:
                high = low if groups else min(high, theta + TOLERANCE)  # the search prunes within TOLERANCE
            floor = theta if not (groups or self.complete) else low  # an unproven threshold: try above it
            if self.complete and groups or high - floor <= 2 * TOLERANCE or (
                    deadline is not None and time.perf_counter() > deadline) or (stop is not None and stop.is_set()):
                break
            theta = floor + 0.5 * (high - floor)
        return found, max(low, high)


def conflict_matching(conflicts: np.ndarray) -> np.ndarray:
    """Disjoint pairs ``(i, j)``, ``i < j``, of apps in conflict (greedily, in order): the
    search's bound counts only the larger profit of each pair (a group takes one), and so do
    :meth:`.Pricer.relaxations` and the groups :meth:`.Pricer.price` takes at once."""
    used = np.zeros(conflicts.shape[0], bool)
    pairs = []
    for i, j in zip(*np.nonzero(np.triu(conflicts, 1))):
        if not (used[i] or used[j]):
            used[i] = used[j] = True
            pairs.append((i, j))
    return np.array(pairs, np.int64).reshape(-1, 2)
