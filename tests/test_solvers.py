"""Solvers: exactness, ordering between solvers, infeasibility, order independence (hypothesis)."""

from __future__ import annotations

import math
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harmonybatch_mp import (
    App,
    InfeasibleError,
    InputError,
    SideConstraints,
    Workload,
    builtin_profile,
    check_plan,
    parse_apps,
    preset,
    solve,
)
from harmonybatch_mp.provision import pareto_configs
from harmonybatch_mp.solvers.exact import set_partitions
from harmonybatch_mp.solvers.problem import Problem, members
from strategies import models, platforms, workloads

REL = 1e-9


def _solve_or_infeasible(workload, profile, platform, solver, **opts):
    try:
        plan = solve(workload, profile, platform, solver=solver, **opts)
    except InfeasibleError as exc:
        return None, sorted(a.name for a in exc.apps)
    check_plan(plan)
    return plan, []


@settings(max_examples=60)
@given(models, platforms, workloads(max_apps=12))
def test_heuristics_pass_check_on_random_workloads(profile, platform, workload):
    for solver in ("greedy", "batch", "mbs"):
        _solve_or_infeasible(workload, profile, platform, solver)


@settings(max_examples=60)
@given(models, platforms, workloads(max_apps=7))
def test_exact_solvers_agree_and_bound_the_heuristics(profile, platform, workload):
    ex, bad = _solve_or_infeasible(workload, profile, platform, "exact")
    ml, bad_ml = _solve_or_infeasible(workload, profile, platform, "milp", candidates="all")
    dp, bad_dp = _solve_or_infeasible(workload, profile, platform, "dp")
    mc, bad_mc = _solve_or_infeasible(workload, profile, platform, "milp", candidates="contiguous")
    gr, bad_gr = _solve_or_infeasible(workload, profile, platform, "greedy")
    mb, bad_mb = _solve_or_infeasible(workload, profile, platform, "mbs")
    bt, bad_bt = _solve_or_infeasible(workload, profile, platform, "batch")
    # all solvers agree on infeasibility and name the same apps (batch is CPU-only: it names a superset)
    assert bad == bad_ml == bad_dp == bad_mc == bad_gr == bad_mb
    assert set(bad) <= set(bad_bt)
    if ex is None:
        assert bad and all(p is None for p in (ml, dp, mc, gr, mb, bt))
        return
    assert ml.total_cost == pytest.approx(ex.total_cost, rel=REL)
    assert ml.solver.status == "optimal" and ml.solver.gap <= 1e-9
    assert dp.total_cost == pytest.approx(mc.total_cost, rel=REL)
    slack = 1 + REL
    assert ml.total_cost <= dp.total_cost * slack
    assert dp.total_cost <= gr.total_cost * slack
    assert ml.total_cost <= mb.total_cost * slack
    if bt is not None:
        assert ml.total_cost <= bt.total_cost * slack


@settings(max_examples=40)
@given(models, platforms, workloads(max_apps=8), st.randoms(use_true_random=False))
def test_plan_does_not_depend_on_app_order(profile, platform, workload, rnd):
    apps = list(workload.apps)
    rnd.shuffle(apps)
    shuffled = Workload(apps)
    for solver in ("milp", "dp", "greedy", "mbs"):
        try:
            a = solve(workload, profile, platform, solver=solver)
        except InfeasibleError:
            with pytest.raises(InfeasibleError):
                solve(shuffled, profile, platform, solver=solver)
            continue
        b = solve(shuffled, profile, platform, solver=solver)
        assert a.groups == b.groups and a.total_cost == b.total_cost


def _brute_force(problem: Problem, side: SideConstraints) -> float:
    """Optimum under side constraints by enumerating partitions and every Pareto configuration."""
    grid, best = problem.grid, math.inf
    iso = [problem.mask_of(p) for p in side.isolate]
    for part in set_partitions(problem.n):
        if side.max_functions is not None and len(part) > side.max_functions:
            continue
        if any((m & p) == p for m in part for p in iso):
            continue
        options = []
        for m in part:
            kinds = problem.kinds_of(m)
            apps = [problem.apps[i] for i in members(m)]
            options.append(pareto_configs(grid, apps, kinds=kinds, by_gpu=True, by_gpu_mem=True) if kinds else [])
        for combo in product(*options):
            gpus = [i for i in combo if grid.kind[i] == 1]
            if side.max_gpu_functions is not None and len(gpus) > side.max_gpu_functions:
                continue
            if side.gpu_memory_budget is not None and sum(grid.gpu_mem[i] for i in gpus) > side.gpu_memory_budget:
                continue
            cost = sum(problem.rate(m) / problem.total_rate * grid.cost[i] for m, i in zip(part, combo))
            best = min(best, cost)
    return best


@st.composite
def side_constraints(draw, names):
    kw = {}
    if draw(st.booleans()):
        kw["max_gpu_functions"] = draw(st.integers(0, 2))
    if draw(st.booleans()):
        kw["gpu_memory_budget"] = draw(st.integers(0, 30))
    if draw(st.booleans()):
        kw["max_functions"] = draw(st.integers(1, len(names)))
    if len(names) >= 2 and draw(st.booleans()):
        kw["isolate"] = (tuple(draw(st.permutations(names))[:2]),)
    if draw(st.booleans()):
        kw["pin"] = ((draw(st.sampled_from(names)), draw(st.sampled_from(["cpu", "gpu"]))),)
    return SideConstraints(**kw)


@settings(max_examples=60)
@given(models, platforms, workloads(max_apps=4, min_slo=0.3), st.data())
def test_side_constraints_hold_and_are_optimal(profile, platform, workload, data):
    side = data.draw(side_constraints([a.name for a in workload.apps]))
    try:
        free = solve(workload, profile, platform, solver="milp")
    except InfeasibleError:
        return
    problem = Problem(workload, profile, platform, kinds=side.kinds())
    want = _brute_force(problem, side)
    try:
        plan = solve(workload, profile, platform, solver="milp", side=side)
    except InfeasibleError as exc:
        assert want == math.inf, f"milp says infeasible ({exc}) but brute force finds {want}"
        return
    check_plan(plan)
    assert plan.total_cost >= free.total_cost * (1 - REL)  # a side constraint never lowers the optimum
    assert plan.total_cost == pytest.approx(want, rel=REL)
    masks = [problem.mask_of(g.apps) for g in plan.groups]
    assert side.allows(problem, masks, plan.groups)  # groups carry kind and gpu_mem_gb


def test_exact_refuses_large_workloads():
    w = parse_apps(",".join(f"{0.5 + i / 10}:1" for i in range(11)))
    with pytest.raises(InputError, match="11 apps is more than 10"):
        solve(w, builtin_profile("VGG19"), preset(), solver="exact")


def test_unknown_solver_and_option():
    w = parse_apps("0.5:5")
    with pytest.raises(InputError, match="unknown solver 'fast'"):
        solve(w, builtin_profile("VGG19"), preset(), solver="fast")
    with pytest.raises(InputError, match="solver 'dp' has no option"):
        solve(w, builtin_profile("VGG19"), preset(), solver="dp", time_limit=3)


def test_infeasible_apps_are_named_with_best_latency():
    w = Workload([App("fast", 0.002, 1), App("ok", 0.5, 5), App("faster", 0.001, 2)])
    with pytest.raises(InfeasibleError) as err:
        solve(w, builtin_profile("VGG19"), preset())
    apps = {a.name: a for a in err.value.apps}
    assert set(apps) == {"fast", "faster"}
    assert apps["fast"].best_latency == pytest.approx(0.0037929, rel=1e-4)  # VGG19 on a whole GPU, batch 1
    assert "0.003793 s" in str(err.value)


def test_default_workload_costs():
    """The built-in default workload: the optimum, and the gap of the paper's greedy."""
    from harmonybatch_mp.workload import DEFAULT_APPS

    w = parse_apps(DEFAULT_APPS)
    costs = {s: solve(w, builtin_profile("VGG19"), preset(), solver=s).total_cost
             for s in ("exact", "milp", "dp", "greedy")}
    assert costs["milp"] == pytest.approx(costs["exact"], rel=REL)
    assert costs["dp"] == pytest.approx(costs["exact"], rel=REL)
    assert costs["greedy"] > costs["milp"] * 1.05  # the greedy leaves money on the table here
