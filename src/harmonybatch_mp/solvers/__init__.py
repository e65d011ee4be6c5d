"""Plan solvers: one contract (:mod:`.base`), one registry, one :func:`solve`.

Every solver is ``f(problem, **options) -> Solution`` and shares
:class:`~.problem.Problem` (group provisioning, the cost model), the plan builder and
the checker. Built in: ``milp`` (default), ``exact``, ``dp``, ``greedy``, ``batch``,
``mbs``; add your own with :func:`register_solver`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from .._cores import usable_cores
from ..duration import DEFAULT_DURATION, DurationModel
from ..errors import InputError, PlanCheckError, SolverError
from ..expected_cost import EXPECTED, FULL_BATCH
from ..plan import Plan
from ..platform import Platform, as_platform
from ..profiles import ModelProfile, as_profile
from ..solver_info import PROVING_BOUND, SolverInfo, certificate_problems, relative_gap
from ..workload import App, Workload, parse_apps
from .base import Solution, SolverSpec, get_solver, register_solver, solver_names, unregister_solver
from .baselines import batch_baseline, mbs_baseline
from .colgen import colgen
from .dp import dp_solver
from .exact import exact
from .greedy import greedy
from .kernels import interruptible
from .milp import milp
from .model import SetPartitioningModel, build_model
from .options import seconds
from .problem import Problem
from .side import SideConstraints

#: Seconds per app that :func:`solve` keeps from a ``time_limit`` for building and checking the
#: plan after the solver, per cost model. The worst plan, every app alone, took 12-30 us an app
#: under full-batch and 17-38 us under expected (n = 1,000 and 5,000, three models; the checker
#: computes each function's figures once and prices groups of one function and size together);
#: the contiguous optimum's plans 3-8 us.
FINISH_PER_APP = {FULL_BATCH: 5e-5, EXPECTED: 8e-5}
#: Seconds :func:`solve` keeps from a ``time_limit`` besides: the solvers stop within a few
#: milliseconds of their deadline, not at it (``benchmarks/time_limits.py`` measured calls that
#: ended 3-5 ms past a 3 s limit at n = 150, under both cost models, without it).
FINISH_SECONDS = 0.02
#: Calls of :func:`solve` running now, in every thread of the process. With more of them than
#: cores each step between a solver's deadline checks, and the finishing, take that many times
#: longer, so the reserves above are scaled by ``max(1, running / cores)``: 8 calls at once on
#: the 2-core machine (``time_limit=6``) ended up to 21 ms past their solvers' deadlines and
#: took up to 17 ms more finishing: up to 13 ms past their limit (``benchmarks/time_limits.py``).
_running = [0]
_running_lock = threading.Lock()
#: Seconds :func:`solve` keeps from a ``time_limit`` for one full collection of Python's cyclic
#: garbage collector, which can land after a solver's last look at the clock: at least this plus
#: :data:`GC_PER_APP` an app, or the last full collection timed in the process, if longer. In runs
#: of ``benchmarks/time_limits.py`` full collections took 36-51 ms at n = 60-150, 53 ms at 1,000
#: and 108-115 ms at 5,000, and two at n = 5,000 that started 0.18 s before their call's end took
#: it 0.12 s later than the others (4 of 96 calls in three runs ended 3-35 ms past their limit
#: without this). Not scaled with the calls running at once: a collection holds every thread.
GC_SECONDS = 0.04
GC_PER_APP = 1.7e-5
#: The start of the full collection running now and the length of the last one (seconds), timed
#: by :func:`_time_full_collections` once a call with a limit has installed it.
_full_collection = [0.0, 0.0]


def kept_seconds(n: int, cost_model: str) -> float:
    """Seconds :func:`solve` keeps of a ``time_limit`` on ``n`` apps for finishing the plan (the
    reserves above) and for one full garbage collection; what is left goes to the solver, after
    the apps alone are priced. A caller sharing a limit among calls adds it to each share."""
    reserve = FINISH_SECONDS + FINISH_PER_APP.get(cost_model, FINISH_PER_APP[EXPECTED]) * n
    crowd = max(1.0, _running[0] / usable_cores())
    return reserve * crowd + max(GC_SECONDS + GC_PER_APP * n, _full_collection[1])


register_solver("milp", milp, side_constraints=True,
                description="set-partitioning MILP with a certificate (default)")
register_solver("exact", exact, description="enumerates every set partition (n <= 10 unless forced)")
register_solver("dp", dp_solver, description="optimal among SLO-contiguous partitions (shortest path)")
register_solver("greedy", greedy, description="the paper's Algorithm 1 (heuristic)")
register_solver("batch", batch_baseline, description="baseline: each app alone on a CPU function")
register_solver("mbs", mbs_baseline, description="baseline MBS+: even rate split in SLO order")
register_solver("colgen", colgen, side_constraints=True, cost_models=(FULL_BATCH,),
                description="column generation over every group, proven optimal (full-batch model)")


def as_instance(workload: Workload | Iterable[App] | str, profile: ModelProfile | str,
                platform: Platform | str = "reference") -> tuple[Workload, ModelProfile, Platform]:
    """Resolve names: a workload from apps or an ``"SLO:RATE,..."`` string, a built-in
    profile by name, a preset by name."""
    if isinstance(workload, str):
        workload = parse_apps(workload)
    elif not isinstance(workload, Workload):
        try:
            workload = Workload(workload)
        except TypeError:
            raise InputError(f"workload: expected a Workload, a list of App or 'SLO:RATE,...', "
                             f"got {type(workload).__name__}") from None
    return workload, as_profile(profile), as_platform(platform)


def solve(workload: Workload | Iterable[App] | str, profile: ModelProfile | str,
          platform: Platform | str = "reference", solver: str = "milp", *,
          side: SideConstraints | None = None, cost_model: str = EXPECTED, timeout_levels: int | None = None,
          duration: DurationModel = DEFAULT_DURATION, **options: Any) -> Plan:
    """Plan a workload with a registered solver; the plan is checked before it is returned.

    Parameters
    ----------
    workload : Workload, iterable of App, or ``"SLO:RATE,..."``
    profile : ModelProfile or str
        A profile, or the name of a built-in one.
    platform : Platform or str
        A platform, or the name of a preset.
    solver : str
        ``milp`` (default; optimal with a certificate), ``exact`` (enumeration, n <= 10),
        ``dp`` (optimal over SLO-contiguous groups), ``greedy`` (the paper's Algorithm 1),
        ``batch`` or ``mbs`` (baselines), or any solver added with :func:`register_solver`.
    side : SideConstraints, optional
        Side constraints (solvers that honour them: ``milp``).
    cost_model : {"expected", "full-batch"}
        ``expected`` (default): the expected cost per request under Poisson arrivals, with
        timeouts chosen per group (``formulations/model.md`` section 12); ``full-batch``:
        the paper's Eqs. 6 and 9 (every invocation full), for reproducing its figures.
    timeout_levels : int, optional
        Under ``expected``: timeout scales tried per configuration (default 4); an error
        under ``full-batch``, where a group's cost does not depend on its timeouts.
    duration : DurationModel
        Under ``expected``: the execution-time distribution; pass the same one to
        :func:`~harmonybatch_mp.simulate.simulate`.
    **options
        The solver's options (its keyword-only parameters): ``exact``: ``force``;
        ``dp``: ``max_run``, ``time_limit``; ``milp``: ``candidates``, ``max_run``, ``time_limit``,
        ``rel_gap``, ``abs_gap``, ``threads``, ``warm_start``, ``backend``, ``backend_options``,
        ``bound_time``, ``move_time``.

    Returns
    -------
    Plan
        Checked with :func:`~harmonybatch_mp.check_plan`; ``plan.solver`` is the certificate.

    Raises
    ------
    InputError
        Unknown solver or option, an option the solver does not take, bad values.
    InfeasibleError
        Some app cannot be served (each named, with the lowest latency the platform
        can give it), or side constraints conflict.
    SolverError
        The solver stopped without a plan (time limit, backend failure).

    Examples
    --------
    >>> plan = solve("0.5:5,0.8:10,1.0:20", "VGG19", "reference", solver="milp", cost_model="full-batch")
    >>> f"{plan.total_cost:.4e}", [g.kind for g in plan.groups], plan.solver.status
    ('2.3686e-05', ['cpu', 'gpu'], 'optimal')
    """
    from ..check import check_plan

    if options.get("time_limit") is not None:
        _watch_full_collections()
    with _counted(), interruptible():
        start = time.perf_counter()
        spec = get_solver(solver)
        unknown = set(options) - spec.options
        if unknown:
            raise InputError(f"solver {spec.name!r} has no option(s) {', '.join(sorted(unknown))}; "
                             f"its options: {', '.join(sorted(spec.options)) or 'none'}")
        if side is not None and not spec.side_constraints:
            raise InputError(f"solver {spec.name!r} does not honour side constraints; use solver 'milp'")
        limit = None if options.get("time_limit") is None else seconds(options["time_limit"], "time_limit")
        problem = Problem(*as_instance(workload, profile, platform), side=side, cost_model=cost_model,
                          timeout_levels=timeout_levels, duration=duration)
        spec.check_cost_model(problem.cost_model)
        if limit is not None:  # the limit bounds the whole call: what is kept for the plan's finishing
            kept = kept_seconds(problem.n, problem.cost_model)
        # the apps alone are priced first, within the limit less what is kept (2,000 GPT-2 apps
        # under expected, 0.5 s: they took up to 0.49 s, and the finishing after it 0.2 s more)
        try:
            problem.require_feasible(None if limit is None else start + limit - kept)
        except SolverError as error:
            if limit is None:
                raise
            raise SolverError(f"{error} (solve() kept {kept:.3g} s of the {limit:g} s limit for checking the plan "
                              "and for garbage collection)", time_limit=True) from error
        if limit is not None:  # the solver gets what is left
            priced = time.perf_counter() - start
            options = {**options, "time_limit": max(0.0, limit - priced - kept)}
        try:
            sol = spec.function(problem, **options)
        except SolverError as error:
            if limit is None or not error.time_limit:
                raise
            given, collected = options["time_limit"], _full_collection[1]
            last = f"; the last full garbage collection here took {collected:.3g} s" if collected > 0 else ""
            raise SolverError(f"{error} (solve() gave the solver {given:.3g} s of the {limit:g} s limit: it took "
                              f"{priced:.3g} s pricing the apps alone and keeps {kept:.3g} s for "
                              f"checking the plan and for garbage collection{last})",
                              time_limit=True, restricted=error.restricted) from error
        if not isinstance(sol, Solution):
            raise SolverError(f"solver {solver!r} returned {type(sol).__name__}, not a Solution")
        beyond = [m for m in sol.groups if m >> problem.n]
        if beyond:
            raise SolverError(f"solver {solver!r} returned group {beyond[0]:#x}, which names apps beyond the "
                              f"workload's {problem.n}")
        broken = problem.side.broken(problem, sol.groups, sol.configs)
        if broken:
            raise PlanCheckError([f"solver {solver!r} broke a side constraint: {line}" for line in broken])
        plan = problem.plan(sol.groups, sol.configs, sol.info)
        info = _on_plan(sol.info, plan.total_cost, solver, options.get("rel_gap", 0.0), options.get("abs_gap", 0.0))
        check_plan(plan.with_solver(info), duration=duration)  # (its certificate as checked: the solver named above)
        return plan.with_solver(dataclasses.replace(info, name=solver, wall_time_s=time.perf_counter() - start))


@contextlib.contextmanager
def _counted() -> Iterator[None]:
    """Count the call in :data:`_running` while it runs."""
    with _running_lock:
        _running[0] += 1
    try:
        yield
    finally:
        with _running_lock:
            _running[0] -= 1


def _watch_full_collections() -> None:
    """Install :func:`_time_full_collections` among the garbage collector's callbacks, once."""
    with _running_lock:
        if _time_full_collections not in gc.callbacks:
            gc.callbacks.append(_time_full_collections)


def _time_full_collections(phase: str, info: dict[str, int]) -> None:
    """A garbage collector callback: the length of each full (generation 2) collection."""
    if info.get("generation") == 2:
        if phase == "start":
            _full_collection[0] = time.perf_counter()
        else:
            _full_collection[1] = time.perf_counter() - _full_collection[0]


def _on_plan(info: SolverInfo, cost: float, solver: str, rel_gap: Any = 0.0, abs_gap: Any = 0.0) -> SolverInfo:
    """The solver's certificate on the plan as built: its objective is the plan's ``cost`` and no
    bound exceeds it. Summing the same groups in another order moves a cost by about 1e-16, which
    left an optimal plan's bound above its ``total_cost``. A report further off than
    :data:`~.solver_info.SAME_COST` describes another plan, and is refused. So is a status its
    bounds do not bear out (:func:`certificate_problems`: a registered solver's "optimal" with
    no bound, or one half its plan, was taken as it came), the gaps of a proven status being
    those asked (``rel_gap``, ``abs_gap``), which the certificate records. The gap is its
    bound's (also where it gave none)."""
    if not math.isfinite(cost):  # (a profile out of range: the plan check names it)
        return info
    proven = info.status in PROVING_BOUND
    gap = info.gap if info.bound is None else relative_gap(cost, min(info.bound, cost))
    info = dataclasses.replace(info, gap=gap, rel_gap=rel_gap if proven else None, abs_gap=abs_gap if proven else None)
    problems = certificate_problems(info, cost)
    if problems:
        raise PlanCheckError([f"solver {solver!r} reported {p}" for p in problems])
    capped = {name: min(value, cost) for name in ("bound", "restricted_bound", "relaxation_bound")
              if (value := getattr(info, name)) is not None}
    return dataclasses.replace(info, objective=None if info.objective is None else cost, **capped)


__all__ = ["Problem", "SetPartitioningModel", "SideConstraints", "Solution", "SolverSpec", "as_instance",
           "build_model", "get_solver", "kept_seconds", "register_solver", "solve", "solver_names", "unregister_solver"]
