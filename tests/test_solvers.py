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
    problem = Problem(workload, profile, platform, side=side)
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


def test_milp_options_warm_start_time_limit_and_candidate_list():
    from harmonybatch_mp import SolverError
    from harmonybatch_mp.workload import DEFAULT_APPS

    w, vgg, ref = parse_apps(DEFAULT_APPS), builtin_profile("VGG19"), preset()
    best = solve(w, vgg, ref, solver="milp")
    for start in ("dp", "greedy"):
        plan = solve(w, vgg, ref, solver="milp", warm_start=start)
        assert plan.total_cost == pytest.approx(best.total_cost, rel=REL) and plan.solver.status == "optimal"
    # a time limit with an incumbent (the warm start) returns it, with its gap
    plan = solve(w, vgg, ref, solver="milp", time_limit=0.0, warm_start="greedy")
    check_plan(plan)
    assert plan.solver.status == "time_limit"
    assert plan.total_cost <= solve(w, vgg, ref, solver="greedy").total_cost * (1 + REL)
    assert plan.solver.gap is None or plan.solver.gap >= 0
    # ... and without one, the best plan known (a short-run contiguous plan), with a global bound
    plan = solve(w, vgg, ref, solver="milp", time_limit=0.0)
    assert plan.solver.status == "time_limit" and plan.solver.bound <= best.total_cost * (1 + REL)
    # with side constraints no known plan meets, a clear solver error (not bad input)
    with pytest.raises(SolverError, match="time limit"):
        solve(w, vgg, ref, solver="milp", time_limit=0.0, side=SideConstraints(max_functions=1))
    # a user list of candidate groups (singletons are added)
    plan = solve(w, vgg, ref, solver="milp", candidates=[["app0", "app1"], ["app2", "app3", "app4"]])
    check_plan(plan)
    assert plan.partition() <= {frozenset({"app0", "app1"}), frozenset({"app2", "app3", "app4"})} | {
        frozenset({a.name}) for a in w.apps}
    assert plan.solver.candidate_groups == 10
    with pytest.raises(InputError, match="unknown app 'ghost'"):
        solve(w, vgg, ref, solver="milp", candidates=[["ghost"]])
    with pytest.raises(InputError, match="unknown candidate strategy"):
        solve(w, vgg, ref, solver="milp", candidates="some")


def test_milp_contiguous_with_max_run_matches_dp():
    w = parse_apps(",".join(f"{0.3 + 0.05 * i}:{1 + i % 5}" for i in range(16)))
    vgg, ref = builtin_profile("VGG19"), preset()
    for run in (1, 3, 6):
        a = solve(w, vgg, ref, solver="milp", max_run=run)  # auto: contiguous beyond 12 apps
        b = solve(w, vgg, ref, solver="dp", max_run=run)
        assert a.total_cost == pytest.approx(b.total_cost, rel=REL)
        assert max(len(g.apps) for g in a.groups) <= run


def test_side_constraint_validation():
    with pytest.raises(InputError, match="max_gpu_functions: expected a whole number >= 0"):
        SideConstraints(max_gpu_functions=-1)
    with pytest.raises(InputError, match="gpu_memory_budget"):
        SideConstraints(gpu_memory_budget=float("nan"))
    with pytest.raises(InputError, match="pin: expected"):
        SideConstraints(pin=(("a", "tpu"),))
    assert SideConstraints(pin={"a": "gpu"}).kinds() == {"a": ("gpu",)}


def test_pinned_app_that_its_kind_cannot_serve_is_named():
    w = parse_apps("0.1:5,0.8:10")
    with pytest.raises(InfeasibleError) as err:
        solve(w, builtin_profile("VGG19"), preset(), solver="milp", side=SideConstraints(pin=(("app0", "cpu"),)))
    (app,) = err.value.apps
    assert app.name == "app0" and app.best_latency > 0.1  # the best CPU latency, not the GPU's


def test_solver_records():
    w = parse_apps("0.5:5,0.8:10,1.0:20")
    status = {s: solve(w, builtin_profile("VGG19"), preset(), solver=s).solver for s in
              ("exact", "dp", "milp", "greedy", "mbs", "batch")}
    assert {s: i.status for s, i in status.items()} == {
        "exact": "optimal", "dp": "restricted_optimal", "milp": "optimal", "greedy": "heuristic", "mbs": "heuristic",
        "batch": "heuristic"}
    assert all(i.name == s and i.wall_time_s > 0 and i.objective > 0 for s, i in status.items())


def test_solve_accepts_names_and_app_lists():
    a = solve([App("x", 0.5, 5), App("y", 1.0, 20)], "vgg19", "paper", solver="dp")
    b = solve(Workload([App("y", 1.0, 20), App("x", 0.5, 5)]), builtin_profile("VGG19"), preset("paper"), solver="dp")
    assert a.groups == b.groups
    with pytest.raises(InputError, match="workload entries must be App objects"):
        solve(["x"], "vgg19")
    with pytest.raises(InputError, match="unknown model"):
        solve([App("x", 0.5, 5)], "alexnet")
