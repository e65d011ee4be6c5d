"""The plan checker: recompute a plan from the model and verify ``formulations/model.md`` section 9.

It uses the model's pure functions (shapes, latency, pricing, batching) directly,
not the provisioning grid, so it is an independent check of every solver.
"""

from __future__ import annotations

import math

import numpy as np

from ._sums import ordered_sum
from ._validate import attributes, choice, comparable, instance, whole
from .batching import equivalent_timeout, max_batch
from .duration import DEFAULT_DURATION, DurationModel, billed_durations
from .errors import OUT_OF_RANGE, InputError, PlanCheckError
from .expected_cost import COST_MODELS, EXPECTED, tail_probabilities
from .expected_cost import cost_per_request as expected_cost_per_request
from .latency import cpu_latency, gpu_latency_avg, gpu_latency_max
from .plan import GroupPlan, Plan
from .platform import Platform
from .pricing import function_cost
from .profiles import ModelProfile
from .shapes import (
    cpu_batch_limit,
    cpu_billed_memory_gb,
    cpu_memory_feasible,
    cpu_memory_need_mb,
    gpu_host_memory_gb,
    gpu_memory_feasible,
    gpu_memory_need_gb,
    gpu_vcpu,
)
from .solver_info import HEURISTIC, SAME_COST, SolverInfo, certificate_problems
from .workload import Workload

#: Relative tolerance on recomputed costs and latencies (``formulations/model.md`` section 9).
REL_TOL = 1e-9
#: Absolute slack (s) on ``t_i + L_max <= s_i`` and on ``r_X * T_X`` for rounding noise.
ABS_TOL = 1e-9


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-15)


def _check_cpu(g: GroupPlan, profile: ModelProfile, platform: Platform, out: list[str], tag: str):
    if platform.vcpu_index(g.vcpu) is None:
        out.append(f"{tag}: vCPU {g.vcpu!r} is off the grid {platform.vcpu_min}..{platform.vcpu_max} step {platform.vcpu_step}")
        return None
    nb = cpu_batch_limit(profile, platform)
    if not 1 <= g.batch <= nb:
        out.append(f"{tag}: CPU batch {g.batch} outside 1..{nb}")
        return None
    if g.gpu_mem_gb is not None:
        out.append(f"{tag}: a CPU function has no GPU memory (got {g.gpu_mem_gb})")
    if not cpu_memory_feasible(profile, platform, g.vcpu, g.batch):
        need = float(cpu_memory_need_mb(profile, platform, g.batch))
        out.append(f"{tag}: memory infeasible: batch {g.batch} needs {need:g} MB, more than "
                   f"{platform.mem_gb_per_vcpu:g} GB per vCPU x {g.vcpu} vCPU")
    mem = float(cpu_billed_memory_gb(profile, platform, g.vcpu, g.batch))
    lat_avg = float(cpu_latency(profile, g.vcpu, g.batch, stat="avg"))
    lat_max = float(cpu_latency(profile, g.vcpu, g.batch, stat="max"))
    cost = float(function_cost(platform, "cpu", vcpu=g.vcpu, mem_gb=mem, gpu_gb=0.0, latency_avg=lat_avg,
                               batch=g.batch))
    return mem, lat_avg, lat_max, cost


def _check_gpu(g: GroupPlan, profile: ModelProfile, platform: Platform, out: list[str], tag: str):
    m = g.gpu_mem_gb
    if not profile.has_gpu:
        out.append(f"{tag}: profile {profile.name!r} has no GPU coefficients, so no GPU function")
        return None
    if m is None or m != int(m) or not 1 <= m <= profile.device_mem_gb:
        out.append(f"{tag}: GPU memory {m!r} GB is off the grid 1..{profile.device_mem_gb}")
        return None
    if not 1 <= g.batch <= platform.gpu_max_batch:
        out.append(f"{tag}: GPU batch {g.batch} outside 1..{platform.gpu_max_batch}")
        return None
    vcpu = float(gpu_vcpu(platform, m))
    if not _close(g.vcpu, vcpu):
        out.append(f"{tag}: a {m} GB GPU function has {vcpu:.6g} vCPU, plan says {g.vcpu}")
    if not gpu_memory_feasible(profile, platform, m, g.batch):
        out.append(f"{tag}: memory infeasible: batch {g.batch} needs "
                   f"{int(gpu_memory_need_gb(profile, g.batch))} GB of GPU memory, function has {m} GB")
    mem = gpu_host_memory_gb(profile, platform)
    lat_avg = float(gpu_latency_avg(profile, platform, m, g.batch))
    lat_max = float(gpu_latency_max(profile, platform, m, g.batch))
    cost = float(function_cost(platform, "gpu", vcpu=vcpu, mem_gb=mem, gpu_gb=m, latency_avg=lat_avg, batch=g.batch))
    return mem, lat_avg, lat_max, cost


def _invocation_costs(g: GroupPlan, profile: ModelProfile, platform: Platform,
                      duration: DurationModel) -> tuple[np.ndarray, float]:
    """``c(k)`` for ``k = 1..b`` of the group's function and ``max_{k<=b} L_max(k)``, from the pure
    latency and pricing functions (section 12)."""
    ks = np.arange(1, g.batch + 1)
    if g.kind == "cpu":
        avg, mx = cpu_latency(profile, g.vcpu, ks, stat="avg"), cpu_latency(profile, g.vcpu, ks, stat="max")
        vcpu, gpu = g.vcpu, 0.0
    else:
        avg = gpu_latency_avg(profile, platform, g.gpu_mem_gb, ks)
        mx = gpu_latency_max(profile, platform, g.gpu_mem_gb, ks)
        vcpu, gpu = float(gpu_vcpu(platform, g.gpu_mem_gb)), g.gpu_mem_gb
    unit = platform.gpu_billing_unit if g.kind == "gpu" else platform.cpu_billing_unit
    billed = billed_durations(duration, avg, mx, unit)
    inv = function_cost(platform, g.kind, vcpu=vcpu, mem_gb=g.mem_gb, gpu_gb=gpu, latency_avg=billed, billed=True)
    return np.asarray(inv, dtype=float), float(np.max(mx))


class _Records:
    """The model's figures for each function a plan names, computed once per function: a plan
    of 2,000 apps alone names a few dozen (``_check_cpu``/``_check_gpu`` and ``c(k)``)."""

    def __init__(self, profile: ModelProfile, platform: Platform, duration: DurationModel) -> None:
        self.profile, self.platform, self.duration = profile, platform, duration
        self._records: dict[tuple, tuple[list[str], tuple | None]] = {}
        self._invocations: dict[tuple, tuple[np.ndarray, float]] = {}

    def record(self, g: GroupPlan, out: list[str], tag: str):
        """``_check_cpu``/``_check_gpu`` of the group's function, its messages under ``tag``."""
        key = (g.kind, g.vcpu, g.gpu_mem_gb, g.batch)
        if key not in self._records:
            msgs: list[str] = []
            rec = (_check_cpu if g.kind == "cpu" else _check_gpu)(g, self.profile, self.platform, msgs, "")
            self._records[key] = msgs, rec
        msgs, rec = self._records[key]
        out.extend(tag + m for m in msgs)
        return rec

    def invocation_costs(self, g: GroupPlan) -> tuple[np.ndarray, float]:
        key = (g.kind, g.vcpu, g.gpu_mem_gb, g.mem_gb, g.batch)
        if key not in self._invocations:
            self._invocations[key] = _invocation_costs(g, self.profile, self.platform, self.duration)
        return self._invocations[key]


def _expected_group_costs(groups: list[tuple[GroupPlan, list, dict[str, float]]],
                          records: _Records) -> list[tuple[float, float]]:
    """Section 12: each group's expected cost per request with its own timeouts, and
    ``max_{k<=b} L_max(k)``. Groups of one function and size share one call of
    :func:`tail_probabilities` (a row each)."""
    out: list[tuple[float, float]] = [(0.0, 0.0)] * len(groups)
    buckets: dict[tuple, list[int]] = {}
    for i, (g, members, timeout) in enumerate(groups):
        inv, room = records.invocation_costs(g)
        out[i] = float(inv[0]), room
        if g.batch >= 2 and all(timeout[a.name] >= 0 for a in members):
            buckets.setdefault((g.kind, g.vcpu, g.gpu_mem_gb, g.mem_gb, g.batch, len(members)), []).append(i)
    for idx in buckets.values():
        g = groups[idx[0]][0]
        inv, room = records.invocation_costs(g)
        rates, timeouts = [], []
        for i in idx:
            _, members, timeout = groups[i]
            order = sorted(members, key=lambda a: (timeout[a.name], a.sort_key))
            rates.append([a.rate for a in order])
            timeouts.append([timeout[a.name] for a in order])
        tails = tail_probabilities(np.array(rates), np.array(timeouts), g.batch)
        costs = expected_cost_per_request(inv[None, :], tails, np.full(len(idx), g.batch))
        for i, c in zip(idx, costs):
            out[i] = float(c), room
    return out


def reprice(plan: Plan, cost_model: str, duration: DurationModel = DEFAULT_DURATION) -> Plan:
    """The same groups, functions and timeouts priced under another cost model.

    Under ``expected`` any timeouts are priced as they are; the plan must still leave each
    app room for ``max_{k<=b} L_max(k)`` (checked by :func:`check_plan` on the result).
    Under ``full-batch`` the cost does not depend on timeouts (Eq. 6).

    The solver's certificate holds for the plan as it was solved: a plan priced under another
    cost model, or at another cost (its timeouts edited), keeps the solver's name and counts
    but not its claims (status ``heuristic``, no bound, gap, scope or objective). It kept
    them: a ``full-batch`` optimum repriced under ``expected`` said "optimal" there, with the
    ``full-batch`` bound.

    A plan that is no partition of its workload's apps (:func:`structure_problems`) is a
    :class:`.PlanCheckError`, and a group whose function is not one of the model's an
    :class:`.InputError`: neither can be priced.

    Examples
    --------
    >>> from harmonybatch_mp import solve
    >>> fb = solve("0.5:5,0.8:10,1.0:20", "VGG19", cost_model="full-batch")
    >>> ex = reprice(fb, "expected")
    >>> ex.cost_model, ex.total_cost > fb.total_cost   # partial batches cost more
    ('expected', True)
    >>> fb.solver.status, ex.solver.status, ex.solver.bound
    ('optimal', 'heuristic', None)
    """
    from dataclasses import replace

    instance(plan, Plan, "reprice: plan")
    attributes(duration, ("sample", "expected_billed"), "reprice: duration")
    choice(cost_model, COST_MODELS, "cost_model")
    for name, kind in (("workload", Workload), ("profile", ModelProfile), ("platform", Platform),
                       ("solver", SolverInfo)):
        instance(getattr(plan, name), kind, f"reprice: plan's {name}")
    broken = structure_problems(plan)  # (a group of None, or of an app not in the workload, raised
    if broken:  # AttributeError or KeyError)
        raise PlanCheckError(broken)
    apps = plan.workload.by_name()
    records = _Records(plan.profile, plan.platform, duration)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # a profile out of range: named below
        recs = [records.record(g, [], "") for g in plan.groups]
        for g, rec in zip(plan.groups, recs):  # (under expected, a function off the grid was priced as it came)
            if rec is None:
                raise InputError(f"group {list(g.apps)} is not a valid function of the model")
        if cost_model == EXPECTED:
            costs = [c for c, _ in _expected_group_costs(
                [(g, [apps[a] for a in g.apps], dict(zip(g.apps, g.timeouts))) for g in plan.groups], records)]
        else:
            costs = [rec[3] for rec in recs]
    for g, cost in zip(plan.groups, costs):
        if not math.isfinite(cost):
            raise InputError(f"group {list(g.apps)}: cost per request {cost!r} under {cost_model!r}: {OUT_OF_RANGE}")
    groups = [replace(g, cost_per_request=cost) for g, cost in zip(plan.groups, costs)]
    total = (ordered_sum(ordered_sum(apps[a].rate for a in g.apps) * g.cost_per_request for g in groups)  # (the
             / plan.workload.total_rate)  # members' rates: a group's own rate of inf made the total inf)
    solver, before = plan.solver, comparable(plan.total_cost)
    if cost_model != plan.cost_model or before is None or not abs(total - before) <= SAME_COST * abs(total):
        solver = replace(solver, status=HEURISTIC, objective=None, bound=None, gap=None, scope=None,
                         restricted_bound=None, relaxation_bound=None, rel_gap=None, abs_gap=None)
    return replace(plan, groups=tuple(groups), total_cost=total, cost_model=cost_model, solver=solver)


def plan_problems(plan: Plan, workload: Workload, profile: ModelProfile, platform: Platform,
                  duration: DurationModel = DEFAULT_DURATION) -> list[str]:
    """Every violation of ``formulations/model.md`` section 9 found in ``plan``; empty when it is valid.

    See :func:`check_plan`.
    """
    instance(plan, Plan, "plan")
    instance(workload, Workload, "workload")
    instance(profile, ModelProfile, "profile")
    instance(platform, Platform, "platform")
    attributes(duration, ("sample", "expected_billed"), "duration")
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # a profile out of range: named below
        return _problems(plan, workload, profile, platform, duration)


def structure_problems(plan: Plan, workload: Workload | None = None) -> list[str]:
    """What makes ``plan`` no partition of ``workload``'s apps (default: the plan's own) into
    groups a simulation can run: a group that is not a :class:`GroupPlan` or has fields of the
    wrong kind (built or edited in code), an empty group, a timeout count that is not its app
    count, an app not in the workload, in two groups or in none, an unknown function kind.
    Empty when there is none. :func:`check_plan` checks these and the model's figures.

    >>> import dataclasses
    >>> from harmonybatch_mp import solve
    >>> plan = solve("0.5:5,1.0:20", "VGG19", solver="dp")
    >>> structure_problems(dataclasses.replace(plan, groups=plan.groups[:1]))
    ["app 'app1' is in no group"]
    """
    instance(plan, Plan, "plan")
    said, _, missing = _structure(plan, (plan.workload if workload is None else
                                         instance(workload, Workload, "workload")).by_name())
    return [m for msgs in said for m in msgs] + missing


def require_structure(plan: Plan, where: str = "") -> None:
    """A PlanCheckError listing :func:`structure_problems` (each after ``where``), if any: what
    simulating or printing a plan needs, which a plan built or edited in code may lack."""
    problems = structure_problems(plan)
    if problems:
        raise PlanCheckError([f"{where}{p}" for p in problems])


def _structure(plan: Plan, apps: dict) -> tuple[list[list[str]], list[bool], list[str]]:
    """Per group its structural problems (:func:`structure_problems`) and whether its figures can
    be checked (no problem but its apps being in another group too); the apps in no group."""
    said: list[list[str]] = []
    sound: list[bool] = []
    seen: dict[str, int] = {}
    if not isinstance(plan.groups, tuple):
        return [[f"groups: expected a tuple of GroupPlan, got {type(plan.groups).__name__}"]], [], []
    for gi, g in enumerate(plan.groups):
        malformed = _malformed(g, gi)
        out = list(malformed)
        said.append(out)
        sound.append(False)
        for a in _app_names(g) or ():  # (a group's apps are in it, whatever else is wrong with it)
            if a in seen:
                out.append(f"app {a!r} is in two groups ({seen[a]} and {gi})")
            seen[a] = gi
        if malformed:
            continue
        tag = f"group {gi} {list(g.apps)}"
        if not g.apps:
            out.append(f"{tag}: empty group")
            continue
        if len(g.timeouts) != len(g.apps):
            out.append(f"{tag}: {len(g.timeouts)} timeouts for {len(g.apps)} apps")
            continue
        unknown = [a for a in g.apps if a not in apps]
        for a in unknown:
            out.append(f"{tag}: app {a!r} is not in the workload")
        if unknown:
            continue
        if g.kind not in ("cpu", "gpu"):
            out.append(f"{tag}: unknown function kind {g.kind!r}")
            continue
        sound[gi] = True
    return said, sound, [f"app {a!r} is in no group" for a in apps if a not in seen]


def _app_names(g: object) -> tuple[str, ...] | None:
    """The group's apps where it is a :class:`GroupPlan` whose apps are a tuple of names, else None."""
    ok = isinstance(g, GroupPlan) and isinstance(g.apps, tuple) and all(isinstance(a, str) for a in g.apps)
    return g.apps if ok else None


def _malformed(g: object, gi: int) -> list[str]:
    """The fields of group ``gi`` of the wrong kind (a batch of None or a rate of "x" made the
    checks raise TypeError): apps a tuple of names, kind a string, timeouts a tuple of numbers,
    numbers where the figures are, batch a whole number >= 1."""
    if not isinstance(g, GroupPlan):
        return [f"group {gi}: expected a GroupPlan, got {type(g).__name__}"]
    if _app_names(g) is None:
        return [f"group {gi}: apps: expected a tuple of app names, got {g.apps!r:.60}"]
    tag = f"group {gi} {list(g.apps)}"
    figures = ("vcpu", "mem_gb", "latency_avg", "latency_max", "cost_per_request", "rate", "gpu_mem_gb")
    out = [f"{tag}: {name}: expected a number, got {getattr(g, name)!r:.40}" for name in figures
           if comparable(getattr(g, name)) is None and not (name == "gpu_mem_gb" and g.gpu_mem_gb is None)]
    if not isinstance(g.kind, str):
        out.append(f"{tag}: kind: expected 'cpu' or 'gpu', got {g.kind!r:.40}")
    if whole(g.batch) is None or g.batch < 1:
        out.append(f"{tag}: batch: expected a whole number >= 1, got {g.batch!r:.40}")
    if not isinstance(g.timeouts, tuple) or any(comparable(t) is None for t in g.timeouts):
        out.append(f"{tag}: timeouts: expected a tuple of numbers, got {g.timeouts!r:.60}")
    return out


def _problems(plan: Plan, workload: Workload, profile: ModelProfile, platform: Platform,
              duration: DurationModel) -> list[str]:
    expected = plan.cost_model == EXPECTED
    records = _Records(profile, platform, duration)
    apps = workload.by_name()
    said, sound, missing = _structure(plan, apps)  # each group's violations, in group order
    valid = []
    for gi, g in enumerate(plan.groups if sound else ()):
        if not sound[gi]:
            continue
        tag, out = f"group {gi} {list(g.apps)}", said[gi]
        rec = records.record(g, out, tag)
        if rec is not None:
            valid.append((gi, tag, g, sorted((apps[a] for a in g.apps), key=lambda a: a.sort_key),
                          dict(zip(g.apps, g.timeouts)), rec))
    priced = (_expected_group_costs([(g, members, timeout) for _, _, g, members, timeout, _ in valid], records)
              if expected else [(rec[3], rec[2]) for *_, rec in valid])
    total = 0.0
    for (gi, tag, g, members, timeout, rec), (cost, room) in zip(valid, priced):
        out = said[gi]
        mem, lat_avg, lat_max, _ = rec  # room: the latency timeouts must leave room for
        for name, want, got in (("memory (GB)", mem, g.mem_gb), ("average latency", lat_avg, g.latency_avg),
                                ("maximum latency", lat_max, g.latency_max), ("cost per request", cost, g.cost_per_request)):
            if not math.isfinite(want):
                out.append(f"{tag}: {name} is {want!r} by the model: {OUT_OF_RANGE}")
            elif not _close(want, got):
                out.append(f"{tag}: {name} is {want!r} by the model, plan says {got!r}")
        rate = ordered_sum(a.rate for a in members)
        if not _close(rate, g.rate):
            out.append(f"{tag}: rate is {rate!r}, plan says {g.rate!r}")
        for a in members:
            t = timeout[a.name]
            if not (t >= 0):
                out.append(f"{tag}: negative timeout {t!r} s for app {a.name!r}")
            elif t + room > a.slo + ABS_TOL:
                out.append(f"{tag}: app {a.name!r} misses its SLO: timeout {t:.6g} + L_max {room:.6g} > SLO {a.slo:g}")
        if g.batch >= 2 and not expected:  # Eq. 9 with the reported timeouts, folded in timeout order (Eq. 5)
            order = sorted(members, key=lambda a: (timeout[a.name], a.sort_key))
            # (a timeout past the SLO is reported above; clipped there, 1e308 overflowed Eq. 5)
            T = equivalent_timeout([min(max(timeout[a.name], 0.0), a.slo) for a in order], [a.rate for a in order])
            limit = int(max_batch(rate, float(T) + ABS_TOL / max(rate, 1.0)))
            if g.batch > limit:
                out.append(f"{tag}: batch {g.batch} above the batch constraint floor(r_X*T_X)+1 = {limit}")
        total += rate * cost
    out = [m for msgs in said for m in msgs] + missing
    if not out and comparable(plan.total_cost) is None:
        out.append(f"total_cost: expected a number, got {plan.total_cost!r:.40}")
    if not out:
        total /= workload.total_rate
        if not _close(total, plan.total_cost):
            out.append(f"total cost is {total!r} by the model, plan says {plan.total_cost!r}")
        out += ([f"certificate: {p}" for p in certificate_problems(plan.solver, plan.total_cost)]
                if isinstance(plan.solver, SolverInfo) else
                [f"solver: expected a SolverInfo, got {type(plan.solver).__name__}"])
    return out


def check_plan(plan: Plan, workload: Workload | None = None, profile: ModelProfile | None = None,
               platform: Platform | None = None, duration: DurationModel = DEFAULT_DURATION) -> None:
    """Verify a plan against the model from scratch (``formulations/model.md`` section 9).

    Checks: every app in exactly one group; grid-aligned sizes; memory feasibility;
    every timeout ``>= 0`` and ``t_i + L_max <= s_i`` (under ``expected``,
    ``max_{k<=b} L_max(k)``); under ``full-batch`` the batch constraint (Eq. 9);
    latencies and costs recomputed from sections 4-5 and 12 (the plan's cost model) match
    the plan's to 1e-9 relative.

    Parameters
    ----------
    plan : Plan
    workload, profile, platform : optional
        What to check against; default to the ones the plan carries.
    duration : DurationModel
        The duration distribution of the ``expected`` cost model.

    Raises
    ------
    PlanCheckError
        Listing every violation found.

    Examples
    --------
    >>> from harmonybatch_mp import builtin_profile, parse_apps, preset, solve
    >>> plan = solve(parse_apps("0.5:5,0.8:10,1.0:20"), builtin_profile("VGG19"), preset(), solver="dp")
    >>> check_plan(plan)
    """
    instance(plan, Plan, "plan")
    problems = plan_problems(plan, plan.workload if workload is None else workload,
                             plan.profile if profile is None else profile,
                             plan.platform if platform is None else platform, duration)
    if problems:
        raise PlanCheckError(problems)



