"""Branch and price: closing the gap between the column-generation LP and the integer
optimum (``formulations/column_generation.md``, "Branch and price").

A node holds Ryan-Foster rules on pairs of apps: ``together`` (both or neither in every
group) and ``apart`` (never in one group). Its LP is the master over the columns that keep
the rules, grown by pricing that keeps them too (:meth:`.Pricer.restricted`), so its
Lagrangian bound holds for every plan under its rules. A node whose bound reaches the
incumbent is closed; one whose LP vertex is integral gives a plan; otherwise it branches
on the pair of apps whose LP share of a group is the most fractional. Nodes are taken
best bound first (deepest first among bounds equal within their precision), so when the
time runs out the smallest open bound is still a bound on every plan.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..provision import GroupConfig
from .column_master import Master, generate, late
from .pricing import TOLERANCE, Pricer

#: LP values within this of 0 or 1 count as integral.
INTEGRAL = 1e-6
#: The integer master is solved again over the columns so far each time they grow by this factor.
REFRESH = 1.5

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
                     configs: list[GroupConfig], rel_gap: float, deadline: float | None,
                     polish: Polish = unchanged) -> Tree:
    """Search the tree below the root (its LP generated in ``master``, with Lagrangian bound
    ``root_bound``, scaled) from the incumbent plan ``(objective, masks, configs)`` until it
    is closed or ``deadline``; each new incumbent goes through ``polish``."""
    problem, scale = master.problem, master.scale
    slack = TOLERANCE * problem.n  # the bounds' precision (column_master.generate)
    order = itertools.count()
    heap: list[tuple[int, int, int, float, tuple, tuple]] = []
    closed_at = stuck = np.inf  # the least bound of the nodes closed (by bound or plan); of those left open
    nodes, columns = 0, len(master.masks)

    def push(bound: float, together: tuple, apart: tuple) -> None:
        # least bound first; bounds within the slack are equal to it, and among them the deepest
        # node goes first: the LP is degenerate, and a dive reaches plans, which close nodes
        heapq.heappush(heap, (math.floor(bound / slack), -len(together) - len(apart), next(order), bound, together,
                              apart))

    def done() -> float:  # a node bound this high is closed (the incumbent may improve)
        return objective * scale * (1 - rel_gap) - slack

    push(root_bound, (), ())
    while heap and not late(deadline):
        *_, bound, together, apart = heapq.heappop(heap)
        if bound >= done():
            closed_at = min(closed_at, bound)
            continue
        fits = _rules(together, apart)
        if nodes:  # the root's LP is generated already
            restricted = pricer.restricted(list(together), list(apart))
            for mask in restricted.classes():  # each class alone, as each app alone at the root
                master.add_group(mask)
            node = generate(master, restricted, deadline, fits, done())  # closed once its bound reaches the incumbent
            if node.stopped:
                push(bound, together, apart)
                break
            bound = max(bound, node.bound)
        nodes += 1
        if len(master.masks) >= REFRESH * columns:  # the nodes' columns may make a cheaper plan
            columns = len(master.masks)
            better = master.integer(deadline, masks)
            if better is not None and problem.plan_cost(better[0]) < objective:
                objective, masks, configs = polish(problem.plan_cost(better[0]), better[0], better[1])
        if bound >= done():
            closed_at = min(closed_at, bound)
            continue
        keep = fits(master) if nodes > 1 else None
        vertex = master.lp(deadline, False, keep)
        if vertex is None:  # stopped by the deadline
            push(bound, together, apart)
            break
        x = vertex[2]
        pair = _fractional_pair(master, x)
        if pair is None:  # the groups of the LP's vertex are a partition
            used = np.flatnonzero(x > 0.5)
            plan, chosen = [master.masks[j] for j in used], [master.configs[j] for j in used]
            if (np.all((x < INTEGRAL) | (x > 1 - INTEGRAL)) and sum(plan) == (1 << problem.n) - 1
                    and problem.side.allows(problem, plan, chosen)):
                cost = problem.plan_cost(plan)
                if cost < objective:
                    objective, masks, configs = polish(cost, plan, chosen)
                closed_at = min(closed_at, bound)
                continue
            stuck = min(stuck, bound)  # no pair to branch on: left open
            continue
        push(bound, together + (pair,), apart)
        push(bound, together, apart + (pair,))
    closed = stuck == np.inf and closed_at >= done() and all(node[3] >= done() for node in heap)
    low = min([objective, closed_at / scale, stuck / scale] + [node[3] / scale for node in heap])
    return Tree(objective, masks, configs, objective if closed and rel_gap == 0 else low, nodes, closed)


def _rules(together: tuple, apart: tuple) -> Callable[[Master], np.ndarray]:
    """Which of a master's columns keep a node's rules (pairs of app indices)."""
    def fits(master: Master) -> np.ndarray:
        member = master.membership()
        keep = np.ones(member.shape[0], bool)
        for i, j in together:
            keep &= member[:, i] == member[:, j]
        for i, j in apart:
            keep &= ~(member[:, i] & member[:, j])
        return keep
    return fits


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
