"""The paper's greedy (Algorithm 1): knee rate and the two merging stages."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, event, given, settings

from harmonybatch_mp import App, InputError, builtin_profile, parse_apps, preset, provision_group, solve
from harmonybatch_mp.solvers.greedy import greedy, knee_rate
from harmonybatch_mp.solvers.problem import Problem
from strategies import mixed_workloads, models, platforms

VGG, REF = builtin_profile("VGG19"), preset()


@pytest.mark.parametrize("slo", [0.4, 0.8, 1.5])
def test_knee_rate_separates_cpu_from_gpu(slo):
    r = knee_rate(Problem(parse_apps("1:1"), VGG, REF), slo)
    assert 0 < r < math.inf
    assert provision_group([App("x", slo, r * 0.99)], VGG, REF).kind == "cpu"
    assert provision_group([App("x", slo, r * 1.01)], VGG, REF).kind == "gpu"


def test_knee_rate_extremes():
    p = Problem(parse_apps("1:1"), VGG, REF)
    assert knee_rate(p, 0.01) == 0.0  # only a GPU meets 10 ms, at any rate
    assert knee_rate(p, 0.001) == math.inf  # nothing meets 1 ms: never on a GPU


def test_stage_one_merges_a_cpu_run_past_the_knee():
    # Four low-rate apps, each alone on a CPU function; together they pass the knee rate of
    # the tightest SLO, so stage 1 merges the run (and stage 2 keeps it: it sits on a GPU).
    p = Problem(parse_apps("0.8:4,0.85:4,0.9:4,0.95:4"), VGG, REF)
    assert all(p.group(1 << i).kind == "cpu" for i in range(4))
    assert sum(a.rate for a in p.apps) > knee_rate(p, 0.8)
    assert greedy(p).groups == (0b1111,)


def test_stage_two_merges_adjacent_gpu_groups_when_cheaper():
    p = Problem(parse_apps("0.5:40,0.6:40"), VGG, REF)
    assert p.group(1).kind == p.group(2).kind == "gpu"
    assert p.weighted_cost(3) < p.weighted_cost(1) + p.weighted_cost(2)
    assert greedy(p).groups == (3,)


def test_paper_table_one():
    """formulations/model.md section 11: the prototype's greedy returns 2.983e-05 here; with SLO-safe
    provisioning the same algorithm finds the optimum 2.3686e-05."""
    w = parse_apps("0.5:5,0.8:10,1.0:20")
    assert solve(w, VGG, REF, solver="greedy", cost_model="full-batch").total_cost == pytest.approx(2.3686e-05, rel=1e-4)


def _algorithm_one(problem: Problem) -> list[int]:
    """Algorithm 1 as the paper writes it, each group provisioned from scratch (the code
    before stage 2 extended its runs' folds)."""
    knees: dict[float, float] = {}
    out, run, run_rate, first_slo = [], 0, 0.0, 0.0
    for i, app in enumerate(problem.apps):
        if problem.group(1 << i).kind == "cpu":
            if not run:
                first_slo = app.slo
            run |= 1 << i
            run_rate += app.rate
            knees.setdefault(first_slo, knee_rate(problem, first_slo))
            if run_rate > knees[first_slo]:
                out.append(run)
                run, run_rate = 0, 0.0
        else:
            out.extend(1 << j for j in range(problem.n) if run >> j & 1)
            out.append(1 << i)
            run, run_rate = 0, 0.0
    out.extend(1 << j for j in range(problem.n) if run >> j & 1)
    out.sort(key=lambda m: m & -m)
    k = 0
    while k < len(out) - 1:
        a, b = out[k], out[k + 1]
        if "gpu" in (problem.group(a).kind, problem.group(b).kind) and \
                problem.weighted_cost(a | b) < problem.weighted_cost(a) + problem.weighted_cost(b):
            out[k:k + 2] = [a | b]
            continue
        k += 1
    return out


@settings(max_examples=60)
@given(mixed_workloads(), models, platforms)
def test_greedy_makes_the_groups_of_algorithm_one(workload, profile, platform):
    """Stage 2 extends each merged run's fold instead of folding it anew: the same groups as
    the algorithm written plainly, on a problem of its own (nothing cached shared)."""
    p = Problem(workload, profile, platform, cost_model="full-batch")
    assume(all(p.group(1 << i) is not None for i in range(p.n)))
    expected = _algorithm_one(Problem(workload, profile, platform, cost_model="full-batch"))
    event(f"stage 2 {'merged' if any(m & (m - 1) and any(p.group(1 << i).kind == 'gpu' for i in range(p.n) if m >> i & 1) for m in expected) else 'merged nothing'}")
    assert sorted(greedy(p).groups) == sorted(expected)


@settings(max_examples=40)
@given(mixed_workloads(), models, platforms)
def test_greedy_prices_its_groups_as_plan_cost_and_group_do(workload, profile, platform):
    """Under ``full-batch`` the greedy returns the costs and configurations it decided by (at
    100,000 apps pricing its 55,213 groups again took 9.8 s): the same to the last bit as a
    problem of its own prices them."""
    p = Problem(workload, profile, platform, cost_model="full-batch")
    assume(all(p.group(1 << i) is not None for i in range(p.n)))
    sol = greedy(p)
    fresh = Problem(workload, profile, platform, cost_model="full-batch")
    event("a group of several apps" if any(m & (m - 1) for m in sol.groups) else "every app alone")
    assert sol.info.objective == fresh.plan_cost(sol.groups)
    assert list(sol.configs) == [fresh.group(m) for m in sol.groups]


def test_stage_two_merges_a_chain_of_gpu_groups():
    """Five high-rate apps, each alone on a GPU: stage 2 merges the first with each next one in
    turn, extending the same run."""
    p = Problem(parse_apps("0.5:40,0.55:40,0.6:40,0.65:40,0.7:40"), VGG, REF, cost_model="full-batch")
    assert all(p.group(1 << i).kind == "gpu" for i in range(5))
    assert greedy(p).groups == tuple(_algorithm_one(Problem(p.workload, VGG, REF, cost_model="full-batch")))
    assert len(greedy(p).groups) < 5


def test_runs_are_folded_only_under_full_batch_and_from_an_app():
    with pytest.raises(InputError, match="full-batch"):
        Problem(parse_apps("0.5:1,0.6:1"), VGG, REF, cost_model="expected").runs_from(0)
    p = Problem(parse_apps("0.5:1,0.6:1"), VGG, REF, cost_model="full-batch")
    for bad in (-1, 2, 0.5, None):
        with pytest.raises(InputError, match="runs_from"):
            p.runs_from(bad)
    with pytest.raises(InputError, match="max_run"):
        p.runs_from(0, 0)
    assert [j for j, _, _ in p.runs_from(1)] == [2] and [j for j, _, _ in p.runs_from(0, 1)] == [1]
    for bad in (0, "2", 1.5):
        with pytest.raises(InputError, match="max_run"):
            next(p.fill_runs(bad))
        with pytest.raises(InputError, match="max_run"):
            next(Problem(parse_apps("0.5:1,0.6:1"), VGG, REF, cost_model="expected").fill_runs(bad))
    for bad in (0, -1, 1.5, None):  # the shortest run yielded
        with pytest.raises(InputError, match="shortest"):
            p.runs_from(0, None, bad)
        with pytest.raises(InputError, match="shortest"):
            next(p.fill_runs(None, None, bad))
    assert [(j, mask) for j, mask, _ in p.runs_from(0, shortest=2)] == [(2, 3)] and not list(p.runs_from(1, 1, 2))
    e = Problem(parse_apps("0.5:1,0.6:1,0.7:1"), VGG, REF, cost_model="expected")
    assert [run[:3] for run in e.fill_runs(2, shortest=2)] == [(0, 2, 3), (1, 3, 6)]
    assert [run[:3] for run in e.fill_runs(None, shortest=3)] == [(0, 3, 7)] and not list(e.fill_runs(2, shortest=3))
