"""The full benchmark run behind benchmarks/RESULTS.md: bench rows, figures, tables.

Runs (all seeded): family ``paper`` under both cost models with every default solver and
a 600 s simulation of every plan; family ``scale`` (n = 8 ... 1000) under both cost
models with a 60 s limit per plan; a Dask sweep against the serial run; the figures of
benchmarks/figures.py. Writes RESULTS.md, the figures and the raw rows (rows.json per
run) under --out.

Run: python benchmarks/full_run.py --out benchmarks/results/full --results benchmarks/RESULTS.md
(needs pip install ".[plot,dask]")
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from dataclasses import asdict
from pathlib import Path

import figures

from harmonybatch_mp import plan_many
from harmonybatch_mp._io import write_text
from harmonybatch_mp.bench import run_bench
from harmonybatch_mp.families import _random
from harmonybatch_mp.solvers.kernels import COLGEN, EXPECTED, ready

SIM_S = 600.0
LIMIT_S = 60.0


def bench(out: Path, name: str, family: str, cost_model: str, solvers: tuple[str, ...], **kw) -> list[dict]:
    t = time.perf_counter()
    rows = [asdict(r) for r in run_bench(family, solvers=solvers, cost_model=cost_model, out=out / name, **kw)]
    print(f"{name}: {len(rows)} rows in {time.perf_counter() - t:.0f} s", flush=True)
    return rows


def gap_table(rows_by_cm: dict[str, list[dict]]) -> list[str]:
    out = ["| cost model | solver | plans | mean gap to the optimum | worst gap | mean realized / predicted "
           "| violation rate |", "|---|---|---|---|---|---|---|"]
    for cm, rows in rows_by_cm.items():
        for s in dict.fromkeys(r["solver"] for r in rows):
            ok = [r for r in rows if r["solver"] == s and r["cost"] is not None]
            if not ok:
                out.append(f"| {cm} | {s} | 0 | - | - | - | - |")
                continue
            gaps = [r["gap_to_best"] for r in ok]
            ratio = [r["realized"] / r["cost"] for r in ok if r["realized"]]
            viol = [r["violation_rate"] for r in ok if r["violation_rate"] is not None]
            out.append(f"| {cm} | {s} | {len(ok)} | {statistics.mean(gaps):+.2%} | {max(gaps):+.2%} | "
                       f"{statistics.mean(ratio):.4f} | {max(viol) if viol else float('nan'):.4f} |")
    return out


def time_table(rows_by_cm: dict[str, list[dict]]) -> list[str]:
    out = ["| cost model | solver | " + " | ".join(f"n = {n}" for n in sorted({r['apps'] for rows in
           rows_by_cm.values() for r in rows})) + " |"]
    sizes = sorted({r["apps"] for rows in rows_by_cm.values() for r in rows})
    out.append("|---|---|" + "---|" * len(sizes))
    for cm, rows in rows_by_cm.items():
        for s in dict.fromkeys(r["solver"] for r in rows):
            cells = []
            for n in sizes:
                hit = [r for r in rows if r["solver"] == s and r["apps"] == n]
                if not hit or hit[0]["wall_s"] is None:
                    cells.append("error" if hit else "-")
                    continue
                t = statistics.median(r["wall_s"] for r in hit)
                mark = {"optimal": "opt", "restricted_optimal": "restr.", "time_limit": "limit",
                        "bounded": "bnd"}.get(hit[0]["status"])
                gap = hit[0].get("gap_to_bound")
                if mark and mark != "opt" and gap is not None:
                    mark += f", {gap:.1%}"
                cells.append(f"{t:.3g} s" + (f" ({mark})" if mark else ""))
            out.append(f"| {cm} | {s} | " + " | ".join(cells) + " |")
    return out


def largest_proven(rows_by_cm: dict[str, list[dict]]) -> list[str]:
    out = []
    for cm, rows in rows_by_cm.items():
        proven = [r for r in rows if r["status"] == "optimal" and r["wall_s"] is not None and r["wall_s"] <= LIMIT_S]
        best = max(proven, key=lambda r: r["apps"], default=None)
        out.append(f"- `{cm}`: " + ("none" if best is None else
                                     f"n = {best['apps']} ({best['solver']}, {best['wall_s']:.1f} s)"))
    return out


def dask_speedup(n_instances: int = 24) -> tuple[float, float, float, float]:
    """Wall time of one sweep: a 1-process pool, a 2-process pool, and a 2-worker Dask
    LocalCluster (each worker one process, one thread); returns (serial, pool, dask, per plan)."""
    from dask.distributed import Client, LocalCluster

    calls = [{"workload": _random(__import__("numpy").random.default_rng(k), "VGG19", 11), "profile": "VGG19",
              "solver": "milp"} for k in range(n_instances)]
    t = time.perf_counter()
    serial = plan_many(calls, workers=1)
    t_serial = time.perf_counter() - t
    t = time.perf_counter()
    plan_many(calls, workers=2)
    t_pool = time.perf_counter() - t
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        plan_many(calls[:2], executor=client.get_executor())  # workers import the package once
        t = time.perf_counter()
        dist = plan_many(calls, executor=client.get_executor())
        t_dask = time.perf_counter() - t
    same = all(a.plan.total_cost == b.plan.total_cost for a, b in zip(serial, dist))
    assert same, "the Dask sweep gave different plans"
    return t_serial, t_pool, t_dask, t_serial / n_instances


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results/full", help="folder for rows and figures")
    ap.add_argument("--results", default="benchmarks/RESULTS.md", help="the report to write")
    args = ap.parse_args()
    out = Path(args.out)
    rel = Path(os.path.relpath(out, Path(args.results).parent))
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    # compile (or load from numba's cache on disk) colgen's and expected_bound's kernels first, so
    # no timed plan pays for it: in a fresh clone, the first `expected` plan of family `scale` that
    # bounds by column generation (n = 16) spent its 5 s compiling, and kept the per-app bound
    ready(COLGEN, None)
    ready(EXPECTED, None)
    knees = figures.single_app(out / "single_app.png")
    paper = {cm: bench(out, f"paper-{cm}", "paper", cm, ("milp", "dp", "greedy", "mbs", "batch"),
                       simulate_s=SIM_S, count=5, workers=2) for cm in ("expected", "full-batch")}
    scale = {"expected": bench(out, "scale-expected", "scale", "expected", ("milp", "dp", "greedy", "mbs"),
                               time_limit=LIMIT_S, workers=1),
             "full-batch": bench(out, "scale-full-batch", "scale", "full-batch", ("milp", "colgen", "dp", "greedy"),
                                 time_limit=LIMIT_S, workers=1)}
    t_serial, t_pool, t_dask, per_plan = dask_speedup()
    figures.heuristic_gaps(paper["expected"], out / "heuristic_gaps.png")
    figures.solver_time(scale["expected"] + [dict(r, solver=f"{r['solver']} (full-batch)")
                                              for r in scale["full-batch"]], out / "solver_time.png")
    figures.fidelity(paper, out / "fidelity.png")
    total = time.perf_counter() - start
    today = datetime.date.today().isoformat()
    lines = [
        "# Benchmark results", "",
        f"Recorded {today} on this machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; the whole run took {total / 60:.0f} minutes:", "",
        f"    python benchmarks/full_run.py --out {args.out} --results {args.results}", "",
        f"Raw rows (`rows.json`, `rows.csv`) and each run's `summary.md` are in `{rel}/`; "
        "`harmonybatch-mp bench` reproduces any one of them (e.g. `harmonybatch-mp bench --family paper --count 5 "
        f"--simulate {SIM_S:.0f} --cost-model expected --out paper-expected`).", "",
        "## Solution quality on family `paper` (4 models x 5 workloads, 8 apps each)", "",
        "Gap to the optimum: against the cheapest plan found for the instance, which is the `milp` plan, proven "
        "optimal over every partition (8 apps: all subsets). Realized cost and violations from a "
        f"{SIM_S:.0f} s simulation of every plan.", "",
        *gap_table(paper), "",
        f"![gaps]({rel}/heuristic_gaps.png)", "",
        "## Solve time against n (family `scale`, one VGG19 workload per n)", "",
        f"Median wall time per plan, time limit {LIMIT_S:.0f} s; (opt) = proven optimal over every partition, "
        "(restr.) = optimal over SLO-contiguous groups only, (bnd) = that plan made cheaper by moves of single apps, (limit) = stopped at the time limit; a percentage is "
        "the gap to the best bound any solver proved for the workload (valid for every plan). `milp`'s "
        "bound comes from column generation in what the limit leaves (`expected_bound` under `expected` up "
        "to 1,000 apps, `colgen` under `full-batch` up to 500 apps, whose plan is taken where cheaper); `dp`'s is the "
        "per-app bound.", "",
        *time_table(scale), "",
        f"Largest n solved to proven optimality within {LIMIT_S:.0f} s on this family:", "",
        *largest_proven(scale), "",
        "Under `full-batch`, benchmarks/results/colgen.md has the wider picture (n = 14-200, random and ladder "
        "workloads, all four models).", "",
        f"![time]({rel}/solver_time.png)", "",
        "## Predicted against realized cost", "",
        f"![fidelity]({rel}/fidelity.png)", "",
        "## Sweeps on Dask", "",
        f"24 plans (11-app VGG19 workloads, `milp`, all subsets): one worker process {t_serial:.1f} s; two worker "
        f"processes (`plan_many(..., workers=2)`) {t_pool:.1f} s ({t_serial / t_pool:.2f}x); a 2-worker Dask "
        f"`LocalCluster` {t_dask:.1f} s ({t_serial / t_dask:.2f}x), with the same plans. The scheduler and the "
        "nannies share this machine's two cores with the workers; Dask pays off across machines. At "
        f"{per_plan:.2f} s per plan, 100,000 such instances take {100_000 * per_plan / 3600:.0f} core-hours: about "
        f"{100_000 * per_plan / 3600 / (t_serial / t_pool):.0f} hours on this machine with the process pool, or "
        f"{100_000 * per_plan / 3600 / 64:.1f} hours on 64 Dask workers (`harmonybatch-mp bench --scheduler "
        "tcp://HOST:8786`, or `plan_many(..., executor=client.get_executor())`; the instances are independent, "
        "so the time divides by the workers as far as the cluster's cores scale; not measured here).", "",
        "## Single-app plans (the paper's Figs. 6-7)", "",
        f"![single app]({rel}/single_app.png)", "",
        "Knee points (where the best function kind changes):", "",
        *[f"- {panel}: " + (", ".join(f"{a} to {b} at {k:.2f}" for k, a, b in pts) or "no change")
          for panel, pts in knees.items()], "",
    ]
    write_text(args.results, "\n".join(lines))
    print(f"done in {total:.0f} s")


if __name__ == "__main__":
    main()
