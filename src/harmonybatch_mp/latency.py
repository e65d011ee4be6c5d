"""Inference latency of CPU and GPU functions (``formulations/model.md`` section 4; paper Eqs. 1-4).

Pure, vectorised functions: ``vcpu``, ``gpu_mem_gb`` and ``batch`` may be numpy arrays
(broadcast together).
"""

from __future__ import annotations

import numpy as np

from .errors import InputError
from .platform import Platform
from .profiles import ModelProfile
from .shapes import gpu_vcpu


def _coeffs(curves, batch):
    b = np.asarray(batch, dtype=int)
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
    curves = {"avg": profile.cpu_avg, "max": profile.cpu_max}[stat]
    a, b, g = _coeffs(curves, batch)
    with np.errstate(over="ignore"):  # vcpu / b past the largest float (b tiny): the exponential is 0
        return a * np.exp(-np.asarray(vcpu, dtype=float) / b) + g


def gpu_base_latency(profile: ModelProfile, batch):
    """``L0(b) = xi1*b + xi2``: latency on a whole GPU (Eq. 2)."""
    return profile.xi1 * np.asarray(batch, dtype=float) + profile.xi2


def _cpu_part(profile: ModelProfile, platform: Platform, gpu_mem_gb, l0):
    cc = np.minimum(gpu_vcpu(platform, gpu_mem_gb), 1.0)
    return profile.cpu_share * l0 / cc


def gpu_latency_avg(profile: ModelProfile, platform: Platform, gpu_mem_gb, batch):
    """Average GPU latency ``(Mmax/m)*a*L0 + b_cpu*L0/cc`` (Eq. 3), ``cc = min(m/3, 1)``."""
    m = np.asarray(gpu_mem_gb, dtype=float)
    l0 = gpu_base_latency(profile, batch)
    return (profile.device_mem_gb / m) * profile.gpu_share * l0 + _cpu_part(profile, platform, m, l0)


def gpu_overhead(profile: ModelProfile, platform: Platform, gpu_mem_gb):
    """Time-slicing overhead ``k(m)``: the platform's factor below a whole device, 1.0 at ``Mmax``."""
    m = np.asarray(gpu_mem_gb)
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
    m = np.asarray(gpu_mem_gb, dtype=float)
    l0 = gpu_base_latency(profile, batch)
    gpu_part = profile.gpu_share * l0
    n = np.ceil(gpu_part / (m * profile.time_slice))
    waited = (profile.device_mem_gb - m) * n * profile.time_slice
    return (waited + gpu_part) * gpu_overhead(profile, platform, m) + _cpu_part(profile, platform, m, l0)
