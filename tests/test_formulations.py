"""The exported instances in formulations/ re-solve with highspy, GLPK and CBC to their
stated optimum, and so does a file exported from apps named as no reader would take them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import highspy
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from harmonybatch_mp import App, Workload, build_model
from harmonybatch_mp.cli import main
from harmonybatch_mp.solvers.pyomo_model import _NOT_PORTABLE, MAX_NAME

HERE = Path(__file__).resolve().parent.parent / "formulations"
INSTANCES = json.loads((HERE / "instances.json").read_text())
#: The command-line readers of LP and MPS files, each run where installed (CI installs both).
READERS = {"glpsol": shutil.which("glpsol"), "cbc": shutil.which("cbc")}
#: The longest token a file may hold: a row's name with Pyomo's prefix and suffix, and in LP the colon after it.
LONGEST_TOKEN = MAX_NAME + len("c_e__:")


def optima(path: Path) -> dict[str, float]:
    """The optimum of an LP or MPS file by highspy and by every command-line reader there is
    (on CI every one, or the test fails): GLPK's ``glpsol`` and CBC's ``cbc``."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 0.0)
    h.readModel(str(path))
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    out = {"highspy": h.getInfo().objective_function_value}
    flag = "--lp" if path.suffix == ".lp" else "--freemps"
    for reader, exe in READERS.items():
        if exe is None:
            assert not os.environ.get("CI"), f"{reader} is not installed (CI installs it)"
            continue
        if reader == "glpsol":
            report = path.with_suffix(".glpsol")
            run = subprocess.run([exe, flag, str(path), "-o", str(report)], capture_output=True, text=True)
            assert run.returncode == 0 and "INTEGER OPTIMAL" in run.stdout, run.stdout + run.stderr
            found = re.search(r"Objective:\s+\S+ = (\S+)", report.read_text())
        else:
            run = subprocess.run([exe, str(path)], capture_output=True, text=True)
            assert run.returncode == 0 and "Optimal solution found" in run.stdout, run.stdout + run.stderr
            found = re.search(r"Objective value:\s+(\S+)", run.stdout)
        assert found, run.stdout
        out[reader] = float(found.group(1))
    return out


def written_as_solved(model, path: Path) -> None:
    """Write ``model`` to ``path``: the file is ASCII, no token in it is longer than
    :data:`LONGEST_TOKEN`, and every reader reaches the optimum the model solves to."""
    model.write(path)
    text = path.read_text(encoding="ascii")  # raises on any other character
    assert max(len(token) for token in text.split()) <= LONGEST_TOKEN
    found = optima(path)
    want = model.solve().total_cost * model.scale
    assert found == pytest.approx(dict.fromkeys(found, want), rel=1e-6)


@pytest.mark.parametrize("inst", INSTANCES, ids=[i["file"] for i in INSTANCES])
def test_exported_instance_optimum(inst, capsys, tmp_path):
    copy = tmp_path / inst["file"]
    shutil.copyfile(HERE / inst["file"], copy)
    found = optima(copy)
    obj = found["highspy"]
    assert found == pytest.approx(dict.fromkeys(found, inst["optimum_per_million"]), rel=1e-6)
    assert obj == pytest.approx(inst["optimum_per_million"], rel=1e-9)
    assert main(["plan", *inst["plan_args"], "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["total_cost"] * 1e6 == pytest.approx(obj, rel=1e-9)


def test_export_reproduces_the_shipped_file(tmp_path, capsys):
    inst = next(i for i in INSTANCES if i["file"] == "table1_vgg19.mps")
    out = tmp_path / inst["file"]
    argv = inst["command"].split()[1:-1] + [str(out)]
    assert main(argv) == 0
    assert out.read_text() == (HERE / inst["file"]).read_text()


@pytest.mark.parametrize("fmt", ["lp", "mps"])
def test_apps_named_as_no_reader_takes_them_export_to_a_file_every_reader_takes(tmp_path, fmt, capsys):
    """Pyomo's names for the file kept characters outside ASCII (GLPK: "character not
    recognized"), were as long as a group's app names together (GLPK: "token too long"; CBC's
    MPS reader crashed), and were equal for apps ``"a b"`` and ``"a_b"`` (Pyomo: "duplicate
    symbol", a traceback from ``export``). The MPS file's OBJSENSE section stopped GLPK."""
    odd = Workload([App("a b", 0.5, 5), App("a_b", 0.6, 5), App("x+y-z", 0.8, 10), App('quo"te', 1.0, 20),
                    App("ü名", 0.9, 3), App("[x]", 0.7, 2)])
    long = Workload([App(f"application_number_{i:03d}", 0.4 + 0.02 * i, 1 + (7 * i) % 29) for i in range(30)])
    for workload, candidates in ((odd, "all"), (long, "contiguous")):
        model = build_model(workload, "VGG19", cost_model="full-batch", candidates=candidates, reduce=True)
        written_as_solved(model, tmp_path / f"m{len(workload.apps)}.{fmt}")
    if fmt == "lp":  # and the command line, which gave a traceback
        csv = tmp_path / "odd.csv"
        csv.write_text("name,slo,rate\na b,0.5,5\na_b,0.6,5\n")
        assert main(["export", "--workload", str(csv), str(tmp_path / "odd.lp")]) == 0
        assert "c_e_cover(a_b)_2_:" in (tmp_path / "odd.lp").read_text()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.text(min_size=1, max_size=12),  # any characters
                          st.sampled_from(["a b", "a_b", "a+b", "a-b", "a.b", "a/b", "a(b)"]),  # alike once cleaned
                          st.text(alphabet="xé", min_size=100, max_size=200)  # cut
                          ).filter(str.strip), min_size=3, max_size=3, unique=True),
       st.sampled_from(["lp", "mps"]))
def test_any_app_names_export_to_a_file_with_the_models_optimum(tmp_path_factory, names, fmt):
    """Whatever the apps are called (any characters, control characters and names longer than
    a name may be included), the file holds ASCII names only, no longer than allowed, and a
    reader reaches the model's optimum: no two components share a name."""
    cleaned = [_NOT_PORTABLE.sub("_", n)[:MAX_NAME - 8] for n in names]
    event("names alike once cleaned" if len(set(cleaned)) < 3 else "names distinct once cleaned")
    event("a name cut" if max(map(len, names)) > MAX_NAME - 8 else "no name cut")
    event("characters outside ASCII" if any(not n.isascii() for n in names) else "ASCII names")
    workload = Workload([App(n, slo, rate) for n, slo, rate in zip(names, (0.5, 0.8, 1.0), (5, 10, 20))])
    model = build_model(workload, "VGG19", cost_model="full-batch", candidates="all", reduce=True)
    written_as_solved(model, tmp_path_factory.mktemp("names") / f"m.{fmt}")
