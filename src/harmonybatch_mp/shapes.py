"""Function shapes and memory rules of the platform (``formulations/model.md`` section 3).

Pure functions; each accepts numpy arrays as well as scalars.
"""

from __future__ import annotations

import numpy as np

from ._validate import instance, reals, together
from .errors import InputError
from .platform import Platform
from .profiles import ModelProfile


def _profile(profile: ModelProfile, where: str) -> ModelProfile:
    return instance(profile, ModelProfile, f"{where}: profile")


def _platform(platform: Platform, where: str) -> Platform:
    return instance(platform, Platform, f"{where}: platform")


def round_memory_mb(mb, granularity: int = 64):
    """``up64``: truncate to whole MB, then round up to a multiple of ``granularity`` (MB).

    Examples
    --------
    >>> int(round_memory_mb(844.19)), int(round_memory_mb(1587.2)), int(round_memory_mb(512))
    (896, 1600, 512)
    """
    g = reals(granularity, "round_memory_mb: granularity")
    if np.ndim(g) or not 0 < g < np.inf:
        raise InputError(f"round_memory_mb: granularity: expected one number of MB > 0, got {granularity!r:.40}")
    return np.ceil(np.trunc(reals(mb, "round_memory_mb: mb")) / g) * g


def vcpu_grid(platform: Platform) -> np.ndarray:
    """All vCPU sizes of a CPU function: ``vcpu_min, vcpu_min + step, ..., vcpu_max``.

    Examples
    --------
    >>> from harmonybatch_mp import preset
    >>> g = vcpu_grid(preset()); len(g), float(g[0]), float(g[30]), float(g[-1])
    (320, 0.05, 1.55, 16.0)
    """
    _platform(platform, "vcpu_grid")
    k0 = round(platform.vcpu_min / platform.vcpu_step)
    k1 = round(platform.vcpu_max / platform.vcpu_step)
    # k * step, rounded to 12 decimals so that grid values print and compare exactly.
    return np.round(np.arange(k0, k1 + 1) * platform.vcpu_step, 12)


def cpu_batch_limit(profile: ModelProfile, platform: Platform) -> int:
    """Largest CPU batch: the platform's limit, never more than the profile covers."""
    return min(_platform(platform, "cpu_batch_limit").cpu_max_batch, _profile(profile, "cpu_batch_limit").cpu_batches)


def cpu_memory_need_mb(profile: ModelProfile, platform: Platform, batch):
    """Memory a CPU function needs for ``batch``: ``up64(a*b + m0)`` MB."""
    _profile(profile, "cpu_memory_need_mb")
    return round_memory_mb(
        profile.cpu_mem_per_request * reals(batch, "cpu_memory_need_mb: batch") + profile.cpu_mem_base,
        _platform(platform, "cpu_memory_need_mb").memory_granularity_mb,
    )


def cpu_memory_feasible(profile: ModelProfile, platform: Platform, vcpu, batch):
    """True where the need fits: ``need/1024 <= 4c`` (memory per vCPU cap)."""
    _profile(profile, "cpu_memory_feasible"), _platform(platform, "cpu_memory_feasible")
    need_gb, vcpu = cpu_memory_need_mb(profile, platform, batch) / 1024.0, reals(vcpu, "cpu_memory_feasible: vcpu")
    together("cpu_memory_feasible", vcpu=vcpu, batch=need_gb)
    return need_gb <= platform.mem_gb_per_vcpu * vcpu


def cpu_billed_memory_gb(profile: ModelProfile, platform: Platform, vcpu, batch):
    """Billed memory of a CPU function: ``up64(1024 * max(c, need/1024)) / 1024`` GB."""
    _profile(profile, "cpu_billed_memory_gb"), _platform(platform, "cpu_billed_memory_gb")
    vcpu = reals(vcpu, "cpu_billed_memory_gb: vcpu")
    need_gb = cpu_memory_need_mb(profile, platform, batch) / 1024.0
    together("cpu_billed_memory_gb", vcpu=vcpu, batch=need_gb)
    return round_memory_mb(1024.0 * np.maximum(vcpu, need_gb), platform.memory_granularity_mb) / 1024.0


def gpu_vcpu(platform: Platform, gpu_mem_gb):
    """vCPU that come with a GPU function of ``m`` GB: ``m / 3`` on the presets."""
    return reals(gpu_mem_gb, "gpu_vcpu: gpu_mem_gb") / _platform(platform, "gpu_vcpu").gpu_gb_per_vcpu


def gpu_host_memory_gb(profile: ModelProfile, platform: Platform) -> float:
    """Host memory of a GPU function: ``up64(GPU mem) / 1024`` GB."""
    mb = _profile(profile, "gpu_host_memory_gb").gpu_host_mem_mb
    return float(round_memory_mb(mb, _platform(platform, "gpu_host_memory_gb").memory_granularity_mb)) / 1024.0


def gpu_memory_need_gb(profile: ModelProfile, batch):
    """GPU memory (GB) batch ``b`` needs: smallest ``j`` with ``b <= θ_j``, else ``k+1``.

    Examples
    --------
    >>> from harmonybatch_mp import builtin_profile
    >>> gpu_memory_need_gb(builtin_profile("VideoMAE"), [1, 4, 5, 13, 15]).tolist()
    [2, 2, 3, 5, 6]
    """
    th = np.asarray(_profile(profile, "gpu_memory_need_gb").gpu_mem_thresholds, dtype=float)
    return np.searchsorted(th, reals(batch, "gpu_memory_need_gb: batch"), side="left") + 1


def gpu_memory_feasible(profile: ModelProfile, platform: Platform, gpu_mem_gb, batch):
    """True where batch fits in ``m`` GB and the host memory fits the vCPU cap."""
    _profile(profile, "gpu_memory_feasible"), _platform(platform, "gpu_memory_feasible")
    m = reals(gpu_mem_gb, "gpu_memory_feasible: gpu_mem_gb")
    host_ok = gpu_host_memory_gb(profile, platform) <= platform.mem_gb_per_vcpu * gpu_vcpu(platform, m)
    need = gpu_memory_need_gb(profile, batch)
    together("gpu_memory_feasible", gpu_mem_gb=m, batch=need)
    return (need <= m) & host_ok
