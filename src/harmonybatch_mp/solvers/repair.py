"""A plan that keeps the side constraints, repaired from one that may not
(``formulations/set_partitioning.md``, "Repairing a plan").

The contiguous optimum (``dp``) knows pins (and isolation where asked) but not the counting
rows, so under those it often breaks one, and a solver left without a plan that keeps them starts from
single apps (n = 30 BERT with one GPU function: a plan 67% dearer than the unconstrained
one, where 1% was enough). The repair takes the later app of each isolated pair out of the
group that holds both, then takes greedy steps while a counting row is exceeded: merge two
groups, or move one group to another class of function (CPU, or another GPU memory size),
each on its cheapest configuration of that class; of the steps that lower the excess, the
one that costs least per unit of excess removed. In a plan of many groups only neighbours in
SLO order merge, and each step is priced once. Under ``expected`` the steps are priced on
the full-batch model, and a plan of few groups is also repaired on ``expected`` itself.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence

import numpy as np

from .._sums import ordered_sum
from ..provision import KINDS, GroupConfig
from .problem import Problem, members

#: Steps priced between two checks of the deadline (each prices the merged group's classes:
#: up to about 0.3 ms under full-batch, 10 ms under expected, where all of a first step's 276
#: pairs priced at once took 2.9 s past a 2 s limit).
CHECK_EVERY, CHECK_EVERY_EXPECTED = 32, 8
#: A plan of more groups than ALL_PAIRS merges only groups at most REACH places apart in SLO
#: order, or among the groups of one kind of function (every pair of 197 groups took over 60 s;
#: ``formulations/set_partitioning.md``, "Which merges").
ALL_PAIRS = 24
REACH = 2
#: Steps past which those no longer applying are dropped, once they are half (:meth:`_Steps.compact`).
COMPACT_FROM = 4096


def plan_cost(problem: Problem, masks: Sequence[int], configs: Sequence[GroupConfig]) -> float:
    """Average cost per request of the groups ``masks`` on ``configs`` (Eq. 7)."""
    return ordered_sum(problem.rate(m) / problem.total_rate * c.cost for m, c in zip(masks, configs))


def incumbent_cost(problem: Problem, masks: Sequence[int], configs: Sequence[GroupConfig]) -> float:
    """What a plan found by column generation costs: on its configurations under counting rows
    (a column may hold its group on another than the group's optimum, as a repaired plan or a
    node's priced column does), else on each group's optimum, which is what the plan ends on."""
    return plan_cost(problem, masks, configs) if problem.side.counting else problem.plan_cost(masks)


def excess(problem: Problem, functions: float | np.ndarray, gpus: float | np.ndarray,
           memory: float | np.ndarray) -> float | np.ndarray:
    """How far a plan of ``functions`` groups, ``gpus`` of them on GPU functions with
    ``memory`` GB of GPU memory in all, exceeds the counting rows: the functions and GPU
    functions above their caps, and the memory above its budget in units of the grid's
    largest GPU memory (0: it keeps them). Arrays give one excess per element."""
    side = problem.side
    over = 0.0
    if side.max_functions is not None:
        over = over + np.maximum(0.0, functions - side.max_functions)
    if side.max_gpu_functions is not None:
        over = over + np.maximum(0.0, gpus - side.max_gpu_functions)
    if side.gpu_memory_budget is not None:
        over = over + np.maximum(0.0, memory - side.gpu_memory_budget) / float(max(problem.grid.gpu_mem.max(), 1))
    return over


def _count(config: GroupConfig) -> tuple[float, float, float]:
    """The function, GPU function and GPU memory (GB) of one configuration."""
    return (1.0, 1.0, float(config.gpu_mem_gb)) if config.kind == "gpu" else (1.0, 0.0, 0.0)


def _counts(configs: Sequence[GroupConfig]) -> np.ndarray:
    """Functions, GPU functions and GPU memory (GB) of ``configs``."""
    return np.array([sum(column) for column in zip(*map(_count, configs))] if configs else [0.0, 0.0, 0.0])


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


def _at_optima(problem: Problem, groups: list[int]) -> tuple[list[int], list[GroupConfig]] | None:
    """The plan ``groups``, each on its optimum, if that keeps the side constraints."""
    problem.prefetch(groups)
    optima = [problem.group(m) for m in groups]
    return (groups, optima) if None not in optima and problem.side.allows(problem, groups, optima) else None


class _Steps:
    """The steps priced so far: for each, its cost, its change of the counts (functions, GPU
    functions, GPU memory), whether it still applies, and ``(group, other group or 0,
    config)``; the arrays grow as steps are added."""

    def __init__(self) -> None:
        self.cost = np.empty(256)
        self.change = np.empty((256, 3))
        self.alive = np.zeros(256, bool)
        self.what: list[tuple[int, int, GroupConfig]] = []
        self.of: dict[int, list[int]] = {}  # group -> its steps

    def add(self, a: int, b: int, config: GroupConfig, cost: float, change: tuple[float, float, float]) -> None:
        k = len(self.what)
        if k == self.cost.size:
            self.cost = np.concatenate([self.cost, np.empty(k)])
            self.change = np.concatenate([self.change, np.empty((k, 3))])
            self.alive = np.concatenate([self.alive, np.zeros(k, bool)])
        self.cost[k], self.change[k], self.alive[k] = cost, change, True
        self.what.append((a, b, config))
        for m in (a, b) if b else (a,):
            self.of.setdefault(m, []).append(k)

    def drop(self, m: int) -> None:
        """Steps of the group ``m`` no longer apply (it was merged or moved)."""
        self.alive[self.of.pop(m, [])] = False

    def compact(self) -> None:
        """Keep only the steps that still apply, in their order (a repair of 3,000 apps added
        131,000 steps, and scanning the dead ones was a fifth of its time)."""
        keep = np.flatnonzero(self.alive[:len(self.what)])
        place = np.full(len(self.what), -1)
        place[keep] = np.arange(keep.size)
        at = place.tolist()
        self.cost[:keep.size], self.change[:keep.size] = self.cost[keep], self.change[keep]
        self.alive[:keep.size] = True  # (past it, add() writes each entry before it is read)
        self.what = [self.what[i] for i in keep.tolist()]
        self.of = {m: [at[i] for i in ks if at[i] >= 0] for m, ks in self.of.items()}

    def best(self, problem: Problem, totals: np.ndarray) -> int | None:
        """The step that lowers the excess at least cost per unit removed, or None."""
        if len(self.what) > COMPACT_FROM and 2 * np.count_nonzero(self.alive[:len(self.what)]) < len(self.what):
            self.compact()
        k = len(self.what)
        after = totals + self.change[:k]
        gain = excess(problem, *totals) - excess(problem, after[:, 0], after[:, 1], after[:, 2])
        ok = self.alive[:k] & (gain > 1e-12)
        if not ok.any():
            return None
        return int(np.argmin(np.where(ok, self.cost[:k] / np.where(ok, gain, 1.0), np.inf)))


def repair(problem: Problem, masks: Sequence[int],
           deadline: float | None = None) -> tuple[list[int], list[GroupConfig]] | None:
    """The plan ``masks`` made to keep ``problem.side``: ``(groups, configs)``, or None when
    the greedy steps run out (no step lowers the excess) or ``deadline`` passes first.

    Under ``expected`` the plan is first repaired on the full-batch model, whose pricing is
    hundreds of times cheaper for large groups (:func:`_via_full_batch`); a plan of at most
    :data:`ALL_PAIRS` groups is then also repaired on ``expected`` itself by the deadline,
    and the cheaper of the two is returned. Else see :func:`repair_on`.
    """
    if not problem.expected:
        return repair_on(problem, masks, deadline)
    quick = _via_full_batch(problem, masks, deadline)
    if len(masks) > ALL_PAIRS:
        return quick
    own = repair_on(problem, masks, deadline)
    found = [plan for plan in (quick, own) if plan is not None]
    return min(found, key=lambda plan: plan_cost(problem, *plan)) if found else None


def _via_full_batch(problem: Problem, masks: Sequence[int],
                    deadline: float | None) -> tuple[list[int], list[GroupConfig]] | None:
    """:func:`repair` of an ``expected`` plan on the full-batch model. Its groups then get
    their ``expected`` optima where those keep the side constraints, else each its cheapest
    ``expected`` configuration of the class chosen there (the same counts; None where that
    class has none)."""
    if deadline is not None and time.perf_counter() > deadline:
        return None
    parts = sorted((p for m in masks for p in _apart(problem, m)), key=lambda m: m & -m)
    kept = _at_optima(problem, parts)
    if kept is not None:
        return kept  # isolation alone, or kept already: as repair_on returns it
    fixed = repair_on(problem.full_batch_view(), masks, deadline)
    if fixed is None:
        return None
    groups, chosen = fixed
    kept = _at_optima(problem, groups)
    if kept is not None:
        return kept
    # a group whose optimum is of the class chosen is on it; the others are searched per class (a
    # search per class took 0.08-0.44 s for the 1-7 groups repaired from 1,000 apps, their optima 0.01 s)
    optima = [problem.group(m) for m in groups]
    moved = [o is None or (o.kind, o.gpu_mem_gb) != (c.kind, c.gpu_mem_gb) for o, c in zip(optima, chosen)]
    problem.prefetch_classes(m for m, away in zip(groups, moved) if away)
    configs = []
    for m, c, optimum, away in zip(groups, chosen, optima, moved):
        classes = problem.per_class(m) if away else [optimum]
        same = [o for o in classes if o.kind == c.kind and o.gpu_mem_gb == c.gpu_mem_gb]
        if not same:
            return None
        configs.append(same[0])
    return (groups, configs) if problem.side.allows(problem, groups, configs) else None


def repair_on(problem: Problem, masks: Sequence[int],
              deadline: float | None = None) -> tuple[list[int], list[GroupConfig]] | None:
    """:func:`repair` priced on ``problem``'s own cost model: ``(groups, configs)``, or None
    when the greedy steps run out (no step lowers the excess) or ``deadline`` passes first.

    A step merges two groups at most :data:`REACH` places apart in SLO order, or among the
    groups on one kind of function (any two in a plan of at most :data:`ALL_PAIRS` groups),
    or moves one group to another class.

    Examples
    --------
    >>> from harmonybatch_mp.solvers import Problem, SideConstraints, as_instance
    >>> problem = Problem(*as_instance("0.3:2,0.5:5,0.8:10,1.0:20", "VGG19"), cost_model="full-batch",
    ...                   side=SideConstraints(max_functions=1))
    >>> groups, configs = repair_on(problem, [1, 2, 4, 8])
    >>> groups, problem.side.allows(problem, groups, configs)
    ([15], True)
    """
    if deadline is not None and time.perf_counter() > deadline:
        return None  # begun past it (2,000 groups took 24 ms to set up, then stopped)
    side = problem.side
    config: dict[int, GroupConfig] = {}
    for m in masks:
        for part in _apart(problem, m):
            config[part] = problem.group(part)
            if config[part] is None:
                return None
    order = sorted(config, key=lambda m: m & -m)  # by lowest member: SLO order
    reach = len(order) if len(order) <= ALL_PAIRS else REACH
    classes: dict[int, list[GroupConfig]] = {}
    rates: dict[int, float] = {}  # each group's rate, summed once (it was a third of a step's time)
    priced: set[tuple[int, int]] = set()  # pairs whose steps are in ``steps``
    pairs_of: dict[int, list[tuple[int, int]]] = {}
    steps = _Steps()

    def weight(m: int, c: GroupConfig) -> float:
        if m not in rates:
            rates[m] = problem.rate(m) / problem.total_rate
        return rates[m] * c.cost

    def price(pairs: list[tuple[int, int]]) -> bool:
        """Add the steps of ``pairs`` (``(group, 0)``: its moves); False at the deadline."""
        fresh = [p for p in dict.fromkeys(pairs) if p not in priced]
        unions = [a | b for a, b in fresh]
        every = CHECK_EVERY_EXPECTED if problem.expected else CHECK_EVERY
        for k, ((a, b), u) in enumerate(zip(fresh, unions)):
            if k % every == 0:
                if deadline is not None and time.perf_counter() > deadline:
                    return False
                problem.prefetch_classes(v for v in unions[k:k + every] if v not in classes
                                         and not side.separates(problem, v))  # under expected: together
            priced.add((a, b))
            for m in (a, b) if b else (a,):
                pairs_of.setdefault(m, []).append((a, b))
            if u not in classes:
                classes[u] = [] if side.separates(problem, u) else problem.per_class(u)
            now = [config[a]] + ([config[b]] if b else [])
            base = ordered_sum(weight(m, c) for m, c in zip((a, b), now))
            f, g, gb = (sum(column) for column in zip(*map(_count, now)))
            for other in classes[u]:
                if b or other != config[a]:
                    one = _count(other)  # (tuples: an array a step was a fifth of the pricing's own time)
                    steps.add(a, b, other, weight(u, other) - base, (one[0] - f, one[1] - g, one[2] - gb))
        return True

    lines = {kind: [m for m in order if config[m].kind == kind] for kind in KINDS}  # each kind in SLO order

    def near(line: list[int], lo: int, hi: int) -> list[tuple[int, int]]:
        """Merges of the groups at places ``lo`` to ``hi`` of ``line`` with the next ``reach``."""
        lo, hi = max(0, lo), min(len(line), hi)
        return [(line[i], line[j]) for i in range(lo, hi) for j in range(i + 1, min(len(line), i + 1 + reach))]

    totals = _counts(list(config.values()))
    if excess(problem, *totals) > 0 and not price(
            [(m, 0) for m in order] + near(order, 0, len(order)) + [p for line in lines.values()
                                                                    for p in near(line, 0, len(line))]):
        return None
    while excess(problem, *totals) > 0:
        if deadline is not None and time.perf_counter() > deadline:
            return None
        k = steps.best(problem, totals)
        if k is None:
            return None
        a, b, other = steps.what[k]
        totals = totals + steps.change[k]
        changed = []  # (line, place) where a group left or came
        for m in (a, b) if b else (a,):
            steps.drop(m)
            priced.difference_update(pairs_of.pop(m, ()))
            for line in (order, lines[config.pop(m).kind]):
                changed.append((line, line.index(m)))
                line.remove(m)
        config[a | b] = other
        for line in (order, lines[other.kind]):
            place = bisect.bisect(line, a & -a, key=lambda m: m & -m)
            line.insert(place, a | b)
            changed.append((line, place))
        if not price([(a | b, 0)] + [p for line, place in changed for p in near(line, place - reach - 1,
                                                                                 place + reach + 1)]):
            return None
    return order, [config[m] for m in order]
