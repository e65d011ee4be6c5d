"""Workload families for benchmarks: seeded, documented, reusable.

* ``paper``: per built-in model, 8 apps on an SLO ladder as in the paper's Sec. V
  (0.2-1.0 s for VGG19 and BERT, 1.0-2.4 s for GPT-2 and VideoMAE), with heavy-tailed
  rates: log-normal, most apps under 1 request/s (median 0.5); the ``paper-high`` variant
  multiplies every rate by 20.
* ``random``: 4-8 apps, SLOs uniform on the model's ladder range widened by half, rates
  log-uniform on 0.01-100 requests/s. Draws with an app no function can serve are
  skipped and counted.
* ``scale``: n = 8, 12, 16, 32, 100, 300, 1000 apps of the ``random`` kind (VGG19).

>>> [len(i.workload) for i in family("scale", seed=0)][:3]
[8, 12, 16]
>>> len(family("paper", seed=0, count=2))   # 2 workloads per built-in model
8
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._validate import integer
from ._validate import seed as valid_seed
from .errors import InfeasibleError, InputError
from .profiles import BUILTIN_MODELS
from .workload import App, Workload

#: SLO ladder (s) per model, as in the paper's Sec. V.
LADDERS = {"VGG19": (0.2, 1.0), "BERT": (0.2, 1.0), "GPT-2": (1.0, 2.4), "VideoMAE": (1.0, 2.4)}
FAMILIES = ("paper", "paper-high", "random", "scale")
SCALE_SIZES = (8, 12, 16, 32, 100, 300, 1000)
#: Most workloads per model a family draws.
MAX_COUNT = 10_000


@dataclass(frozen=True)
class Instance:
    """One benchmark instance: a workload on a model (and platform preset)."""

    name: str
    workload: Workload
    model: str
    platform: str = "reference"
    meta: dict = field(default_factory=dict, compare=False)


def _paper(rng: np.random.Generator, model: str, high: bool) -> Workload:
    lo, hi = LADDERS[model]
    slos = np.round(np.linspace(lo, hi, 8), 3)
    rates = np.exp(rng.normal(np.log(0.5), 1.2, 8)) * (20.0 if high else 1.0)
    return Workload([App(f"app{i}", float(s), float(np.clip(np.round(r, 4), 1e-3, 1e4)))
                     for i, (s, r) in enumerate(zip(slos, rates))])


def _random(rng: np.random.Generator, model: str, n: int) -> Workload:
    lo, hi = LADDERS[model]
    span = hi - lo
    return Workload([App(f"app{i}", float(round(rng.uniform(lo - span / 2 if lo > span / 2 else lo, hi + span / 2), 3)),
                         float(round(10 ** rng.uniform(-2, 2), 4))) for i in range(n)])


def _servable(w: Workload, model: str, platform: str) -> bool:
    from .solvers import Problem, as_instance

    try:
        Problem(*as_instance(w, model, platform)).require_feasible()
    except InfeasibleError:
        return False
    return True


def family(name: str, *, seed: int = 0, count: int = 5, platform: str = "reference") -> list[Instance]:
    """The instances of a family (``count`` workloads per model for ``paper`` and ``random``,
    at most :data:`MAX_COUNT`)."""
    if not isinstance(name, str) or name not in FAMILIES:
        raise InputError(f"unknown workload family {name!r}; families: {', '.join(FAMILIES)}")
    count = integer(count, "family: count", minimum=1, maximum=MAX_COUNT)
    rng = np.random.default_rng(valid_seed(seed, "family: seed"))
    out: list[Instance] = []
    if name == "scale":
        for n in SCALE_SIZES:
            out.append(Instance(f"scale-{n}", _random(rng, "VGG19", n), "VGG19", platform, {"n": n}))
        return out
    for model in BUILTIN_MODELS:
        made, skipped = 0, 0
        while made < count:
            w = _paper(rng, model, name == "paper-high") if name.startswith("paper") else \
                _random(rng, model, int(rng.integers(4, 9)))
            if not _servable(w, model, platform):
                skipped += 1
                if skipped > 100 * count:
                    raise InputError(f"family {name!r}: model {model} gave no servable workload in {skipped} draws")
                continue
            out.append(Instance(f"{name}-{model}-{made}", w, model, platform, {"skipped_before": skipped}))
            made += 1
    return out
