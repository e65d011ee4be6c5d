"""Workload families, plan_many on executors (Dask included), and the bench runner."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from harmonybatch_mp import InputError, check_plan, plan_many, solve
from harmonybatch_mp.bench import BenchRow, summarize, write_outputs
from harmonybatch_mp.cli import main
from harmonybatch_mp.families import LADDERS, family


def test_families_are_seeded_and_documented_shapes():
    a, b = family("paper", seed=3, count=2), family("paper", seed=3, count=2)
    assert [i.workload for i in a] == [i.workload for i in b]
    assert family("paper", seed=4, count=2)[0].workload != a[0].workload
    for inst in a:
        lo, hi = LADDERS[inst.model]
        slos = sorted(x.slo for x in inst.workload.apps)
        assert len(slos) == 8 and slos[0] == pytest.approx(lo) and slos[-1] == pytest.approx(hi)
    rates = [x.rate for i in family("paper", seed=0, count=5) for x in i.workload.apps]
    assert sum(r < 1 for r in rates) / len(rates) > 0.5  # most apps under 1 request/s
    high = [x.rate for i in family("paper-high", seed=0, count=5) for x in i.workload.apps]
    assert sum(high) > 10 * sum(rates)
    assert [len(i.workload) for i in family("scale")] == [8, 12, 16, 32, 100, 300, 1000]
    with pytest.raises(InputError, match="unknown workload family"):
        family("huge")


def test_plan_many_keeps_order_and_reports_failures():
    instances = [("0.5:5,1.0:20", "VGG19"), ("0.001:1", "VGG19"), {"workload": "0.5:5", "profile": "BERT",
                                                                   "solver": "dp"}, ("0.5:5", "alexnet")]
    recs = plan_many(instances, executor=ThreadPoolExecutor(2))
    assert [r.index for r in recs] == [0, 1, 2, 3]
    assert [r.ok for r in recs] == [True, False, True, False]
    assert recs[1].error_type == "InfeasibleError" and "unknown model" in recs[3].error
    assert recs[2].plan.solver.name == "dp"
    with pytest.raises(InputError, match="instance 0"):
        plan_many([42], executor=ThreadPoolExecutor(1))


def test_leaving_plan_many_early_cancels_what_has_not_started():
    """The caller's progress raises after the first plan: the plans not yet started are
    cancelled, not run (the executor is the caller's, and stays usable). Plans after the first
    wait at a gate, so with one worker the third and later cannot have started."""
    import threading

    made, gate = [], threading.Event()

    class Gated(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            first = not made

            def run():
                if not first:
                    gate.wait(10)
                return fn(*args, **kwargs)

            made.append(super().submit(run))
            return made[-1]

    def stop(_: int) -> None:
        raise RuntimeError("enough")

    with Gated(1) as pool:
        try:
            with pytest.raises(RuntimeError, match="enough"):
                plan_many([("0.5:5,1.0:20", "VGG19")] * 6, executor=pool, progress=stop)
            assert all(f.cancelled() for f in made[2:]), [f._state for f in made]
        finally:
            gate.set()
        assert pool.submit(sum, [1, 2]).result() == 3


@pytest.mark.usefixtures("ctrl_c_raises")
def test_ctrl_c_stops_plan_many_s_own_pool_at_once():
    """Ctrl-C (a real SIGINT) while the default process pool runs long plans: plan_many raises
    KeyboardInterrupt at once, its workers stopped, rather than waiting for every plan (each
    up to its time limit: about 60 s here)."""
    import multiprocessing
    import os
    import signal
    import threading
    import time

    apps = ",".join(f"{0.3 + i / 100:.3f}:{1 + i % 7}" for i in range(100))
    timer = threading.Timer(3, os.kill, (os.getpid(), signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            plan_many([(apps, "BERT")] * 4, workers=2, solver="colgen", cost_model="full-batch", time_limit=30)
    finally:
        timer.cancel()
    elapsed = time.perf_counter() - start
    assert elapsed < 20, f"plan_many waited {elapsed:.0f} s for its running plans"
    assert not multiprocessing.active_children()


def _pricing_threads() -> int:
    from harmonybatch_mp.solvers import pricing

    return pricing.THREADS


def test_a_solver_registered_after_import_reaches_the_default_pool_s_workers():
    """A solver the caller registered after importing the package (in a script's ``if __name__
    == "__main__":`` block, or here) is sent to the default pool's worker processes, which
    knew only the package's own: every record said "unknown solver". One whose function cannot
    be sent is an InputError naming it, before any plan."""
    from harmonybatch_mp.solvers import get_solver, register_solver, unregister_solver

    register_solver("each_alone", get_solver("batch").function, description="batch, by another name")
    register_solver("each_alone_lambda", lambda problem: get_solver("batch").function(problem))
    try:
        recs = plan_many([("0.5:5,1.0:20", "VGG19"), ("0.8:3", "BERT")], workers=1, solver="each_alone")
        with pytest.raises(InputError, match="solver 'each_alone_lambda': cannot be sent to a worker process"):
            plan_many([("0.5:5", "VGG19")], workers=1, solver="each_alone_lambda")
    finally:
        unregister_solver("each_alone")
        unregister_solver("each_alone_lambda")
    assert [(r.ok, r.error) for r in recs] == [(True, None)] * 2
    assert [r.plan.groups for r in recs] == [solve(w, m, solver="batch").groups
                                             for w, m in (("0.5:5,1.0:20", "VGG19"), ("0.8:3", "BERT"))]
    # a solver named by something that is no name is still each record's error, not plan_many's
    wrong, = plan_many([("0.5:5", "VGG19")], executor=ThreadPoolExecutor(1), solver=["each_alone"])
    assert (wrong.error_type, wrong.error.split(";")[0]) == ("InputError", "unknown solver ['each_alone']")


def _in_place_of_dp(function, run):
    """``run()`` with the built-in ``dp`` replaced by ``function`` (``replace=True``), restored after."""
    from harmonybatch_mp.solvers import get_solver, register_solver

    built_in = get_solver("dp")
    register_solver("dp", function, replace=True)
    try:
        return run()
    finally:
        register_solver("dp", built_in.function, side_constraints=built_in.side_constraints,
                        description=built_in.description, cost_models=tuple(built_in.cost_models), replace=True)


def _without_dp(run):
    """``run()`` with the built-in ``dp`` unregistered, registered again (in its place) after."""
    from harmonybatch_mp.solvers import base, unregister_solver

    registry = dict(base._REGISTRY)
    unregister_solver("dp")
    try:
        return run()
    finally:
        base._REGISTRY.clear()
        base._REGISTRY.update(registry)


def _of_the_script(function):
    """A solver calling ``function``, as though the calling script defined it (in ``__main__``)."""
    def solver(problem):
        return function(problem)

    solver.__module__ = "__main__"
    return solver


def test_a_built_in_solver_the_caller_replaced_is_the_one_the_default_pool_s_workers_run():
    """The workers knew the name, so they solved with the package's own ``dp``: each record
    a plan of another solver than the one the caller registered, silently."""
    from harmonybatch_mp.solvers import get_solver

    workload = "0.5:5,1.0:20,0.7:3"
    rec, = _in_place_of_dp(get_solver("batch").function, lambda: plan_many([(workload, "VGG19")], workers=1,
                                                                             solver="dp"))
    assert rec.plan.groups == solve(workload, "VGG19", solver="batch").groups
    assert rec.plan.groups != solve(workload, "VGG19", solver="dp").groups
    # one the caller unregistered, the workers solved with their own, where the caller's own process said "unknown"
    pool, threads = _without_dp(lambda: [plan_many([(workload, "VGG19")], solver="dp", **how)[0]
                                         for how in ({"workers": 1}, {"executor": ThreadPoolExecutor(1)})])
    for rec in (pool, threads):
        assert (rec.ok, rec.error_type) == (False, "InputError")
        assert rec.error.startswith("unknown solver 'dp'; solvers: ")


def test_threads_of_one_worker_solve_with_their_own_caller_s_solvers():
    """A worker registered each caller's solvers in its own registry: threads of one Dask worker
    running the instances of two callers that replaced ``dp`` differently found the one or the
    other, and the worker's ``dp`` stayed replaced after."""
    from harmonybatch_mp.solvers import SolverSpec, get_solver
    from harmonybatch_mp.sweep import plan_one

    built_in, batch = get_solver("dp"), get_solver("batch")
    as_batch = SolverSpec("dp", batch.function, batch.options, batch.side_constraints, "batch as dp")
    workload = "0.5:5,1.0:20,0.7:3"
    expected = {built_in: solve(workload, "VGG19", solver="dp").groups,
                as_batch: solve(workload, "VGG19", solver="batch").groups}
    assert len(set(expected.values())) == 2

    def run(spec):
        return [plan_one(i, {"workload": workload, "profile": "VGG19", "solver": "dp"}, (spec,), home=-1)
                for i in range(8)]

    with ThreadPoolExecutor(2) as pool:
        done = {spec: pool.submit(run, spec) for spec in (as_batch, built_in)}
        records = {spec: fut.result() for spec, fut in done.items()}
    for spec, recs in records.items():
        assert [(r.ok, r.plan.groups, r.plan.solver.name) for r in recs] == [(True, expected[spec], "dp")] * 8
    assert run(as_batch)[0].plan.groups == expected[as_batch]
    assert get_solver("dp") == built_in  # what this process's other threads find


def test_a_solver_registered_after_import_reaches_dask_s_worker_processes():
    """The same on a Dask cluster of worker processes, which never import the caller's
    script: its records said "unknown solver" too."""
    distributed = pytest.importorskip("dask.distributed")
    from harmonybatch_mp.solvers import get_solver, register_solver, unregister_solver

    register_solver("each_alone", get_solver("batch").function)
    workload = "0.5:5,1.0:20,0.7:3"
    try:
        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            recs = plan_many([("0.5:5,1.0:20", "VGG19")], executor=client.get_executor(), solver="each_alone")
            # a built-in replaced, then restored: the worker lives on, and follows the caller both times
            replaced, = _in_place_of_dp(get_solver("batch").function, lambda: plan_many(
                [(workload, "VGG19")], solver="dp", executor=client.get_executor()))
            restored, = plan_many([(workload, "VGG19")], executor=client.get_executor(), solver="dp")
            # a function of the calling script is not sent: in place of a built-in, the worker solved with the
            # built-in, silently
            refused, = _in_place_of_dp(_of_the_script(get_solver("batch").function), lambda: plan_many(
                [(workload, "VGG19")], solver="dp", executor=client.get_executor()))
            unknown, = _without_dp(lambda: plan_many([(workload, "VGG19")], solver="dp",
                                                     executor=client.get_executor()))
    finally:
        unregister_solver("each_alone")
    assert [(r.ok, r.error) for r in recs] == [(True, None)]
    assert recs[0].plan.groups == solve("0.5:5,1.0:20", "VGG19", solver="batch").groups
    assert replaced.plan.groups == solve(workload, "VGG19", solver="batch").groups
    assert restored.plan.groups == solve(workload, "VGG19", solver="dp").groups != replaced.plan.groups
    assert not refused.ok and refused.error.startswith(
        "solver 'dp': the calling process registered it with a function that cannot be sent to this worker")
    assert not unknown.ok and unknown.error.startswith("unknown solver 'dp'; solvers: ")


def test_the_default_pool_keeps_each_workers_pricing_in_one_thread(monkeypatch):
    """The default pool runs a process per core, so its workers' pricing searches stay in one
    thread each: plan_many starts them with ``_start_worker``, which sets that."""
    import concurrent.futures
    import multiprocessing

    from harmonybatch_mp import _pool

    started = {}

    class Pool(concurrent.futures.ThreadPoolExecutor):
        def __init__(self, max_workers=None, mp_context=None, initializer=None, initargs=()):
            started["initializer"] = initializer
            super().__init__(max_workers)

    monkeypatch.setattr(_pool, "ProcessPoolExecutor", Pool)
    assert plan_many([("0.5:5", "VGG19")], workers=1)[0].ok
    assert started["initializer"] is _pool.start_worker
    reader, writer = multiprocessing.Pipe(duplex=False)
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_pool.start_worker, initargs=(reader,)) as pool:
        assert pool.submit(_pricing_threads).result() == 1
    writer.close()


_KILLED_OWNER = """
import multiprocessing, sys, threading, time
from harmonybatch_mp import plan_many

def tell():  # the pool's worker processes, once they run
    time.sleep(4)
    print(*[p.pid for p in multiprocessing.active_children()], flush=True)

if __name__ == "__main__":
    apps = ",".join(f"{0.3 + i / 100:.3f}:{1 + i % 7}" for i in range(100))
    threading.Thread(target=tell, daemon=True).start()
    plan_many([(apps, "BERT")] * 4, workers=2, solver="colgen", cost_model="full-batch", time_limit=30)
"""


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_the_default_pool_ends_when_the_process_that_started_it_is_killed(tmp_path):
    """SIGKILL the process running plan_many: it cannot stop its pool, so each worker must
    end on its own. They used to wait for ever (one writing a result nobody reads, one reading
    work nobody sends), and a pipeline reading their output with them."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "owner.py"
    script.write_text(_KILLED_OWNER)
    # killed, the owner cannot remove its forkserver's socket directory: keep it out of /tmp
    scratch = tempfile.mkdtemp(prefix="hb-")  # (short: a socket path has at most 107 bytes)
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "TMPDIR": scratch})
    workers: list[int] = []
    try:
        workers = [int(p) for p in owner.stdout.readline().split()]
        assert len(workers) == 2 and all(map(_running, workers)), workers
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        end = time.monotonic() + 20
        while any(map(_running, workers)) and time.monotonic() < end:
            time.sleep(0.1)
        assert not any(map(_running, workers)), f"workers {workers} outlived the process that started them"
    finally:
        owner.kill()
        for pid in workers:
            if _running(pid):
                with contextlib.suppress(ProcessLookupError):  # (it may end in between: not the failure)
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(scratch, ignore_errors=True)


def test_a_script_without_the_main_guard_is_told_what_stopped_the_pool(tmp_path):
    """Each worker of the default pool runs the calling script again as it starts; without the
    ``if __name__ == "__main__":`` guard the call in it stops the worker, and the records said
    only "terminated abruptly". They now name the guard."""
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text("from harmonybatch_mp import plan_many\n"
                      "records = plan_many([('0.5:5', 'VGG19'), ('0.8:10', 'BERT')] * 3, workers=2)\n"
                      "print(sorted({(r.ok, r.error_type) for r in records}))\n"
                      "print(all('__main__' in r.error for r in records))\n")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split("\n")[:2] == ["[(False, 'BrokenProcessPool')]", "True"], run.stdout


KILLER = """
import os, signal, time
from harmonybatch_mp.solvers import get_solver

def slow(problem):
    time.sleep(1.0)
    return get_solver("dp").function(problem)

def kill(problem, *, times=1, log="runs.txt"):
    with open(log, "a+") as log:  # one line a run of this instance
        log.seek(0)
        runs = len(log.readlines())
        log.write("run\\n")
    if runs < times:
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer ends a worker
    return get_solver("dp").function(problem)
"""


@pytest.mark.parametrize("times, killers", [(1, 1), (2, 1), (2, 2)])
def test_a_worker_killed_loses_only_an_instance_that_kills_it_again(tmp_path, times, killers):
    """A worker of the default pool that ends (killed, out of memory) breaks the pool, which
    fails every instance not done: all were ``lost`` records. Then they ran once more in a
    fresh pool, where the one that ended its worker again took those pending with it. Now the
    pool runs a worker's worth at a time, and those that were running run again after the
    others, each alone: a worker killed once loses nothing, and an instance that kills its
    worker again is lost, after two runs, and nothing else. With two such instances, a slow
    one that ran beside the first (and would have run beside the second next) is not lost."""
    import subprocess
    import sys

    from harmonybatch_mp._pool import KILLED

    (tmp_path / "killer.py").write_text(KILLER)
    script = tmp_path / "sweep.py"
    script.write_text("from harmonybatch_mp import plan_many\n"
                      "from harmonybatch_mp.solvers import register_solver\n"
                      "import killer\n"
                      "if __name__ == '__main__':\n"
                      "    register_solver('kill', killer.kill)\n"
                      "    register_solver('slow', killer.slow)\n"
                      "    calls = [dict(workload=f'0.{4 + i}:5,1.0:{i + 1}', profile='BERT', solver='dp')\n"
                      "             for i in range(7)]\n"
                      "    calls[0]['solver'] = 'slow'\n"
                      f"    for k in (1, 2)[:{killers}]:\n"
                      "        calls[k] = dict(workload=f'0.5:5,1.0:{20 + k}', profile='VGG19', solver='kill',\n"
                      f"                        times={times}, log=f'runs{{k}}.txt')\n"
                      "    records = plan_many(calls, workers=2)\n"
                      "    print([r.ok for r in records])\n"
                      "    print(records[1].lost, records[1].error)\n")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    ok, lost = run.stdout.strip().split("\n")
    runs = [(tmp_path / f"runs{k}.txt").read_text().count("run") for k in (1, 2)[:killers]]
    # (the second may be lost after one run, alone: the first run given it can be in a pool
    # broken by the first, before the pool knows it)
    assert runs == [2] if killers == 1 else set(runs) <= {1, 2}, runs
    assert ok == str([True, times == 1, killers == 1 or times == 1, True, True, True, True])
    assert lost == ("False None" if times == 1 else f"True {KILLED}")


def test_dask_local_cluster_gives_the_serial_plans():
    distributed = pytest.importorskip("dask.distributed")  # in the test extra: CI runs it for real
    instances = [(i.workload, i.model) for i in family("paper", seed=1, count=1)]
    serial = [solve(w, m) for w, m in instances]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        recs = plan_many(instances, executor=client.get_executor())
    assert all(r.ok for r in recs)
    assert [r.plan.groups for r in recs] == [p.groups for p in serial]
    assert [r.plan.total_cost for r in recs] == [p.total_cost for p in serial]


def test_bench_quick_writes_checked_results(tmp_path):
    out = tmp_path / "bench"
    assert main(["bench", "--quick", "--out", str(out), "--workers", "2"]) == 0
    rows = json.loads((out / "rows.json").read_text())
    assert (out / "rows.csv").read_text().startswith("instance,")
    assert "| milp |" in (out / "summary.md").read_text()
    assert {r["solver"] for r in rows} == {"milp", "dp", "greedy", "mbs", "batch"}
    ok = [r for r in rows if r["cost"] is not None]
    assert len(ok) >= 16  # batch has no CPU-only plan for some GPU-only workloads: an error row, not a gap
    assert all(r["gap_to_bound"] >= -1e-9 and r["gap_to_best"] >= -1e-12 for r in ok)
    assert all(r["realized"] > 0 and r["violation_rate"] == 0 for r in ok)
    milp = [r for r in ok if r["solver"] == "milp"]
    assert all(r["status"] == "optimal" and r["gap_to_best"] <= 1e-9 for r in milp)
    # every plan the bench reports is one solve() checked; check them once more here
    for inst in family("paper", seed=0, count=1):
        check_plan(solve(inst.workload, inst.model))


def test_bench_time_limit_goes_to_the_solvers_that_take_one(tmp_path):
    """time_limit reaches a solver that takes one and not one that does not (which solve()
    would refuse); a non-positive --time-limit is bad input (exit 2)."""
    from harmonybatch_mp import HEURISTIC, SolverInfo
    from harmonybatch_mp.bench import run_bench
    from harmonybatch_mp.solvers import Solution, register_solver, unregister_solver

    def alone(problem):
        return Solution.of(problem, [1 << i for i in range(problem.n)], SolverInfo("alone", status=HEURISTIC))

    def limited(problem, *, time_limit=None):
        assert 29.0 < time_limit < 30.0, time_limit  # what solve() leaves of the limit
        return alone(problem)

    register_solver("limited", limited)
    register_solver("alone", alone)
    try:
        with ThreadPoolExecutor(1) as pool:  # in process: the registry is this process's
            rows = run_bench("paper", solvers=("limited", "alone"), count=1, executor=pool, time_limit=30.0)
    finally:
        unregister_solver("limited")
        unregister_solver("alone")
    assert {r.solver for r in rows} == {"limited", "alone"}
    assert all(r.cost is not None for r in rows), [r.error for r in rows if r.error]
    for bad in ("0", "-1", "nan", "inf"):
        assert main(["bench", "--time-limit", bad, "--out", str(tmp_path / "x")]) == 2


def test_bench_of_solvers_that_prove_no_bound_writes_its_summary(tmp_path):
    """Solvers that prove no bound (``greedy`` alone) or one of 0 or less (a registered solver's,
    true of every plan): rows without a gap to it and a summary that says ``-`` there.
    ``bench --solvers greedy`` was a StatisticsError traceback (exit 1) after writing two of its
    three files, and a bound of 0 a ZeroDivisionError."""
    from harmonybatch_mp import SolverInfo
    from harmonybatch_mp.bench import run_bench
    from harmonybatch_mp.solvers import Solution, register_solver, unregister_solver

    out = tmp_path / "greedy"
    assert main(["bench", "--family", "paper", "--count", "1", "--solvers", "greedy", "--workers", "1",
                 "--out", str(out)]) == 0
    rows = json.loads((out / "rows.json").read_text())
    assert len(rows) == 4 and all(r["cost"] is not None and r["gap_to_bound"] is None for r in rows)
    assert "\n| greedy | 4 | 0 | +0.00% | +0.00% | - | " in (out / "summary.md").read_text()

    def proves(bound):
        def alone(problem):
            return Solution.of(problem, [1 << i for i in range(problem.n)],
                               SolverInfo("alone", status="bounded", bound=bound))
        return alone

    register_solver("zero_bound", proves(0.0))
    register_solver("negative_bound", proves(-1.0))
    try:
        with ThreadPoolExecutor(1) as pool:  # in process: the registry is this process's
            rows = run_bench("paper", solvers=("zero_bound", "negative_bound", "dp"), count=1, executor=pool,
                             out=tmp_path / "mixed")
            lone = run_bench("paper", solvers=("zero_bound", "negative_bound"), count=1, executor=pool)
    finally:
        unregister_solver("zero_bound")
        unregister_solver("negative_bound")
    assert all(r.bound > 0 and r.gap_to_bound >= 0 for r in rows)  # dp's bound, the best, for every row
    assert all(r.bound == 0.0 and r.gap_to_bound is None for r in lone)
    assert "| - |" in summarize(lone, "paper", "expected")


_figure = st.none() | st.floats(-10, 10, allow_nan=False)
_row = st.builds(BenchRow, instance=st.sampled_from(["i0", "i1"]), model=st.just("VGG19"), apps=st.just(8),
                 solver=st.sampled_from(["milp", "greedy", "mine"]),
                 status=st.sampled_from(["optimal", "error", "lost"]),
                 cost=st.none() | st.just(0.0) | st.floats(1e-9, 1.0), bound=_figure, gap_to_bound=_figure,
                 gap_to_best=_figure, wall_s=st.none() | st.floats(0, 100),
                 realized=st.none() | st.just(0.0) | st.floats(1e-9, 1.0))


@given(st.lists(_row, max_size=8))
def test_the_summary_takes_any_rows(rows):
    """Every row a line of its solver's figures, ``-`` for a figure none of its rows has: rows
    are a public dataclass whose figures may be None (a plan without a bound, a row made by
    hand), and a cost may be 0."""
    event("some plan lacks a figure" if any(r.cost is not None and None in (r.gap_to_best, r.wall_s, r.gap_to_bound)
                                            for r in rows) else "every plan has its figures")
    text = summarize(rows, "paper", "expected")
    for solver in {r.solver for r in rows}:
        line, = [x for x in text.splitlines() if x.startswith(f"| {solver} |")]
        plans = [r for r in rows if r.solver == solver and r.cost is not None]
        assert line.split(" | ")[1] == str(len(plans))
        assert (line.split(" | ")[5] == "-") == all(r.gap_to_bound is None for r in plans)


def test_a_solver_s_cost_models_are_checked_before_any_plan(tmp_path, capsys):
    """A solver registered for one cost model: solve() refuses the other before planning, naming
    the solvers that price it; bench refuses it as bad input (exit 2, no files) instead of
    writing one error row per instance; register_solver checks the names."""
    from harmonybatch_mp import HEURISTIC, SolverInfo
    from harmonybatch_mp.solvers import Solution, get_solver, register_solver, unregister_solver

    called = []

    def alone(problem):
        called.append(problem.cost_model)
        return Solution.of(problem, [1 << i for i in range(problem.n)], SolverInfo("alone", status=HEURISTIC))

    register_solver("alone_fb", alone, cost_models=["full-batch"])
    try:
        assert get_solver("alone_fb").cost_models == {"full-batch"} and get_solver("dp").cost_models == {"expected", "full-batch"}
        assert solve("0.5:5", "VGG19", solver="alone_fb", cost_model="full-batch").solver.name == "alone_fb"
        with pytest.raises(InputError, match=r"'alone_fb' prices the full-batch cost model only.*'expected' a solver of: milp"):
            solve("0.5:5", "VGG19", solver="alone_fb", cost_model="expected")
        assert called == ["full-batch"]
        out = tmp_path / "b"
        assert main(["bench", "--solvers", "dp", "alone_fb", "--out", str(out)]) == 2
        assert "'alone_fb' prices the full-batch cost model only" in capsys.readouterr().err and not out.exists()
        assert called == ["full-batch"]
    finally:
        unregister_solver("alone_fb")
    assert main(["bench", "--solvers", "colgen", "--out", str(tmp_path / "c")]) == 2  # colgen: full-batch only
    for bad in ([], ["fast"], "expected", [None]):
        with pytest.raises(InputError, match="cost_models"):
            register_solver("bad_models", alone, cost_models=bad)


def test_plans_the_executor_loses_are_rows_of_status_lost_and_bench_exits_1(tmp_path, capsys, monkeypatch):
    """A plan the executor lost (a Dask scheduler gone mid-run cancelled 4 of 7) is a row of
    status ``lost``, not ``error`` (which is a solver's: no plan, or none in time); the summary
    says the figures leave it out, and ``bench`` says so on standard error and exits 1 (it
    exited 0, as if the benchmark were complete)."""
    from concurrent.futures import Future

    from harmonybatch_mp import bench as bench_module

    class Losing:  # runs the first instance of each two, cancels the second
        def __init__(self):
            self.calls = 0

        def submit(self, fn, *args):
            self.calls += 1
            done = Future()
            if self.calls % 2:
                done.set_result(fn(*args))
            else:
                done.cancel()
            return done

    rows = bench_module.run_bench("paper", solvers=("dp", "greedy"), count=1, executor=Losing())
    assert [r.status for r in rows if r.solver == "greedy"] == [bench_module.LOST] * 4
    assert all(r.status != bench_module.LOST and r.error is None for r in rows if r.solver == "dp")
    assert all(r.error.startswith("CancelledError: the executor cancelled") for r in rows if r.solver == "greedy")
    assert "The executor lost 4 of 8 plans" in summarize(rows, "paper", "expected")
    assert "lost" not in summarize(rows[::2], "paper", "expected")
    given = bench_module.plan_many
    monkeypatch.setattr(bench_module, "plan_many", lambda calls, **kw: given(calls, **{**kw, "executor": Losing()}))
    out = tmp_path / "b"
    assert main(["bench", "--quick", "--solvers", "dp", "greedy", "--out", str(out)]) == 1
    assert "the executor lost 4 of 8 plans" in capsys.readouterr().err
    assert sum(r["status"] == "lost" for r in json.loads((out / "rows.json").read_text())) == 4


def test_dask_s_logs_are_quiet_while_bench_runs_on_a_scheduler():
    """Every logger of Dask's is set to CRITICAL for the run and back after (a scheduler gone
    mid-run had the client print a traceback on each attempt to reconnect); the parent's level
    alone would not do, as Dask sets some children's own."""
    import logging

    from harmonybatch_mp.cli_batch import _quiet_dask

    parent, client = logging.getLogger("distributed"), logging.getLogger("distributed.client")
    before = parent.level, client.level
    client.setLevel(logging.WARNING)
    try:
        with _quiet_dask(False):
            assert client.level == logging.WARNING
        with _quiet_dask(True):
            assert parent.level == client.level == logging.CRITICAL
        assert client.level == logging.WARNING and parent.level == before[0]
    finally:
        client.setLevel(before[1])


@pytest.mark.parametrize("call, needle", [
    (lambda tmp: summarize(None, "paper", "expected"), "bench: rows: expected a sequence of BenchRow, got NoneType"),
    (lambda tmp: summarize(["x"], "paper", "expected"), "bench: rows: expected a BenchRow, got str"),
    (lambda tmp: summarize([], None, "expected"), "bench: family_name: expected a str"),
    (lambda tmp: write_outputs([], 3, "paper", "expected"), "bench: out: expected a str or Path, got int"),
    (lambda tmp: write_outputs(5, tmp, "paper", "expected"), "bench: rows: expected a sequence of BenchRow, got int"),
])
def test_the_bench_writers_name_arguments_of_the_wrong_kind(call, needle, tmp_path):
    with pytest.raises(InputError, match=needle):
        call(tmp_path)
