"""Figures for benchmarks/RESULTS.md (needs the plot extra: pip install ".[plot]").

- ``single_app``: cost of the optimal single-app plan against SLO and against rate, per
  model, CPU and GPU regions shaded, knee points (where the best kind changes) marked
  (the paper's Figs. 6-7); full-batch model as in the paper, the expected cost dashed.
- ``solver_time``: solver time against n (log scale) from ``bench`` rows of family ``scale``.
- ``heuristic_gaps``: gap of greedy, MBS+ and BATCH to the optimum from ``bench`` rows of
  family ``paper``.
- ``fidelity``: predicted against realized cost per request, per cost model, from
  ``bench --simulate`` rows.

Run: python benchmarks/figures.py single-app --out benchmarks/results/single_app.png
(the other figures are drawn by benchmarks/full_run.py from its bench rows).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np

from harmonybatch_mp import App, Workload, builtin_profile, preset, solve
from harmonybatch_mp.profiles import BUILTIN_MODELS

#: SLO and rate ranges of the single-app sweeps, and the fixed rate / SLO of each.
SLO_RANGE = {"VGG19": (0.05, 1.2), "BERT": (0.05, 1.2), "GPT-2": (0.3, 3.0), "VideoMAE": (0.3, 3.0)}
FIXED_RATE = 20.0
FIXED_SLO = {"VGG19": 0.5, "BERT": 0.5, "GPT-2": 1.5, "VideoMAE": 1.5}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def single_app_curve(model: str, platform: str, slos: np.ndarray, rates: np.ndarray, cost_model: str
                     ) -> tuple[np.ndarray, list[str]]:
    """Cost per request and function kind of the optimal plan of one app, per (SLO, rate)."""
    costs, kinds = [], []
    prof, pf = builtin_profile(model), preset(platform)
    for s, r in zip(slos, rates):
        try:
            plan = solve(Workload([App("a", float(s), float(r))]), prof, pf, solver="exact", cost_model=cost_model)
        except Exception:  # no function meets this SLO
            costs.append(np.nan)
            kinds.append("none")
            continue
        costs.append(plan.total_cost)
        kinds.append(plan.groups[0].kind)
    return np.array(costs), kinds


def knees(x: np.ndarray, kinds: list[str]) -> list[tuple[float, str, str]]:
    """Where the best kind changes along ``x``: (midpoint, kind before, kind after)."""
    return [(float((x[i] + x[i + 1]) / 2), kinds[i], kinds[i + 1])
            for i in range(len(kinds) - 1) if kinds[i] != kinds[i + 1] and "none" not in (kinds[i], kinds[i + 1])]


def _shade(ax, x: np.ndarray, kinds: list[str]) -> None:
    colors = {"cpu": "tab:blue", "gpu": "tab:orange"}
    edges = np.concatenate([[x[0]], (x[1:] + x[:-1]) / 2, [x[-1]]])
    for i, k in enumerate(kinds):
        if k in colors:
            ax.axvspan(edges[i], edges[i + 1], color=colors[k], alpha=0.12, lw=0)


def single_app(out: str | Path) -> dict[str, list[tuple[float, str, str]]]:
    """Draw the single-app figure; returns the knee points per panel."""
    plt = _pyplot()
    fig, axes = plt.subplots(3, 4, figsize=(16, 10))
    found = {}
    for col, model in enumerate(BUILTIN_MODELS):
        lo, hi = SLO_RANGE[model]
        slo = np.linspace(lo, hi, 70)
        rate = np.logspace(-1, 2, 70)
        panels = [("reference", "slo", slo, np.full(slo.size, FIXED_RATE)),
                  ("reference", "rate", np.full(rate.size, FIXED_SLO[model]), rate),
                  ("paper", "slo", slo, np.full(slo.size, FIXED_RATE))]
        for row, (platform, axis, s, r) in enumerate(panels):
            ax = axes[row, col]
            x = s if axis == "slo" else r
            cost, kinds = single_app_curve(model, platform, s, r, "full-batch")
            expected, _ = single_app_curve(model, platform, s, r, "expected")
            _shade(ax, x, kinds)
            ax.plot(x, cost * 1e6, color="black", lw=1.5, label="full-batch (paper)")
            ax.plot(x, expected * 1e6, color="black", lw=1, ls="--", label="expected")
            pts = knees(x, kinds)
            found[f"{model} {platform} vs {axis}"] = pts
            for k, *_ in pts:
                ax.axvline(k, color="red", lw=0.8)
                ax.annotate(f"{k:.2f}", (k, 0.95), xycoords=("data", "axes fraction"), color="red", fontsize=8,
                            ha="left")
            ax.set_yscale("log")
            if axis == "rate":
                ax.set_xscale("log")
            ax.set_xlabel("SLO (s)" if axis == "slo" else "rate (requests/s)")
            where = f"rate {FIXED_RATE:g} rps" if axis == "slo" else f"SLO {FIXED_SLO[model]:g} s"
            ax.set_title(f"{model}, {platform}, {where}", fontsize=9)
            if col == 0:
                ax.set_ylabel("cost per million requests")
    axes[0, 0].legend(fontsize=8, loc="lower left")
    fig.suptitle("Optimal single-app plan: CPU (blue) and GPU (orange) regions, knee points in red")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return found


def _rows(path: str | Path) -> list[dict]:
    return json.loads(Path(path).read_text())


def solver_time(rows: list[dict], out: str | Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for solver in dict.fromkeys(r["solver"] for r in rows):
        pts = sorted((r["apps"], r["wall_s"]) for r in rows if r["solver"] == solver and r["wall_s"])
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=solver)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("apps (n)")
    ax.set_ylabel("wall time per plan (s)")
    ax.set_title("Solver time against n (family scale)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def heuristic_gaps(rows: list[dict], out: str | Path, solvers=("greedy", "mbs", "batch")) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    models = list(dict.fromkeys(r["model"] for r in rows))
    width = 0.8 / len(solvers)
    top = max([100 * r["gap_to_best"] for r in rows if r["solver"] in solvers and r["cost"]], default=1.0)
    for i, s in enumerate(solvers):
        labelled = False
        for j, m in enumerate(models):
            gaps = [100 * r["gap_to_best"] for r in rows if r["solver"] == s and r["model"] == m and r["cost"]]
            if gaps:
                x = j + (i - (len(solvers) - 1) / 2) * width
                ax.scatter(np.full(len(gaps), x), gaps, s=14, color=f"C{i}", label=None if labelled else s)
                ax.plot([x - width / 3, x + width / 3], [statistics.mean(gaps)] * 2, color=f"C{i}")
                labelled = True
    ax.set_xticks(range(len(models)), models)
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylim(0, top * 1.6)
    ax.set_ylabel("gap to the optimum (%)")
    ax.set_title("Heuristics against the optimum (family paper; bar = mean; no point: no plan)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def fidelity(rows_by_model: dict[str, list[dict]], out: str | Path) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(rows_by_model), figsize=(5 * len(rows_by_model), 4.5), squeeze=False)
    for ax, (name, rows) in zip(axes[0], rows_by_model.items()):
        pts = [(r["cost"] * 1e6, r["realized"] * 1e6) for r in rows if r["cost"] and r["realized"]]
        if pts:
            p = np.array(pts)
            ax.scatter(p[:, 0], p[:, 1], s=12)
            lim = [p.min() * 0.8, p.max() * 1.2]
            ax.plot(lim, lim, color="gray", lw=0.8)
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlabel("predicted (per million requests)")
        ax.set_ylabel("realized in simulation")
        ax.set_title(f"cost model {name}")
    fig.suptitle("Predicted against realized cost per request (every solver's plan, family paper)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("figure", choices=["single-app"])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    for panel, pts in single_app(args.out).items():
        print(panel, ", ".join(f"{a}->{b} at {k:.2f}" for k, a, b in pts) or "no change")


if __name__ == "__main__":
    main()
