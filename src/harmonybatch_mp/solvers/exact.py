"""Ground truth: enumerate every set partition of the apps (``formulations/model.md`` section 8)."""

from __future__ import annotations

import math
from collections.abc import Iterator

from .._sums import ordered_sum
from .._validate import flag, instance
from ..errors import InputError
from ..plan import OPTIMAL, SolverInfo
from .base import Solution
from .problem import Problem

#: Largest workload :func:`exact` accepts without ``force=True`` (Bell(10) = 115,975 partitions).
EXACT_MAX_APPS = 10
#: Largest workload it accepts with ``force=True``: Bell(13) = 27,644,437 partitions, 135 s on
#: the 2-core machine (12 apps: 20 s). Each app more takes about 6 times as long and doubles its
#: table of every subset: 20 apps would run for years.
EXACT_FORCE_MAX_APPS = 13


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


def exact(problem: Problem, *, force: bool = False) -> Solution:
    """The optimal partition by exhaustive enumeration of all set partitions.

    Each subset's group optimum (exhaustive provisioning) is computed once and cached.
    The certificate's bound is the optimum itself.

    Raises
    ------
    InputError
        When the workload has more than :data:`EXACT_MAX_APPS` apps and ``force`` is False,
        or more than :data:`EXACT_FORCE_MAX_APPS` whatever ``force``.
    """
    instance(problem, Problem, "exact: problem")
    force = flag(force, "exact: force")
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
    problem.prefetch(range(1, 1 << problem.n))
    cost = problem.weighted_cost
    for part in set_partitions(problem.n):
        c = ordered_sum(cost(m) for m in part)
        if c < best_cost:
            best, best_cost = part, c
    info = SolverInfo("exact", status=OPTIMAL, objective=best_cost, bound=best_cost, gap=0.0, scope="all partitions")
    return Solution.of(problem, best, info)
