"""A plan that keeps the side constraints, repaired from one that may not
(``formulations/set_partitioning.md``, "Repairing a plan").

The contiguous optimum (``dp``) knows pins but not isolation or the counting rows, so under
those it often breaks one, and a solver left without a plan that keeps them starts from
single apps (n = 30 BERT with one GPU function: a plan 67% dearer than the unconstrained
one, where 1% was enough). The repair takes the later app of each isolated pair out of the
group that holds both, then takes greedy steps while a counting row is exceeded: merge two
groups, or move one group to another class of function (CPU, or another GPU memory size),
each on its cheapest configuration of that class; of the steps that lower the excess, the
one that costs least per unit of excess removed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from ..provision import GroupConfig
from .problem import Problem, members

#: Merges priced between two checks of the deadline (each prices the merged group's classes:
#: up to about 0.3 ms under full-batch).
CHECK_EVERY = 32


def plan_cost(problem: Problem, masks: Sequence[int], configs: Sequence[GroupConfig]) -> float:
    """Average cost per request of the groups ``masks`` on ``configs`` (Eq. 7)."""
    return sum(problem.rate(m) / problem.total_rate * c.cost for m, c in zip(masks, configs))


def incumbent_cost(problem: Problem, masks: Sequence[int], configs: Sequence[GroupConfig]) -> float:
    """What a plan found by column generation costs: on its configurations under counting rows
    (a column may hold its group on another than the group's optimum, as a repaired plan or a
    node's priced column does), else on each group's optimum, which is what the plan ends on."""
    return plan_cost(problem, masks, configs) if problem.side.counting else problem.plan_cost(masks)


def excess(problem: Problem, functions: int, gpus: int, memory: float) -> float:
    """How far a plan of ``functions`` groups, ``gpus`` of them on GPU functions with
    ``memory`` GB of GPU memory in all, exceeds the counting rows: the functions and GPU
    functions above their caps, and the memory above its budget in units of the grid's
    largest GPU memory (0: it keeps them)."""
    side = problem.side
    over = 0.0
    if side.max_functions is not None:
        over += max(0, functions - side.max_functions)
    if side.max_gpu_functions is not None:
        over += max(0, gpus - side.max_gpu_functions)
    if side.gpu_memory_budget is not None:
        over += max(0.0, memory - side.gpu_memory_budget) / float(max(problem.grid.gpu_mem.max(), 1))
    return over


def _counts(configs: Sequence[GroupConfig]) -> np.ndarray:
    """Functions, GPU functions and GPU memory (GB) of ``configs``."""
    gpu = [c for c in configs if c.kind == "gpu"]
    return np.array([len(configs), len(gpu), float(sum(c.gpu_mem_gb for c in gpu))])


def _apart(problem: Problem, mask: int) -> list[int]:
    """The group ``mask`` without the later app of each isolated pair it holds, and those apps
    alone; every app alone where what is left has no feasible configuration."""
    if not problem.side.separates(problem, mask) and problem.group(mask) is not None:
        return [mask]
    out: list[int] = []
    for pair in problem.side.isolate:
        both = problem.mask_of(pair)
        if mask & both == both:
            later = 1 << (both.bit_length() - 1)
            mask &= ~later
            out.append(later)
    if problem.group(mask) is None:
        return out + [1 << i for i in members(mask)]
    return [mask] + out


def repair(problem: Problem, masks: Sequence[int],
           deadline: float | None = None) -> tuple[list[int], list[GroupConfig]] | None:
    """The plan ``masks`` made to keep ``problem.side``: ``(groups, configs)``, or None when
    the greedy steps run out (no step lowers the excess) or ``deadline`` passes first.

    Examples
    --------
    >>> from harmonybatch_mp.solvers import Problem, SideConstraints, as_instance
    >>> from harmonybatch_mp.solvers.dp import dp
    >>> problem = Problem(*as_instance("0.3:2,0.5:5,0.8:10,1.0:20", "VGG19"), cost_model="full-batch",
    ...                   side=SideConstraints(max_functions=1))
    >>> groups, configs = repair(problem, [1, 2, 4, 8])
    >>> groups, problem.side.allows(problem, groups, configs)
    ([15], True)
    """
    side = problem.side
    plan: list[tuple[int, GroupConfig]] = []
    for m in masks:
        for part in _apart(problem, m):
            cfg = problem.group(part)
            if cfg is None:
                return None
            plan.append((part, cfg))
    classes: dict[int, list[GroupConfig]] = {}

    def options(m: int) -> list[GroupConfig]:
        if m not in classes:
            classes[m] = [] if side.separates(problem, m) else problem.per_class(m)
        return classes[m]

    rates: dict[int, float] = {}  # each group's rate, summed once (it was a third of a step's time)

    def weight(m: int, c: GroupConfig) -> float:
        if m not in rates:
            rates[m] = problem.rate(m) / problem.total_rate
        return rates[m] * c.cost

    totals = _counts([c for _, c in plan])
    while (over := excess(problem, *totals)) > 0:
        best: tuple[float, int, int, GroupConfig] | None = None  # (cost per unit, group, merged group or -1, config)
        for i, (m, c) in enumerate(plan):
            steps = [(-1, other, weight(m, other) - weight(m, c), _counts([other]) - _counts([c]))
                     for other in options(m) if other != c]
            for j in range(i + 1, len(plan)):
                if (j - i) % CHECK_EVERY == 1 and deadline is not None and time.perf_counter() > deadline:
                    return None  # a step prices up to every pair of groups: 300 apps alone took 13 s
                u, d = m | plan[j][0], plan[j][1]
                steps += [(j, other, weight(u, other) - weight(m, c) - weight(plan[j][0], d),
                           _counts([other]) - _counts([c, d])) for other in options(u)]
            for j, other, cost, change in steps:
                gain = over - excess(problem, *(totals + change))
                if gain > 1e-12 and (best is None or cost / gain < best[0]):
                    best = (cost / gain, i, j, other)
        if best is None:
            return None
        _, i, j, other = best
        totals = totals - _counts([plan[i][1]] + ([] if j < 0 else [plan[j][1]])) + _counts([other])
        merged = plan[i][0] | (0 if j < 0 else plan[j][0])
        plan = [g for k, g in enumerate(plan) if k not in (i, j)] + [(merged, other)]
    order = np.argsort([min(members(m)) for m, _ in plan], kind="stable")
    return [plan[k][0] for k in order], [plan[k][1] for k in order]
