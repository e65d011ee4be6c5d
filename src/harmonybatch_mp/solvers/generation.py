"""The generation loop of column generation and its Lagrangian bound
(``formulations/column_generation.md``, "Pricing" and "The master and the bound"), at the
root of :func:`.colgen.colgen` and the nodes of :mod:`.branch_price`.

Each round solves the master LP (:class:`.column_master.Master`; interior-point duals, vertex
duals when those yield nothing new), prices every configuration (:mod:`.pricing`) at a
smoothed point and adds the improving groups found. With ``P_k`` an upper bound on the profit
of configuration ``k``'s columns, ``y.b`` less what a plan's columns can gain
(:meth:`.Pricer.penalty`) is a lower bound on every plan the pricer allows, at every round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .column_master import Count, Master
from .options import late
from .pricing import ENOUGH, TOLERANCE, Pricer
from .problem import Problem

#: Weight of the best-bound duals in the pricing point (Wentges smoothing; 0 prices at the LP's).
SMOOTHING = 0.8
#: Node budgets per search when a round finds no column but cannot rule one out (None: exact),
#: until the bound they give is within ``TOLERANCE * n`` of the LP's value (or the cutoff).
ESCALATION = (20_000, 200_000, 2_000_000, None)
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


@dataclass(frozen=True)
class Generated:
    """What a generation loop ends with: the last LP (``value``, column values ``x``), the best
    Lagrangian ``bound`` (scaled; -inf when none was proven) and the duals and side charges
    it was proven at, the LP rounds, and whether the deadline stopped it; with the bound, the
    pricing bounds of its round (:meth:`.Pricer.price`) and ``base``, the bound before their
    penalty, which :func:`.sharpen.sharpen` proves again; and ``last``, the last LP's duals and
    side charges (the point of the bound at ``y_r <= 0``), where it scales duals again; and the
    search ``budgets`` it ended with (:func:`_deepen`), from which generation may resume."""

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
    budgets: np.ndarray | None = None


def generate(master: Master, pricer: Pricer, deadline: float | None,
             allowed: Callable[[Master], np.ndarray] | None = None, cutoff: float = np.inf,
             counts: tuple[Count, ...] = (), resume: Generated | None = None,
             refresh: Callable[[], float] | None = None) -> Generated:
    """Column generation until the LP is proven optimal over the groups ``pricer`` allows
    (and ``allowed``, given the master, keeps: a boolean per column; and a node's
    ``counts``, rows of the master whose duals charge their configurations), until its Lagrangian
    bound reaches ``cutoff`` (scaled; a node of branch and price whose bound reaches the
    incumbent is closed, whatever its LP), or ``deadline``. Before a round's searches are
    made longer (its short ones found no column), ``refresh`` (if given) returns the cutoff
    from then on: branch and price looks for a cheaper incumbent over the columns so far
    there. The searches of the
    configurations that carry the bound get larger budgets as the rounds go (:func:`_deepen`),
    at the root and at the nodes of branch and price. Given a generation stopped over the same
    master and rows, ``resume`` goes on from its best bound (the smoothing's centre), budgets
    and rounds."""
    problem = master.problem
    n = problem.n
    alone = batch_one(pricer)  # (batch-1 groups are not priced without counting rows)
    most = problem.most_groups
    rhs = right_sides(problem, counts)
    grid = problem.grid
    best: tuple[float, np.ndarray, np.ndarray] | None = None  # (bound, duals, charges)
    center = None  # the best closed-form bound, its duals, charges, pricing bounds and penalty
    if resume is not None and resume.duals is not None:
        best = (resume.bound, resume.duals, resume.charge, resume.upper, resume.base)
        center = (*best[:4], resume.base - resume.bound)
    packed = False  # whether the packing LP has bounded the centre
    rounds, stopped, interior = 0 if resume is None else resume.rounds, False, True
    value, x = np.inf, np.zeros(len(master.masks))
    budgets = np.full(len(pricer.configs), BUDGET) if resume is None or resume.budgets is None else resume.budgets.copy()
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
            # Lagrangian bound at any duals: a plan costs y.b plus its columns' reduced costs,
            # whose negative part the pricing bounds cap (Pricer.penalty); batch-1 groups lose
            # at most what their members alone do (0 up to the LP's dual tolerance)
            base = lagrangian_base(point, rhs, alone)
            enough = min(cutoff, float(duals @ rhs) - TOLERANCE * n)  # a bound that settles the LP
            penalty = pricer.penalty(upper, most, point[:n], charge)
            if refresh is not None and not (found or upper.max(initial=0.0) <= TOLERANCE or late(deadline)
                                            or base - penalty >= enough):
                cutoff = refresh()  # before the searches that may take long, the columns so far
                enough = min(cutoff, enough)
            for budget in ESCALATION:  # only bounds left: search longer, in the end exactly, unless they settle it
                if found or upper.max(initial=0.0) <= TOLERANCE or late(deadline) or base - penalty >= enough:
                    break
                upper, found = pricer.price(point[:n], charge, budget=budget, enough=None, deadline=deadline)
                penalty = pricer.penalty(upper, most, point[:n], charge)
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
        return Generated(value, x, -np.inf, None, None, rounds, stopped, budgets=budgets)
    if best[1] is center[1] and not packed and best[0] < cutoff:
        # (not stopped by ``deadline``: generation's, which leaves the call time after it)
        best = (packed_bound(pricer, center, most), *best[1:])
    if resume is not None and rounds == resume.rounds:  # resumed, and stopped before an LP
        return replace(resume, bound=best[0], stopped=stopped, budgets=budgets)
    last = _bound_point(duals, n)
    return Generated(value, x, best[0], best[1], best[2], rounds, stopped, best[3], best[4],
                     (last, _charges(problem, pricer, last, counts)), budgets)


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


def packed_bound(pricer: Pricer, center: tuple, most: int, deadline: float | None = None,
                 below: float | None = None) -> float:
    """The bound at a round's duals with the packing LP's penalty, where the closed form's is
    at most ``below`` (:data:`PACKING_BELOW` when None; the closed-form bound otherwise, as
    where ``deadline`` stops the LP)."""
    bound, point, charge, upper, penalty = center
    if penalty > (PACKING_BELOW if below is None else below):
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
