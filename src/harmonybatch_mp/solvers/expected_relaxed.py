"""The relaxed columns of the expected-batch bound and their pricing
(``formulations/column_generation.md``, "Under the expected-batch model").

A group ``X`` on configuration ``c`` (batch ``b``, ``u = max_{k<=b} L_max(k)``, maximal
timeouts ``tau_a = s_a - u``) has ``E[K] <= 1 + A_j(X)`` for each member ``j``, ``A_j(X) =
sum_{a in X} z_j(a)``, with ``z_j(a) = r_a (min(tau_a, tau_j) + (1 - e^{-r_j (tau_a -
tau_j)^+}) / r_j)`` (:func:`.expected_anchors.anchored_sizes`): past ``tau_j`` an arrival of
``j`` (rate ``r_j``) closes the buffer. The group's *anchor* ``j`` is its first member in the order of ``s_j + 1/r_j``
(``tau_j + 1/r_j`` bounds when ``j`` alone closes the buffer, on average; the order is the same for
every ``u``), so each group lies in one row. Its cost per request
is at least ``LB_c(1 + A_j(X))`` (``expected_search.lower_bound``, non-increasing), and at
least ``LB_c(l)`` at every level ``l >= 1 + A_j(X)``.

One decay term is weak where several fast members have timeouts close together. So each
anchor has up to ``most`` candidate *partners* (:func:`.expected_anchors.partners`: the apps
after it whose decay, added to the anchor's, cuts an unbounded wait the most), and a group's
partner ``k`` is its anchor's first candidate it holds (none if it holds none): ``A_jk(X)`` keeps both
decay terms, ``z_jk(a) = r_a int_0^{tau_a} e^{-r_j (s - tau_j)^+ - r_k (s - tau_k)^+} ds``.
The pair is fixed by the group, so it still lies in one row.

Configurations of one kind (and, under a GPU memory budget that can bind, of one GPU size:
:func:`budgeted`) that serve the same apps and have nearly the same ``u`` share a bin
(:func:`.expected_bins.config_bins`): a bin takes the smallest ``u`` and, per level, the
smallest bound of its configurations, so its columns cost no more than any of theirs; a bin
no better than another at every level, with no smaller ``u``, is dropped
(:func:`.expected_bins.undominated`). Levels of ``1 + A`` have the
geometric edges ``1, RATIO, RATIO^2, ...`` up to :data:`BEYOND` times the bin's largest batch
(``LB_c`` keeps falling past ``b``: the mean batch only tends to ``b``); the last row holds
every larger ``1 + A`` at ``LB_c(inf)``. A row ``(bin, level, anchor, partner)`` holds the
groups of that anchor and partner whose ``1 + A_jk`` lies between the level's edges: a 0-1
knapsack over the apps after the anchor but its candidates up to the partner, with a lower
and an upper limit, which :func:`.relaxed_kernel.price_rows` bounds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..expected_search import level_bounds, lower_bound
from ..grid import KINDS
from .expected_anchors import PARTNERS, WEIGHED, anchored_sizes, partners
from .expected_bins import config_bins, undominated
from .expected_columns import TOLERANCE, hold, pick
from .problem import Problem

#: Ratio of consecutive levels of ``1 + A`` (the rows' edges: 1, RATIO, RATIO^2, ...).
RATIO = 1.02
#: A bin's rows reach this multiple of its largest batch; its last row holds every larger size.
BEYOND = 2.0
#: The initial runs have every length up to 8 apps, then lengths this factor apart (fewer
#: columns: the master's first LP at n = 300 took 5 s with every length).
LENGTHS = 1.25
#: The initial runs (in SLO order) have at most this many anchors as they grow.
ANCHORS = 8
#: Nodes each row's knapsack may split (:func:`.relaxed_kernel.knapsack_bound`).
NODES = 7
#: Most entries (rows x apps) of one call to the compiled pricing.
CHUNK = 1 << 19
#: A call to the compiled pricing is split over the pricing's threads
#: (``solvers.pricing.THREADS``; the kernel releases the GIL), each taking at least this many rows.
PARALLEL_ROWS = 64
#: Rows of one bin that :meth:`Relaxed.price` makes room for at first (as many as it opens, after).
OPENED = 4096
#: Pieces per thread a split call is cut into (:func:`_split`), at least :data:`PARALLEL_ROWS` rows each.
PIECES = 8


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """The arrays ``parts`` joined; the list is emptied, so that each part is let go as soon
    as it is copied (:meth:`Relaxed.price` joins millions of rows at n = 1,000)."""
    joined = np.concatenate(parts)
    parts.clear()
    return joined


def _split(price: Callable[[slice], None], rows: int) -> None:
    """``price`` over ``rows`` rows, in pieces of :data:`PARALLEL_ROWS` rows or more taken in
    turn by the pricing's threads (each row is priced alone, so the result is the same in
    any pieces). A thread takes the next piece as it finishes one: rows differ in cost (their
    bins serve more or fewer apps), and with one part a thread fixed in advance, two threads
    were busy 78-80% of these calls' time, against 87-88% in :data:`PIECES` pieces a thread
    (``formulations/column_generation.md``, "Setting the rows up, and pricing them in
    threads")."""
    from . import pricing

    threads = max(1, min(pricing.THREADS, rows // PARALLEL_ROWS))
    if threads == 1:
        price(slice(0, rows))
        return
    cuts = np.linspace(0, rows, min(rows // PARALLEL_ROWS, PIECES * threads) + 1).astype(int)
    pieces = iter([slice(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:])])
    lock, stop = threading.Lock(), threading.Event()

    def work() -> None:
        try:
            while not stop.is_set():
                with lock:
                    piece = next(pieces, None)
                if piece is None:
                    return
                price(piece)
        except BaseException:  # (Ctrl-C, or a piece that raised: the other threads take no more)
            stop.set()
            raise

    with ThreadPoolExecutor(threads - 1, thread_name_prefix="harmonybatch-relaxed") as pool:
        futures = [pool.submit(work) for _ in range(threads - 1)]
        work()
        for future in futures:
            future.result()


def budgeted(problem: Problem) -> bool:
    """Whether ``problem``'s GPU memory budget can bind: then each GPU bin holds configurations of
    one GPU memory size, so that a column counts the memory its real groups hold
    (:mod:`.expected_counts`). It cannot where even a plan of ``problem.most_groups`` groups on
    the largest GPUs keeps it."""
    budget = problem.side.gpu_memory_budget
    return budget is not None and budget < problem.most_groups * int(problem.grid.gpu_mem.max(initial=0))


class Relaxed:
    """The bins of the relaxed model for one problem, and its pricing at given duals; levels
    of ``1 + A`` with edges ``ratio`` apart. Each GPU bin holds one GPU memory size where
    ``by_memory`` (None: where :func:`budgeted`)."""

    def __init__(self, problem: Problem, scale: float, ratio: float = RATIO, most: int = PARTNERS,
                 by_memory: bool | None = None):
        grid, tables = problem.grid, problem.tables
        self.ratio, self.most = ratio, most
        self.slo = np.array([a.slo for a in problem.apps])
        self.rates = np.array([a.rate for a in problem.apps])
        self.share = scale * self.rates / problem.total_rate
        self.order = np.argsort(self.slo + 1.0 / self.rates, kind="stable")  # a group's anchor: its first app here
        self.rank = np.argsort(self.order)
        self.partners = partners(self.rates, self.slo, self.rank, most)
        top = int(grid.batch.max())
        self.edges = np.minimum(ratio ** np.arange(int(np.ceil(np.log(BEYOND * top) / np.log(ratio))) + 1), BEYOND * top)
        levels = self.edges[1:]
        self.tables = tables
        u, unit, batch, kind, memory, self.bins = [], [], [], [], [], []
        slos = np.unique(self.slo)
        fits = np.flatnonzero(grid.memory_ok & (tables.latency_max_upto <= slos[-1]))
        table = level_bounds(tables, fits, np.append(levels, np.inf))  # the last column: any size
        by_memory = budgeted(problem) if by_memory is None else by_memory
        for k in range(len(KINDS)):
            of_kind = fits[grid.kind[fits] == k]
            for size in np.unique(grid.gpu_mem[of_kind]) if by_memory else [None]:
                config = of_kind if size is None else of_kind[grid.gpu_mem[of_kind] == size]
                config = config[np.argsort(tables.latency_max_upto[config], kind="stable")]
                for part in config_bins(tables.latency_max_upto[config], slos):
                    part = config[part]
                    rows = table[np.searchsorted(fits, part)]  # (fits is sorted)
                    bound = np.where(levels < BEYOND * grid.batch[part].max(), rows[:, :-1], rows[:, -1:])
                    self.bins.append(part)
                    u.append(tables.latency_max_upto[part[0]])
                    unit.append(bound.min(axis=0))
                    batch.append(int(grid.batch[part].max()))
                    kind.append(k)
                    memory.append(0 if size is None else int(size))
        u, unit, batch, kind = np.array(u), np.array(unit).reshape(-1, levels.size), np.array(batch), np.array(kind)
        memory = np.array(memory, dtype=int)
        keep = undominated(u, unit, kind * (memory.max(initial=0) + 1) + memory)  # (of one kind and GPU size)
        self.bins = [b for b, k in zip(self.bins, keep) if k]
        self.u, self.unit, self.kind = u[keep], unit[keep], kind[keep]
        self.memory = memory[keep] if by_memory else None
        self.levels = np.maximum(np.searchsorted(self.edges, BEYOND * batch[keep]), 1)  # rows up to the last
        allowed = np.array([[KINDS[k] in kinds for k in kind[keep]] for kinds in problem.app_kinds],
                           dtype=bool).reshape(problem.n, -1).T
        self.served = allowed & (self.slo[None, :] >= self.u[:, None])  # (bins, apps)
        self.apps = [self.order[ok[self.order]] for ok in self.served]  # each bin's apps, in anchor order
        self._candidates = [self._candidates_of(v) for v in range(self.u.size)]

    def alone(self, deadline: float | None = None, bins: np.ndarray | None = None) -> np.ndarray:
        """Each app's cheapest relaxed column alone (``E[K] <= 1 + r tau``), over the bins (those
        of the mask ``bins`` where it is given; over those priced before the ``deadline``, inf
        where none was)."""
        return self.alone_at(deadline, bins)[0]

    def alone_at(self, deadline: float | None = None,
                 bins: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`alone`, and the bin of each app's cheapest column (-1 where it has none)."""
        best, at = np.full(self.share.size, np.inf), np.full(self.share.size, -1)
        idx, size, app, where, entries = [], [], [], [], 0
        chosen = [v for v in range(len(self.bins)) if bins is None or bins[v]]
        for v in chosen:  # (a block of bins, up to WEIGHED entries, at a time)
            part = self.bins[v]
            apps = np.flatnonzero(self.served[v])
            fill = 1.0 + self.rates[apps] * (self.slo[apps] - self.u[v])
            idx.append(np.tile(part, apps.size))
            size.append(np.repeat(fill, part.size))
            app.append(np.repeat(apps, part.size))
            where.append(np.full(apps.size * part.size, v))
            entries += apps.size * part.size
            if entries >= WEIGHED or v == chosen[-1]:
                if deadline is not None and time.perf_counter() > deadline:
                    break
                unit = lower_bound(self.tables, np.concatenate(idx), np.concatenate(size))
                app_, where_ = np.concatenate(app), np.concatenate(where)
                weight = self.share[app_] * unit
                order = np.lexsort((weight, app_))  # each app's least entry first
                first = order[np.r_[True, app_[order][1:] != app_[order][:-1]]] if order.size else order
                better = first[weight[first] < best[app_[first]]]
                best[app_[better]], at[app_[better]] = weight[better], where_[better]
                idx, size, app, where, entries = [], [], [], [], 0
        return best, at

    def _level(self, v: int | np.ndarray, fill: np.ndarray) -> np.ndarray:
        """The row (1-based level) of bin ``v`` holding groups of ``1 + A = fill``."""
        return np.clip(np.searchsorted(self.edges, fill), 1, self.levels[v])

    def weight(self, members: np.ndarray) -> float:
        """The least weight of the group ``members`` over the rows that hold it (inf where no
        bin serves it): no more than its cost on any configuration at any timeouts."""
        return float(self.weights([np.asarray(members)])[0])

    def weights(self, groups: list[np.ndarray], deadline: float | None = None,
                bins: np.ndarray | None = None) -> np.ndarray | None:
        """:meth:`weight` of each of the ``groups`` (arrays of members), a bin at a time for
        a block of them (at most :data:`WEIGHED` entries), over the bins of the mask ``bins``
        where it is given; None if the ``deadline`` passes first."""
        weighed = self.weights_at(groups, deadline, bins)
        return None if weighed is None else weighed[0]

    def weights_at(self, groups: list[np.ndarray], deadline: float | None = None,
                   bins: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """:meth:`weights`, and the bin each group weighs least on (-1 where none serves it)."""
        n = self.share.size
        best, at = np.full(len(groups), np.inf), np.full(len(groups), -1)
        step = max(1, WEIGHED // max(n, 1))
        for lo in range(0, len(groups), step):
            block = groups[lo:lo + step]
            member = np.zeros((len(block), n), dtype=bool)
            for g, members in enumerate(block):
                member[g, members] = True
            anchor, partner = self.pairs(block, member)
            share = member @ self.share
            for v in range(self.u.size):
                if deadline is not None and time.perf_counter() > deadline:
                    return None
                if bins is not None and not bins[v]:
                    continue
                g = np.flatnonzero(~(member & ~self.served[v]).any(axis=1))  # the groups bin v serves
                if g.size:
                    size = anchored_sizes(self.rates, np.broadcast_to(self.slo - self.u[v], (g.size, n)), anchor[g],
                                          partner[g])
                    fill = 1.0 + np.where(member[g], size, 0.0).sum(axis=1)
                    weight = share[g] * self.unit[v, self._level(v, fill) - 1]
                    better = weight < best[lo + g]
                    best[lo + g[better]], at[lo + g[better]] = weight[better], v
        return best, at

    def pairs(self, groups: list[np.ndarray], member: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each group's anchor (its first app in the anchor order) and partner (its anchor's
        first candidate partner it holds, -1 if none): the row that holds it."""
        anchor = np.array([members[np.argmin(self.rank[members])] for members in groups], dtype=int)
        if self.most == 0:
            return anchor, np.full(anchor.shape, -1)
        candidates = self.partners[anchor]  # (groups, most)
        held = (candidates >= 0) & np.take_along_axis(member, np.maximum(candidates, 0), axis=1)
        first = np.argmax(held, axis=1)
        partner = np.where(held.any(axis=1), candidates[np.arange(anchor.size), first], -1)
        return anchor, partner

    def runs(self, deadline: float | None = None,
             bins: np.ndarray | None = None) -> tuple[list[np.ndarray], np.ndarray]:
        """The runs of apps consecutive in SLO order (of at most ``max(8, 40000 / n)`` apps,
        so memory stays ``O(n)``, at most :data:`ANCHORS` anchors as it grows, and of the
        lengths :data:`LENGTHS` allows) as columns, each at its least row weight: the groups
        good plans are made of, to start the master. Returns the runs' members and weights
        (runs no bin serves are left out); none if the ``deadline`` passes first. The runs'
        sizes grow by a cumulative sum along each run, for every run at once; with partners
        they are weighed again (:meth:`weights`: n = 500, 8,648 runs, 4.2 s). Over the bins of
        the mask ``bins`` where it is given."""
        return self.runs_at(deadline, bins)[:2]

    def runs_at(self, deadline: float | None = None,
                bins: np.ndarray | None = None) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """:meth:`runs`, and the bin each run weighs least on."""
        n = self.share.size
        width = min(n, max(8, 40000 // n))
        by_slo = np.argsort(self.slo, kind="stable")
        apps = by_slo[np.minimum(np.arange(n)[:, None] + np.arange(width)[None, :], n - 1)]  # [i, d]: i + d
        inside = np.arange(n)[:, None] + np.arange(width)[None, :] < n
        share = np.cumsum(np.where(inside, self.share[apps], 0.0), axis=1)
        rank = np.where(inside, self.rank[apps], n)
        new = rank == np.minimum.accumulate(rank, axis=1)  # the run [i, i + d]'s anchor is its app d
        count = np.cumsum(new, axis=1)  # 1 + changes of anchor
        first, nth = np.nonzero(new & (count <= ANCHORS))
        where = np.zeros((n, ANCHORS), int)  # [i, k]: the position of the run's k-th anchor
        where[first, count[first, nth] - 1] = nth
        anchors = []  # per k: the runs that reach a (k + 1)-th anchor, their rates, SLOs, anchors, spans
        for k in range(min(ANCHORS, int(count[:, -1].max()))):
            i = np.flatnonzero(count[:, -1] > k)
            anchors.append((i, self.rates[apps[i]], self.slo[apps[i]], where[i, k], count[i] == k + 1))
        best, at = np.full((n, width), np.inf), np.full((n, width), -1)
        for v in range(self.u.size):
            if deadline is not None and time.perf_counter() > deadline:
                return [], np.zeros(0), np.zeros(0, dtype=int)
            if bins is not None and not bins[v]:
                continue
            fill = np.zeros((n, width))
            for i, rates, slo, anchor, span in anchors:
                size = anchored_sizes(rates, slo - self.u[v], anchor)
                fill[i] = np.where(span, 1.0 + np.cumsum(size, axis=1), fill[i])
            valid = np.cumprod(self.served[v][apps] & inside & (count <= ANCHORS), axis=1).astype(bool)
            weight = share * self.unit[v, self._level(v, fill) - 1]
            better = valid & (weight < best)
            best, at = np.where(better, weight, best), np.where(better, v, at)
        length = np.arange(1, width + 1)
        some = (length <= 8) | np.isin(length, np.unique(np.round(8 * LENGTHS ** np.arange(64)).astype(int)))
        first, last = np.nonzero(np.isfinite(best) & some[None, :])
        runs, weights, at = [by_slo[i:i + d + 1] for i, d in zip(first, last)], best[first, last], at[first, last]
        if self.most:  # the sizes above keep the anchor's decay alone
            weighed = self.weights_at(runs, deadline, bins)
            if weighed is None:
                return [], np.zeros(0), np.zeros(0, dtype=int)
            weights, at = weighed
        return runs, weights, at

    def price(self, duals: np.ndarray, bins: range | None = None, deadline: float | None = None,
              offsets: np.ndarray | None = None,
              ) -> tuple[float, float, list[tuple[np.ndarray, np.ndarray, float, int]]]:
        """Two upper bounds at ``duals``: on what the relaxed columns of any plan gain
        together (the sum over apps of the largest ``min(P, p_a^+)`` over the ``(bin,
        level)`` rows, ``P`` the row's largest LP profit, as the columns of a plan are
        disjoint), and on any one column's gain (the largest ``P``); and the best columns found
        that price out, as ``(members, coefficients, weight, bin)``: the rows' LP vertices and the
        groups rounded from them (:func:`.expected_columns.pick`: at most ``PER_ROUND``, and
        ``PER_BIN`` a bin). Priced over some ``bins`` only, or stopped at the ``deadline``, it
        finds columns but bounds nothing (both bounds are inf). ``offsets`` (per bin, at least 0)
        is what a column of each bin adds to its reduced cost beside its weight, the count rows'
        duals (``formulations/column_generation.md``, "Count rows under expected"): a row's gain
        is less by its bin's offset, and its columns' weights stay their own.

        A row ``(bin, level, anchor, partner)`` is priced (:meth:`_rows`) only while what it
        can gain at most (the anchor's and partner's profits and every positive profit of the
        apps it may take: :func:`.relaxed_kernel.open_rows`) exceeds its level's best gain so
        far: rows in order of that cap, in batches doubling in size."""
        from .relaxed_kernel import open_rows

        every = bins is None
        bins = range(self.u.size) if every else bins
        offsets = np.zeros(self.u.size) if offsets is None else offsets
        gains = np.zeros(self.unit.shape)  # (bin, level): the largest gain, or a cap above it
        opened, cap = np.empty((4, OPENED), np.int64), np.empty(OPENED)  # (grown where a bin opens more)
        apps_, places, falls, blocks = [], [], [], []  # (a block: the rows of one bin and level)
        for v in bins:
            if deadline is not None and time.perf_counter() > deadline:
                return np.inf, np.inf, []
            apps = self.apps[v]
            where, first = self._candidates[v]
            # (a row passes where its cap passes its bin's offset)
            args = (duals[apps], self.share[apps], self.unit[v, :self.levels[v]], where, first, TOLERANCE + offsets[v],
                    gains[v, :self.levels[v]])
            count = open_rows(*args, opened, cap)
            if count > cap.size:
                opened, cap = np.empty((4, 2 * count), np.int64), np.empty(2 * count)
                open_rows(*args, opened, cap)
            gains[v, :self.levels[v]] = np.maximum(gains[v, :self.levels[v]], offsets[v])  # (no less is worth finding)
            level, anchor, place = opened[:3, :count]
            apps_.append(apps[anchor].astype(np.int32))
            places.append(place.astype(np.int16))
            falls.append(-cap[:count])
            size = np.bincount(level, minlength=self.levels[v])
            blocks.append(np.stack([np.full(size.size, v), np.arange(size.size), size])[:, size > 0])
        found: list = []
        if blocks:
            ended = self._open(np.concatenate(blocks, axis=1), _joined(apps_), _joined(places), _joined(falls),
                               duals, gains, found, deadline, every, offsets)
            every = every and ended
        columns = pick(found)
        if not every:
            return np.inf, np.inf, columns
        gains -= offsets[:, None]  # (at least 0: a bin's gains start at its offset)
        best = np.zeros(self.share.size)
        for v in bins:
            apps = self.apps[v]
            share = np.minimum(np.maximum(self._profits(v, duals), 0.0), gains[v, :self.levels[v], None])
            best[apps] = np.maximum(best[apps], share.max(axis=0, initial=0.0))
        return float(best.sum()), float(gains.max(initial=0.0)), columns

    def _open(self, blocks: np.ndarray, app: np.ndarray, place: np.ndarray, fall: np.ndarray, duals: np.ndarray,
              gains: np.ndarray, found: list, deadline: float | None, whole: bool, offsets: np.ndarray) -> bool:
        """Price the rows :meth:`price` opened while their cap exceeds their level's gain, in
        steps that take each block's next ranks, 1, 2, 4, ... of them, until no row is left
        (True) or the ``deadline`` passes (False); not ``whole``, the first step only (False).

        A block is the rows of one bin and level (``blocks``' columns: bin, level, number of
        rows, in order); its rows (anchor ``app``, the partner's ``place``, ``fall``: the cap
        negated) are by falling cap, so those that pass come first. Each row is held in
        14 bytes, and a step looks only at its own ranks (at n = 1,000 a round opens about 16
        million rows; held with their ranks and levels, and masked whole at each step, they
        took the call to 1.4 GB: ``formulations/column_generation.md``, "In the default
        certificate")."""
        v, level, size = blocks
        key, offset = v * self.unit.shape[1] + level, np.cumsum(size) - size
        flat = gains.ravel()  # (a view: _rows raises the gains)
        start, width, per_call = 0, 1, CHUNK // self.share.size + 1  # (rows of one call to _rows)
        while deadline is None or time.perf_counter() <= deadline:
            live = np.flatnonzero(size > start)
            live = live[fall[offset[live] + start] < -flat[key[live]]]  # (its row at rank start passes)
            if not live.size:
                return True
            count = np.minimum(size[live] - start, width)
            block = np.repeat(live, count)
            at = np.arange(block.size) + np.repeat(offset[live] + start - (np.cumsum(count) - count), count)
            passes = fall[at] < -flat[key[block]]
            block, at = block[passes], at[passes]
            rows = np.stack([v[block], level[block], app[at], place[at]])  # (int64, as _rows prices them)
            start, width = start + width, 2 * width
            for lo in range(0, rows.shape[1], per_call):
                if deadline is not None and time.perf_counter() > deadline:
                    return False
                self._rows(rows[:, lo:lo + per_call], duals, gains, found, offsets)
            if not whole:
                return False
        return False

    def _profits(self, v: int, duals: np.ndarray) -> np.ndarray:
        """``y_a - share_a unit(v, l)`` per level ``l`` (rows) of bin ``v`` and app it serves
        (columns, in anchor order)."""
        apps = self.apps[v]
        return duals[apps][None, :] - self.share[apps][None, :] * self.unit[v, :self.levels[v], None]

    def _candidates_of(self, v: int) -> tuple[np.ndarray, np.ndarray]:
        """For bin ``v``, per anchor (its apps, in anchor order) and place of a partner: where
        that partner is among its apps (their number where it serves none there), and the
        first level whose rows it fits (the number of levels where the bin serves no partner
        there)."""
        apps = self.apps[v]
        candidates = self.partners[apps]
        valid = (candidates >= 0) & self.served[v][np.maximum(candidates, 0)]
        at = np.full(self.share.size, apps.size)
        at[apps] = np.arange(apps.size)
        where = np.where(valid, at[np.maximum(candidates, 0)], apps.size)
        # a row fits where its anchor and partner leave room: (edge above it) - 1 >= their size
        first = np.searchsorted(self.edges[1:self.levels[v]] - 1.0, self._own(v, apps), side="left")
        first = np.minimum(first, self.levels[v] - 1)  # (the top row holds any size)
        ok = np.concatenate([valid, np.ones((apps.size, 1), dtype=bool)], axis=1)
        return where, np.where(ok, first, self.levels[v])

    def _partner(self, anchor: np.ndarray, place: np.ndarray) -> np.ndarray:
        """The partner at ``place`` among each ``anchor``'s candidates (-1 at the last place: none)."""
        if self.most == 0:
            return np.full(anchor.shape, -1)
        return np.where(place < self.most, self.partners[anchor, np.minimum(place, self.most - 1)], -1)

    def _own(self, v: int | np.ndarray, anchor: np.ndarray, place: np.ndarray | None = None) -> np.ndarray:
        """The anchored size of a row's anchor and partner (bin ``v``, the partner at ``place``
        among the anchor's, or every place as a last axis, the last none)."""
        from .relaxed_kernel import anchored_size

        if place is None:
            return np.stack([self._own(v, anchor, np.full(anchor.shape, q)) for q in range(self.most + 1)], axis=-1)
        partner = self._partner(anchor, place)
        some = partner >= 0
        k = np.maximum(partner, 0)
        tau_j, tau_k = self.slo[anchor] - self.u[v], self.slo[k] - self.u[v]
        second, start2 = np.where(some, self.rates[k], 0.0), np.where(some, tau_k, 0.0)
        own = anchored_size(self.rates[anchor], tau_j, self.rates[anchor], tau_j, second, start2)
        return own + np.where(some, anchored_size(self.rates[k], tau_k, self.rates[anchor], tau_j, second, start2), 0.0)

    def _room(self, v: np.ndarray, level: np.ndarray, own: np.ndarray) -> np.ndarray:
        """How much ``A`` a row may add to its anchor's and partner's own (inf at a bin's top level)."""
        top = level == self.levels[v] - 1
        return np.where(top, np.inf, self.edges[np.minimum(level + 1, self.edges.size - 1)] - 1.0) - own

    def _rows(self, rows: np.ndarray, duals: np.ndarray, gains: np.ndarray, found: list, offsets: np.ndarray) -> None:
        """Price the rows ``(bin, level, anchor, place)`` (columns of ``rows``): raise their
        levels' ``gains``, and append to ``found`` the LP vertices and the groups rounded from
        them that price out, their gains less their bins' ``offsets``, as blocks
        (:func:`.expected_columns.hold`).

        A row's 0-1 knapsack is relaxed before its LP (:mod:`.relaxed_kernel`): an app larger
        than the room left cannot join, and sizes are capped at the lower limit (a selection
        reaching the limit with the true sizes reaches it with the capped ones), which keeps a
        sliver of a large app from lifting a small group to a cheaper level."""
        from .relaxed_kernel import price_rows

        # a bin's rows of one anchor and partner together; C order, so that the kernel is compiled for one layout
        v, level, anchor, place = np.ascontiguousarray(rows[:, np.lexsort((rows[3], rows[2], rows[0]))], np.int64)
        partner = self._partner(anchor, place)
        own = self._own(v, anchor, place)
        unit = self.unit[v, level]
        mine = duals[anchor] - self.share[anchor] * unit
        mine += np.where(partner >= 0, duals[np.maximum(partner, 0)] - self.share[np.maximum(partner, 0)] * unit, 0.0)
        low, high, enough = self.edges[level] - 1.0 - own, self._room(v, level, own), gains[v, level] - mine
        gain, x, fill = np.empty(v.size), np.zeros((v.size, self.share.size)), np.empty((v.size, 2))
        paid, shares = np.empty((v.size, 3)), np.empty((v.size, 3))

        def part(rows: slice) -> None:
            price_rows(v[rows], anchor[rows], place[rows], self.partners, own[rows], duals, self.share, unit[rows], self.rates,
                       self.slo, self.u, self.served, self.rank, low[rows], high[rows], enough[rows], NODES,
                       gain[rows], x[rows], fill[rows], paid[rows], shares[rows])
        _split(part, v.size)
        gain += mine
        np.maximum.at(gains, (v, level), gain)
        fit = np.flatnonzero(np.isfinite(gain))  # the rows some selection fits
        v, weight = v[fit], shares[fit, 0] * unit[fit]
        hold(v, paid[fit, 0] - weight - offsets[v], weight, lambda top: x[fit[top]], found)
        for k, least in ((1, 1 - 1e-9), (2, 1e-9)):  # the vertex without its item in part, and with it
            weight = shares[fit, k] * self.unit[v, self._level(v, fill[fit, k - 1]) - 1]
            hold(v, paid[fit, k] - weight - offsets[v], weight,
                 lambda top, least=least: (x[fit[top]] > least).astype(float), found)
