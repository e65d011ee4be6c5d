"""Re-planning over a trace: forecasts, the change penalty, stability, schedules, bad traces."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from harmonybatch_mp import App, InputError, Workload, check_plan, solve
from harmonybatch_mp.cli import main
from harmonybatch_mp.replan import Forecast, baselines, load_slos, replan, window_rates
from harmonybatch_mp.report import format_schedule
from harmonybatch_mp.schedule import Schedule, check_schedule, function_key, load_schedule
from harmonybatch_mp.trace import Trace, load_trace

AZURE = Path(__file__).resolve().parent.parent / "examples" / "azure"
SLOS = Workload([App("a", 0.3, 1), App("b", 0.5, 1), App("c", 0.8, 1), App("d", 1.0, 1)])


def test_forecasts_use_past_windows_only():
    h = np.array([[1.0, 10.0], [3.0, 2.0], [2.0, 4.0]])
    assert Forecast.parse("last").predict(h).tolist() == [2.0, 4.0]
    assert Forecast.parse("max:2").predict(h).tolist() == [3.0, 4.0]
    ew = Forecast.parse("ewma:0.5").predict(h)
    assert ew.tolist() == pytest.approx([0.25 * 1 + 0.25 * 3 + 0.5 * 2, 0.25 * 10 + 0.25 * 2 + 0.5 * 4])
    for bad in ("mean", "max:0", "ewma:2", "max:"):
        with pytest.raises(InputError, match="forecast"):
            Forecast.parse(bad)


@pytest.mark.parametrize("make, needle", [
    (lambda: Forecast("max", k=0), "forecast max: K: must be >= 1"),  # (took every window: history[-0:])
    (lambda: Forecast("ewma", alpha=2.0), "forecast ewma: A: must be <= 1"),  # (negative weights)
    (lambda: Forecast("mean"), "forecast kind 'mean'"),  # (predicted as ewma)
    (lambda: Forecast("max", k=1.5), "K: expected a whole number"),
    (lambda: replan(Trace({"a": (1.0, 2.0)}), Workload([App("a", 0.5, 1)]), "VGG19", forecast=0.5),
     "forecast: expected 'last', 'max:K', 'ewma:A' or a Forecast, got float"),  # (an AttributeError)
])
def test_forecasts_built_directly_are_checked(make, needle):
    """A Forecast built directly, or something else given as one, is bad input: they made
    silently wrong forecasts (or an AttributeError) in replan."""
    with pytest.raises(InputError, match=re.escape(needle)):
        make()


@pytest.mark.parametrize("counts, needle", [
    ({"a": (1, float("nan")), "b": (1, 1)}, "trace: app 'a', minute 2: must be finite"),  # (simulate: ValueError)
    ({"a": (1.0, -2.0), "b": (1, 1)}, "trace: app 'a', minute 2: must be >= 0"),  # (simulate: ValueError)
    ({"a": (1,), "b": (1, 2)}, "trace: app 'b': 2 minutes, but app 'a' has 1"),  # (replan: ValueError)
    ({"a": (1, 2), "b": (1, 2), 3: (1, 2)}, "trace: app name: expected a non-empty string, got 3"),  # (TypeError)
    ({"a": "12", "b": (1, 2)}, "trace: app 'a': expected a sequence of per-minute counts, got str"),
    ({"a": (True, 2), "b": (1, 2)}, "trace: app 'a', minute 1: expected a number, got True"),
    ({"a": (), "b": (1,)}, "trace: app 'b': 1 minutes, but app 'a' has 0"),
    ([("a", (1, 2))], "trace: counts: expected a mapping"),
])
def test_traces_built_in_code_are_checked_as_files_are(counts, needle):
    """A Trace built in code holds what a trace file may (replan and simulate raised ValueError
    or TypeError on these, or planned a window from them)."""
    with pytest.raises(InputError, match=re.escape(needle)):
        Trace(counts)
    assert Trace({"a": [1, 2.5], "b": np.array([0.0, 3.0])}).counts == {"a": (1.0, 2.5), "b": (0.0, 3.0)}


@settings(max_examples=20)
@given(st.lists(st.floats(1.0, 3000.0), min_size=4, max_size=4), st.integers(3, 8),
       st.sampled_from([0.0, 1e-4, 1e-2, 1.0]))
def test_constant_rates_reconfigure_only_at_the_start(counts, minutes, penalty):
    trace = Trace({n: (round(c),) * minutes for n, c in zip("abcd", counts)})
    s = replan(trace, SLOS, "VGG19", change_penalty=penalty)
    assert len(s.windows) == minutes - 1  # the first minute is the warm-up
    assert s.windows[0].reconfigurations == len(s.windows[0].plan.groups)
    assert all(w.reconfigurations == 0 and w.plan == s.windows[0].plan for w in s.windows[1:])


def test_zero_penalty_windows_equal_independent_solves():
    trace = load_trace(AZURE / "slices.csv")
    short = Trace({k: c[:8] for k, c in trace.counts.items()})
    slos = Workload([App(n, s, 1) for n, s in zip(("app1", "app2", "app3", "app4"), (0.3, 0.5, 0.8, 1.0))])
    s = replan(short, slos, "VGG19", window_min=2, change_penalty=0.0)
    rates = window_rates(short, [a.name for a in slos.apps], 2)
    for w, window in enumerate(s.windows, start=1):
        fresh = solve(Workload([App(a.name, a.slo, float(r)) for a, r in zip(slos.apps, rates[w - 1])]), "VGG19")
        assert window.plan.groups == fresh.groups and window.plan.total_cost == fresh.total_cost


def test_a_penalty_trades_spend_for_stability():
    trace = load_trace(AZURE / "slices.csv")
    short = Trace({k: c[:30] for k, c in trace.counts.items()})
    slos = Workload([App(n, s, 1) for n, s in zip(("app1", "app2", "app3", "app4"), (0.3, 0.5, 0.8, 1.0))])

    def spend(s):
        return sum(w.plan.total_cost * w.plan.workload.total_rate * s.window_s for w in s.windows)

    free = replan(short, slos, "VGG19", change_penalty=0.0)
    held = replan(short, slos, "VGG19", change_penalty=0.01)
    check_schedule(free)
    check_schedule(held)
    assert held.total_reconfigurations < free.total_reconfigurations
    assert spend(held) >= spend(free) * (1 - 1e-9)  # from-scratch plans are each window's cheapest
    # the penalised objective of every window is no worse than keeping the running plan's groups
    for prev, w in zip(held.windows, held.windows[1:]):
        assert w.reconfigurations <= len(w.plan.groups)
        assert prev.start < w.start



def test_every_window_keeps_the_options_given(monkeypatch):
    """timeout_levels reaches every penalised window (it was consumed by the first), and milp's
    windows skip the relaxed bound unless bound_time is given."""
    import harmonybatch_mp.replan as rp

    seen = []

    class Spy(rp.Problem):
        def __init__(self, *args, **kwargs):
            seen.append(kwargs.get("timeout_levels"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(rp, "Problem", Spy)
    trace = load_trace(AZURE / "slices.csv")
    short = Trace({k: c[:12] for k, c in trace.counts.items()})
    slos = Workload([App(n, s, 1) for n, s in zip(("app1", "app2", "app3", "app4"), (0.3, 0.5, 0.8, 1.0))])
    held = replan(short, slos, "VGG19", change_penalty=0.01, timeout_levels=1)
    assert len(seen) >= 2 and set(seen) == {1}
    assert all(w.plan.solver.relaxation_bound is None for w in held.windows)


def test_a_penalised_window_the_backend_did_not_prove_is_not_restricted_optimal(monkeypatch):
    """A window planned for its spend plus the change penalty was "restricted_optimal" whatever
    the model's solve reported (a time limit, a heuristic's stop)."""
    import dataclasses

    from harmonybatch_mp.solvers.model import SetPartitioningModel

    solution = SetPartitioningModel.solution

    def unproven(model, *args, **kwargs):
        sol = solution(model, *args, **kwargs)
        return dataclasses.replace(sol, info=dataclasses.replace(sol.info, status="time_limit"))

    trace = Trace({"a": (300.0, 600.0, 100.0), "b": (60.0, 90.0, 30.0)})
    slos = Workload([App("a", 0.5, 1), App("b", 1.0, 1)])
    proven = replan(trace, slos, "VGG19", change_penalty=1e-3)
    loose = replan(trace, slos, "VGG19", change_penalty=1e-3, rel_gap=0.01, abs_gap=0.5)
    monkeypatch.setattr(SetPartitioningModel, "solution", unproven)
    stopped = replan(trace, slos, "VGG19", change_penalty=1e-3)
    assert [w.plan.solver.status for w in proven.windows[1:]] == ["restricted_optimal"]
    assert [w.plan.solver.status for w in stopped.windows[1:]] == ["time_limit"]
    # the gaps a proven window was solved to, as solve() records them; none for one not proven
    assert [(w.plan.solver.rel_gap, w.plan.solver.abs_gap) for w in loose.windows[1:]] == [(0.01, 0.5)]
    assert [(w.plan.solver.rel_gap, w.plan.solver.abs_gap) for w in stopped.windows[1:]] == [(None, None)]


def test_schedule_json_round_trip(tmp_path):
    trace = Trace({"a": (300.0, 600.0, 600.0), "b": (1200.0, 900.0, 1500.0)})
    s = replan(trace, Workload([App("a", 0.5, 1), App("b", 1.0, 1)]), "VGG19", change_penalty=1e-3)
    path = tmp_path / "schedule.json"
    s.write(path)
    back = load_schedule(path)
    assert back.windows == s.windows and back.window_s == 60.0 and back.settings["change_penalty"] == 1e-3
    check_schedule(back)
    data = json.loads(path.read_text())  # a file whose windows are out of order names itself and them
    data["windows"][1]["start"] = 30.0
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=re.escape(f"schedule {str(path)!r}.windows: starts must increase; "
                                                   "window 1 starts at 30 s, window 0 at 60 s")):
        load_schedule(path)


def test_a_schedule_whose_reconfigurations_its_plans_do_not_need_is_refused(tmp_path):
    """A schedule file whose windows' counts of reconfigurations were edited passed
    ``check_schedule``, and the text report gave their sum; each window's count is what its
    plan needs after the window before (the first window's: every function it starts)."""
    import dataclasses

    from harmonybatch_mp import PlanCheckError
    from harmonybatch_mp.schedule import reconfigurations

    trace = Trace({"a": (300.0, 600.0, 600.0, 30.0), "b": (1200.0, 900.0, 1500.0, 60.0)})
    s = replan(trace, Workload([App("a", 0.5, 1), App("b", 1.0, 1)]), "VGG19", change_penalty=1e-6)
    assert [w.reconfigurations for w in s.windows] == [
        reconfigurations(None if i == 0 else s.windows[i - 1].plan, w.plan) for i, w in enumerate(s.windows)]
    assert s.windows[0].reconfigurations == len(s.windows[0].plan.groups)
    check_schedule(s)
    path = tmp_path / "schedule.json"
    for i, count in ((0, 0), (1, s.windows[1].reconfigurations + 3)):
        data = json.loads(s.to_json())
        data["windows"][i]["reconfigurations"] = count
        path.write_text(json.dumps(data))
        said = (rf"window {i} \(start \d+ s\): {count} reconfigurations, but its plan starts or reconfigures "
                r"\d+ function\(s\) after the window before")
        with pytest.raises(PlanCheckError, match=said):
            check_schedule(load_schedule(path))
    edited = dataclasses.replace(s, windows=(s.windows[0], dataclasses.replace(s.windows[1], reconfigurations=9),
                                             *s.windows[2:]))
    with pytest.raises(PlanCheckError, match="window 1 .*: 9 reconfigurations"):
        check_schedule(edited)


@pytest.mark.parametrize("edit, said", [
    ({"warm_up_s": -1e308}, r"settings: warm_up_s: must be >= 0"),
    ({"change_penalty": "0"}, r"settings: change_penalty: expected a number, got '0'"),
    ({"window_min": 2}, r"settings: window_min 2 is not the window of 60 s"),
    ({"forecast": "max:0"}, r"settings: forecast: 'max:0': K: must be >= 1"),
    ({"forecast": 3}, r"settings: forecast: expected a str, got int"),
    ({"cost_model": "full"}, r"settings: cost_model must be one of expected, full-batch, got 'full'"),
    ({"solver": None}, r"settings: solver: expected a str, got NoneType"),
    ({"kept_at_time_limit": 3}, r"settings: kept_at_time_limit: must be <= 2, got 3"),
    ({"kept_at_time_limit": -1}, r"settings: kept_at_time_limit: must be >= 0"),
    ({"kept_at_time_limit": True}, r"settings: kept_at_time_limit: expected a number, got True"),
])
def test_a_schedule_s_settings_are_what_replan_could_have_recorded(tmp_path, edit, said):
    """A schedule file's settings loaded unchecked (``warm_up_s: -1e308``; ``kept_at_time_limit``,
    which the report reads, as any number); settings that are not an object were dropped; in
    code, settings that JSON cannot hold made ``to_json`` a TypeError. Keys of the user's own
    are kept as they are."""
    trace = Trace({"a": (300.0, 300.0, 300.0, 30.0), "b": (1200.0, 1200.0, 1200.0, 60.0)})
    s = replan(trace, Workload([App("a", 0.5, 1), App("b", 1.0, 1)]), "VGG19", time_limit=60.0)
    idle = sum(w.reconfigurations == 0 for w in s.windows[1:])
    assert idle == 2 and s.settings["kept_at_time_limit"] == 0 and s.settings["window_min"] == 1
    path = tmp_path / "schedule.json"
    data = json.loads(s.to_json())
    data["settings"] = {**data["settings"], "mine": [1, "two"], **edit}
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=rf"schedule '.*schedule\.json'\.{said}"):
        load_schedule(path)
    with pytest.raises(InputError, match=rf"^schedule: {said}"):
        Schedule(s.windows, s.window_s, data["settings"])
    data["settings"] = {**s.settings, "mine": [1, "two"]}
    path.write_text(json.dumps(data))
    assert load_schedule(path).settings == data["settings"]
    for other, said in (([1], "settings: expected a dict, got list"), ({"x": object()}, "not writable as JSON"),
                          ({"x": math.nan}, "not writable as JSON"), ({1: "x"}, "keys must be strings, got 1")):
        with pytest.raises(InputError, match=said):
            Schedule(s.windows, s.window_s, other)
    data["settings"] = "fast"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"\.settings: expected a dict, got str"):
        load_schedule(path)


def test_a_window_plan_edited_in_code_is_named_by_the_schedule_simulator():
    """A window whose plan was edited in code (a batch of 0) is a PlanCheckError naming the
    window, not an IndexError from inside the simulation."""
    import dataclasses

    from harmonybatch_mp import PlanCheckError
    from harmonybatch_mp.schedule import Window
    from harmonybatch_mp.schedule_sim import simulate_schedule

    trace = Trace({"a": (300.0, 600.0, 60.0), "b": (1200.0, 60.0, 1500.0)})
    s = replan(trace, Workload([App("a", 0.5, 1), App("b", 1.0, 1)]), "VGG19")
    plan = s.windows[1].plan
    bad = dataclasses.replace(plan, groups=(dataclasses.replace(plan.groups[0], batch=0),) + plan.groups[1:])
    edited = Schedule((s.windows[0], Window(s.windows[1].start, bad, 0)), s.window_s)
    with pytest.raises(PlanCheckError) as err:
        simulate_schedule(edited, trace)
    group = f"group 0 {list(plan.groups[0].apps)}"
    assert list(err.value.problems) == [f"window 1: {group}: batch: expected a whole number >= 1, got 0"]


def test_plan_at_is_the_plan_in_force():
    trace = Trace({"a": (300.0, 600.0, 60.0), "b": (1200.0, 60.0, 1500.0)})
    s = replan(trace, Workload([App("a", 0.5, 1), App("b", 1.0, 1)]), "VGG19")
    assert [w.start for w in s.windows] == [60.0, 120.0] and s.windows[0].plan != s.windows[1].plan
    for t, window in ((-math.inf, 0), (0.0, 0), (60.0, 0), (119.9, 0), (120.0, 1), (1e9, 1), (math.inf, 1)):
        assert s.plan_at(t) is s.windows[window].plan


def test_an_slo_file_in_json_needs_no_rates_as_one_in_csv_does(tmp_path, capsys):
    """An SLO file for re-planning takes its rates from the trace: in CSV it needed only
    ``name,slo``, but in JSON each app needed a ``rate`` ("entry 1.rate: missing field")."""
    slo_csv, slo_json, trace = tmp_path / "slo.csv", tmp_path / "slo.json", tmp_path / "t.csv"
    slo_csv.write_text("name,slo\na,0.5\nb,1.0\n")
    slo_json.write_text('[{"name": "a", "slo": 0.5}, {"name": "b", "slo": 1.0, "rate": 99}]')
    trace.write_text("a,60,120,90\nb,300,240,600\n")
    assert load_slos(slo_json) == load_slos(slo_csv) == Workload([App("a", 0.5, 1), App("b", 1.0, 1)])
    outs = []
    for slo in (slo_csv, slo_json):
        assert main(["replan", "--trace", str(trace), "--workload", str(slo), "--json"]) == 0
        windows = json.loads(capsys.readouterr().out)["windows"]
        outs.append([(w["start"], w["plan"]["groups"], w["plan"]["total_cost"]) for w in windows])
    assert outs[0] == outs[1] and len(outs[0]) == 2


def test_bad_traces_name_the_row_and_app(tmp_path, capsys):
    slo = tmp_path / "slo.csv"
    slo.write_text("name,slo\na,0.5\nb,1.0\n")
    for rows, needle in [("a,1,2,3\nb,1,2\n", "row 2 ('b'): 2 minutes, but the first row has 3"),
                         ("a,1,-2,3\nb,1,2,3\n", "row 1 ('a'), minute 2: must be >= 0"),
                         ("a,1,2,3\n", "no row for app(s) b"),
                         ("a,1,2,3\nb,1,2,3\nc,1,2,3\n", "app(s) c that the SLO file does not name"),
                         ("a,1\nb,1\n", "at least two windows")]:
        t = tmp_path / "t.csv"
        t.write_text(rows)
        assert main(["replan", "--trace", str(t), "--workload", str(slo)]) == 2
        assert needle in capsys.readouterr().err


def test_cli_replan_on_the_shipped_trace(tmp_path, capsys):
    out = tmp_path / "s.json"
    assert main(["replan", "--trace", str(AZURE / "slices.csv"), "--workload", str(AZURE / "slos.csv"),
                 "--window", "20", "--change-penalty", "0.001", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "5 windows of 20 min" in text
    s = Schedule.from_json(out.read_text())
    assert len(s.windows) == 5 and s.windows[0].start == 1200.0
    args = ["replan", "--trace", str(AZURE / "slices.csv"), "--workload", str(AZURE / "slos.csv"), "--window", "20"]
    assert main([*args, "--time-limit", "30"]) == 0 and "5 windows of 20 min" in capsys.readouterr().out
    for bad in ("0", "-1", "inf", "nan"):
        assert main([*args, "--time-limit", bad]) == 2
        assert "--time-limit must be a finite number of seconds > 0" in capsys.readouterr().err
    assert main([*args, "--solver", "greedy", "--time-limit", "30"]) == 0  # (every solver takes a time limit)
    assert "5 windows of 20 min" in capsys.readouterr().out


@settings(max_examples=25)
@given(counts=st.lists(st.lists(st.integers(0, 2000), min_size=5, max_size=5), min_size=3, max_size=3),
       penalty=st.sampled_from([0.0, 1e-4, 1e-3]), window=st.sampled_from([1, 2]))
def test_schedule_simulation_conserves_requests_across_switches(counts, penalty, window):
    """Every request after the warm-up is served exactly once, by the plan in force at its
    arrival, within its SLO, whatever the switches (deterministic arrivals: c per minute,
    evenly spaced, so the expected count is known)."""
    import harmonybatch_mp.schedule_sim as sim

    def even(rng, rate, duration, minutes):
        return np.concatenate([60.0 * m + (np.arange(int(c)) + 0.5) * 60.0 / max(int(c), 1)
                               for m, c in enumerate(minutes)] or [np.empty(0)])

    names = ("a", "b", "c")
    trace = Trace({n: tuple(float(x) for x in c) for n, c in zip(names, counts)})
    slos = Workload([App(n, s, 1) for n, s in zip(names, (0.4, 0.7, 1.0))])
    schedule = replan(trace, slos, "VGG19", window_min=window, change_penalty=penalty)
    event("the plan switches after the first window" if any(w.reconfigurations for w in schedule.windows[1:])
          else "one plan throughout")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sim, "_arrivals", even)
        result = sim.simulate_schedule(schedule, trace, seed=0)
    start = int(schedule.windows[0].start // 60)
    want = sum(sum(int(x) for x in c[start:]) for c in counts)
    assert result.overall.requests == result.overall.completed == want
    assert sum(w["requests"] for w in result.windows) == want
    assert sum(m.requests for m in result.apps.values()) == want
    assert result.overall.slo_violations == 0
    assert result.reconfigurations == schedule.total_reconfigurations


def test_cli_simulates_a_schedule(tmp_path, capsys):
    out = tmp_path / "s.json"
    assert main(["replan", "--trace", str(AZURE / "slices.csv"), "--workload", str(AZURE / "slos.csv"),
                 "--window", "30", "--change-penalty", "0.001", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["simulate", str(out), "--trace", str(AZURE / "slices.csv"), "--json"]) == 0
    d = __import__("json").loads(capsys.readouterr().out)
    assert {"overall", "apps", "windows", "reconfigurations"} <= set(d) and len(d["windows"]) == 3
    assert d["overall"]["slo_violations"] == 0
    assert main(["simulate", str(out), "--trace", str(AZURE / "slices.csv"), "--no-progress"]) == 0
    table = capsys.readouterr().out  # (the table of a schedule's simulation: refused for a while by a type check)
    assert "overall" in table and all(name in table for name in d["apps"])
    assert main(["simulate", str(out)]) == 2
    assert "give --trace" in capsys.readouterr().err


def test_an_unchanged_forecast_keeps_the_plan_even_when_rates_move():
    """max:3 sees the same peak while the rates below it move: no re-plan, no change."""
    trace = Trace({"a": (600.0, 100.0, 200.0, 300.0), "b": (900.0, 900.0, 300.0, 600.0)})  # window 0 holds the peak
    s = replan(trace, Workload([App("a", 0.5, 1), App("b", 1.0, 1)]), "VGG19", forecast="max:3",
               change_penalty=0.0)
    assert [w.reconfigurations for w in s.windows][1:] == [0, 0]
    assert all(w.plan is s.windows[0].plan for w in s.windows)


@pytest.mark.parametrize("penalty", [0.0, 1e-3])
def test_a_time_limit_bounds_the_whole_replan(monkeypatch, penalty):
    """``time_limit`` bounds the call, not each window: every window's plan is given a share
    of what is left that ends by the deadline. It used to reach each window's solve whole: 12
    apps over 7 windows with a 1 s limit took 3.5 s (6.5 s with the penalty)."""
    import time

    import harmonybatch_mp.replan as rp

    rng = np.random.default_rng(0)
    names = [f"a{i}" for i in range(12)]
    slos = Workload([App(n, 0.4 + 0.1 * i, 1) for i, n in enumerate(names)])
    trace = Trace({n: tuple(int(x) for x in rng.integers(30, 3000, 8)) for n in names})
    given = []
    real = rp.solve

    def spy(*args, **kwargs):
        given.append((time.perf_counter(), kwargs["time_limit"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(rp, "solve", spy)
    limit = 1.0
    start = time.perf_counter()
    schedule = replan(trace, slos, "VGG19", change_penalty=penalty, time_limit=limit)
    elapsed = time.perf_counter() - start
    assert len(schedule.windows) == 7 and given
    late = [at + share - (start + limit) for at, share in given]
    assert max(late) < 0.01, late  # each share ends by the deadline (read a little later here)
    assert elapsed < limit + 0.5, elapsed  # what solve() may overrun its own limits by, with room to spare
    for w in schedule.windows:
        check_plan(w.plan)


@pytest.mark.parametrize("penalty", [0.0, 1e-3])
def test_no_window_is_planned_past_the_deadline(monkeypatch, penalty):
    """Once the deadline has passed, each window keeps the running plan without a solve: with
    every window planned at a limit of 0, 119 windows given 0.01 s took 0.46 s. Only the first
    window, with no plan to keep, is planned past it."""
    import harmonybatch_mp.replan as rp

    trace = load_trace(AZURE / "slices.csv")
    slos = Workload([App(n, s, 1) for n, s in zip(("app1", "app2", "app3", "app4"), (0.3, 0.5, 0.8, 1.0))])
    calls = []
    real_solve, real_penalised = rp.solve, rp._penalised

    def solve_spy(*args, **kwargs):
        calls.append("solve")
        return real_solve(*args, **kwargs)

    def penalised_spy(*args, **kwargs):
        calls.append("penalised")
        return real_penalised(*args, **kwargs)

    monkeypatch.setattr(rp, "solve", solve_spy)
    monkeypatch.setattr(rp, "_penalised", penalised_spy)
    schedule = replan(trace, slos, "VGG19", change_penalty=penalty, time_limit=0)
    assert len(set(map(tuple, window_rates(trace, ["app1", "app2", "app3", "app4"], 1)[:-1].tolist()))) > 100  # forecasts change
    assert calls == ["solve"] and len(schedule.windows) == trace.minutes - 1
    assert all(w.plan is schedule.windows[0].plan and w.reconfigurations == 0 for w in schedule.windows[1:])
    check_schedule(schedule)
    # counted apart from windows whose forecast did not change, and reported
    assert 100 < schedule.settings["kept_at_time_limit"] <= len(schedule.windows) - 1
    assert f"{schedule.settings['kept_at_time_limit']} window(s) kept the running plan" in format_schedule(schedule)
    assert "kept_at_time_limit" not in replan(Trace({k: c[:4] for k, c in trace.counts.items()}), slos,
                                              "VGG19").settings


def test_baselines_plan_the_warm_up_the_last_window_and_each_window_s_own_rates():
    trace = load_trace(AZURE / "slices.csv")
    short = Trace({k: c[:5] for k, c in trace.counts.items()})
    names = ["app1", "app2", "app3", "app4"]
    slos = Workload([App(n, s, 1) for n, s in zip(names, (0.3, 0.5, 0.8, 1.0))])
    out = baselines(short, slos, "VGG19", cost_model="full-batch")
    rates = window_rates(short, names, 1)
    planned = {}
    for name, schedule in out.items():
        check_schedule(schedule)
        planned[name] = [[{a.name: a.rate for a in w.plan.workload.apps}[n] for n in names] for w in schedule.windows]
    assert np.allclose(planned["static"], rates[:1])
    assert np.allclose(planned["oracle"], rates[1:])
    assert np.allclose(planned["from-scratch"], rates[:-1])
    alone = replan(short, slos, "VGG19", cost_model="full-batch")
    assert [w.plan.total_cost for w in out["from-scratch"].windows] == [w.plan.total_cost for w in alone.windows]
    # the window as replan takes it: "2" was a TypeError in the baselines' window length, and text is not a number
    two = baselines(short, slos, "VGG19", window_min=np.int64(2), solver="dp")
    assert {s.window_s for s in two.values()} == {120.0}
    for call in (baselines, replan):
        with pytest.raises(InputError, match=r"window \(minutes\): expected a number, got '2'"):
            call(short, slos, "VGG19", window_min="2", solver="dp")


def test_a_time_limit_bounds_the_baselines_whole(monkeypatch):
    """``time_limit`` is shared among the baselines' plans: each window of the oracle used to
    get all of it (119 windows). Past the deadline an oracle window keeps its running plan,
    and the from-scratch schedule plans only its first window."""
    import harmonybatch_mp.replan as rp

    trace = load_trace(AZURE / "slices.csv")
    slos = Workload([App(n, s, 1) for n, s in zip(("app1", "app2", "app3", "app4"), (0.3, 0.5, 0.8, 1.0))])
    given = []
    real = rp.solve

    def spy(*args, **kwargs):
        given.append(kwargs.get("time_limit"))
        return real(*args, **kwargs)

    monkeypatch.setattr(rp, "solve", spy)
    out = baselines(trace, slos, "VGG19", time_limit=0)
    assert given == [0.0, 0.0, 0.0]  # the static plan, and the first window of each schedule
    for schedule in out.values():
        check_schedule(schedule)
        assert all(w.plan is schedule.windows[0].plan for w in schedule.windows)
    given.clear()
    monkeypatch.setattr(rp, "kept_seconds", lambda n, cost_model: 0.5)  # (solve's own varies with collections)
    baselines(Trace({k: c[:4] for k, c in trace.counts.items()}), slos, "VGG19", time_limit=30)
    # the static plan and the oracle's three windows: shares of what is left among 7, 6, 5 and 4
    # plans, each on top of what solve keeps of a limit
    assert len(given) == 7 and all(29 / (7 - i) < given[i] - 0.5 <= 30 / (7 - i) for i in range(4)), given


def test_a_share_of_a_replan_s_limit_comes_on_top_of_what_solve_keeps(monkeypatch, stopped_clock):
    """Each window's limit is its share of what is left plus what ``solve`` keeps of a limit
    for finishing, at most what is left. Given the share alone, 119 windows sharing 5 s got
    0.042 s each, less than solve keeps (0.06 s): greedy was left no time for the first window
    and the replan raised, and dp's windows kept running plans, in a call that took 0.7 s
    unbounded. On the suite's stopped clock 5 s stay left throughout."""
    import harmonybatch_mp.replan as rp
    import harmonybatch_mp.solvers as solvers_module

    # what solve keeps depends on the process's last full collection, which the stopped clock times as 0
    monkeypatch.setattr(solvers_module, "_full_collection", [0.0, 0.0])
    trace = load_trace(AZURE / "slices.csv")
    slos = Workload([App(n, s, 1) for n, s in zip(("app1", "app2", "app3", "app4"), (0.3, 0.5, 0.8, 1.0))])
    kept, given, real = rp.kept_seconds(4, "expected"), [], rp.solve

    def spy(*args, **kwargs):
        given.append(kwargs.get("time_limit"))
        return real(*args, **kwargs)

    monkeypatch.setattr(rp, "solve", spy)
    for solver in ("greedy", "dp"):
        free = replan(trace, slos, "VGG19", change_penalty=1e-3, solver=solver)
        given.clear()
        limited = replan(trace, slos, "VGG19", change_penalty=1e-3, solver=solver, time_limit=5)
        assert limited.settings["kept_at_time_limit"] == 0 and len(given) > 100
        assert given[0] == pytest.approx(5 / 119 + kept) and given[-1] == 5.0  # the last window: all that is left
        assert all(g >= 5 / 119 + kept for g in given)
        assert [w.plan.groups for w in limited.windows] == [w.plan.groups for w in free.windows]
    given.clear()
    out = baselines(trace, slos, "VGG19", solver="greedy", time_limit=5)
    assert given[0] == pytest.approx(5 / (2 * 119 + 1) + kept) and all(g >= given[0] for g in given)
    assert out["from-scratch"].settings["kept_at_time_limit"] == 0


def test_a_window_with_no_plan_in_its_share_keeps_the_running_plan(monkeypatch):
    """Under a short limit a later window may get no plan within its share (300 high-rate apps,
    10 windows, 1 s: pricing the apps alone did not fit), and the whole replan raised, losing
    the windows planned. It keeps the running plan there, as an unchanged forecast does; the
    first window, with none to keep, raises."""
    import harmonybatch_mp.replan as rp
    from harmonybatch_mp import SolverError

    trace = load_trace(AZURE / "slices.csv")
    short = Trace({k: c[:6] for k, c in trace.counts.items()})
    slos = Workload([App(n, s, 1) for n, s in zip(("app1", "app2", "app3", "app4"), (0.3, 0.5, 0.8, 1.0))])
    real, calls, failing = rp.solve, [0], {2}

    def out_of_time(*args, **kwargs):
        calls[0] += 1
        if calls[0] in failing:
            raise SolverError("time limit reached while pricing the apps alone", time_limit=True)
        return real(*args, **kwargs)

    monkeypatch.setattr(rp, "solve", out_of_time)
    schedule = replan(short, slos, "VGG19", time_limit=60)
    assert calls[0] == len(schedule.windows) == 5
    assert schedule.windows[1].plan is schedule.windows[0].plan and schedule.windows[1].reconfigurations == 0
    assert schedule.windows[2].plan is not schedule.windows[0].plan
    assert schedule.settings["kept_at_time_limit"] == 1
    check_schedule(schedule)
    calls[0], failing = 0, {1, 2}
    with pytest.raises(SolverError, match="pricing the apps alone"):
        replan(short, slos, "VGG19", time_limit=60)


def test_a_first_plan_with_none_in_its_share_takes_all_that_is_left(monkeypatch):
    """The first window of a replan, and the baselines' static plan and first oracle window,
    have no running plan to keep: with none within its share, the plan is made again within
    all that is left of the limit (the whole replan used to raise)."""
    import harmonybatch_mp.replan as rp
    from harmonybatch_mp import SolverError

    trace = load_trace(AZURE / "slices.csv")
    short = Trace({k: c[:6] for k, c in trace.counts.items()})
    slos = Workload([App(n, s, 1) for n, s in zip(("app1", "app2", "app3", "app4"), (0.3, 0.5, 0.8, 1.0))])
    real, given, failing = rp.solve, [], {1}

    def out_of_time(*args, **kwargs):
        given.append(kwargs["time_limit"])
        if len(given) in failing:
            raise SolverError("time limit reached while pricing the apps alone", time_limit=True)
        return real(*args, **kwargs)

    monkeypatch.setattr(rp, "solve", out_of_time)
    schedule = replan(short, slos, "VGG19", time_limit=60)
    assert len(given) == 6 and given[0] < 60 / 5 + 1 < 59 < given[1] <= 60  # its share, then all that is left
    assert schedule.settings["kept_at_time_limit"] == 0
    check_schedule(schedule)
    for failing in ({1}, {2}):  # the static plan; the oracle's first window
        given.clear()
        out = baselines(short, slos, "VGG19", time_limit=60)
        assert 59 < given[failing.pop()] <= 60
        for schedule in out.values():
            check_schedule(schedule)


def test_every_running_group_keeps_its_column_whatever_its_apps_are_named(monkeypatch):
    """Groups {a, b} and {a+b} both labelled 'a+b': the second running column replaced the
    first, and the model lost a group's free way to stay as it is."""
    import harmonybatch_mp.replan as rp
    from harmonybatch_mp.solvers.model import SetPartitioningModel

    w = Workload([App("a", 0.6, 20), App("b", 0.6, 30), App("a+b", 1.0, 40)])
    running = solve(w, "VGG19", cost_model="full-batch")
    assert sorted(g.apps for g in running.groups) == [("a", "b"), ("a+b",)]
    seen = []
    real = SetPartitioningModel.solution

    def spy(self, *args, **kwargs):
        seen.append(self.columns)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SetPartitioningModel, "solution", spy)
    plan = rp._penalised(w, running.profile, running.platform, running, 1.0, 60.0, "full-batch", {})
    masks = {c.mask for key, c in seen[0].items() if key[1] == "running"}
    assert len(masks) == 2 and sum(masks) == 7
    assert rp.reconfigurations(running, plan) == 0


def test_function_key_names_arguments_of_the_wrong_kind():
    plan = solve("0.3:2,0.5:5", "VGG19")
    group = plan.groups[0]
    assert function_key(group.apps, group)[0] == frozenset(group.apps)
    for apps, fn, needle in [(None, group, "apps: expected an iterable of app names, got NoneType"),
                             (["app0"], None, "NoneType has no kind"),
                             (["app0"], 3, "int has no kind")]:
        with pytest.raises(InputError, match=needle):
            function_key(apps, fn)
