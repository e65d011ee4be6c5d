"""Improving a plan by planning the apps of two or three of its groups again, exactly
(``formulations/column_generation.md``, "Regrouping the incumbent"; full-batch model).

Moves of single apps (:mod:`.moves`) stop where no one app's move pays, but the apps of a
few groups may still split more cheaply another way: on n = 60 random BERT the moved ``dp``
plan held groups of 12, 12 and 7 apps whose 31 apps cost 0.93% less as groups of 15 and 16,
and no pair of its groups could be split more cheaply. Each *part* (the apps of two groups,
then of three) is a workload of its own, planned by ``colgen`` within :data:`PART_SECONDS`;
a cheaper plan of the part replaces its groups, and the search starts again from the new
plan. A part whose apps were planned already is not planned again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from itertools import combinations

from .._sums import ordered_sum
from ..errors import HarmonyBatchError
from ..workload import Workload
from .options import late
from .problem import Problem, members
from .side import SideConstraints

#: Seconds each part's ``colgen`` may take (on n = 60 random BERT and GPT-2 parts of up to 32
#: apps were proven within 1 s; of 43-59 apps most ran to this limit, and one of 35 apps is
#: not proven in 90 s).
PART_SECONDS = 2.0
#: Most apps in a part (larger parts rarely end within :data:`PART_SECONDS`).
MOST_APPS = 40
#: Most groups in a part.
MOST_GROUPS = 3
#: A part's groups are among this many consecutive groups in the order of their tightest apps'
#: SLOs (so a plan of G groups has fewer than 2 * WINDOW**2 * G parts, not G**3).
WINDOW = 8
#: Most parts planned in one call.
MOST_PARTS = 100
#: A part's new plan must cost less than its groups by more than this fraction.
TOLERANCE = 1e-9


def regroup(problem: Problem, masks: Sequence[int], deadline: float | None = None) -> list[int]:
    """The plan ``masks`` after its parts (the apps of two or three groups among
    :data:`WINDOW` consecutive ones in SLO order, fewer apps first) are planned again by
    ``colgen``, each within :data:`PART_SECONDS`, and replaced where that is cheaper, until
    no part is, :data:`MOST_PARTS` parts were planned, or the ``deadline`` (a
    ``time.perf_counter()`` reading) passes. Under the full-batch model only, and without
    side constraints that count groups (whose rows are the whole plan's); pins and isolated
    pairs hold in each part, and the plan returned keeps them.

    >>> from harmonybatch_mp.solvers import Problem, as_instance
    >>> p = Problem(*as_instance("0.3:2,0.5:5,0.8:10,1.0:20", "VGG19"), cost_model="full-batch")
    >>> p.plan_cost(regroup(p, [1, 2, 4, 8])) < p.plan_cost([1, 2, 4, 8])
    True
    """
    masks = [m for m in masks if m]
    if problem.expected or problem.side.counting:
        return masks
    planned: set[int] = set()  # the parts planned already (their apps' masks)
    while len(planned) < MOST_PARTS:
        found = _next_part(masks, planned)
        if found is None or late(deadline):
            return masks
        part, union = found
        planned.add(union)
        limit = PART_SECONDS if deadline is None else min(PART_SECONDS, deadline - time.perf_counter())
        new = _plan_part(problem, union, limit)
        if new is None:
            continue
        old = ordered_sum(problem.weighted_cost(masks[i]) for i in part)
        plan = [m for i, m in enumerate(masks) if i not in part] + new
        if (ordered_sum(problem.weighted_cost(m) for m in new) < old * (1 - TOLERANCE)
                and problem.side.allows(problem, plan, [problem.group(m) for m in plan])):
            masks = plan
    return masks


def _next_part(masks: list[int], planned: set[int]) -> tuple[tuple[int, ...], int] | None:
    """The groups (indices in ``masks``) of the part of fewest apps not planned yet, and its
    apps' mask; None if none is left. The groups of a part lie within :data:`WINDOW`
    consecutive groups in the order of their tightest apps (the problem's apps are in SLO
    order: a group's lowest bit)."""
    order = sorted(range(len(masks)), key=lambda i: masks[i] & -masks[i])
    best = None
    for lo in range(len(order)):
        window = order[lo + 1:lo + WINDOW]
        for k in range(1, MOST_GROUPS):
            for rest in combinations(window, k):
                part = (order[lo], *rest)
                union = 0
                for i in part:
                    union |= masks[i]
                size = union.bit_count()
                if size <= MOST_APPS and union not in planned and (best is None or size < best[0]):
                    best = (size, part, union)
    return None if best is None else best[1:]


def _plan_part(problem: Problem, union: int, limit: float) -> list[int] | None:
    """``colgen``'s plan of the apps in ``union`` alone (as masks of ``problem``'s apps),
    within ``limit`` seconds; None if it finds none by then."""
    from .colgen import colgen  # (colgen regroups: imported here, not at the module's top)

    if limit <= 0:
        return None
    index = members(union)
    apps = [problem.apps[i] for i in index]
    names = {a.name for a in apps}
    side = SideConstraints(isolate=tuple(p for p in problem.side.isolate if names.issuperset(p)),
                           pin=tuple(p for p in problem.side.pin if p[0] in names))
    part = Problem(Workload(apps), problem.profile, problem.platform, side, problem.cost_model,
                   problem.timeout_levels, problem.duration)
    try:
        solution = colgen(part, time_limit=limit, regroup=False)
    except HarmonyBatchError:  # out of time before any plan of the part
        return None
    return [problem.mask_of(part.apps[i].name for i in members(m)) for m in solution.groups]
