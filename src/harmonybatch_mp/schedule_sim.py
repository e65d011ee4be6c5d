"""Simulating a schedule over the trace it was planned for (``formulations/replanning.md``).

Arrivals come from the trace (Poisson within each minute at that minute's count), from the
first window's start on (the warm-up is not simulated). Each request joins the buffer of
the plan in force at its arrival. A group that stays in force across a switch (same apps,
function and timeouts) keeps its buffer; at a switch, a group that goes away accepts no new
requests and dispatches its buffer at its deadline. Invocations are billed as in
:func:`~harmonybatch_mp.simulate.simulate`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ._validate import attributes, instance
from ._validate import seed as seed_of
from .check import require_structure
from .duration import DEFAULT_DURATION, DurationModel
from .errors import InputError
from .schedule import Schedule, function_key
from .simulate import MAX_REQUESTS, Metrics, _arrivals, _run_group, _summary
from .trace import Trace


@dataclass(frozen=True)
class ScheduleSimulation:
    """Per-app and overall metrics over the whole schedule, and per window: requests,
    realized cost (total and per request), predicted cost per request, SLO violations and
    the functions started or reconfigured at its start."""

    overall: Metrics
    apps: dict[str, Metrics]
    windows: tuple[dict[str, Any], ...]
    reconfigurations: int
    duration_s: float
    seed: int | None

    def to_dict(self) -> dict[str, Any]:
        def clean(m: Metrics) -> dict[str, Any]:
            return {k: None if isinstance(x, float) and math.isnan(x) else x for k, x in asdict(m).items()}

        return {"overall": clean(self.overall), "apps": {k: clean(m) for k, m in self.apps.items()},
                "windows": list(self.windows), "reconfigurations": self.reconfigurations,
                "duration_s": self.duration_s, "seed": self.seed}


def _spans(schedule: Schedule, end: float):
    """(plan, group, start, stop) for every stretch a group runs unchanged."""
    active: dict[tuple, tuple] = {}
    out = []
    for w in schedule.windows:
        current = {(*function_key(g.apps, g), g.timeouts): (w.plan, g) for g in w.plan.groups}
        for key in [k for k in active if k not in current]:
            plan, g, t0 = active.pop(key)
            out.append((plan, g, t0, w.start))
        for key, (plan, g) in current.items():
            if key not in active:
                active[key] = (plan, g, w.start)
    out.extend((plan, g, t0, end) for plan, g, t0 in active.values())
    return out


def simulate_schedule(schedule: Schedule, trace: Trace, *, seed: int | None = 0,
                      duration_model: DurationModel = DEFAULT_DURATION) -> ScheduleSimulation:
    """Replay the trace through the schedule; see the module docstring for the semantics.

    Examples
    --------
    >>> from harmonybatch_mp import App, Workload
    >>> from harmonybatch_mp.replan import replan
    >>> t = Trace({"a": (300.0, 600.0, 450.0), "b": (1200.0, 900.0, 1500.0)})
    >>> s = replan(t, Workload([App("a", 0.5, 1), App("b", 1.0, 1)]), "VGG19")
    >>> r = simulate_schedule(s, t, seed=1)
    >>> r.overall.slo_violations, len(r.windows), r.reconfigurations == s.total_reconfigurations
    (0, 2, True)
    """
    instance(schedule, Schedule, "simulate: schedule")
    for i, w in enumerate(schedule.windows):
        require_structure(w.plan, f"window {i}: ")
    instance(trace, Trace, "simulate: trace")
    attributes(duration_model, ("sample",), "simulate: duration_model")
    seed = seed_of(seed, "simulate: seed")
    names = [a.name for a in schedule.windows[0].plan.workload.apps]
    missing = [n for n in names if n not in trace.counts]
    if missing:
        raise InputError(f"trace has no row for app(s) {', '.join(missing)} of the schedule")
    start, end = schedule.windows[0].start, 60.0 * trace.minutes
    if sum(sum(c[int(start // 60):]) for c in trace.counts.values()) > MAX_REQUESTS:
        raise InputError(f"simulate: the trace means more than the {MAX_REQUESTS:,} requests one run may hold")
    rng = np.random.default_rng(seed)
    index = {n: i for i, n in enumerate(names)}
    arrivals = {n: _arrivals(rng, 0.0, None, trace.counts[n]) for n in names}
    arrivals = {n: a[a >= start] for n, a in arrivals.items()}
    slo = np.array([a.slo for a in schedule.windows[0].plan.workload.apps])
    rows: dict[str, list] = {k: [] for k in ("app", "arrival", "latency", "cost", "size", "invocation")}
    inv_cost_total, inv_count = 0.0, 0
    for plan, g, t0, t1 in _spans(schedule, end):
        parts = [(arrivals[a][(arrivals[a] >= t0) & (arrivals[a] < t1)], index[a]) for a in g.apps]
        times = np.concatenate([p for p, _ in parts])
        who = np.concatenate([np.full(p.size, i, dtype=np.int64) for p, i in parts])
        order = np.argsort(times, kind="stable")
        times, who = times[order], who[order]
        if times.size == 0:
            continue
        inv_of, dispatch, sizes, dur, cost = _run_group(plan, g, times, who, index, rng, duration_model)
        rows["app"].append(who)
        rows["arrival"].append(times)
        rows["latency"].append(dispatch[inv_of] - times + dur[inv_of])
        rows["cost"].append(cost[inv_of] / sizes[inv_of])
        rows["size"].append(sizes[inv_of])
        rows["invocation"].append(inv_of + inv_count)
        inv_cost_total += float(cost.sum())
        inv_count += int(sizes.size)
    r = {k: np.concatenate(v) if v else np.empty(0) for k, v in rows.items()}
    starts = np.array([w.start for w in schedule.windows])
    win_of = np.searchsorted(starts, r["arrival"], side="right") - 1
    predicted_of = np.array([[w.plan.group_of(n).cost_per_request for n in names] for w in schedule.windows])
    r["predicted"] = predicted_of[win_of, r["app"]] if r["app"].size else np.empty(0)
    violated = r["latency"] > slo[r["app"]] + 1e-12 if r["app"].size else np.empty(0, bool)
    apps = {}
    for i, n in enumerate(names):
        sel = r["app"] == i
        apps[n] = _summary(r["latency"][sel], violated[sel].sum(), r["size"][sel], np.unique(r["invocation"][sel]).size,
                           r["cost"][sel].sum(),
                           float(r["predicted"][sel].mean()) if sel.any() else math.nan)
    overall = _summary(r["latency"], violated.sum(), r["size"], inv_count, inv_cost_total,
                       float(r["predicted"].mean()) if r["predicted"].size else math.nan)
    windows = []
    for k, w in enumerate(schedule.windows):
        sel = win_of == k
        n = int(sel.sum())
        windows.append({"start": w.start, "requests": n, "spend": float(r["cost"][sel].sum()),
                        "realized_cost": float(r["cost"][sel].sum() / n) if n else None,
                        "predicted_cost": float(r["predicted"][sel].mean()) if n else None,
                        "slo_violations": int(violated[sel].sum()), "reconfigurations": w.reconfigurations})
    return ScheduleSimulation(overall, apps, tuple(windows), schedule.total_reconfigurations, end - start, seed)
