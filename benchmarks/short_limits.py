"""Short time limits on random instances, side constraints included: whether ``solve()``
ends by its ``time_limit`` when the limit is short for the workload (0.5-5 s, 20 to 2,000
apps, both cost models, both presets, the four built-in models, no side constraint or one
of six kinds), with ``milp`` or ``colgen``. Each draw is one call; a call that finds no plan by
its limit (a SolverError) is a row too. The draws are seeded: the same seeds give the same
instances.

Run: python benchmarks/short_limits.py > benchmarks/results/short_limits.md
"""

from __future__ import annotations

import platform
import random
import time
from collections import Counter

from harmonybatch_mp import App, HarmonyBatchError, SideConstraints, Workload, solve
from harmonybatch_mp.profiles import BUILTIN_MODELS
from harmonybatch_mp.solvers.kernels import COLGEN, EXPECTED, ready

#: Seeds of the draws, one call each.
SEEDS = range(220)
SIZES = (20, 50, 100, 300, 1000, 2000)
LIMITS = (0.5, 1.0, 2.0, 5.0)
#: Calls that end later than this past their limit are listed.
LISTED = 0.05


def draw(seed: int) -> dict:
    """The instance and call of one seed: ``solve()``'s arguments."""
    rng = random.Random(seed)
    n = rng.choice(SIZES)
    model = rng.choice(BUILTIN_MODELS)
    preset = rng.choice(["reference", "paper"])
    cost_model = rng.choice(["full-batch", "expected"])
    apps = Workload([App(f"a{i}", round(10 ** rng.uniform(-0.3, 0.6), 3), round(10 ** rng.uniform(-0.5, 2.5), 2))
                     for i in range(n)])
    r = rng.random()
    side = None
    if r < 0.2:
        side = SideConstraints(max_gpu_functions=rng.randint(1, 4))
    elif r < 0.35:
        side = SideConstraints(max_functions=rng.randint(2, 20))
    elif r < 0.5:
        pairs = tuple((f"a{rng.randrange(n)}", f"a{rng.randrange(n)}") for _ in range(3))
        side = None if any(a == b for a, b in pairs) else SideConstraints(isolate=pairs)
    elif r < 0.6:
        side = SideConstraints(gpu_memory_budget=rng.choice([8.0, 24.0, 64.0]))
    elif r < 0.7:
        side = SideConstraints(pin={f"a{rng.randrange(n)}": "cpu"})
    solver = rng.choice(["milp", "colgen"])
    if solver == "colgen":
        cost_model = "full-batch"
    return {"workload": apps, "profile": model, "platform": preset, "solver": solver, "cost_model": cost_model,
            "side": side, "time_limit": rng.choice(LIMITS)}


def main() -> None:
    print("# Short time limits, side constraints included\n")
    print(f"Machine: {platform.machine()}, Python {platform.python_version()}, 2 cores. {len(SEEDS)} seeded "
          "draws (`benchmarks/short_limits.py`, `draw`), one `solve()` call each; `over` is the wall time of "
          "the whole call less its `time_limit`.\n")
    print("    python benchmarks/short_limits.py\n")
    ready(COLGEN, None)
    ready(EXPECTED, None)
    rows, outcomes, worst = [], Counter(), {}
    for seed in SEEDS:
        call = draw(seed)
        t = time.perf_counter()
        try:
            outcome = solve(**call).solver.status
        except HarmonyBatchError as exc:  # no plan by the limit, or none at all: a row too
            outcome = type(exc).__name__
        over = time.perf_counter() - t - call["time_limit"]
        key = (call["solver"], call["cost_model"])
        worst[key] = max(worst.get(key, -float("inf")), over)
        outcomes[outcome] += 1
        if over > LISTED:
            side = call["side"]
            rows.append(f"| {seed} | {len(call['workload'].apps)} | {call['profile']} | {call['platform']} | {call['solver']} "
                        f"| {call['cost_model']} | {', '.join(side.active()) if side else '-'} "
                        f"| {call['time_limit']:g} s | {over:+.3f} s | {outcome} |")
    print("Outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) + ".\n")
    print("Most over the limit: " + ", ".join(f"{s} ({c}) {w:+.3f} s" for (s, c), w in sorted(worst.items())) + ".\n")
    print(f"Calls more than {LISTED * 1000:.0f} ms over their limit:\n")
    print("| seed | n | model | preset | solver | cost model | side constraints | limit | over | outcome |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows) if rows else "| none | | | | | | | | | |")


if __name__ == "__main__":
    main()
