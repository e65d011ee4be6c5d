"""Compiled kernels made ready within a deadline (solvers/kernels.py): a first call after an
install compiles them (seconds) and cannot be cut short, so solvers wait for a warm-up
thread only until their deadline. The compilation is simulated by a warm-up that sleeps."""

from __future__ import annotations

import threading
import time

import pytest

from harmonybatch_mp import solve
from harmonybatch_mp.solvers import Problem, as_instance, kernels
from harmonybatch_mp.solvers.expected_bound import expected_bound

APPS = "0.3:2,0.5:5,0.8:10,1.0:20,0.6:3,0.7:8"
SLOW = 3.0  # seconds the simulated compilation takes


@pytest.fixture
def compiling(monkeypatch):
    """Kernels not yet compiled in this process: a fresh registry of warm-ups, each taking
    SLOW seconds; yields how many warm-ups ran. The real kernels are made ready first: a
    warm-up an earlier test of this process started may still be compiling them (from a cold
    cache, as in CI), and beside it the 0.5 s call took 1.18 s once, out of time before it asked
    for its kernels."""
    kernels.ready(kernels.COLGEN, None)
    kernels.ready(kernels.EXPECTED, None)
    calls = []

    def slow() -> None:
        calls.append(threading.current_thread().name)
        time.sleep(SLOW)

    monkeypatch.setattr(kernels, "_warming", {})
    monkeypatch.setattr(kernels, "_warm_colgen", slow)
    monkeypatch.setattr(kernels, "_warm_expected", slow)
    return calls


def test_colgen_returns_by_its_deadline_while_its_kernels_compile(compiling, no_gc_reserve):
    """The plan (dp's, moved) with the per-app bound and status time_limit, well before the
    compilation ends; the plan is a valid one and its bound below its cost."""
    start = time.perf_counter()
    plan = solve(APPS, "VGG19", solver="colgen", cost_model="full-batch", time_limit=0.5)
    elapsed = time.perf_counter() - start
    assert elapsed < SLOW - 1.0
    assert plan.solver.status == "time_limit" and plan.solver.iterations == 0
    assert plan.solver.bound <= plan.total_cost
    assert sorted(a for g in plan.groups for a in g.apps) == sorted(a.name for a in plan.workload.apps)
    assert compiling == ["harmonybatch-mp-compile-colgen"]


def test_without_a_time_limit_colgen_compiles_in_its_own_call(compiling):
    """No deadline to keep: no warm-up thread, the kernels compile (or load) on first use."""
    plan = solve(APPS, "VGG19", solver="colgen", cost_model="full-batch")
    assert plan.solver.status == "optimal" and compiling == []


def test_expected_bound_returns_the_per_app_bound_while_its_kernel_compiles(compiling):
    problem = Problem(*as_instance(APPS, "VGG19"), cost_model="expected")
    start = time.perf_counter()
    bound = expected_bound(problem, deadline=time.perf_counter() + 0.3)
    assert time.perf_counter() - start < SLOW - 1.0
    assert bound == problem.lower_bound()
    assert expected_bound(problem) > problem.lower_bound()  # once compiled (no deadline: it waits)


def test_eight_threads_start_one_warm_up_and_each_waits_to_its_own_deadline(compiling):
    deadlines = [0.2 * (i % 4) for i in range(8)]
    waited, answers = [0.0] * 8, [None] * 8

    def ask(i: int) -> None:
        start = time.perf_counter()
        answers[i] = kernels.ready(kernels.COLGEN, start + deadlines[i])
        waited[i] = time.perf_counter() - start

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(compiling) == 1
    assert answers == [False] * 8
    assert all(d <= w < d + 1.0 for d, w in zip(deadlines, waited))
    assert kernels.ready(kernels.COLGEN, None)  # and then it is done
    assert kernels.ready(kernels.COLGEN, float("inf")) and kernels.ready(kernels.COLGEN, 1e300)


def test_kernels_compile_without_a_cache_where_numba_has_nowhere_to_keep_one(monkeypatch):
    """A read-only install whose user has no writable cache folder: numba's ``cache=True``
    raises at import ("no locator available"), which made every solver with a kernel fail.
    The kernels then compile in each process instead; any other error is raised."""
    import numba
    import numpy as np

    real_njit, real_vectorize, asked = numba.njit, numba.vectorize, []

    def nowhere(real):
        def decorator(*args, cache=False, **options):
            asked.append(cache)
            if cache:
                raise RuntimeError("cannot cache function 'f': no locator available for file '/ro/f.py'")
            return real(*args, **options)
        return decorator

    monkeypatch.setattr(numba, "njit", nowhere(real_njit))
    monkeypatch.setattr(numba, "vectorize", nowhere(real_vectorize))

    def total(x):
        s = 0.0
        for v in x:
            s += v
        return s

    def twice(x):
        return 2 * x

    assert kernels.compiled(nogil=True)(total)(np.arange(4.0)) == 6.0
    assert asked[:2] == [True, False]  # (numba's own later calls follow)
    asked.clear()
    assert kernels.compiled_ufunc(["float64(float64)"])(twice)(np.array([1.5]))[0] == 3.0
    assert asked[:2] == [True, False]

    def broken(*args, **options):
        raise RuntimeError("something else")

    monkeypatch.setattr(numba, "njit", broken)
    with pytest.raises(RuntimeError, match="something else"):
        kernels.compiled()(total)


def test_the_kernels_call_no_python_and_the_warm_ups_compile_what_the_solvers_call(monkeypatch):
    """numba calls Python (``numba.core.serialize._numba_unpickle``) for the type of each
    array a kernel returns; a Ctrl-C handled there left numba going on without it, and came
    out as a SystemError 14 deep (a traceback for the user). The solvers' kernels write to
    the caller's arrays instead: a colgen solve through branch and price, ``expected_bound``,
    and the runs of 120 apps (``run_kernel``, and the capped path's ``path_kernel``) call no
    Python from compiled code. A kernel that returns an array is counted (the probe sees numba's
    calls). And the real warm-ups run without error, compile every kernel, and with the solvers'
    own argument types: after them and those solves, each kernel holds one compiled signature,
    so no call compiles again."""
    import numba
    import numba.core.serialize as serialize
    import numpy as np

    from harmonybatch_mp.families import _random
    from harmonybatch_mp.solvers import (
        branch_bound_kernel,
        label_kernel,
        partition_kernel,
        path_kernel,
        problem_runs,
        relaxed_kernel,
        run_kernel,
    )
    from harmonybatch_mp.solvers.function_cap import capped_path

    kernels._warm_colgen()
    kernels._warm_expected()
    kernels._warm_runs()
    compiled = [branch_bound_kernel.prepare, branch_bound_kernel.search, label_kernel.step, partition_kernel.search,
                relaxed_kernel.price_rows, relaxed_kernel.open_rows, run_kernel._fold_runs, run_kernel._fold_classes,
                path_kernel._push]
    assert [len(f.signatures) for f in compiled] == [1] * len(compiled)  # (each warmed up: none compiles in a call)
    calls = []

    class Counting(dict):
        def __getitem__(self, key):
            calls.append(key)
            return super().__getitem__(key)

    monkeypatch.setattr(serialize, "_unpickled_memo", Counting(serialize._unpickled_memo))
    w = _random(np.random.default_rng(34), "GPT-2", 9)
    assert solve(w, "GPT-2", solver="colgen", cost_model="full-batch", enumeration_limit=0).solver.nodes > 1
    solve(_random(np.random.default_rng(3), "BERT", 30), "BERT", solver="colgen", cost_model="full-batch")
    problem = Problem(*as_instance(_random(np.random.default_rng(3), "BERT", 30), "BERT"), cost_model="expected")
    assert expected_bound(problem) > problem.lower_bound()
    many = Problem(*as_instance(_random(np.random.default_rng(5), "VGG19", 120), "VGG19"), cost_model="full-batch")
    assert kernels.ready(kernels.RUNS, None)
    with monkeypatch.context() as patched:  # (the runs of 100 apps or more: the kernel's, not numpy's)
        patched.setattr(problem_runs, "run_optima", None)
        assert len(list(many.fill_runs(40))) > 3000
    for caps in ({"max_functions": 3}, {"max_gpu_functions": 1}, {"gpu_memory_budget": 8}):
        assert capped_path(many, **caps) is not None
    assert calls == []
    assert [len(f.signatures) for f in compiled] == [1] * len(compiled)
    returns_an_array = numba.njit(lambda n: np.zeros(n))
    returns_an_array(2)
    assert len(calls) == 1


def test_a_ctrl_c_under_a_chain_of_system_errors_comes_out_as_keyboard_interrupt():
    """As numba raised it from a kernel that returned 14 arrays: a SystemError per array,
    each caused by the one before, the first by the KeyboardInterrupt. Any other SystemError
    is raised as it is."""

    def chain(depth: int, first: BaseException) -> None:
        if depth == 0:
            raise first
        try:
            chain(depth - 1, first)
        except BaseException as exc:
            raise SystemError("<function _numba_unpickle> returned a result with an exception set") from exc

    with pytest.raises(KeyboardInterrupt), kernels.interruptible():
        chain(14, KeyboardInterrupt())
    with pytest.raises(SystemError), kernels.interruptible():
        chain(14, ValueError("not an interrupt"))
