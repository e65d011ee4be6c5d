"""Plans: JSON round trip, and check_plan rejecting hand-made bad plans."""

from __future__ import annotations

import dataclasses
import json
import warnings

import pytest

from harmonybatch_mp import (
    App,
    InputError,
    Plan,
    PlanCheckError,
    Workload,
    builtin_profile,
    check_plan,
    load_plan,
    parse_apps,
    preset,
    solve,
)
from harmonybatch_mp.plan import GroupPlan
from harmonybatch_mp.provision import provision_group
from harmonybatch_mp.report import format_plan

VGG = builtin_profile("VGG19")
REF = preset()
TABLE_ONE = parse_apps("0.5:5,0.8:10,1.0:20")


@pytest.fixture(scope="module")
def plan() -> Plan:
    return solve(TABLE_ONE, VGG, REF, solver="dp", cost_model="full-batch")


def test_table_one_optimum(plan):
    """formulations/model.md section 11: 2.3686e-05 per request; {app0} on CPU 1.55 vCPU b=1, {app1, app2} GPU 2 GB b=14."""
    assert plan.total_cost == pytest.approx(2.3686e-05, rel=1e-4)
    cpu, gpu = plan.groups
    assert (cpu.apps, cpu.kind, cpu.vcpu, cpu.batch) == (("app0",), "cpu", 1.55, 1)
    assert (gpu.apps, gpu.kind, gpu.gpu_mem_gb, gpu.batch) == (("app1", "app2"), "gpu", 2, 14)
    check_plan(plan)


def test_timeouts_are_slo_minus_lmax(plan):
    gpu = plan.groups[1]
    assert gpu.timeouts == pytest.approx((0.8 - gpu.latency_max, 1.0 - gpu.latency_max))
    assert plan.groups[0].timeouts == (0.0,)


def test_json_round_trip(plan, tmp_path):
    again = Plan.from_json(plan.to_json())
    assert again == plan
    f = tmp_path / "plan.json"
    f.write_text(plan.to_json())
    assert load_plan(f) == plan
    d = json.loads(plan.to_json())
    assert set(d) >= {"total_cost", "groups", "solver"}
    assert set(d["groups"][0]) >= {"apps", "kind", "vcpu", "gpu_mem_gb", "mem_gb", "batch", "timeouts",
                                   "latency_max", "cost_per_request", "rate"}



@pytest.mark.parametrize("field", ["bound", "restricted_bound", "relaxation_bound"])
def test_a_plan_file_with_a_bound_that_is_not_a_number_is_refused(plan, field):
    d = json.loads(plan.to_json())
    d["solver"][field] = "low"
    with pytest.raises(InputError, match=f"solver.{field}"):
        Plan.from_json(json.dumps(d))

@pytest.mark.parametrize("text", [None, 3, {"solver": {}}])
def test_a_plan_from_json_that_is_not_text_is_refused(text):
    with pytest.raises(InputError, match="plan: expected a str or bytes or bytearray"):
        Plan.from_json(text)


def _with_group(plan: Plan, k: int, **changes) -> Plan:
    groups = list(plan.groups)
    groups[k] = dataclasses.replace(groups[k], **changes)
    return dataclasses.replace(plan, groups=tuple(groups))


def _rejects(bad: Plan, match: str) -> None:
    with pytest.raises(PlanCheckError, match=match):
        check_plan(bad, TABLE_ONE, VGG, REF)


@pytest.mark.parametrize("report, needle", [
    ({"status": "optimal", "bound": None}, r"certificate: status 'optimal' with no bound"),
    ({"status": "bounded", "bound": None}, r"certificate: status 'bounded' with no bound"),
    ({"bound": 1.0}, r"certificate: bound 1\.0 above its plan's cost"),
    ({"restricted_bound": 1.0}, r"certificate: restricted_bound 1\.0 above its plan's cost"),
    ({"status": "optimal", "bound": 1e-5}, r"certificate: status 'optimal' with bound 1e-05, short of its plan's "
                                           r"cost .* by more than its gaps \(0 and 0\)"),
    ({"status": "optimal", "bound": 1e-5, "rel_gap": 0.5, "abs_gap": 1.0}, r"short of .* its gaps \(0\.5 and 1\)"),
    ({"status": "restricted_optimal", "restricted_bound": 1e-5}, r"certificate: status 'restricted_optimal' "
                                                                 r"with restricted_bound 1e-05, short of its plan"),
    ({"objective": 2e-5}, r"certificate: objective 2e-05, but its plan costs 2\.36"),
    ({"gap": 0.5}, r"certificate: gap 0\.5, but its bound .* and plan's cost .* give 0\.571"),
])
def test_a_certificate_no_plan_can_bear_is_refused(plan, report, needle, tmp_path):
    """A plan (a file, or one edited in code) that says "optimal" with no bound, a bound
    above its own cost, or one less than half of it, or whose objective or gap is another
    plan's, passed the check as it came."""
    _rejects(plan.with_solver(dataclasses.replace(plan.solver, **report)), needle)
    path = tmp_path / "plan.json"
    data = plan.to_dict()
    data["solver"].update(report)
    path.write_text(json.dumps(data))
    with pytest.raises(PlanCheckError, match=needle):
        check_plan(load_plan(path))


def test_a_certificate_meets_its_plan_within_the_gaps_it_records(plan, tmp_path):
    """The gaps a plan was proven to go with it, in code and in its file: an "optimal" whose
    bound is within them passes, and so does ``solve()``'s own within the gaps it was given."""
    cost = plan.total_cost
    for gaps in ({"rel_gap": 0.6}, {"abs_gap": cost * 0.6e6}):
        within = plan.with_solver(dataclasses.replace(plan.solver, status="optimal", bound=0.5 * cost, gap=0.5, **gaps))
        check_plan(within)
        path = tmp_path / "plan.json"
        path.write_text(within.to_json())
        assert load_plan(path).solver == within.solver
        check_plan(load_plan(path))
    loose = solve(TABLE_ONE, VGG, REF, solver="milp", cost_model="full-batch", rel_gap=0.25, abs_gap=0.5)
    assert (loose.solver.status, loose.solver.rel_gap, loose.solver.abs_gap) == ("optimal", 0.25, 0.5)
    assert (plan.solver.status, plan.solver.rel_gap, plan.solver.abs_gap) == ("restricted_optimal", 0.0, 0.0)
    assert solve(TABLE_ONE, VGG, REF, solver="greedy").solver.rel_gap is None
    assert "proven within rel_gap 0.25 or abs_gap 0.5 per million" in format_plan(loose)
    assert "proven within" not in format_plan(plan)
    only_abs = loose.with_solver(dataclasses.replace(loose.solver, rel_gap=None))
    assert "proven within rel_gap 0 or abs_gap 0.5 per million" in format_plan(only_abs)
    assert ", gap 0.000%, " in format_plan(loose)  # (its bound met: not rounding's 1.5e-16 in e-notation)
    assert ", gap 1.234%, " in format_plan(loose.with_solver(dataclasses.replace(loose.solver, gap=0.01234)))
    for bad in ("x", -0.1, float("nan")):
        data = plan.to_dict()
        data["solver"]["rel_gap"] = bad
        path.write_text(json.dumps(data))
        with pytest.raises(InputError, match=r"\.solver\.rel_gap: "):
            load_plan(path)


def test_rejects_negative_timeout(plan):
    _rejects(_with_group(plan, 1, timeouts=(-0.01, 0.5)), r"negative timeout -0\.01 s for app 'app1'")


def test_rejects_timeout_beyond_slo(plan):
    _rejects(_with_group(plan, 1, timeouts=(0.5, 0.5)), r"app 'app1' misses its SLO")


def test_a_huge_timeout_or_vcpu_is_reported_not_overflowed(plan):
    # 1e308 overflowed Eq. 5's fold (a RuntimeWarning) and vcpu_index's round() (OverflowError)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _rejects(_with_group(plan, 1, timeouts=(1e308, 0.5)), r"app 'app1' misses its SLO: timeout 1e\+308")
    _rejects(_with_group(plan, 0, vcpu=1e308), r"vCPU 1e\+308 is off the grid")


@pytest.mark.parametrize("edit", [{"xi1": 1e308}, {"xi2": 1e308}])
def test_a_profile_out_of_range_is_named_by_the_checker_and_reprice(plan, edit):
    """A plan checked against, or repriced with, a profile that overflows the model: the
    checker reported "nan by the model" with numpy's warnings on stderr, and ``reprice``
    returned a plan costing nan."""
    from harmonybatch_mp.check import reprice

    wild = dataclasses.replace(VGG, **edit)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(PlanCheckError, match=r"group 1 .*: cost per request is (nan|inf) by the model: a coefficient "
                                                 r"of the profile \(or a price of the platform\) is out of range"):
            check_plan(plan, profile=wild)
        for cost_model in ("expected", "full-batch"):
            with pytest.raises(InputError, match=r"group \['app1', 'app2'\]: cost per request (nan|inf) .*out of range"):
                reprice(dataclasses.replace(plan, profile=wild), cost_model)


def test_rejects_off_grid_vcpu(plan):
    _rejects(_with_group(plan, 0, vcpu=1.937), r"vCPU 1\.937 is off the grid")
    _rejects(_with_group(plan, 1, gpu_mem_gb=25), r"GPU memory 25 GB is off the grid")


def test_rejects_batch_above_constraint(plan):
    g = plan.groups[1]
    _rejects(_with_group(plan, 1, batch=g.batch + 6), r"batch 20 above the batch constraint")


def test_rejects_memory_infeasible():
    # VideoMAE, CPU batch 4 needs up64(1505.28*4 + 1945.6) = 8000 MB > 4 GB/vCPU x 1 vCPU
    vm = builtin_profile("VideoMAE")
    w = Workload([App("a", 30.0, 1.0)])
    good = solve(w, vm, REF, solver="batch")
    g = dataclasses.replace(good.groups[0], vcpu=1.0, batch=4)
    bad = dataclasses.replace(good, groups=(g,))
    with pytest.raises(PlanCheckError, match=r"memory infeasible: batch 4 needs 8000 MB"):
        check_plan(bad)


def test_rejects_wrong_cost(plan):
    g = plan.groups[0]
    _rejects(_with_group(plan, 0, cost_per_request=g.cost_per_request * 0.99), r"cost per request is .* plan says")
    _rejects(dataclasses.replace(plan, total_cost=plan.total_cost * 1.001), r"total cost is")


def test_rejects_missing_and_duplicated_apps(plan):
    _rejects(dataclasses.replace(plan, groups=plan.groups[1:]), r"app 'app0' is in no group")
    app1 = TABLE_ONE.by_name()["app1"]
    dup = GroupPlan.from_config([app1], provision_group([app1], VGG, REF))
    _rejects(dataclasses.replace(plan, groups=plan.groups + (dup,)), r"app 'app1' is in two groups")


def test_rejects_unknown_app_and_kind(plan):
    _rejects(_with_group(plan, 0, apps=("ghost",)), r"app 'ghost' is not in the workload")
    _rejects(_with_group(plan, 0, kind="tpu"), r"unknown function kind 'tpu'")


@pytest.mark.parametrize("change, needle", [
    ({"batch": None}, "group 0 ['app0']: batch: expected a whole number >= 1, got None"),
    ({"batch": 0}, "group 0 ['app0']: batch: expected a whole number >= 1, got 0"),
    ({"batch": 2.5}, "group 0 ['app0']: batch: expected a whole number >= 1, got 2.5"),
    ({"rate": "x"}, "group 0 ['app0']: rate: expected a number, got 'x'"),
    ({"cost_per_request": None}, "group 0 ['app0']: cost_per_request: expected a number, got None"),
    ({"vcpu": float("nan")}, "group 0 ['app0']: vcpu: expected a number, got nan"),
    ({"gpu_mem_gb": "2"}, "group 0 ['app0']: gpu_mem_gb: expected a number, got '2'"),
    ({"kind": None}, "group 0 ['app0']: kind: expected 'cpu' or 'gpu', got None"),
    ({"timeouts": [0.1]}, "group 0 ['app0']: timeouts: expected a tuple of numbers, got [0.1]"),
    ({"apps": ["app0"]}, "group 0: apps: expected a tuple of app names, got ['app0']"),
    ({"apps": ()}, "group 0 []: empty group"),
])
def test_a_group_edited_in_code_is_a_problem_the_checker_and_the_simulator_name(plan, change, needle):
    """A plan's group built or edited in code with a field of the wrong kind is a problem each of
    check_plan, simulate and format_plan names (a batch of None or a rate of "x" raised
    TypeError in the checker; a batch of 0 was an IndexError in the simulator, an empty group
    a ValueError; a cost of None a TypeError in the report)."""
    from harmonybatch_mp.report import format_plan
    from harmonybatch_mp.simulate import simulate

    bad = _with_group(plan, 0, **change)
    for call in (lambda: check_plan(bad), lambda: simulate(bad, duration=5), lambda: format_plan(bad)):
        with pytest.raises(PlanCheckError) as err:
            call()
        assert needle in err.value.problems


def test_a_plan_edited_in_code_is_a_problem_not_a_type_error(plan):
    """Groups that are not a tuple of GroupPlan, or a total cost that is no number, are problems
    the checker names; a group's apps are in it whatever else is wrong with it."""
    from harmonybatch_mp.check import structure_problems

    for change, needle in (({"groups": list(plan.groups)}, "groups: expected a tuple of GroupPlan, got list"),
                           ({"groups": plan.groups + ("x",)}, "group 2: expected a GroupPlan, got str"),
                           ({"total_cost": None}, "total_cost: expected a number, got None")):
        with pytest.raises(PlanCheckError) as err:
            check_plan(dataclasses.replace(plan, **change))
        assert needle in err.value.problems
    assert structure_problems(_with_group(plan, 0, batch=None)) == [
        "group 0 ['app0']: batch: expected a whole number >= 1, got None"]  # (not "app0 is in no group")
    assert structure_problems(plan) == []


def test_reports_every_problem_at_once(plan):
    bad = _with_group(plan, 1, timeouts=(-1.0, -1.0))
    with pytest.raises(PlanCheckError) as err:
        check_plan(bad)
    problems = err.value.problems
    assert sum("negative timeout" in p for p in problems) == 2
    assert any("above the batch constraint" in p for p in problems)


def test_the_message_of_many_problems_lists_ten_and_problems_holds_every_one():
    w = Workload([App(f"a{i}", 0.5 + 0.02 * i, 20) for i in range(14)])
    plan = solve(w, VGG, REF, solver="batch", cost_model="full-batch")
    bad = dataclasses.replace(plan, groups=tuple(dataclasses.replace(g, timeouts=(-1.0,)) for g in plan.groups))
    with pytest.raises(PlanCheckError) as err:
        check_plan(bad)
    problems = err.value.problems
    assert sum("negative timeout" in p for p in problems) == 14
    lines = str(err.value).split("\n  ")
    assert lines[1:11] == list(problems[:10])
    assert lines[11:] == [f"and {len(problems) - 10} more (PlanCheckError.problems lists every one)"]


def test_groups_of_one_function_and_size_are_each_priced_on_their_own():
    """The checker prices groups of one function and size together (a row each): a valid plan of
    many such pairs passes, and two of them with their costs swapped are both caught."""
    import numpy as np

    from harmonybatch_mp.solver_info import SolverInfo
    from harmonybatch_mp.solvers import Problem, as_instance

    rng = np.random.default_rng(5)
    w = Workload([App(f"a{i}", float(rng.uniform(1.0, 2.0)), float(rng.uniform(5, 50))) for i in range(40)])
    p = Problem(*as_instance(w, "VGG19"), cost_model="expected")
    masks = [3 << i for i in range(0, 40, 2)]
    plan = p.plan(masks, [p.group(m) for m in masks], SolverInfo(name="hand", status="heuristic"))
    check_plan(plan)
    shared: dict[tuple, list[int]] = {}
    for i, g in enumerate(plan.groups):
        if g.batch >= 2:
            shared.setdefault((g.kind, g.vcpu, g.gpu_mem_gb, g.batch), []).append(i)
    i, j = next((i, j) for idx in shared.values() for i in idx for j in idx
                if plan.groups[i].cost_per_request != plan.groups[j].cost_per_request)
    groups = list(plan.groups)
    groups[i], groups[j] = (dataclasses.replace(groups[i], cost_per_request=plan.groups[j].cost_per_request),
                            dataclasses.replace(groups[j], cost_per_request=plan.groups[i].cost_per_request))
    with pytest.raises(PlanCheckError) as err:
        check_plan(dataclasses.replace(plan, groups=tuple(groups)))
    flagged = [p for p in err.value.problems if "cost per request" in p]
    assert [p.split(" [")[0] for p in flagged] == [f"group {i}", f"group {j}"]
