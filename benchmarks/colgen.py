"""Exactness at scale: column generation (solver ``colgen``) under the full-batch model.

Part 1 checks colgen against two independent exact methods on small workloads: the
brute force over every set partition (solver ``exact``, n <= 12) and a subset DP written
here (``f(S) = min over X containing S's lowest app of w(X) + f(S \\ X)``, n <= 16).
Part 2 runs n = 14 ... 200 on random and SLO-ladder workloads of all four models and
records time, final gap, columns, LP rounds, branch-and-price nodes and the gap between the
LP bound and the plan; n = 30 runs again with 60 s. Part 4 runs n = 30 on three other draws.
Part 3 records the gap the default solver (``milp``) proves under the expected-batch model:
for the contiguous optimum with the per-app bound only, by default (moves of single apps, then
the relaxed bound in up to 5 s), and with the relaxed bound given the whole time limit; and
the least gap the relaxation could prove for the default plan, and a relaxation knowing each
group's exact ``E[K]``.
Part 5 runs colgen with side constraints (pins and isolated pairs, a GPU quota, a cap on the
functions) at n = 30, 60 and 100, each set against the unconstrained plan.
With ``--rel-gap G``, parts 2 and 4 ask ``colgen`` for a plan proven within ``G`` (status
``optimal`` once the gap is at most ``G``): how soon a target such as 0.1% is proven.

Run: python benchmarks/colgen.py [--parts 1 2 3 4 5] [--sizes 14 20 30 60 100 150 200] [--rel-gap G]
     > benchmarks/results/colgen.md
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from harmonybatch_mp import App, Workload, solve
from harmonybatch_mp.expected_cost import expected_size_bound
from harmonybatch_mp.expected_search import lower_bound
from harmonybatch_mp.families import LADDERS, _random
from harmonybatch_mp.profiles import BUILTIN_MODELS
from harmonybatch_mp.solvers import Problem, SideConstraints, as_instance
from harmonybatch_mp.solvers.expected_bound import ceiling, expected_bound
from harmonybatch_mp.solvers.kernels import COLGEN, EXPECTED, ready

#: Time limit per run by n (seconds): the targets of issue 9 (10 s at n = 30, 60 s at n = 60,
#: 120 s at n = 150) and 60 s for n = 100 and 200.
LIMITS = {14: 10, 20: 10, 30: 10, 60: 60, 100: 60, 150: 120, 200: 60}
#: Sizes of part 2.
SIZES = [14, 20, 30, 60, 100, 150, 200]
#: Sizes of the run under the expected-batch model (random workloads).
EXPECTED_SIZES = (30, 60, 100, 150)
#: Sizes of the run with side constraints (random workloads).
SIDE_SIZES = (30, 60, 100)


def ladder(rng: np.random.Generator, model: str, n: int) -> Workload:
    """n apps on the model's SLO ladder (paper Sec. V), heavy-tailed rates as in family ``paper``."""
    lo, hi = LADDERS[model]
    rates = np.exp(rng.normal(np.log(0.5), 1.2, n)) * 5
    return Workload([App(f"app{i}", float(s), float(np.clip(round(r, 4), 1e-3, 1e4)))
                     for i, (s, r) in enumerate(zip(np.round(np.linspace(lo, hi, n), 3), rates))])


def subset_dp(workload: Workload, model: str) -> float:
    """The optimum over every partition by a DP over subsets (independent of the solvers)."""
    p = Problem(*as_instance(workload, model), cost_model="full-batch")
    n = p.n
    w = [0.0] + [p.weighted_cost(m) for m in range(1, 1 << n)]
    f = [0.0] * (1 << n)
    for s in range(1, 1 << n):
        low = s & -s
        rest = s ^ low
        best = w[s]
        sub = rest
        while True:  # every submask of rest, the empty one last (X = the lowest app alone)
            sub = (sub - 1) & rest
            x = sub | low
            v = w[x] + f[s ^ x]
            if v < best:
                best = v
            if not sub:
                break
        f[s] = best
    return f[-1]


def part1() -> None:
    print("## Against independent exact methods (full-batch)\n")
    print("| n | model | workload | reference | reference time | colgen time | colgen status | colgen = reference |")
    print("|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(11)
    for n, ref in ((10, "exact"), (12, "exact"), (14, "subset DP"), (16, "subset DP")):
        for model in ("VGG19", "GPT-2"):
            w = _random(rng, model, n)
            t = time.perf_counter()
            want = (solve(w, model, solver="exact", cost_model="full-batch", force=True).total_cost
                    if ref == "exact" else subset_dp(w, model))
            t_ref = time.perf_counter() - t
            t = time.perf_counter()
            plan = solve(w, model, solver="colgen", cost_model="full-batch", time_limit=120)
            t_cg = time.perf_counter() - t
            same = abs(plan.total_cost - want) <= 1e-9 * want and plan.solver.bound <= want * (1 + 1e-9)
            print(f"| {n} | {model} | random | {ref} | {t_ref:.1f} s | {t_cg:.2f} s | {plan.solver.status} "
                  f"| {'yes' if same else 'NO'} |", flush=True)
    print()


#: Column legend of the scale tables.
LEGEND = ("`gap` is the certificate's, (plan - bound) / plan; `LP gap` is plan / bound - 1 for the bound before "
          "the enumeration proof (the LP's Lagrangian bound, or the per-app bound while that is higher: the "
          "LP-vs-integer gap once the LP has converged); `nodes` counts the nodes of branch and price (- where "
          "none was needed); `dp excess` is the contiguous optimum's excess over the plan.")
#: Draws of part 4 (part 2 draws with seed n).
OTHER_SEEDS = (1, 2, 3)


def part2(sizes: list[int], limits: dict[int, float] = LIMITS, title: str = "Scale (full-batch)",
          rel_gap: float = 0.0) -> None:
    print(f"## {title}{_asked(rel_gap)}\n")
    print("Time limit per run: " + ", ".join(f"n = {n}: {limits.get(n, 60)} s" for n in sizes) + ". " + LEGEND + "\n")
    print("| n | workload | model | time | status | gap | LP gap | columns | LP rounds | nodes | dp excess |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        _scale_rows(n, np.random.default_rng(n), limits.get(n, 60), f"| {n} |", rel_gap)
    print()


def _asked(rel_gap: float) -> str:
    """The title's note of a gap asked of ``colgen`` (none at 0)."""
    return f", rel_gap {rel_gap:g}" if rel_gap else ""


def part4(n: int = 30, seeds: tuple[int, ...] = OTHER_SEEDS, rel_gap: float = 0.0) -> None:
    """Part 2's runs at ``n`` on other draws of the workloads (seeds), with the same limit."""
    print(f"## n = {n} on other draws (full-batch){_asked(rel_gap)}\n")
    print(f"Part 2's workloads at n = {n} drawn with other seeds; time limit {LIMITS[n]} s. " + LEGEND + "\n")
    print("| seed | workload | model | time | status | gap | LP gap | columns | LP rounds | nodes | dp excess |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for seed in seeds:
        _scale_rows(n, np.random.default_rng(seed), LIMITS[n], f"| {seed} |", rel_gap)
    print()


def _scale_rows(n: int, rng: np.random.Generator, limit: float, first: str, rel_gap: float = 0.0) -> None:
    """One row per workload kind and model (``first`` is the row's first cell), once the
    kernels are compiled: a first call after an install or a change of the kernels would
    spend its time limit compiling them (:func:`~harmonybatch_mp.solvers.kernels.ready`)."""
    ready(COLGEN, None)
    for kind in ("random", "ladder"):
        for model in BUILTIN_MODELS:
            w = _random(rng, model, n) if kind == "random" else ladder(rng, model, n)
            t = time.perf_counter()
            try:
                plan = solve(w, model, solver="colgen", cost_model="full-batch", time_limit=limit, rel_gap=rel_gap)
            except Exception as exc:  # an infeasible draw is reported, not fatal
                print(f"{first} {kind} | {model} | - | {type(exc).__name__} | - | - | - | - | - | - |", flush=True)
                continue
            elapsed = time.perf_counter() - t
            dp = solve(w, model, solver="dp", cost_model="full-batch").total_cost
            s = plan.solver
            lp_gap = "-" if s.relaxation_bound is None else f"{plan.total_cost / s.relaxation_bound - 1:.3%}"
            print(f"{first} {kind} | {model} | {elapsed:.1f} s | {s.status} | {s.gap:.3%} | {lp_gap} | {s.columns} "
                  f"| {s.iterations} | {'-' if s.nodes is None else s.nodes} | {dp / plan.total_cost - 1:+.3%} |",
                  flush=True)


def part3() -> None:
    print("## Under the expected-batch model\n")
    print("`milp` (the default solver) under `expected` optimises over contiguous candidate groups. With "
          "`bound_time=0, move_time=0` it returns that contiguous optimum, and its certificate's bound is the "
          "global per-app bound (`formulations/model.md` section 12.2). By default it then moves single apps "
          "between groups for up to 5 s (`move_time`; `formulations/set_partitioning.md`, \"Moves\"; `moves` is "
          "how much cheaper that made the plan) and spends what the limit leaves (n <= 500; `bound_time`'s "
          "default under a limit, 5 s up to 2026-12-04) on column generation on the relaxed model "
          "(`expected_bound`: `solvers/expected_bound.py`, `formulations/column_generation.md`) to raise the bound. The next two columns run `expected_bound` alone in all the time the limit leaves "
          "after the contiguous plan. Every gap is (plan - bound) / plan, over every partition, for the default "
          "plan except in the first gap column. The last two are floors, not bounds: `rows allow` is the least "
          "gap `expected_bound` can prove for the default plan however long it runs (`ceiling`: the plan's groups "
          "at their least weights over the rows of each relaxation it runs, the largest), and `exact E[K]` the least a "
          "relaxation could with the same rows but each group's exact `E[K]` for every configuration (no anchor, "
          "bins or levels: `formulations/column_generation.md`, \"What the rows can prove\").\n")
    ready(EXPECTED, None)  # (no plan's bound time goes to compiling expected_bound's kernel)
    print("| n | model | time limit | contiguous plan, per-app bound: gap (time) | default `milp`: status "
          "| moves | gap (time) | bound time | gap (expected_bound) | rows allow | exact E[K] |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in EXPECTED_SIZES:
        rng = np.random.default_rng(1000 + n)
        for model in BUILTIN_MODELS:
            w = _random(rng, model, n)
            limit = LIMITS.get(n, 60)
            t = time.perf_counter()
            try:
                fast = solve(w, model, cost_model="expected", time_limit=limit, bound_time=0, move_time=0)
            except Exception as exc:  # an infeasible draw is reported, not fatal
                print(f"| {n} | {model} | {limit} s | {type(exc).__name__} | - | - | - | - | - | - | - |", flush=True)
                continue
            t_fast = time.perf_counter() - t
            t = time.perf_counter()
            plan = solve(w, model, cost_model="expected", time_limit=limit)
            t_plan = time.perf_counter() - t
            t = time.perf_counter()
            problem = Problem(*as_instance(w, model), cost_model="expected")
            bound = expected_bound(problem, deadline=t + max(0.0, limit - t_fast))
            t_bound = time.perf_counter() - t
            rows, exact = _floors(problem, plan)
            print(f"| {n} | {model} | {limit} s | {fast.solver.gap:.2%} ({t_fast:.1f} s) | {plan.solver.status} "
                  f"| {1 - plan.total_cost / fast.total_cost:.3%} | {plan.solver.gap:.2%} ({t_plan:.1f} s) "
                  f"| {t_bound:.1f} s | {1 - bound / plan.total_cost:.2%} | {1 - rows / plan.total_cost:.2%} "
                  f"| {1 - exact / plan.total_cost:.2%} |", flush=True)
    print()


def _floors(problem: Problem, plan) -> tuple[float, float]:
    """The most a bound can be against ``plan`` (under ``expected``): ``ceiling`` over the
    relaxation's rows, and the plan's groups each at the least over the configurations that can
    serve it of ``LB_c`` at its exact ``E[K]`` (maximal timeouts), the search's own bound."""
    index = {a.name: i for i, a in enumerate(problem.apps)}
    groups = [[index[a] for a in g.apps] for g in plan.groups]
    tables, grid = problem.tables, problem.grid
    rates, slos = np.array([a.rate for a in problem.apps]), np.array([a.slo for a in problem.apps])
    exact = 0.0
    for members in groups:
        members = np.array(sorted(members, key=lambda a: slos[a]))
        configs = np.flatnonzero(grid.memory_ok & (tables.latency_max_upto <= slos[members].min()))
        size = expected_size_bound(rates[members], slos[members][None, :] - tables.latency_max_upto[configs][:, None])
        exact += rates[members].sum() / problem.total_rate * lower_bound(tables, configs, size).min()
    return ceiling(problem, [sum(1 << a for a in members) for members in groups]), exact


def _kept(plan, side: SideConstraints) -> bool:
    """Whether ``plan`` keeps ``side``, counted from the plan itself (not by the solvers' code)."""
    groups = plan.groups
    where = {a: g for g in groups for a in g.apps}
    return ((side.max_functions is None or len(groups) <= side.max_functions)
            and (side.max_gpu_functions is None or sum(g.kind == "gpu" for g in groups) <= side.max_gpu_functions)
            and all(where[a].kind == kind for a, kind in side.pin)
            and all(where[a] is not where[b] for a, b in side.isolate))


def _pins(workload: Workload, model: str, picked: list[str]) -> dict[str, str]:
    """The ``picked`` apps pinned to CPU and GPU in turn, each to the other kind where the one
    its turn gives cannot serve it alone (an app only GPU serves is pinned to GPU)."""
    problem = Problem(*as_instance(workload, model), cost_model="full-batch")
    index = {a.name: i for i, a in enumerate(problem.apps)}
    pins = {}
    for turn, name in enumerate(picked):
        kinds = {c.kind for c in problem.per_class(1 << index[name])}
        want = ("cpu", "gpu")[turn % 2]
        pins[name] = want if want in kinds else ({"cpu", "gpu"} - {want}).pop()
    return pins


def part5(sizes: tuple[int, ...] = SIDE_SIZES) -> None:
    """colgen with side constraints on random workloads: a tenth of the apps pinned (half of them
    to CPU, half to GPU, each to a kind that serves it) and three isolated pairs; at most one
    GPU function fewer than the unconstrained plan has (at least 1); at most one function fewer
    in all."""
    print("## Side constraints at scale (full-batch)\n")
    print("Random workloads (seed 2000 + n), colgen with the time limit of part 2. Each constraint is set "
          "against the unconstrained plan: `pins` pins a tenth of the apps (half to CPU, half to GPU, "
          "each to a kind that serves it alone) and isolates three pairs; `max_gpu` allows one GPU function fewer than it has (at least 1); "
          "`max_functions` one function fewer. `cost` is the plan's excess over the unconstrained plan; "
          "`kept` counts the constraints from the plan itself.\n")
    print("| n | model | constraint | time | status | gap | cost | functions (GPU) | nodes | kept |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    ready(COLGEN, None)
    for n in sizes:
        rng = np.random.default_rng(2000 + n)
        limit = LIMITS.get(n, 60)
        for model in BUILTIN_MODELS:
            w = _random(rng, model, n)
            names = [a.name for a in w.apps]
            picked = [names[i] for i in rng.choice(n, size=max(2, n // 10), replace=False)]
            pairs = tuple((names[i], names[j]) for i, j in rng.choice(n, size=(3, 2), replace=False))
            try:
                free = solve(w, model, solver="colgen", cost_model="full-batch", time_limit=limit)
            except Exception as exc:  # an infeasible draw is reported, not fatal
                print(f"| {n} | {model} | none | - | {type(exc).__name__} | - | - | - | - | - |", flush=True)
                continue
            gpus = sum(g.kind == "gpu" for g in free.groups)
            sides = {"none": SideConstraints(),
                     "pins": SideConstraints(pin=_pins(w, model, picked), isolate=pairs),
                     "max_gpu": SideConstraints(max_gpu_functions=max(1, gpus - 1)),
                     "max_functions": SideConstraints(max_functions=max(1, len(free.groups) - 1))}
            for name, side in sides.items():
                t = time.perf_counter()
                try:
                    plan = free if name == "none" else solve(w, model, solver="colgen", cost_model="full-batch",
                                                             time_limit=limit, side=side)
                except Exception as exc:  # a constraint no plan keeps is reported, not fatal
                    print(f"| {n} | {model} | {name} | {time.perf_counter() - t:.1f} s | {type(exc).__name__} "
                          f"| - | - | - | - | - |", flush=True)
                    continue
                s = plan.solver
                print(f"| {n} | {model} | {name} | {s.wall_time_s:.1f} s | {s.status} | {s.gap:.3%} "
                      f"| {plan.total_cost / free.total_cost - 1:+.3%} | {len(plan.groups)} "
                      f"({sum(g.kind == 'gpu' for g in plan.groups)}) | {'-' if s.nodes is None else s.nodes} "
                      f"| {'yes' if _kept(plan, side) else 'NO'} |", flush=True)
    print()


#: The parts, in the order a run takes them.
PARTS = (1, 2, 4, 3, 5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 epilog="Parts: 1 against the independent exact methods, 2 scale (and n = 30 "
                                        "with 60 s), 3 the expected-batch model, 4 n = 30 on other draws, "
                                        "5 side constraints. A part alone: --parts 5 > part5.md")
    ap.add_argument("--sizes", type=int, nargs="+", default=SIZES, help="the sizes of part 2")
    ap.add_argument("--parts", type=int, nargs="+", choices=sorted(PARTS), default=list(PARTS), metavar="P",
                    help="the parts to run, of 1-5 (default: all)")
    ap.add_argument("--skip-check", action="store_true", help="leave out part 1 (the independent exact methods)")
    ap.add_argument("--rel-gap", type=float, default=0.0, metavar="G",
                    help="parts 2 and 4: the relative gap colgen proves its plan within (default 0: the optimum)")
    args = ap.parse_args()
    if not 0 <= args.rel_gap < 1:
        ap.error(f"--rel-gap: expected a number from 0 to 1, got {args.rel_gap:g}")
    parts = [p for p in PARTS if p in args.parts and not (p == 1 and args.skip_check)]
    print("# Column generation\n")
    print(f"Machine: {platform.machine()}, Python {platform.python_version()}, 2 cores.\n")
    print("    python benchmarks/colgen.py"
          + (f" --parts {' '.join(map(str, parts))}" if parts != list(PARTS) else "")
          + (f" --sizes {' '.join(map(str, args.sizes))}" if args.sizes != SIZES and 2 in parts else "")
          + (f" --rel-gap {args.rel_gap:g}" if args.rel_gap else "") + "\n")
    for part in parts:
        if part == 1:
            part1()
        elif part == 2:
            part2(args.sizes, rel_gap=args.rel_gap)
            part2([30], {30: 60}, "n = 30 with a longer limit (full-batch): what branch and price closes given time",
                  args.rel_gap)
        elif part == 4:
            part4(rel_gap=args.rel_gap)
        else:
            {3: part3, 5: part5}[part]()


if __name__ == "__main__":
    main()
