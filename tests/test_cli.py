"""The command-line interface: default plan, JSON schema, exit codes, export."""

from __future__ import annotations

import json
import subprocess
import sys

import highspy
import pytest

from harmonybatch_mp import Plan, check_plan
from harmonybatch_mp.cli import main
from harmonybatch_mp.solvers import get_solver, solver_names


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_default_plan_is_readable(capsys):
    code, out, err = run(capsys, "plan", "--cost-model", "full-batch")
    assert code == 0, err
    assert "Plan for 8 apps of VGG19 on platform 'reference'" in out
    assert "Total cost per request: 2.0378e-05 CNY" in out  # the full-batch anchor
    assert "group 1: CPU 1.95 vCPU" in out and "GPU 2 GB" in out
    for k in range(8):
        assert f"app{k}" in out


def test_console_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "harmonybatch_mp", "plan", "--solver", "dp", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["solver"]["name"] == "dp"


def test_json_schema(capsys):
    code, out, _ = run(capsys, "plan", "--apps", "1.0:20,0.5:5,0.8:10", "--json", "--cost-model", "full-batch")
    assert code == 0
    d = json.loads(out)
    assert d["cost_model"] == "full-batch"
    assert d["total_cost"] == pytest.approx(2.3686e-05, rel=1e-4)
    assert {"name", "wall_time_s", "status", "objective", "bound", "gap", "columns"} <= set(d["solver"])
    g0, g1 = d["groups"]
    assert g0["apps"] == ["app1"] and g0["kind"] == "cpu" and g0["gpu_mem_gb"] is None and g0["vcpu"] == 1.55
    assert g1["apps"] == ["app2", "app0"] and g1["kind"] == "gpu" and g1["gpu_mem_gb"] == 2 and g1["batch"] == 14
    assert set(g1["timeouts"]) == {"app0", "app2"}
    for key, typ in (("mem_gb", float), ("latency_max", float), ("cost_per_request", float), ("rate", float)):
        assert isinstance(g1[key], typ)
    check_plan(Plan.from_dict(d))


@pytest.mark.parametrize("solver", ["exact", "milp", "dp", "greedy", "batch", "mbs"])
def test_every_solver_from_the_cli(capsys, solver):
    code, out, err = run(capsys, "plan", "--model", "bert", "--preset", "paper", "--solver", solver, "--json",
                         "--apps", "0.3:5,0.5:10,0.9:30")
    assert code == 0, err
    assert json.loads(out)["solver"]["name"] == solver


def test_workload_and_profile_files(capsys, tmp_path):
    w = tmp_path / "w.csv"
    w.write_text("name,slo,rate\nsearch,0.5,5\nads,0.8,10\nfeed,1.0,20\n")
    code, out, _ = run(capsys, "plan", "--workload", str(w), "--json")
    assert code == 0 and json.loads(out)["groups"][1]["apps"] == ["ads", "feed"]
    from harmonybatch_mp import builtin_profile

    p = tmp_path / "p.json"
    p.write_text(json.dumps(builtin_profile("VGG19").to_dict()))
    code, out2, _ = run(capsys, "plan", "--workload", str(w), "--profile", str(p), "--json")
    assert code == 0 and json.loads(out2)["total_cost"] == json.loads(out)["total_cost"]


@pytest.mark.parametrize(
    "argv, match",
    [
        (["plan", "--model", "resnet"], "unknown model 'resnet'"),
        (["plan", "--apps", "0.5:-1"], "app 'app0': rate: must be > 0"),
        (["plan", "--apps", "0.5:nan"], "app 'app0': rate: must be finite"),
        (["plan", "--apps", ""], "empty workload"),
        (["plan", "--workload", "/nonexistent.csv"], "cannot read"),
        (["plan", "--profile", "/nonexistent.json"], "cannot read"),
        (["plan", "--solver", "dp", "--max-gpu-functions", "1"], "use solver 'milp'"),
        (["plan", "--isolate", "app0"], "expected two app names"),
        (["plan", "--isolate", "app0/ghost"], "unknown app 'ghost'"),
        (["plan", "--pin", "app0=tpu"], "expected APP=cpu or APP=gpu"),
        (["plan", "--apps", ",".join(["1:1"] * 11), "--solver", "exact"], "more than 10"),
    ],
)
def test_bad_input_exits_2_naming_the_culprit(capsys, argv, match):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert match in err and "Traceback" not in err


def test_pin_takes_an_app_name_holding_an_equals_sign(capsys, tmp_path):
    workload = tmp_path / "w.csv"
    workload.write_text("name,slo,rate\nw=1,1.0,300\nz,0.8,10\n")
    code, out, err = run(capsys, "plan", "--workload", str(workload), "--pin", "w=1=cpu", "--json")
    assert code == 0, err
    assert Plan.from_dict(json.loads(out)).group_of("w=1").kind == "cpu"


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["plan", "--solver", "magic"])
    assert e.value.code == 2


def test_infeasible_exits_3_naming_apps(capsys):
    code, out, err = run(capsys, "plan", "--apps", "0.002:1,0.5:5")
    assert code == 3
    assert "app 'app0' (SLO 0.002 s)" in err and "0.003793 s" in err and "app1" not in err


def test_prototype_defect_workload_gives_a_safe_plan(capsys):
    """formulations/model.md section 10's example: the prototype answered with a negative timeout.
    Under the model, the 0.05 s app is servable (a GPU of 6 GB or more meets it), so the
    plan must exist and every timeout must be >= 0."""
    code, out, err = run(capsys, "plan", "--apps", "0.05:1,1.0:30", "--json")
    assert code == 0, err
    plan = Plan.from_dict(json.loads(out))
    check_plan(plan)
    assert all(t >= 0 for g in plan.groups for t in g.timeouts)
    assert plan.group_of("app0").latency_max <= 0.05


def test_side_constraint_infeasible_exits_3(capsys):
    code, _, err = run(capsys, "plan", "--max-functions", "1", "--isolate", "app0/app1")
    assert code == 3 and "max_functions=1: apps 'app0' and 'app1' are isolated" in err


def test_export_mps_solves_to_the_same_optimum(capsys, tmp_path):
    out = tmp_path / "model.mps"
    code, _, err = run(capsys, "export", "--apps", "0.5:5,0.8:10,1.0:20,0.3:2", "--candidates", "all", str(out))
    assert code == 0, err
    code, js, _ = run(capsys, "plan", "--apps", "0.5:5,0.8:10,1.0:20,0.3:2", "--json")
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.readModel(str(out))
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    assert h.getInfo().objective_function_value / 1e6 == pytest.approx(json.loads(js)["total_cost"], rel=1e-9)


def test_export_lp_and_format_errors(capsys, tmp_path):
    code, _, _ = run(capsys, "export", str(tmp_path / "m.lp"))
    assert code == 0 and (tmp_path / "m.lp").read_text().startswith("\\")
    code, _, err = run(capsys, "export", str(tmp_path / "m.txt"))
    assert code == 2 and "--format lp" in err


def test_export_bounds_building_the_model_and_takes_no_solver_flags(capsys, tmp_path):
    """``--time-limit`` and the solver's flags were accepted by export and ignored. The limit
    now bounds building the model (nothing is written past it: exit 4); flags only a solver
    reads are errors."""
    out = tmp_path / "m.lp"
    code, _, err = run(capsys, "export", "--time-limit", "0", str(out))
    assert code == 4 and "time limit" in err and not out.exists()
    code, _, err = run(capsys, "export", "--time-limit", "60", "--candidates", "contiguous", str(out))
    assert code == 0 and out.exists(), err
    for flag in (["--rel-gap", "0.1"], ["--bound-time", "1"], ["--backend", "glpk"], ["--warm-start", "dp"]):
        with pytest.raises(SystemExit) as exited:
            main(["export", *flag, str(tmp_path / "n.lp")])
        assert exited.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err, flag


def test_timeout_levels_are_taken_under_the_expected_cost_model_only(capsys, tmp_path):
    """``--timeout-levels`` under ``--cost-model full-batch`` was accepted and did nothing
    (a group's cost there does not depend on its timeouts); it is an error now, in both
    commands that take it, and its default is unchanged under ``expected``."""
    for command in (["plan", "--solver", "dp"], ["export", str(tmp_path / "m.lp")]):
        code, _, err = run(capsys, *command, "--cost-model", "full-batch", "--timeout-levels", "8")
        assert code == 2 and "--timeout-levels applies to --cost-model expected only" in err, command
    assert not (tmp_path / "m.lp").exists()
    code, default, _ = run(capsys, "plan", "--solver", "dp", "--json")
    code4, four, _ = run(capsys, "plan", "--solver", "dp", "--json", "--timeout-levels", "4")
    assert code == code4 == 0 and json.loads(default)["groups"] == json.loads(four)["groups"]
    code, _, err = run(capsys, "plan", "--timeout-levels", "0")
    assert code == 2 and "timeout_levels must be a whole number from 1 to 64, got 0" in err


def test_export_to_standard_output(capsys, tmp_path, monkeypatch):
    """``-`` is standard output, as for most command-line tools: the same text the file
    holds, the summary on standard error, and no file named ``-``."""
    monkeypatch.chdir(tmp_path)
    code, _, _ = run(capsys, "export", "m.mps")
    assert code == 0
    code, out, err = run(capsys, "export", "--format", "mps", "-")
    assert code == 0 and out == (tmp_path / "m.mps").read_text() and "wrote standard output (mps)" in err
    code, _, err = run(capsys, "export", "-")
    assert code == 2 and "cannot tell the format of '-'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mps"]


def test_version_is_the_package_s(capsys):
    """``--version`` says the version the package says, which is the one it was installed as."""
    from importlib.metadata import version

    import harmonybatch_mp

    assert harmonybatch_mp.__version__ == version("harmonybatch-mp")
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"harmonybatch-mp {harmonybatch_mp.__version__}\n"


def test_help_mentions_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["plan", "--help"])
    out = capsys.readouterr().out
    assert "exit codes" in out and "--solver" in out and "--max-gpu-functions" in out
    flat = " ".join(out.split())  # argparse wraps the help
    for name in solver_names():  # every solver is described, from the registry
        assert f"{name}: {get_solver(name).description}" in flat
    assert "seconds for the whole call (any solver)" in flat


@pytest.mark.parametrize("argv", [["plan", "--max-run", "0"], ["plan", "--max-run", "0", "--solver", "dp"],
                                  ["plan", "--max-run", "2", "--candidates", "all"]])
def test_max_run_validation(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2 and "max_run" in err and "Traceback" not in err


def test_max_run_selects_contiguous_candidates(capsys):
    code, out, _ = run(capsys, "plan", "--max-run", "2", "--json")
    d = json.loads(out)
    assert code == 0 and max(len(g["apps"]) for g in d["groups"]) <= 2
    code, out2, _ = run(capsys, "plan", "--max-run", "2", "--solver", "dp", "--json")
    assert json.loads(out2)["total_cost"] == pytest.approx(d["total_cost"], rel=1e-9)
