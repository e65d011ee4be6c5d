"""Model profiler: fit a profile from latency measurements, and measure a Python callable.

A measurement table is a CSV with header ``kind,vcpu,gpu_mem_gb,batch,latency_s`` and an
optional ``mem_mb`` column, one latency sample per row (``vcpu`` empty for GPU rows,
``gpu_mem_gb`` empty for CPU rows). :func:`fit_profile` turns it into a validated
:class:`~harmonybatch_mp.profiles.ModelProfile` and reports the fit quality of every curve;
:func:`profile_callable` produces such a table by timing a callable on this machine.

References
----------
.. [1] Chen et al., HarmonyBatch, IWQoS 2024, arXiv:2405.05633, Sec. III (model profiler).
"""

from .fit import (
    DEFAULT_CPU_MEM,
    DEFAULT_GPU_HOST_MEM_MB,
    DEFAULT_TIME_SLICE,
    CurveFit,
    FitResult,
    ProfileFitWarning,
    fit_profile,
)
from .measurements import COLUMNS, Measurements, load_measurements, measurements_from_rows, write_measurements
from .timing import profile_callable

__all__ = ["COLUMNS", "DEFAULT_CPU_MEM", "DEFAULT_GPU_HOST_MEM_MB", "DEFAULT_TIME_SLICE", "CurveFit", "FitResult",
           "Measurements", "ProfileFitWarning", "fit_profile", "load_measurements", "measurements_from_rows",
           "profile_callable", "write_measurements"]
