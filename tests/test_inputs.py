"""Bad input gets a clear InputError naming the culprit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harmonybatch_mp import (
    App,
    InputError,
    SolverInfo,
    Workload,
    builtin_profile,
    load_platform,
    load_profile,
    load_workload,
    parse_apps,
    platform_from_dict,
    preset,
    profile_from_dict,
)


@pytest.mark.parametrize("name", ["VGG19", "vgg19", "BERT", "Bert", "GPT-2", "gpt2", "VideoMAE", "video_mae"])
def test_builtin_names(name):
    assert builtin_profile(name).cpu_batches == 4


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(InputError, match=r"unknown model 'resnet50'.*VGG19, BERT, GPT-2, VideoMAE"):
        builtin_profile("resnet50")


def test_profiles_round_trip_and_cite_the_paper():
    for name in ("VGG19", "BERT", "GPT-2", "VideoMAE"):
        p = builtin_profile(name)
        assert profile_from_dict(p.to_dict()) == p
        assert "arXiv:2405.05633" in p.source


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d["cpu"]["latency_avg"][2].update(alpha=float("nan")), r"cpu\.latency_avg\[2\] \(batch 3\)\.alpha: must be finite"),
        (lambda d: d["cpu"]["latency_max"][0].update(beta=-1), r"latency_max\[0\] \(batch 1\)\.beta: must be > 0"),
        (lambda d: d["cpu"]["latency_max"].pop(), r"latency_avg covers batch 1\.\.4 but latency_max covers 1\.\.3"),
        (lambda d: d["gpu"].pop("xi1"), r"gpu\.xi1: missing field"),
        (lambda d: d["gpu"].update(time_slice_s="fast"), r"gpu\.time_slice_s: expected a number"),
        (lambda d: d["gpu"].update(memory_thresholds=[4, 2]), r"memory_thresholds: must be non-decreasing"),
        (lambda d: d["cpu"]["memory_mb"].update(base=float("inf")), r"memory_mb\.base: must be finite"),
        (lambda d: d.update(name=""), r"name: expected a non-empty string"),
        (lambda d: d["gpu"].update(device_memory_gb=2.5), r"device_memory_gb: expected a whole number"),
    ],
)
def test_profile_validation_names_the_field(edit, match):
    d = builtin_profile("VGG19").to_dict()
    edit(d)
    with pytest.raises(InputError, match=match):
        profile_from_dict(d)


@pytest.mark.parametrize("edit, match", [
    (lambda d: d["gpu"].update(xi1=1e308), r"average latency inf for GPU 1 GB, batch 1"),
    (lambda d: d["gpu"].update(time_slice_s=1e308), r"maximum latency inf for GPU \d+ GB, batch \d+"),
    (lambda d: d["cpu"]["memory_mb"].update(per_request=1e308), r"memory inf for CPU 0.05 vCPU, batch 2"),
])
def test_a_profile_whose_latencies_overflow_is_named(edit, match):
    """Coefficients each finite but so large that the model overflows: the grid held NaN
    latencies and costs, which every comparison passed over, and numpy warned on stderr."""
    import warnings

    from harmonybatch_mp import config_grid, solve

    d = builtin_profile("VGG19").to_dict()
    edit(d)
    profile = profile_from_dict(d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match=r"profile 'VGG19' on this platform: " + match + ".*out of range"):
            config_grid(profile, preset())
        with pytest.raises(InputError, match="out of range"):
            solve("0.5:5", profile)


def test_a_vanishing_cpu_curve_scale_is_its_limit():
    """``beta`` tiny: ``exp(-c / beta)`` is 0 (numpy warned of the overflow on the way)."""
    import warnings

    from harmonybatch_mp import config_grid

    d = builtin_profile("VGG19").to_dict()
    d["cpu"]["latency_avg"][0]["beta"] = 1e-308
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grid = config_grid(profile_from_dict(d), preset())
    first = (grid.kind == 0) & (grid.batch == 1)
    assert (grid.latency_avg[first] == d["cpu"]["latency_avg"][0]["gamma"]).all()


def test_profile_file_errors(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        load_profile(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    with pytest.raises(InputError, match=r"bad\.json.*invalid JSON at line 1"):
        load_profile(bad)
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps(builtin_profile("GPT-2").to_dict()))
    assert load_profile(ok) == builtin_profile("GPT-2")


def test_presets_and_platform_files(tmp_path):
    assert preset("paper").gpu_timeslice_overhead == 1.0
    assert preset("reference").gpu_timeslice_overhead == 1.2
    with pytest.raises(InputError, match="unknown preset 'aws'"):
        preset("aws")
    d = preset().to_dict()
    assert platform_from_dict(d) == preset()
    d["prices"]["cpu_per_vcpu_s"] = -1
    with pytest.raises(InputError, match=r"prices\.cpu_per_vcpu_s: must be >= 0"):
        platform_from_dict(d)
    d = preset().to_dict()
    d["vcpu_grid"]["max"] = 16.03
    with pytest.raises(InputError, match="multiples of step"):
        platform_from_dict(d)
    f = tmp_path / "p.json"
    f.write_text(json.dumps(preset("paper").to_dict()))
    assert load_platform(f) == preset("paper")


def _objects(data, path=()):
    """Every JSON object in ``data`` (itself included), with its path of keys and list places."""
    if isinstance(data, dict):
        yield path, data
        for key, value in data.items():
            yield from _objects(value, path + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _objects(value, path + (i,))


@pytest.mark.parametrize("kind, name", [("profile", "VGG19"), ("profile", "GPT-2"), ("platform", "reference"),
                                        ("platform", "paper")])
def test_a_field_the_schema_does_not_have_is_named_wherever_it_is(kind, name):
    """A profile's ``gpu_share`` and ``cpu_share`` are optional: misspelt, they were read as their
    defaults (1 and 0), and the plan was priced on another model with no word said. Every
    object of a profile or platform (each curve, ``memory_mb``, ``prices``...) now refuses a field
    it does not have, naming where it is, the field, and the one it is closest to."""
    read = profile_from_dict if kind == "profile" else platform_from_dict
    data = (builtin_profile(name) if kind == "profile" else preset(name)).to_dict()
    objects = list(_objects(data))
    assert len(objects) >= (12 if kind == "profile" else 4)
    for path, obj in objects:
        for key in obj:
            edited = json.loads(json.dumps(data))
            target = edited
            for step in path:
                target = target[step]
            target[key + "s"] = target.pop(key)  # the field misspelt
            with pytest.raises(InputError, match=rf"unknown field '{key}s' \(did you mean '{key}'\?\); its fields: "):
                read(edited)
            target[key] = target.pop(key + "s")
            target["?"] = 1  # a field like none of them
            with pytest.raises(InputError, match=r": unknown field '\?'; its fields: "):
                read(edited)
    assert read(data) == (builtin_profile(name) if kind == "profile" else preset(name))


def test_an_unknown_field_of_a_profile_file_names_the_file_and_the_field(tmp_path):
    d = builtin_profile("BERT").to_dict()
    d["gpu"]["gpu_shares"] = 0.5
    f = tmp_path / "bert.json"
    f.write_text(json.dumps(d))
    with pytest.raises(InputError, match=r"profile '.*bert\.json'\.gpu: unknown field 'gpu_shares' \(did you mean "
                                         r"'gpu_share'\?\)"):
        load_profile(f)
    d = preset().to_dict()
    d["vcpu_grid"]["stepp"] = 0.1
    f = tmp_path / "platform.json"
    f.write_text(json.dumps(d))
    with pytest.raises(InputError, match=r"platform '.*platform\.json'\.vcpu_grid: unknown field 'stepp'"):
        load_platform(f)


def test_the_prefix_of_messages_is_a_string():
    """``where`` named the input in messages; an array there raised numpy's "truth value of an
    array is ambiguous" instead of naming the argument."""
    for parse, data in ((platform_from_dict, preset().to_dict()),
                        (profile_from_dict, builtin_profile("BERT").to_dict())):
        assert parse(data, "mine") == parse(data)
        for where in (np.array([1.0, 2.0]), None, 3):
            with pytest.raises(InputError, match="where: expected a string"):
                parse(data, where)


def test_a_solver_status_is_a_string():
    """A status given as an array raised numpy's "truth value ... is ambiguous"."""
    assert SolverInfo("mine", status=np.str_("optimal")).status == "optimal"
    for status in (np.array(["optimal", "heuristic"]), None, 1, "Optimal"):
        with pytest.raises(InputError, match="solver status must be one of"):
            SolverInfo("mine", status=status)


@pytest.mark.parametrize(
    "slo, rate, match",
    [
        (0.5, -1.0, r"app 'a': rate: must be > 0"),
        (0.5, float("nan"), r"app 'a': rate: must be finite"),
        (float("nan"), 1.0, r"app 'a': slo: must be finite"),
        (0.0, 1.0, r"app 'a': slo: must be > 0"),
        ("x", 1.0, r"app 'a': slo: expected a number"),
    ],
)
def test_app_validation(slo, rate, match):
    with pytest.raises(InputError, match=match):
        App("a", slo, rate)


def test_workload_validation():
    with pytest.raises(InputError, match="empty workload"):
        Workload([])
    with pytest.raises(InputError, match="'a' appears twice"):
        Workload([App("a", 1, 1), App("a", 2, 2)])
    with pytest.raises(InputError, match=r"--apps item 2 '0.5:': expected|app 'app1': rate"):
        parse_apps("1:1,0.5:")
    with pytest.raises(InputError, match="empty workload"):
        parse_apps("")
    with pytest.raises(InputError, match="app 'app0': rate: must be > 0"):
        parse_apps("0.5:-3")


def test_canonical_order_slo_rate_name():
    w = Workload([App("c", 1.0, 2), App("b", 0.5, 3), App("a", 0.5, 3), App("d", 0.5, 1)])
    assert [a.name for a in w.apps] == ["d", "a", "b", "c"]


def test_workload_files(tmp_path):
    f = tmp_path / "w.csv"
    f.write_text("name,slo,rate\nsearch,0.5,5\nads, 1.0 ,20\n")
    assert [(a.name, a.slo, a.rate) for a in load_workload(f).apps] == [("search", 0.5, 5.0), ("ads", 1.0, 20.0)]
    j = tmp_path / "w.json"
    j.write_text(json.dumps([{"name": "x", "slo": 0.3, "rate": 2}]))
    assert load_workload(j).apps[0] == App("x", 0.3, 2)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,slo\nx,0.5\n")
    with pytest.raises(InputError, match=r"missing column\(s\) rate"):
        load_workload(bad)
    bad.write_text("name,slo,rate\nx,0.5,fast\n")
    with pytest.raises(InputError, match=r"bad\.csv', line 2: rate: expected a number"):
        load_workload(bad)
    bad.write_text("name,slo,rate\n")
    with pytest.raises(InputError, match="empty workload"):
        load_workload(bad)
    j.write_text(json.dumps([{"name": "x", "slo": 0.3}]))
    with pytest.raises(InputError, match=r"entry 1\.rate: missing field"):
        load_workload(j)
    j.write_text(json.dumps({"name": "x"}))
    with pytest.raises(InputError, match="expected a list"):
        load_workload(j)


def test_numbers_given_as_text_are_read_from_csv_files_and_command_lines_only(tmp_path):
    """A JSON ``"1"`` is a string: a profile coefficient, a price, an SLO or a plan's cost given
    as text in a JSON file, or to ``App`` in code, was read as the number. CSV fields and
    command-line arguments are text, and are still read as numbers."""
    from harmonybatch_mp import Plan, solve
    from harmonybatch_mp.profiler.measurements import load_measurements
    from harmonybatch_mp.replan import Forecast
    from harmonybatch_mp.trace import load_trace

    with pytest.raises(InputError, match=r"app 'x': slo: expected a number, got '0\.3'"):
        App("x", "0.3", 2)
    with pytest.raises(InputError, match=r"app 'x': rate: expected a number, got b'2'"):
        App("x", 0.3, b"2")
    f = tmp_path / "w.json"
    f.write_text(json.dumps([{"name": "x", "slo": 0.3, "rate": "2"}]))
    with pytest.raises(InputError, match=r"app 'x': rate: expected a number, got '2'"):
        load_workload(f)
    profile = builtin_profile("VGG19").to_dict()
    profile["cpu"]["latency_avg"][0]["alpha"] = "1"
    f.write_text(json.dumps(profile))
    with pytest.raises(InputError, match=r"latency_avg\[0\] \(batch 1\)\.alpha: expected a number, got '1'"):
        load_profile(f)
    platform = preset().to_dict()
    platform["prices"]["cpu_per_vcpu_s"] = "9e-05"
    f.write_text(json.dumps(platform))
    with pytest.raises(InputError, match=r"prices\.cpu_per_vcpu_s: expected a number, got '9e-05'"):
        load_platform(f)
    plan = solve("0.5:5", "VGG19", cost_model="full-batch").to_dict()
    plan["total_cost"] = str(plan["total_cost"])
    with pytest.raises(InputError, match=r"plan\.total_cost: expected a number, got '"):
        Plan.from_dict(plan)
    csv = tmp_path / "w.csv"
    csv.write_text("name,slo,rate\nx,0.3,2\n")
    assert load_workload(csv).apps == (App("x", 0.3, 2.0),)
    assert [(a.slo, a.rate) for a in parse_apps("0.3:2").apps] == [(0.3, 2.0)]
    csv.write_text("name,m1,m2\nx,60,120\n")
    assert load_trace(csv).counts == {"x": (60.0, 120.0)}
    csv.write_text("kind,vcpu,gpu_mem_gb,batch,latency_s\ncpu,2,,4,0.5\n")
    assert load_measurements(csv).latency.tolist() == [0.5]
    assert Forecast.parse("max:3").k == 3 and Forecast.parse("ewma:0.5").alpha == 0.5


@pytest.mark.parametrize("reader, header", [
    ("workload", "name,slo,rate"), ("slos", "name,slo"), ("measurements", "kind,vcpu,gpu_mem_gb,batch,latency_s"),
    ("trace", "name,m1,m2"),
])
def test_csv_rows_wider_than_the_header_or_past_the_field_limit(tmp_path, reader, header):
    """A row with a cell more than the header has, or a cell longer than the csv module's
    field limit, is an InputError naming the file and line (they were an AttributeError and
    a csv.Error)."""
    from harmonybatch_mp.profiler import load_measurements
    from harmonybatch_mp.replan import load_slos
    from harmonybatch_mp.trace import load_trace

    load = {"workload": load_workload, "slos": load_slos, "measurements": load_measurements,
            "trace": load_trace}[reader]
    row = {"workload": "a,0.5,5", "slos": "a,0.5", "measurements": "cpu,1,0,1,0.5", "trace": "a,1,2"}[reader]
    f = tmp_path / "in.csv"
    if reader != "trace":  # a trace's rows are as wide as they are long (every row the same, checked)
        f.write_text(f"{header}\n\n{row},7\n")
        with pytest.raises(InputError, match=rf"in\.csv', line 3: {row.count(',') + 2} cells, more than the "
                                             rf"header's {header.count(',') + 1} columns"):
            load(f)
    f.write_text(f"{header}\n{row}\n{'x' * 200_000},1\n")
    with pytest.raises(InputError, match=r"in\.csv', line 3: field larger than field limit"):
        load(f)


def test_cpu_only_profile_plans_on_cpu():
    from harmonybatch_mp import check_plan, parse_apps, solve
    from harmonybatch_mp.provision import config_grid

    d = builtin_profile("VGG19").to_dict()
    d["gpu"] = None
    d["name"] = "VGG19-cpu"
    p = profile_from_dict(d)
    assert not p.has_gpu and profile_from_dict(p.to_dict()) == p
    assert len(config_grid(p, preset())) == 1280
    plan = solve(parse_apps("0.5:5,0.8:10,1.0:20"), p, preset(), solver="milp")
    check_plan(plan)
    assert {g.kind for g in plan.groups} == {"cpu"}
