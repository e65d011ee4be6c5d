"""A global lower bound under the expected-batch model, by column generation on a relaxed
set-partitioning model (``formulations/column_generation.md``, "Under the expected-batch
model"): its columns (:mod:`.expected_relaxed`) cost no more than the real groups they
stand for, so the Lagrangian bound of its master at any duals bounds every plan.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable

import numpy as np

from .._validate import instance, integer, listed
from ..errors import InputError
from .expected_counts import Counts
from .expected_relaxed import PARTNERS, RATIO, TOLERANCE, Relaxed, budgeted
from .interior_lp import run_interior_lp
from .kernels import EXPECTED, interruptible, ready
from .options import checked_deadline, late
from .problem import Problem
from .problem import members as indices_of
from .scaled_duals import search_scale

#: Most master rounds of a call without a deadline (over every relaxation; a deadline alone
#: bounds a call that has one). n = 100 random VGG19 converges its four relaxations in 447.
ROUNDS = 1000
#: Three rounds in four price one bin in four (and all where those find no column); the
#: fourth prices all, and bounds.
SPLIT = 4
#: The master keeps at most this many columns per app (:class:`_Master`); with 20, a degenerate
#: master dropped columns it then found again (n = 150 random GPT-2, 120 s: 3.766e-5, against
#: 3.857e-5 with 50 and an LP value of 3.858e-5).
LARGEST = 50
#: Most weight of a starting column, an app alone (scaled units: a plan costs about 1).
ARTIFICIAL = 1e3
#: Once the master's LP stalls, the duals are boxed: ``y <= c + b |c|`` around the centre ``c``,
#: ``b`` starting at BOX, doubled after a boxed bound above every earlier one, halved after any
#: other (:func:`_next_box`), within BOX_LIMITS.
BOX = 0.05
BOX_LIMITS = (0.0125, 0.4)
#: Generation that converges starts again on levels twice as fine (the ratio of consecutive
#: edges square-rooted: 1.02, 1.00995, 1.00496, 1.00248), down to this ratio, while the time left
#: is at least :data:`FINER_SETUPS` times the last levels' setup.
FINEST = 1.0025
#: The finer levels start where the time left is at least this many times the last levels'
#: setup (theirs, which the deadline does not stop, takes about twice as long), whether or not
#: they can converge in it: every round's bound holds, and the best of every level's is kept.
#: Started only where they had as long as the last levels took, n = 100 random GPT-2 (60 s)
#: ended at 5.33% after 27 s, and at 3.42% given the rest (``formulations/column_generation.md``,
#: "Finer levels once converged").
FINER_SETUPS = 4
#: Share of the time for the best duals scaled down (``formulations/column_generation.md``,
#: "Scaled duals"); generation has the rest. (n = 100 random GPT-2 at 50 s: 6.52% -> 5.80%,
#: each point priced in 0.5 s.)
SCALING_SHARE = 0.1
#: The count rows (:mod:`.expected_counts`) are in the master's LP where they raise it by more
#: than this share: over the first columns, or once generation without them converged. Where
#: they bind little they slow it: 100 random GPT-2 apps with ``G = 3``, 18 s, 6.7% with them and
#: 2.3% without; over the first columns they raise that LP by 0.03% there, and by 9-110% on
#: the workloads where they proved most (``formulations/column_generation.md``).
COUNTED_RISE = 5e-3
#: A GPU memory budget is a row of the master (on bins of one GPU size each, 1.6-2.5 times as
#: many) where generation has at least this many seconds, or no deadline. With less, the
#: relaxation without it proves more: 100 random apps within half the plan's GPU memory, the
#: gap with the row and without, 6 s: VGG19 10.6% and 14.5%, BERT 11.6% and 4.6%, GPT-2 29.9%
#: and 26.2%; 30 s: 3.8% and 10.4%, 1.6% and 2.9%, 14.0% and 25.1% (VideoMAE, 20.8% and
#: 17.2%, needs more: 10.9% at 90 s).
BUDGET_TIME = 25.0


@interruptible()
def expected_bound(problem: Problem, *, deadline: float | None = None, rounds: int | None = None) -> float:
    """A lower bound on the cost of every plan of ``problem`` under the expected-batch model
    that keeps its cap on GPU functions and its GPU memory budget (rows of the master, where
    they raise the master's LP by more than :data:`COUNTED_RISE`, the budget where generation
    has :data:`BUDGET_TIME`: :mod:`.expected_counts`) and its cap on functions (the most groups
    a plan holds; its other side constraints relaxed, so it holds with them too); at least the
    per-app bound. The
    ``deadline`` (a ``time.perf_counter()`` reading) stops the master's LP, and pricing
    between its batches of rows; the bound is the best one a finished round proved, or the
    best round's duals scaled down in the last tenth of the time. At most
    ``rounds`` master rounds over every relaxation (None: as many as the deadline allows, or
    :data:`ROUNDS` without one). Raises :class:`~harmonybatch_mp.InfeasibleError` where some
    app has no function at all.

    >>> from harmonybatch_mp.solvers import Problem, as_instance
    >>> p = Problem(*as_instance("0.3:2,0.5:5,0.8:10,1.0:20", "VGG19"), cost_model="expected")
    >>> p.lower_bound() <= expected_bound(p)
    True
    """
    instance(problem, Problem, "expected_bound: problem")
    if rounds is not None:
        rounds = integer(rounds, "rounds", minimum=0)
    deadline = checked_deadline(deadline)
    if problem.expected and problem.n:
        problem.require_feasible()  # an app no function serves: InfeasibleError, naming it
    floor = problem.lower_bound()
    if not problem.expected or problem.n == 0 or (deadline is not None and not ready(EXPECTED, deadline)):
        return floor  # (the kernel still compiling at the deadline: a first call after an install)
    scale = 1.0 / floor
    if rounds is None:  # (a deadline bounds the call; a cap above any round it can make)
        rounds = ROUNDS if deadline is None or deadline == np.inf else sys.maxsize
    began = time.perf_counter()
    # the scaled duals have the last part of the time (formulations/column_generation.md, "Scaled duals")
    generation = None if deadline is None else began + (1 - SCALING_SHARE) * (deadline - began)
    (ratio, most), *finer = stages()
    # a GPU memory budget as a row, on bins of one GPU size each, where generation has the time
    by_memory = budgeted(problem) and (generation is None or generation - began >= BUDGET_TIME)
    relaxed = Relaxed(problem, scale, ratio, most, by_memory)
    master = _Master(problem.n, relaxed, Counts(problem, relaxed.kind, relaxed.memory), generation, live=False)
    # the count rows in the LP where they raise it over the first columns (formulations/column_generation.md,
    # "Count rows under expected")
    master.live = master.rise(generation) > COUNTED_RISE
    setup = time.perf_counter() - began
    top, rounds, master = _levels(problem, relaxed, master, generation, rounds)
    # converged, with time left for finer levels (their setup about twice the last one, for twice
    # the levels): levels twice as fine (in log), from the groups so far, converged or not by the
    # deadline (formulations/column_generation.md, "Finer levels once converged")
    for ratio, most in finer:
        if rounds == 0 or (generation is not None and generation - time.perf_counter() < FINER_SETUPS * setup):
            break
        began = time.perf_counter()
        relaxed = Relaxed(problem, scale, ratio, most, by_memory)
        counts = Counts(problem, relaxed.kind, relaxed.memory)
        master = _Master(problem.n, relaxed, counts, generation, seed=_groups(master), live=master.live)
        setup = time.perf_counter() - began
        found, rounds, master = _levels(problem, relaxed, master, generation, rounds)
        top = max(top, found, key=lambda t: t[0])
    return max(floor, _scaled(problem, *top, deadline) / scale)


def _levels(problem: Problem, relaxed: Relaxed, master: _Master, deadline: float | None,
            rounds: int) -> tuple[tuple, int, _Master]:
    """Generation on ``master`` over the rows of ``relaxed`` (:func:`_generate`); where it
    converged with its count rows out of the LP and they would raise it by more than
    :data:`COUNTED_RISE`, again with them, from its groups. Returns the best bound, the duals
    it was proven at, ``relaxed`` and the master's counts; the rounds left (0 if it did not
    converge); and the last master."""
    best, duals, rounds = _generate(problem, relaxed, master, deadline, rounds)
    top = (best, duals, relaxed, master.counts)
    if rounds and not master.live and master.counts.rows and master.rise(deadline) > COUNTED_RISE:
        master = _Master(problem.n, relaxed, master.counts, deadline, seed=_groups(master))
        best, duals, rounds = _generate(problem, relaxed, master, deadline, rounds)
        top = max(top, (best, duals, relaxed, master.counts), key=lambda t: t[0])
    return top, rounds, master


def _scaled(problem: Problem, best: float, duals: np.ndarray | None, relaxed: Relaxed, counts: Counts,
            deadline: float | None) -> float:
    """``best``, the bound proven at ``duals`` over the rows of ``relaxed`` (scaled units; the
    cover rows' duals, then the ``counts``'), or the best bound at those duals scaled by ``1/θ``
    (:func:`.scaled_duals.search_scale`) by the ``deadline``, if higher."""
    if duals is None:
        return best
    most, n = problem.most_groups, problem.n

    def bound(theta: float) -> float:
        nonlocal best
        point = duals / theta
        constant = counts.constant(point, n)
        if constant <= best or late(deadline):
            return constant  # (an upper end of what this scale can prove)
        together, gain, _ = relaxed.price(point[:n], None, deadline, counts.offsets(point, n))
        value = constant - min(together, most * gain)
        best = max(best, value)
        return value

    search_scale(bound, deadline)
    return best


def stages() -> list[tuple[float, int]]:
    """The relaxations :func:`expected_bound` runs, in order, as ``(ratio, partners)``: the
    ratio of consecutive level edges (the relaxation's ``RATIO``, then square roots while above
    :data:`FINEST`) and how many candidate partners each anchor has (none at first, where rows
    are quickest to price; then ``PARTNERS``).

    >>> [(round(r, 5), k) for r, k in stages()]
    [(1.02, 0), (1.00995, 3), (1.00496, 3), (1.00248, 3)]
    """
    ratios = [RATIO]
    while ratios[-1] > FINEST:
        ratios.append(float(np.sqrt(ratios[-1])))
    return [(ratio, 0 if i == 0 else PARTNERS) for i, ratio in enumerate(ratios)]


def ceiling(problem: Problem, groups: Iterable[int]) -> float:
    """The most :func:`expected_bound` can prove against the plan ``groups`` (bitmasks of
    ``problem``'s apps that partition them, at most ``problem.most_groups`` of them): at each
    level's duals its bound is at most the plan's groups at their least weights over that
    level's rows (their gains are within what pricing allows), and it is the best of its
    levels'. So ``1 - ceiling / plan cost`` is the least gap the relaxation can prove for this
    plan, however long it runs (``formulations/column_generation.md``, "What the rows can
    prove"); inf where no bin serves some group. Under a cap on GPU functions or a GPU memory
    budget, whose rows (:mod:`.expected_counts`) charge the GPU bins' columns, the bound may
    pass it: the groups are weighed here on either kind and any GPU size.

    >>> from harmonybatch_mp.solvers import Problem, as_instance
    >>> p = Problem(*as_instance("0.3:2,0.5:5,0.8:10,1.0:20", "VGG19"), cost_model="expected")
    >>> expected_bound(p) <= ceiling(p, [0b0011, 0b1100]) <= p.plan_cost([0b0011, 0b1100])
    True
    """
    instance(problem, Problem, "ceiling: problem")
    masks, union = [], 0
    for m in listed(groups, "groups", "bitmasks of apps"):
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)):
            raise InputError(f"groups: expected bitmasks of apps (int), got {m!r}")
        m = int(m)
        if m < 1 or m >> problem.n:
            raise InputError(f"groups: {m:#x} is not a non-empty set of the problem's {problem.n} apps")
        if m & union:
            raise InputError(f"groups: {m:#x} shares apps {indices_of(m & union)} with an earlier group")
        masks.append(m)
        union |= m
    if union != (1 << problem.n) - 1:
        raise InputError(f"groups: apps {indices_of(((1 << problem.n) - 1) & ~union)} are in no group")
    if len(masks) > problem.most_groups:
        raise InputError(f"groups: {len(masks)} groups, more than the side constraints allow ({problem.most_groups})")
    floor = problem.lower_bound()
    if not problem.expected or problem.n == 0:
        return floor
    members = [np.array(indices_of(m)) for m in masks]
    return max(floor, max(float(Relaxed(problem, 1.0, ratio, most).weights(members).sum()) for ratio, most in stages()))


def _generate(problem: Problem, relaxed: Relaxed, master: _Master, deadline: float | None,
              rounds: int) -> tuple[float, np.ndarray | None, int]:
    """Column generation on ``master`` for at most ``rounds`` rounds: the best bound it proved
    (scaled units; -inf if none), the duals it proved it at (None if none), and the rounds left
    once it converged (0 if it stopped for the ``deadline`` or its rounds)."""
    most, n, counts = problem.most_groups, problem.n, master.counts
    best, at, centre, last = -np.inf, None, None, None
    box, boxed_best = BOX, -np.inf
    for turn in range(rounds):
        if deadline is not None and time.perf_counter() > deadline:
            return best, at, 0
        solved = master.solve(deadline)
        if solved is None:
            return best, at, 0
        value, duals, fair = solved
        boxed = None
        if centre is not None and value >= last * (1 - 1e-6):  # stalled since the last full round
            boxed = master.boxed((centre + box * np.abs(centre))[:n], deadline)
            if boxed is None:
                return best, at, 0
        y = duals if boxed is None else boxed
        part = range(turn % SPLIT, len(relaxed.bins), SPLIT)
        if turn % SPLIT and master.add(relaxed.price(y[:n], part, deadline, counts.offsets(y, n))[2]):
            continue  # some bins found columns; the others wait
        for v in (fair, duals) if boxed is None else (fair, boxed, duals):  # every bin
            together, gain, found = relaxed.price(v[:n], None, deadline, counts.offsets(v, n))
            bound = counts.constant(v, n) - min(together, most * gain)
            if v is boxed and np.isfinite(bound):
                box, boxed_best = _next_box(box, bound, boxed_best), max(boxed_best, bound)
            if bound > best:
                best, at = bound, v
            added = master.add(found)
        if late(deadline):  # (pricing cut short finds nothing: that is not convergence)
            return best, at, 0
        if added == 0 or value - best <= n * TOLERANCE:  # none at the LP's duals: converged
            return best, at, rounds - turn - 1
        centre = fair if centre is None else centre if boxed is None else boxed
        last = value
    return best, at, 0


def _next_box(box: float, bound: float, boxed_best: float) -> float:
    """The box after a boxed round that proved ``bound``: twice as wide when that beats
    ``boxed_best`` (the duals may move further), half as wide otherwise (they overshot), within
    :data:`BOX_LIMITS`. (Fixed at 5%, n = 60 random GPT-2 proved 33.4% in 5 s; so 20.9%.)

    >>> _next_box(0.05, 1.2, 1.1), _next_box(0.05, 1.0, 1.1), _next_box(0.4, 1.2, 1.1)
    (0.1, 0.025, 0.4)
    """
    low, high = BOX_LIMITS
    return min(2 * box, high) if bound > boxed_best else max(box / 2, low)


def _groups(master: _Master) -> list[np.ndarray]:
    """The groups of ``master`` (its 0-1 columns of two apps or more, which hold its runs), once
    each: a master with count rows holds them on both kinds."""
    return list({tuple(c.tolist()): c for c, x in zip(master.columns, master.coefficients)
                 if c.size > 1 and (x == 1).all()}.values())


class _Master:
    """The relaxed model's restricted master: every app alone (so it is feasible), a slack
    column per count row (``counts``: each lets its row exceed its cap at :data:`ARTIFICIAL` a
    unit), and every run in SLO order or else the ``seed`` groups (an earlier master's, which
    hold its runs) to start, each on every class of bins the rows tell apart (at the bin it
    weighs least on there, which it counts as); the columns pricing finds; those far from
    entering dropped when it grows past :data:`LARGEST` per app. Unless ``live``, the count
    rows are out of its LP (and their duals 0), but each column still knows what it adds to
    them (:meth:`rise`)."""

    def __init__(self, n: int, relaxed: Relaxed, counts: Counts, deadline: float | None = None,
                 seed: list[np.ndarray] | None = None, live: bool = True):
        self.n, self.share, self.counts, self.live = n, relaxed.share, counts, live
        self.columns: list[np.ndarray] = []
        self.weights: list[float] = []
        self.coefficients: list[np.ndarray] = []
        self.usage: list[np.ndarray] = []  # what each column adds to each count row
        self.known: set[tuple] = set()
        first = counts.classes[0]
        for a, (w, v) in enumerate(zip(*relaxed.alone_at(deadline, first))):
            self._append(np.array([a]), np.ones(1), float(min(w, ARTIFICIAL)), self._usage(v))
        for r in range(counts.rows):
            self._append(np.zeros(0, dtype=int), np.ones(0), ARTIFICIAL, -np.eye(counts.rows)[r])
        for bins in counts.classes:  # (each column at the bin it weighs least on, which it counts as)
            found = []
            if bins is not first:
                found += [(np.array([a]), w, v) for a, (w, v) in enumerate(zip(*relaxed.alone_at(deadline, bins)))]
            if seed:  # groups of an earlier master (they hold its runs), at their least weight here
                weighed = relaxed.weights_at(seed, deadline, bins)
                found += [] if weighed is None else list(zip(seed, *weighed))
            else:
                runs, cost, at = relaxed.runs_at(deadline, bins)
                found += [(np.sort(r), w, v) for r, w, v in zip(runs, cost, at) if r.size > 1]
            for members, w, v in found:
                if np.isfinite(w):
                    self._append(members, np.ones(members.size), float(w), self._usage(v))

    def _usage(self, v: int) -> np.ndarray:
        """What a column of bin ``v`` adds to each count row (0 where ``v`` is -1: no bin)."""
        return self.counts.usage[:, v] if v >= 0 else np.zeros(self.counts.rows)

    def _append(self, members: np.ndarray, x: np.ndarray, w: float, usage: np.ndarray) -> bool:
        """Add the column unless the master holds it; whether it did."""
        key = _key(members, x, usage)
        if key in self.known:
            return False
        self.known.add(key)
        self.columns.append(members)
        self.coefficients.append(x)
        self.weights.append(w)
        self.usage.append(usage)
        return True

    def _rows(self, extra: int = 0) -> list[tuple[np.ndarray, float]]:
        """The count rows over the columns (and ``extra`` columns after them, outside every row),
        where they are ``live``."""
        usage = np.array(self.usage).reshape(len(self.usage), self.counts.rows)
        return [(np.concatenate([usage[:, r], np.zeros(extra)]), float(cap)) for r, cap in enumerate(self.counts.caps)
                if self.live]

    def rise(self, deadline: float | None) -> float:
        """How much the count rows raise the LP over the columns so far, as a share of its value
        without them (0 where there are none; inf if either LP is not solved by the deadline).
        Where generation without them converged, that LP's value is the relaxation's, and the
        rows raise it by no more (with them, the LP over every column is at most the LP over
        these)."""
        if not self.counts.rows:
            return 0.0
        values, was = [], self.live
        try:
            for live in (False, True):
                self.live = live
                solved = run_interior_lp(np.asarray(self.weights), self.columns, self._rows(), self.n,
                                         deadline=deadline, coefficients=self.coefficients)
                values.append(np.inf if solved is None else solved[0])
        finally:
            self.live = was
        without, counted = values
        return counted / without - 1 if np.isfinite(counted) and 0 < without < np.inf else np.inf

    def solve(self, deadline: float | None) -> tuple[float, np.ndarray, np.ndarray] | None:
        """The LP's value, its interior-point duals (the cover rows', then the count rows') and
        the fair duals of its solution (each column's weight split among its apps by their
        shares, the count rows' 0: where one large group covers most apps, the LP's duals are
        far from the best bound's and these are near), or None if the LP was not solved by the
        deadline (:func:`.interior_lp.run_interior_lp`)."""
        solved = run_interior_lp(np.asarray(self.weights), self.columns, self._rows(), self.n, deadline=deadline,
                                 coefficients=self.coefficients)
        if solved is None:
            return None
        rows = self.n + self.counts.rows
        value, x = solved[0], solved[2]
        duals = self._duals(solved[1])
        fair = np.zeros(rows)
        for j in np.flatnonzero(x > 1e-9):
            m, c = self.columns[j], self.coefficients[j]
            if m.size:  # (not a count row's slack)
                fair[m] += x[j] * self.weights[j] * c * self.share[m] / (self.share[m] @ c)
        if len(self.columns) > LARGEST * self.n:  # keep the apps alone, the slacks, the columns in use and the nearest
            mu = self.counts.duals(duals, self.n)
            reduced = np.array([w - c @ duals[m] - u @ mu for m, c, w, u in
                                zip(self.columns, self.coefficients, self.weights, self.usage)])
            keep = np.zeros(len(self.columns), dtype=bool)
            keep[:rows] = True
            keep[x > 1e-4] = True  # (interior-point values: tiny but positive for every column)
            keep[np.argsort(reduced, kind="stable")[:LARGEST * self.n // 2]] = True
            for j in np.flatnonzero(~keep):
                self.known.discard(_key(self.columns[j], self.coefficients[j], self.usage[j]))
            self.columns, self.coefficients, self.weights, self.usage = (
                [v for v, k in zip(vals, keep) if k] for vals in (self.columns, self.coefficients, self.weights,
                                                                  self.usage))
        return value, duals, fair

    def boxed(self, cap: np.ndarray, deadline: float | None) -> np.ndarray | None:
        """The duals of the LP with every app's dual capped at ``cap`` (each app may also be
        left uncovered at that price), or None if the LP was not solved. Where the LP is
        degenerate its optimal duals form a wide face and its own duals wander over it
        round after round; capped near the best duals so far they move step by step."""
        alone = [np.array([a]) for a in range(self.n)]
        solved = run_interior_lp(np.concatenate([self.weights, cap]), self.columns + alone, self._rows(self.n),
                                 self.n, deadline=deadline, coefficients=self.coefficients + [np.ones(1)] * self.n)
        return None if solved is None else self._duals(solved[1])

    def _duals(self, duals: np.ndarray) -> np.ndarray:
        """An LP's duals: the cover rows', then the count rows' (0 where they are not ``live``)."""
        counted = duals[self.n:self.n + self.counts.rows] if self.live else np.zeros(self.counts.rows)
        return np.concatenate([duals[:self.n], counted])

    def add(self, found: list[tuple[np.ndarray, np.ndarray, float, int]]) -> int:
        """Add the columns of ``found`` (pricing's, each with its bin) not in the master; return how many."""
        return sum(self._append(members, x, w, self.counts.usage[:, v]) for members, x, w, v in found)


def _key(members: np.ndarray, x: np.ndarray, usage: np.ndarray) -> tuple:
    return tuple(members.tolist()), tuple(np.round(x, 9).tolist()), tuple(usage.tolist())
