"""The benchmark runner: every solver on a workload family, cost, gap to the best proven
bound, wall time, and (optionally) the simulated realized cost and violation rate.

``harmonybatch-mp bench`` and :func:`run_bench` write ``rows.csv``, ``rows.json`` and
``summary.md`` (each atomically) into an output folder.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ._io import write_text
from ._validate import choice, instance, listed, number
from .errors import InputError
from .expected_cost import COST_MODELS
from .families import FAMILIES, family
from .sweep import plan_many

DEFAULT_SOLVERS = ("milp", "dp", "greedy", "mbs", "batch")
#: The status of a row whose plan the executor lost (:attr:`.sweep.PlanRecord.lost`); a row whose
#: solver gave no plan (no plan exists, or none in time) has status ``error``.
LOST = "lost"


@dataclass(frozen=True)
class BenchRow:
    """One (instance, solver) result. ``gap_to_bound`` is against the best lower bound any
    solver proved for the instance (valid for every plan): ``cost / bound - 1``, None where no
    solver proved a bound above 0; ``gap_to_best`` against the cheapest plan found for it."""

    instance: str
    model: str
    apps: int
    solver: str
    status: str
    cost: float | None
    bound: float | None
    gap_to_bound: float | None
    gap_to_best: float | None
    wall_s: float | None
    realized: float | None = None
    violation_rate: float | None = None
    error: str | None = None


def run_bench(family_name: str = "paper", *, solvers: Sequence[str] = DEFAULT_SOLVERS, cost_model: str = "expected",
              simulate_s: float | None = None, count: int = 5, seed: int = 0, executor: Executor | None = None,
              workers: int | None = None, out: str | Path | None = None, time_limit: float | None = None,
              progress: Callable[[int], None] | None = None) -> list[BenchRow]:
    """Run every solver on every instance of a family; write the files when ``out`` is given.
    ``time_limit`` goes to the solvers that take one (every built-in solver)."""
    from .solvers import get_solver
    from .solvers.options import seconds

    choice(cost_model, COST_MODELS, "run_bench: cost_model")  # checked before any plan is made, as every argument below
    if simulate_s is not None:
        simulate_s = number(simulate_s, "run_bench: simulate_s", nonnegative=True)
    if time_limit is not None:
        time_limit = seconds(time_limit, "run_bench: time_limit")
    solvers = listed(solvers, "run_bench: solvers", "a sequence of solver names")
    instances = family(family_name, seed=seed, count=count)
    for s in solvers:  # a solver that cannot price the cost model is an error of the call, not a row each
        get_solver(s).check_cost_model(cost_model)
    limited = {s: time_limit is not None and "time_limit" in get_solver(s).options for s in solvers}
    calls = [{"workload": i.workload, "profile": i.model, "platform": i.platform, "solver": s, "cost_model": cost_model,
              **({"time_limit": time_limit} if limited[s] else {})}
             for i in instances for s in solvers]
    records = plan_many(calls, executor=executor, workers=workers, progress=progress)
    rows: list[BenchRow] = []
    for k, inst in enumerate(instances):
        recs = records[k * len(solvers):(k + 1) * len(solvers)]
        bounds = [r.plan.solver.bound for r in recs if r.ok and r.plan.solver.bound is not None]
        best_bound = max(bounds) if bounds else None
        # (a bound of 0 or less holds for every plan and proves nothing: no gap to it)
        proving = best_bound is not None and best_bound > 0
        costs = [r.plan.total_cost for r in recs if r.ok]
        best = min(costs) if costs else None
        for s, r in zip(solvers, recs):
            if not r.ok:
                rows.append(BenchRow(inst.name, inst.model, len(inst.workload), s, LOST if r.lost else "error", None,
                                     best_bound, None, None, None, error=f"{r.error_type}: {r.error}"))
                continue
            p = r.plan
            realized = violations = None
            if simulate_s:
                from .simulate import simulate

                o = simulate(p, duration=simulate_s, seed=k).overall
                realized, violations = o.realized_cost, o.violation_rate
            rows.append(BenchRow(inst.name, inst.model, len(inst.workload), s, p.solver.status, p.total_cost,
                                 best_bound, p.total_cost / best_bound - 1 if proving else None,
                                 p.total_cost / best - 1, p.solver.wall_time_s, realized, violations))
    if out is not None:
        write_outputs(rows, out, family_name, cost_model)
    return rows


def write_outputs(rows: Sequence[BenchRow], out: str | Path, family_name: str, cost_model: str) -> None:
    """``rows.csv``, ``rows.json`` and ``summary.md`` in folder ``out`` (created if needed)."""
    rows = _rows(rows)
    folder = Path(instance(out, (str, Path), "bench: out"))
    data = [asdict(r) for r in rows]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(data[0]) if data else ["instance"])
    w.writeheader()
    w.writerows(data)
    summary = summarize(rows, family_name, cost_model)  # (before the folder and files: a failure writes none)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"bench: cannot create {str(folder)!r} ({exc.strerror})") from None
    write_text(folder / "rows.csv", buf.getvalue())
    write_text(folder / "rows.json", json.dumps(data, indent=1) + "\n")
    write_text(folder / "summary.md", summary)


def summarize(rows: Sequence[BenchRow], family_name: str, cost_model: str) -> str:
    """A markdown table per solver: gaps to the best proven bound and to the best plan, time."""
    rows = _rows(rows)
    instance(family_name, str, "bench: family_name")
    instance(cost_model, str, "bench: cost_model")
    lines = [f"# Benchmark: family `{family_name}`, cost model `{cost_model}`", "",
             f"{len({r.instance for r in rows})} instances.", "",
             "| solver | plans | errors | mean gap to best plan | worst gap to best plan | mean gap to bound "
             "| median time | mean realized / predicted |", "|---|---|---|---|---|---|---|---|"]
    for s in dict.fromkeys(r.solver for r in rows):
        ok = [r for r in rows if r.solver == s and r.cost is not None]
        err = sum(1 for r in rows if r.solver == s and r.cost is None)
        if not ok:
            lines.append(f"| {s} | 0 | {err} | - | - | - | - | - |")
            continue
        gb = [r.gap_to_best for r in ok]
        sim = [r.realized / r.cost if r.realized and r.cost > 0 else None for r in ok]
        lines.append(f"| {s} | {len(ok)} | {err} | {_cell(gb, statistics.mean, '{:+.2%}')} "
                     f"| {_cell(gb, max, '{:+.2%}')} "
                     f"| {_cell([r.gap_to_bound for r in ok], statistics.mean, '{:+.2%}')} "
                     f"| {_cell([r.wall_s for r in ok], statistics.median, '{:.1f} ms', 1e3)} "
                     f"| {_cell(sim, statistics.mean, '{:.4f}')} |")
    lost = sum(r.status == LOST for r in rows)
    if lost:
        lines += ["", f"The executor lost {lost} of {len(rows)} plans (rows of status `{LOST}`, among the errors): "
                      "these figures leave them out."]
    return "\n".join(lines) + "\n"


def _cell(values: list[float | None], reduce: Callable[[list[float]], float], form: str, unit: float = 1.0) -> str:
    """``form`` of ``reduce`` over the values that are not None (times ``unit``), or ``-``
    where none is: a figure no row of the solver has (no bound proven, no simulation)."""
    known = [v for v in values if v is not None]
    return form.format(reduce(known) * unit) if known else "-"


def quick_settings() -> dict[str, Any]:
    """``bench --quick``: one paper workload per model, every solver, 60 s simulated."""
    return {"family_name": "paper", "count": 1, "simulate_s": 60.0}


__all__ = ["BenchRow", "DEFAULT_SOLVERS", "FAMILIES", "LOST", "run_bench", "summarize", "write_outputs"]


def _rows(rows: Sequence[BenchRow]) -> list[BenchRow]:
    """``rows`` as a list, each a :class:`BenchRow` (else an InputError naming what is not)."""
    return [instance(r, BenchRow, "bench: rows") for r in listed(rows, "bench: rows", "a sequence of BenchRow")]
