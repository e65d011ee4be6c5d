"""Ground truth: enumerate every set partition of the apps (``formulations/model.md`` section 8)."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator

from .._sums import ordered_sum
from .._validate import flag, instance
from ..errors import InputError, SolverError
from ..plan import OPTIMAL, TIME_LIMIT, SolverInfo
from .base import Solution
from .options import deadline_of, late
from .problem import Problem

#: Largest workload :func:`exact` accepts without ``force=True`` (Bell(10) = 115,975 partitions).
EXACT_MAX_APPS = 10
#: Largest workload it accepts with ``force=True``: Bell(13) = 27,644,437 partitions, 33 s on
#: the 2-core machine (12 apps: 5 s; 135 s and 20 s while each partition summed its groups'
#: rates anew). Each app more takes about 6 times as long and doubles its table of every subset:
#: 20 apps would run for years.
EXACT_FORCE_MAX_APPS = 13
#: Partitions enumerated between two looks at the deadline (Bell(13) takes 33 s: about 1 us each).
BETWEEN_CHECKS = 4096


def set_partitions(n: int) -> Iterator[list[int]]:
    """Every partition of ``{0..n-1}`` as a list of bitmasks (restricted growth strings).

    Examples
    --------
    >>> sum(1 for _ in set_partitions(4))  # Bell(4)
    15
    """
    blocks: list[int] = []

    def rec(i: int) -> Iterator[list[int]]:
        if i == n:
            yield list(blocks)
            return
        bit = 1 << i
        for k in range(len(blocks)):
            blocks[k] |= bit
            yield from rec(i + 1)
            blocks[k] &= ~bit
        blocks.append(bit)
        yield from rec(i + 1)
        blocks.pop()

    if n > 0:
        yield from rec(0)


def exact(problem: Problem, *, force: bool = False, time_limit: float | None = None) -> Solution:
    """The optimal partition by exhaustive enumeration of all set partitions.

    Each subset's group optimum (exhaustive provisioning) is computed once and cached.
    The certificate's bound is the optimum itself. ``time_limit`` bounds the call (seconds):
    stopped while enumerating, the plan is the best partition so far, status ``time_limit``,
    with the per-app bound on every plan (:meth:`.Problem.lower_bound`).

    Raises
    ------
    InputError
        When the workload has more than :data:`EXACT_MAX_APPS` apps and ``force`` is False,
        or more than :data:`EXACT_FORCE_MAX_APPS` whatever ``force``.
    SolverError
        Its ``time_limit`` True: the limit passed before a partition was priced.
    """
    instance(problem, Problem, "exact: problem")
    force = flag(force, "exact: force")
    deadline = deadline_of(time.perf_counter(), time_limit)
    if problem.n > EXACT_FORCE_MAX_APPS:
        raise InputError(
            f"solver 'exact' enumerates Bell(n) partitions; {problem.n} apps is more than the "
            f"{EXACT_FORCE_MAX_APPS} it takes even when forced (use solver 'colgen' with cost_model='full-batch', "
            f"or 'milp')"
        )
    if problem.n > EXACT_MAX_APPS and not force:
        raise InputError(
            f"solver 'exact' enumerates Bell(n) partitions; {problem.n} apps is more than "
            f"{EXACT_MAX_APPS} (use solver 'milp', or force=True / --force to insist, up to "
            f"{EXACT_FORCE_MAX_APPS} apps)"
        )
    best, best_cost = None, math.inf
    groups = range(1, 1 << problem.n)
    if deadline is None:
        problem.prefetch(groups)  # (every group in one round)
    table: dict[int, float] = {}  # each group's weighted cost, once
    for batch in (groups, ) if deadline is None else problem.prefetched(groups, deadline):
        if late(deadline):  # (batches sized to the time left at the pace of the last: pricing included)
            raise SolverError(f"exact: time limit reached pricing the {len(groups)} groups ({len(table)} "
                              "priced)", time_limit=True)
        table.update(zip(batch, map(problem.weighted_cost, batch)))  # (under full-batch, priced here)
    cost = table.__getitem__
    partitions = set_partitions(problem.n)
    while chunk := list(itertools.islice(partitions, BETWEEN_CHECKS)):
        if late(deadline):
            if best is None:
                raise SolverError("exact: time limit reached before a partition was priced", time_limit=True)
            bound = min(problem.lower_bound(), best_cost)
            info = SolverInfo("exact", status=TIME_LIMIT, objective=best_cost, bound=bound, scope="all partitions")
            return Solution.of(problem, best, info)
        for part in chunk:
            c = ordered_sum(map(cost, part))
            if c < best_cost:
                best, best_cost = part, c
    info = SolverInfo("exact", status=OPTIMAL, objective=best_cost, bound=best_cost, gap=0.0, scope="all partitions")
    return Solution.of(problem, best, info)
