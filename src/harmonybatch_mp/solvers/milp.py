"""Solver ``milp``: the set-partitioning model, reduced, solved by a MILP backend.

The model is :mod:`.model` (``formulations/set_partitioning.md``); this module adds
what a solver call needs around it: the exact reductions (``reduce=True``), a warm
start, a time limit that bounds the whole call, and a final step that cannot lose:
the plan returned is never more expensive than the contiguous optimum (``dp``) the
library can also find, and the bound never above the plan.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from .._validate import instance, listed
from ..errors import InputError, SolverError
from ..expected_cost import EXPECTED, FULL_BATCH
from ..plan import BOUNDED, HEURISTIC, OPTIMAL, RESTRICTED_OPTIMAL, TIME_LIMIT, SolverInfo
from ..provision import GroupConfig
from ..solver_info import allowance, relative_gap
from . import backends
from .base import Solution
from .candidates import ALL_SUBSETS_MAX_APPS, check_max_run
from .colgen import colgen
from .dp import dp
from .expected_bound import expected_bound
from .function_cap import capped_plans
from .greedy import greedy
from .kernels import interruptible
from .model import build_from_problem
from .moves import improve
from .options import check_gaps, deadline_of, late, seconds
from .problem import Problem
from .repair import plan_cost, repair

#: Under the full-batch model, ``candidates="auto"`` proves optimality over every partition by
#: column generation (:mod:`.colgen`) up to this many apps (n = 30 took 0.5-9 s; see
#: benchmarks/results/colgen.md), and above it optimises over contiguous groups.
COLGEN_MAX_APPS = 40
#: Largest workload for which the final comparison with the contiguous optimum runs.
DP_CHECK_MAX_APPS = 20
#: Longest run of the contiguous fallback plan used when a time limit stops model building.
FALLBACK_MAX_RUN = 8
#: Under a time limit, the share of it within which the plan the limit falls back on is made
#: first: the short-run contiguous plan, repaired where it breaks isolation or a counting row
#: (formulations/set_partitioning.md, "Repairing a plan").
FALLBACK_SHARE = 0.2
#: The share of the time then left for a second try where the first made no plan. 50 VideoMAE
#: apps under expected with a GPU cap and 5 s: the repair ran out the first try's 1 s, and the
#: model (contiguous runs) the rest, so the call ended without a plan. The second try, with the
#: groups the first priced kept, took 0.2 s; its plan meets the per-app bound, and the call
#: ends with it in 1.3-1.5 s, ``optimal``.
FALLBACK_RETRY_SHARE = 0.5
#: Under expected and a time limit, the share of it (of what is left when the fallbacks begin)
#: within which the contiguous optimum under a cap on functions, GPU functions or GPU memory is
#: searched on the expected model (:func:`.function_cap.capped_plans`; it gives up sooner where
#: at its pace it would not finish). 100 random VGG19 apps within 6 GB: its runs' searches take
#: 5 s, and its plan costs 1.1% less than the model's over contiguous candidates in 20 s.
SEARCH_SHARE = 0.5
#: Seconds a plan not proven over every partition spends by default on a global bound, up to
#: BOUND_MAX_APPS[cost model] apps, without a time limit; with one, what the limit leaves, up
#: to BOUND_LIMITED_MAX_APPS apps (under full-batch, colgen given the limit ends within 0-0.98%
#: at n = 150 in 120 s and 0-3.7% at n = 200 in 60 s: benchmarks/results/colgen.md).
#: Under expected (the relaxed model), n = 16-150: 5 s cut the gap from 10-47% to 0.9-16%, except n = 60 GPT-2 (nothing proven);
#: n = 300, 500 (random BERT, VGG19): 13-19% to 11-15%; n = 1000-5000: no gain. Under
#: full-batch (colgen), n = 60: 17-23% to 0.9-1.2%; n = 100: 15-20% to 8-14%; n = 150, 200: no
#: gain (formulations/column_generation.md).
BOUND_TIME = 5.0
#: Under expected up to OPTIMUM_MAX_APPS apps, the share of the bound's time for the optimum
#: over every group (:func:`_optimum`; 0.02-2.8 s at n = 4-12 on a machine at half its
#: speed); where it is not proven by then, the relaxed model's bound has the rest.
OPTIMUM_SHARE = 0.5
#: Most apps for which, under expected, the model over every group is tried in the bound's time
#: (above ALL_SUBSETS_MAX_APPS, on a plan over contiguous groups whose scope, ``candidates="auto"``,
#: is every partition, its plan is taken where cheaper): at n = 13 it took 0.4-37 s (34 random
#: workloads, a third with a GPU cap, a third with a pin and an isolated pair), where the plan
#: over contiguous groups (after moves) was up to 11% dearer than the optimum, with a pin and an isolated pair.
OPTIMUM_MAX_APPS = 14
#: Most apps for which it is tried where its share of the bound's time is OPTIMUM_LONG_SECONDS
#: or more (a time limit of a minute gives it about 27 s): at n = 15 it took 0.0-10.3 s on 6 of
#: 8 random workloads, and 46 s and 98 s on two with a cap of one GPU function.
OPTIMUM_LONG_MAX_APPS = 15
OPTIMUM_LONG_SECONDS = 20.0
#: Under full-batch with a 60 s limit, colgen's bound on the draws of benchmarks/colgen.py part 2:
#: n = 300 8 of 8 higher (gaps 0.5-19.6% to 0.06-13.0%), n = 500 4 of 8 (4.9-10.6% to 2.7-7.2%),
#: n = 1,000 none; its plans there, 0.006-0.43% cheaper, are those of 5 s of moves. Under expected
#: with 60 s at n = 1,000 (the same draws), the relaxed bound raised 5 of 8 (the random ones
#: 6.8-12.3% to 4.4-11.6%), peaking at 0.75 GB (1.4 GB before the rows were held in blocks).
BOUND_MAX_APPS = {EXPECTED: 500, FULL_BATCH: 120}
BOUND_LIMITED_MAX_APPS = {EXPECTED: 1000, FULL_BATCH: 500}
#: Seconds (within the time limit) a plan optimal over contiguous groups only (``candidates="auto"``,
#: no counting side constraints) spends by default on moves of single apps (:mod:`.moves`), up to
#: MOVE_MAX_APPS[cost model] apps: a round prices every app in every group. Under expected, random
#: workloads (benchmarks/colgen.py, part 3): n = 30 GPT-2 2.7% cheaper, n = 150 BERT 0.5%, most within
#: 1 s; n = 300 BERT 0.9%, VGG19 (family scale) 3.0%, in 5 s; n = 1000: no move found in 5 s. Under
#: full-batch (benchmarks/colgen.py part 2's draws): n = 1,000 8 of 8 cheaper (0.006-0.43%), n = 2,000
#: 8 of 8 (0.008-0.36%); n = 5,000 (family scale): no move found in 5 s.
MOVE_TIME = 5.0
MOVE_MAX_APPS = {EXPECTED: 500, FULL_BATCH: 2000}
#: Relative slack within which a plan meets a bound (as the backends' gap tolerance): the plan
#: and the per-app bound sum the same costs in other orders.
MEETS = 1e-9


def _allowed(problem: Problem, masks: Sequence[int]) -> bool:
    return problem.side.allows(problem, masks, [problem.group(m) for m in masks])


@interruptible()
def milp(problem: Problem, *, candidates: str | Sequence[Sequence[str]] = "auto", max_run: int | None = None,
         time_limit: float | None = None, rel_gap: float = 0.0, abs_gap: float = 0.0, threads: int | None = None,
         warm_start: str | None = None, backend: str = backends.DEFAULT_BACKEND,
         backend_options: Mapping[str, Any] | None = None, bound_time: float | None = None,
         move_time: float | None = None) -> Solution:
    """Solve the set-partitioning MILP; return the plan's groups with a certificate.

    Parameters
    ----------
    problem : Problem
        Side constraints are read from ``problem.side``.
    candidates : {"auto", "all", "contiguous"} or list of lists of app names
        ``auto``: all subsets up to 12 apps; under the full-batch model, column generation
        over every group up to 40 (:func:`.colgen.colgen`); else contiguous runs. All
        subsets and column generation certify over every partition; contiguous runs give
        ``restricted_optimal`` with a global ``bound``: the per-app bound of
        :meth:`Problem.lower_bound`, raised within ``bound_time``; with ``auto``, the
        contiguous plan is then improved by moves of single apps within ``move_time``
        (status ``bounded`` where a move lowered its cost). Where the contiguous runs hold no
        plan that keeps the side constraints, the contiguous plan repaired to keep them is
        returned (status ``heuristic``); only a model over every group proves infeasibility
        (``formulations/set_partitioning.md``, "Plans no constraint allows"). A list, or
        runs capped by ``max_run``, that hold no such plan are a SolverError.
    max_run : int, optional
        Longest contiguous candidate group.
    time_limit : float, optional
        Seconds for the whole call (candidate generation, reductions, model building,
        solving). At the limit the best plan known is returned with status
        ``time_limit``; SolverError when none is known. With the library's own candidates a
        plan is made first for this (``formulations/set_partitioning.md``, "Repairing a
        plan"); with a candidate list or a ``max_run`` the user gave, only the warm start.
    rel_gap, abs_gap : float
        MIP gaps (absolute in cost per million requests). Default 0: prove the optimum.
    threads : int, optional
    warm_start : {"dp", "greedy"}, optional
        Start the backend from that solver's plan when it meets the side constraints (made
        within the time limit: the best plan it knows by then, or none).
    backend : str
        ``appsi_highs`` (default) or a Pyomo ``SolverFactory`` name.
    backend_options : mapping, optional
        Passed to the backend verbatim.
    bound_time : float, optional
        For a plan not proven optimal over every partition: at most this many seconds, and
        never past the time limit, of column generation over every group to raise the
        certificate's ``bound`` above the per-app bound (under ``expected`` on the relaxed
        model, :func:`.expected_bound.expected_bound`; under ``full-batch`` the bound of
        :func:`.colgen.colgen`, whose plan replaces the plan where it is cheaper, status
        ``bounded``); its result is the certificate's ``relaxation_bound``. Under
        ``expected`` up to :data:`OPTIMUM_MAX_APPS` apps (:data:`OPTIMUM_LONG_MAX_APPS` where
        that share is :data:`OPTIMUM_LONG_SECONDS` or more), the model over every group is
        solved first, in :data:`OPTIMUM_SHARE` of that time, and its bound, the optimum, is
        taken (no ``relaxation_bound``); with ``auto`` (from 13 apps: contiguous runs) so is its
        plan, where it is cheaper (status ``optimal``). Where it is not solved by then, the relaxed
        bound has the rest.
        0 skips it.
        Default: all that ``time_limit`` leaves, up to :data:`BOUND_LIMITED_MAX_APPS` apps (1,000
        under ``expected``, 500 under ``full-batch``);
        without a limit :data:`BOUND_TIME`, up to :data:`BOUND_MAX_APPS` apps (500 under
        ``expected``, 120 under ``full-batch``); 0 above.
    move_time : float, optional
        With ``candidates="auto"`` and no ``max_run``, for a plan optimal over contiguous
        groups only and no counting side constraint: at most this many seconds, never past
        the time limit, of moves of single apps between groups (:func:`.moves.improve`),
        before the bound. 0 skips them. Default: :data:`MOVE_TIME` up to :data:`MOVE_MAX_APPS` apps
        (500 under ``expected``, 2,000 under ``full-batch``), 0 above.

    Examples
    --------
    >>> from harmonybatch_mp.solvers import Problem, as_instance
    >>> apps = ",".join(f"{0.4 + 0.05 * i}:{1 + i % 5}" for i in range(16))
    >>> p = Problem(*as_instance(apps, "BERT"), cost_model="expected")
    >>> per_app = milp(p, bound_time=0, move_time=0).info
    >>> relaxed = milp(p, move_time=0).info
    >>> per_app.status, relaxed.status, relaxed.bound > per_app.bound
    ('restricted_optimal', 'restricted_optimal', True)
    """
    start = time.perf_counter()
    deadline = deadline_of(start, time_limit)
    instance(problem, Problem, "milp: problem")
    rel_gap, abs_gap, threads = check_gaps(rel_gap, abs_gap, threads)
    max_run, backend = check_max_run(max_run), backends.check_backend(backend)
    if not isinstance(candidates, str):
        candidates = listed(candidates, "candidates", "'auto', 'all', 'contiguous' or a list of groups of app names")
    if bound_time is None and deadline is not None:  # the limit is the budget of the proof
        bound_time = math.inf if problem.n <= BOUND_LIMITED_MAX_APPS[problem.cost_model] else 0.0
    elif bound_time is None:
        bound_time = BOUND_TIME if problem.n <= BOUND_MAX_APPS[problem.cost_model] else 0.0
    else:
        bound_time = seconds(bound_time, "bound_time")
    if move_time is None:
        move_time = MOVE_TIME if problem.n <= MOVE_MAX_APPS[problem.cost_model] else 0.0
    move_time = seconds(move_time, "move_time")
    sol = _proven(_milp(problem, candidates, max_run, deadline, rel_gap, abs_gap, threads, warm_start, backend,
                        backend_options), rel_gap, abs_gap)
    if candidates == "auto" and not max_run and sol.info.status == RESTRICTED_OPTIMAL and not problem.side.counting:
        sol = _proven(_improved(problem, sol, deadline, move_time), rel_gap, abs_gap)
    every_partition = candidates == "auto" and not max_run  # the plan's scope
    return _proven(_relaxed_bound(problem, sol, deadline, bound_time, every_partition), rel_gap, abs_gap)


def _proven(sol: Solution, rel_gap: float, abs_gap: float) -> Solution:
    """``sol`` as ``optimal`` over every partition where its plan meets its bound, a bound on
    every plan, within the gaps, whatever groups the solver searched (a contiguous plan or
    the plan of a time limit that meets the per-app bound is optimal)."""
    info = sol.info
    if info.status == OPTIMAL or info.objective is None or info.bound is None or info.objective <= 0:
        return sol
    slack = info.objective - info.bound
    if slack > allowance(info.objective, (rel_gap, abs_gap)) + MEETS * info.objective:
        return sol
    return Solution(sol.groups, sol.configs, replace(
        info, status=OPTIMAL, gap=relative_gap(info.objective, info.bound),
        scope=f"all partitions (the plan meets a bound on every plan; searched: {info.scope})"))


def _improved(problem: Problem, sol: Solution, deadline: float | None, seconds: float) -> Solution:
    """The plan after moves of single apps (for at most ``seconds``), status ``bounded``
    where they lowered its cost; its bound, global, holds as before."""
    now = time.perf_counter()
    stop = now + seconds if deadline is None else min(deadline, now + seconds)
    if stop <= now:
        return sol
    masks = improve(problem, sol.groups, stop)
    objective = problem.plan_cost(masks)
    if not objective < sol.info.objective:
        return sol
    info = sol.info
    gap = relative_gap(objective, info.bound)
    return Solution.of(problem, masks, replace(info, status=BOUNDED, objective=objective, gap=gap, restricted_bound=None,
                                               scope=f"{info.scope}, then moves of single apps"))


def _milp(problem: Problem, candidates: str | Sequence[Sequence[str]], max_run: int | None, deadline: float | None,
          rel_gap: float, abs_gap: float, threads: int | None, warm_start: str | None, backend: str,
          backend_options: Mapping[str, Any] | None) -> Solution:
    warm: list[int] = []
    known: list[tuple[list[int], list[GroupConfig]]] = []
    if warm_start is not None:
        if not isinstance(warm_start, str) or warm_start not in ("dp", "greedy"):
            raise InputError(f"warm_start must be 'dp' or 'greedy', got {warm_start!r}")
        left = None if deadline is None else max(0.0, deadline - time.perf_counter())
        try:  # within the call's limit (a dp start on 5,000 apps took 7.8 s of a 3 s limit)
            start = dp(problem, deadline=deadline) if warm_start == "dp" else greedy(problem, time_limit=left)
            wm = list(start.groups)
        except SolverError as exc:  # (stopped with no plan: the model starts from none)
            if not exc.time_limit:
                raise
            wm = []
        warm = wm if _allowed(problem, wm) else []
        known += [(warm, [problem.group(m) for m in warm])] if warm else []
    if (candidates == "auto" and not max_run and problem.cost_model == FULL_BATCH and backend == backends.DEFAULT_BACKEND
            and ALL_SUBSETS_MAX_APPS < problem.n <= COLGEN_MAX_APPS and abs_gap == 0):
        try:
            sol = colgen(problem, time_limit=None if deadline is None else max(0.0, deadline - time.perf_counter()),
                         rel_gap=rel_gap, abs_gap=abs_gap)
        except SolverError as exc:  # (named for the solver the user called, as its plans are)
            raise SolverError(f"milp, by column generation over every group: {str(exc).removeprefix('colgen: ')}",
                              time_limit=exc.time_limit, restricted=exc.restricted) from None
        return Solution(sol.groups, sol.configs, replace(sol.info, name="milp", backend="column generation"))
    contiguous = isinstance(candidates, str) and (
        candidates == "contiguous" or (candidates == "auto" and (problem.n > ALL_SUBSETS_MAX_APPS or max_run)))
    if contiguous and not problem.side.counting and backend == backends.DEFAULT_BACKEND:
        return _shortest_path(problem, max_run, deadline)
    # with the library's own candidates (a list or max_run the user gave is kept to: the plan
    # falls back on none of it), made first under a limit and before a model of contiguous runs:
    # its groups join the candidates, and a plan that meets the per-app bound ends the call here
    own = isinstance(candidates, str) and not max_run
    made: dict[str, list[int]] = {}  # the contiguous plan a first try made (by cost model), for the next
    fallback = _fallbacks(problem, deadline, made=made) if own and (deadline is not None or contiguous) else []
    # none within its share: once more, with more time, unless the deadline has passed
    # (short_limits seed 188, 2,000 apps: a second try begun past it took 40 ms)
    if own and deadline is not None and not fallback and not late(deadline):
        fallback = _fallbacks(problem, deadline, share=FALLBACK_RETRY_SHARE, made=made)
    known += fallback
    if known and own:  # a plan that meets the per-app bound ends it
        early = _proven(_fallback(problem, known, "", HEURISTIC, "a plan made before the model"), rel_gap, abs_gap)
        if early.info.status == OPTIMAL:
            return early
    try:
        model = build_from_problem(problem, candidates=candidates, max_run=max_run, reduce=True,
                                   deadline=deadline,
                                   extra_groups=warm + [m for plan, _ in fallback for m in plan])
        sol = model.solution(backend, deadline=deadline, rel_gap=rel_gap, abs_gap=abs_gap, threads=threads,
                             warm_start=warm, backend_options=backend_options)
    except SolverError as exc:
        if exc.restricted and own:
            if not fallback:  # none yet, or none within its share of the limit: all that is left
                known += _fallbacks(problem, deadline, share=1.0, made=made)
            return _fallback(problem, known, str(exc), HEURISTIC,
                             "a repaired plan (under a cap on functions, GPU functions or GPU memory, or the "
                             "contiguous optimum under it): no plan of the candidate groups keeps the side constraints")
        if not exc.time_limit:
            raise
        return _fallback(problem, known, str(exc))
    return _cannot_lose(problem, _no_dearer_than_known(problem, sol, known))


def _no_dearer_than_known(problem: Problem, sol: Solution,
                          known: list[tuple[list[int], list[GroupConfig]]]) -> Solution:
    """The model's plan, or where the time limit cut its solve short, the cheapest plan known
    before it (:func:`_fallback`'s) if that is cheaper, with the model's bounds. (HiGHS's incumbent
    at the limit can be far dearer than the plans whose groups the model holds: 100 random
    VideoMAE apps within 26 GB under expected, 60 s, 5.998e-4 with 65 apps alone, against
    1.523e-4 known before the model.)"""
    if sol.info.status != TIME_LIMIT or not known or sol.info.objective is None:
        return sol
    best, configs, objective = _cheapest(problem, known)
    if objective >= sol.info.objective:
        return sol
    restricted = sol.info.restricted_bound  # (over the model's columns: the plan's configurations may be others)
    return Solution(tuple(best), tuple(configs), replace(
        sol.info, objective=objective, gap=relative_gap(objective, sol.info.bound),
        restricted_bound=None if restricted is None else min(restricted, objective)))


def _relaxed_bound(problem: Problem, sol: Solution, deadline: float | None, seconds: float,
                   every_partition: bool = False) -> Solution:
    """A plan not proven optimal over every partition, with its bound raised where it can be
    by column generation over every group, run for ``seconds`` at most: on the relaxed model
    under ``expected``, by ``colgen`` under full-batch, whose plan is taken where it is cheaper
    (under short limits its own moves get less time than the plan's had, so it may be dearer).
    Under ``expected`` up to :data:`OPTIMUM_MAX_APPS` apps (:data:`OPTIMUM_LONG_MAX_APPS` given
    :data:`OPTIMUM_LONG_SECONDS` for it) the model over every group is tried first
    (:func:`_optimum`); where ``every_partition`` is the plan's scope, its plan is taken where
    it is cheaper."""
    info = sol.info
    now = time.perf_counter()
    stop = now + seconds if deadline is None else min(deadline, now + seconds)
    if info.status == OPTIMAL or info.backend == "column generation" or info.objective is None or stop <= now:
        return sol
    # the optimum first, the relaxed bound if not; not where the model over every group was cut short
    share = OPTIMUM_SHARE * (stop - now)
    tried = problem.n <= OPTIMUM_MAX_APPS or problem.n <= OPTIMUM_LONG_MAX_APPS and share >= OPTIMUM_LONG_SECONDS
    if problem.expected and tried and info.status in (RESTRICTED_OPTIMAL, BOUNDED, HEURISTIC):
        found = _optimum(problem, now + share)
        cheaper = found is not None and found.info.status == OPTIMAL and found.info.objective < info.objective
        if every_partition and cheaper:
            return Solution(found.groups, found.configs, replace(
                found.info, name=info.name, scope=f"all partitions ({info.scope}, then the model over every group)"))
        if found is not None and found.info.bound is not None:
            bound = max(info.bound if info.bound is not None else -math.inf, min(found.info.bound, info.objective))
            return Solution(sol.groups, sol.configs, replace(info, bound=bound, gap=relative_gap(info.objective, bound)))
    if problem.expected:
        relaxed = expected_bound(problem, deadline=stop)
    else:
        try:
            found = colgen(problem, time_limit=stop - now, regroup=False)
        except SolverError:  # colgen knew no plan by then (side constraints): no bound either
            return sol
        relaxed = found.info.bound
        if found.info.objective < info.objective * (1 - MEETS):
            info = replace(info, status=BOUNDED, objective=found.info.objective, restricted_bound=None,
                           backend="column generation", scope=f"{info.scope}, then column generation over every group")
            sol = Solution(found.groups, found.configs, info)
    # (capped at the plan's cost: the model's bound held for the plan colgen undercut only within
    # HiGHS's tolerances, 3.3e-7 of it on a 6-app BERT draw, and stood above the cheaper plan's cost)
    bound = min(info.objective, max(info.bound if info.bound is not None else -math.inf, min(relaxed, info.objective)))
    return Solution(sol.groups, sol.configs, replace(info, bound=bound, relaxation_bound=relaxed,
                                                     gap=relative_gap(info.objective, bound)))


def _optimum(problem: Problem, stop: float) -> Solution | None:
    """The model over every group (all subsets, up to OPTIMUM_LONG_MAX_APPS apps) solved by
    ``stop``: its bound is the optimum of every plan that keeps the side constraints, and under
    ``expected`` tighter and sooner than the relaxed model's (n = 4-12, random VGG19 and GPT-2:
    0.02-2.5 s for the optimum, where 1.1-4.4 s of ``expected_bound`` left gaps of 0.2-7.1%);
    None where it is not solved by then."""
    try:
        return build_from_problem(problem, candidates="all", reduce=True, deadline=stop).solution(deadline=stop)
    except SolverError:
        return None


def _shortest_path(problem: Problem, max_run: int | None, deadline: float | None) -> Solution:
    """The MILP over contiguous candidate groups without rows that couple groups is the
    shortest-path problem ``dp`` solves exactly, isolated pairs included (a pair rules out the
    runs that hold it; ``formulations/set_partitioning.md``)."""
    sol = dp(problem, max_run=max_run, deadline=deadline, isolate=True)
    scope = sol.info.scope.replace("contiguous partitions", "contiguous candidate groups")
    return Solution(sol.groups, sol.configs, replace(sol.info, name="milp", scope=scope, backend="shortest path"))


def _cannot_lose(problem: Problem, sol: Solution) -> Solution:
    """Replace the MILP plan by the contiguous optimum if that is cheaper when re-evaluated exactly."""
    if problem.n > DP_CHECK_MAX_APPS or sol.info.scope != "all partitions":
        return sol  # the contiguous optimum is in scope only when the model covers all partitions
    alt = list(dp(problem).groups)
    if not _allowed(problem, alt) or problem.plan_cost(alt) >= sol.info.objective:
        return sol
    info = sol.info
    objective = problem.plan_cost(alt)
    bound = None if info.bound is None else min(info.bound, objective)
    gap = relative_gap(objective, bound)
    info = replace(info, objective=objective, bound=bound, gap=gap,
                   restricted_bound=None if info.restricted_bound is None else min(info.restricted_bound, objective))
    return Solution.of(problem, alt, info)


def _fallbacks(problem: Problem, deadline: float | None, share: float = FALLBACK_SHARE,
               made: dict[str, list[int]] | None = None) -> list[tuple[list[int], list[GroupConfig]]]:
    """The plan a time limit falls back on, made within ``share`` of the time left (without a
    deadline, in full): the short-run contiguous plan (``dp`` knows pins only), repaired where
    it breaks isolation or a counting row (:func:`.repair.repair`), and then also the contiguous
    optimum under its caps on functions or GPU memory (:func:`.function_cap.capped_plans`); under isolation
    alone also the short-run contiguous plan whose runs hold no pair; none where none is found
    by then. ``made`` keeps the contiguous plan, once complete, for the calls after this one."""
    now = time.perf_counter()
    stop = None if deadline is None else now + share * max(0.0, deadline - now)
    search_stop = None if deadline is None else now + max(share, SEARCH_SHARE) * max(0.0, deadline - now)
    # under expected with counting rows a large plan is repaired on the full-batch model anyway,
    # so start from its cheaper contiguous plan (5,000 apps: 1.3 s against 3.9 s); past the
    # deadline, from the apps alone solve() priced already (2,000 apps alone on the full-batch
    # model: 50 ms past the limit)
    start = problem.full_batch_view() if problem.expected and problem.side.counting and not late(stop) else problem
    made = {} if made is None else made
    if start.cost_model in made:
        plan = list(made[start.cost_model])
    else:
        sol = dp(start, max_run=FALLBACK_MAX_RUN, deadline=stop)
        plan = list(sol.groups)
        if sol.info.status != TIME_LIMIT:  # complete: the next try starts from it (2,000 apps: 0.7 s)
            made[start.cost_model] = plan
    problem.prefetch(plan)
    configs = [problem.group(m) for m in plan]
    if None not in configs and problem.side.allows(problem, plan, configs):
        return [(plan, configs)]
    fixed = repair(problem, plan, stop)
    out = ([] if fixed is None else [fixed]) + capped_plans(problem, stop, search_stop)
    if problem.side.isolate and not problem.side.counting:  # a repair can beat it, or lose to it
        apart = list(dp(problem, max_run=FALLBACK_MAX_RUN, deadline=stop, isolate=True).groups)
        out.append((apart, [problem.group(m) for m in apart]))
    return out


def _fallback(problem: Problem, known: list[tuple[list[int], list[GroupConfig]]], why: str,
              status: str = TIME_LIMIT, scope: str = "best plan known at the time limit") -> Solution:
    """The cheapest plan known (the warm start, or the plan made first for this,
    :func:`_fallbacks`), on its own configurations: at the time limit, or where the candidate
    groups hold no plan that keeps the side constraints."""
    if not known:
        if status == TIME_LIMIT:
            raise SolverError(f"{why}; no feasible plan was known by then (raise the time limit)", time_limit=True)
        raise SolverError(f"{why}; the repair of the contiguous plan found none either", restricted=True)
    best, configs, objective = _cheapest(problem, known)
    bound = problem.lower_bound()
    info = SolverInfo("milp", status=status, objective=objective, bound=bound,
                      gap=relative_gap(objective, bound), scope=scope)
    return Solution(tuple(best), tuple(configs), info)


def _cheapest(problem: Problem,
              known: list[tuple[list[int], list[GroupConfig]]]) -> tuple[list[int], list[GroupConfig], float]:
    """The cheapest of the ``known`` plans (groups, configurations), and its cost."""
    best, configs = min(known, key=lambda option: plan_cost(problem, *option))
    return best, configs, plan_cost(problem, best, configs)
