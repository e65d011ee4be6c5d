"""The baselines BATCH and MBS+ (``formulations/model.md`` section 8)."""

from __future__ import annotations

import math

from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from harmonybatch_mp import builtin_profile, parse_apps, preset
from harmonybatch_mp.solvers.baselines import even_split, mbs_baseline
from harmonybatch_mp.solvers.problem import Problem
from strategies import mixed_workloads, models, platforms


def _every_split(problem: Problem) -> tuple[list[int] | None, float, int]:
    """MBS+ as defined: every split priced in full (plan_cost), the cheapest kept (the first of
    equals); and how many splits cost more than it."""
    costs = [(problem.plan_cost(even_split(problem, k)), k) for k in range(1, problem.n + 1)]
    cost, k = min(costs, key=lambda c: (c[0], c[1]))
    return (None if cost == math.inf else even_split(problem, k)), cost, sum(c > cost for c, _ in costs)


@settings(max_examples=50)
@given(mixed_workloads(max_apps=30), models, platforms, st.sampled_from(["full-batch", "expected"]))
def test_mbs_abandons_only_splits_that_could_not_be_kept(workload, profile, platform, cost_model):
    """Splits are abandoned once their groups so far and the per-app bound of the rest pass the
    best cost: the plan is the one pricing every split in full gives."""
    p = Problem(workload, profile, platform, cost_model=cost_model)
    assume(all(p.group(1 << i) is not None for i in range(p.n)))
    plain, cost, dearer = _every_split(Problem(workload, profile, platform, cost_model=cost_model))
    event("some split dearer than the best" if dearer else "every split as cheap")
    assert plain is not None
    sol = mbs_baseline(p)
    assert sorted(sol.groups) == sorted(plain)
    assert sol.info.objective == cost


def test_mbs_abandons_most_splits_of_a_large_workload():
    """On 200 apps most splits are abandoned early: 1,822 of the splits' 13,880 groups are priced."""
    apps = ",".join(f"{0.3 + 0.005 * i:.3f}:{1 + (i * 7) % 13}" for i in range(200))
    p = Problem(parse_apps(apps), builtin_profile("VGG19"), preset(), cost_model="full-batch")
    priced = []
    weighted_cost = p.weighted_cost
    p.weighted_cost = lambda mask: priced.append(mask) or weighted_cost(mask)
    sol = mbs_baseline(p)
    every = sum(len(even_split(p, k)) for k in range(1, p.n + 1))
    assert sol.info.objective == _every_split(Problem(p.workload, p.profile, p.platform, cost_model="full-batch"))[1]
    assert len(priced) < every / 4


def test_batch_searches_the_apps_alone_on_cpu_together_under_expected():
    """Under ``expected`` BATCH searches the apps alone on CPU functions in batches, one
    vectorised round for many (one search an app took 40 s at 100,000 apps, 8 s since): each
    app is still alone on its cheapest CPU function, as searched alone."""
    from harmonybatch_mp.solvers.baselines import batch_baseline

    apps = ",".join(f"{0.3 + 0.05 * i:g}:{1 + 3 * i}" for i in range(20))
    p = Problem(parse_apps(apps), builtin_profile("VGG19"), preset(), cost_model="expected")
    calls, search = [], p._search_many
    p._search_many = lambda jobs: (calls.append(len(jobs)), search(jobs))[1]
    sol = batch_baseline(p)
    assert sum(calls) == 20 and len(calls) <= 2, calls
    fresh = Problem(parse_apps(apps), builtin_profile("VGG19"), preset(), cost_model="expected")
    assert sorted(sol.groups) == [1 << i for i in range(20)]
    for mask, config in zip(sol.groups, sol.configs):
        alone = fresh.group(mask, kinds=("cpu",))
        assert config.kind == "cpu" and (config.index, config.timeout_scale) == (alone.index, alone.timeout_scale)
        assert math.isclose(config.cost, alone.cost, rel_tol=1e-12)
