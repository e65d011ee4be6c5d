"""The model as an object (build_model), MILP backends, and the one solver contract."""

from __future__ import annotations

import importlib
import math
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from harmonybatch_mp import (
    App,
    HarmonyBatchError,
    InfeasibleError,
    InputError,
    PlanCheckError,
    SideConstraints,
    Solution,
    SolverError,
    SolverInfo,
    Workload,
    build_model,
    check_plan,
    register_solver,
    solve,
    solver_names,
)
from harmonybatch_mp.cli import main
from harmonybatch_mp.solvers import as_instance, unregister_solver
from harmonybatch_mp.solvers.exact import set_partitions
from harmonybatch_mp.solvers.problem import Problem

README = Path(__file__).resolve().parent.parent / "README.md"
REL = 1e-9
HAVE_GLPK = shutil.which("glpsol") is not None
HAVE_CBC = shutil.which("cbc") is not None


def readme_block(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    (block,) = [b for b in blocks if marker in b]
    return block


def test_readme_extension_example_equals_brute_force_with_the_same_row():
    scope: dict = {}
    exec(readme_block("build_model"), scope)  # the README's code, as a user runs it
    plan = scope["plan"]
    check_plan(plan)
    assert sum(g.kind == "cpu" for g in plan.groups) <= 1
    w = scope["model"].problem.workload
    # brute force: every partition; each group on its cheapest GPU configuration, except at most
    # one group on its cheapest CPU configuration; per group every configuration at every timeout
    # level is priced (Problem.all_configs: no search, no pruning)
    problem = Problem(w, plan.profile, plan.platform, cost_model=plan.cost_model)
    assert plan.cost_model == "expected"
    best_kind: dict[int, tuple[float, float]] = {}
    for mask in range(1, 1 << problem.n):
        configs = problem.all_configs(mask)
        share = problem.rate(mask) / problem.total_rate
        cpu = min((c.cost for c in configs if c.kind == "cpu"), default=math.inf)
        gpu = min((c.cost for c in configs if c.kind == "gpu"), default=math.inf)
        best_kind[mask] = (share * cpu, share * gpu)
    want = math.inf
    for part in set_partitions(problem.n):
        gpu_all = sum(best_kind[m][1] for m in part)
        one_cpu = min(gpu_all - best_kind[m][1] + best_kind[m][0] for m in part)
        want = min(want, gpu_all, one_cpu)
    assert plan.total_cost == pytest.approx(want, rel=REL)
    free = solve(w, "VGG19")
    assert plan.total_cost >= free.total_cost * (1 - REL)
    assert plan.solver.scope == "all partitions, under what was added to the model: cpu_functions"


def _edited(edit):
    """A model of 3 VGG19 apps with at most one function (a side constraint), edited by ``edit(m)``."""
    model = build_model("0.3:2,0.4:2,0.5:5", "VGG19", side=SideConstraints(max_functions=1))
    edit(model.pyomo)
    return model


def _sense(m, sense):
    m.cost.sense = sense


@pytest.mark.parametrize("edit, needle", [
    # maximised: the dearest plan, "optimal"
    (lambda m: _sense(m, -1), "the model's objective must be its own: 'cost', minimised"),
    (lambda m: m.cost.deactivate(), "the model's objective must be its own"),  # "stopped (optimal) without a plan"
    (lambda m: m.cost.set_value(-m.cost.expr), "the model's objective must be its own"),  # a bound of minus its cost
    (lambda m: m.max_functions.deactivate(), "the model's own row 'max_functions' was removed or deactivated"),
    (lambda m: m.del_component(m.max_functions), "the model's own row 'max_functions' was removed"),
    (lambda m: m.cover["app1"].deactivate(), "the model's own row 'cover' was removed or deactivated"),
    (lambda m: m.del_component(m.x), "the model's columns 'x' were removed"),  # (an AttributeError)
])
@pytest.mark.parametrize("backend", ["appsi_highs", pytest.param("glpk", marks=pytest.mark.skipif(not HAVE_GLPK,
                                                                                                  reason="no glpsol"))])
def test_edits_after_which_no_plan_is_certified_are_refused(edit, needle, backend):
    """Each was a plan: the dearest, "optimal" (maximised); three functions, "optimal over
    all partitions", for a model built with at most one (its row deactivated); or an unclear
    SolverError."""
    with pytest.raises(InputError, match=needle):
        _edited(edit).solve(backend=backend)


def test_what_a_user_adds_or_fixes_is_the_plan_s_scope_and_names_a_model_with_no_plan():
    """The plan is optimal over the plans that keep the user's rows and fixed columns, which
    its scope now says ("all partitions" before); a model they leave with no plan names them
    ("(the model's own rows)" before)."""
    import pyomo.environ as pyo

    model = _edited(lambda m: None)
    m, whole = model.pyomo, [k for k in model.columns if k[0] == "app0+app1+app2"]
    dearest = max(whole, key=lambda k: model.columns[k].weight)
    m.x[dearest].fix(1)
    m.not_cpu = pyo.Constraint(expr=sum(m.x[k] for k in m.x if k[1].startswith("cpu")) == 0)
    plan = model.solve()
    assert plan.solver.scope == ("all partitions, under what was added to the model: not_cpu, "
                                 "1 column(s) fixed or bounded")
    assert plan.total_cost == pytest.approx(model.columns[dearest].weight, rel=REL) and dearest[1].startswith("gpu")
    assert _edited(lambda m: None).solve().solver.scope == "all partitions"
    m.none = pyo.Constraint(expr=sum(m.x.values()) == 0)
    with pytest.raises(InfeasibleError, match=r"together: max_functions=1; not_cpu; none; 1 column\(s\) fixed"):
        model.solve()


def test_a_user_row_counting_functions_matches_the_side_constraint():
    """The defect the issue measured: sum(x) <= 2 on the pre-reduced model was infeasible."""
    import pyomo.environ as pyo

    w = "0.3:2,0.4:2,0.5:5,0.6:5,0.7:10,0.8:10,0.9:20,1.0:20"
    model = build_model(w, "VGG19", candidates="all")
    assert model.reductions == () and model.strategy == "all"
    model.pyomo.two = pyo.Constraint(expr=sum(model.pyomo.x.values()) <= 2)
    plan = model.solve()
    side = solve(w, "VGG19", side=SideConstraints(max_functions=2))
    assert len(plan.groups) <= 2
    assert plan.total_cost == pytest.approx(side.total_cost, rel=REL)


def test_model_components_are_named_as_in_the_formulation():
    model = build_model("0.5:5,0.8:10,1.0:20", "VGG19", side=SideConstraints(max_gpu_functions=1),
                        cost_model="full-batch")
    m = model.pyomo
    assert list(m.A) == ["app0", "app1", "app2"]
    assert set(m.cover) == {"app0", "app1", "app2"} and hasattr(m, "max_gpu") and hasattr(m, "cost")
    keys = list(m.x)
    assert ("app1+app2", "gpu:2gb:b14") in keys and ("app0", "cpu:1.55vcpu:b1") in keys
    assert all(model.columns[k].mask for k in keys)
    # without reduction every candidate group keeps its columns; with it, fewer
    full = build_model("0.3:2,0.4:2,0.5:5,0.6:5", "VGG19")
    reduced = build_model("0.3:2,0.4:2,0.5:5,0.6:5", "VGG19", reduce=True)
    assert {c.mask for c in full.columns.values()} == set(range(1, 16))
    assert len(reduced.columns) < len(full.columns)
    assert reduced.reductions == ("group dominance", "column dominance")
    assert full.solve().total_cost == pytest.approx(reduced.solve().total_cost, rel=REL)
    with pytest.raises(InputError, match="configs must be one of"):
        build_model("0.5:5", "VGG19", configs="some")


def same_columns(a, b) -> None:
    """The same columns, their costs equal but for the last bits: with a time limit the groups
    are searched in batches of other sizes, and a search's arithmetic depends on its batch's
    largest batch size (:func:`harmonybatch_mp.expected_search.evaluate`)."""
    assert a.columns.keys() == b.columns.keys()
    for key, column in a.columns.items():
        other = b.columns[key]
        assert column.mask == other.mask and column.config.index == other.config.index, key
        assert column.weight == pytest.approx(other.weight, rel=1e-12), key


def test_a_time_limit_bounds_building_a_model(monkeypatch):
    """``build_model(time_limit=...)`` bounds building the model; as the user solves it after,
    the build does not keep time for handing it to HiGHS, as a solve() of its own does."""
    import harmonybatch_mp.solvers.model as model_module
    from harmonybatch_mp import SolverError
    from harmonybatch_mp.solvers import Problem, as_instance

    with pytest.raises(SolverError, match="time limit") as caught:
        build_model("0.3:2,0.4:2,0.5:5,0.6:5", "VGG19", time_limit=0)
    assert caught.value.time_limit
    monkeypatch.setattr(model_module, "HANDOFF_PER_COLUMN", 1e3)  # a handoff no limit leaves time for
    same_columns(build_model("0.3:2,0.4:2,0.5:5,0.6:5", "VGG19", time_limit=60),
                 build_model("0.3:2,0.4:2,0.5:5,0.6:5", "VGG19"))
    seven = "0.3:2,0.4:2,0.5:5,0.6:5,0.7:3,0.8:9,0.9:4"  # 127 groups: the clock is read between batches
    same_columns(build_model(seven, "VGG19", candidates="all", time_limit=60),
                 build_model(seven, "VGG19", candidates="all"))
    problem = Problem(*as_instance(seven, "VGG19"))
    with pytest.raises(SolverError, match="generating columns"):  # within solve(), the handoff's time is kept
        model_module.build_from_problem(problem, candidates="all", deadline=time.perf_counter() + 60)


def test_groups_are_searched_in_batches_that_end_by_the_time_limit(monkeypatch, stopped_clock):
    """Under expected the groups' searches run in batches sized to the time left at the last
    batch's pace: 16 at a time whatever the time left, a batch begun just before the limit ran
    up to 16 searches past it (milp given 1.9 s on 10 VGG19 apps with max_functions=1 ended
    up to 0.065 s late). Here the clock is one that only a group's search moves, by 20 ms, so
    the call ends on the clock whatever else runs on the machine (real sleeps ended 0.14 s late
    on a loaded CI machine); without the rule, the call ends 0.04 s past it."""
    from harmonybatch_mp import SolverError
    from harmonybatch_mp.solvers import Problem

    search, clock = Problem.prefetch_classes, stopped_clock

    def slow(self, masks):
        masks = list(masks)
        clock[0] += 0.02 * sum(m not in self._classes for m in masks)
        search(self, masks)
    monkeypatch.setattr(Problem, "prefetch_classes", slow)
    apps = ",".join(f"{0.3 + 0.05 * k}:{1 + k % 3}" for k in range(10))
    with pytest.raises(SolverError, match="time limit reached while generating columns"):
        build_model(apps, "VGG19", candidates="all", time_limit=0.5)
    assert 1000.5 <= clock[0] <= 1000.5 + 0.02 + 1e-9


def _instances(k: int = 20):
    rng = np.random.default_rng(7)
    out = []
    for i in range(k):
        n = int(rng.integers(2, 7))
        apps = [App(f"a{j}", round(float(rng.uniform(0.3, 2.5)), 3), round(float(10 ** rng.uniform(-1, 1.5)), 3))
                for j in range(n)]
        model = ("VGG19", "BERT", "GPT-2", "VideoMAE")[i % 4]
        out.append((Workload(apps), model, ("reference", "paper")[i % 2]))
    return out


@pytest.mark.skipif(not HAVE_GLPK and not os.environ.get("CI"), reason="glpsol not installed (CI installs it)")
@pytest.mark.parametrize("workload, model, platform", _instances(), ids=[f"i{k}" for k in range(20)])
def test_glpk_and_highs_reach_the_same_optimum(workload, model, platform):
    try:
        highs = solve(workload, model, platform, candidates="all")
    except HarmonyBatchError as exc:
        pytest.fail(f"instance should be servable: {exc}")
    glpk = solve(workload, model, platform, candidates="all", backend="glpk")
    assert glpk.solver.backend == "glpk" and highs.solver.backend == "appsi_highs"
    assert glpk.solver.status == "optimal"
    assert glpk.total_cost == pytest.approx(highs.total_cost, rel=REL)
    assert glpk.solver.bound <= highs.total_cost * (1 + REL)


def test_a_backend_s_first_load_of_pyomo_stays_within_the_time_limit(slow_warm_up):
    """Pyomo takes about 0.65 s to import the first time in a process, and a backend other than
    HiGHS needs it: it loads in a background thread that the call waits for only until its
    deadline, then the plan known comes back (``time_limit``), or a SolverError where none is
    known. Before, a fresh process's ``backend="glpk"`` with 0.3 s ended 0.49 s past it. Here
    the load takes 3 s; the call returns within its 0.5 s, and a call after the load finds
    Pyomo ready."""
    import time

    kernels = importlib.import_module("harmonybatch_mp.solvers.kernels")
    loaded = slow_warm_up("_warm_pyomo", 3.0)
    apps = "0.3:2,0.5:5,0.8:10,1.0:20,0.4:3,0.9:7"
    start = time.perf_counter()
    plan = solve(apps, "VGG19", backend="glpk", time_limit=0.5)
    assert time.perf_counter() - start <= 0.5 + 0.25  # (slack for a loaded machine; the load takes 3 s)
    assert plan.solver.status == "time_limit" and plan.solver.scope == "best plan known at the time limit"
    with pytest.raises(SolverError, match="time limit reached while loading Pyomo for backend 'glpk'"):
        build_model(apps, "VGG19").solution("glpk", deadline=time.perf_counter() + 0.2)
    assert loaded.wait(10.0) and kernels.ready(kernels.PYOMO, time.perf_counter())


@pytest.fixture
def sleeping_backend(tmp_path):
    """A Pyomo shell backend, registered as ``sleeper``, whose solver process sleeps 60 s
    whatever it is given (as CBC overran its limit by 6 s on 98,280 columns). Pyomo writes
    its files in ``tmp_path`` meanwhile."""
    from pyomo.common.collections import Bunch
    from pyomo.common.tempfiles import TempfileManager
    from pyomo.opt import SolverFactory
    from pyomo.solvers.plugins.solvers.GLPK import GLPKSHELL

    class Sleeper(GLPKSHELL):
        def available(self, exception_flag=False):
            return True

        def executable(self):
            return shutil.which("sleep")

        def create_command_line(self, executable, problem_files):
            self._log_file = TempfileManager.create_tempfile(suffix=".log")
            return Bunch(cmd=[executable, "60"], log_file=self._log_file, env=None)

    SolverFactory.register("sleeper", doc="sleeps 60 s")(Sleeper)
    tempdir, TempfileManager.tempdir = TempfileManager.tempdir, str(tmp_path)
    yield "sleeper"
    TempfileManager.tempdir = tempdir
    SolverFactory.unregister("sleeper")


def test_a_backend_process_left_at_the_deadline_is_stopped(sleeping_backend, tmp_path):
    """A call leaves a Pyomo backend that has not stopped by its deadline (``abandon.run_by``);
    the backend's process is then stopped about a second past the deadline, so it does not
    hold its model, the CPU and the process's exit until it ends by itself, and the files
    Pyomo wrote for it are removed. With CBC on 98,280 columns given 2 s, the thread left
    behind ran 9.2 s past the call before; 2.1-2.4 s now."""
    import threading
    import time

    kernels = importlib.import_module("harmonybatch_mp.solvers.kernels")
    assert kernels.ready(kernels.PYOMO, None)
    model = build_model("0.3:2,0.5:5,0.8:10", "VGG19", candidates="all")
    start = time.perf_counter()
    with pytest.raises(SolverError, match="sleeper did not stop by the time limit") as error:
        model.solve(backend=sleeping_backend, time_limit=0.5)
    assert error.value.time_limit and time.perf_counter() - start <= 0.6
    left = [t for t in threading.enumerate() if t.name == f"harmonybatch-mp {sleeping_backend}"]
    assert len(left) == 1
    left[0].join(10.0)
    assert not left[0].is_alive(), "the backend's process was left running past its deadline"
    assert time.perf_counter() - start <= 0.5 + 1.0 + 1.0  # Pyomo stops it 1 s past its limit
    assert list(tmp_path.iterdir()) == []


def test_a_backend_is_not_started_past_the_deadline(sleeping_backend):
    """A Pyomo model built past the call's deadline (in the thread the call has left) is not
    written and solved: the backend is not started, and the thread ends at once."""
    import time

    backends = importlib.import_module("harmonybatch_mp.solvers.backends")
    model = build_model("0.3:2,0.5:5", "VGG19")
    start = time.perf_counter()
    with pytest.raises(SolverError, match="time limit reached before backend sleeper could start") as error:
        backends.run_backend(model.pyomo, sleeping_backend, deadline=start)
    assert error.value.time_limit and time.perf_counter() - start < 0.5


def test_a_model_is_handed_to_highs_only_while_time_is_left(monkeypatch):
    """Listing a large model's columns for HiGHS looks at the clock: 606,156 contiguous columns
    of 5,000 apps, built with about 1.3 s of a 60 s limit left, took 11.8 s to list and pass, and the
    call ended 12 s past its limit (``benchmarks/large.py``, full-batch with a GPU cap). Past
    the deadline the listing stops between chunks of columns, with a time-limit SolverError
    (``milp`` then returns the plan it knows)."""
    import time

    highs = importlib.import_module("harmonybatch_mp.solvers.highs")
    model = build_model(",".join(f"{0.4 + 0.01 * i}:{1 + i % 5}" for i in range(40)), "VGG19",
                        candidates="contiguous", cost_model="full-batch")
    assert len(model.columns) > 100
    listed = []
    unpack = np.unpackbits

    def slowly(packed, *args, **kwargs):
        time.sleep(0.05)
        listed.append(len(packed) // 5)
        return unpack(packed, *args, **kwargs)

    monkeypatch.setattr(highs, "UNPACK_BITS", 40 * 10)  # 40 apps, 5 bytes a column: 10 columns a block
    monkeypatch.setattr(np, "unpackbits", slowly)
    with pytest.raises(SolverError, match="while passing the model to HiGHS") as error:
        model.solution(deadline=time.perf_counter() + 0.1)
    assert error.value.time_limit and 10 * len(listed) < 60 < len(model.columns)  # 50 ms a block of 10
    assert set(listed) == {10}
    monkeypatch.setattr(np, "unpackbits", unpack)
    monkeypatch.setattr(highs, "ENTRY_CHUNK", 2)
    with pytest.raises(SolverError, match="while passing the model to HiGHS"):
        highs.master_entries([[0], [1], [0, 1]], [], 2, deadline=time.perf_counter() - 1.0)
    assert [a.tolist() for a in highs.master_entries([[0], [1], [0, 1]], [], 2, deadline=time.perf_counter() + 60)] \
        == [[0, 1, 2, 2], [0, 1, 0, 1], [1.0, 1.0, 1.0, 1.0]]


def test_a_model_stops_growing_while_it_can_still_be_handed_over(monkeypatch):
    """A model's building stops where the time left would not hand the columns it has to HiGHS
    (``model.HANDOFF_PER_COLUMN`` each): at 5,000 apps under a GPU cap, 606,156 columns built with
    1.3 s left took 5.4 s to hand over and 0.5 s to free. Here a column takes 0.5 s: with 10 s
    left, the building stops at once (its first 64 groups' columns)."""
    import time

    model_module = importlib.import_module("harmonybatch_mp.solvers.model")
    problem = Problem(*as_instance(",".join(f"{0.4 + 0.01 * i}:{1 + i % 5}" for i in range(40)), "VGG19"),
                      cost_model="full-batch", side=SideConstraints(max_gpu_functions=1))
    assert len(model_module.build_from_problem(problem, candidates="contiguous").columns) > 100
    monkeypatch.setattr(model_module, "HANDOFF_PER_COLUMN", 0.5)
    start = time.perf_counter()
    with pytest.raises(SolverError, match="while generating columns") as error:
        model_module.build_from_problem(problem, candidates="contiguous", deadline=start + 10.0)
    assert error.value.time_limit and time.perf_counter() - start < 2.0


def test_a_large_model_stops_growing_while_it_can_still_be_solved(monkeypatch):
    """From ``model.SOLVE_RESERVE_FROM`` columns on, the building also keeps the time HiGHS takes
    to solve them (``model.SOLVE_PER_COLUMN`` each): at 5,000 apps under a GPU cap the call
    built 606,156 columns, handed them over with seconds left and ended with the plan it had,
    at 2.6 GB. Below that size, or with the reserve larger than the time, nothing changes."""
    model_module = importlib.import_module("harmonybatch_mp.solvers.model")
    problem = Problem(*as_instance(",".join(f"{0.4 + 0.01 * i}:{1 + i % 5}" for i in range(40)), "VGG19"),
                      cost_model="full-batch", side=SideConstraints(max_gpu_functions=1))
    whole = model_module.build_from_problem(problem, candidates="contiguous")
    monkeypatch.setattr(model_module, "SOLVE_PER_COLUMN", 0.5)
    deadline = time.perf_counter() + 10.0  # 64 groups' columns (> 100) would need more than 50 s
    assert model_module.build_from_problem(problem, candidates="contiguous", deadline=deadline).columns == whole.columns
    monkeypatch.setattr(model_module, "SOLVE_RESERVE_FROM", 100)
    with pytest.raises(SolverError, match="while generating columns") as error:
        model_module.build_from_problem(problem, candidates="contiguous", deadline=time.perf_counter() + 10.0)
    assert error.value.time_limit
    assert build_model(problem.workload, "VGG19", cost_model="full-batch", side=SideConstraints(max_gpu_functions=1),
                       candidates="contiguous", time_limit=10.0).columns == whole.columns  # (not solved here)


def test_a_solver_stops_in_time_to_free_its_model(monkeypatch):
    """The solver's deadline is the call's less the time its model takes to free
    (``model.FREE_PER_COLUMN`` a column): 606,156 columns took 0.5 s to free and their heap
    0.6-1.1 s a full garbage collection, past a 60 s limit."""
    import time

    model_module = importlib.import_module("harmonybatch_mp.solvers.model")
    model = build_model("0.3:2,0.5:5,0.8:10,1.0:20", "VGG19", candidates="all", cost_model="full-batch")
    given = []
    run = model_module.run_highs_arrays
    monkeypatch.setattr(model_module, "run_highs_arrays", lambda *a, **kw: given.append(kw["deadline"]) or run(*a, **kw))
    monkeypatch.setattr(model_module, "FREE_PER_COLUMN", 1.0)
    deadline = time.perf_counter() + 1000.0
    model.solution(deadline=deadline)
    assert given == [deadline - len(model.columns)]

def test_a_backend_stopped_by_its_own_limit_proves_nothing(monkeypatch):
    """Backends other than HiGHS tell a stop at their own time option in other words: CBC as
    "intermediateNonInteger" with a fractional point (loaded, it left apps in no group: a
    PlanCheckError under ``solve(backend="cbc", time_limit=0.5)``) or at times as "infeasible";
    GLPK as "other", with a plan and no bound. Past the deadline none of it is a proof: a point
    that is no plan is none (a time-limit SolverError, which milp answers with the plan it
    knows), "infeasible" is a stop at the limit, and a plan without a bound from the backend
    gets the per-app bound, status ``time_limit``. Without a deadline "infeasible" stands."""
    import time

    from harmonybatch_mp.solvers.backends import INFEASIBLE, OTHER, BackendResult

    kernels = importlib.import_module("harmonybatch_mp.solvers.kernels")
    backends = importlib.import_module("harmonybatch_mp.solvers.backends")
    assert kernels.ready(kernels.PYOMO, None)
    model = build_model("0.3:2,0.5:5,0.8:10,1.0:20", "VGG19")
    alone = {c.mask: key for key, c in reversed(model.columns.items()) if c.mask & (c.mask - 1) == 0}
    assert len(alone) == 4

    def reports(termination, message, chosen, bound):
        def run(pyomo_model, backend, **kwargs):
            for key in model.columns:
                pyomo_model.x[key].value = 1.0 if key in chosen else 0.0
            return BackendResult(backend, termination, message, 1.0, bound, True)
        return run

    # read as they come, even past the deadline (the call would otherwise leave them at it)
    monkeypatch.setattr(importlib.import_module("harmonybatch_mp.solvers.model"), "run_by",
                        lambda work, deadline, **kwargs: (True, work()))
    past = time.perf_counter() - 1.0
    monkeypatch.setattr(backends, "run_backend", reports(OTHER, "intermediateNonInteger", [alone[1]], 1.0))
    with pytest.raises(SolverError, match="cbc reached the time limit before finding a feasible plan") as err:
        model.solution("cbc", deadline=past)
    assert err.value.time_limit
    monkeypatch.setattr(backends, "run_backend", reports(INFEASIBLE, "infeasible", [], None))
    with pytest.raises(SolverError, match="cbc reached the time limit") as err:
        model.solution("cbc", deadline=past)
    assert err.value.time_limit
    with pytest.raises(HarmonyBatchError, match="no plan satisfies the constraints together"):
        model.solution("cbc")
    monkeypatch.setattr(backends, "run_backend", reports(OTHER, "other", list(alone.values()), None))
    info = model.solution("glpk", deadline=past).info
    assert info.status == "time_limit" and info.bound == pytest.approx(model.problem.lower_bound(), rel=REL)
    assert info.gap == pytest.approx((info.objective - info.bound) / info.objective, rel=REL)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 200).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.sets(st.integers(0, n - 1), min_size=1) if n else st.just(set()), max_size=40),
    st.integers(1, 2000), st.lists(st.sampled_from([0.0, 1.0, 3.0]), min_size=0, max_size=2))))
def test_the_covers_read_off_the_masks_are_the_lists_of_their_apps(draw):
    """``highs.covers_of_masks`` (the masks' bytes unpacked by numpy, a block at a time) gives
    the nonzeros that listing each column's apps gave, and HiGHS the same model, side rows and
    all, whatever the number of apps (a byte's bits partly used or not) and the block size."""
    from unittest import mock

    highs = importlib.import_module("harmonybatch_mp.solvers.highs")
    members = importlib.import_module("harmonybatch_mp.solvers.problem").members
    n, groups, bits, side = draw
    masks = [sum(1 << a for a in g) for g in groups]
    event("blocks of one column" if bits < 8 * ((n + 7) // 8) else "blocks of several columns")
    event("no columns" if not masks else "n a multiple of 8" if n % 8 == 0 else "a byte partly used")
    with mock.patch.object(highs, "UNPACK_BITS", bits):
        covers = highs.covers_of_masks(masks, n)
    listed = [members(m) for m in masks]
    assert covers.column.tolist() == [j for j, c in enumerate(listed) for _ in c]
    assert covers.row.tolist() == [a for c in listed for a in c]
    rows = [(np.array([side[r]] * len(masks)), 2.0) for r in range(len(side))]
    cost = np.ones(len(masks))
    for want, got in zip(highs._model(cost, listed, rows, n), highs._model(cost, covers, rows, n)):
        assert np.array_equal(want, got)


def test_a_model_s_apps_are_freed_before_highs_solves(monkeypatch):
    """The lists of each column's apps (300 MB at 182,553 columns of 1,000 apps) lived through
    the whole solve; handed over as a temporary, they were freed once HiGHS had the model (peak
    2,749 -> 2,503 MB there). They are arrays now (``highs.Covers``, 73 MB there), and they and
    the matrix made of them are freed before HiGHS solves, as HiGHS holds its own copy."""
    import weakref

    highs_module = importlib.import_module("harmonybatch_mp.solvers.highs")
    model_module = importlib.import_module("harmonybatch_mp.solvers.model")
    refs, alive = [], []
    real_highs, real_covers, real_model = highs_module._highs, model_module.covers_of_masks, highs_module._model

    def highs():
        h = real_highs()

        class Watched:
            def __getattr__(self, name):
                return getattr(h, name)

            def run(self):
                alive.append([ref() is not None for ref in refs])
                return h.run()
        return Watched()

    def covers(*args):
        out = real_covers(*args)
        refs.extend([weakref.ref(out.column), weakref.ref(out.row)])
        return out

    def model(*args, **kwargs):
        out = real_model(*args, **kwargs)
        refs.extend([weakref.ref(out.index), weakref.ref(out.value)])
        return out

    monkeypatch.setattr(highs_module, "_highs", highs)
    monkeypatch.setattr(highs_module, "_model", model)
    monkeypatch.setattr(model_module, "covers_of_masks", covers)
    model = build_model("0.3:2,0.5:5,0.8:10,1.0:20", "VGG19", candidates="all", cost_model="full-batch")
    plan = model.solve()
    assert alive == [[False] * 4] and plan.solver.status == "optimal"


def test_a_highs_solve_that_does_not_call_back_is_left_at_the_deadline(monkeypatch):
    """HiGHS looks at its clock only when it calls back: on 98,280 columns of 12 VGG19 apps it
    ran 9.3 s of a 0.5 s limit in its first heuristic. The call waits for it until its deadline
    only (``abandon.run_by``). Here HiGHS sleeps 1.5 s before it solves: the call ends at its
    0.3 s with a time-limit SolverError (no plan known), and the next solve waits for HiGHS to
    let go of the solver lock. Where HiGHS found its plan before it slept, the call returns the
    plan it reported through its callbacks."""
    import threading
    import time

    import highspy

    highs = importlib.import_module("harmonybatch_mp.solvers.highs")

    class Slow(highspy.Highs):
        before = after = 0.0

        def run(self):
            time.sleep(self.before)
            status = super().run()
            time.sleep(self.after)
            return status

    def slow():
        h = Slow()
        h.setOptionValue("output_flag", False)
        return h

    apps = "0.3:2,0.5:5,0.8:10,1.0:20,0.4:3,0.9:7"
    best = build_model(apps, "VGG19").solve()
    monkeypatch.setattr(highs, "_highs", slow)
    monkeypatch.setattr(Slow, "before", 1.5)
    model = build_model(apps, "VGG19")
    start = time.perf_counter()
    with pytest.raises(SolverError, match="reached the time limit before finding a feasible plan") as err:
        model.solve(time_limit=0.3)
    assert err.value.time_limit and time.perf_counter() - start < 0.3 + 0.3  # (slack for a loaded machine)
    assert any(t.name == "harmonybatch-mp HiGHS" for t in threading.enumerate())
    again = model.solve()  # waits for the solver lock
    assert again.solver.status == "optimal" and again.total_cost == pytest.approx(best.total_cost, rel=REL)
    assert time.perf_counter() - start >= 1.5
    monkeypatch.setattr(Slow, "before", 0.0)
    monkeypatch.setattr(Slow, "after", 1.5)
    start = time.perf_counter()
    plan = model.solve(time_limit=0.3)
    assert time.perf_counter() - start < 0.3 + 0.3  # (HiGHS sleeps 1.5 s after it solves)
    assert plan.total_cost == pytest.approx(best.total_cost, rel=REL)
    assert plan.solver.status == "time_limit" and plan.solver.bound <= plan.total_cost


@pytest.mark.skipif(not HAVE_GLPK and not os.environ.get("CI"), reason="glpsol not installed (CI installs it)")
def test_a_backend_through_pyomo_is_left_at_the_deadline(monkeypatch):
    """Through Pyomo a backend's model is built, written and read in Python, none of which the
    backend's time option bounds: CBC given 0.5 s on 98,280 columns took 3.1 s, 3.2 s and 6.4 s
    to build, write and solve. All of it runs in a thread the call leaves at its deadline. Here
    it takes 1 s longer: the call ends at its 0.3 s with a time-limit SolverError; the model is
    busy until that thread ends (another limited call says so), and a call without a limit
    waits for it."""
    import time

    kernels = importlib.import_module("harmonybatch_mp.solvers.kernels")
    backends = importlib.import_module("harmonybatch_mp.solvers.backends")
    assert kernels.ready(kernels.PYOMO, None)
    run = backends.run_backend

    def late(*args, **kwargs):
        time.sleep(1.0)
        return run(*args, **kwargs)

    monkeypatch.setattr(backends, "run_backend", late)
    model = build_model("0.3:2,0.5:5,0.8:10,1.0:20", "VGG19")
    start = time.perf_counter()
    with pytest.raises(SolverError, match="glpk did not stop by the time limit") as err:
        model.solve("glpk", time_limit=0.3)
    assert err.value.time_limit and time.perf_counter() - start < 0.3 + 0.3  # (slack for a loaded machine)
    with pytest.raises(SolverError, match="an earlier solve of this model was still running") as err:
        model.solve("glpk", time_limit=0.2)
    assert err.value.time_limit
    plan = model.solve("glpk")
    assert plan.solver.status == "optimal" and time.perf_counter() - start >= 1.0
    monkeypatch.setattr(backends, "run_backend", run)
    assert model.solve("glpk", time_limit=5.0).total_cost == pytest.approx(plan.total_cost, rel=REL)


@pytest.mark.skipif(not HAVE_CBC and not os.environ.get("CI"), reason="cbc not installed (CI installs it)")
def test_a_backend_s_stop_short_of_the_optimum_is_not_logged_as_an_error(caplog):
    """CBC stopped by one of its limits reports "aborted" with a plan; loading it, Pyomo logged
    "Loading a SolverResults object with an 'aborted' status" on stderr, which a CLI user reads
    as an error. The stop is the plan's status (``heuristic`` here, stopped at its first
    plan), and nothing is logged."""
    apps = Workload([App(f"a{i}", slo, rate) for i, (slo, rate) in enumerate(
        [(0.9, 0.41), (2.1, 3.0), (0.6, 11.0), (1.4, 0.8), (3.0, 150.0), (0.7, 2.2), (1.8, 40.0), (1.1, 7.5),
         (2.6, 0.6)])])
    model = build_model(apps, "BERT", candidates="all", cost_model="full-batch")
    with caplog.at_level("WARNING"):
        plan = model.solve("cbc", backend_options={"maxSolutions": 1})
    assert plan.solver.backend == "cbc" and plan.solver.status == "heuristic"
    assert [r.getMessage() for r in caplog.records if r.levelname != "DEBUG"] == []


def test_backend_errors_are_clear():
    with pytest.raises(InputError, match="unknown MILP backend 'nosuch'"):
        solve("0.5:5", "VGG19", backend="nosuch")
    with pytest.raises(SolverError, match="not available on this machine"):
        solve("0.5:5", "VGG19", backend="baron")
    if HAVE_GLPK:
        with pytest.raises(InputError, match="backend 'glpk' has no option for abs_gap"):
            solve("0.5:5", "VGG19", backend="glpk", abs_gap=0.1)


def test_cli_backend_flag(capsys):
    assert main(["plan", "--apps", "0.5:5,0.8:10", "--backend", "baron"]) == 4
    assert "not available" in capsys.readouterr().err
    if HAVE_GLPK:
        assert main(["plan", "--apps", "0.5:5,0.8:10", "--backend", "glpk", "--json"]) == 0


def test_registry_contract():
    assert solver_names()[:7] == ("milp", "exact", "dp", "greedy", "batch", "mbs", "colgen")

    def first_app_alone(problem, *, which: int = 0):
        rest = ((1 << problem.n) - 1) & ~(1 << which)
        groups = [1 << which] + ([rest] if rest else [])
        return Solution.of(problem, groups, SolverInfo("first_app_alone", status="heuristic"))

    register_solver("first_app_alone", first_app_alone)
    try:
        plan = solve("0.5:5,0.8:10,1.0:20", "VGG19", solver="first_app_alone", which=1)
        assert plan.solver.name == "first_app_alone" and len(plan.groups) == 2
        with pytest.raises(InputError, match="has no option"):
            solve("0.5:5", "VGG19", solver="first_app_alone", time_limit=1)
        with pytest.raises(InputError, match="does not honour side constraints"):
            solve("0.5:5", "VGG19", solver="first_app_alone", side=SideConstraints(max_functions=1))
        with pytest.raises(InputError, match="registered already"):
            register_solver("first_app_alone", first_app_alone)
    finally:
        unregister_solver("first_app_alone")
    with pytest.raises(InputError, match="unknown solver"):
        solve("0.5:5", "VGG19", solver="first_app_alone")


def test_solve_checks_what_a_solver_returns():
    def bad(problem):
        config = problem.group(1 << (problem.n - 1))  # the loosest app's configuration, for every app
        groups = tuple(1 << i for i in range(problem.n))
        return Solution(groups, (config,) * problem.n, SolverInfo("bad", status="heuristic"))

    register_solver("bad", bad)
    try:
        with pytest.raises(PlanCheckError):
            solve("0.25:5,1.0:20", "VGG19", solver="bad")
        register_solver("loose", lambda problem: Solution.of(problem, [(1 << problem.n) - 1],
                                                             SolverInfo("loose", status="heuristic")),
                        side_constraints=True)
        with pytest.raises(PlanCheckError, match="solver 'loose' broke a side constraint: isolate=app0/app1"):
            solve("0.5:5,0.8:10", "VGG19", solver="loose", side=SideConstraints(isolate=[("app0", "app1")]))
        assert len(solve("0.5:5,0.8:10", "VGG19", solver="loose", side=SideConstraints(max_functions=1)).groups) == 1
        with pytest.raises(SolverError, match="not a Solution"):
            register_solver("worse", lambda problem: [1], replace=True)
            solve("0.5:5", "VGG19", solver="worse")
    finally:
        for name in ("bad", "loose", "worse"):
            if name in solver_names():
                unregister_solver(name)


def test_solution_of_takes_configurations_by_group_or_aligned_with_the_groups():
    """``Solution.of`` takes the configurations given as a mapping from group to configuration
    or as a sequence aligned with the groups (no mask hashed: at 100,000 apps in singletons
    the mapping was quadratic), None or absent where a group gets its optimum."""
    p = Problem(*as_instance("0.3:2,0.5:5,1.0:20", "VGG19"))
    groups, info = [1, 6], SolverInfo("given", status="heuristic")
    on_cpu = p.group(6, kinds=("cpu",))
    assert on_cpu != p.group(6)
    by_group = Solution.of(p, groups, info, {6: on_cpu})
    assert by_group.configs == (p.group(1), on_cpu)
    aligned = Solution.of(p, groups, info, (p.group(1), on_cpu))
    assert Solution.of(p, groups, info, [None, on_cpu]) == by_group == aligned
    assert Solution.of(p, groups, info).configs == (p.group(1), p.group(6))
    for bad in ([on_cpu], "ab", 5):
        with pytest.raises(SolverError, match="configs must be a mapping from group to configuration or a sequence"):
            Solution.of(p, groups, info, bad)


@pytest.mark.parametrize("call, match", [
    (lambda: solve("0.5:5", 3), "profile: expected a ModelProfile"),
    (lambda: solve(42, "VGG19"), "workload: expected"),
    (lambda: solve("0.5:5", "VGG19", platform=1.5), "platform: expected"),
    (lambda: SideConstraints(pin=(("a", "cpu"), ("a", "gpu"))), "pinned twice"),
    (lambda: SideConstraints(isolate=5), r"isolate: expected \(app, app\) pairs, got 5"),
    (lambda: build_model("0.5:5", "VGG19", candidates=[["app0"], "app0"]), "expected a list of app names"),
    (lambda: solve("0.5:5,1:1", "VGG19", candidates=[["app0", "ghost"]]), "unknown app 'ghost'"),
    (lambda: solve("0.5:5", "VGG19", time_limit=-1), "time_limit"),
    (lambda: solve("0.5:5", "VGG19", threads=0), "threads"),
    (lambda: Problem("0.5:5", "VGG19", "reference"), "workload must be a Workload"),
])
def test_public_errors_derive_from_harmonybatch_error(call, match):
    with pytest.raises(HarmonyBatchError, match=match):
        call()


def test_numbers_computed_with_numpy_are_numbers():
    """A count or a limit computed with numpy (``np.int64``, ``np.float32``) was refused as
    "expected a whole number >= 0, got np.int64(1)". Each option takes them, as the same
    Python numbers (the same plans, the constraints read back as ints and floats); numpy's
    bools, like Python's, are not numbers, and out-of-range values are still refused."""
    w = "0.3:2,0.5:5,0.8:10,1.0:20"
    side = SideConstraints(max_gpu_functions=np.int64(1), max_functions=np.uint8(2), gpu_memory_budget=np.int32(8))
    assert (side.max_gpu_functions, side.max_functions, side.gpu_memory_budget) == (1, 2, 8)
    assert all(type(v) is int for v in (side.max_gpu_functions, side.max_functions, side.gpu_memory_budget))
    assert type(SideConstraints(gpu_memory_budget=np.float32(7.5)).gpu_memory_budget) is float
    cases = [({"side": side}, {"side": SideConstraints(max_gpu_functions=1, max_functions=2, gpu_memory_budget=8)}),
             ({"rel_gap": np.float32(0.5), "abs_gap": np.float64(0.0)}, {"rel_gap": 0.5}),
             ({"threads": np.int64(2)}, {"threads": 2}),
             ({"timeout_levels": np.int16(3)}, {"timeout_levels": 3}),
             ({"max_run": np.int64(2), "candidates": "contiguous"}, {"max_run": 2, "candidates": "contiguous"}),
             ({"time_limit": np.float32(30), "move_time": np.int64(0), "bound_time": np.float16(0)},
              {"time_limit": 30.0, "move_time": 0, "bound_time": 0})]
    for numpy_options, python_options in cases:
        assert solve(w, "VGG19", **numpy_options).groups == solve(w, "VGG19", **python_options).groups, numpy_options
    assert solve(w, "VGG19", solver="colgen", cost_model="full-batch", rel_gap=np.float32(0),
                 time_limit=np.float32(30)).solver.status == "optimal"
    assert solve(w, "VGG19", solver="dp", max_run=np.int8(2)).groups == solve(w, "VGG19", solver="dp", max_run=2).groups
    for bad, match in [({"threads": np.True_}, "threads"), ({"rel_gap": np.float32(-1)}, "rel_gap"),
                       ({"timeout_levels": np.int64(65)}, "timeout_levels"), ({"time_limit": np.float64("nan")}, "time_limit"),
                       ({"max_run": np.int64(0)}, "max_run"), ({"threads": np.float64(2.0)}, "threads")]:
        with pytest.raises(InputError, match=match):
            solve(w, "VGG19", **bad)
    with pytest.raises(InputError, match="max_gpu_functions"):
        SideConstraints(max_gpu_functions=np.bool_(True))


def test_readme_library_example_prints_what_it_says(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # it writes plan.json
    exec(readme_block("plan.to_json()"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "2.4663e-05" and lines[1] == "2.3686e-05"
    assert (tmp_path / "plan.json").exists()


def test_group_dominance_looks_at_the_clock_while_it_prices(monkeypatch):
    """``reduce_all`` prices every group under full-batch between its checks of the deadline,
    in :meth:`Problem.prefetched`'s batches, the first of one group. It priced all 4,095 groups
    of 12 apps before its first check, so ``solve(candidates="all", cost_model="full-batch",
    time_limit=0.3)`` ended at the limit or past it (once 0.52 s past); then 0.05-0.06 s inside.
    Here the deadline passes while the first group is priced: the next check stops it."""
    import time

    from harmonybatch_mp.solvers.candidates import reduce_all

    problem = Problem(*as_instance(",".join(f"{0.4 + 0.05 * i}:{1 + i % 5}" for i in range(12)), "VGG19"),
                      cost_model="full-batch")
    priced: list[int] = []
    real = Problem.weighted_cost

    def slow_first(self, mask):
        if not priced:
            time.sleep(0.06)
        priced.append(mask)
        return real(self, mask)

    monkeypatch.setattr(Problem, "weighted_cost", slow_first)
    with pytest.raises(SolverError, match="time limit reached while pricing candidate groups"):
        reduce_all(problem, list(range(1, 1 << 12)), time.perf_counter() + 0.05)
    assert len(priced) == 1


@pytest.mark.parametrize("cached", [False, True])
@pytest.mark.parametrize("limit", [0.2, 0.3, 0.5, 0.7, 1.0])
def test_batches_near_a_deadline_are_sized_by_their_members(monkeypatch, limit, cached):
    """Runs from a start grow by one app each, and a group's search costs about its members.
    Sized at the last batch's pace an item, a batch of the longer runs ended past the deadline
    by up to 0.1 s here (1 ms a member, on a clock the searches advance), and a 1 s `milp`
    call among eight in threads on two cores by up to 0.74 s. Now a batch near the deadline
    holds no more members than half the time left allows at the slowest pace so far: it ends
    past the deadline by at most what its last item takes. ``cached``: the runs searched when
    the time runs short cost nothing (found in the cache); sized at the slowest of the last four
    paces, the batches after them grew as if every run did (once 2.6 s past a 1 s limit)."""
    import harmonybatch_mp.solvers.problem as problem_module

    class Clock:
        now = 0.0

        @staticmethod
        def perf_counter():
            return Clock.now

    monkeypatch.setattr(problem_module, "time", Clock)
    problem = Problem(*as_instance(",".join(["0.5:5"] * 60), "VGG19"), cost_model="expected")
    late = next(k for k in range(1, 61) if k * (k + 1) / 2 * 0.001 > 0.6 * limit)  # (where the time runs short)
    free = {k: 0.0 for k in range(late, late + 16)} if cached else {}

    def search(groups):  # 1 ms a member
        Clock.now += sum(free.get(m.bit_count(), 0.001) * m.bit_count() for m in groups)

    batches = []
    for batch in problem.timed_batches(iter(range(1, 61)), lambda b: [(1 << k) - 1 for k in b], limit, fetch=search):
        batches.append(batch)
        if Clock.now > limit:
            break
    assert Clock.now > limit  # the runs take up to 1.83 s: the deadline stops them
    assert Clock.now - limit <= 0.001 * batches[-1][-1]  # (its last run's members, 1 ms each)
    assert [k for batch in batches for k in batch] == list(range(1, batches[-1][-1] + 1))  # none lost, in order


@pytest.mark.parametrize("short_by, status", [(0.0, "optimal"), (1e-7, "bounded"), (None, "bounded")])
def test_a_backend_optimal_within_its_own_tolerances_is_bounded_not_heuristic(monkeypatch, short_by, status):
    """HiGHS, given gaps of 0, ended a 10-app search (VGG19, `paper`, CPU functions only) as
    optimal with its bound 4.5e-8 of the plan below it. The certificate called that plan
    ``heuristic`` ("no optimality claim"), though it held a bound on every plan: it is ``bounded``,
    with the bound and gap the backend proved. A backend that ends optimal without a bound gets
    the per-app bound, which holds for every plan too (a backend stopped short of optimal, as
    CBC by its limits, stays ``heuristic``: ``test_a_backend_s_stop_short_of_the_optimum...``)."""
    import dataclasses

    import harmonybatch_mp.solvers.model as model_module

    run = model_module.run_highs_arrays

    def short(*args, **kwargs):
        res, values = run(*args, **kwargs)
        bound = None if short_by is None else res.bound * (1 - short_by)
        return dataclasses.replace(res, bound=bound), values

    monkeypatch.setattr(model_module, "run_highs_arrays", short)
    plan = build_model("0.3:2,0.5:5,0.8:10", "VGG19", candidates="all", cost_model="full-batch").solve()
    assert plan.solver.status == status
    if short_by is not None:
        assert plan.solver.gap == pytest.approx(short_by, abs=1e-12)
    else:
        assert plan.solver.bound == pytest.approx(Problem(*as_instance("0.3:2,0.5:5,0.8:10", "VGG19")).lower_bound())
