"""Re-planning over a rate trace with a reconfiguration penalty (``formulations/replanning.md``).

Window 0 of the trace is the warm-up: it is observed, not planned. For every later
window the forecaster predicts each app's rate from past windows only, and the window is
planned for a spend of ``cost per request x forecast requests`` plus ``P`` per function
started or reconfigured relative to the running plan.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import _validate as v
from .errors import InputError, SolverError
from .plan import RESTRICTED_OPTIMAL, Plan
from .platform import Platform
from .profiles import ModelProfile
from .schedule import Schedule, Window, function_key, reconfigurations
from .solver_info import PROVING_BOUND
from .solvers import as_instance, get_solver, kept_seconds, solve
from .solvers.candidates import Column
from .solvers.model import build_from_problem
from .solvers.options import deadline_of, late
from .solvers.problem import Problem, members
from .trace import Trace
from .workload import App, Workload, load_workload

#: Rate (requests/s) an app with a zero forecast is planned for: it stays served ("kept
#: warm") by a function of its own or in its group, so a request that does arrive meets its SLO.
ZERO_FORECAST_RATE = 1e-6


@dataclass(frozen=True)
class Forecast:
    """A rate forecaster: ``last`` (the previous window), ``max:K`` (the largest of the last K
    windows) or ``ewma:A`` (exponentially weighted mean, weight A on the newest window).

    >>> Forecast.parse("ewma:0.5").predict(np.array([[4.0], [8.0]])).tolist()
    [6.0]
    """

    kind: str
    k: int = 1
    alpha: float = 1.0

    def __post_init__(self) -> None:  # built directly, a forecast is checked as a parsed one is
        if not isinstance(self.kind, str) or self.kind not in ("last", "max", "ewma"):
            raise InputError(f"forecast kind {self.kind!r}: expected last, max or ewma")
        object.__setattr__(self, "k", v.integer(self.k, f"forecast {self.kind}: K", minimum=1))
        object.__setattr__(self, "alpha", v.number(self.alpha, f"forecast {self.kind}: A", positive=True,
                                                   maximum=1.0))

    @classmethod
    def parse(cls, spec: str) -> Forecast:
        name, _, arg = str(spec).partition(":")
        if name == "last" and not arg:
            return cls("last")
        if name == "max" and arg:
            return cls("max", k=v.integer(arg, f"--forecast {spec!r}: K", minimum=1, text=True))
        if name == "ewma" and arg:
            alpha = v.number(arg, f"--forecast {spec!r}: A", positive=True, maximum=1.0, text=True)
            return cls("ewma", alpha=alpha)
        raise InputError(f"forecast {spec!r}: expected last, max:K (K >= 1) or ewma:A (0 < A <= 1)")

    def predict(self, history: np.ndarray) -> np.ndarray:
        """Rates for the next window from the past windows' rates (rows oldest first)."""
        if self.kind == "last":
            return history[-1].copy()
        if self.kind == "max":
            return history[-self.k:].max(axis=0)
        weights = self.alpha * (1 - self.alpha) ** np.arange(len(history))[::-1]
        weights[0] = (1 - self.alpha) ** (len(history) - 1)  # the oldest window carries the rest
        return weights @ history


def window_rates(trace: Trace, names: Sequence[str], window_min: int) -> np.ndarray:
    """Mean rate (requests/s) of each app in each window: shape (windows, apps)."""
    v.instance(trace, Trace, "trace")
    window_min = v.integer(window_min, "window_min", minimum=1)
    names = v.listed(names, "window_rates: names", "a sequence of app names")
    unknown = [n for n in names if not isinstance(n, str) or n not in trace.counts]
    if unknown:
        raise InputError(f"window_rates: the trace has no row for app {unknown[0]!r}")
    counts = np.array([trace.counts[n] for n in names], dtype=float).T  # (minutes, apps)
    windows = math.ceil(counts.shape[0] / window_min)
    out = np.zeros((windows, len(names)))
    for w in range(windows):
        part = counts[w * window_min:(w + 1) * window_min]
        out[w] = part.sum(axis=0) / (60.0 * part.shape[0])
    return out


def load_slos(path: str | Path) -> Workload:
    """An SLO file for re-planning: CSV with header ``name,slo``, or JSON, a list of ``{"name",
    "slo"}`` objects (a rate is ignored: the trace gives the rates)."""
    return load_workload(path, rates=False)


def _match(trace: Trace, slos: Workload) -> list[str]:
    v.instance(trace, Trace, "trace")
    v.instance(slos, Workload, "slos")
    names = [a.name for a in slos.apps]
    missing = [n for n in names if n not in trace.counts]
    if missing:
        raise InputError(f"the trace has no row for app(s) {', '.join(missing)} of the SLO file")
    extra = [n for n in trace.counts if n not in set(names)]
    if extra:
        raise InputError(f"the trace has app(s) {', '.join(extra)} that the SLO file does not name")
    return names


def replan(trace: Trace, slos: Workload, profile: ModelProfile | str, platform: Platform | str = "reference", *,
           window_min: int = 1, forecast: str | Forecast = "last", change_penalty: float = 0.0,
           solver: str = "milp", cost_model: str = "expected", **options: Any) -> Schedule:
    """Plan every window of a trace (after the first, the warm-up) and return the schedule.

    Parameters
    ----------
    trace : Trace
        Per-minute counts per app (:func:`harmonybatch_mp.trace.load_trace`).
    slos : Workload
        Each app's SLO (its rate is ignored); apps must be exactly those of the trace.
    profile, platform
    window_min : int
        Window length in minutes.
    forecast : str or Forecast
        ``last``, ``max:K`` or ``ewma:A``.
    change_penalty : float
        ``P``: currency per function started or reconfigured. With ``solver="milp"`` the
        window's plan minimises spend plus ``P`` times the changes exactly; other solvers
        plan from scratch (their published rules know no penalty) and the changes are counted.
    solver, cost_model, **options
        As for :func:`~harmonybatch_mp.solve`; with ``milp``, ``bound_time`` defaults to 0
        (a schedule needs each window's plan, not the relaxed bound on it). ``time_limit``
        bounds the whole call: each window planned gets an equal share of what is left of it
        (the windows after it included), and a window whose penalised model the limit stops
        is planned from scratch within a share of what is then left. A share is given on top
        of what ``solve`` keeps of a limit for finishing its plan
        (:func:`~harmonybatch_mp.solvers.kept_seconds`), never more than is left: a window
        that finishes early leaves the rest to those after it. A window with no plan
        within its share keeps the running plan, as a window whose forecast is unchanged does
        (its timeouts keep every SLO at any rate; its cost is the running plan's), and so does
        every window once the deadline has passed; the first window has none to keep: with no
        plan within its share it is planned again within all that is left, and failing that
        its SolverError is raised. Under a time limit the
        schedule's ``settings["kept_at_time_limit"]`` counts the windows that kept the running
        plan for want of time.

    A window whose forecast equals the previous window's keeps the running plan.

    Examples
    --------
    >>> t = Trace({"a": (300.0,) * 3, "b": (1200.0,) * 3})
    >>> s = replan(t, Workload([App("a", 0.5, 1), App("b", 1.0, 1)]), "VGG19", change_penalty=1e-3)
    >>> [w.reconfigurations for w in s.windows]
    [2, 0]
    """
    start = time.perf_counter()
    if isinstance(forecast, str):
        forecast = Forecast.parse(forecast)
    if not isinstance(forecast, Forecast):
        raise InputError(f"forecast: expected 'last', 'max:K', 'ewma:A' or a Forecast, got {type(forecast).__name__}")
    options = _plan_options(solver, options)
    deadline = deadline_of(start, options.pop("time_limit", None))
    window_min = v.integer(window_min, "window (minutes)", minimum=1)
    change_penalty = v.number(change_penalty, "change penalty", nonnegative=True)
    _, profile, platform = as_instance(slos, profile, platform)
    names = _match(trace, slos)
    rates = window_rates(trace, names, window_min)
    if len(rates) < 2:
        raise InputError(f"the trace has {trace.minutes} minute(s): at least two windows of {window_min} are "
                         f"needed (the first is the warm-up)")
    slo = {a.name: a.slo for a in slos.apps}
    window_s = 60.0 * window_min
    kept_s = kept_seconds(len(names), cost_model)
    windows: list[Window] = []
    running: Plan | None = None
    previous = None
    kept = 0  # windows that keep the running plan for want of time
    for w in range(1, len(rates)):
        predicted = np.maximum(forecast.predict(rates[:w]), ZERO_FORECAST_RATE)
        unchanged = previous is not None and np.array_equal(predicted, previous)
        if running is not None and (unchanged or late(deadline)):
            # past the deadline no window is planned: each keeps the running plan (119 windows
            # given 0.01 s took 0.46 s, each solve() at a limit of 0 still making a plan)
            kept += not unchanged
            windows.append(Window(w * window_s, running, 0))
            continue
        workload = Workload([App(n, slo[n], float(r)) for n, r in zip(names, predicted)])
        window = options if deadline is None else {**options, "time_limit": _share(deadline, len(rates) - w, kept_s)}
        plan = None
        if running is not None and change_penalty > 0 and solver == "milp":
            try:
                plan = _penalised(workload, profile, platform, running, change_penalty, window_s, cost_model, window)
            except SolverError as exc:
                if not exc.time_limit:
                    raise
                window = {**window, "time_limit": _share(deadline, len(rates) - w, kept_s)}  # from scratch
        if plan is None:
            try:
                plan = solve(workload, profile, platform, solver=solver, cost_model=cost_model, **window)
            except SolverError as exc:
                if not exc.time_limit:
                    raise
                if running is None:  # the first window has no plan to keep: it may take all that is left
                    plan = solve(workload, profile, platform, solver=solver, cost_model=cost_model,
                                 **{**window, "time_limit": max(0.0, deadline - time.perf_counter())})
                else:
                    windows.append(Window(w * window_s, running, 0))  # no plan within its share: the running one stays
                    kept += 1
                    continue
        windows.append(Window(w * window_s, plan, reconfigurations(running, plan)))
        running, previous = plan, predicted
    settings = {"window_min": window_min, "forecast": forecast.kind if forecast.kind == "last" else
                f"{forecast.kind}:{forecast.k if forecast.kind == 'max' else forecast.alpha:g}",
                "change_penalty": change_penalty, "solver": solver, "cost_model": cost_model,
                "warm_up_s": window_s}
    if deadline is not None:
        settings["kept_at_time_limit"] = kept
    return Schedule(tuple(windows), window_s, settings)


def baselines(trace: Trace, slos: Workload, profile: ModelProfile | str, platform: Platform | str = "reference", *,
              window_min: int = 1, solver: str = "milp", cost_model: str = "expected",
              **options: Any) -> dict[str, Schedule]:
    """The schedules to compare a re-planning policy with, over the same windows:

    * ``static``: one plan, for the mean rates of the warm-up window, for the whole trace;
    * ``from-scratch``: every window planned on the last window's rates with no penalty
      (the paper's practice);
    * ``oracle``: every window planned on its own true mean rates -- a lower bound on each
      window's planned cost that no forecaster can reach.

    ``options`` are :func:`replan`'s. A ``time_limit`` bounds the whole call, as in
    :func:`replan`: each plan gets an equal share of what is left among the plans still to
    make (the static plan, the oracle's windows, then the from-scratch schedule's), on top of
    what ``solve`` keeps of a limit; the static plan and the oracle's first, with none to keep,
    are made again within all that is left where their share gives no plan; and an
    oracle window with no plan within its share, or once the deadline has passed, keeps the
    oracle's running plan.
    """
    start = time.perf_counter()
    options = _plan_options(solver, options)
    deadline = deadline_of(start, options.pop("time_limit", None))
    _, profile, platform = as_instance(slos, profile, platform)
    window_min = v.integer(window_min, "window (minutes)", minimum=1)
    names = _match(trace, slos)
    rates = window_rates(trace, names, window_min)
    if len(rates) < 2:
        raise InputError(f"the trace has {trace.minutes} minute(s): at least two windows of {window_min} are needed")
    slo = {a.name: a.slo for a in slos.apps}
    window_s = 60.0 * window_min
    windows = len(rates) - 1
    kept_s = kept_seconds(len(names), cost_model)

    def plan_for(r: np.ndarray, plans_left: int, first: bool = False) -> Plan:
        """The plan for rates ``r``; a ``first`` plan (none to keep) with no plan within its
        share is made again within all that is left."""
        w = Workload([App(n, slo[n], float(max(x, ZERO_FORECAST_RATE))) for n, x in zip(names, r)])
        share = options if deadline is None else {**options, "time_limit": _share(deadline, plans_left, kept_s)}
        try:
            return solve(w, profile, platform, solver=solver, cost_model=cost_model, **share)
        except SolverError as exc:
            if not (first and exc.time_limit):
                raise
            return solve(w, profile, platform, solver=solver, cost_model=cost_model,
                         **{**share, "time_limit": max(0.0, deadline - time.perf_counter())})

    static = plan_for(rates[0], 2 * windows + 1, first=True)
    oracle: list[Window] = []
    running: Plan | None = None
    for w in range(1, len(rates)):
        if running is not None and late(deadline):
            oracle.append(Window(w * window_s, running, 0))
            continue
        try:
            plan = plan_for(rates[w], 2 * windows + 1 - w, first=running is None)
        except SolverError as exc:
            if not (exc.time_limit and running is not None):
                raise
            oracle.append(Window(w * window_s, running, 0))
            continue
        oracle.append(Window(w * window_s, plan, reconfigurations(running, plan)))
        running = plan
    limit = {} if deadline is None else {"time_limit": max(0.0, deadline - time.perf_counter())}
    common = {"window_min": window_min, "solver": solver, "cost_model": cost_model, "warm_up_s": window_s}
    return {
        "static": Schedule((Window(window_s, static, len(static.groups)),), window_s, {**common, "policy": "static"}),
        "from-scratch": replan(trace, slos, profile, platform, window_min=window_min, change_penalty=0.0,
                               solver=solver, cost_model=cost_model, **options, **limit),
        "oracle": Schedule(tuple(oracle), window_s, {**common, "policy": "oracle"}),
    }


def _share(deadline: float, windows: int, kept: float) -> float:
    """Seconds for the next window's plan: an equal share of what is left until ``deadline``
    among the ``windows`` still to plan, plus the ``kept`` seconds ``solve`` keeps of a limit
    for finishing, at most what is left. Given the share alone, 119 windows sharing 5 s got
    0.042 s each, less than ``solve`` keeps (0.06 s): the solvers got nothing, ``greedy``
    had no first plan, and ``dp`` planned worse, in a run that took 0.7 s."""
    left = max(0.0, deadline - time.perf_counter())
    return min(left, left / windows + kept)


def _plan_options(solver: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options a window's ``solve`` gets: ``milp`` skips the relaxed bound unless asked."""
    get_solver(solver)  # an unknown solver is named before any work
    return {"bound_time": 0.0, **options} if solver == "milp" else dict(options)


def _penalised(workload: Workload, profile: ModelProfile, platform: Platform, running: Plan, penalty: float,
               window_s: float, cost_model: str, options: dict[str, Any]) -> Plan:
    """The window's plan minimising spend + penalty x changes (set partitioning with a
    zero-penalty column for every running group on its running function)."""
    from .check import check_plan

    unknown = set(options) - {"candidates", "max_run", "time_limit", "rel_gap", "abs_gap", "threads", "backend",
                              "timeout_levels", "bound_time", "move_time"}  # the penalised model has neither
    if unknown:
        raise InputError(f"replan with a change penalty has no option(s) {', '.join(sorted(unknown))}")
    deadline = deadline_of(time.perf_counter(), options.get("time_limit"))
    problem = Problem(workload, profile, platform, cost_model=cost_model, timeout_levels=options.get("timeout_levels"))
    problem.require_feasible(deadline)
    keep = {}
    for g in running.groups:
        mask = problem.mask_of(g.apps)
        cfg = problem.config_for(mask, g)
        if cfg is not None:
            keep[mask] = cfg
    model = build_from_problem(problem, candidates=options.get("candidates", "auto"), max_run=options.get("max_run"),
                               reduce=False, configs="optimum", extra_groups=keep, deadline=deadline)
    per_request = penalty / (workload.total_rate * window_s)  # P in the objective's units (cost per request)
    running_keys = {function_key(g.apps, g) for g in running.groups}

    def names(mask: int) -> list[str]:
        return [problem.apps[i].name for i in members(mask)]

    columns: dict = {}
    for key, c in model.columns.items():
        new = function_key(names(c.mask), c.config) not in running_keys
        columns[key] = replace(c, weight=c.weight + per_request * new)
    for mask, cfg in keep.items():  # each running group on its running function: no penalty
        key = ("+".join(names(mask)), "running")
        while key in columns:  # app names containing '+' can make two labels equal (as in column_keys)
            key = (key[0] + "'", key[1])
        columns[key] = Column(mask, cfg, problem.rate(mask) / problem.total_rate * cfg.cost)
    model = replace(model, columns=columns)
    sol = model.solution(options.get("backend", "appsi_highs"), deadline=deadline,
                         rel_gap=options.get("rel_gap", 0.0), abs_gap=options.get("abs_gap", 0.0),
                         threads=options.get("threads"))
    proven = sol.info.status in PROVING_BOUND  # (a window stopped short was "restricted_optimal")
    info = replace(sol.info, status=RESTRICTED_OPTIMAL if proven else sol.info.status, objective=None, gap=None,
                   restricted_bound=None, rel_gap=options.get("rel_gap", 0.0) if proven else None,
                   abs_gap=options.get("abs_gap", 0.0) if proven else None,
                   bound=problem.lower_bound(), scope=f"spend + change penalty {penalty:g} per change ({model.scope})")
    plan = problem.plan(sol.groups, sol.configs, info)
    check_plan(plan)
    return plan.with_solver(replace(info, objective=plan.total_cost))


__all__ = ["Forecast", "ZERO_FORECAST_RATE", "baselines", "function_key", "load_slos", "replan", "window_rates"]
