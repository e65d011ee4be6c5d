"""The cheapest partition into given columns (solvers/partition_search.py), the integer master
of colgen's enumeration proof: against a subset DP, resumed in slices, and inside colgen."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from harmonybatch_mp import App, Workload, solve
from harmonybatch_mp.families import LADDERS
from harmonybatch_mp.solvers import Problem, as_instance, partition_search
from harmonybatch_mp.solvers.column_master import Master
from harmonybatch_mp.solvers.partition_search import cheapest_partition
from strategies import served_workloads

column_master = importlib.import_module("harmonybatch_mp.solvers.column_master")


def _subset_dp(n: int, masks: list[int], weights: list[float]) -> float:
    """The cheapest partition's cost (inf: none): ``f(S)`` = the least ``w_j + f(S - j)`` over
    the columns ``j`` within ``S`` that hold its lowest app."""
    f = [math.inf] * (1 << n)
    f[0] = 0.0
    for s in range(1, 1 << n):
        low = s & -s
        f[s] = min([w + f[s ^ m] for m, w in zip(masks, weights) if m & low and m & s == m], default=math.inf)
    return f[-1]


@st.composite
def instances(draw):
    n = draw(st.integers(1, 7))
    masks = draw(st.lists(st.integers(1, (1 << n) - 1), min_size=1, max_size=40))
    if draw(st.booleans()):  # every app alone too: some partition exists
        masks += [1 << a for a in range(n)]
    weights = draw(st.lists(st.floats(0.1, 10.0), min_size=len(masks), max_size=len(masks)))
    duals = draw(st.lists(st.floats(-5.0, 5.0), min_size=n, max_size=n))
    return n, masks, weights, np.array(duals)


@settings(max_examples=300, deadline=None)
@given(instances(), st.floats(0.5, 1.5), st.booleans())
def test_the_search_finds_the_cheapest_partition(case, ratio, near):
    """Whatever the duals (they only guide the search): a partition cheaper than ``upper``
    is returned exactly when one exists, and it is the cheapest; ``upper`` is drawn around
    the optimum, or far above it."""
    n, masks, weights, duals = case
    best = _subset_dp(n, masks, weights)
    upper = best * ratio if near and math.isfinite(best) else 1e6
    members = [[a for a in range(n) if m >> a & 1] for m in masks]
    found, ended = cheapest_partition(members, np.array(weights), n, duals, upper)
    assert ended
    if found is None:
        event("none cheaper" if math.isfinite(best) else "no partition")
        assert best >= upper - 1e-9
        return
    event("the cheapest found")
    assert sorted(a for j in found for a in members[j]) == list(range(n))
    assert sum(weights[j] for j in found) == pytest.approx(best, rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_the_partition_search_resumes_where_a_slice_ended(seed, monkeypatch):
    """Cut into slices of one step, the search returns what it returns in one slice."""
    rng = np.random.default_rng(seed)
    n = 12
    members = [[a] for a in range(n)] + [list(np.flatnonzero(rng.random(n) < 0.3)) for _ in range(300)]
    members = [m for m in members if m]
    weights = np.array([len(m) * (0.8 + 0.4 * rng.random()) for m in members])
    duals = np.full(n, 0.9)
    whole = cheapest_partition(members, weights, n, duals, float(n))
    monkeypatch.setattr(partition_search, "SLICE", 1)
    assert cheapest_partition(members, weights, n, duals, float(n)) == whole
    assert whole[0] is not None


def test_a_passed_deadline_stops_the_partition_search(monkeypatch):
    """At a deadline the search stops after its slice and says it did not end."""
    monkeypatch.setattr(partition_search, "SLICE", 1)
    members = [[0], [1], [2], [0, 1], [1, 2]]
    found, ended = cheapest_partition(members, np.array([1.0, 1.0, 1.0, 1.5, 1.8]), 3, np.zeros(3), 3.0,
                                      deadline=0.0)
    assert (found, ended) == (None, False)
    assert cheapest_partition(members, np.array([1.0, 1.0, 1.0, 1.5, 1.8]), 3, np.zeros(3), 3.0) == ([3, 2], True)


@pytest.mark.parametrize("model", ["VideoMAE", "VGG19"])
def test_colgen_proves_by_the_partition_search(model, monkeypatch):
    """On 12 apps of the model's SLO ladder (an LP gap of 0.5-4%), colgen's enumeration proof
    finds, with the partition search, a plan cheaper than its incumbent: the optimum over
    every group (milp on all subsets). Without regrouping, which finds that plan first."""
    calls = []

    def spy(*args, **kwargs):
        calls.append(cheapest_partition(*args, **kwargs))
        return calls[-1]

    monkeypatch.setattr(column_master, "cheapest_partition", spy)
    rng = np.random.default_rng(0)
    lo, hi = LADDERS[model]
    rates = np.exp(rng.normal(np.log(0.5), 1.2, 12)) * 5
    w = Workload([App(f"a{i}", float(s), float(np.clip(round(r, 4), 1e-3, 1e4)))
                  for i, (s, r) in enumerate(zip(np.round(np.linspace(lo, hi, 12), 3), rates))])
    plan = solve(w, model, solver="colgen", cost_model="full-batch", regroup=False)
    # the integer masters' searches first (Master.integer), the proof's last
    assert [(found is not None, ended) for found, ended in calls][-1] == (True, True)
    assert all(ended for _, ended in calls)
    assert plan.solver.status == "optimal"
    want = solve(w, model, solver="milp", candidates="all", cost_model="full-batch").total_cost
    assert plan.total_cost == pytest.approx(want, rel=1e-9)


def test_colgen_proves_a_degenerate_enumeration():
    """n = 32 (family ``scale``): the incumbent costs what the LP does, and nearly all of the
    88,601 enumerated columns have reduced cost under 1e-6. The proof's search ignores plans
    cheaper by at most ``PROOF_TOLERANCE`` (at 1e-9 it ran out the limit) and ends at once where
    the bound is that close to the plan; where it is 2.1e-5 below (the pricing tolerance, on
    another path to the same LP) the search ran out the 30 s, and the bound of the LP over the
    enumerated columns proves the plan (``Master.lp_bound``)."""
    from harmonybatch_mp.families import family

    instance = next(i for i in family("scale", seed=0) if i.meta["n"] == 32)
    plan = solve(instance.workload, "VGG19", solver="colgen", cost_model="full-batch", time_limit=30)
    assert plan.solver.status == "optimal"
    assert plan.solver.columns > 50_000  # through the enumeration proof


def _no_highs(*args, **kwargs):
    raise AssertionError("HiGHS was called although the partition search ended")


@settings(max_examples=60, deadline=None)
@given(served_workloads(min_apps=2, max_apps=7), st.data())
def test_the_integer_master_searches_first_then_hands_highs_its_best(case, data):
    """``Master.integer`` with duals returns the cheapest plan over its columns (the subset DP
    over them, and HiGHS without duals): from the partition search where it ends; from
    HiGHS, warm-started from the search's best, where it is cut short; and without a
    starting plan (an empty ``warm``) too. Every app is served alone, and groups of several
    apps are drawn."""
    model, platform, workload = case
    problem = Problem(*as_instance(workload, model, platform), cost_model="full-batch")
    master = Master(problem, 1.0 / problem.lower_bound())
    n = problem.n
    for a in range(n):
        assert master.add_group(1 << a)
    group = st.lists(st.integers(0, n - 1), min_size=2, max_size=n, unique=True).map(
        lambda apps: sum(1 << a for a in apps))
    for mask in data.draw(st.lists(group, min_size=1, max_size=30), label="groups"):
        master.add_group(mask)
    assume(len(master.masks) > n)  # (no function serves any group drawn)
    best = _subset_dp(n, master.masks, master.weights)
    duals = np.array(data.draw(st.lists(st.floats(-1.0, 2.0), min_size=n, max_size=n), label="duals"))
    warm = data.draw(st.sampled_from([[], [1 << a for a in range(n)]]), label="warm")
    cut = data.draw(st.booleans(), label="search cut short")
    event(f"search cut short: {cut}; warm start: {bool(warm)}")
    with pytest.MonkeyPatch.context() as mp:
        if cut:  # the search stops after its first step and HiGHS takes over
            mp.setattr(column_master, "SEARCH_SECONDS", 0.0)
            mp.setattr(partition_search, "SLICE", 1)
        else:  # on these few columns the search ends: its plan is the answer
            mp.setattr(column_master, "run_highs_arrays", _no_highs)
        masks, configs, proven = master.integer(None, warm, duals)
    assert proven
    assert sorted(a for m in masks for a in range(n) if m >> a & 1) == list(range(n))
    cost = sum(master.weights[master.masks.index(m)] for m in masks)
    assert cost == pytest.approx(best, rel=1e-9)
    assert cost == pytest.approx(sum(master.weights[master.masks.index(m)] for m in master.integer(None, warm)[0]),
                                 rel=1e-9)
