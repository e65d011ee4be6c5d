"""Function shapes and memory rules of the platform (``formulations/model.md`` section 3).

Pure functions; each accepts numpy arrays as well as scalars.
"""

from __future__ import annotations

import numpy as np

from .platform import Platform
from .profiles import ModelProfile


def round_memory_mb(mb, granularity: int = 64):
    """``up64``: truncate to whole MB, then round up to a multiple of ``granularity`` (MB).

    Examples
    --------
    >>> int(round_memory_mb(844.19)), int(round_memory_mb(1587.2)), int(round_memory_mb(512))
    (896, 1600, 512)
    """
    return np.ceil(np.trunc(mb) / granularity) * granularity


def vcpu_grid(platform: Platform) -> np.ndarray:
    """All vCPU sizes of a CPU function: ``vcpu_min, vcpu_min + step, ..., vcpu_max``.

    Examples
    --------
    >>> from harmonybatch_mp import preset
    >>> g = vcpu_grid(preset()); len(g), float(g[0]), float(g[30]), float(g[-1])
    (320, 0.05, 1.55, 16.0)
    """
    k0 = round(platform.vcpu_min / platform.vcpu_step)
    k1 = round(platform.vcpu_max / platform.vcpu_step)
    # k * step, rounded to 12 decimals so that grid values print and compare exactly.
    return np.round(np.arange(k0, k1 + 1) * platform.vcpu_step, 12)


def cpu_batch_limit(profile: ModelProfile, platform: Platform) -> int:
    """Largest CPU batch: the platform's limit, never more than the profile covers."""
    return min(platform.cpu_max_batch, profile.cpu_batches)


def cpu_memory_need_mb(profile: ModelProfile, platform: Platform, batch):
    """Memory a CPU function needs for ``batch``: ``up64(a*b + m0)`` MB."""
    return round_memory_mb(
        profile.cpu_mem_per_request * np.asarray(batch, dtype=float) + profile.cpu_mem_base,
        platform.memory_granularity_mb,
    )


def cpu_memory_feasible(profile: ModelProfile, platform: Platform, vcpu, batch):
    """True where the need fits: ``need/1024 <= 4c`` (memory per vCPU cap)."""
    return cpu_memory_need_mb(profile, platform, batch) / 1024.0 <= platform.mem_gb_per_vcpu * np.asarray(vcpu)


def cpu_billed_memory_gb(profile: ModelProfile, platform: Platform, vcpu, batch):
    """Billed memory of a CPU function: ``up64(1024 * max(c, need/1024)) / 1024`` GB."""
    need_gb = cpu_memory_need_mb(profile, platform, batch) / 1024.0
    return round_memory_mb(1024.0 * np.maximum(vcpu, need_gb), platform.memory_granularity_mb) / 1024.0


def gpu_vcpu(platform: Platform, gpu_mem_gb):
    """vCPU that come with a GPU function of ``m`` GB: ``m / 3`` on the presets."""
    return np.asarray(gpu_mem_gb, dtype=float) / platform.gpu_gb_per_vcpu


def gpu_host_memory_gb(profile: ModelProfile, platform: Platform) -> float:
    """Host memory of a GPU function: ``up64(GPU mem) / 1024`` GB."""
    return float(round_memory_mb(profile.gpu_host_mem_mb, platform.memory_granularity_mb)) / 1024.0


def gpu_memory_need_gb(profile: ModelProfile, batch):
    """GPU memory (GB) batch ``b`` needs: smallest ``j`` with ``b <= θ_j``, else ``k+1``.

    Examples
    --------
    >>> from harmonybatch_mp import builtin_profile
    >>> gpu_memory_need_gb(builtin_profile("VideoMAE"), [1, 4, 5, 13, 15]).tolist()
    [2, 2, 3, 5, 6]
    """
    th = np.asarray(profile.gpu_mem_thresholds, dtype=float)
    return np.searchsorted(th, np.asarray(batch, dtype=float), side="left") + 1


def gpu_memory_feasible(profile: ModelProfile, platform: Platform, gpu_mem_gb, batch):
    """True where batch fits in ``m`` GB and the host memory fits the vCPU cap."""
    m = np.asarray(gpu_mem_gb)
    host_ok = gpu_host_memory_gb(profile, platform) <= platform.mem_gb_per_vcpu * gpu_vcpu(platform, m)
    return (gpu_memory_need_gb(profile, batch) <= m) & host_ok
