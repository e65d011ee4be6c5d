"""The model profiler: round trips from known profiles, bad files, warnings, measuring, CLI, example."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from harmonybatch_mp import BUILTIN_MODELS, InputError, builtin_profile, check_plan, parse_apps, preset, solve
from harmonybatch_mp.cli import main
from harmonybatch_mp.latency import cpu_latency, gpu_base_latency, gpu_latency_avg, gpu_latency_max
from harmonybatch_mp.profiler import (
    ProfileFitWarning,
    fit_profile,
    load_measurements,
    measurements_from_rows,
    profile_callable,
    write_measurements,
)
from harmonybatch_mp.profiler.fit import _quality
from harmonybatch_mp.profiles import ExpCurve
from synth import synth_rows

GRID_C = np.arange(1, 321) * 0.05
GRID_M, GRID_B = np.meshgrid(np.arange(1, 25), np.arange(1, 33))
TOL = 0.05


def fit(meas, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProfileFitWarning)
        return fit_profile(meas, **kw)


def cpu_errors(true, fitted):
    """Worst relative error per (stat, batch) across the vCPU grid. Where a profile's maximum
    lies below its average (published VideoMAE, batches 2-3, below ~3 vCPU), the generated
    samples peak near the average, so the max curve is compared to max(L_max, L_avg)."""
    out = {}
    for b in range(1, true.cpu_batches + 1):
        avg = cpu_latency(true, GRID_C, b)
        mx = np.maximum(cpu_latency(true, GRID_C, b, stat="max"), avg)
        out[("avg", b)] = float(np.max(np.abs(cpu_latency(fitted, GRID_C, b) / avg - 1)))
        out[("max", b)] = float(np.max(np.abs(cpu_latency(fitted, GRID_C, b, stat="max") / mx - 1)))
    return out


def gpu_errors(true, fitted, platform):
    avg = np.abs(gpu_latency_avg(fitted, platform, GRID_M, GRID_B) / gpu_latency_avg(true, platform, GRID_M, GRID_B) - 1)
    mx = np.abs(gpu_latency_max(fitted, platform, GRID_M, GRID_B) / gpu_latency_max(true, platform, GRID_M, GRID_B) - 1)
    return float(avg.max()), mx


@pytest.mark.parametrize("model", BUILTIN_MODELS)
def test_round_trip_builtin_profiles(model):
    true, platform = builtin_profile(model), preset()
    result = fit(synth_rows(true, platform, np.random.default_rng(1)), name=model)
    errs = cpu_errors(true, result.profile)
    # The one exception: VideoMAE's published max curves of batches 2 and 3 cross below their
    # averages; the kinked curve max(L_max, L_avg) is fitted to within 7% (measured 6.4%).
    kinked = {("max", 2), ("max", 3)} if model == "VideoMAE" else set()
    assert all(e <= (0.07 if k in kinked else TOL) for k, e in errs.items()), errs
    avg_err, max_err = gpu_errors(true, result.profile, platform)
    assert avg_err <= TOL and max_err.max() <= TOL
    assert result.profile.time_slice == pytest.approx(true.time_slice, rel=0.01)
    assert result.profile.gpu_share == pytest.approx(true.gpu_share, abs=0.01)


@st.composite
def random_profiles(draw):
    base = builtin_profile("VGG19")
    avg, mx = [], []
    for _ in range(4):
        a, b, g = draw(st.floats(0.5, 20)), draw(st.floats(0.2, 3)), draw(st.floats(0.05, 2))
        avg.append(ExpCurve(a, b, g))
        mx.append(ExpCurve(a * draw(st.floats(1.05, 1.5)), b, g * draw(st.floats(1.05, 1.5))))
    a = draw(st.floats(0.3, 1.0))
    return dataclasses.replace(base, cpu_avg=tuple(avg), cpu_max=tuple(mx), xi1=draw(st.floats(1e-4, 0.05)),
                               xi2=draw(st.floats(0.0, 0.1)), time_slice=draw(st.floats(0.001, 0.005)),
                               gpu_share=a, cpu_share=1 - a)


@settings(max_examples=15)
@given(random_profiles(), st.sampled_from(["reference", "paper"]), st.integers(0, 1000))
def test_round_trip_random_coefficients(true, preset_name, seed):
    platform = preset(preset_name)
    result = fit(synth_rows(true, platform, np.random.default_rng(seed)), platform=platform)
    errs = cpu_errors(true, result.profile)
    assert max(errs.values()) <= TOL, errs
    avg_err, max_err = gpu_errors(true, result.profile, platform)
    assert avg_err <= TOL
    # L_max jumps where the slice count n = ceil(a L0 / (m tau)) steps. Only those steps identify
    # tau (away from them (Mmax - m) n tau ~ (Mmax - m) a L0 / m whatever tau is), so with 1%
    # sample noise and slices near 1 ms tau is fitted to a few percent, and where every grid
    # point waits 4 slices or more, not at all: tau 12-78% off, and the counts as far, in 19 of 730
    # random draws with tau in [1, 5] ms, and in hypothesis's with seed 120069134. The time
    # waited, n tau, is identified: within one slice or 10% in 1,100 such draws. Bounds: L_max
    # within 10% where the fitted count is the true one, the time waited within one slice or
    # 10%, most points within TOL: half within 1%, or 2% where the fitter warns that the tau curve
    # fits poorly (it did for a draw of seed 174733187 whose median was 1.1%: tau 3% off, slices
    # of 1 to 6, a point 41% off).
    def slices(p):
        return np.ceil(p.gpu_share * gpu_base_latency(p, GRID_B) / (GRID_M * p.time_slice))

    n_true, n_fit = slices(true), slices(result.profile)
    same = n_true == n_fit
    event(f"grid points across a slice step: {np.mean(~same):.0%}")
    event(f"fewest slices waited at a grid point: {'1-3' if n_true.min() < 4 else '4 or more'}")
    assert np.all(max_err[same] <= 2 * TOL), float(max_err[same].max())
    waited, fitted = n_true * true.time_slice, n_fit * result.profile.time_slice
    one_slice = max(true.time_slice, result.profile.time_slice)
    assert np.all(np.abs(fitted - waited) <= one_slice + 0.1 * waited), float(np.max(np.abs(fitted / waited - 1)))
    poor = any(c.poor for c in result.curves if "(tau)" in c.name)
    event(f"the fitter warned that the tau curve fits poorly: {poor}")
    assert np.median(max_err) <= (0.02 if poor else 0.01)


def _csv(tmp_path, text):
    f = tmp_path / "m.csv"
    f.write_text(text)
    return f


@pytest.mark.parametrize(
    "text, match",
    [
        ("kind,vcpu,batch,latency_s\ncpu,1,1,0.1\n", r"missing column\(s\) gpu_mem_gb"),
        ("kind,vcpu,gpu_mem_gb,batch,latency_s\ncpu,1,,1,-0.1\n", r"row 2, column latency_s: must be > 0"),
        ("kind,vcpu,gpu_mem_gb,batch,latency_s\ncpu,1,,1,0.1\ncpu,2,,1,nan\n", r"row 3, column latency_s: must be finite"),
        ("kind,vcpu,gpu_mem_gb,batch,latency_s\ntpu,1,,1,0.1\n", r"row 2, column kind: expected cpu or gpu"),
        ("kind,vcpu,gpu_mem_gb,batch,latency_s\ncpu,,,1,0.1\n", r"row 2, column vcpu: expected a number"),
        ("kind,vcpu,gpu_mem_gb,batch,latency_s\ncpu,1,,0,0.1\n", r"row 2, column batch: must be >= 1"),
        ("kind,vcpu,gpu_mem_gb,batch,latency_s\n", r"no measurements"),
    ],
)
def test_bad_measurement_files(tmp_path, text, match):
    with pytest.raises(InputError, match=match):
        load_measurements(_csv(tmp_path, text))


def test_one_vcpu_size_and_gaps_are_named(tmp_path):
    rows = "".join(f"cpu,1.0,,1,{0.1 + i / 1000}\n" for i in range(5))
    with pytest.raises(InputError, match=r"CPU batch 1: latencies at only 1 distinct vCPU size\(s\) \(1; rows 2, 3"):
        fit_profile(_csv(tmp_path, "kind,vcpu,gpu_mem_gb,batch,latency_s\n" + rows))
    rows = "".join(f"cpu,{c},,{b},{0.1 * b / c}\n" for c in (0.5, 1, 2) for b in (1, 3))
    with pytest.raises(InputError, match="missing batch 2"):
        fit_profile(_csv(tmp_path, "kind,vcpu,gpu_mem_gb,batch,latency_s\n" + rows))
    rows = "".join("gpu,,24,1,0.01\n" for _ in range(3))
    with pytest.raises(InputError, match="no CPU rows"):
        fit_profile(_csv(tmp_path, "kind,vcpu,gpu_mem_gb,batch,latency_s\n" + rows))


def test_three_vcpu_sizes_fit_without_scipy_s_warning(tmp_path):
    """Three sizes for three coefficients: curve_fit warned that it could not estimate a
    covariance, which the fit does not use; and only the library's own warnings remain."""
    true = builtin_profile("VGG19")
    rows = "".join(f"cpu,{c},,{b},{float(cpu_latency(true, c, b, stat=stat))}\n"
                   for c in (0.5, 1, 2) for b in range(1, 5) for stat in ("avg", "max"))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        profile = fit_profile(_csv(tmp_path, "kind,vcpu,gpu_mem_gb,batch,latency_s\n" + rows)).profile
    assert seen and all(issubclass(w.category, ProfileFitWarning) for w in seen), [str(w.message) for w in seen]
    for c in (0.5, 1, 2):  # two samples a size: their mean, and their maximum
        mean = (float(cpu_latency(true, c, 1)) + float(cpu_latency(true, c, 1, stat="max"))) / 2
        assert float(cpu_latency(profile, c, 1)) == pytest.approx(mean, rel=1e-3)
        assert float(cpu_latency(profile, c, 1, stat="max")) == pytest.approx(float(cpu_latency(true, c, 1, stat="max")),
                                                                                rel=1e-3)


def test_defaults_warn_and_memory_is_fitted(tmp_path):
    true = builtin_profile("VGG19")
    meas = synth_rows(true, preset(), np.random.default_rng(2))
    full = meas.select((meas.kind == "cpu") | (meas.gpu_mem_gb == 24))
    with pytest.warns(ProfileFitWarning, match="time slice defaults to 2 ms"):
        res = fit_profile(full)
    assert res.profile.time_slice == 0.002 and any("mem_mb" in w for w in res.warnings)
    # with measured peak memory: CPU a*b + m0 and GPU thresholds
    rows = []
    for b in (1, 2, 3, 4):
        for c in (0.5, 1, 2, 4):
            for _ in range(3):
                rows.append({"kind": "cpu", "vcpu": c, "gpu_mem_gb": "", "batch": b,
                             "latency_s": float(cpu_latency(true, c, b)), "mem_mb": 800 + 40 * b})
        for m in (4, 24):
            rows.append({"kind": "gpu", "vcpu": "", "gpu_mem_gb": m, "batch": b,
                         "latency_s": float(gpu_latency_avg(true, preset(), m, b)), "mem_mb": 900 * b})
    res = fit(measurements_from_rows(rows))
    assert res.profile.cpu_mem_per_request == pytest.approx(40) and res.profile.cpu_mem_base == pytest.approx(800)
    assert res.profile.gpu_mem_thresholds == (1.0, 2.0, 3.0)  # 0.9, 1.8, 2.7, 3.6 GB -> 1, 2, 3, 4 GB


def test_poor_fit_is_reported():
    rng = np.random.default_rng(0)
    rows = [{"kind": "cpu", "vcpu": c, "gpu_mem_gb": "", "batch": 1, "latency_s": float(rng.uniform(0.1, 1.0))}
            for c in (0.5, 1, 2, 4, 8) for _ in range(5)]
    with pytest.warns(ProfileFitWarning, match="poor fit for cpu"):
        res = fit_profile(measurements_from_rows(rows))
    assert any(c.poor for c in res.curves) and "POOR" in res.report()


def test_latencies_that_do_not_vary_fit_without_a_poor_fit_warning():
    """A latency that does not depend on the vCPUs (one value for every size of a batch) is
    fitted exactly; its R^2, 0/0 up to rounding, came out near -1e12 and warned "poor fit"
    beside a relative error of 0.0%. A constant curve fitted off the data is still poor."""
    rows = [{"kind": "cpu", "vcpu": c, "gpu_mem_gb": "", "batch": b, "latency_s": 0.05 * b}
            for c in (0.5, 1, 2, 4) for b in (1, 2, 3) for _ in range(3)]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        res = fit_profile(measurements_from_rows(rows))
    assert [c.r2 for c in res.curves] == [1.0] * 6 and not any(c.poor for c in res.curves)
    assert not [w for w in seen if "poor fit" in str(w.message)]
    assert _quality("flat", np.full(4, 0.05), np.full(4, 0.06)).poor


def test_measurements_loaded_or_selected_are_written_back_as_they_are(tmp_path):
    """``write_measurements`` takes ``Measurements`` (as ``load_measurements`` returns them, or
    a selection of them) as well as rows: it refused them ("expected mappings")."""
    table = synth_rows(builtin_profile("BERT"), preset("reference"), np.random.default_rng(3), samples=4)
    table = dataclasses.replace(table, mem_mb=np.where(table.kind == "gpu", 900.0, np.nan))  # measured for some
    for part in (table, table.select(table.kind == "gpu"), table.select(table.kind == "cpu")):
        f = tmp_path / "m.csv"
        write_measurements(part, f)
        again = load_measurements(f)
        for field in ("kind", "vcpu", "gpu_mem_gb", "batch", "latency"):
            assert getattr(again, field).tolist() == getattr(part, field).tolist(), field
        assert np.array_equal(again.mem_mb, part.mem_mb, equal_nan=True)
        assert ("mem_mb" in f.read_text().splitlines()[0]) == bool(np.isfinite(part.mem_mb).any())


def test_profile_callable_with_a_fake_clock(tmp_path):
    clock = iter(np.arange(0, 10000, 0.5))  # every call advances 0.5 s: each run "takes" 0.5 s
    calls = []
    rows = profile_callable(lambda b: calls.append(b), batches=[1, 2], vcpus=[0.5, 1], repeats=2, warmup=1,
                            timer=lambda: float(next(clock)), memory=lambda b: 100.0 * b)
    assert len(rows) == 8 and len(calls) == 12
    lat = {(r["vcpu"], r["batch"]): r["latency_s"] for r in rows}
    assert lat[(0.5, 1)] == pytest.approx(1.0) and lat[(1.0, 2)] == pytest.approx(0.5)  # 0.5 vCPU: quota emulation
    f = tmp_path / "m.csv"
    write_measurements(rows, f)
    again = load_measurements(f)
    assert again.batch.tolist() == [r["batch"] for r in rows] and np.allclose(again.mem_mb, [r["mem_mb"] for r in rows])
    with pytest.raises(InputError, match="cannot be measured here"):
        profile_callable(lambda b: None, batches=[1], vcpus=[1.5])
    calls.clear()
    with pytest.raises(InputError, match="batches: expected a number, got 'x'"):  # before any run (after them before)
        profile_callable(lambda b: calls.append(b), batches=[1, 2, "x"], vcpus=[1], repeats=1)
    assert calls == []
    for batches, vcpus, needle in (([], [1], "batches"), ([1], [], "vcpus")):  # (no rows, as if measured)
        with pytest.raises(InputError, match=f"{needle}: expected at least one size to measure"):
            profile_callable(lambda b: None, batches=batches, vcpus=vcpus)


def test_profile_callable_names_a_callable_that_returns_no_number(monkeypatch):
    """A memory or clock callable that returned a string or None raised Python's ValueError or
    TypeError from inside the timing loop."""
    for kw, needle in ((dict(memory=lambda b: "abc"), r"memory\(1\): expected a number, got 'abc'"),
                       (dict(memory=lambda b: None), r"memory\(1\): expected a number, got None"),
                       (dict(memory=lambda b: -5.0), r"memory\(1\): must be > 0"),
                       (dict(timer=lambda: "x"), "timer: expected a number"),
                       (dict(timer=lambda: float("nan")), "timer: must be finite")):
        with pytest.raises(InputError, match=needle):
            profile_callable(lambda b: None, batches=[1, 2], vcpus=[0.5], repeats=1, **kw)
    # whole vCPUs run as threads on the cores the process may use, not the machine's
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    with pytest.raises(InputError, match=r"vcpus: 2 cannot be measured here; .* up to 1 \(the cores this process"):
        profile_callable(lambda b: None, batches=[1], vcpus=[1, 2])
    assert len(profile_callable(lambda b: None, batches=[1], vcpus=[1], repeats=1)) == 1


def test_cli_profile_fit_then_plan(tmp_path, capsys):
    meas = synth_rows(builtin_profile("BERT"), preset(), np.random.default_rng(3))
    rows = [{"kind": k, "vcpu": c if k == "cpu" else "", "gpu_mem_gb": m if k == "gpu" else "", "batch": b,
             "latency_s": y} for k, c, m, b, y in zip(meas.kind, meas.vcpu, meas.gpu_mem_gb, meas.batch, meas.latency)]
    csv_file, out = tmp_path / "bert.csv", tmp_path / "bert.json"
    write_measurements(rows, csv_file)
    assert main(["profile", "fit", str(csv_file), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "cpu avg batch 1" in text and "gpu max at partial memory (tau)" in text and "wrote" in text
    assert json.loads(out.read_text())["name"] == "bert"
    assert main(["plan", "--profile", str(out), "--apps", "0.2:5,0.5:20,1.0:40", "--json"]) == 0
    check_plan(__import__("harmonybatch_mp").Plan.from_dict(json.loads(capsys.readouterr().out)))
    assert main(["profile", "fit", str(tmp_path / "none.csv"), "-o", str(out)]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["profile"]) == 2


def test_example_profiles_a_real_network(tmp_path):
    path = Path(__file__).resolve().parent.parent / "examples" / "profile_numpy_mlp.py"
    spec = importlib.util.spec_from_file_location("profile_numpy_mlp", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main(["--repeats", "3", "--out-dir", str(tmp_path)])
    check_plan(out["plan"])
    assert (tmp_path / "mlp_profile.json").exists() and (tmp_path / "mlp_measurements.csv").exists()
    plan = solve(parse_apps("0.5:5"), out["fit"].profile, preset(), solver="dp")
    check_plan(plan)
