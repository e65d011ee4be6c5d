"""How well a time limit bounds the whole call: the wall time of ``solve()`` against its
``time_limit``, from 60 to 5,000 apps, for ``colgen`` (full-batch) and the default ``milp``
(expected), on random workloads of all four models; then eight calls at once, in threads (the
same solver, or a mix); one call with a short limit among threads that keep calling; then the
first call of a fresh process, which loads what the solvers import on first use; then the other
built-in solvers (``exact``, ``greedy``, ``mbs``, ``batch``), which took no time limit before, and
``dp`` and ``milp`` on 100,000 apps, where the limit stops the contiguous runs.

Run: python benchmarks/time_limits.py > benchmarks/results/time_limits.md
"""

from __future__ import annotations

import platform
import random
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from harmonybatch_mp import App, SideConstraints, SolverError, Workload, solve
from harmonybatch_mp.families import _random
from harmonybatch_mp.profiles import BUILTIN_MODELS
from harmonybatch_mp.solvers.kernels import COLGEN, EXPECTED, ready

#: (apps, seconds) per table row group.
CASES = ((60, 3.0), (150, 3.0), (1000, 1.0), (5000, 5.0))
SOLVERS = (("colgen", "full-batch"), ("milp", "expected"))
#: Calls at once (threads), their time limit, and the rounds of them.
CROWD, CROWD_LIMIT, CROWD_ROUNDS = 8, 6.0, 3
#: One call with a short limit among others that keep calling (:func:`busy`): its limit, the
#: calls around it (threads), and how many times it is timed.
BUSY_LIMIT, BUSY_THREADS, BUSY_RUNS = 1.0, 7, 15
#: The first call of a fresh process: its time limit, the processes per solver, and its apps.
FIRST_LIMIT, FIRST_RUNS, FIRST_APPS = 0.1, 3, "0.3:2,0.5:5,0.8:10,1.0:20,0.4:3,0.9:7"
#: The other solvers: (solver, cost model, apps, time limit, options), on :func:`_uniform` seed 5.
OTHERS = (("exact", "full-batch", 13, 5.0, {"force": True}), ("exact", "expected", 13, 5.0, {"force": True}),
          ("greedy", "full-batch", 20000, 4.0, {}), ("greedy", "full-batch", 100000, 50.0, {}),
          ("mbs", "expected", 20000, 8.0, {}), ("batch", "full-batch", 100000, 25.0, {}),
          ("dp", "full-batch", 100000, 30.0, {}), ("milp", "full-batch", 100000, 30.0, {}))
FIRST_CALL = """
import sys, time
from harmonybatch_mp import SideConstraints, SolverError, solve
solver, cost_model, limit, apps = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
options = {} if solver == "default" else {"solver": solver}
t = time.perf_counter()
plan = solve(apps, "VGG19", cost_model=cost_model, time_limit=limit, **options)
print(time.perf_counter() - t, plan.solver.name, plan.solver.status)
"""


def main() -> None:
    print("# Time limits\n")
    print(f"Machine: {platform.machine()}, Python {platform.python_version()}, 2 cores. Random workloads "
          "(family `random`, seed n), one call each; `over` is the wall time of the whole `solve()` call "
          "less its `time_limit`.\n")
    print("    python benchmarks/time_limits.py\n")
    print("| n | limit | model | solver | cost model | wall time | over | status |")
    print("|---|---|---|---|---|---|---|---|")
    ready(COLGEN, None)
    ready(EXPECTED, None)
    worst: dict[int, float] = {}
    for n, limit in CASES:
        rng = np.random.default_rng(n)
        for model in BUILTIN_MODELS:
            w = _random(rng, model, n)
            for solver, cost_model in SOLVERS:
                t = time.perf_counter()
                try:
                    status = solve(w, model, solver=solver, cost_model=cost_model, time_limit=limit).solver.status
                except Exception as exc:  # a call with no plan by the limit is a row too
                    status = type(exc).__name__
                wall = time.perf_counter() - t
                worst[n] = max(worst.get(n, -np.inf), wall - limit)
                print(f"| {n} | {limit:g} s | {model} | {solver} | {cost_model} | {wall:.3f} s "
                      f"| {wall - limit:+.3f} s | {status} |", flush=True)
    print("\nMost over the limit: " + ", ".join(f"n = {n}: {s:+.3f} s" for n, s in worst.items()) + ".")
    crowd()
    busy()
    first_calls()
    others()


def crowd() -> None:
    """Eight calls at once, each in its own thread, on random workloads (seeds 0-7, the four
    models in turn): ``milp`` under ``expected`` on 20 apps with its bound given the whole
    limit (``bound_time=60``), ``colgen`` under ``full-batch`` on 60 apps, and the default
    ``milp`` on a mix (:func:`_mixed`)."""
    print(f"\n## {CROWD} calls at once\n")
    print(f"{CROWD} threads, each one `solve()` call on random apps (seeds 0-{CROWD - 1}, the four models in "
          f"turn), `time_limit={CROWD_LIMIT:g}`; {CROWD_ROUNDS} rounds. `over`: the latest call's wall time less "
          "the limit. `mixed`: the default `milp` on 50, 55, ..., 85 apps, `full-batch` and `expected` in turn, "
          "every third call with `max_functions=6`.\n")
    print("| solver | cost model | n | round | wall times | over |")
    print("|---|---|---|---|---|---|")

    def same(solver: str, cost_model: str, n: int, extra: dict) -> list[dict]:
        return [{"workload": _random(np.random.default_rng(s), BUILTIN_MODELS[s % 4], n),
                 "profile": BUILTIN_MODELS[s % 4], "solver": solver, "cost_model": cost_model, **extra}
                for s in range(CROWD)]

    groups = (("milp", "expected", "20", same("milp", "expected", 20, {"bound_time": 60.0})),
              ("colgen", "full-batch", "60", same("colgen", "full-batch", 60, {})),
              ("milp", "mixed", "50-85", _mixed()))
    for solver, cost_model, n, jobs in groups:
        for r in range(CROWD_ROUNDS):
            with ThreadPoolExecutor(CROWD) as pool:
                walls = list(pool.map(_timed, jobs))
            print(f"| {solver} | {cost_model} | {n} | {r + 1} | {min(walls):.3f}-{max(walls):.3f} s "
                  f"| {max(walls) - CROWD_LIMIT:+.3f} s |", flush=True)


def _mixed() -> list[dict]:
    """Eight calls of the default ``milp`` (seeds 100-107, the four models in turn): 50 + 5 i
    apps, ``full-batch`` for even ``i`` and ``expected`` for odd, ``max_functions=6`` for every
    third (some of these end without a plan by the limit: a SolverError)."""
    return [{"workload": _random(np.random.default_rng(100 + i), BUILTIN_MODELS[i % 4], 50 + 5 * i),
             "profile": BUILTIN_MODELS[i % 4], "cost_model": "full-batch" if i % 2 == 0 else "expected",
             "side": SideConstraints(max_functions=6) if i % 3 == 0 else None} for i in range(CROWD)]


def _timed(call: dict) -> float:
    """The wall time of one ``solve()`` call under :data:`CROWD_LIMIT`, a SolverError included."""
    t = time.perf_counter()
    try:
        solve(**call, time_limit=CROWD_LIMIT)
    except SolverError:
        pass
    return time.perf_counter() - t


def _uniform(seed: int, n: int) -> Workload:
    """``n`` apps with SLOs uniform in 0.25-1.5 s and rates in 0.5-40 requests/s."""
    rng = random.Random(seed)
    return Workload([App(f"a{i}", round(rng.uniform(0.25, 1.5), 3), round(rng.uniform(0.5, 40), 2)) for i in range(n)])


def busy() -> None:
    """The default ``milp`` under ``expected`` on 60 apps (VGG19, :func:`_uniform` seed 11),
    with :data:`BUSY_LIMIT`, while :data:`BUSY_THREADS` threads call ``dp`` under ``expected``
    on 200 GPT-2 apps (seeds 100-106) with the same limit, again and again: its searches in
    batches under ``expected`` take most of the limit, at a pace that varies with the others'."""
    print(f"\n## One short call among {BUSY_THREADS} busy threads\n")
    print(f"The default `milp` under `expected` on 60 VGG19 apps (SLOs uniform in 0.25-1.5 s, rates in "
          f"0.5-40/s), `time_limit={BUSY_LIMIT:g}`, timed {BUSY_RUNS} times while {BUSY_THREADS} threads call `dp` "
          "under `expected` on 200 GPT-2 apps with the same limit, one call after another.\n")
    stop = threading.Event()
    unplanned = []  # the busy calls that had no plan by their limit (they go on with the next)

    def work(k: int) -> None:
        while not stop.is_set():
            try:
                solve(_uniform(100 + k, 200), "GPT-2", solver="dp", time_limit=BUSY_LIMIT)
            except SolverError:
                unplanned.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(BUSY_THREADS)]
    for thread in threads:
        thread.start()
    walls = []
    try:  # (the threads stop whatever the timed call raises)
        time.sleep(0.5)
        for _ in range(BUSY_RUNS):
            t = time.perf_counter()
            solve(_uniform(11, 60), "VGG19", time_limit=BUSY_LIMIT)
            walls.append(time.perf_counter() - t)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    print("| wall times | median | over, most | calls past the limit | busy calls without a plan |")
    print("|---|---|---|---|---|")
    print(f"| {min(walls):.3f}-{max(walls):.3f} s | {float(np.median(walls)):.3f} s | {max(walls) - BUSY_LIMIT:+.3f} s "
          f"| {sum(w > BUSY_LIMIT for w in walls)} of {BUSY_RUNS} | {len(unplanned)} |", flush=True)


def first_calls() -> None:
    """The first ``solve()`` of a fresh process (its own ``python``), 6 VGG19 apps, each
    solver and cost model :data:`FIRST_RUNS` times: the modules a solver imports on first use
    are inside its time limit."""
    print("\n## The first call of a process\n")
    print(f"Each row: {FIRST_RUNS} fresh processes, each timing its first `solve()` (6 VGG19 apps, "
          f"`time_limit={FIRST_LIMIT:g}`), after `import harmonybatch_mp`.\n")
    print("| solver | cost model | wall times | over | solver, status |")
    print("|---|---|---|---|---|")
    for solver, cost_model in (("default", "expected"), ("default", "full-batch"), ("milp", "expected"),
                               ("dp", "expected"), ("dp", "full-batch"), ("colgen", "full-batch")):
        runs = [subprocess.run([sys.executable, "-c", FIRST_CALL, solver, cost_model, str(FIRST_LIMIT), FIRST_APPS],
                               capture_output=True, text=True, check=True).stdout.split()
                for _ in range(FIRST_RUNS)]
        walls = [float(r[0]) for r in runs]
        print(f"| {solver} | {cost_model} | {min(walls):.3f}-{max(walls):.3f} s | {max(walls) - FIRST_LIMIT:+.3f} s "
              f"| {', '.join(sorted({' '.join(r[1:]) for r in runs}))} |", flush=True)


def others() -> None:
    """``exact``, ``greedy``, ``mbs`` and ``batch`` under a time limit (:data:`OTHERS`), and ``dp``
    and ``milp`` on 100,000 apps, once each and alone: each ends within its limit, with a plan
    (``time_limit`` where it was stopped) or a SolverError where it had none by then."""
    print("\n## The other solvers\n")
    print("One call each, alone, on VGG19 apps with SLOs uniform in 0.25-1.5 s and rates in 0.5-40/s (seed 5); "
          "`exact` with `force=True`. `cost`: the plan's cost per request, and its groups.\n")
    print("| solver | cost model | n | limit | wall time | over | status | cost |")
    print("|---|---|---|---|---|---|---|---|")
    for solver, cost_model, n, limit, options in OTHERS:
        w = _uniform(5, n)
        t = time.perf_counter()
        try:
            plan = solve(w, "VGG19", solver=solver, cost_model=cost_model, time_limit=limit, **options)
            status, cost = plan.solver.status, f"{plan.total_cost:.4e} ({len(plan.groups)} groups)"
        except SolverError as exc:
            status, cost = f"SolverError ({str(exc).split(' (solve()')[0]})", "-"
        wall = time.perf_counter() - t
        print(f"| {solver} | {cost_model} | {n} | {limit:g} s | {wall:.3f} s | {wall - limit:+.3f} s | {status} "
              f"| {cost} |", flush=True)


if __name__ == "__main__":
    main()
