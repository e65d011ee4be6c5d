"""Text reports: a plan and a simulation result as readable tables."""

from __future__ import annotations

from ._validate import instance
from .check import require_structure
from .plan import Plan
from .schedule import Schedule
from .schedule_sim import ScheduleSimulation
from .simulate import SimulationResult


def format_plan(plan: Plan) -> str:
    """A readable table of a plan: one block per group, then the total."""
    instance(plan, Plan, "plan")
    require_structure(plan)
    info = plan.solver
    lines = [
        f"Plan for {len(plan.workload)} apps of {plan.profile.name} on platform '{plan.platform.name}' "
        f"(solver {info.name}, {info.status}, {info.wall_time_s:.3f} s)",
    ]
    if info.columns is not None:
        objective = "none" if info.objective is None else f"{info.objective:.6e}"
        bound = "none" if info.bound is None else f"{info.bound:.6e}"
        gap = "unknown" if info.gap is None else f"{info.gap:.3%}"  # (rounding's 1.51e-16 of a met bound: 0.000%)
        lines.append(f"  certificate: objective {objective}, bound {bound}, gap {gap}, "
                     f"{info.columns} columns from {info.candidate_groups} candidate groups"
                     + (f", {info.iterations} LP rounds" if info.iterations is not None else "")
                     + (f", {info.nodes} branch-and-price nodes" if info.nodes is not None else "")
                     + (f", proven within rel_gap {info.rel_gap or 0:g} or abs_gap {info.abs_gap or 0:g} per million"
                        if info.rel_gap or info.abs_gap else ""))
    apps = plan.workload.by_name()
    cur = plan.platform.currency
    for k, g in enumerate(plan.groups, 1):
        if g.kind == "gpu":
            fn = f"GPU {g.gpu_mem_gb} GB ({g.vcpu:.2f} vCPU, {g.mem_gb:g} GB memory)"
        else:
            fn = f"CPU {g.vcpu:.2f} vCPU ({g.mem_gb:g} GB memory)"
        lines.append("")
        lines.append(f"group {k}: {fn}, batch {g.batch}, latency avg {g.latency_avg:.4f} s / max {g.latency_max:.4f} s")
        lines.append(f"  rate {g.rate:g} req/s, cost {g.cost_per_request:.4e} {cur} per request")
        lines.append(f"  {'app':<16}{'SLO (s)':>10}{'rate (req/s)':>14}{'timeout (s)':>13}")
        for name, t in zip(g.apps, g.timeouts):
            a = apps[name]
            lines.append(f"  {name:<16}{a.slo:>10g}{a.rate:>14g}{t:>13.4f}")
    lines.append("")
    lines.append(f"Total cost per request: {plan.total_cost:.4e} {cur} ({plan.total_cost * 1e6:.4f} per million requests)")
    return "\n".join(lines)


def format_simulation(result: SimulationResult | ScheduleSimulation) -> str:
    """A readable table of a simulation result (of a plan or of a schedule): one row per app,
    then overall."""
    instance(result, (SimulationResult, ScheduleSimulation), "result")
    head = (f"{'app':<14}{'requests':>10}{'violations':>11}{'p50 (s)':>9}{'p99 (s)':>9}{'max (s)':>9}"
            f"{'mean batch':>11}{'predicted':>12}{'realized':>12}{'error':>8}")
    lines = [f"Simulated {result.duration_s:g} s (seed {result.seed})", head]

    def row(name, m):
        return (f"{name:<14}{m.requests:>10}{m.slo_violations:>11}{m.p50_latency:>9.4f}{m.p99_latency:>9.4f}"
                f"{m.max_latency:>9.4f}{m.mean_batch:>11.2f}{m.predicted_cost:>12.4e}{m.realized_cost:>12.4e}"
                f"{m.cost_error:>+8.1%}")

    lines += [row(n, m) for n, m in result.apps.items()]
    lines.append(row("overall", result.overall))
    if hasattr(result, "windows"):  # a schedule
        lines.append(f"{len(result.windows)} windows, {result.reconfigurations} functions started or reconfigured")
    return "\n".join(lines)


def format_schedule(schedule: Schedule) -> str:
    """A schedule as one row per window: start, groups, planned spend, reconfigurations."""
    instance(schedule, Schedule, "schedule")
    cur = schedule.windows[0].plan.platform.currency
    lines = [f"{'start (min)':>11}{'apps/groups':>13}{'planned spend':>15}  {'changes':>8}  groups (kind:batch)"]
    total = 0.0
    for w in schedule.windows:
        spend = w.plan.total_cost * w.plan.workload.total_rate * schedule.window_s
        total += spend
        groups = " ".join(f"{g.kind}:{g.batch}" for g in w.plan.groups)
        lines.append(f"{w.start / 60:>11g}{f'{len(w.plan.workload)}/{len(w.plan.groups)}':>13}{spend:>15.4e}  "
                     f"{w.reconfigurations:>8}  {groups}")
    lines.append(f"{len(schedule.windows)} windows of {schedule.window_s / 60:g} min: planned spend {total:.4e} {cur}, "
                 f"{schedule.total_reconfigurations} functions started or reconfigured")
    kept = (schedule.settings or {}).get("kept_at_time_limit")
    if kept:
        lines.append(f"{kept} window(s) kept the running plan for want of time: raise the time limit to plan them")
    return "\n".join(lines)
