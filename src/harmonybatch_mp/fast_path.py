"""The paper's fast path for provisioning a group: Theorems 1 (CPU) and 2 (GPU).

``formulations/model.md`` section 7. It evaluates a few dozen configurations instead
of the whole grid; :func:`~.provision.provision_group` (exhaustive) is the reference
it is measured against.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .batching import _fold, _max_batch, _slo_timeouts
from .grid import ConfigGrid, GroupConfig, config_grid
from .platform import Platform, as_platform
from .profiles import ModelProfile, as_profile
from .provision import _sorted
from .workload import App


def _point_feasible(grid: ConfigGrid, i: int, apps: list[App]) -> bool:
    """Feasibility of one configuration (scalar version of :func:`feasible_mask`), by the
    unchecked kernels of Eqs. 5, 9 and 10: the apps are checked where they are made, and the
    public equations' checks took 95% of a fast path (VGG19, 8 apps: 12.3 ms against 0.65 ms)."""
    if not grid.memory_ok[i] or grid.latency_max[i] > apps[0].slo:
        return False
    if grid.batch[i] == 1:
        return True
    lm = grid.latency_max[i]
    T, rho = _slo_timeouts(apps[0].slo, lm), apps[0].rate
    for a in apps[1:]:
        T, rho = _fold(T, rho, _slo_timeouts(a.slo, lm), a.rate)
    return bool(grid.batch[i] <= _max_batch(rho, T))


def _stationary_vcpu(alpha: float, beta: float, gamma: float) -> float | None:
    """Local minimum of ``c * (alpha exp(-c/beta) + gamma)`` (Eq. 13 with memory billed as c).

    Solves ``alpha e^{-x}(x - 1) = gamma`` for the larger root ``x = c/beta > 2``:
    with ``y = x - 1``, ``y e^{-y} = gamma e / alpha``, so ``y = -W_{-1}(-gamma e / alpha)``.
    None when the cost has no interior minimum.
    """
    from scipy.special import lambertw

    z = -gamma * math.e / alpha if alpha > 0 else -math.inf
    if not (-1 / math.e < z < 0):
        return None
    return beta * (1.0 - float(lambertw(z, -1).real))


def provision_group_fast(apps: Sequence[App], profile: ModelProfile | str,
                         platform: Platform | str = "reference") -> GroupConfig | None:
    """The paper's fast path: Theorem 1 (CPU) and Theorem 2 (GPU); ``profile`` and
    ``platform`` as for :func:`~harmonybatch_mp.provision_group`.

    CPU, per batch ``b``: the cost is minimised at the lowest feasible vCPU (found by
    bisection: feasibility is monotone in vCPU) or one step above it, the highest, or the stationary point
    of Eq. 13 with the grid points within two steps of it. GPU, per memory size ``m``: the
    largest feasible batch, found by bisection (feasibility is monotone in batch).

    It evaluates a few dozen configurations instead of the whole grid. It is exact
    up to what the theorems ignore: billed memory rounding and the memory price
    (CPU; the stationary point assumes memory billed as ``c``) and rounding of the
    billed GPU duration to the billing unit (preset ``reference``: 1 s), where a
    smaller batch can be cheaper. The property test in ``tests/test_provision.py``
    measures the difference against :func:`provision_group`; see
    ``benchmarks/results/fast_path.md`` for the recorded figures.
    """
    profile, platform = as_profile(profile), as_platform(platform)
    grid = config_grid(profile, platform)
    apps = _sorted(apps)
    candidates: list[int] = []
    nb, nc = grid.n_cpu_batch, grid.n_cpu_vcpu

    def cpu_index(k: int, b: int) -> int:
        return k * nb + (b - 1)

    for b in range(1, nb + 1):
        lo, hi = 0, nc - 1  # Theorem 1: feasibility is monotone in vCPU; bisect the lower bound
        if not _point_feasible(grid, cpu_index(hi, b), apps):
            continue
        while lo < hi:
            mid = (lo + hi) // 2
            if _point_feasible(grid, cpu_index(mid, b), apps):
                hi = mid
            else:
                lo = mid + 1
        ks = {lo, min(lo + 1, nc - 1), nc - 1}  # memory rounding can favour one step up
        curve = profile.cpu_avg[b - 1]
        cstar = _stationary_vcpu(curve.alpha, curve.beta, curve.gamma)
        if cstar is not None:
            k = (cstar - platform.vcpu_min) / platform.vcpu_step
            ks.update(min(max(int(math.floor(k)) + d, lo), nc - 1) for d in (-1, 0, 1, 2))
        candidates.extend(cpu_index(k, b) for k in ks)

    base = nc * nb
    nbg = platform.gpu_max_batch
    for m in range(1, profile.device_mem_gb + 1):
        first = base + (m - 1) * nbg
        if not _point_feasible(grid, first, apps):
            continue
        lo, hi = 0, nbg - 1  # Theorem 2: the largest feasible batch, by bisection
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if _point_feasible(grid, first + mid, apps):
                lo = mid
            else:
                hi = mid - 1
        candidates.append(first + lo)
    if not candidates:
        return None
    best = min(candidates, key=lambda i: (grid.cost[i], i))
    return grid.config(best)
