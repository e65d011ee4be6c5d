"""Cost per request of one invocation (``formulations/model.md`` section 5; paper Eq. 6)."""

from __future__ import annotations

import numpy as np

from ._validate import flag, instance, reals, together
from .errors import InputError
from .platform import Platform


def billed_duration(latency_avg, unit: float):
    """Billed duration ``D``: the average latency rounded up to the billing ``unit`` (0 = exact).

    Examples
    --------
    >>> float(billed_duration(0.2773, 0.0)), float(billed_duration(0.2773, 1.0))
    (0.2773, 1.0)
    """
    lat, unit = reals(latency_avg, "billed_duration: latency_avg"), reals(unit, "billed_duration: unit")
    if np.ndim(unit) or not unit < np.inf:
        raise InputError(f"billed_duration: unit: expected one number of seconds (0: exact), got {unit!r:.40}")
    if unit <= 0:
        return lat
    return np.ceil(lat / unit) * unit


def cost_per_request(platform: Platform, *, vcpu, mem_gb, gpu_gb, duration, batch):
    """``C = (K_inv + (vcpu*K_cpu + mem*K_mem + gpu*K_gpu) * D) / b`` (Eq. 6).

    Pass the *billed* vCPU and memory (zero for a GPU function on a platform that
    does not bill a GPU function's host resources) and the *billed* duration.

    Examples
    --------
    >>> from harmonybatch_mp import preset
    >>> c = cost_per_request(preset(), vcpu=1.55, mem_gb=1.5625, gpu_gb=0, duration=0.27727, batch=1)
    >>> f"{float(c):.4e}"
    '4.3478e-05'
    """
    instance(platform, Platform, "cost_per_request: platform")
    given = {"vcpu": vcpu, "mem_gb": mem_gb, "gpu_gb": gpu_gb, "duration": duration, "batch": batch}
    x = {name: reals(value, f"cost_per_request: {name}") for name, value in given.items()}
    together("cost_per_request", **x)
    rate = x["vcpu"] * platform.cpu_price + x["mem_gb"] * platform.mem_price + x["gpu_gb"] * platform.gpu_price
    return (platform.invocation_price + rate * x["duration"]) / x["batch"]


def function_cost(platform: Platform, kind: str, *, vcpu, mem_gb, gpu_gb, latency_avg, batch=1, billed=False):
    """Eq. 6 for a ``"cpu"`` or ``"gpu"`` function: per request of a batch of ``batch``.

    Applies the kind's billing unit to the average latency (unless ``billed``: the duration
    given is already the billed one, e.g. an expected billed duration), and bills a GPU
    function's vCPU and host memory only where the platform does (``gpu_bills_host``).
    With ``batch=1`` it is the cost of one invocation.

    Examples
    --------
    >>> from harmonybatch_mp import preset
    >>> c = function_cost(preset(), "gpu", vcpu=2 / 3, mem_gb=0.5, gpu_gb=2, latency_avg=0.3, batch=14)
    >>> f"{float(c):.4e}"
    '2.0386e-05'
    """
    if not isinstance(platform, Platform) or not (isinstance(kind, str) and kind in ("cpu", "gpu")):
        raise InputError(f"function_cost: expected a Platform and a kind 'cpu' or 'gpu', got "
                         f"{type(platform).__name__} and {kind!r:.20}")
    billed = flag(billed, "function_cost: billed")
    gpu = kind == "gpu"
    unit = platform.gpu_billing_unit if gpu else platform.cpu_billing_unit
    host = 0.0 if gpu and not platform.gpu_bills_host else 1.0
    return cost_per_request(platform, vcpu=host * reals(vcpu, "function_cost: vcpu"),
                            mem_gb=host * reals(mem_gb, "function_cost: mem_gb"),
                            gpu_gb=gpu_gb, duration=latency_avg if billed else billed_duration(latency_avg, unit),
                            batch=batch)
