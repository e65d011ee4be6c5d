"""How far the paper's fast path (Theorems 1-2) is from the exhaustive group optimum.

Samples random groups (1-5 apps, SLO 0.05-3 s, rates 0.01-50 rps log-uniform) for each
built-in model and preset, provisions each both ways and records how often and by how
much the fast path costs more.

Run: python benchmarks/fast_path.py [--groups 2000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random

from harmonybatch_mp import BUILTIN_MODELS, PRESETS, App, builtin_profile, preset, provision_group, provision_group_fast


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--groups", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    print("| model | preset | feasible groups | fast path worse | worst excess | mean excess when worse |")
    print("|---|---|---|---|---|---|")
    for model in BUILTIN_MODELS:
        for name in PRESETS:
            profile, platform = builtin_profile(model), preset(name)
            feasible, worse, worst, total = 0, 0, 0.0, 0.0
            for _ in range(args.groups):
                apps = [App(f"a{i}", rng.uniform(0.05, 3.0), 10 ** rng.uniform(-2, 1.7))
                        for i in range(rng.randint(1, 5))]
                ex = provision_group(apps, profile, platform)
                if ex is None:
                    continue
                feasible += 1
                excess = provision_group_fast(apps, profile, platform).cost / ex.cost - 1
                if excess > 1e-12:
                    worse += 1
                    total += excess
                    worst = max(worst, excess)
            mean = total / worse if worse else 0.0
            print(f"| {model} | {name} | {feasible} | {worse} ({worse / max(feasible, 1):.1%}) "
                  f"| {worst:.3%} | {mean:.3%} |")


if __name__ == "__main__":
    main()
