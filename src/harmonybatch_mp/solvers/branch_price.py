"""Branch and price: closing the gap between the column-generation LP and the integer
optimum (``formulations/column_generation.md``, "Branch and price").

A node holds rules on how many groups use a set of configurations (:class:`.Count`: at
most or at least so many, counted on the configuration each column is priced as) and Ryan-Foster
rules on pairs of apps: ``together`` (both or neither in every group) and ``apart`` (never
in one group). Its LP is the master over the columns that keep the rules, with a row per
count, grown by pricing that keeps them too (:meth:`.Pricer.restricted`; a count's dual
charges its configuration), so its Lagrangian bound holds for every plan under its rules.
A node whose bound reaches the incumbent is closed; one whose LP vertex is integral gives
a plan; otherwise it branches on a count whose LP value is fractional (a function size's,
then a range of its batch sizes': :func:`_fractional_count`), and once every count is
integral, on the pair of apps whose LP share of a group is the most fractional. Nodes are
taken best bound first (deepest first among bounds equal within their precision), so when the
time runs out the smallest open bound is still a bound on every plan.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..provision import GroupConfig
from ..solver_info import allowance
from .column_master import Count, Master
from .generation import generate
from .options import late
from .pricing import TOLERANCE, Pricer
from .repair import incumbent_cost

#: LP values within this of 0 or 1 count as integral.
INTEGRAL = 1e-6
#: The integer master is solved again over the columns so far each time they grow by this factor;
REFRESH = 1.5
#: and within a node, over new ones, once the node (and the time since the master's last run)
#: is this many times what that run took, before its searches are made longer
#: (formulations/column_generation.md, "Branch and price": a node's round of exact searches ran
#: 34 s at n = 60 after the columns that proved the plan had come).
INTEGER_EVERY = 30.0

#: Improves a new incumbent ``(objective, groups, configurations)``, returning the same or a cheaper one.
Polish = Callable[[float, list[int], list[GroupConfig]], tuple[float, list[int], list[GroupConfig]]]


def unchanged(objective: float, masks: list[int], configs: list[GroupConfig]) -> tuple[float, list[int], list[GroupConfig]]:
    """The :data:`Polish` that keeps the incumbent as it is."""
    return objective, masks, configs


@dataclass(frozen=True)
class Tree:
    """What branch and price ends with: the best plan (``objective``, groups, configurations),
    a bound on every plan (unscaled), the nodes solved and whether the tree was closed."""

    objective: float
    masks: list[int]
    configs: list[GroupConfig]
    bound: float
    nodes: int
    closed: bool


def branch_and_price(master: Master, pricer: Pricer, root_bound: float, objective: float, masks: list[int],
                     configs: list[GroupConfig], gaps: tuple[float, float], deadline: float | None,
                     polish: Polish = unchanged, duals: np.ndarray | None = None) -> Tree:
    """Search the tree below the root (its LP generated in ``master``, with Lagrangian bound
    ``root_bound``, scaled) from the incumbent plan ``(objective, masks, configs)`` until it
    is closed (within ``gaps``, :func:`~harmonybatch_mp.solver_info.allowance`) or
    ``deadline``; each new incumbent goes through ``polish``. The root's best-bound ``duals``
    guide the integer masters' partition search (:meth:`.Master.integer`)."""
    problem, scale = master.problem, master.scale
    slack = TOLERANCE * problem.n  # the bounds' precision (generation.generate)
    order = itertools.count()
    heap: list[tuple[int, int, int, float, tuple, tuple, tuple]] = []
    closed_at = stuck = np.inf  # the least bound of the nodes closed (by bound or plan); of those left open
    nodes = 0
    grown = seen = len(master.masks)  # columns at the integer master's last run by growth; by any
    ran = (time.perf_counter(),) * 2  # when it last ran: began, ended

    def push(bound: float, together: tuple, apart: tuple, counts: tuple) -> None:
        # least bound first; bounds within the slack are equal to it, and among them the deepest
        # node goes first: the LP is degenerate, and a dive reaches plans, which close nodes
        heapq.heappush(heap, (math.floor(bound / slack), -len(together) - len(apart) - len(counts), next(order), bound,
                              together, apart, counts))

    def done() -> float:  # a node bound this high is closed (the incumbent may improve)
        return (objective - allowance(objective, gaps)) * scale - slack

    def refresh(node: float | None = None) -> None:  # the columns may make a cheaper plan (within a node begun at node)
        nonlocal objective, masks, configs, grown, seen, ran
        now, count = time.perf_counter(), len(master.masks)
        grew = node is None and count >= REFRESH * grown
        if grew or (node is not None and count > seen and now - max(node, ran[1]) >= INTEGER_EVERY * (ran[1] - ran[0])):
            seen, grown = count, count if grew else grown
            better = master.integer(deadline, masks, duals)
            ran = (now, time.perf_counter())
            if better is not None and incumbent_cost(problem, better[0], better[1]) < objective:
                objective, masks, configs = polish(incumbent_cost(problem, better[0], better[1]), better[0], better[1])

    push(root_bound, (), (), ())
    while heap and not late(deadline):
        *_, bound, together, apart, counts = heapq.heappop(heap)
        if bound >= done():
            closed_at = min(closed_at, bound)
            continue
        # configurations a count rules out get no row: they are not priced at all
        forbidden = tuple(sorted({k for c in counts if c.most and c.value == 0 for k in c.configs}))
        rows = tuple(c for c in counts if not set(c.configs) <= set(forbidden))
        fits = _rules(together, apart, forbidden, pricer.priced_as)
        if nodes:  # the root's LP is generated already
            restricted = pricer.restricted(list(together), list(apart), forbidden)
            for mask in restricted.classes():  # each class alone, as each app alone at the root
                master.add_group(mask)
            def cutoff(inherited: float = bound, began: float = time.perf_counter(), given: float = done()) -> float:
                # closed once its bound reaches the incumbent; the columns of a long node may
                # improve it, and the node ends at once where its parent's bound reaches the new
                # one (formulations/column_generation.md, "Branch and price")
                refresh(began)
                return -np.inf if inherited >= done() else given

            node = generate(master, restricted, deadline, fits, done(), rows, refresh=cutoff)
            if node.stopped:
                push(bound, together, apart, counts)
                break
            bound = max(bound, node.bound)
        nodes += 1
        refresh()
        if bound >= done():
            closed_at = min(closed_at, bound)
            continue
        keep = fits(master) if nodes > 1 else None
        vertex = master.lp(deadline, False, keep, master.count_rows(rows, pricer.priced_as))
        if vertex is None:  # stopped by the deadline
            push(bound, together, apart, counts)
            break
        x = vertex[2]
        count = _fractional_count(master, x, pricer)
        if count is not None:  # at most the count's floor, or at least its ceiling
            configs_, value = count
            push(bound, together, apart, counts + (Count(configs_, math.floor(value), True),))
            push(bound, together, apart, counts + (Count(configs_, math.ceil(value), False),))
            continue
        pair = _fractional_pair(master, x)
        if pair is None:  # the groups of the LP's vertex are a partition
            used = np.flatnonzero(x > 0.5)
            plan, chosen = [master.masks[j] for j in used], [master.configs[j] for j in used]
            integral = np.all((x < INTEGRAL) | (x > 1 - INTEGRAL))
            if not integral:  # a group split over configurations: take its optimum, or under counting
                # rows the cheapest it is split over (the plan then costs at most the LP)
                share: dict[int, float] = {}
                cheapest: dict[int, GroupConfig] = {}
                for j in np.flatnonzero(x > INTEGRAL):
                    m, cfg = master.masks[j], master.configs[j]
                    share[m] = share.get(m, 0.0) + float(x[j])
                    if m not in cheapest or cfg.cost < cheapest[m].cost:
                        cheapest[m] = cfg
                integral = all(v > 1 - INTEGRAL for v in share.values())
                plan = list(share)
                chosen = [cheapest[m] if problem.side.counting else problem.group(m) for m in plan]
            if integral and sum(plan) == (1 << problem.n) - 1 and problem.side.allows(problem, plan, chosen):
                cost = incumbent_cost(problem, plan, chosen)
                if cost < objective:
                    objective, masks, configs = polish(cost, plan, chosen)
                # its LP, converged within the slack, bounds its plans, and is at least the
                # incumbent (no dearer than this plan, whose groups' optima cost at most the LP):
                # closed, though its Lagrangian bound may stop a rounding error short of done()
                closed_at = min(closed_at, max(bound, done()))
                continue
            stuck = min(stuck, bound)  # no pair to branch on: left open
            continue
        push(bound, together + (pair,), apart, counts)
        push(bound, together, apart + (pair,), counts)
    closed = stuck == np.inf and closed_at >= done() and all(node[3] >= done() for node in heap)
    low = min([objective, closed_at / scale, stuck / scale] + [node[3] / scale for node in heap])
    # closed: every node's bound reached done(), whose slack is the bounds' precision, so the
    # plan is within the gaps of the bound (with none, the bound is its cost; a node closed
    # within the slack under the gaps was a bound short of them, which solve() refused)
    return Tree(objective, masks, configs, max(low, objective - allowance(objective, gaps)) if closed else low,
                nodes, closed)


def _rules(together: tuple, apart: tuple, forbidden: tuple = (),
           priced_as: np.ndarray | None = None) -> Callable[[Master], np.ndarray]:
    """Which of a master's columns keep a node's rules (pairs of app indices; the
    ``forbidden`` configurations, positions among the pricer's that ``priced_as`` maps the
    grid's to)."""
    def fits(master: Master) -> np.ndarray:
        member = master.membership()
        keep = np.ones(member.shape[0], bool)
        if forbidden:
            keep &= ~np.isin(master.priced(priced_as), forbidden)
        for i, j in together:
            keep &= member[:, i] == member[:, j]
        for i, j in apart:
            keep &= ~(member[:, i] & member[:, j])
        return keep
    return fits


def _fractional_count(master: Master, x: np.ndarray, pricer: Pricer) -> tuple[tuple[int, ...], float] | None:
    """A set of configurations (positions among the pricer's) whose LP count of groups,
    ``sum x`` over the columns priced as one of them, is fractional, and that count (None:
    every configuration's count is integral). First the function sizes (kind, vCPUs, GPU
    memory: all their batch sizes at once), the most fractional; once those are integral,
    the batch sizes up to a threshold within one size, the most fractional such prefix."""
    priced = master.priced(pricer.priced_as)
    used = (priced >= 0) & (x > INTEGRAL)
    if not used.any():
        return None
    per_config = np.bincount(priced[used], weights=x[used], minlength=len(pricer.configs))
    grid, index = master.problem.grid, pricer.configs.index
    size = np.unique(np.stack([grid.kind[index], grid.vcpu[index], grid.gpu_mem[index]], axis=1), axis=0,
                     return_inverse=True)[1].ravel()
    sizes = [np.flatnonzero(size == s) for s in np.unique(size[per_config > INTEGRAL])]
    by_batch = [m[np.argsort(pricer.configs.batch[m], kind="stable")] for m in sizes]
    prefixes = [m[:i] for m in by_batch for i in range(1, m.size)]
    for sets in (sizes, prefixes):  # prefixes only once every size's count is integral
        value = np.array([per_config[configs].sum() for configs in sets])
        part = value - np.floor(value)
        frac = (part > INTEGRAL) & (part < 1 - INTEGRAL)
        if frac.any():
            i = int(np.argmin(np.where(frac, np.abs(part - 0.5), np.inf)))
            return tuple(int(k) for k in sets[i]), float(value[i])
    return None


def _fractional_pair(master: Master, x: np.ndarray) -> tuple[int, int] | None:
    """The pair of apps whose LP share of a common group is nearest 1/2 (None: all 0 or 1)."""
    n = master.problem.n
    support = np.flatnonzero(x > INTEGRAL)
    member = master.membership()[support].astype(float)
    share = member.T @ (x[support, None] * member)
    share[np.tril_indices(n)] = 0.0
    frac = (share > INTEGRAL) & (share < 1 - INTEGRAL)
    if not frac.any():
        return None
    i, j = np.unravel_index(np.argmin(np.where(frac, np.abs(share - 0.5), np.inf)), share.shape)
    return int(i), int(j)
