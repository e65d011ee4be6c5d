"""The exported instances in formulations/ re-solve with highspy to their stated optimum."""

from __future__ import annotations

import json
from pathlib import Path

import highspy
import pytest

from harmonybatch_mp.cli import main

HERE = Path(__file__).resolve().parent.parent / "formulations"
INSTANCES = json.loads((HERE / "instances.json").read_text())


@pytest.mark.parametrize("inst", INSTANCES, ids=[i["file"] for i in INSTANCES])
def test_exported_instance_optimum(inst, capsys):
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 0.0)
    h.readModel(str(HERE / inst["file"]))
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    obj = h.getInfo().objective_function_value
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
