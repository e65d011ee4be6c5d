"""Every built-in solver takes ``time_limit``: ``exact``, ``greedy``, ``batch`` and ``mbs`` took
none, so ``solve(..., time_limit=...)``, ``plan --time-limit`` and ``replan --time-limit`` were
errors with them, and ``bench --time-limit`` ran them unbounded (``exact`` forced on 13 apps
ran 135 s, 33 s now; ``greedy`` on 100,000 apps 40-54 s). On the suite's stopped clock, the
work a test counts moves the clock, so each limit ends where the test says."""

from __future__ import annotations

import importlib

import pytest

from harmonybatch_mp import SolverError, builtin_profile, parse_apps, preset, solve
from harmonybatch_mp.solvers import get_solver
from harmonybatch_mp.solvers.baselines import batch_baseline, mbs_baseline
from harmonybatch_mp.solvers.exact import exact
from harmonybatch_mp.solvers.greedy import greedy
from harmonybatch_mp.solvers.problem import Problem

exact_module = importlib.import_module("harmonybatch_mp.solvers.exact")
greedy_module = importlib.import_module("harmonybatch_mp.solvers.greedy")
APPS = "0.3:2,0.4:2,0.5:40,0.55:40,0.6:40,0.65:40,0.7:10,0.8:10"


def _problem(cost_model: str = "full-batch") -> Problem:
    return Problem(parse_apps(APPS), builtin_profile("VGG19"), preset(), cost_model=cost_model)


def _priced_in(stopped_clock, problem: Problem, seconds: float) -> list[int]:
    """Each group priced (``weighted_cost``) takes ``seconds`` of the stopped clock; returns
    the groups priced."""
    priced, weighted_cost = [], problem.weighted_cost

    def slow(mask: int) -> float:
        stopped_clock[0] += seconds
        priced.append(mask)
        return weighted_cost(mask)
    problem.weighted_cost = slow
    return priced


@pytest.mark.parametrize("solver", ["exact", "greedy", "batch", "mbs", "dp", "milp", "colgen"])
def test_every_built_in_solver_takes_a_time_limit(solver):
    assert "time_limit" in get_solver(solver).options
    plan = solve(APPS, "VGG19", solver=solver, cost_model="full-batch", time_limit=60)
    assert plan.solver.status != "time_limit"


@pytest.mark.parametrize("run, slow, cost_model", [
    (exact, "prefetch", "full-batch"),  # pricing every group, before the enumeration
    (greedy, "weighted_cost", "full-batch"),  # pricing stage 1's groups
    (batch_baseline, "group", "full-batch"),  # pricing the apps alone on CPU functions
    (batch_baseline, "prefetch", "expected"),  # the same, searched together in batches
    (mbs_baseline, "per_app_costs", "full-batch"),  # the bounds it abandons splits by, before the first split
])
def test_a_solver_with_no_plan_at_its_limit_says_so(run, slow, cost_model, stopped_clock, monkeypatch):
    """Stopped before it has a plan (here: the step ``slow`` takes 1 s of a 0.5 s limit), a
    solver raises a SolverError whose ``time_limit`` is True."""
    p = _problem(cost_model)
    where = importlib.import_module("harmonybatch_mp.solvers.baselines") if slow == "per_app_costs" else p
    step = getattr(where, slow)

    def slowly(*args, **kwargs):
        stopped_clock[0] += 1.0
        return step(*args, **kwargs)
    monkeypatch.setattr(where, slow, slowly)
    with pytest.raises(SolverError, match="time limit") as raised:
        run(p, time_limit=0.5)
    assert raised.value.time_limit
    monkeypatch.setattr(where, slow, step)
    assert run(p, time_limit=0.5).info.status != "time_limit"  # (the clock stands still: no limit reached)


def test_greedy_stopped_in_stage_two_keeps_the_merges_made(stopped_clock, monkeypatch):
    """Each stage-2 merge test takes 1 s: with 0.5 s one test is made (the deadline is looked at
    before each), with 1.5 s two. The plan is stage 1's groups with the merges made by then,
    status ``time_limit``; here each merge lowers the cost, so the more tests, the cheaper."""
    whole = greedy(_problem())
    steps = []
    extend = greedy_module._Run.extend

    def slow(run, end: int) -> None:
        stopped_clock[0] += 1.0
        steps.append(end)
        extend(run, end)
    monkeypatch.setattr(greedy_module._Run, "extend", slow)
    plans = []
    for limit in (0.5, 1.5):
        steps.clear()
        p = _problem()
        plans.append(greedy(p, time_limit=limit))
        assert len(steps) == len(plans) and plans[-1].info.status == "time_limit"
        assert sum(plans[-1].groups) == (1 << p.n) - 1 and plans[-1].info.objective == p.plan_cost(plans[-1].groups)
    assert whole.info.status == "heuristic" and len(whole.groups) < len(plans[1].groups) < len(plans[0].groups)
    assert whole.info.objective < plans[1].info.objective < plans[0].info.objective


def test_greedy_under_expected_decides_in_half_its_limit_and_prices_in_the_rest(stopped_clock, monkeypatch):
    """Under ``expected`` the two stages (on the full-batch model) get half the limit, and the
    groups they chose are priced under ``expected`` in the rest; where that pricing does not end
    by the limit, a time-limit SolverError."""
    p = _problem("expected")
    decided = []
    two_stage = greedy_module._two_stage

    def deciding(problem, deadline=None):
        decided.append(deadline)
        return two_stage(problem, deadline)
    monkeypatch.setattr(greedy_module, "_two_stage", deciding)
    assert greedy(p, time_limit=4.0).info.status == "heuristic" and decided == [1002.0]
    prefetch = p.prefetch

    def slow(masks):
        stopped_clock[0] += 10.0
        prefetch(masks)
    monkeypatch.setattr(p, "prefetch", slow)
    with pytest.raises(SolverError, match="greedy: time limit reached pricing its groups under expected") as raised:
        greedy(p, time_limit=4.0)
    assert raised.value.time_limit


def test_mbs_at_its_limit_keeps_the_best_split_priced(stopped_clock):
    """Each group priced takes 1 s: with 6.5 s the splits of 1, 2 and 3 groups are priced in full
    (and a fourth begun), and the plan is the best of them, status ``time_limit``."""
    p = _problem()
    every = mbs_baseline(_problem())
    priced = _priced_in(stopped_clock, p, 1.0)
    sol = mbs_baseline(p, time_limit=6.5)
    assert sol.info.status == "time_limit" and every.info.status == "heuristic"
    assert len(priced) == 7 and len(sol.groups) <= 3
    best = min((_problem().plan_cost(split), split) for split in ([priced[0]], priced[1:3], priced[3:6]))
    assert (sol.info.objective, sorted(sol.groups)) == (best[0], sorted(best[1]))
    assert sol.info.objective >= every.info.objective


def test_exact_at_its_limit_keeps_the_best_partition_enumerated_and_a_bound_on_every_plan(stopped_clock,
                                                                                            monkeypatch):
    """The deadline is looked at before each ``BETWEEN_CHECKS`` partitions are priced: in chunks
    of 1,000, each partition drawn in 1 ms, 2.5 s stop it once the third chunk of Bell(8) = 4,140
    is drawn. The plan is the best of the first two, status ``time_limit``, and its bound the
    per-app bound, under the optimum."""
    monkeypatch.setattr(exact_module, "BETWEEN_CHECKS", 1000)
    partitions = exact_module.set_partitions
    counted = []

    def timed(n: int):
        for part in partitions(n):
            stopped_clock[0] += 1e-3
            counted.append(part)
            yield part
    optimum = exact(_problem())
    monkeypatch.setattr(exact_module, "set_partitions", timed)
    p = _problem()
    sol = exact(p, time_limit=2.5)
    assert optimum.info.status == "optimal" and sol.info.status == "time_limit"
    assert len(counted) == 3000
    assert sol.info.objective == min(p.plan_cost(part) for part in counted[:2000]) > optimum.info.objective
    assert sol.info.bound == pytest.approx(p.lower_bound()) and sol.info.bound <= optimum.info.objective


def test_exact_looks_at_its_deadline_while_it_prices_its_groups(stopped_clock):
    """Under ``full-batch`` ``exact`` priced its groups all at once, looking at no clock: the
    4,095 of 12 apps took 3 s from 8 threads at once, past a 0.5 s limit. It prices them in
    batches sized to the time left: each of 9 apps' 511 groups taking 1 s here, a 10 s limit
    stops it within a few of them."""
    p = Problem(parse_apps(APPS + ",0.9:5"), builtin_profile("VGG19"), preset(), cost_model="full-batch")
    priced = _priced_in(stopped_clock, p, 1.0)
    with pytest.raises(SolverError, match="exact: time limit reached pricing the 511 groups") as raised:
        exact(p, time_limit=10.0)
    assert raised.value.time_limit and 10 <= len(priced) <= 16


def test_the_command_line_bounds_exact_and_greedy(tmp_path):
    """``plan --time-limit`` with ``exact`` or ``greedy`` plans (it was exit 2: not taken)."""
    from harmonybatch_mp.cli import main

    for solver in ("exact", "greedy", "mbs", "batch"):
        assert main(["plan", "--solver", solver, "--cost-model", "full-batch", "--time-limit", "30", "--json"]) == 0


def test_milp_makes_its_warm_start_within_its_time_limit(stopped_clock, monkeypatch):
    """``warm_start="dp"`` ran ``dp`` with no deadline: ``milp`` on 5,000 apps with a 3 s limit
    took 7.8 s. The start is now made within the call's limit, and a start stopped with no plan
    leaves the model to start from none."""
    milp_module = importlib.import_module("harmonybatch_mp.solvers.milp")
    dp, greedy_ = milp_module.dp, milp_module.greedy
    given = []

    def timed_dp(problem, **options):
        given.append(("dp", options.get("deadline")))
        return dp(problem, **options)

    def stopped_greedy(problem, **options):
        given.append(("greedy", options.get("time_limit")))
        raise SolverError("greedy: time limit reached in stage 1", time_limit=True)
    monkeypatch.setattr(milp_module, "dp", timed_dp)
    monkeypatch.setattr(milp_module, "greedy", stopped_greedy)
    for start in ("dp", "greedy"):
        given.clear()
        sol = milp_module.milp(_problem(), time_limit=5.0, warm_start=start, candidates="all")
        assert sol.info.status == "optimal"
        assert given[0] == (start, 1005.0 if start == "dp" else 5.0)  # (the start; dp runs again after it)
    monkeypatch.setattr(milp_module, "greedy", greedy_)
    assert milp_module.milp(_problem(), warm_start="greedy", candidates="all").info.status == "optimal"
