"""The expected cost model (formulations/model.md section 12): the closed form against
Poisson and against the batch manager itself, exactness of the solvers, checks, JSON."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from scipy.stats import poisson

from harmonybatch_mp import InfeasibleError, Plan, check_plan, solve
from harmonybatch_mp.check import reprice
from harmonybatch_mp.duration import UniformDuration
from harmonybatch_mp.expected_cost import (
    TIMEOUT_LEVELS,
    capped_size_bound,
    cost_per_request,
    expected_size_bound,
    tail_probabilities,
)
from harmonybatch_mp.expected_search import evaluate, lower_bound, search, search_many
from harmonybatch_mp.simulate import _batch_group
from harmonybatch_mp.solvers.problem import Problem, members
from strategies import models, platforms, workloads

REL = 1e-9


@settings(max_examples=60)
@given(st.lists(st.floats(0.01, 200.0), min_size=1, max_size=6), st.floats(0.0, 3.0), st.integers(1, 32))
def test_one_timeout_is_poisson(rates, timeout, bmax):
    r = np.array(rates)
    g = tail_probabilities(r, np.full((1, r.size), timeout), bmax)[0]
    want = poisson.sf(np.arange(bmax) - 1, r.sum() * timeout)  # P(Poisson(RT) >= m - 1) for m = 1..b
    np.testing.assert_allclose(g, want, rtol=1e-9, atol=1e-12)


@settings(max_examples=60)
@given(st.floats(0.1, 200.0), st.floats(0.0, 1.0), st.floats(1e-3, 1.0), st.integers(2, 40))
def test_an_app_of_no_rate_leaves_the_other_s_poisson_tails(rate, first, longer, bmax):
    """Two segments (the first term is taken alone, the others by the Toeplitz product): with
    the tighter app's rate near 0, the tails are the other app's alone, Poisson(r t)."""
    timeouts = np.array([[first, first + longer]])
    g = tail_probabilities(np.array([1e-12, rate]), timeouts, bmax)[0]
    want = poisson.sf(np.arange(bmax) - 1, rate * timeouts[0, 1])
    np.testing.assert_allclose(g, want, rtol=1e-8, atol=1e-11)


@st.composite
def groups(draw):
    n = draw(st.integers(1, 4))
    rates = np.array([10 ** draw(st.floats(0.5, 2.0)) for _ in range(n)])
    timeouts = np.sort(np.array([draw(st.floats(0.05, 0.6)) for _ in range(n)]))
    return rates, timeouts


@settings(max_examples=25)
@given(groups(), st.integers(0, 2**16))
def test_mixed_timeouts_match_the_batch_manager(group, seed):
    """Monte Carlo of the simulator's own batch manager (one buffer, deadline = earliest
    arrival + timeout, dispatch at b or at the deadline) against the closed form."""
    rates, timeouts = group
    b = 32
    rng = np.random.default_rng(seed)
    horizon = 30_000 / rates.sum()  # about 30,000 requests
    streams = [np.sort(rng.uniform(0, horizon, rng.poisson(r * horizon))) for r in rates]
    times = np.concatenate(streams)
    touts = np.concatenate([np.full(s.size, t) for s, t in zip(streams, timeouts)])
    order = np.argsort(times, kind="stable")
    _, _, sizes = _batch_group(times[order], touts[order], b)
    want = tail_probabilities(rates, timeouts[None, :], b)[0]
    got = np.array([(sizes >= m).mean() for m in range(1, b + 1)])
    se = np.sqrt(want * (1 - want) / sizes.size) + 1e-3
    event(f"mean invocation size {sizes.mean():.0f}" if sizes.mean() >= 2 else "mostly single requests")
    assert np.all(np.abs(got - want) <= 5 * se), (got[:6], want[:6])
    # and the renewal-reward mean size, within 5 standard errors as the tails (the batches are
    # independent cycles). The 3% it was held to is 3.6 of them at 30,000 requests: a draw fell
    # 3.7 below (hypothesis seed 709267045), where 1,000,000 requests come within 1.2 of them.
    assert abs(sizes.mean() - want.sum()) <= 5 * sizes.std() / np.sqrt(sizes.size), (sizes.mean(), want.sum())


def test_size_bound_is_the_uncapped_mean():
    rates, timeouts = np.array([3.0, 5.0, 2.0]), np.array([[0.1, 0.3, 0.6]])
    tails = tail_probabilities(rates, timeouts, 200)
    assert expected_size_bound(rates, timeouts)[0] == pytest.approx(tails.sum(), rel=1e-9)


@settings(max_examples=200)
@given(groups(), st.integers(1, 64))
def test_capped_size_bound_is_above_the_capped_mean(group, b):
    """E[min(K, b)] <= E[min(1 + Poisson(E[K] - 1), b)] <= min(b, E[K]): K - 1 is a mixed
    Poisson (formulations/model.md section 12.2)."""
    rates, timeouts = group
    capped = tail_probabilities(rates, timeouts[None, :], b)[0].sum()
    size = expected_size_bound(rates, timeouts[None, :])
    got = capped_size_bound(size, np.array([b]))[0]
    event("tighter than min(b, E[K]) by 1% or more" if got < 0.99 * min(b, size[0]) else "within 1% of min(b, E[K])")
    assert capped * (1 - REL) <= got <= min(b, size[0]) * (1 + REL)

def test_cost_is_renewal_reward():
    """C = E[cost of an invocation] / E[size]: with sizes 1 or 2 equally likely, c(1) = 1, c(2) = 1.5."""
    inv = np.array([[1.0, 1.5]])
    tails = np.array([[1.0, 0.5]])
    assert cost_per_request(inv, tails, np.array([2]))[0] == pytest.approx((0.5 * 1 + 0.5 * 1.5) / 1.5)


def test_expected_billed_duration_against_sampling():
    d = UniformDuration()
    rng = np.random.default_rng(0)
    avg, mx = np.array([0.3, 0.9, 1.7, 2.0]), np.array([0.5, 1.2, 2.5, 1.0])  # the last: avg > max
    draws = d.sample(rng, np.repeat(avg[None], 200_000, 0), np.repeat(mx[None], 200_000, 0))
    for unit in (0.0, 1.0, 0.1):
        billed = draws if unit == 0 else np.ceil(draws / unit) * unit
        np.testing.assert_allclose(d.expected_billed(avg, mx, unit), billed.mean(axis=0), rtol=3e-3)


def test_expected_billed_duration_equals_the_step_by_step_sum():
    """The closed form against ``u * sum_j P(D > j u)`` summed step by step, on random
    latencies and on latencies that fall on the steps (where ``j u < x`` is decided by floats)."""
    d = UniformDuration()
    rng = np.random.default_rng(1)
    for trial in range(300):
        unit = float(rng.choice([1e-4, 0.001, 0.05, 0.1, 0.3, 1.0]))
        mx = np.round(rng.uniform(0, 3, 40), 3)
        avg = np.where(rng.random(40) < 0.2, mx, np.round(rng.uniform(0, 3, 40), 3))
        if trial % 2:
            mx = unit * rng.integers(0, 30, 40)
            avg = (mx + unit * rng.integers(0, 30, 40)) / 2
        lo, hi = d.bounds(avg, mx)
        x = unit * np.arange(int(np.ceil(hi.max() / unit)) + 1)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            above = np.where(hi > lo, np.clip((hi - x) / (hi - lo), 0, 1), (hi > x).astype(float))
        np.testing.assert_allclose(d.expected_billed(avg, mx, unit), unit * above.sum(axis=0), rtol=1e-12, atol=0)


def test_a_tiny_billing_unit_is_priced_without_a_step_per_unit():
    # summed step by step, 1e-300 s asked for 1e300 steps (ValueError), and a platform billed in
    # 10 us units took the grid's tables past the machine's memory
    d = UniformDuration()
    got = d.expected_billed(np.array([0.3, 1.0, 0.0]), np.array([0.5, 2.0, 0.0]), 1e-300)
    np.testing.assert_allclose(got, [0.3, 1.0, 0.0])
    fine = d.expected_billed(np.array([0.3, 1.0]), np.array([0.5, 2.0]), 1e-6)
    assert np.all((fine >= [0.3, 1.0]) & (fine <= [0.3 + 1e-6, 1.0 + 1e-6]))


def _pair(w, profile, platform, **kw):
    try:
        return (solve(w, profile, platform, solver="exact", cost_model="expected", **kw),
                solve(w, profile, platform, solver="milp", candidates="all", cost_model="expected", **kw))
    except InfeasibleError:
        return None


@settings(max_examples=30)
@given(st.sampled_from(["VGG19", "BERT", "GPT-2", "VideoMAE"]), st.sampled_from(["reference", "paper"]),
       workloads(max_apps=6))
def test_exact_equals_milp_all_under_expected(profile, platform, workload):
    pair = _pair(workload, profile, platform)
    event("infeasible" if pair is None else "feasible")
    assume(pair is not None)
    ex, ml = pair
    assert ml.total_cost == pytest.approx(ex.total_cost, rel=REL)
    assert ml.solver.status == "optimal" and ml.solver.bound <= ex.total_cost * (1 + REL)
    for plan in (ex, ml):
        assert plan.cost_model == "expected"
        check_plan(plan)
    # the expected optimum is never above the full-batch optimum priced under expected
    fb = solve(workload, profile, platform, cost_model="full-batch", candidates="all")
    repriced = reprice(fb, "expected")
    safe = not any(p for p in _problems(repriced) if "misses its SLO" in p)
    event("full-batch plan SLO-safe under expected" if safe else "full-batch plan needs shorter timeouts")
    if safe:
        assert ex.total_cost <= repriced.total_cost * (1 + REL)
    # the bound of every solver holds
    dp = solve(workload, profile, platform, solver="dp", cost_model="expected")
    assert dp.solver.bound <= ex.total_cost * (1 + REL) <= dp.total_cost * (1 + 2 * REL)


def _problems(plan):
    from harmonybatch_mp import plan_problems

    return plan_problems(plan, plan.workload, plan.profile, plan.platform)


def test_heuristics_are_priced_and_checked_under_expected():
    w = "0.3:2,0.4:2,0.5:5,0.6:5,0.7:10,0.8:10,0.9:20,1.0:20"
    best = solve(w, "VGG19", cost_model="expected")
    for s in ("greedy", "mbs", "batch", "dp"):
        plan = solve(w, "VGG19", solver=s, cost_model="expected")
        check_plan(plan)
        assert plan.cost_model == "expected" and plan.total_cost >= best.total_cost * (1 - REL)


def test_plan_json_round_trips_with_its_cost_model():
    for model in ("expected", "full-batch"):
        plan = solve("0.5:5,0.8:10,1.0:20", "VGG19", cost_model=model)
        back = Plan.from_json(plan.to_json())
        assert back.cost_model == model and back.groups == plan.groups
        check_plan(back)
    legacy = json.loads(solve("0.5:5,1.0:20", "VGG19", cost_model="full-batch").to_json())
    del legacy["cost_model"]
    assert Plan.from_dict(legacy).cost_model == "full-batch"  # files written before cost models


def test_checker_prices_the_plans_own_timeouts():
    plan = solve("0.5:5,0.8:10,1.0:20", "VGG19", cost_model="expected")
    g = next(g for g in plan.groups if g.batch > 1)
    shorter = dataclasses.replace(g, timeouts=tuple(t / 2 for t in g.timeouts))
    bad = dataclasses.replace(plan, groups=tuple(shorter if x is g else x for x in plan.groups))
    with pytest.raises(Exception, match="cost per request"):
        check_plan(bad)  # same cost as before, but the timeouts changed: the cost must be recomputed
    fixed = reprice(bad, "expected")
    check_plan(fixed)
    assert fixed.total_cost != plan.total_cost


def test_a_repriced_plan_does_not_keep_a_certificate_for_another_plan():
    """``reprice`` kept the solver's status and bound: a ``full-batch`` optimum priced under
    ``expected`` still said "optimal", with a bound that is not one there. Its name and counts
    stay; a plan priced again as it is keeps its certificate."""
    fb = solve("0.5:5,0.8:10,1.0:20", "VGG19", cost_model="full-batch", solver="milp")
    assert fb.solver.status == "optimal" and fb.solver.bound is not None
    for plan in (reprice(fb, "expected"), reprice(reprice(fb, "expected"), "full-batch")):
        check_plan(plan)
        s = plan.solver
        assert (s.name, s.status, s.bound, s.gap, s.scope, s.objective, s.rel_gap) == ("milp", "heuristic", *[None] * 5)
        assert (s.columns, s.backend) == (fb.solver.columns, fb.solver.backend)
    assert reprice(fb, "full-batch").solver == fb.solver
    ex = solve("0.5:5,0.8:10,1.0:20", "VGG19", cost_model="expected", solver="milp")
    g = max(ex.groups, key=lambda g: g.batch)
    edited = dataclasses.replace(ex, groups=tuple(dataclasses.replace(x, timeouts=tuple(t / 2 for t in x.timeouts))
                                                  if x is g else x for x in ex.groups))
    assert (ex.solver.status, reprice(edited, "expected").solver.status) == ("optimal", "heuristic")


def test_timeout_levels_option():
    w = "0.5:3,0.6:2,0.9:1"
    costs = [solve(w, "GPT-2", "reference", cost_model="expected", timeout_levels=j).total_cost for j in (1, 2, 4, 8)]
    assert costs[1] <= costs[0] * (1 + REL) and costs[3] <= costs[1] * (1 + REL)  # nested level sets
    with pytest.raises(Exception, match="timeout_levels"):
        solve(w, "GPT-2", timeout_levels=0)


@settings(max_examples=40)
@given(groups(), st.floats(0.0, 1.0))
def test_size_bound_is_linear_in_the_latency_reserve(group, frac):
    """E[K] at timeouts s_i - u equals E[K](0) - R u (formulations/model.md section 12.2)."""
    rates, slos = group
    u = frac * slos[0]
    got = expected_size_bound(rates, (slos - u)[None, :])[0]
    assert got == pytest.approx(expected_size_bound(rates, slos[None, :])[0] - rates.sum() * u, rel=1e-9, abs=1e-12)


def _search_cases(draw_workload, profile, platform):
    problem = Problem(draw_workload, profile, platform, cost_model="expected")
    cand = problem._candidates(("cpu", "gpu"))
    masks = list(range(1, 1 << problem.n))
    jobs = [(cand, [problem.apps[i].slo for i in members(m)], [problem.apps[i].rate for i in members(m)])
            for m in masks]
    return problem, cand, jobs


@settings(max_examples=25, deadline=None)
@given(models, platforms, workloads(max_apps=4))
def test_batched_search_is_exhaustive_search(profile, platform, workload):
    """search_many over every group at once returns, per group, the cheapest configuration of an
    evaluation of every candidate (the bounds prune nothing that could win), and the same
    choice as the group's own search."""
    problem, cand, jobs = _search_cases(workload, profile, platform)
    found = search_many(problem.tables, jobs)
    feasible = 0
    for (c, s, r), choice in zip(jobs, found):
        ok = c[problem.tables.latency_max_upto[c] <= s[0]]
        if ok.size == 0:
            assert choice is None
            continue
        feasible += 1
        cost, _ = evaluate(problem.tables, ok, np.array(s), np.array(r), TIMEOUT_LEVELS)
        assert choice is not None and choice.cost == pytest.approx(cost.min(), rel=1e-12)
        alone = search(problem.tables, c, s, r)
        assert alone.index == choice.index and alone.cost == pytest.approx(choice.cost, rel=1e-12)
    event(f"feasible groups: {'none' if not feasible else 'some'}")
    assume(feasible)


@settings(max_examples=25, deadline=None)
@given(models, platforms, workloads(max_apps=4))
def test_search_bounds_are_below_every_cost(profile, platform, workload):
    """The pruning bounds of section 12.2 never exceed a configuration's expected cost."""
    problem, cand, jobs = _search_cases(workload, profile, platform)
    tables = problem.tables
    checked = 0
    for c, s, r in jobs:
        ok = c[(tables.latency_max_upto[c] <= s[0]) & (tables.grid.batch[c] > 1)]
        if ok.size == 0:
            continue
        cost, _ = evaluate(tables, ok, np.array(s), np.array(r), TIMEOUT_LEVELS)
        size = expected_size_bound(np.array(r), np.array(s)[None, :] - tables.latency_max_upto[ok][:, None])
        assert np.all(lower_bound(tables, ok, size) <= cost * (1 + 1e-12))
        checked += ok.size
    event("checked" if checked else "no multi-request configuration")
    assume(checked)
