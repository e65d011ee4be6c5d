"""MILP backends: HiGHS in process (the default) or any Pyomo ``SolverFactory`` solver.

The default ``appsi_highs`` runs HiGHS in process: on the library's own model straight
from its arrays (:mod:`.highs`, no Pyomo model is built), and on a Pyomo
model a user has extended through Pyomo's APPSI interface. Any other name is looked up in Pyomo's
``SolverFactory`` (``glpk``, ``cbc``, ``gurobi``, ``cplex``, ``scip``, ...); the time
limit, gaps and threads are translated to that solver's own option names where
:data:`OPTION_NAMES` knows them, and anything else can be passed verbatim as
``backend_options``.

Pyomo's solver plumbing (output capture, temporary files) is process-wide state, so
backends run one at a time in a process: :func:`run_backend` holds a lock while a
solver runs, and waits for it no longer than the caller's time limit. Solver output
is never printed.
"""

from __future__ import annotations

import math
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, SolverError

#: The default backend: HiGHS in process.
DEFAULT_BACKEND = "appsi_highs"
#: Backend names that run HiGHS through APPSI.
HIGHS_NAMES = ("appsi_highs", "highs")

#: Time limits (s) from this one on are passed to a Pyomo backend as none: GLPK's ``tmlim`` is a
#: C ``int``, and glpsol failed on ``time_limit=1e12``.
LONGEST_LIMIT = 2**31 - 1

#: Per backend: its option names for (time limit in s, relative gap, absolute gap, threads).
#: None: the backend has no such option (asking for a non-default value is an error).
OPTION_NAMES: dict[str, tuple[str | None, str | None, str | None, str | None]] = {
    "glpk": ("tmlim", "mipgap", None, None),
    "cbc": ("seconds", "ratioGap", "allowableGap", "threads"),
    "gurobi": ("TimeLimit", "MIPGap", "MIPGapAbs", "Threads"),
    "gurobi_direct": ("TimeLimit", "MIPGap", "MIPGapAbs", "Threads"),
    "gurobi_persistent": ("TimeLimit", "MIPGap", "MIPGapAbs", "Threads"),
    "cplex": ("timelimit", "mipgap", "mip_tolerances_absmipgap", "threads"),
    "cplex_direct": ("timelimit", "mip_tolerances_mipgap", "mip_tolerances_absmipgap", "threads"),
    "scip": ("limits/time", "limits/gap", "limits/absgap", None),
}

_LOCK = threading.Lock()
#: Per Python thread, the thread count its HiGHS task scheduler was last restarted with (none
#: yet: as HiGHS started it).
_SCHEDULER = threading.local()

#: Terminations a backend reports, as :class:`BackendResult.termination`.
OPTIMAL, TIME_LIMIT, INFEASIBLE, OTHER = "optimal", "time_limit", "infeasible", "other"


@dataclass(frozen=True)
class BackendResult:
    """What a backend reported. ``objective`` and ``bound`` are in the model's objective units;
    ``has_solution`` tells whether variable values were loaded into the model."""

    backend: str
    termination: str
    message: str
    objective: float | None
    bound: float | None
    has_solution: bool


def _finite(x: Any) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def check_backend(backend: Any) -> str:
    """``backend`` if it is a solver's name (a nonempty string), else an InputError."""
    if not isinstance(backend, str) or not backend:
        raise InputError(f"backend: expected a solver name, got {backend!r:.40}")
    return backend


def check_options(backend_options: Any) -> None:
    """``backend_options`` is None or a mapping of option names (str) to values, or an InputError."""
    if backend_options is not None and (not isinstance(backend_options, Mapping)
                                        or not all(isinstance(k, str) for k in backend_options)):
        raise InputError(f"backend_options: expected a mapping of option names to values, got {backend_options!r}")


def highs_threads(threads: int | None, backend_options: Mapping[str, Any] | None) -> None:
    """Restart the calling thread's HiGHS task scheduler where a solve asks for a thread count
    (``threads``, or the ``threads`` of ``backend_options``) it was not started with. Call with
    the lock held: no HiGHS solve runs then. HiGHS starts a scheduler at a thread's first solve
    and keeps it, one per thread, and a later solve in that thread that asks for fewer threads
    stopped at once without a plan (status "Not Set": ``solve(..., threads=1)`` after a solve
    with HiGHS's default on 2 cores raised a SolverError)."""
    wanted = (backend_options or {}).get("threads", threads)
    if wanted is None or wanted == getattr(_SCHEDULER, "threads", None):
        return
    import highspy

    highspy.Highs.resetGlobalScheduler(True)
    _SCHEDULER.threads = wanted


def _acquire(deadline: float | None) -> None:
    wait = -1 if deadline is None or deadline == float("inf") else max(0.0, deadline - time.perf_counter())
    if wait >= threading.TIMEOUT_MAX:  # (a wait that long raised OverflowError: time_limit=1e12)
        wait = -1
    if not _LOCK.acquire(timeout=wait):
        raise SolverError("time limit reached while waiting for another thread's MILP solve", time_limit=True)


def run_backend(model: Any, backend: str = DEFAULT_BACKEND, *, deadline: float | None = None, rel_gap: float = 0.0,
                abs_gap: float = 0.0, threads: int | None = None, warm_start: bool = False,
                backend_options: Mapping[str, Any] | None = None) -> BackendResult:
    """Solve a Pyomo model with ``backend``; load the best solution found into its variables.

    Parameters
    ----------
    model : pyomo ConcreteModel
        A minimisation with one objective.
    backend : str
        ``appsi_highs`` (default) or any Pyomo ``SolverFactory`` name.
    deadline : float, optional
        ``time.perf_counter()`` value by which the solve must end.
    rel_gap, abs_gap : float
        MIP gaps (absolute gap in objective units); 0 = prove the optimum.
    threads : int, optional
    warm_start : bool
        Start from the variable values in the model (where the backend can).
    backend_options : mapping, optional
        Options passed to the backend verbatim, after the mapped ones.

    Raises
    ------
    InputError
        Unknown backend name, or an option the backend has no name for.
    SolverError
        The backend is not installed or failed, or the deadline passed before it could start.
    """
    backend = check_backend(backend)
    check_options(backend_options)
    _acquire(deadline)
    try:
        remaining = None if deadline is None else max(0.0, deadline - time.perf_counter())
        if remaining == 0.0:
            raise SolverError(f"time limit reached before backend {backend} could start", time_limit=True)
        if backend in HIGHS_NAMES:
            return _run_highs(model, backend, remaining, rel_gap, abs_gap, threads, warm_start, backend_options)
        return _run_factory(model, backend, remaining, rel_gap, abs_gap, threads, warm_start, backend_options)
    finally:
        _LOCK.release()


def _run_highs(model, backend, time_limit, rel_gap, abs_gap, threads, warm_start, extra) -> BackendResult:
    from pyomo.contrib.appsi.base import TerminationCondition
    from pyomo.contrib.appsi.solvers.highs import Highs

    opt = Highs()
    if not opt.available():
        raise SolverError("backend appsi_highs: highspy is not installed (pip install highspy)")
    opt.config.load_solution = False
    opt.config.stream_solver = False
    opt.config.time_limit = time_limit
    opt.config.mip_gap = rel_gap
    opt.config.warmstart = warm_start
    opts: dict[str, Any] = {"mip_abs_gap": abs_gap, "output_flag": False, "log_to_console": False}
    if threads is not None:
        opts["threads"] = threads
    opts.update(extra or {})
    opt.highs_options = opts
    highs_threads(threads, extra)
    try:
        res = opt.solve(model)
    except Exception as exc:  # HiGHS or APPSI failed: a solver failure, not bad input
        raise SolverError(f"backend {backend} failed: {exc}") from None
    tc = res.termination_condition
    termination = {TerminationCondition.optimal: OPTIMAL, TerminationCondition.maxTimeLimit: TIME_LIMIT,
                   TerminationCondition.infeasible: INFEASIBLE,
                   TerminationCondition.infeasibleOrUnbounded: INFEASIBLE}.get(tc, OTHER)
    obj = _finite(res.best_feasible_objective)
    if obj is not None:
        res.solution_loader.load_vars()
    return BackendResult(backend, termination, tc.name, obj, _finite(res.best_objective_bound), obj is not None)


def _run_factory(model, backend, time_limit, rel_gap, abs_gap, threads, warm_start, extra) -> BackendResult:
    import pyomo.environ as pyo
    from pyomo.common.tempfiles import TempfileManager
    from pyomo.opt import SolverFactory, SolverStatus, TerminationCondition
    from pyomo.opt.solver.shellcmd import SystemCallSolver

    if backend not in SolverFactory:
        raise InputError(f"unknown MILP backend {backend!r}; use appsi_highs (default) or a Pyomo SolverFactory "
                         f"name such as glpk, cbc, gurobi, cplex or scip")
    opt = SolverFactory(backend)
    if not opt.available(exception_flag=False):
        raise SolverError(f"backend {backend!r} is not available on this machine (is the solver installed and on "
                          f"PATH? GLPK: apt-get install glpk-utils; CBC: apt-get install coinor-cbc)")
    names = OPTION_NAMES.get(backend, (None, None, None, None))
    # Pyomo stops a shell solver's process this long after starting it (plus 1 s or 1%), and passes
    # it on as the solver's own limit where it knows the solver's option: CBC overran 0.5 s by 6 s,
    # and a call left at its deadline (`abandon.run_by`) had kept it running until it ended
    shell = isinstance(opt, SystemCallSolver) and time_limit is not None and time_limit < LONGEST_LIMIT
    if shell and backend == "glpk":
        time_limit = max(1, math.ceil(time_limit))  # GLPK takes whole seconds
    options: dict[str, Any] = {}
    wanted = (("time_limit", time_limit, None), ("rel_gap", rel_gap, 0.0), ("abs_gap", abs_gap, 0.0),
              ("threads", threads, None))
    for (option, value, default), name in zip(wanted, names):
        if value is None or value == default or (option == "time_limit" and value >= LONGEST_LIMIT):
            continue
        if name is None and not (option == "time_limit" and shell):
            raise InputError(f"backend {backend!r} has no option for {option}; pass it in backend_options "
                             f"under the solver's own name, or use appsi_highs")
        if name is not None:
            options[name] = value
    if rel_gap == 0.0 and names[1] is not None:
        options[names[1]] = 0.0  # prove the optimum (GLPK's and CBC's defaults are not 0 everywhere)
    if abs_gap == 0.0 and names[2] is not None:
        options[names[2]] = 0.0
    options.update(extra or {})
    kwargs: dict[str, Any] = {"load_solutions": False, "tee": False, "options": options}
    if shell:
        kwargs["timelimit"] = time_limit
    if warm_start and opt.warm_start_capable():
        kwargs["warmstart"] = True
    files = TempfileManager.push()  # the files Pyomo writes, removed even when the solve fails
    try:
        res = opt.solve(model, **kwargs)
    except subprocess.TimeoutExpired:
        raise SolverError(f"backend {backend} did not stop by the time limit and was stopped",
                          time_limit=True) from None
    except Exception as exc:  # the backend failed: a solver failure, not bad input
        raise SolverError(f"backend {backend} failed: {exc}") from None
    finally:
        while TempfileManager.pop() is not files:  # a failed solve leaves its own context pushed
            pass
    tc = res.solver.termination_condition
    termination = {TerminationCondition.optimal: OPTIMAL, TerminationCondition.maxTimeLimit: TIME_LIMIT,
                   TerminationCondition.infeasible: INFEASIBLE,
                   TerminationCondition.infeasibleOrUnbounded: INFEASIBLE}.get(tc, OTHER)
    has = len(res.solution) > 0 and termination != INFEASIBLE
    obj = None
    if has:
        # the stop is in `termination`; loaded as "aborted" or "warning", Pyomo would also log it
        # on stderr (CBC at its time limit), where a CLI user reads it as an error
        res.solver.status = SolverStatus.ok
        model.solutions.load_from(res)
        obj = _finite(pyo.value(next(iter(model.component_data_objects(pyo.Objective, active=True)))))
    bound = _finite(res.problem.lower_bound)
    return BackendResult(backend, termination, str(tc), obj, bound, obj is not None)
