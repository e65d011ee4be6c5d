"""Plan solvers. Every solver shares :class:`~.problem.Problem` (group provisioning) and
every plan goes through the same :class:`~harmonybatch_mp.plan.Plan` builder.

Use :func:`solve` with a solver name: ``exact``, ``milp``, ``dp``, ``greedy``, ``batch``, ``mbs``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import Any

from ..errors import InputError
from ..plan import Plan, SolverInfo
from ..platform import Platform, preset
from ..profiles import ModelProfile, builtin_profile
from ..workload import App, Workload
from .baselines import batch_baseline, mbs_baseline
from .dp import dp
from .exact import exact
from .greedy import greedy
from .milp import SideConstraints, milp
from .problem import Problem

#: Solvers by name: each maps a Problem (and options) to groups as bitmasks.
SOLVERS = {
    "exact": exact,
    "milp": milp,
    "dp": dp,
    "greedy": greedy,
    "batch": batch_baseline,
    "mbs": mbs_baseline,
}

_OPTIONS = {
    "exact": {"force"},
    "milp": {"candidates", "max_run", "side", "time_limit", "rel_gap", "abs_gap", "threads", "warm_start"},
    "dp": {"max_run"},
    "greedy": set(),
    "batch": set(),
    "mbs": set(),
}


def solve(workload: Workload | Iterable[App], profile: ModelProfile | str, platform: Platform | str = "reference",
          solver: str = "milp",
          **options: Any) -> Plan:
    """Plan a workload with the named solver.

    Parameters
    ----------
    workload : Workload or iterable of App
    profile : ModelProfile or str
        A profile, or the name of a built-in one.
    platform : Platform or str
        A platform, or the name of a preset.
    solver : str
        ``milp`` (default; optimal with a certificate), ``exact`` (enumeration, n <= 10),
        ``dp`` (optimal over SLO-contiguous groups), ``greedy`` (the paper's Algorithm 1),
        ``batch`` or ``mbs`` (baselines).
    **options
        Solver options: ``exact``: ``force``; ``dp``: ``max_run``; ``milp``: ``candidates``,
        ``max_run``, ``side`` (:class:`SideConstraints`), ``time_limit``, ``rel_gap``,
        ``abs_gap``, ``threads``, ``warm_start``.

    Returns
    -------
    Plan

    Raises
    ------
    InputError
        Unknown solver or option.
    InfeasibleError
        Some app cannot be served (each named, with the lowest latency the platform
        can give it), or side constraints conflict.

    Examples
    --------
    >>> from harmonybatch_mp import builtin_profile, parse_apps, preset
    >>> plan = solve(parse_apps("0.5:5,0.8:10,1.0:20"), builtin_profile("VGG19"), preset(), solver="milp")
    >>> f"{plan.total_cost:.4e}", [g.kind for g in plan.groups]
    ('2.3686e-05', ['cpu', 'gpu'])
    """
    if not isinstance(workload, Workload):
        workload = Workload(workload)
    if isinstance(profile, str):
        profile = builtin_profile(profile)
    if isinstance(platform, str):
        platform = preset(platform)
    if solver not in SOLVERS:
        raise InputError(f"unknown solver {solver!r}; solvers: {', '.join(SOLVERS)}")
    unknown = set(options) - _OPTIONS[solver]
    if unknown:
        raise InputError(f"solver {solver!r} has no option(s) {', '.join(sorted(unknown))}; "
                         f"options: {', '.join(sorted(_OPTIONS[solver])) or 'none'}")
    side = options.get("side")
    if side is not None:
        if not isinstance(side, SideConstraints):
            raise InputError("option side: expected a SideConstraints")
        side.validate_names(a.name for a in workload.apps)
    start = time.perf_counter()
    problem = Problem(workload, profile, platform, kinds=side.kinds() if side else None)
    if solver != "batch":
        problem.require_feasible()
    configs, info = None, None
    if solver == "milp":
        masks, configs, info = milp(problem, **options)
    elif solver == "batch":
        masks, configs = batch_baseline(problem)
    else:
        masks = SOLVERS[solver](problem, **options)
    plan = problem.plan(masks, SolverInfo(solver), configs)
    if info is None:
        status = "optimal" if solver in ("exact", "dp") else "heuristic"
        info = SolverInfo(solver, status=status, objective=plan.total_cost)
    return plan.with_solver(dataclasses.replace(info, wall_time_s=time.perf_counter() - start))

__all__ = ["SOLVERS", "Problem", "SideConstraints", "solve"]
