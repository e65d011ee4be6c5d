"""The restricted master of column generation and its generation loop
(``formulations/column_generation.md``, "The master and the bound"), shared by the root
of :func:`.colgen.colgen` and the nodes of :mod:`.branch_price`.

Each round solves the master LP (interior-point duals; vertex duals when those yield
nothing new), prices every configuration (:mod:`.pricing`) at a smoothed point and adds
the improving groups found. With ``P_k`` an upper bound on the profit of configuration
``k``'s columns, ``y.b`` less what a plan's columns can gain (:meth:`.Pricer.penalty`) is
a lower bound on every plan the pricer allows, at every round.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import SolverError
from ..provision import GroupConfig
from .backends import OPTIMAL as SOLVED
from .highs import run_highs_arrays, run_highs_lp
from .options import late
from .partition_search import cheapest_partition
from .pricing import ENOUGH, TOLERANCE, Pricer
from .problem import Problem, members

#: Cost of one unit of violation of a side row, or of an uncovered app at a node of branch and
#: price, in the master LP (scaled units; the plan is ~1). Elastic rows keep the LP feasible
#: from the first round; the bound stays valid for any value.
ELASTIC_COST = 1e3
#: Weight of the best-bound duals in the pricing point (Wentges smoothing; 0 prices at the LP's).
SMOOTHING = 0.8
#: Node budgets per search when a round finds no column but cannot rule one out (None: exact).
ESCALATION = (20_000, 200_000, 2_000_000, None)
#: The enumeration proof's search (:meth:`Master.cheapest`) looks for plans cheaper than the
#: incumbent by more than this (scaled units: the per-app bound is 1), as HiGHS's tolerances
#: let it: to 1e-9, n = 32 (88,920 columns, 88,596 of reduced cost under 1e-6, the incumbent
#: 7e-9 above the bound) ran out its 60 s, where HiGHS proved it in 1.1 s.
PROOF_TOLERANCE = 1e-7
#: Node budget per search in a round, and the most it grows to for the configurations that
#: carry the Lagrangian penalty (ten-fold per round in which they carry half of it, once a
#: round's searches no longer find :data:`.pricing.ENOUGH` groups).
BUDGET, DEEPEST = 2_000, 2_000_000
#: The deepened budgets are spent every this many rounds; the rounds between search each
#: configuration with :data:`BUDGET` nodes at most, for columns, and deepen none. At n = 150
#: (random GPT-2) the deep searches took most of each round's 3-5 s while the LP was still
#: falling (formulations/column_generation.md, "Deep rounds every other round").
DEEP_EVERY = 2
#: The packing LP (:meth:`.Pricer.packing`) is solved once the closed-form penalty is at most
#: this (in units of the problem's lower bound, as the duals are scaled): earlier the bound is
#: far from anything it could prove, and the LP has hundreds of configurations (n = 150: up to
#: 0.5 s).
PACKING_BELOW = 0.05
#: Under a deadline, the integer master gives HiGHS the start's columns and at most this many
#: others, those of least reduced cost at the duals given (least weight per app without them). HiGHS's
#: root reduced-cost fixing checks neither its time limit nor the interrupt callbacks: on the
#: 32,575 columns of n = 100 BERT under a GPU cap (part 5 of ``benchmarks/colgen.py``) it ran
#: about 12 s of a MIP solve given 8 s, and the 60 s call ended at 76 s; on random 10,000 of
#: those columns with the start, the solve took 0.17 s, on 20,000 1.07 s.
INTEGER_COLUMNS = 10_000
#: The integer master's partition search (:meth:`Master.integer`) has this share of the time
#: left, and at most this many seconds, before HiGHS takes over from the best plan it found.
SEARCH_SHARE, SEARCH_SECONDS = 0.25, 2.0


@dataclass(frozen=True)
class Count:
    """A rule of a node of branch and price on how many groups of a plan use one of the
    ``configs`` (positions among the pricer's configurations, which each column is priced
    as: :attr:`.Pricer.priced_as`): at most ``value`` when ``most``, else at least."""

    configs: tuple[int, ...]
    value: int
    most: bool


@dataclass
class Master:
    """The restricted master: columns as (group mask, configuration, scaled weight)."""

    problem: Problem
    scale: float

    def __post_init__(self) -> None:
        self.masks: list[int] = []
        self.members: list[list[int]] = []
        self.configs: list[GroupConfig] = []
        self.weights: list[float] = []
        self.seen: set[tuple[int, int]] = set()
        self._membership = np.zeros((0, self.problem.n), bool)

    def add_group(self, mask: int, config: GroupConfig | None = None, exact: bool = False) -> int:
        """Columns for a group: its optimum (``config`` when it is known to be one), or its
        optimum per kind and GPU size when side rows count GPUs or their memory; with
        ``exact``, the group on ``config`` as well. Returns how many columns were new."""
        p = self.problem
        if p.side.isolate and p.side.separates(p, mask):
            return 0  # holds an isolated pair: no column (formulations/set_partitioning.md)
        by_class = p.side.max_gpu_functions is not None or p.side.gpu_memory_budget is not None
        if by_class:
            cfgs = p.per_class(mask)
        else:
            cfgs = [c for c in [p.group(mask) if config is None or exact else config] if c is not None]
        if exact and config is not None:
            cfgs.append(config)
        new = 0
        for c in cfgs:
            if (mask, c.index) not in self.seen:
                self.seen.add((mask, c.index))
                self.masks.append(mask)
                self.members.append(members(mask))
                self.configs.append(c)
                self.weights.append(self.scale * p.rate(mask) / p.total_rate * c.cost)
                new += 1
        return new

    def add_groups(self, groups: list[tuple[int, GroupConfig | None]], duals: np.ndarray,
                   counts: tuple[Count, ...] = (), priced_as: np.ndarray | None = None,
                   deadline: float | None = None) -> int:
        """Add the groups' columns (each also on its configuration when one is given); returns
        how many new ones price out at ``duals`` (over the side rows, then the ``counts``).
        Those not added by ``deadline`` are left out (each finds its group's optimum: a round's
        groups took 0.79 s at 1,000 apps)."""
        before = len(self.masks)
        for k, (m, config) in enumerate(groups):
            if k % 16 == 0 and late(deadline):
                break
            self.add_group(m, config, exact=config is not None)
        rc = self.reduced_costs(duals, before, self.count_rows(counts, priced_as))
        return int((rc < -TOLERANCE).sum())

    def reduced_costs(self, duals: np.ndarray, first: int = 0,
                      rows: list[tuple[np.ndarray, float]] | None = None) -> np.ndarray:
        """The reduced costs at ``duals`` of the columns from ``first`` on: over the cover rows,
        the side rows, then the extra ``rows`` (a node's :meth:`count_rows`)."""
        n = self.problem.n
        rc = np.asarray(self.weights[first:]) - self.membership()[first:] @ duals[:n]
        for r, (coef, _) in enumerate(self.side_rows() + (rows or [])):
            rc -= duals[n + r] * coef[first:]
        return rc

    def count_rows(self, counts: tuple[Count, ...], priced_as: np.ndarray | None) -> list[tuple[np.ndarray, float]]:
        """The rows of a node's ``counts`` over the columns so far, as ``<=`` rows, each
        column counted on the configuration it is priced as (``priced_as``, per grid index)."""
        if not counts:
            return []
        priced = self.priced(priced_as)
        return [((1.0 if c.most else -1.0) * np.isin(priced, c.configs), float(c.value if c.most else -c.value))
                for c in counts]

    def priced(self, priced_as: np.ndarray) -> np.ndarray:
        """Per column, the pricing configuration it is priced as (``priced_as``: per grid
        index, :attr:`.Pricer.priced_as`; -1 for none)."""
        return priced_as[[c.index for c in self.configs]]

    def membership(self) -> np.ndarray:
        """Columns by apps: whether each column's group holds each app (rows added as the
        columns come)."""
        have = self._membership.shape[0]
        if have < len(self.masks):
            new = np.zeros((len(self.masks) - have, self.problem.n), bool)
            for row, apps in enumerate(self.members[have:]):
                new[row, apps] = True
            self._membership = np.concatenate([self._membership, new])
        return self._membership

    def side_rows(self) -> list[tuple[np.ndarray, float]]:
        """The side rows over the columns so far: (coefficient per column, upper bound)."""
        is_gpu = np.array([c.kind == "gpu" for c in self.configs], float)
        mem = np.array([c.gpu_mem_gb or 0 for c in self.configs], float)
        return [(coef, ub) for _, coef, ub in self.problem.side.rows(is_gpu, mem)]

    def lp(self, deadline: float | None, interior: bool, allowed: np.ndarray | None = None,
           rows: list[tuple[np.ndarray, float]] | None = None):
        """The master LP over the ``allowed`` columns (all when None; otherwise each app may
        also stay uncovered at :data:`ELASTIC_COST`), with the side rows and the extra
        ``rows`` (a node's :meth:`count_rows`): ``(objective, duals, x)``, ``x`` over every
        column, or None."""
        n = self.problem.n
        keep = np.arange(len(self.masks)) if allowed is None else np.flatnonzero(allowed)
        rows = [(coef[keep], ub) for coef, ub in self.side_rows() + (rows or [])]
        k = len(rows)
        rows = [(np.concatenate([coef, -np.eye(k)[r], np.zeros(0 if allowed is None else n)]), ub)
                for r, (coef, ub) in enumerate(rows)]
        cols = [self.members[j] for j in keep] + [[] for _ in range(k)]
        cost = [self.weights[j] for j in keep] + [ELASTIC_COST] * k
        if allowed is not None:
            cols += [[i] for i in range(n)]
            cost += [ELASTIC_COST] * n
        # a node's LPs without presolve: one of 3,026 columns and 62 rows (n = 60) took 123 ms
        # instead of 157 ms by interior point, 38 ms instead of 77 ms by simplex (at the root,
        # its other interior duals slowed generation: formulations/column_generation.md)
        solved = run_highs_lp(np.asarray(cost), cols, rows, n, deadline=deadline, interior=interior,
                              presolve=allowed is None)
        if solved is None:
            return None
        x = np.zeros(len(self.masks))
        x[keep] = solved[2][:keep.size]
        return solved[0], solved[1], x

    def positions(self, masks: list[int]) -> list[int]:
        """The column of each group of ``masks`` (its first, where a group has several)."""
        index = {m: j for j, m in reversed(list(enumerate(self.masks)))}
        return [index[m] for m in masks]

    def integer(self, deadline: float | None, warm: list[int],
                duals: np.ndarray | None = None) -> tuple[list[int], list[GroupConfig], bool] | None:
        """The integer master over the columns so far: ``(groups, configs, proven optimal)``,
        or None (no solution by the ``deadline``, also while another thread held HiGHS).
        Without side rows and given ``duals`` to guide it, the partition search of
        :meth:`cheapest` first, for :data:`SEARCH_SHARE` of the time left (at most
        :data:`SEARCH_SECONDS`): where it ends, its plan is the optimum; otherwise HiGHS goes
        on from the best plan it found. (In the trees of n = 30 the search took 1-45 ms where
        HiGHS took 0.2-0.8 s.) Under a ``deadline`` HiGHS gets at most :data:`INTEGER_COLUMNS`
        columns (:meth:`_given`), and a plan over fewer than all is not proven optimal."""
        if duals is not None and not self.side_rows():
            now = time.perf_counter()
            budget = SEARCH_SECONDS if deadline is None else min(SEARCH_SECONDS, SEARCH_SHARE * max(0.0, deadline - now))
            found = self.cheapest(duals, now + budget, warm)
            if found is not None and (found[2] or late(deadline)):
                return found
            warm = warm if found is None else found[0]
        if late(deadline):  # (setting HiGHS up took 0.05 s at 2,000 columns, past a deadline)
            return None
        positions = self.positions(warm)
        given = self._given(deadline, positions, duals)
        start = np.zeros(given.size)
        start[np.isin(given, positions)] = 1.0
        try:
            result, x = run_highs_arrays(np.asarray(self.weights)[given], [self.members[j] for j in given],
                                         [(coef[given], ub) for coef, ub in self.side_rows()], self.problem.n,
                                         deadline=deadline, warm_start=start if warm else None)
        except SolverError as exc:
            if not exc.time_limit:
                raise
            return None
        if x is None:
            return None
        chosen = given[np.flatnonzero(x > 0.5)]
        proven = result.termination == SOLVED and given.size == len(self.masks)
        return [self.masks[j] for j in chosen], [self.configs[j] for j in chosen], proven

    def _given(self, deadline: float | None, start: list[int], duals: np.ndarray | None) -> np.ndarray:
        """The columns :meth:`integer` gives HiGHS: all of them, or under a ``deadline`` the
        ``start``'s (column positions) and the :data:`INTEGER_COLUMNS` others of least reduced
        cost at ``duals`` (cover and side rows; least weight per app without them)."""
        count = len(self.masks)
        if deadline is None or count <= INTEGER_COLUMNS + len(start):
            return np.arange(count)
        if duals is None:
            score = np.asarray(self.weights) / self.membership().sum(axis=1)
        else:
            score = self.reduced_costs(duals)
        score[start] = -np.inf
        return np.sort(np.argsort(score, kind="stable")[:INTEGER_COLUMNS + len(start)])

    def cheapest(self, duals: np.ndarray, deadline: float | None,
                 warm: list[int]) -> tuple[list[int], list[GroupConfig], bool] | None:
        """:meth:`integer` for the enumeration proof: without side rows, by the search of
        :mod:`.partition_search` (pruned by the reduced costs at ``duals``) until ``deadline``:
        the cheapest plan found, no dearer than ``warm`` (cheaper by more than
        :data:`PROOF_TOLERANCE`; None when ``warm`` is empty and no plan was found), and
        whether the search ended. On the 72,486 columns of n = 30 ladder BERT it took 0.9 s,
        HiGHS 6.6-12.3 s; and HiGHS, given 0.7 s there, ran 1.6 s."""
        if self.side_rows():
            return self.integer(deadline, warm, duals)
        start = self.positions(warm)
        weights = np.asarray(self.weights)
        upper = float(weights[start].sum()) if start else np.inf
        found, ended = cheapest_partition(self.members, weights, self.problem.n, duals, upper, deadline,
                                          tol=PROOF_TOLERANCE)
        chosen = start if found is None else found
        if not chosen:
            return None
        return [self.masks[j] for j in chosen], [self.configs[j] for j in chosen], ended


@dataclass(frozen=True)
class Generated:
    """What a generation loop ends with: the last LP (``value``, column values ``x``), the best
    Lagrangian ``bound`` (scaled; -inf when none was proven) and the duals and side charges
    it was proven at, the LP rounds, and whether the deadline stopped it; with the bound, the
    pricing bounds of its round (:meth:`.Pricer.price`) and ``base``, the bound before their
    penalty, which :func:`.sharpen.sharpen` proves again; and ``last``, the last LP's duals and
    side charges (the point of the bound at ``y_r <= 0``), where it scales duals again."""

    value: float
    x: np.ndarray
    bound: float
    duals: np.ndarray | None
    charge: np.ndarray | None
    rounds: int
    stopped: bool
    upper: np.ndarray | None = None
    base: float = -np.inf
    last: tuple[np.ndarray, np.ndarray] | None = None


def generate(master: Master, pricer: Pricer, deadline: float | None,
             allowed: Callable[[Master], np.ndarray] | None = None, cutoff: float = np.inf,
             counts: tuple[Count, ...] = ()) -> Generated:
    """Column generation until the LP is proven optimal over the groups ``pricer`` allows
    (and ``allowed``, given the master, keeps: a boolean per column; and a node's
    ``counts``, rows of the master whose duals charge their configurations), until its Lagrangian
    bound reaches ``cutoff`` (scaled; a node of branch and price whose bound reaches the
    incumbent is closed, whatever its LP), or ``deadline``. The searches of the
    configurations that carry the bound get larger budgets as the rounds go (:func:`_deepen`),
    at the root and at the nodes of branch and price."""
    problem = master.problem
    n = problem.n
    alone = batch_one(pricer)  # (batch-1 groups are not priced without counting rows)
    most = problem.most_groups
    rhs = right_sides(problem, counts)
    grid = problem.grid
    best: tuple[float, np.ndarray, np.ndarray] | None = None  # (bound, duals, charges)
    center = None  # the best closed-form bound, its duals, charges, pricing bounds and penalty
    packed = False  # whether the packing LP has bounded the centre
    rounds, stopped, interior = 0, False, True
    value, x = np.inf, np.zeros(len(master.masks))
    budgets = np.full(len(pricer.configs), BUDGET)
    while not (stopped := late(deadline)):
        keep = None if allowed is None else allowed(master)
        solved = master.lp(deadline, interior, keep, master.count_rows(counts, pricer.priced_as))
        if solved is None:
            stopped = True
            break
        value, x = solved[0], solved[2]
        duals = pricer.pool(solved[1][:rhs.size])
        rounds += 1
        added = 0
        for alpha in ((SMOOTHING, 0.0) if center is not None else (0.0,)):
            # price at a point between the best-bound duals and the LP's (Wentges smoothing);
            # when that finds nothing the LP can use (mispricing), price at the LP's own duals
            point = duals if alpha == 0 else alpha * center[1] + (1 - alpha) * duals
            point = _bound_point(point, n)
            charge = _charges(problem, pricer, point, counts)
            deep = rounds % DEEP_EVERY == 0  # else the deepened budgets rest (DEEP_EVERY)
            upper, found = pricer.price(point[:n], charge, budget=budgets if deep else np.minimum(budgets, BUDGET),
                                        deadline=deadline)
            for budget in ESCALATION:  # only bounds left: search longer, in the end exactly
                if found or upper.max(initial=0.0) <= TOLERANCE or late(deadline):
                    break
                upper, found = pricer.price(point[:n], charge, budget=budget, enough=None, deadline=deadline)
            # Lagrangian bound at any duals: a plan costs y.b plus its columns' reduced costs,
            # whose negative part the pricing bounds cap (Pricer.penalty); batch-1 groups lose
            # at most what their members alone do (0 up to the LP's dual tolerance)
            penalty = pricer.penalty(upper, most, point[:n], charge)
            base = lagrangian_base(point, rhs, alone)
            lagrangian = base - penalty
            if deep and len(found) < ENOUGH:  # the shallow searches no longer fill a round: prove bounds
                _deepen(budgets, pricer.blame(upper, point[:n], charge))
            if center is None or lagrangian > center[0]:
                # the duals of the best closed-form bound are the smoothing's centre: the path of
                # generation does not depend on the packing LP, solved where its bound may reach
                # the cutoff (it charges about the largest upper bound at least) and, when
                # generation stops, at the last centre
                center, packed = (lagrangian, point, charge, upper, penalty), False
                if lagrangian + penalty - upper.max(initial=0.0) >= cutoff:
                    lagrangian, packed = packed_bound(pricer, center, most), True
            if best is None or lagrangian > best[0]:
                best = (lagrangian, point, charge, upper, base)
            # under counts a group goes in on the configuration that priced it too: its optimum
            # may be counted on another, or ruled out
            exact = bool(counts or pricer.forbidden)
            added = master.add_groups([(m, grid.config(int(pricer.configs.index[k])) if exact else None)
                                       for k, m in found], duals, counts, pricer.priced_as, deadline)
            if added or best[0] >= cutoff:
                break
        # converged within the bound's own precision: pricing ignores profits up to TOLERANCE per
        # column, and a plan has at most n columns
        # (or the bound reaches the cutoff: then the LP need not converge)
        settled = float(duals @ rhs) - best[0] <= TOLERANCE * n or best[0] >= cutoff
        if not (added or settled) and late(deadline) and upper.max(initial=0.0) > TOLERANCE:
            # the deadline cut this round's pricing short: nothing proves the LP optimal (branch
            # and price takes a root or node not stopped for converged, and closes it at an
            # integral vertex)
            stopped = True
            break
        if settled or not (added or interior):
            break
        # the interior point's duals stabilise generation; when they yield nothing new (they
        # are optimal only within the LP's tolerances), the next round takes a vertex's
        interior = bool(added)
    if best is None:
        return Generated(value, x, -np.inf, None, None, rounds, stopped)
    if best[1] is center[1] and not packed and best[0] < cutoff:
        # (not stopped by ``deadline``: generation's, which leaves the call time after it)
        best = (packed_bound(pricer, center, most), *best[1:])
    last = _bound_point(duals, n)
    return Generated(value, x, best[0], best[1], best[2], rounds, stopped, best[3], best[4],
                     (last, _charges(problem, pricer, last, counts)))


def right_sides(problem: Problem, counts: tuple[Count, ...] = ()) -> np.ndarray:
    """The master's right-hand sides: a cover row per app, the side rows, then a node's
    ``counts`` (as ``<=`` rows)."""
    return np.concatenate([np.ones(problem.n), [ub for _, _, ub in problem.side.rows(np.zeros(0), np.zeros(0))],
                           [c.value if c.most else -c.value for c in counts]])


def batch_one(pricer: Pricer) -> np.ndarray | None:
    """Per app (per class of apps kept together, at a node), the least its batch-1 groups
    cost, which bounds what they gain at any duals; None under rows that count functions,
    where batch-1 configurations are priced (formulations/column_generation.md)."""
    return None if pricer.problem.side.counting else pricer.pool(pricer.alone)


def lagrangian_base(point: np.ndarray, rhs: np.ndarray, alone: np.ndarray | None) -> float:
    """The Lagrangian bound at ``point`` before the penalty of the priced columns: ``y·b``
    less what batch-1 groups, which are not priced, can gain (a batch-1 group costs what its
    members cost alone on its configuration, at least ``alone``)."""
    base = float(point @ rhs)
    if alone is not None:
        base -= float(np.maximum(point[:alone.size] - alone, 0.0).sum())
    return base


def packed_bound(pricer: Pricer, center: tuple, most: int, deadline: float | None = None) -> float:
    """The bound at a round's duals with the packing LP's penalty, where the closed form's is
    at most :data:`PACKING_BELOW` (the closed-form bound otherwise, as where ``deadline``
    stops the LP)."""
    bound, point, charge, upper, penalty = center
    if penalty > PACKING_BELOW:
        return bound
    return bound + penalty - min(penalty, pricer.packing(upper, most, point[:pricer.problem.n], charge, deadline))


def _deepen(budgets: np.ndarray, blame: np.ndarray) -> None:
    """Raise ten-fold (up to :data:`DEEPEST`) the search budgets of the configurations that
    carry half the penalty's per-app sum: their bounds are the ones worth proving tighter."""
    order = np.argsort(-blame, kind="stable")
    total = np.cumsum(blame[order])
    if total.size == 0 or total[-1] <= 0:
        return
    top = order[:int(np.searchsorted(total, 0.5 * total[-1])) + 1]
    budgets[top] = np.minimum(budgets[top] * 10, DEEPEST)


def _bound_point(duals: np.ndarray, n: int) -> np.ndarray:
    """``duals`` with the side and count rows' clipped to ``y_r <= 0``, as the Lagrangian bound
    needs them (the cover duals of the ``n`` apps as they are)."""
    return np.concatenate([duals[:n], np.minimum(duals[n:], 0.0)])


def _charges(problem: Problem, pricer: Pricer, duals: np.ndarray, counts: tuple[Count, ...] = ()) -> np.ndarray:
    """What the side rows, then a node's ``counts``, charge each pricing configuration:
    ``-sum_r y_r D_r(k)`` (``y_r <= 0``; negative, a bonus, for a count asking for columns)."""
    c = pricer.configs
    coef = problem.side.rows(c.is_gpu.astype(float), c.gpu_mem.astype(float))
    charge = np.zeros(len(c))
    for r, (_, d, _) in enumerate(coef):
        charge -= duals[problem.n + r] * d
    for r, count in enumerate(counts, start=problem.n + len(coef)):
        charge[list(count.configs)] -= duals[r] * (1.0 if count.most else -1.0)
    return charge
