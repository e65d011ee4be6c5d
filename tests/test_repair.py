"""Repairing a plan so that it keeps the side constraints (formulations/set_partitioning.md,
"Repairing a plan")."""

from __future__ import annotations

import dataclasses
from unittest import mock

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from harmonybatch_mp import InfeasibleError, SideConstraints, solve
from harmonybatch_mp.plan import SolverInfo
from harmonybatch_mp.provision import feasible_mask
from harmonybatch_mp.solvers import Problem, as_instance, problem_classes
from harmonybatch_mp.solvers import repair as repair_module
from harmonybatch_mp.solvers.dp import dp
from harmonybatch_mp.solvers.problem import members
from harmonybatch_mp.solvers.repair import plan_cost, repair
from strategies import MODELS, PRESETS, workloads


@st.composite
def several(draw, apps):
    """Side constraints of every kind at once, each drawn or not."""
    names = [a.name for a in apps]
    pairs = st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True).map(tuple)
    return SideConstraints(
        max_functions=draw(st.none() | st.integers(1, len(names))),
        max_gpu_functions=draw(st.none() | st.integers(0, 2)),
        gpu_memory_budget=draw(st.none() | st.sampled_from([0.0, 4.0, 12.0, 24.0])),
        isolate=draw(st.lists(pairs, max_size=2, unique_by=frozenset)) if len(names) > 1 else (),
        pin={name: draw(st.sampled_from(["cpu", "gpu"])) for name in draw(st.lists(st.sampled_from(names), max_size=2,
                                                                                       unique=True))})


def _repair(problem: Problem, masks: list[int], data: st.DataObject) -> tuple[list[int], list] | None:
    """``repair``, with every pair of groups in reach or (as in a plan of more than
    ``ALL_PAIRS`` groups) only groups at most ``REACH`` places apart in SLO order, and under
    expected repaired on the full-batch model."""
    if not data.draw(st.booleans()):
        event("merges of any two groups")
        return repair(problem, masks)
    event("merges of neighbours only" + (", on the full-batch model" if problem.expected and len(masks) > 1 else ""))
    with mock.patch.object(repair_module, "ALL_PAIRS", 1):
        return repair(problem, masks)


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(MODELS), st.sampled_from(PRESETS), workloads(max_apps=8),
       st.sampled_from(["full-batch", "expected"]), st.data())
def test_a_repaired_plan_keeps_the_side_constraints(model, platform, workload, cost_model, data):
    """From the contiguous optimum or a random partition: the repaired plan partitions the apps,
    keeps every side constraint, puts each group on a feasible configuration, and costs what
    the plan built from it costs; a plan that keeps them already comes back as it was."""
    side = data.draw(several(workload.apps))
    problem = Problem(*as_instance(workload, model, platform), side=side, cost_model=cost_model)
    try:
        problem.require_feasible()
    except InfeasibleError:
        event("an app no allowed function serves")
        return
    n = problem.n
    if data.draw(st.booleans()):
        event("from the contiguous optimum")
        masks = list(dp(problem).groups)
    else:
        event("from a random partition")
        label = data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
        masks = [m for m in (sum(1 << i for i in range(n) if label[i] == g) for g in range(3)) if m]
    configs = [problem.group(m) for m in masks]
    kept = None not in configs and side.allows(problem, masks, configs)
    out = _repair(problem, masks, data)
    event("kept the constraints already" if kept else "repaired" if out is not None else "given up")
    if kept:
        ordered = sorted(masks, key=lambda m: min(members(m)))
        assert out == (ordered, [problem.group(m) for m in ordered])
    if out is None:
        return
    groups, chosen = out
    assert sorted(i for m in groups for i in members(m)) == list(range(n))
    assert side.allows(problem, groups, chosen)
    for m, c in zip(groups, chosen):
        assert any(c.index == other.index for other in problem.all_configs(m))
    info = SolverInfo("repair", status="bounded", objective=plan_cost(problem, groups, chosen))
    assert problem.plan(groups, chosen, info).total_cost == pytest.approx(info.objective, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(MODELS), workloads(max_apps=7), st.data())
def test_repair_gives_up_only_where_merging_every_app_fails(model, workload, data):
    """The greedy steps can always merge groups down to one, so with only caps on the
    functions (no isolation, no pins) the repair gives up only where no group holds every app
    on a function that keeps the caps; and its plan costs at least the optimum."""
    names = [a.name for a in workload.apps]
    side = SideConstraints(max_functions=data.draw(st.integers(1, len(names))),
                           max_gpu_functions=data.draw(st.none() | st.integers(0, 1)))
    problem = Problem(*as_instance(workload, model), side=side, cost_model="full-batch")
    try:
        problem.require_feasible()
    except InfeasibleError:
        event("an app no function serves")
        return
    out = _repair(problem, list(dp(problem).groups), data)
    everyone = (1 << problem.n) - 1
    one = [c for c in problem.per_class(everyone) if side.allows(problem, [everyone], [c])]
    event("given up" if out is None else "repaired")
    if out is None:
        assert not one
        return
    try:
        best = solve(workload, model, solver="milp", candidates="all", side=side, cost_model="full-batch").total_cost
    except InfeasibleError:
        pytest.fail("the repair found a plan where milp found none")
    assert plan_cost(problem, *out) >= best * (1 - 1e-9)


def test_a_large_plan_prices_merges_of_neighbours_only():
    """A plan of more than ``ALL_PAIRS`` groups: the repair prices each group's moves and its
    merges with the next ``REACH`` groups in SLO order, and with the next ``REACH`` on its
    kind of function; after a step, only what the step changed. Never every pair, which took
    over 60 s from 197 groups. 120 apps alone, at most 6 functions: 1,167 unions priced
    (at most 2,400 allowed here), against 7,140 pairs at the first step before."""
    side = SideConstraints(max_functions=6)
    problem = Problem(*as_instance(",".join(f"{0.5 + 0.01 * i}:{1 + i % 7}" for i in range(120)), "VGG19"),
                      cost_model="full-batch", side=side)
    assert 120 > repair_module.ALL_PAIRS
    priced = []
    per_class = problem.per_class
    with mock.patch.object(problem, "per_class", lambda m: priced.append(m) or per_class(m)):
        groups, configs = repair(problem, [1 << i for i in range(120)])
    assert side.allows(problem, groups, configs) and len(groups) <= 6
    assert {c.kind for c in configs} == {"cpu", "gpu"}
    assert 120 * (1 + repair_module.REACH) <= len(priced) <= 20 * 120
    assert len(set(priced)) == len(priced)  # each union priced once


def test_a_repair_cut_short_leaves_what_it_priced_for_the_next():
    """Each group's classes are kept under the full-batch model too (as under expected), so a
    repair stopped by its deadline leaves its unions priced for milp's second try (2,000 VGG19
    apps under a GPU cap with 10 s: the first try's 1 s of pricing unions was lost)."""
    side = SideConstraints(max_functions=6)
    problem = Problem(*as_instance(",".join(f"{0.5 + 0.01 * i}:{1 + i % 7}" for i in range(40)), "VGG19"),
                      cost_model="full-batch", side=side)
    folded = []
    with mock.patch.object(problem_classes, "feasible_mask",
                           lambda grid, apps, kinds, **kw: folded.append(len(apps)) or feasible_mask(grid, apps, kinds,
                                                                                                       **kw)):
        first = repair(problem, [1 << i for i in range(40)])
        unions = sum(n > 1 for n in folded)
        again = repair(problem, [1 << i for i in range(40)])
    assert unions > 40 and sum(n > 1 for n in folded) == unions  # the second priced no union
    assert first == again and side.allows(problem, *first)


def test_a_repair_begun_past_its_deadline_prices_nothing():
    """Begun past its deadline (milp's fallback, begun late), the repair gives up before it
    looks at a group: at 2,000 groups setting them up took 24 ms."""
    import time

    problem = Problem(*as_instance(",".join(f"{0.5 + 0.01 * i}:{1 + i % 7}" for i in range(40)), "VGG19"),
                      cost_model="full-batch", side=SideConstraints(max_functions=6))
    looked = []
    group = problem.group
    with mock.patch.object(problem, "group", lambda m: looked.append(m) or group(m)):
        assert repair(problem, [1 << i for i in range(40)], deadline=time.perf_counter() - 1) is None
        assert looked == []
        assert repair(problem, [1 << i for i in range(40)], deadline=time.perf_counter() + 60) is not None
    assert len(looked) >= 40


def test_repair_moves_a_group_to_another_function_to_meet_a_gpu_cap():
    """Two GPU groups and a cap of one GPU function: the repair merges them or moves one to CPU,
    whichever costs less, and the plan keeps the cap."""
    problem = Problem(*as_instance("0.3:2,0.35:2,0.8:30,1.0:40", "VGG19"), cost_model="full-batch")
    masks = list(dp(problem).groups)
    gpus = sum(problem.group(m).kind == "gpu" for m in masks)
    capped = dataclasses.replace(problem.side, max_gpu_functions=gpus - 1)
    problem = Problem(*as_instance("0.3:2,0.35:2,0.8:30,1.0:40", "VGG19"), cost_model="full-batch", side=capped)
    groups, configs = repair(problem, masks)
    assert sum(c.kind == "gpu" for c in configs) == gpus - 1
    assert plan_cost(problem, groups, configs) > problem.plan_cost(masks)


@pytest.mark.parametrize("side, line", [
    (SideConstraints(max_functions=1), "max_functions=1: the plan has 2 functions"),
    (SideConstraints(max_gpu_functions=0), "max_gpu_functions=0: the plan has"),
    (SideConstraints(gpu_memory_budget=0.5), "gpu_memory_budget=0.5: the plan's GPU functions have"),
    (SideConstraints(isolate=[("app0", "app1")]), "isolate=app0/app1: the pair shares a group"),
    (SideConstraints(pin={"app2": "cpu"}), "pin=app2:cpu: on a gpu function"),
])
def test_broken_names_each_side_constraint_a_plan_breaks(side, line):
    """``SideConstraints.broken`` names what a plan breaks, one line each, and ``allows`` is
    its negation; a plan that keeps the constraint breaks nothing."""
    problem = Problem(*as_instance("0.5:5,0.8:10,1.0:20", "VGG19"), side=side, cost_model="full-batch")
    free = Problem(*as_instance("0.5:5,0.8:10,1.0:20", "VGG19"), cost_model="full-batch")
    gpu = next(c for c in free.per_class(4) if c.kind == "gpu")
    masks, configs = [3, 4], [free.group(3), gpu]  # app0 and app1 together; app2 alone on a GPU function
    broken = side.broken(problem, masks, configs)
    assert len(broken) == 1 and broken[0].startswith(line)
    assert not side.allows(problem, masks, configs)
    cpu = [next(c for c in free.per_class(1 << i) if c.kind == "cpu") for i in range(3)]
    assert side.broken(problem, [1, 2, 4], cpu) == (["max_functions=1: the plan has 3 functions"] if side.max_functions else [])


def test_broken_names_only_the_pinned_apps_of_a_group():
    side = SideConstraints(pin={"app2": "cpu"})
    problem = Problem(*as_instance("0.5:5,0.8:10,1.0:20", "VGG19"), side=side, cost_model="full-batch")
    free = Problem(*as_instance("0.5:5,0.8:10,1.0:20", "VGG19"), cost_model="full-batch")
    gpu = next(c for c in free.per_class(6) if c.kind == "gpu")
    assert side.broken(problem, [1, 6], [free.group(1), gpu]) == ["pin=app2:cpu: on a gpu function"]


def test_under_expected_the_repair_on_the_full_batch_model_is_there_when_the_other_is_stopped():
    """Under expected a plan of at most ``ALL_PAIRS`` groups is repaired on the full-batch model
    (fast) and on expected itself, and the cheaper comes back; where the deadline stops the
    second (here it returns None, as at its deadline), the first does. Before, only the second
    was tried: 65 VideoMAE apps with at most 6 functions under a 1 s limit ended in "no feasible
    plan was known by then", where the full-batch repair takes 0.05 s."""
    w = ",".join(f"{0.4 + 0.05 * i}:{1 + i % 5}" for i in range(12))
    problem = Problem(*as_instance(w, "VGG19"), cost_model="expected", side=SideConstraints(max_functions=2))
    masks = list(dp(problem.full_batch_view(), max_run=3).groups)
    assert 2 < len(masks) <= repair_module.ALL_PAIRS
    on_expected = repair_module.repair_on(problem, masks)
    via_full_batch = repair_module._via_full_batch(problem, masks, None)
    assert on_expected is not None and via_full_batch is not None
    groups, configs = repair(problem, masks)
    cheaper = min(plan_cost(problem, *on_expected), plan_cost(problem, *via_full_batch))
    assert plan_cost(problem, groups, configs) == pytest.approx(cheaper, rel=1e-12)
    real = repair_module.repair_on

    def stopped_on_expected(p: Problem, m: list[int], deadline: float | None = None):
        return None if p.expected else real(p, m, deadline)

    with mock.patch.object(repair_module, "repair_on", stopped_on_expected):
        groups, configs = repair(problem, masks)
    assert (groups, configs) == via_full_batch and problem.side.allows(problem, groups, configs)



def test_under_expected_only_the_groups_moved_to_another_class_are_searched_per_class():
    """Repaired on the full-batch model, a group whose ``expected`` optimum is of the class the
    repair chose stays on that optimum; only the others are searched per class (a search per
    class took 0.08-0.44 s for the 1-7 groups repaired from 1,000 apps, their optima 0.01 s).
    A GPU cap of 0: the group of the two fast apps moves to CPU, the two slow apps were on CPU.
    Each group is on the cheapest configuration of its class, as when every group was searched."""
    problem = Problem(*as_instance("0.3:2,0.35:2,0.8:30,1.0:40", "VGG19"), cost_model="expected",
                      side=SideConstraints(max_gpu_functions=0))
    masks = list(dp(problem.full_batch_view()).groups)
    searched, per_class = [], Problem.prefetch_classes

    def spied(self, groups):  # (the full-batch view's are only checked)
        groups = list(groups)
        searched.extend(groups if self.expected else [])
        return per_class(self, groups)

    with mock.patch.object(Problem, "prefetch_classes", spied):
        groups, configs = repair_module._via_full_batch(problem, masks, None)
    assert [problem.group(m).kind for m in groups] == ["cpu", "cpu", "gpu"]
    assert searched == [groups[2]] and problem.side.allows(problem, groups, configs)
    fresh = Problem(*as_instance("0.3:2,0.35:2,0.8:30,1.0:40", "VGG19"), cost_model="expected")
    assert configs == [next(c for c in fresh.per_class(m) if c.kind == "cpu") for m in groups]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(MODELS), st.sampled_from(["full-batch", "expected"]), st.booleans(), st.data())
def test_dropping_the_steps_that_no_longer_apply_changes_nothing(model, cost_model, neighbours, data):
    """Once half its steps no longer apply, the repair drops them (``_Steps.compact``: 131,000
    steps at 3,000 apps). Compacting at every chance gives the plan that never compacting
    gives, from apps alone, with merges of any two groups or of neighbours only."""
    workload = data.draw(workloads(min_apps=6, max_apps=20, min_slo=0.3))
    side = SideConstraints(max_functions=data.draw(st.integers(1, 3)), max_gpu_functions=data.draw(st.none() | st.just(1)),
                           isolate=data.draw(st.sampled_from([(), (("w0", "w5"),)])))
    problem = Problem(*as_instance(workload, model), side=side, cost_model=cost_model)
    try:
        problem.require_feasible()
    except InfeasibleError:
        event("an app no allowed function serves")
        return
    masks = [1 << i for i in range(problem.n)]
    compactions = []
    compact = repair_module._Steps.compact

    def counted(steps):
        compactions.append(len(steps.what))
        compact(steps)

    with mock.patch.object(repair_module, "ALL_PAIRS", 1 if neighbours else repair_module.ALL_PAIRS):
        with mock.patch.object(repair_module, "COMPACT_FROM", 0), mock.patch.object(repair_module._Steps, "compact",
                                                                                    counted):
            every = repair(problem, masks)
        with mock.patch.object(repair_module, "COMPACT_FROM", 10**9):
            never = repair(problem, masks)
    event("compacted" if compactions else "nothing to compact")
    event("repaired" if never is not None else "given up")
    assert every == never
