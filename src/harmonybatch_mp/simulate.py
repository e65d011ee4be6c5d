"""Discrete-event simulation of a plan: arrivals -> batch buffers -> serverless invocations.

Semantics (issue 4):

* Arrivals per app are Poisson at the app's rate (seeded), or replayed from a trace of
  per-minute counts, Poisson within each minute at that minute's rate.
* One buffer per group. The first request in an empty buffer sets the dispatch deadline
  to its arrival plus its app's timeout; each later request lowers the deadline to its own
  arrival plus its app's timeout if that is earlier. The buffer is dispatched as one
  invocation when it holds the group's batch size (at that arrival) or when the deadline
  passes (at the deadline), whichever comes first.
* Functions scale out without limit: a request's latency is its wait in the buffer plus
  the execution time of its invocation.
* The execution time of an invocation with ``k`` requests is drawn from a duration model
  (:mod:`harmonybatch_mp.duration`), the same one the ``expected`` cost model prices; the
  default draws uniformly on ``[max(0, 2 L_avg(k) - L_max(k)), L_max(k)]`` for the group's
  function, so it never exceeds the model's maximum.
* Each invocation is billed with the platform's prices and billing unit for the group's
  function and the drawn duration (Eq. 6 without the division by the batch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from . import _validate as v
from ._sums import ordered_sum
from .check import require_structure
from .duration import DEFAULT_DURATION, DurationModel
from .errors import InputError
from .latency import cpu_latency, gpu_latency_avg, gpu_latency_max
from .plan import GroupPlan, Plan
from .pricing import function_cost
from .trace import Trace

#: Most requests one simulation may generate (expected count, checked before any is drawn):
#: about 100 bytes each, so the cap keeps a run near 2 GB of memory.
MAX_REQUESTS = 20_000_000

@dataclass(frozen=True)
class Metrics:
    """Outcome for one app, or overall.

    ``mean_batch`` is, per app, the mean size of the invocations its requests rode in
    (request-weighted); overall, the mean invocation size. ``cost_error`` is
    ``realized_cost / predicted_cost - 1``.
    """

    requests: int
    completed: int
    slo_violations: int
    violation_rate: float
    p50_latency: float
    p95_latency: float
    p99_latency: float
    max_latency: float
    mean_batch: float
    invocations: int
    realized_cost: float
    predicted_cost: float
    cost_error: float


@dataclass(frozen=True)
class SimulationResult:
    """Per-app and overall metrics of a simulation, and its settings."""

    overall: Metrics
    apps: Mapping[str, Metrics]
    duration_s: float
    seed: int | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: ``{"overall": M, "apps": {name: M}, "duration_s", "seed"}``; undefined
        statistics (latency quantiles of an app that received no request) are None."""
        def clean(m: Metrics) -> dict[str, Any]:  # NaN (an app with no request) -> null: strict JSON
            return {k: None if isinstance(x, float) and math.isnan(x) else x for k, x in asdict(m).items()}

        return {"overall": clean(self.overall), "apps": {k: clean(m) for k, m in self.apps.items()},
                "duration_s": self.duration_s, "seed": self.seed}


@dataclass(frozen=True)
class RequestLog:
    """Every simulated request (arrays aligned by request) and every invocation."""

    app: np.ndarray  # index into the plan's workload.apps
    arrival: np.ndarray
    invocation: np.ndarray  # index into the invocation arrays
    latency: np.ndarray
    inv_group: np.ndarray
    inv_size: np.ndarray
    inv_dispatch: np.ndarray
    inv_duration: np.ndarray
    inv_cost: np.ndarray


def _arrivals(rng: np.random.Generator, rate: float, duration: float | None, minutes: tuple[float, ...] | None):
    if minutes is None:
        n = rng.poisson(rate * duration)
        return np.sort(rng.uniform(0.0, duration, n))
    parts = []
    for m, c in enumerate(minutes):
        n = rng.poisson(c)
        parts.append(60.0 * m + np.sort(rng.uniform(0.0, 60.0, n)))
    return np.concatenate(parts) if parts else np.empty(0)


def _batch_latencies(plan: Plan, g: GroupPlan) -> tuple[np.ndarray, np.ndarray]:
    """L_avg(k), L_max(k) of the group's function for k = 0..b (index 0 unused)."""
    ks = np.arange(1, g.batch + 1)
    if g.kind == "cpu":
        avg = cpu_latency(plan.profile, g.vcpu, ks, stat="avg")
        mx = cpu_latency(plan.profile, g.vcpu, ks, stat="max")
    else:
        avg = gpu_latency_avg(plan.profile, plan.platform, g.gpu_mem_gb, ks)
        mx = gpu_latency_max(plan.profile, plan.platform, g.gpu_mem_gb, ks)
    return np.concatenate([[0.0], avg]), np.concatenate([[0.0], mx])


def _batch_group(times: np.ndarray, timeouts: np.ndarray, batch: int):
    """Run one group's buffer; return per-request invocation ids, dispatch times and sizes."""
    inv_of = np.empty(times.size, dtype=np.int64)
    dispatch: list[float] = []
    sizes: list[int] = []
    deadline = math.inf
    count = 0
    t_list = times.tolist()
    d_list = (times + timeouts).tolist()
    for r, t in enumerate(t_list):
        if count and t > deadline:  # the deadline passed before this arrival
            dispatch.append(deadline)
            sizes.append(count)
            count, deadline = 0, math.inf
        inv_of[r] = len(dispatch)
        count += 1
        if d_list[r] < deadline:
            deadline = d_list[r]
        if count == batch:
            dispatch.append(t)
            sizes.append(count)
            count, deadline = 0, math.inf
    if count:
        dispatch.append(deadline)
        sizes.append(count)
    return inv_of, np.array(dispatch), np.array(sizes, dtype=np.int64)


def _run_group(plan: Plan, g: GroupPlan, times: np.ndarray, who: np.ndarray, index: dict[str, int],
               rng: np.random.Generator, duration_model: DurationModel):
    """One group's buffer and invocations for its requests (``times`` sorted, ``who`` the app
    index of each): returns per-request invocation ids, and per invocation the dispatch time,
    size, drawn duration and billed cost."""
    tout_of_app = np.zeros(max(index.values()) + 1)
    for a, t in zip(g.apps, g.timeouts):
        tout_of_app[index[a]] = t
    inv_of, dispatch, sizes = _batch_group(times, tout_of_app[who], g.batch)
    lat_avg, lat_max = _batch_latencies(plan, g)
    dur = np.asarray(duration_model.sample(rng, lat_avg[sizes], lat_max[sizes]), dtype=float)
    if dur.shape != sizes.shape or not np.all(np.isfinite(dur)) or np.any(dur < 0):
        raise InputError("duration_model.sample must return one finite, non-negative duration per invocation")
    cost = function_cost(plan.platform, g.kind, vcpu=g.vcpu, mem_gb=g.mem_gb, gpu_gb=g.gpu_mem_gb or 0,
                         latency_avg=dur)  # each invocation billed for its drawn duration (Eq. 6, b = 1)
    return inv_of, dispatch, sizes, dur, cost


def simulate(plan: Plan, *, duration: float | None = None, trace: Trace | None = None, seed: int | None = 0,
             duration_model: DurationModel = DEFAULT_DURATION, log: bool = False,
             progress: Callable[[int], None] | None = None) -> SimulationResult | tuple[SimulationResult, RequestLog]:
    """Replay arrivals through a plan and measure SLO violations and the cost actually paid.

    Parameters
    ----------
    plan : Plan
    duration : float, optional
        Seconds of Poisson arrivals at each app's rate (exclusive with ``trace``).
    trace : Trace, optional
        Per-minute counts per app; every app of the plan must be in it.
    seed : int or None
        Seed of the random generator (arrivals and execution times).
    duration_model : DurationModel
        Draws execution times (``sample(rng, L_avg, L_max)``, vectorised over invocations);
        default :data:`~harmonybatch_mp.duration.DEFAULT_DURATION`. Plan with the same model
        (``solve(..., duration=...)``) for a prediction that matches.
    log : bool
        Also return the :class:`RequestLog` of every request and invocation.
    progress : callable, optional
        Called with the number of requests of each group once it is simulated.

    Returns
    -------
    SimulationResult, or (SimulationResult, RequestLog) with ``log=True``.

    Examples
    --------
    >>> from harmonybatch_mp import builtin_profile, parse_apps, preset, solve
    >>> plan = solve(parse_apps("0.5:5,0.8:10,1.0:20"), builtin_profile("VGG19"), preset(), solver="dp")
    >>> res = simulate(plan, duration=600, seed=1)
    >>> res.overall.slo_violations, res.overall.requests > 20000
    (0, True)
    """
    v.instance(plan, Plan, "simulate: plan")
    require_structure(plan)  # (a plan edited in code: a batch of 0 was an IndexError, an empty group a ValueError)
    v.attributes(duration_model, ("sample",), "simulate: duration_model")
    v.function(progress, "simulate: progress", optional=True)
    log = v.flag(log, "simulate: log")
    seed = v.seed(seed, "simulate: seed")
    if (duration is None) == (trace is None):
        raise InputError("simulate: give exactly one of duration (seconds) or trace")
    if trace is not None:
        v.instance(trace, Trace, "simulate: trace")
    if duration is not None:
        duration = v.number(duration, "simulate: duration", positive=True)
    names = [a.name for a in plan.workload.apps]
    if trace is not None:
        missing = [n for n in names if n not in trace.counts]
        if missing:
            raise InputError(f"trace has no row for app(s) {', '.join(missing)} of the plan")
        extra = [n for n in trace.counts if n not in names]
        if extra:
            raise InputError(f"trace names app(s) {', '.join(extra)} that are not in the plan")
        if trace.minutes == 0:
            raise InputError("trace has no minutes")
        duration = 60.0 * trace.minutes
    expected = (ordered_sum(ordered_sum(c) for c in trace.counts.values()) if trace is not None
                else plan.workload.total_rate * duration)
    if expected > MAX_REQUESTS:
        what = "the trace's counts" if trace is not None else f"{duration:g} s at {plan.workload.total_rate:g} requests/s"
        about = f"about {expected:.3g}" if math.isfinite(expected) else "more than 1e+308"
        raise InputError(f"simulate: {what} means {about} requests, more than the {MAX_REQUESTS:,} "
                         f"one run may hold in memory; simulate a shorter span")
    rng = np.random.default_rng(seed)
    index = {n: i for i, n in enumerate(names)}
    apps = plan.workload.apps
    parts: dict[str, list] = {k: [] for k in ("app", "arrival", "invocation", "latency", "inv_group", "inv_size",
                                              "inv_dispatch", "inv_duration", "inv_cost")}
    n_inv = 0
    for gi, g in enumerate(plan.groups):
        ids = [index[a] for a in g.apps]
        streams = [_arrivals(rng, apps[i].rate, duration, trace.counts[apps[i].name] if trace else None) for i in ids]
        times = np.concatenate(streams) if streams else np.empty(0)
        who = np.concatenate([np.full(s.size, i, dtype=np.int64) for i, s in zip(ids, streams)])
        order = np.argsort(times, kind="stable")
        times, who = times[order], who[order]
        inv_of, dispatch, sizes, dur, cost = _run_group(plan, g, times, who, index, rng, duration_model)
        parts["app"].append(who)
        parts["arrival"].append(times)
        parts["invocation"].append(inv_of + n_inv)
        parts["latency"].append(dispatch[inv_of] - times + dur[inv_of])
        parts["inv_group"].append(np.full(sizes.size, gi, dtype=np.int64))
        parts["inv_size"].append(sizes)
        parts["inv_dispatch"].append(dispatch)
        parts["inv_duration"].append(dur)
        parts["inv_cost"].append(cost)
        n_inv += sizes.size
        if progress is not None:
            progress(int(times.size))
    rec = RequestLog(**{k: np.concatenate(p) if p else np.empty(0) for k, p in parts.items()})
    result = _metrics(plan, rec, duration, seed)
    return (result, rec) if log else result


def _summary(lat, viol, batch_sizes, invocations, cost, predicted) -> Metrics:
    n = int(lat.size)
    q = np.quantile(lat, [0.5, 0.95, 0.99]) if n else [math.nan] * 3
    realized = float(cost / n) if n else math.nan
    return Metrics(
        requests=n, completed=n, slo_violations=int(viol), violation_rate=float(viol / n) if n else 0.0,
        p50_latency=float(q[0]), p95_latency=float(q[1]), p99_latency=float(q[2]),
        max_latency=float(lat.max()) if n else math.nan,
        mean_batch=float(np.mean(batch_sizes)) if len(batch_sizes) else math.nan,
        invocations=int(invocations), realized_cost=realized, predicted_cost=float(predicted),
        cost_error=realized / predicted - 1 if n and predicted else math.nan,
    )


def _metrics(plan: Plan, rec: RequestLog, duration: float, seed) -> SimulationResult:
    apps = plan.workload.apps
    slo = np.array([a.slo for a in apps])
    per_req_cost = rec.inv_cost[rec.invocation] / rec.inv_size[rec.invocation] if rec.latency.size else np.empty(0)
    violated = rec.latency > slo[rec.app] + 1e-12
    out = {}
    for i, a in enumerate(apps):
        sel = rec.app == i
        out[a.name] = _summary(rec.latency[sel], violated[sel].sum(), rec.inv_size[rec.invocation[sel]],
                               np.unique(rec.invocation[sel]).size, per_req_cost[sel].sum(),
                               plan.group_of(a.name).cost_per_request)
    overall = _summary(rec.latency, violated.sum(), rec.inv_size, rec.inv_size.size, rec.inv_cost.sum(),
                       plan.total_cost)
    return SimulationResult(overall, out, duration, seed)
