"""Candidate groups and columns of the set-partitioning model, and the exact reductions.

``formulations/set_partitioning.md``: "Sets" (candidate groups, columns) and
"Reductions" (column dominance, group dominance).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._validate import whole
from ..errors import InputError, SolverError
from ..provision import GroupConfig
from .problem import Problem

#: Default largest workload for ``candidates="all"`` under ``candidates="auto"``.
ALL_SUBSETS_MAX_APPS = 12
#: ``candidates="all"`` is refused above this many apps (2^n - 1 groups).
ALL_SUBSETS_LIMIT = 20

#: Contiguous runs whose optima the default computes: all n(n+1)/2 while that is at most
#: this budget (n <= 446), else runs of at most max(64, budget / n) apps (1,000 apps: 100;
#: 5,000 apps: 64). Measured cost of a cap of 64 at n = 300: +0.37%.
RUN_BUDGET, MIN_AUTO_RUN = 100_000, 64
#: Under the ``expected`` cost model each run is priced on its own (no incremental fold, about
#: 1 ms a run): all runs up to 99 apps, else runs of at most max(4, 5000 / n) apps.
EXPECTED_RUN_BUDGET, EXPECTED_MIN_AUTO_RUN = 5_000, 4


def auto_max_run(n: int, expected: bool = False) -> int | None:
    """The default longest contiguous run for ``n`` apps (None: no cap), see :data:`RUN_BUDGET`."""
    budget, low = (EXPECTED_RUN_BUDGET, EXPECTED_MIN_AUTO_RUN) if expected else (RUN_BUDGET, MIN_AUTO_RUN)
    return None if n * (n + 1) // 2 <= budget else max(low, budget // n)


#: Column choices per candidate group. ``optimum``: the group's cheapest configuration;
#: ``pareto``: the cheapest per function kind and GPU memory size (every column a row on
#: kinds, GPU counts or GPU memory can need); ``all``: every feasible configuration.
CONFIG_CHOICES = ("optimum", "pareto", "all")


@dataclass(frozen=True)
class Column:
    """One column: a group (bitmask over ``problem.apps``) with one configuration.

    ``weight`` is the group's share of the average cost per request, ``(r_X/R) C_k`` (Eq. 7).
    """

    mask: int
    config: GroupConfig
    weight: float


def check_max_run(max_run: Any) -> int | None:
    """``max_run`` as an int (numpy's integers too), or None; an InputError unless it is None or
    a whole number >= 1."""
    longest = whole(max_run)
    if max_run is not None and (longest is None or longest < 1):
        raise InputError(f"max_run (the longest group) must be a whole number >= 1, got {max_run!r:.40}")
    return longest


def candidate_groups(problem: Problem, candidates: str | Sequence[Sequence[str]] = "auto",
                     max_run: int | None = None, deadline: float | None = None) -> tuple[list[int], str, str]:
    """Candidate groups as bitmasks, the strategy used, and what the contiguous runs' scope
    adds to the strategy's (a cap on their length, groups offered besides; else "").

    ``"all"``: every nonempty subset; ``"contiguous"``: runs of the SLO-sorted apps of
    at most ``max_run`` apps (default :func:`auto_max_run`, and under ``expected`` with that
    cap, the groups of the full-batch contiguous optimum too, as ``dp`` offers them);
    ``"auto"``: all when ``n <= 12`` and no ``max_run`` is given, else contiguous; or a list
    of groups given as lists of app names (singletons are added so that a plan always
    exists). Groups that hold an isolated pair are left out. SolverError at ``deadline`` (a
    ``time.perf_counter()`` reading).
    """
    n = problem.n
    max_run = check_max_run(max_run)
    detail = ""
    if isinstance(candidates, str):
        if candidates == "auto":
            candidates = "all" if n <= ALL_SUBSETS_MAX_APPS and max_run is None else "contiguous"
        if candidates == "all" and max_run is not None:
            raise InputError("max_run limits contiguous candidate groups; it does not apply to candidates 'all'")
        if candidates == "all":
            if n > ALL_SUBSETS_LIMIT:
                raise InputError(f"candidates 'all' means 2^{n} - 1 groups; use 'contiguous' for {n} apps")
            masks, strategy = list(range(1, 1 << n)), "all"
        elif candidates == "contiguous":
            capped = max_run is None and auto_max_run(n, problem.expected) is not None
            max_run = auto_max_run(n, problem.expected) if max_run is None else max_run
            masks = []
            for _, _, mask, cfg in problem.fill_runs(max_run, deadline):
                _check_time(deadline, "pricing contiguous candidate groups")  # a run took up to 4 ms under expected
                if cfg is not None:
                    masks.append(mask)
            strategy = "contiguous"
            detail = "" if max_run is None else f", groups of at most {max_run}"
            if capped and problem.expected:  # as dp offers them (runs of 4 alone: 36.9% against 8.2% at 5,000)
                from .dp import offered_groups

                have = set(masks)
                masks += [m for m in offered_groups(problem, deadline)[0] if m not in have]
                detail += " (and the full-batch contiguous optimum's groups)"
        else:
            raise InputError(
                f"unknown candidate strategy {candidates!r}; expected all, contiguous, auto or a list of groups")
    else:
        if max_run is not None:
            raise InputError("max_run limits contiguous candidate groups; it does not apply to a candidate list")
        found = {1 << i for i in range(n)}
        try:
            groups = list(candidates)
        except TypeError:
            raise InputError(f"candidates: expected a strategy name or a list of groups, got {candidates!r}") from None
        for k, group in enumerate(groups):
            if isinstance(group, str):
                raise InputError(f"candidate group {k + 1}: expected a list of app names, got the string {group!r}")
            try:
                found.add(problem.mask_of(group))
            except InputError as exc:
                raise InputError(f"candidate group {k + 1}: {exc}") from None
        masks, strategy = sorted(found), "list"
    if problem.side.isolate:
        masks = [m for m in masks if not problem.side.separates(problem, m)]
    return masks, strategy, detail


#: Runs :func:`reduce_contiguous` weighs between two checks of the deadline. (:func:`reduce_all`
#: priced this many groups at a time too: under expected, 12 VGG19 apps, 1,024 took up to 90 ms
#: and replan's windows, each given about 0.47 s, ended up to 0.157 s past it; 128, up to 15 ms.
#: It now prices them in :meth:`.Problem.prefetched`'s batches.)
PREFETCH = 128


def _check_time(deadline: float | None, what: str) -> None:
    if deadline is not None and time.perf_counter() > deadline:
        raise SolverError(f"time limit reached while {what}", time_limit=True)


def reduce_all(problem: Problem, masks: list[int], deadline: float | None = None) -> list[int]:
    """Group dominance over all subsets: keep a group only if cheaper than its best split."""
    cost: dict[int, float] = {}
    # with a deadline the first batch is one group: the first 128 of 9 VGG19 apps' under preset
    # paper took 1.5 s on a machine at half its speed, and milp given 0.159 s ended 1.1 s past it
    for batch in problem.prefetched(masks, deadline):  # (under full-batch: priced here)
        cost.update((m, problem.weighted_cost(m)) for m in batch)
        if len(cost) < len(masks):
            _check_time(deadline, "pricing candidate groups")
    best = dict(cost)
    kept = []
    for k, s in enumerate(masks):  # ascending: every proper subset comes first
        if k % 256 == 0:
            _check_time(deadline, "reducing candidate groups")
        low = s & -s
        rest = s ^ low
        split = math.inf
        sub = rest
        while True:
            a = sub | low
            if a != s:
                v = best[a] + best[s ^ a]
                if v < split:
                    split = v
            if sub == 0:
                break
            sub = (sub - 1) & rest
        if cost[s] < split:
            kept.append(s)
        else:
            best[s] = split
    return kept


def reduce_contiguous(problem: Problem, masks: list[int], deadline: float | None = None) -> list[int]:
    """Group dominance over runs: keep a run only if cheaper than its best split into sub-runs
    (of those among ``masks``: a longer run offered besides the capped ones has only some)."""
    def span(m):
        lo = (m & -m).bit_length() - 1
        return lo, lo + m.bit_count()

    best, kept = {}, []
    for k, m in enumerate(sorted(masks, key=int.bit_count)):
        if k % PREFETCH == 0:
            _check_time(deadline, "reducing candidate groups")
        i, j = span(m)
        c = problem.weighted_cost(m)
        split = min((best.get((i, k), math.inf) + best.get((k, j), math.inf) for k in range(i + 1, j)),
                    default=math.inf)
        if c < split:
            kept.append(m)
        best[(i, j)] = min(c, split)
    return kept


def fewest_runs(masks: Sequence[int], n: int) -> float:
    """The fewest of the runs ``masks`` (contiguous groups over ``n`` apps) that partition the
    apps (inf: none do): a shortest path over run boundaries, one step per run.

    >>> fewest_runs([0b001, 0b010, 0b100, 0b011], 3), fewest_runs([0b001, 0b100], 3)
    (2, inf)
    """
    ending: dict[int, list[int]] = {}
    for m in masks:
        lo = (m & -m).bit_length() - 1
        ending.setdefault(lo + m.bit_count(), []).append(lo)
    fewest: list[float] = [0] + [math.inf] * n
    for j in range(1, n + 1):
        fewest[j] = min((fewest[i] + 1 for i in ending.get(j, ())), default=math.inf)
    return fewest[n]


def group_configs(problem: Problem, mask: int, choice: str) -> list[GroupConfig]:
    """The configurations a group gets columns for (see :data:`CONFIG_CHOICES`), cheapest first.

    ``pareto`` keeps, per function kind and GPU memory size, the cheapest feasible
    configuration; any plan using another configuration of that kind and size stays
    feasible, and no more expensive, with this one under every row that depends only on
    the groups, their kinds and their GPU memory.
    """
    if choice == "optimum":
        cfg = problem.group(mask)
        return [] if cfg is None else [cfg]
    return problem.all_configs(mask) if choice == "all" else problem.per_class(mask)


def dominance(configs: list[GroupConfig], by_gpu: bool, by_gpu_mem: bool) -> list[GroupConfig]:
    """Column dominance within a group: keep a configuration only if it is cheaper than every
    one that uses no more of what a counting row counts (GPU functions, GPU memory)."""
    def use(c: GroupConfig) -> int:
        return (c.gpu_mem_gb or 0) if by_gpu_mem else int(c.kind == "gpu") if by_gpu else 0

    kept, low = [], math.inf
    for c in sorted(configs, key=lambda c: (use(c), c.cost, c.index)):
        if c.cost < low:
            kept.append(c)
            low = c.cost
    return sorted(kept, key=lambda c: (c.cost, c.index))
