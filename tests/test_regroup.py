"""Regrouping (solvers/regroup.py, formulations/column_generation.md "Regrouping the
incumbent"): the apps of two or three groups of a plan planned again by colgen."""

from __future__ import annotations

import importlib
from itertools import combinations

import numpy as np
import pytest
from hypothesis import assume, event, example, given, settings
from hypothesis import strategies as st

from harmonybatch_mp import App, InfeasibleError, InputError, SideConstraints, Workload, solve
from harmonybatch_mp.solvers import Problem, as_instance
from harmonybatch_mp.solvers import regroup as regroup_module
from harmonybatch_mp.solvers.generation import Generated
from harmonybatch_mp.solvers.kernels import COLGEN, ready
from harmonybatch_mp.solvers.regroup import WINDOW, _next_part, regroup
from strategies import MODELS, PRESETS, workloads

REL = 1e-9
colgen_module = importlib.import_module("harmonybatch_mp.solvers.colgen")


def _partition(problem: Problem, labels: list[int]) -> list[int]:
    """The groups of apps with equal labels, as masks."""
    return [m for m in (sum(1 << i for i, x in enumerate(labels) if x == g) for g in set(labels)) if m]


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(MODELS), st.sampled_from(PRESETS), workloads(min_apps=2, max_apps=8),
       st.lists(st.integers(0, 2), min_size=8, max_size=8), st.booleans(), st.booleans())
@example("GPT-2", "reference", Workload([App(f"w{i}", 1.0, r) for i, r in enumerate([1, 1, 1, 1, 1, 3.1623, 10])]
                                        + [App("w7", 1.5, 3.1623)]), [0, 0, 0, 0, 0, 1, 2, 0], False, False)
def test_a_plan_of_two_groups_is_regrouped_into_the_optimum_and_one_of_three_no_dearer(model, platform, workload,
                                                                                     labels, isolated, two):
    """A plan of two groups is one part with all the apps, which colgen proves well within a
    part's limit: regrouping returns the optimum over every partition, whatever plan keeping the
    isolated pair it starts from (groups no function serves included). A plan of three is that
    where no pair, planned first, is replaced; where one is, the part of every app is gone, and
    the plan returned may stay above the optimum (the example, found with hypothesis seed
    558356877: the pair of 6 and 1 apps became 7 groups of one, 0.18% above it), but never above
    the start."""
    ready(COLGEN, None)  # a part's colgen within its limit would not wait for the kernels
    names = [a.name for a in workload.apps]
    side = SideConstraints(isolate=((names[0], names[-1]),)) if isolated else None
    try:
        want = solve(workload, model, platform, solver="milp", candidates="all", side=side,
                     cost_model="full-batch").total_cost
    except InfeasibleError:
        event("infeasible")
        assume(False)
    problem = Problem(*as_instance(workload, model, platform), side=side, cost_model="full-batch")
    labels = [x % 2 for x in labels[:problem.n]] if two else labels[:problem.n]  # (two: at most two groups)
    # the pair kept apart; and a plan of one group, which has no part, made two
    if (isolated or len(set(labels)) == 1) and labels[0] == labels[-1]:
        labels[-1] = (labels[0] + 1) % (2 if two else 3)
    masks = _partition(problem, labels)
    got = regroup(problem, masks)
    assert sorted(got) == sorted(set(got)) and sum(got) == (1 << problem.n) - 1
    assert all(a & b == 0 for a, b in combinations(got, 2))
    assert problem.side.allows(problem, got, [problem.group(m) for m in got])
    before = problem.plan_cost(masks)
    assert problem.plan_cost(got) <= before * (1 + REL)
    if len(masks) == 2:
        assert problem.plan_cost(got) == pytest.approx(want, rel=REL)
    event(f"{len(masks)} groups: " + ("the optimum" if problem.plan_cost(got) <= want * (1 + REL) else "above it"))
    event("the plan was the optimum" if before <= want * (1 + REL) else
          "a group no function serves" if before == np.inf else "regrouping lowered the cost")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 11), min_size=6, max_size=30), st.data())
def test_the_next_part_is_the_smallest_not_planned_within_a_window(labels, data):
    """``_next_part`` returns two or three groups whose places in the order of their tightest
    apps lie within ``WINDOW``, not planned yet, of the fewest apps over every such part (by
    brute force over every pair and triple), and None where none is left."""
    masks = [m for m in (sum(1 << i for i, x in enumerate(labels) if x == g) for g in range(12)) if m]
    order = sorted(range(len(masks)), key=lambda i: masks[i] & -masks[i])
    place = {g: p for p, g in enumerate(order)}
    parts = [c for k in (2, 3) for c in combinations(range(len(masks)), k)
             if max(place[g] for g in c) - min(place[g] for g in c) < WINDOW]
    union = {c: sum(masks[g] for g in c) for c in parts}
    share = data.draw(st.sampled_from([0.0, 0.5, 0.9, 0.98]))  # most planned: a wide part may be the smallest left
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    planned = {union[c] for c in parts if rng.random() < share}
    left = [c for c in parts if union[c] not in planned]
    found = _next_part(masks, planned)
    event(f"{'none' if not left else 'some'} left")
    if not left:
        assert found is None
        return
    assert found is not None
    got, got_union = found
    assert got_union == sum(masks[g] for g in got)
    assert 2 <= len(got) <= 3 and got_union not in planned
    assert max(place[g] for g in got) - min(place[g] for g in got) < WINDOW
    assert got_union.bit_count() == min(union[c].bit_count() for c in left)
    event(f"the part's groups span {max(place[g] for g in got) - min(place[g] for g in got) + 1} places")


def test_regrouping_leaves_plans_it_cannot_regroup_as_they_are(monkeypatch):
    """Under ``expected``, under side constraints that count groups, and past its deadline,
    regrouping plans no part and returns the plan."""
    planned = []
    monkeypatch.setattr(regroup_module, "_plan_part", lambda *a: planned.append(a))
    apps = "0.3:2,0.5:5,0.8:10,1.0:20"
    alone = [1, 2, 4, 8]
    expected = Problem(*as_instance(apps, "VGG19"), cost_model="expected")
    counted = Problem(*as_instance(apps, "VGG19"), side=SideConstraints(max_functions=3), cost_model="full-batch")
    plain = Problem(*as_instance(apps, "VGG19"), cost_model="full-batch")
    assert regroup(expected, alone) == alone and regroup(counted, alone) == alone
    assert regroup(plain, alone, deadline=0.0) == alone
    assert not planned
    regroup(plain, alone)
    assert len(planned) == len(list(combinations(range(4), 2))) + len(list(combinations(range(4), 3)))


def test_colgen_regroups_only_a_plan_the_root_does_not_prove(monkeypatch):
    """colgen regroups its plan where the root does not prove it: under a time limit of at
    least ``REGROUP_PER_APP`` seconds an app, once the root's first rounds (a tenth of the time
    left) are out of time, then resumes generation; where the enumeration finds too many columns;
    or, without a limit, where the root has no bound. Not with ``regroup=False``, with less time
    an app, nor where the root or the enumeration proves the plan; the cheaper plan is kept."""
    ready(COLGEN, None)
    seen, calls = [], []
    real_regroup, real_generate = colgen_module.regroup_plan, colgen_module.generate
    pricer_class = colgen_module.Pricer
    real_enumerate = pricer_class.enumerate

    def spy(problem, masks, deadline=None):
        seen.append(deadline)
        return real_regroup(problem, masks, deadline)

    def generate(master, pricer, deadline, *a, **k):
        calls.append(deadline)
        return real_generate(master, pricer, deadline, *a, **k)

    monkeypatch.setattr(colgen_module, "regroup_plan", spy)
    monkeypatch.setattr(colgen_module, "generate", generate)
    apps = ",".join(f"{0.3 + 0.05 * i:.2f}:{[0.5, 2, 5, 10][i % 4]}" for i in range(16))
    limited = solve(apps, "VGG19", solver="colgen", cost_model="full-batch", time_limit=20)
    proven = solve(apps, "VGG19", solver="colgen", cost_model="full-batch")
    assert limited.solver.status == proven.solver.status == "optimal"
    assert not seen and len(calls) == 2  # proven by the root: never regrouped
    # the root's first rounds out of time (their deadline already past): regrouped, then resumed
    calls.clear()
    monkeypatch.setattr(colgen_module, "generate",
                        lambda master, pricer, deadline, *a, **k: generate(master, pricer, deadline if calls else 0.0,
                                                                           *a, **k))
    resumed = solve(apps, "VGG19", solver="colgen", cost_model="full-batch", time_limit=20)
    # (the parts' own colgen calls come between: the last call is the resumed generation)
    assert len(seen) == 1 and seen[0] is not None and calls[0] == 0.0 and calls[-1] > seen[0]
    assert resumed.solver.status == "optimal" and resumed.total_cost == pytest.approx(proven.total_cost, rel=1e-6)
    for kwargs in ({"regroup": False}, {"time_limit": 7}):  # 7 s: < 0.5 s an app
        seen.clear()
        solve(apps, "VGG19", solver="colgen", cost_model="full-batch", **({"time_limit": 20} | kwargs))
        assert not seen
    # an enumeration that finds too many columns: regrouped, with or without a limit
    monkeypatch.setattr(colgen_module, "generate", generate)
    monkeypatch.setattr(pricer_class, "enumerate", lambda self, *a: None)
    for limit in (20, None):
        seen.clear()
        solve(apps, "VGG19", solver="colgen", cost_model="full-batch", time_limit=limit, enumeration_limit=0)
        assert len(seen) == 1 and (seen[0] is None) == (limit is None)
    monkeypatch.setattr(pricer_class, "enumerate", real_enumerate)
    # a root without a bound and without a limit: regrouped to the optimum
    seen.clear()
    monkeypatch.setattr(colgen_module, "generate",
                        lambda master, *a, **k: Generated(np.inf, np.zeros(len(master.masks)), -np.inf, None, None, 0,
                                                          True))
    unproven = solve(apps, "VGG19", solver="colgen", cost_model="full-batch")
    assert seen == [None] and unproven.solver.status == "time_limit"
    moved = solve(apps, "VGG19", solver="colgen", cost_model="full-batch", regroup=False)
    assert unproven.total_cost <= moved.total_cost * (1 + REL)
    assert unproven.total_cost == pytest.approx(proven.total_cost, rel=1e-6)


@pytest.mark.parametrize("bad", ["yes", 1, 0, None, 1.0])
def test_colgen_refuses_a_regroup_option_that_is_not_a_bool(bad):
    with pytest.raises(InputError, match="colgen option regroup"):
        solve("0.5:5,1.0:20", "VGG19", solver="colgen", cost_model="full-batch", regroup=bad)
