"""Speed of the pricing search: the compiled kernel against the same code run by the
Python interpreter (numba's ``py_func``), on the searches of one pricing round.

The workload is an n = 60 random VGG19 draw; the duals are those of colgen's first master
LP (every app alone and the contiguous optimum), where pricing is hardest. The ten
configurations of largest relaxation are searched from threshold 0, each for at most
``--nodes`` nodes; both runs do exactly the same work.

Run: python benchmarks/pricing_kernel.py >> benchmarks/results/colgen.md
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from harmonybatch_mp.families import _random
from harmonybatch_mp.solvers import Problem, as_instance
from harmonybatch_mp.solvers import branch_bound_kernel as kernel
from harmonybatch_mp.solvers.column_master import Master
from harmonybatch_mp.solvers.dp import dp
from harmonybatch_mp.solvers.pricing import Pricer


def searches(nodes: int) -> tuple[list, float]:
    """The searches and the seconds they take, as the solvers run them."""
    w = _random(np.random.default_rng(60), "VGG19", 60)
    problem = Problem(*as_instance(w, "VGG19"), cost_model="full-batch")
    scale = 1.0 / problem.lower_bound()
    master = Master(problem, scale)
    for mask in [1 << i for i in range(problem.n)] + list(dp(problem).groups):
        master.add_group(mask)
    duals = master.lp(None, interior=False)[1][:problem.n]
    pricer = Pricer(problem, scale)
    profit = pricer._profits(duals)
    relax = pricer.relaxations(profit)
    top = np.argsort(-relax, kind="stable")[:10]
    out = []
    t = time.perf_counter()
    for k in top:
        s = pricer._search(int(k), profit)
        out.append((len(s.groups(0.0, improve=True, budget=nodes)), s.complete))
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=200_000, help="node budget per search")
    args = ap.parse_args()
    searches(100)  # compile, or load the cache
    compiled, t_compiled = searches(args.nodes)
    fast = kernel.search, kernel.penalty
    kernel.search, kernel.penalty = kernel.search.py_func, kernel.penalty.py_func
    try:
        interpreted, t_python = searches(args.nodes)
    finally:
        kernel.search, kernel.penalty = fast
    assert compiled == interpreted, "the two runs differ"
    done = sum(c for _, c in compiled)
    print("\n## The pricing kernel, compiled and interpreted\n")
    print("    python benchmarks/pricing_kernel.py\n")
    print(f"Ten searches of one pricing round (n = 60, VGG19), at most {args.nodes:,} nodes each ({done} of 10 "
          f"ended before the budget): compiled {t_compiled:.2f} s, interpreted {t_python:.2f} s, "
          f"{t_python / t_compiled:.0f}x.\n")


if __name__ == "__main__":
    main()
