"""Group provisioning: the cheapest function for one group of apps (MODEL.md section 7).

The whole discretised grid of section 3 (1,280 CPU + 768 GPU configurations on the
presets) is evaluated once per (profile, platform) into a :class:`ConfigGrid`: latency,
billed resources and cost per request of every configuration. Provisioning a group
then only checks the SLO (Eq. 10) and batch (Eq. 9) constraints of its apps against
that table, vectorised with numpy, and takes the cheapest feasible configuration.

Every solver of the library provisions groups through this module.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .batching import fold_timeout, max_batch, slo_timeouts
from .latency import cpu_latency, gpu_latency_avg, gpu_latency_max
from .platform import Platform
from .pricing import function_cost
from .profiles import ModelProfile
from .shapes import (
    cpu_batch_limit,
    cpu_billed_memory_gb,
    cpu_memory_feasible,
    gpu_host_memory_gb,
    gpu_memory_feasible,
    gpu_vcpu,
    vcpu_grid,
)
from .workload import App

GPU = 1  # value of ConfigGrid.kind for GPU configurations (0 for CPU)
KINDS = ("cpu", "gpu")


@dataclass(frozen=True, eq=False)
class ConfigGrid:
    """Every discretised function configuration of a (profile, platform) pair.

    Arrays are indexed by configuration: CPU ones first, ordered by (vCPU, batch),
    then GPU ones ordered by (GPU GB, batch). Ties in cost resolve to the first.

    Attributes
    ----------
    kind : int array
        0 for CPU, 1 for GPU.
    vcpu : float array
        vCPU of the function (``m/3`` for a GPU function).
    gpu_mem : int array
        GPU memory in GB (0 for CPU functions).
    mem_gb : float array
        Memory of the function in GB (billed memory for CPU, host memory for GPU).
    batch : int array
        Batch size.
    latency_avg, latency_max : float arrays
        Average and maximum inference latency (s).
    cost : float array
        Cost per request (Eq. 6).
    memory_ok : bool array
        Memory feasibility (section 3).
    """

    profile: ModelProfile
    platform: Platform
    kind: np.ndarray
    vcpu: np.ndarray
    gpu_mem: np.ndarray
    mem_gb: np.ndarray
    batch: np.ndarray
    latency_avg: np.ndarray
    latency_max: np.ndarray
    cost: np.ndarray
    memory_ok: np.ndarray
    n_cpu_vcpu: int
    n_cpu_batch: int

    def __len__(self) -> int:
        return len(self.kind)

    def best_latency(self, kinds: Sequence[str] = KINDS) -> float:
        """Lowest maximum latency of any memory-feasible configuration of the given kinds."""
        ok = self.memory_ok & _kind_mask(self, kinds)
        return float(self.latency_max[ok].min()) if ok.any() else math.inf

    def config(self, index: int) -> GroupConfig:
        """The :class:`GroupConfig` of configuration ``index``."""
        gpu = int(self.kind[index]) == GPU
        return GroupConfig(
            kind=KINDS[int(self.kind[index])],
            vcpu=float(self.vcpu[index]),
            gpu_mem_gb=int(self.gpu_mem[index]) if gpu else None,
            mem_gb=float(self.mem_gb[index]),
            batch=int(self.batch[index]),
            latency_avg=float(self.latency_avg[index]),
            latency_max=float(self.latency_max[index]),
            cost=float(self.cost[index]),
            index=int(index),
        )


@dataclass(frozen=True)
class GroupConfig:
    """A function configuration chosen for a group, with its latency and cost per request."""

    kind: str
    vcpu: float
    gpu_mem_gb: int | None
    mem_gb: float
    batch: int
    latency_avg: float
    latency_max: float
    cost: float
    index: int


@functools.lru_cache(maxsize=64)
def config_grid(profile: ModelProfile, platform: Platform) -> ConfigGrid:
    """Evaluate every configuration of MODEL.md section 3 for a profile on a platform.

    Examples
    --------
    >>> from harmonybatch_mp import builtin_profile, preset
    >>> g = config_grid(builtin_profile("VGG19"), preset())
    >>> len(g), int((g.kind == 0).sum()), int((g.kind == 1).sum())
    (2048, 1280, 768)
    """
    c = vcpu_grid(platform)
    nb = cpu_batch_limit(profile, platform)
    cc, cb = (a.ravel() for a in np.meshgrid(c, np.arange(1, nb + 1), indexing="ij"))
    cpu_avg = cpu_latency(profile, cc, cb, stat="avg")
    cpu_max = cpu_latency(profile, cc, cb, stat="max")
    cpu_mem = cpu_billed_memory_gb(profile, platform, cc, cb)
    cpu_cost = function_cost(platform, "cpu", vcpu=cc, mem_gb=cpu_mem, gpu_gb=0.0, latency_avg=cpu_avg, batch=cb)

    gm, gb = (a.ravel() for a in np.meshgrid(
        np.arange(1, profile.device_mem_gb + 1), np.arange(1, platform.gpu_max_batch + 1), indexing="ij"
    ))
    g_vcpu = gpu_vcpu(platform, gm)
    g_mem = np.full(gm.shape, gpu_host_memory_gb(profile, platform))
    g_avg = gpu_latency_avg(profile, platform, gm, gb)
    g_cost = function_cost(platform, "gpu", vcpu=g_vcpu, mem_gb=g_mem, gpu_gb=gm, latency_avg=g_avg, batch=gb)
    grid = ConfigGrid(
        profile=profile,
        platform=platform,
        kind=np.concatenate([np.zeros(cc.size, int), np.ones(gm.size, int)]),
        vcpu=np.concatenate([cc, g_vcpu]),
        gpu_mem=np.concatenate([np.zeros(cc.size, int), gm]),
        mem_gb=np.concatenate([cpu_mem, g_mem]),
        batch=np.concatenate([cb, gb]).astype(int),
        latency_avg=np.concatenate([cpu_avg, g_avg]),
        latency_max=np.concatenate([cpu_max, gpu_latency_max(profile, platform, gm, gb)]),
        cost=np.concatenate([cpu_cost, g_cost]),
        memory_ok=np.concatenate([
            cpu_memory_feasible(profile, platform, cc, cb),
            gpu_memory_feasible(profile, platform, gm, gb),
        ]),
        n_cpu_vcpu=len(c),
        n_cpu_batch=nb,
    )
    for arr in (grid.kind, grid.vcpu, grid.gpu_mem, grid.mem_gb, grid.batch,
                grid.latency_avg, grid.latency_max, grid.cost, grid.memory_ok):
        arr.setflags(write=False)
    return grid


def _kind_mask(grid: ConfigGrid, kinds: Sequence[str]) -> np.ndarray:
    return _kind_mask_cached(grid, tuple(kinds))


@functools.lru_cache(maxsize=256)
def _kind_mask_cached(grid: ConfigGrid, kinds: tuple[str, ...]) -> np.ndarray:
    bad = set(kinds) - set(KINDS)
    if bad:
        raise ValueError(f"unknown function kind(s) {sorted(bad)}; expected 'cpu' and/or 'gpu'")
    mask = np.isin(grid.kind, [KINDS.index(k) for k in kinds])
    mask.setflags(write=False)
    return mask


def _sorted(apps: Sequence[App]) -> list[App]:
    if not apps:
        raise ValueError("a group needs at least one app")
    return sorted(apps, key=lambda a: a.sort_key)


class _RunState:
    """Feasibility of a growing group over the whole grid, one app at a time.

    Apps must be added in canonical (SLO) order, which is also timeout order, so the
    equivalent-timeout fold of Eq. 5 extends by one step per app.
    """

    def __init__(self, grid: ConfigGrid, first: App, base: np.ndarray):
        self.grid = grid
        self.base = base & (grid.latency_max <= first.slo)  # Eq. 10 at the tightest SLO
        self.T = slo_timeouts(first.slo, grid.latency_max)  # t_1 (Eq. 10)
        self.rho = first.rate

    def add(self, app: App) -> None:
        self.T, self.rho = fold_timeout(self.T, self.rho, slo_timeouts(app.slo, self.grid.latency_max), app.rate)

    def mask(self) -> np.ndarray:
        b = self.grid.batch
        return self.base & ((b == 1) | (b <= max_batch(self.rho, self.T)))  # Eq. 9

    def best(self) -> int | None:
        masked = np.where(self.mask(), self.grid.cost, np.inf)
        i = int(np.argmin(masked))
        return i if math.isfinite(masked[i]) else None


def _group_state(grid: ConfigGrid, apps: Sequence[App], kinds: Sequence[str]) -> _RunState:
    apps = _sorted(apps)
    state = _RunState(grid, apps[0], grid.memory_ok & _kind_mask(grid, kinds))
    for a in apps[1:]:
        state.add(a)
    return state


def feasible_mask(grid: ConfigGrid, apps: Sequence[App], kinds: Sequence[str] = KINDS) -> np.ndarray:
    """Boolean mask of the configurations that can serve ``apps`` as one group.

    A configuration is feasible when it fits in memory, its maximum latency meets the
    tightest SLO (Eq. 10) and, for batch >= 2, its batch meets Eq. 9 with the
    largest timeouts ``s_i - L_max``.
    """
    return _group_state(grid, apps, kinds).mask()


def provision_group(
    apps: Sequence[App], profile: ModelProfile, platform: Platform, *, kinds: Sequence[str] = KINDS
) -> GroupConfig | None:
    """Exhaustive group optimum: the cheapest feasible configuration on the whole grid.

    Parameters
    ----------
    apps : sequence of App
        The group's members (any order).
    profile, platform
        Model and platform.
    kinds : sequence of {"cpu", "gpu"}
        Function kinds allowed.

    Returns
    -------
    GroupConfig or None
        None when no configuration is feasible.

    Examples
    --------
    >>> from harmonybatch_mp import App, builtin_profile, preset
    >>> g = provision_group([App("a", 0.5, 5)], builtin_profile("VGG19"), preset())
    >>> g.kind, g.vcpu, g.batch, f"{g.cost:.4e}"
    ('cpu', 1.55, 1, '4.3485e-05')
    """
    grid = config_grid(profile, platform)
    i = best_config(grid, apps, kinds)
    return None if i is None else grid.config(i)


def best_config(grid: ConfigGrid, apps: Sequence[App], kinds: Sequence[str] = KINDS) -> int | None:
    """Grid index of the cheapest feasible configuration of a group, or None (see :func:`provision_group`)."""
    return _group_state(grid, apps, kinds).best()


def run_optima(
    grid: ConfigGrid, apps: Sequence[App], start: int, max_len: int | None = None,
    kinds: Sequence[str] = KINDS,
) -> Iterator[tuple[int, int | None]]:
    """Group optima of the runs ``apps[start:j]`` for ``j = start+1, ...`` (apps in canonical order).

    Yields ``(j, index)`` with the grid index of the cheapest feasible configuration
    of ``apps[start:j]``, or None. One fold step per run: cheap for the DP solver.
    """
    stop = len(apps) if max_len is None else min(len(apps), start + max_len)
    state = _RunState(grid, apps[start], grid.memory_ok & _kind_mask(grid, kinds))
    for j in range(start + 1, stop + 1):
        if j > start + 1:
            state.add(apps[j - 1])
        yield j, state.best()


def pareto_configs(
    grid: ConfigGrid, apps: Sequence[App], *, kinds: Sequence[str] = KINDS, by_gpu: bool = False,
    by_gpu_mem: bool = False,
) -> list[int]:
    """Feasible configurations of a group not dominated by another of the same group.

    Configuration A dominates B when A costs no more and, for each quantity a side
    constraint counts, uses no more of it: GPU functions (``by_gpu``) and GPU memory
    (``by_gpu_mem``). With neither, only the group optimum remains. Ties keep the first
    in grid order. Returns grid indices, cheapest first.
    """
    mask = feasible_mask(grid, apps, kinds)
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    if by_gpu_mem:
        key = grid.gpu_mem[idx]
    elif by_gpu:
        key = grid.kind[idx]
    else:
        key = np.zeros(idx.size, int)
    kept: list[int] = []
    best_cost = math.inf
    # Sweep by increasing resource use: keep a point only if strictly cheaper than all before.
    order = np.lexsort((idx, grid.cost[idx], key))
    for i in idx[order]:
        if grid.cost[i] < best_cost:
            kept.append(int(i))
            best_cost = grid.cost[i]
    return sorted(kept, key=lambda i: (grid.cost[i], i))


def _point_feasible(grid: ConfigGrid, i: int, apps: list[App]) -> bool:
    """Feasibility of one configuration (scalar version of :func:`feasible_mask`)."""
    if not grid.memory_ok[i] or grid.latency_max[i] > apps[0].slo:
        return False
    if grid.batch[i] == 1:
        return True
    lm = grid.latency_max[i]
    T, rho = slo_timeouts(apps[0].slo, lm), apps[0].rate
    for a in apps[1:]:
        T, rho = fold_timeout(T, rho, slo_timeouts(a.slo, lm), a.rate)
    return bool(grid.batch[i] <= max_batch(rho, T))


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


def provision_group_fast(apps: Sequence[App], profile: ModelProfile, platform: Platform) -> GroupConfig | None:
    """The paper's fast path: Theorem 1 (CPU) and Theorem 2 (GPU).

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
