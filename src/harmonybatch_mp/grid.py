"""The discretised configuration grid of a (profile, platform) pair (``formulations/model.md`` section 3).

Every CPU (vCPU, batch) and GPU (GPU memory, batch) configuration is evaluated once
into a :class:`ConfigGrid`: latency (section 4), billed resources and the full-batch
cost per request (section 5). Provisioning then only checks a group's constraints
against that table.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._validate import instance, listed, whole
from .errors import OUT_OF_RANGE, InputError
from .latency import cpu_latency, gpu_latency_avg, gpu_latency_max
from .platform import Platform, as_platform, platform_from_dict
from .pricing import function_cost
from .profiles import ModelProfile, as_profile, profile_from_dict
from .shapes import (
    cpu_batch_limit,
    cpu_billed_memory_gb,
    cpu_memory_feasible,
    gpu_host_memory_gb,
    gpu_memory_feasible,
    gpu_vcpu,
    vcpu_grid,
)

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
        ok = self.memory_ok & kind_mask(self, kinds)
        return float(self.latency_max[ok].min()) if ok.any() else math.inf

    def config(self, index: int) -> GroupConfig:
        """The :class:`GroupConfig` of configuration ``index`` (from 0 to ``len(grid) - 1``)."""
        configs = self._configs
        i = whole(index)  # (not a bool: True is no index)
        if i is not None and 0 <= i < len(configs):
            return configs[i]
        raise InputError(f"configuration index: expected a whole number from 0 to {len(configs) - 1}, "
                         f"got {repr(index):.40}")

    @functools.cached_property
    def _configs(self) -> tuple[GroupConfig, ...]:
        """Every configuration's :class:`GroupConfig`, made once a grid (2,000 apps priced
        alone asked for 45,875 of them, 0.18 s made one at a time)."""
        return tuple(GroupConfig(kind=KINDS[kind], vcpu=vcpu, gpu_mem_gb=gpu_mem if kind == GPU else None, mem_gb=mem,
                                 batch=batch, latency_avg=avg, latency_max=lmax, cost=cost, index=i, timeout_base=lmax)
                     for i, (kind, vcpu, gpu_mem, mem, batch, avg, lmax, cost) in enumerate(zip(
                         self.kind.tolist(), self.vcpu.tolist(), self.gpu_mem.tolist(), self.mem_gb.tolist(),
                         self.batch.tolist(), self.latency_avg.tolist(), self.latency_max.tolist(),
                         self.cost.tolist())))


@dataclass(frozen=True)
class GroupConfig:
    """A function configuration chosen for a group, with its latency and cost per request.

    ``cost`` is the cost per request under the cost model that chose it: the full-batch
    Eq. 6 of the configuration, or the group's expected cost (``formulations/model.md``
    section 12). Member ``i``'s timeout is ``timeout_scale * (s_i - timeout_base)`` for
    batch >= 2: ``timeout_base`` is ``L_max(b)`` under ``full-batch`` and ``max_{k<=b}
    L_max(k)`` under ``expected``.
    """

    kind: str
    vcpu: float
    gpu_mem_gb: int | None
    mem_gb: float
    batch: int
    latency_avg: float
    latency_max: float
    cost: float
    index: int
    timeout_base: float = 0.0
    timeout_scale: float = 1.0


def config_grid(profile: ModelProfile | str, platform: Platform | str = "reference") -> ConfigGrid:
    """Evaluate every configuration of ``formulations/model.md`` section 3 for a profile on a
    platform (either may be given by name: a built-in model, a preset).

    Examples
    --------
    >>> from harmonybatch_mp import builtin_profile, preset
    >>> g = config_grid(builtin_profile("VGG19"), preset())
    >>> len(g), int((g.kind == 0).sum()), int((g.kind == 1).sum())
    (2048, 1280, 768)
    >>> len(config_grid("VGG19")) == len(g)
    True
    """
    return _config_grid(as_profile(profile), as_platform(platform))


@functools.lru_cache(maxsize=64)
def _config_grid(profile: ModelProfile, platform: Platform) -> ConfigGrid:
    # objects built in code, not read from files, are checked as files are (once a pair: cached)
    profile_from_dict(profile.to_dict(), "profile")
    platform_from_dict(platform.to_dict(), "platform")
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # a profile out of range: _finite names it
        grid = _evaluate(profile, platform)
    _finite(grid)
    for arr in (grid.kind, grid.vcpu, grid.gpu_mem, grid.mem_gb, grid.batch,
                grid.latency_avg, grid.latency_max, grid.cost, grid.memory_ok):
        arr.setflags(write=False)
    return grid


def _evaluate(profile: ModelProfile, platform: Platform) -> ConfigGrid:
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
    return grid


def _finite(grid: ConfigGrid) -> None:
    """InputError naming the first configuration whose latency, memory or cost is not a
    finite number: coefficients of the profile (or prices of the platform) so large or small
    that they overflow (xi1 = 1e308 made 745 GPU latencies NaN, and every comparison with
    them false)."""
    for what, values in (("average latency", grid.latency_avg), ("maximum latency", grid.latency_max),
                         ("memory", grid.mem_gb), ("cost", grid.cost)):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            i = int(bad[0])
            where = (f"GPU {int(grid.gpu_mem[i])} GB" if grid.kind[i] == GPU else f"CPU {float(grid.vcpu[i]):g} vCPU")
            raise InputError(f"profile {grid.profile.name!r} on this platform: {what} {float(values[i])!r} for {where}, "
                             f"batch {int(grid.batch[i])} ({bad.size} configurations in all): {OUT_OF_RANGE}")


def kind_mask(grid: ConfigGrid, kinds: Sequence[str]) -> np.ndarray:
    """The configurations of ``grid`` whose function kind is one of ``kinds``, as a read-only boolean mask."""
    instance(grid, ConfigGrid, "grid")
    expected = "a sequence of function kinds such as ('cpu', 'gpu')"
    kinds = tuple(listed(kinds, "kinds", expected))
    if not all(isinstance(k, str) for k in kinds):
        raise InputError(f"kinds: expected {expected}, got {kinds!r}")
    return _kind_mask_cached(grid, kinds)


@functools.lru_cache(maxsize=256)
def _kind_mask_cached(grid: ConfigGrid, kinds: tuple[str, ...]) -> np.ndarray:
    bad = set(kinds) - set(KINDS)
    if bad:
        raise InputError(f"unknown function kind(s) {sorted(bad)}; expected 'cpu' and/or 'gpu'")
    mask = np.isin(grid.kind, [KINDS.index(k) for k in kinds])
    mask.setflags(write=False)
    return mask


