"""Improving a plan by moving single apps between its groups
(``formulations/set_partitioning.md``, "Moves").

A move takes one app out of its group and puts it into another group of the plan, or
alone. Each round prices every move at once (the new groups' optima searched together,
:meth:`.Problem.prefetch`) and makes the one that lowers the plan's cost the most while
the plan keeps its side constraints; the rounds stop when no move lowers the cost or at the
deadline. ``milp`` runs it on a plan that is optimal over contiguous groups only: the
optimum over every partition need not be contiguous (under ``expected``, n = 30 random GPT-2:
2.7% cheaper after moves).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from .._sums import ordered_sum
from .options import late
from .problem import Problem, members

#: A move must lower the plan's cost by more than this fraction.
TOLERANCE = 1e-9
#: Most groups priced per batch of the search; near the deadline the batches shrink (:func:`_fits`).
BATCH = 512
#: Groups priced in the first batch under a deadline; each next batch is sized by the pace of
#: the last, and at most twice as large (groups found cached price at no pace). A first batch of
#: 512, or one after a batch of cached groups, took 0.5 s at 300 apps under full-batch (a colgen
#: call with a 0.5 s limit ended at 0.88-1.17 s).
FIRST = 16


def improve(problem: Problem, masks: Sequence[int], deadline: float | None = None) -> list[int]:
    """The plan ``masks`` (a partition of the apps into group masks), after best-improvement
    moves of single apps, one a round, until none lowers its cost or the ``deadline`` (a
    ``time.perf_counter()`` reading) passes. Each group takes its optimum configuration;
    the plan keeps the side constraints of ``problem`` (a move that breaks one is not made).

    >>> from harmonybatch_mp.solvers import Problem, as_instance
    >>> p = Problem(*as_instance("0.3:2,0.5:5,0.8:10,1.0:20", "VGG19"), cost_model="expected")
    >>> alone = [1, 2, 4, 8]
    >>> p.plan_cost(improve(p, alone)) < p.plan_cost(alone)
    True
    """
    masks = [m for m in masks if m]
    cost = {0: 0.0, **{m: problem.weighted_cost(m) for m in masks}}  # 0: a group a move empties
    pace, size = 0.0, FIRST // 2  # seconds per group in the last batch priced, and its size
    while not late(deadline):
        moves = []  # (source group, target group or -1 for alone, app)
        new: dict[int, None] = {}  # the groups the moves leave, in order
        for i, source in enumerate(masks):
            for a in members(source):
                if late(deadline):  # n apps in G groups make n * G moves: 400,000 at n = 1,000
                    return masks
                out = [(i, j, a) for j in [*range(i), *range(i + 1, len(masks)), *([-1] if source != 1 << a else [])]]
                new.update(dict.fromkeys(m for move in out for m in _changed(masks, *move) if m not in cost))
                moves += out
        lo, todo = 0, list(new)
        while lo < len(todo):
            size = BATCH if deadline is None else _fits(deadline - time.perf_counter(), pace, size)
            if size < 1:
                return masks
            batch = todo[lo:lo + size]
            began = time.perf_counter()
            problem.prefetch(batch)
            cost.update((m, problem.weighted_cost(m)) for m in batch)
            pace, lo = (time.perf_counter() - began) / len(batch), lo + size
        delta = np.array([ordered_sum(cost[m] for m in _changed(masks, i, j, a)) - cost[masks[i]]
                          - cost[masks[j] if j >= 0 else 0] for i, j, a in moves])
        total = ordered_sum(cost[m] for m in masks)
        for k in np.argsort(delta, kind="stable"):
            if not delta[k] < -TOLERANCE * total:
                return masks
            plan = _moved(masks, *moves[k])
            if problem.side.allows(problem, plan, [problem.group(m) for m in plan]):
                masks = plan
                break
        else:
            return masks
    return masks


def _fits(left: float, pace: float, last: int) -> int:
    """Groups a batch may price in half the ``left`` seconds at ``pace`` seconds a group (0:
    not yet measured), and at most twice the ``last`` batch's: the batches shrink toward the
    deadline, so one ends past it only if it runs more than twice the pace of the batch
    before (the pace of full-batch groups varied 1.6-fold between batches at n = 150)."""
    if left <= 0:
        return 0
    return min(BATCH, 2 * last) if pace <= 0 else min(BATCH, 2 * last, int(left / (2 * pace)))


def _changed(masks: list[int], i: int, j: int, a: int) -> tuple[int, int]:
    """The two groups a move of app ``a`` from group ``i`` to group ``j`` (alone: -1) leaves:
    the source without it (0 when empty), the target with it."""
    return masks[i] ^ (1 << a), (1 << a) | (masks[j] if j >= 0 else 0)


def _moved(masks: list[int], i: int, j: int, a: int) -> list[int]:
    """The plan after the move of app ``a`` from group ``i`` to group ``j`` (alone: -1)."""
    source, target = _changed(masks, i, j, a)
    plan = [source if k == i else target if k == j else m for k, m in enumerate(masks)]
    return [m for m in plan if m] + ([target] if j < 0 else [])
