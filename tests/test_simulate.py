"""Simulation: conservation of requests, SLO safety, determinism, closed-form cost, traces, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from harmonybatch_mp import InfeasibleError, InputError, builtin_profile, check_plan, parse_apps, preset, solve
from harmonybatch_mp.cli import main
from harmonybatch_mp.duration import UniformDuration
from harmonybatch_mp.simulate import simulate
from harmonybatch_mp.trace import Trace, load_trace
from harmonybatch_mp.workload import DEFAULT_APPS
from strategies import models, platforms, workloads

VGG, REF = builtin_profile("VGG19"), preset()


@settings(max_examples=40)
@given(models, platforms, workloads(max_apps=5, min_slo=0.2), st.sampled_from(["milp", "greedy", "batch", "mbs"]),
       st.integers(0, 2**31 - 1))
def test_every_request_completes_exactly_once(profile, platform, workload, solver, seed):
    try:
        plan = solve(workload, profile, platform, solver=solver)
    except InfeasibleError:
        event("infeasible: nothing to simulate")
        return
    res, log = simulate(plan, duration=120, seed=seed, log=True)
    n = log.arrival.size
    event("some invocation batched several requests" if (log.inv_size > 1).any() else "every invocation one request")
    assert res.overall.requests == res.overall.completed == n
    assert np.array_equal(np.bincount(log.invocation, minlength=log.inv_size.size), log.inv_size)
    assert log.inv_size.sum() == n and (log.inv_size >= 1).all()
    for gi, g in enumerate(plan.groups):
        assert (log.inv_size[log.inv_group == gi] <= g.batch).all()
    timeout = np.array([plan.group_of(a.name).timeouts[plan.group_of(a.name).apps.index(a.name)]
                        for a in plan.workload.apps])
    wait = log.inv_dispatch[log.invocation] - log.arrival
    assert (wait >= -1e-12).all() and (wait <= timeout[log.app] + 1e-9).all()
    # the default sampler never exceeds L_max, so no plan that passed check_plan violates an SLO
    assert res.overall.slo_violations == 0
    assert sum(m.requests for m in res.apps.values()) == n


def test_no_violations_for_every_solver_on_the_default_workload():
    w = parse_apps(DEFAULT_APPS)
    for solver in ("exact", "milp", "dp", "greedy", "batch", "mbs"):
        res = simulate(solve(w, VGG, REF, solver=solver), duration=600, seed=3)
        assert res.overall.slo_violations == 0 and res.overall.requests > 40000


def test_a_sampler_beyond_lmax_produces_violations_counted_correctly():
    plan = solve(parse_apps(DEFAULT_APPS), VGG, REF, solver="milp")

    class Slow(UniformDuration):
        def sample(self, rng, lat_avg, lat_max):
            return lat_max * rng.uniform(0.9, 1.6, lat_max.shape)

    res, log = simulate(plan, duration=300, seed=5, duration_model=Slow(), log=True)
    slo = np.array([a.slo for a in plan.workload.apps])
    latency = log.inv_dispatch[log.invocation] - log.arrival + log.inv_duration[log.invocation]
    want = int((latency > slo[log.app] + 1e-12).sum())
    assert want > 0 and res.overall.slo_violations == want
    assert res.overall.violation_rate == pytest.approx(want / log.arrival.size)
    for i, a in enumerate(plan.workload.apps):
        assert res.apps[a.name].slo_violations == int((latency[log.app == i] > a.slo + 1e-12).sum())


def test_bad_sampler_is_reported():
    plan = solve(parse_apps("0.5:5"), VGG, REF, solver="dp")
    class Negative(UniformDuration):
        def sample(self, rng, lat_avg, lat_max):
            return -lat_avg

    with pytest.raises(InputError, match="sample must return"):
        simulate(plan, duration=10, duration_model=Negative())


@pytest.mark.parametrize("billed, was", [
    (lambda avg, mx: -avg, "a plan of negative cost"),
    (lambda avg, mx: np.full(np.shape(avg), np.nan), "every app 'infeasible', the lowest latency named"),
    (lambda avg, mx: np.full(np.shape(avg), np.inf), "an IndexError in the group search"),
    (lambda avg, mx: 0.1, "an IndexError in the plan check"),
    (lambda avg, mx: np.ones(3), "a broadcasting error of cost_per_request"),
])
@pytest.mark.parametrize("solver", ["milp", "dp", "greedy", "exact"])
def test_a_bad_expected_billed_duration_is_named(billed, was, solver):
    """The expected cost model prices each configuration from the duration model's
    expected_billed: what it returns is checked as sample's is in the simulator."""
    class Bad(UniformDuration):
        def expected_billed(self, lat_avg, lat_max, unit):
            return billed(lat_avg, lat_max)

    with pytest.raises(InputError, match="duration model 'uniform': expected_billed must return one duration >= 0"):
        solve(parse_apps("0.5:5,1.0:20,0.3:2"), VGG, REF, solver=solver, duration=Bad())
    with pytest.raises(InputError, match="expected_billed must return"):
        check_plan(solve(parse_apps("0.5:5,1.0:20"), VGG, REF, solver="dp"), duration=Bad())


def test_same_seed_same_result_and_seeds_agree_statistically():
    plan = solve(parse_apps(DEFAULT_APPS), VGG, REF, solver="milp")
    a = simulate(plan, duration=300, seed=11)
    assert simulate(plan, duration=300, seed=11) == a
    r1 = simulate(plan, duration=3600, seed=1).overall
    r2 = simulate(plan, duration=3600, seed=2).overall
    assert r1 != r2
    # ~270,000 requests each: batch means and costs agree to well within 2%
    assert r1.mean_batch == pytest.approx(r2.mean_batch, rel=0.02)
    assert r1.realized_cost == pytest.approx(r2.realized_cost, rel=0.02)
    assert r1.requests == pytest.approx(r2.requests, rel=0.01)


def test_single_app_batch_one_closed_form():
    plan = solve(parse_apps("0.5:5"), VGG, REF, solver="dp")
    (g,) = plan.groups
    assert (g.kind, g.batch) == ("cpu", 1)
    res, log = simulate(plan, duration=2000, seed=7, log=True)
    price = g.vcpu * REF.cpu_price + g.mem_gb * REF.mem_price  # per second; CPU billed exactly
    n = log.arrival.size
    assert res.overall.realized_cost == pytest.approx(REF.invocation_price + price * log.inv_duration.mean(), rel=1e-12)
    assert res.overall.invocations == n and res.overall.mean_batch == 1.0
    # E[D] = L_avg (uniform on [2 L_avg - L_max, L_max]), so the expected cost is the predicted one
    half_width = g.latency_max - g.latency_avg
    sigma = price * (2 * half_width) / math.sqrt(12) / math.sqrt(n)
    assert abs(res.overall.realized_cost - g.cost_per_request) < 4 * sigma
    # latency = execution time only (timeout 0, batch 1)
    assert res.overall.max_latency <= g.latency_max


def test_trace_replay_and_errors(tmp_path):
    plan = solve(parse_apps("0.5:5,0.8:10,1.0:20"), VGG, REF, solver="dp")
    f = tmp_path / "trace.csv"
    f.write_text("name,1,2,3\napp0,300,0,600\napp1,60,60,60\napp2,1200,1200,0\n")
    tr = load_trace(f)
    assert tr.minutes == 3 and tr.counts["app1"] == (60.0, 60.0, 60.0)
    res, log = simulate(plan, trace=tr, seed=1, log=True)
    assert res.duration_s == 180
    assert res.apps["app0"].requests == pytest.approx(900, abs=5 * 30)
    minute = (log.arrival // 60).astype(int)
    assert ((log.app == 0) & (minute == 1)).sum() == 0  # app0 sent nothing in minute 2
    assert res.overall.slo_violations == 0

    f.write_text("app0,1,2\napp1,1\n")
    with pytest.raises(InputError, match=r"row 2 \('app1'\): 1 minutes, but the first row has 2"):
        load_trace(f)
    f.write_text("app0,1,-2\n")
    with pytest.raises(InputError, match=r"row 1 \('app0'\), minute 2: must be >= 0"):
        load_trace(f)
    f.write_text("app0,1\napp1,2\n")
    with pytest.raises(InputError, match="no row for app\\(s\\) app2"):
        simulate(plan, trace=load_trace(f))
    f.write_text("app0,1\napp1,2\napp2,3\nghost,4\n")
    with pytest.raises(InputError, match="ghost"):
        simulate(plan, trace=load_trace(f))
    with pytest.raises(InputError, match="exactly one of duration"):
        simulate(plan)
    with pytest.raises(InputError, match="duration: must be > 0"):
        simulate(plan, duration=-1)
    assert Trace({"a": ()}).minutes == 0


def test_cli_simulate(tmp_path, capsys):
    assert main(["plan", "--json"]) == 0
    pf = tmp_path / "plan.json"
    pf.write_text(capsys.readouterr().out)
    assert main(["simulate", str(pf), "--duration", "120", "--seed", "4", "--json", "--no-progress"]) == 0
    d = json.loads(capsys.readouterr().out)
    keys = {"requests", "completed", "slo_violations", "violation_rate", "p50_latency", "p99_latency",
            "max_latency", "mean_batch", "invocations", "realized_cost", "predicted_cost", "cost_error"}
    assert keys <= set(d["overall"]) and set(d["apps"]) == {f"app{i}" for i in range(8)}
    assert all(keys <= set(m) for m in d["apps"].values())
    assert d["overall"]["slo_violations"] == 0
    assert main(["simulate", str(pf), "--duration", "60"]) == 0
    out = capsys.readouterr().out
    assert "overall" in out and "realized" in out
    bad = tmp_path / "bad.json"
    bad.write_text('{"groups": []}')
    assert main(["simulate", str(bad)]) == 2
    assert "workload: missing field" in capsys.readouterr().err
    tampered = json.loads(pf.read_text())
    tampered["groups"][0]["timeouts"]["app0"] = 5.0
    bad.write_text(json.dumps(tampered))
    assert main(["simulate", str(bad)]) == 2  # a tampered plan file is bad input, not an internal error
    assert "misses its SLO" in capsys.readouterr().err


def test_app_without_requests_serialises_to_strict_json():
    plan = solve(parse_apps("0.5:0.001,0.8:10"), VGG, REF, solver="milp")
    res = simulate(plan, duration=1.0, seed=0)
    assert res.apps["app0"].requests == 0
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["apps"]["app0"]["p50_latency"] is None and d["apps"]["app0"]["slo_violations"] == 0
