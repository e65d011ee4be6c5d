"""Re-planning under changing load: realized cost, SLO violations and reconfigurations.

Traces:

* ``azure``: the four Azure Functions slices shipped in ``examples/azure/`` (120 minutes),
  VGG19 with SLOs 0.3, 0.5, 0.8, 1.0 s, as in the paper's trace experiment;
* ``diurnal``: a synthetic trace made here: 4 apps (SLOs 0.3, 0.5, 0.8, 1.0 s), 240 minutes,
  per-minute counts Poisson with mean ``60 * m_i * (1 + 0.8 sin(2 pi t / 120 + phi_i))``,
  ``m = (4, 10, 20, 8)`` requests/s, ``phi = (0, pi/2, pi, 3 pi/2)``, seed 0: two "days"
  of two hours with the apps' peaks spread over the day.

Policies, all with ``--solver milp`` and the ``expected`` cost model: ``static`` (one plan
for the warm-up window's mean rates), ``P=0`` (re-plan every window from scratch, the
paper's practice), ``oracle`` (each window planned on its true rates: not realizable), and
a sweep of the change penalty P (CNY per change) and the window length. Every schedule is
simulated over its trace (seed 0) from the end of the warm-up.

A last part replans the Azure slices under a ``time_limit`` for the whole call (P = 0.001,
1-minute windows), per solver, against the same replan without a limit.

Run: python benchmarks/replan.py [--plot benchmarks/results/replan.png] > benchmarks/results/replan.md
(the plot needs the optional extra: pip install ".[plot]")
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from harmonybatch_mp import App, Workload
from harmonybatch_mp.replan import baselines, load_slos, replan
from harmonybatch_mp.schedule_sim import simulate_schedule
from harmonybatch_mp.trace import Trace, load_trace

ROOT = Path(__file__).resolve().parent.parent
PENALTIES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
WINDOWS = (1, 5, 10)
LIMITED = {"solvers": ("milp", "dp", "greedy"), "limits": (0.3, 1.0, 2.0, 5.0), "penalty": 1e-3}


def diurnal(seed: int = 0, minutes: int = 240) -> tuple[Trace, Workload]:
    rng = np.random.default_rng(seed)
    t = np.arange(minutes)
    means, phases, names = (4, 10, 20, 8), (0, np.pi / 2, np.pi, 3 * np.pi / 2), ("d1", "d2", "d3", "d4")
    counts = {n: tuple(float(x) for x in rng.poisson(60 * m * (1 + 0.8 * np.sin(2 * np.pi * t / 120 + ph))))
              for n, m, ph in zip(names, means, phases)}
    return Trace(counts), Workload([App(n, s, 1) for n, s in zip(names, (0.3, 0.5, 0.8, 1.0))])


def run(schedule, trace, solve_s: float | None) -> dict:
    r = simulate_schedule(schedule, trace, seed=0)
    o = r.overall
    return {"cost": o.realized_cost, "spend": o.realized_cost * o.requests, "violations": o.slo_violations,
            "reconfigurations": schedule.total_reconfigurations, "windows": len(schedule.windows),
            "solve_ms": None if solve_s is None else 1e3 * solve_s / max(1, len(schedule.windows)),
            "requests": o.requests}


def evaluate(name: str, trace: Trace, slos: Workload) -> list[tuple[str, int, float | None, dict]]:
    rows = []
    base = baselines(trace, slos, "VGG19", window_min=1)
    for policy in ("static", "oracle"):
        rows.append((policy, 1, None, run(base[policy], trace, None)))
    for window in WINDOWS:
        for penalty in (0.0, *PENALTIES):
            t = time.perf_counter()
            s = replan(trace, slos, "VGG19", window_min=window, change_penalty=penalty)
            rows.append(("P=0" if penalty == 0 else "penalty", window, penalty, run(s, trace, time.perf_counter() - t)))
    return rows


def report(name: str, rows) -> None:
    ref = next(r for p, w, pen, r in rows if p == "P=0" and w == 1)
    print(f"## {name}\n")
    print("| policy | window (min) | P (CNY/change) | realized cost per request | vs P=0, 1 min | SLO violations "
          "| reconfigurations | vs P=0, 1 min | solve per window |")
    print("|---|---|---|---|---|---|---|---|---|")
    for policy, window, penalty, r in rows:
        pen = "-" if penalty is None else f"{penalty:g}"
        solve_ms = "-" if r["solve_ms"] is None else f"{r['solve_ms']:.0f} ms"
        share = r["reconfigurations"] / max(1, ref["reconfigurations"])
        print(f"| {policy} | {window} | {pen} | {r['cost']:.4e} | {r['cost'] / ref['cost'] - 1:+.2%} | "
              f"{r['violations']} | {r['reconfigurations']} | {share:.0%} | {solve_ms} |")
    good = [(pen, r) for p, w, pen, r in rows if p == "penalty" and w == 1
            and r["reconfigurations"] <= ref["reconfigurations"] / 2 and r["cost"] <= ref["cost"] * 1.01]
    if good:
        pen, r = min(good, key=lambda x: x[0])
        print(f"\nSmallest P (1-minute windows) that at least halves the reconfigurations at under 1% extra realized "
              f"cost: **P = {pen:g}** ({r['reconfigurations']} against {ref['reconfigurations']}, "
              f"{r['cost'] / ref['cost'] - 1:+.2%} realized cost).\n")
    else:
        print("\nNo P in the sweep halves the reconfigurations (1-minute windows) at under 1% extra realized cost.\n")


def limited(trace: Trace, slos: Workload) -> None:
    """The Azure slices replanned within a ``time_limit`` for the whole call, per solver:
    realized cost and changes against the same replan without a limit."""
    penalty = LIMITED["penalty"]
    print(f"## Under a time limit (Azure slices, P = {penalty:g}, 1-minute windows)\n")
    print("Each row is one `replan(..., time_limit=...)` call; \"kept\" counts the windows that kept the running "
          "plan for want of time (`settings[\"kept_at_time_limit\"]`), and the objective is the realized spend "
          "plus P per change, against the same solver without a limit.\n")
    print("| solver | limit | wall time | kept | reconfigurations | realized cost per request "
          "| objective vs no limit |")
    print("|---|---|---|---|---|---|---|")
    for solver in LIMITED["solvers"]:
        free = run(replan(trace, slos, "VGG19", change_penalty=penalty, solver=solver), trace, None)
        reference = free["spend"] + penalty * free["reconfigurations"]
        print(f"| {solver} | none | - | - | {free['reconfigurations']} | {free['cost']:.4e} | - |")
        for limit in LIMITED["limits"]:
            t = time.perf_counter()
            s = replan(trace, slos, "VGG19", change_penalty=penalty, solver=solver, time_limit=limit)
            took = time.perf_counter() - t
            r = run(s, trace, None)
            objective = r["spend"] + penalty * r["reconfigurations"]
            print(f"| {solver} | {limit:g} s | {took:.2f} s | {s.settings['kept_at_time_limit']} | "
                  f"{r['reconfigurations']} | {r['cost']:.4e} | {objective / reference - 1:+.2%} |")
    print()


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.5))
    for ax, (name, rows) in zip(np.atleast_1d(axes), results.items()):
        marker = {1: "o", 5: "s", 10: "^"}
        for window in WINDOWS:
            pts = [(r["reconfigurations"], r["cost"], pen) for p, w, pen, r in rows if w == window and p != "static"
                   and p != "oracle"]
            ax.plot([x for x, _, _ in pts], [y for _, y, _ in pts], marker=marker[window], label=f"{window}-min windows")
            for x, y, pen in pts:
                ax.annotate(f"{pen:g}", (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        for p, style in (("static", "k*"), ("oracle", "rx")):
            r = next(r for q, w, pen, r in rows if q == p)
            ax.plot(r["reconfigurations"], r["cost"], style, markersize=10, label=p)
        ax.set_xlabel("functions started or reconfigured")
        ax.set_ylabel("realized cost per request (CNY)")
        ax.set_title(f"{name} (point labels: P)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plot", metavar="PNG", help="write the cost-against-reconfigurations figure here")
    args = ap.parse_args()
    print("# Re-planning under changing load\n")
    print("`python benchmarks/replan.py --plot benchmarks/results/replan.png` (VGG19, preset reference, "
          "`expected` cost model, milp, forecast `last`; realized cost from simulating each schedule, seed 0).\n")
    azure = (load_trace(ROOT / "examples" / "azure" / "slices.csv"), load_slos(ROOT / "examples" / "azure" / "slos.csv"))
    results = {"Azure slices (120 min)": evaluate("azure", *azure), "synthetic diurnal (240 min)": evaluate("diurnal", *diurnal())}
    for name, rows in results.items():
        report(name, rows)
    limited(*azure)
    if args.plot:
        plot(results, args.plot)
        print(f"Figure: `{args.plot}`.\n")


if __name__ == "__main__":
    main()
