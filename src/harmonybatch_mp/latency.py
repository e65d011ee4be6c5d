"""Inference latency of CPU and GPU functions (``formulations/model.md`` section 4; paper Eqs. 1-4).

Pure, vectorised functions: ``vcpu``, ``gpu_mem_gb`` and ``batch`` may be numpy arrays
(broadcast together).
"""

from __future__ import annotations

import numpy as np

from ._validate import instance, reals, together
from .errors import InputError
from .platform import Platform
from .profiles import ModelProfile
from .shapes import gpu_vcpu


def _checked(where: str, profile: ModelProfile, *platform: Platform) -> None:
    """``profile`` (and ``platform``, where the function takes one) checked, naming ``where``."""
    instance(profile, ModelProfile, f"{where}: profile")
    for p in platform:
        instance(p, Platform, f"{where}: platform")


def _coeffs(curves, batch):
    b = reals(batch, "cpu_latency: batch")
    if np.any(b != np.round(b)):
        raise InputError(f"cpu_latency: batch: expected whole numbers, got {batch!r:.40}")
    b = b.astype(int)
    table = np.array([[c.alpha, c.beta, c.gamma] for c in curves])
    if np.any(b < 1) or np.any(b > len(curves)):
        raise InputError(f"CPU batch must be in 1..{len(curves)}, got {batch!r}")
    row = table[b - 1]
    return row[..., 0], row[..., 1], row[..., 2]


def cpu_latency(profile: ModelProfile, vcpu, batch, *, stat: str = "avg"):
    """CPU latency ``alpha_b * exp(-c / beta_b) + gamma_b`` (Eq. 1).

    Parameters
    ----------
    profile : ModelProfile
    vcpu : float or array
        vCPU of the function.
    batch : int or array
        Batch size, 1..B of the profile.
    stat : {"avg", "max"}
        Which coefficients: average or maximum latency.

    Examples
    --------
    >>> from harmonybatch_mp import builtin_profile
    >>> round(float(cpu_latency(builtin_profile("VGG19"), 1.55, 1, stat="max")), 4)
    0.3643
    """
    _checked("cpu_latency", profile)
    if not (isinstance(stat, str) and stat in ("avg", "max")):
        raise InputError(f"cpu_latency: stat: expected 'avg' or 'max', got {stat!r:.20}")
    curves = {"avg": profile.cpu_avg, "max": profile.cpu_max}[stat]
    a, b, g = _coeffs(curves, batch)
    vcpu = reals(vcpu, "cpu_latency: vcpu")
    together("cpu_latency", vcpu=vcpu, batch=b)
    with np.errstate(over="ignore"):  # vcpu / b past the largest float (b tiny): the exponential is 0
        return a * np.exp(-vcpu / b) + g


def gpu_base_latency(profile: ModelProfile, batch):
    """``L0(b) = xi1*b + xi2``: latency on a whole GPU (Eq. 2)."""
    _checked("gpu_base_latency", profile)
    return profile.xi1 * reals(batch, "gpu_base_latency: batch") + profile.xi2


def _cpu_part(profile: ModelProfile, platform: Platform, gpu_mem_gb, l0):
    cc = np.minimum(gpu_vcpu(platform, gpu_mem_gb), 1.0)
    return profile.cpu_share * l0 / cc


def gpu_latency_avg(profile: ModelProfile, platform: Platform, gpu_mem_gb, batch):
    """Average GPU latency ``(Mmax/m)*a*L0 + b_cpu*L0/cc`` (Eq. 3), ``cc = min(m/3, 1)``."""
    _checked("gpu_latency_avg", profile, platform)
    m = reals(gpu_mem_gb, "gpu_latency_avg: gpu_mem_gb")
    l0 = gpu_base_latency(profile, batch)
    together("gpu_latency_avg", gpu_mem_gb=m, batch=l0)
    return (profile.device_mem_gb / m) * profile.gpu_share * l0 + _cpu_part(profile, platform, m, l0)


def gpu_overhead(profile: ModelProfile, platform: Platform, gpu_mem_gb):
    """Time-slicing overhead ``k(m)``: the platform's factor below a whole device, 1.0 at ``Mmax``."""
    _checked("gpu_overhead", profile, platform)
    m = reals(gpu_mem_gb, "gpu_overhead: gpu_mem_gb")
    return np.where(m < profile.device_mem_gb, platform.gpu_timeslice_overhead, 1.0)


def gpu_latency_max(profile: ModelProfile, platform: Platform, gpu_mem_gb, batch):
    """Maximum GPU latency (Eq. 4 with the prototype's refinements).

    ``n = ceil(a*L0 / (m*tau))``, ``L_max = ((Mmax - m)*n*tau + a*L0)*k(m) + b_cpu*L0/cc``.

    Examples
    --------
    >>> from harmonybatch_mp import builtin_profile, preset
    >>> round(float(gpu_latency_max(builtin_profile("VGG19"), preset(), 24, 1)), 6)
    0.003793
    """
    _checked("gpu_latency_max", profile, platform)
    m = reals(gpu_mem_gb, "gpu_latency_max: gpu_mem_gb")
    l0 = gpu_base_latency(profile, batch)
    together("gpu_latency_max", gpu_mem_gb=m, batch=l0)
    gpu_part = profile.gpu_share * l0
    n = np.ceil(gpu_part / (m * profile.time_slice))
    waited = (profile.device_mem_gb - m) * n * profile.time_slice
    return (waited + gpu_part) * gpu_overhead(profile, platform, m) + _cpu_part(profile, platform, m, l0)
