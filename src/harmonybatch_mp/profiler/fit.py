"""Fitting a model profile to measurements, with the quality of every fitted curve.

The latency forms fitted are those of ``formulations/model.md`` section 4 (Eq. 1 per
CPU batch; Eqs. 2-4 for GPU functions).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._validate import instance, integer
from ..errors import InputError
from ..latency import gpu_base_latency, gpu_latency_avg, gpu_latency_max
from ..platform import Platform, preset
from ..profiles import ExpCurve, ModelProfile
from ..shapes import gpu_vcpu
from .measurements import Measurements, load_measurements

#: CPU memory demand used when no ``mem_mb`` is measured: ``0 * b + 512`` MB.
DEFAULT_CPU_MEM = (0.0, 512.0)
#: GPU host memory (MB) of a fitted profile.
DEFAULT_GPU_HOST_MEM_MB = 512.0
#: GPU time slice used when no maximum latencies at partial GPU memory are measured.
DEFAULT_TIME_SLICE = 0.002
#: A curve whose fit has R^2 below this or a larger maximum relative error gets a warning.
POOR_R2, POOR_REL_ERROR = 0.95, 0.10


class ProfileFitWarning(UserWarning):
    """A default was used or a curve fits poorly."""


@dataclass(frozen=True)
class CurveFit:
    """Quality of one fitted curve: R², maximum relative error, and how many points it saw."""

    name: str
    r2: float
    max_rel_error: float
    points: int

    @property
    def poor(self) -> bool:
        return self.r2 < POOR_R2 or self.max_rel_error > POOR_REL_ERROR


@dataclass(frozen=True)
class FitResult:
    """A fitted profile, the quality of each curve, and the warnings raised while fitting."""

    profile: ModelProfile
    curves: tuple[CurveFit, ...]
    warnings: tuple[str, ...]

    def report(self) -> str:
        """A readable table of the fit quality."""
        lines = [f"{'curve':<28}{'points':>7}{'R^2':>9}{'max rel err':>13}"]
        for c in self.curves:
            lines.append(f"{c.name:<28}{c.points:>7}{c.r2:>9.4f}{c.max_rel_error:>12.2%}{'  POOR' if c.poor else ''}")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _quality(name: str, y: np.ndarray, fit: np.ndarray) -> CurveFit:
    ss_res = float(np.sum((y - fit) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    # latencies equal up to rounding leave R^2 meaningless (0/0: it came out near -1e12 for a fit
    # within 1e-15 of them); there a fit within that rounding is perfect, any other none
    scale = float(np.sum(y ** 2))
    flat = ss_tot <= 1e-12 * scale
    r2 = (1.0 if ss_res <= 1e-12 * scale else 0.0) if flat else 1.0 - ss_res / ss_tot
    return CurveFit(name, r2, float(np.max(np.abs(fit - y) / y)), int(y.size))


def _exp(c, a, b, g):
    return a * np.exp(-c / b) + g


def _fit_exp(x: np.ndarray, y: np.ndarray, what: str) -> tuple[float, float, float]:
    """Fit ``alpha exp(-c/beta) + gamma`` in relative terms from several starting points."""
    from scipy.optimize import least_squares

    best, best_sse = None, math.inf
    for b0 in (0.1, 0.3, 1.0, 3.0):
        g0 = 0.9 * float(y.min())
        a0 = max(float(y[0] - g0) * math.exp(min(x[0] / b0, 50.0)), 1e-9)
        # least squares relative to each sample (curve_fit with sigma=y did this, and warned from
        # any thread when three sizes left it no covariance, which is not used)
        try:
            res = least_squares(lambda q: (_exp(x, *q) - y) / y, (a0, b0, g0), method="trf", max_nfev=20000,
                                bounds=([0.0, 1e-3, 1e-9], [np.inf, 1e3, np.inf]))
        except ValueError:
            continue
        if not res.success:
            continue
        p = res.x
        sse = float(np.sum(((_exp(x, *p) - y) / y) ** 2))
        if sse < best_sse:
            best, best_sse = p, sse
    if best is None:
        raise InputError(f"{what}: the curve fit did not converge")
    return float(best[0]), float(best[1]), float(best[2])


def _stat(values: np.ndarray, quantile: float | None) -> float:
    return float(values.max() if quantile is None else np.quantile(values, quantile))


def _fit_cpu(m: Measurements, quantile: float | None, min_sizes: int):
    batches = np.unique(m.batch)
    want = np.arange(1, batches.max() + 1)
    gaps = sorted(set(want.tolist()) - set(batches.tolist()))
    if gaps:
        raise InputError(f"CPU measurements must cover batch sizes 1..{batches.max()} without gaps; "
                         f"missing batch {', '.join(map(str, gaps))}")
    avg, mx, curves = [], [], []
    for b in want:
        rows = m.select(m.batch == b)
        sizes = np.unique(rows.vcpu)
        if sizes.size < min_sizes:
            raise InputError(
                f"CPU batch {b}: latencies at only {sizes.size} distinct vCPU size(s) "
                f"({', '.join(f'{s:g}' for s in sizes)}; rows {', '.join(map(str, rows.line[:5]))}"
                f"{', ...' if rows.line.size > 5 else ''}); need at least {min_sizes} to fit alpha, beta, gamma")
        y_avg = np.array([rows.latency[rows.vcpu == s].mean() for s in sizes])
        y_max = np.array([_stat(rows.latency[rows.vcpu == s], quantile) for s in sizes])
        for label, y, out in (("avg", y_avg, avg), ("max", y_max, mx)):
            p = _fit_exp(sizes, y, f"CPU batch {b} {label} latency")
            out.append(ExpCurve(*p))
            curves.append(_quality(f"cpu {label} batch {b}", y, _exp(sizes, *p)))
    return tuple(avg), tuple(mx), curves


def _fit_cpu_memory(m: Measurements, notes: list[str]) -> tuple[float, float]:
    ok = ~np.isnan(m.mem_mb)
    if not ok.any():
        notes.append(f"no CPU mem_mb column or values: CPU memory demand defaults to "
                     f"{DEFAULT_CPU_MEM[0]:g}*b + {DEFAULT_CPU_MEM[1]:g} MB")
        return DEFAULT_CPU_MEM
    b = np.unique(m.batch[ok])
    peak = np.array([m.mem_mb[ok & (m.batch == x)].max() for x in b])
    if b.size == 1:
        return 0.0, float(peak[0] - 0.0)
    slope, base = np.polyfit(b.astype(float), peak, 1)
    slope = max(float(slope), 0.0)
    base = float(peak.max() - slope * b[np.argmax(peak)]) if base <= 0 else float(base)
    return slope, max(base, 1.0)


def _gpu_thresholds(m: Measurements, notes: list[str]) -> tuple[float, ...]:
    ok = ~np.isnan(m.mem_mb)
    if not ok.any():
        notes.append("no GPU mem_mb values: every GPU batch is assumed to need 1 GB of GPU memory")
        return ()
    b = np.unique(m.batch[ok])
    need = np.maximum.accumulate(np.ceil(np.array([m.mem_mb[ok & (m.batch == x)].max() for x in b]) / 1024.0))
    top = int(need.max())
    return tuple(float(b[need <= j].max()) if (need <= j).any() else 0.0 for j in range(1, top))


def _fit_gpu(m: Measurements, platform: Platform, device: int | None, quantile: float | None,
             base: ModelProfile, notes: list[str]):
    device = int(device or m.gpu_mem_gb.max())
    if (m.gpu_mem_gb > device).any():
        bad = m.line[m.gpu_mem_gb > device][0]
        raise InputError(f"measurements row {bad}: gpu_mem_gb above the device memory {device} GB")
    full = m.select(m.gpu_mem_gb == device)
    batches = np.unique(full.batch)
    if batches.size < 2:
        raise InputError(f"GPU: mean latencies at the full device memory ({device} GB) are needed for at least "
                         f"2 batch sizes to fit xi1, xi2; got {batches.size}")
    y = np.array([full.latency[full.batch == b].mean() for b in batches])
    xi1, xi2 = (float(t) for t in np.polyfit(batches.astype(float), y, 1))
    if xi1 <= 0:
        raise InputError(f"GPU: latency at full memory does not grow with the batch (fitted xi1 = {xi1:.3g})")
    curves = [_quality("gpu mean at full memory (L0)", y, xi1 * batches + xi2)]
    prof = dataclasses.replace(base, xi1=xi1, xi2=xi2, device_mem_gb=device, gpu_share=1.0, cpu_share=0.0,
                               time_slice=DEFAULT_TIME_SLICE)
    part = m.select(m.gpu_mem_gb < device)
    if part.kind.size:
        keys = sorted(set(zip(part.gpu_mem_gb.tolist(), part.batch.tolist())))
        mm = np.array([k[0] for k in keys], float)
        bb = np.array([k[1] for k in keys], float)
        y_avg = np.array([part.latency[(part.gpu_mem_gb == g) & (part.batch == b)].mean() for g, b in keys])
        l0 = gpu_base_latency(prof, bb)
        inv_cc = 1.0 / np.minimum(gpu_vcpu(platform, mm), 1.0)
        u = l0 * (device / mm - inv_cc)  # L_avg = L0/cc + a * L0 * (M/m - 1/cc), with a + b_cpu = 1
        a = float(np.clip(np.sum(u * (y_avg - l0 * inv_cc)) / np.sum(u * u), 0.0, 1.0)) if np.any(u) else 1.0
        prof = dataclasses.replace(prof, gpu_share=a, cpu_share=1.0 - a)
        curves.append(_quality("gpu mean at partial memory", y_avg, gpu_latency_avg(prof, platform, mm, bb)))
        y_max = np.array([_stat(part.latency[(part.gpu_mem_gb == g) & (part.batch == b)], quantile) for g, b in keys])

        def best_tau(taus: np.ndarray) -> float:  # vectorised over candidate time slices
            lm = gpu_latency_max(dataclasses.replace(prof, time_slice=taus[:, None]), platform, mm, bb)
            return float(taus[np.argmin(np.sum(((lm - y_max) / y_max) ** 2, axis=1))])

        tau = best_tau(np.geomspace(1e-4, 0.1, 4000))
        tau = best_tau(np.linspace(tau * 0.995, tau * 1.005, 401))
        prof = dataclasses.replace(prof, time_slice=tau)
        curves.append(_quality("gpu max at partial memory (tau)", y_max, gpu_latency_max(prof, platform, mm, bb)))
    else:
        notes.append(f"no GPU rows below the full device memory: time slice defaults to {DEFAULT_TIME_SLICE * 1e3:g} ms "
                     "and the latency is taken as all GPU-bound (gpu_share 1)")
    return prof, curves


def fit_profile(measurements: Measurements | str | Path, *, name: str = "fitted", quantile: float | None = None,
                platform: Platform | None = None, device_mem_gb: int | None = None,
                gpu_host_mem_mb: float = DEFAULT_GPU_HOST_MEM_MB, min_vcpu_sizes: int = 3,
                source: str = "") -> FitResult:
    """Fit a model profile (``formulations/model.md`` section 2) to latency measurements.

    Parameters
    ----------
    measurements : Measurements or path
        The table (see :func:`load_measurements`).
    name : str
        Name of the fitted model.
    quantile : float, optional
        Fit the "max" curves to this quantile of the samples (e.g. 0.99) instead of the maximum.
    platform : Platform, optional
        Gives the GPU vCPU share and time-slicing overhead of the formulas (default preset
        ``reference``; use the platform the measurements were taken on).
    device_mem_gb : int, optional
        Memory of a whole GPU; default the largest ``gpu_mem_gb`` measured.
    gpu_host_mem_mb : float
        Host memory of a GPU function (not measured here).
    min_vcpu_sizes : int
        Distinct vCPU sizes needed per CPU batch size (at least 3 for 3 coefficients).
    source : str
        Provenance recorded in the profile.

    Returns
    -------
    FitResult
        The profile, R² and maximum relative error per curve, and warnings (also issued as
        :class:`ProfileFitWarning`).

    Notes
    -----
    CPU: per batch size, ``alpha exp(-c/beta) + gamma`` is fitted by scipy's ``curve_fit``
    (relative residuals, bounds ``alpha >= 0``, ``beta`` in ``[1e-3, 1e3]``, ``gamma > 0``,
    several starting points) to the mean and to the maximum latency per vCPU size. GPU:
    ``xi1, xi2`` by least squares on the mean latency at the full device memory; the
    GPU-bound share ``a`` (with ``b = 1 - a``) by least squares on mean latencies at partial
    memory; ``tau`` by a search minimising the relative error of Eq. 4 on the maximum
    latencies at partial memory. Memory demand from ``mem_mb`` when present.
    """
    if not isinstance(measurements, Measurements):
        measurements = load_measurements(measurements)
    platform = preset() if platform is None else instance(platform, Platform, "fit_profile: platform")
    min_vcpu_sizes = integer(min_vcpu_sizes, "fit_profile: min_vcpu_sizes", minimum=1)
    if quantile is not None and (isinstance(quantile, bool) or not isinstance(quantile, numbers.Real)
                                 or not 0 < quantile <= 1):
        raise InputError(f"quantile must be in (0, 1], got {quantile!r}")
    notes: list[str] = []
    cpu = measurements.select(measurements.kind == "cpu")
    if cpu.kind.size == 0:
        raise InputError("measurements have no CPU rows; a profile needs CPU latency curves")
    avg, mx, curves = _fit_cpu(cpu, quantile, max(3, min_vcpu_sizes))
    a_mem, m0 = _fit_cpu_memory(cpu, notes)
    profile = ModelProfile(name=name, cpu_avg=avg, cpu_max=mx, cpu_mem_per_request=a_mem, cpu_mem_base=m0,
                           gpu_host_mem_mb=0.0, gpu_mem_thresholds=(), xi1=0.0, xi2=0.0, time_slice=0.0,
                           device_mem_gb=0, source=source or "fitted by harmonybatch_mp.profiler.fit_profile")
    gpu = measurements.select(measurements.kind == "gpu")
    if gpu.kind.size:
        th = _gpu_thresholds(gpu, notes)
        base = dataclasses.replace(profile, gpu_host_mem_mb=float(gpu_host_mem_mb), gpu_mem_thresholds=th)
        profile, gcurves = _fit_gpu(gpu, platform, device_mem_gb, quantile, base, notes)
        curves += gcurves
        if len(th) + 1 > profile.device_mem_gb:
            raise InputError(f"GPU memory demand of up to {len(th) + 1} GB exceeds the device ({profile.device_mem_gb} GB)")
    from ..profiles import profile_from_dict

    profile = profile_from_dict(profile.to_dict(), where="fitted profile")  # validate
    for c in curves:
        if c.poor:
            notes.append(f"poor fit for {c.name}: R^2 {c.r2:.3f}, max relative error {c.max_rel_error:.1%}")
    for n in notes:
        warnings.warn(n, ProfileFitWarning, stacklevel=2)
    return FitResult(profile, tuple(curves), tuple(notes))

