"""Serverless platforms: prices, billing units, grids and function shapes (``formulations/model.md`` sections 3, 5).

A :class:`Platform` is plain data. Two presets are built in: ``reference`` (the
default: Alibaba Function Compute prices in CNY, as the HarmonyBatch prototype)
and ``paper`` (the USD prices of the paper, Sec. V-A). To define another platform,
copy a preset (``harmonybatch_mp.preset("reference").to_dict()``), change it and load
it with :func:`platform_from_dict` or :func:`load_platform`.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from . import _validate as v
from .errors import InputError

#: Names of the built-in platform presets.
PRESETS = ("reference", "paper")
#: Largest vCPU grid (sizes) and batch limit a platform may define: the configuration grid
#: is evaluated whole, so its size is bounded up front (the presets: 320 sizes, batch 32).
MAX_VCPU_SIZES, MAX_BATCH = 20_000, 1024
#: Largest price a platform may set (currency per unit-second, or per invocation): a million
#: times the presets' and more, and far within what the solvers' arithmetic holds (``milp``
#: failed at 1e20 times the reference prices).
MAX_PRICE = 1e6
#: The fields of a platform's JSON object (:func:`platform_from_dict`); ``description`` and
#: ``currency`` are optional.
FIELDS = ("name", "description", "currency", "prices", "billing_unit_s", "gpu_bills_host", "gpu_timeslice_overhead",
          "vcpu_grid", "cpu_max_batch", "cpu_mem_gb_per_vcpu", "gpu_max_batch", "gpu_gb_per_vcpu",
          "memory_granularity_mb")


@dataclass(frozen=True)
class Platform:
    """Prices, billing and function shapes of a serverless platform.

    Attributes
    ----------
    name : str
        Preset or platform name.
    cpu_price, mem_price, gpu_price : float
        ``K_cpu`` per vCPU-second, ``K_mem`` per GB-second, ``K_gpu`` per GPU-GB-second.
    invocation_price : float
        ``K_inv`` per invocation.
    cpu_billing_unit, gpu_billing_unit : float
        Billed duration is the average latency rounded up to this unit (s); 0 = exact.
    gpu_bills_host : bool
        Whether a GPU function also pays for its vCPU and host memory.
    gpu_timeslice_overhead : float
        ``k(m)`` for a GPU function with less than a whole device (1.0 at ``m = Mmax``).
    vcpu_min, vcpu_max, vcpu_step : float
        CPU function vCPU grid.
    cpu_max_batch : int
        Largest CPU batch (never more than the profile covers).
    mem_gb_per_vcpu : float
        A function may have at most this many GB of memory per vCPU.
    gpu_max_batch : int
        Largest GPU batch.
    gpu_gb_per_vcpu : float
        A GPU function with ``m`` GB of GPU memory gets ``m / gpu_gb_per_vcpu`` vCPU.
    memory_granularity_mb : int
        Memory is rounded up to a multiple of this (MB).
    currency : str
        Currency of the prices.
    description : str
        Free text.
    """

    name: str
    cpu_price: float
    mem_price: float
    gpu_price: float
    invocation_price: float
    cpu_billing_unit: float = 0.0
    gpu_billing_unit: float = 0.0
    gpu_bills_host: bool = True
    gpu_timeslice_overhead: float = 1.0
    vcpu_min: float = 0.05
    vcpu_max: float = 16.0
    vcpu_step: float = 0.05
    cpu_max_batch: int = 4
    mem_gb_per_vcpu: float = 4.0
    gpu_max_batch: int = 32
    gpu_gb_per_vcpu: float = 3.0
    memory_granularity_mb: int = 64
    currency: str = ""
    description: str = ""

    def vcpu_index(self, vcpu: float) -> int | None:
        """Return ``k`` with ``vcpu == k * vcpu_step`` on the grid, or None if off-grid."""
        vcpu = v.number(vcpu, "vcpu")
        if not (self.vcpu_min - self.vcpu_step <= vcpu <= self.vcpu_max + self.vcpu_step):
            return None  # (off the grid's range: 1e308 / vcpu_step overflows round())
        k = round(vcpu / self.vcpu_step)
        if abs(vcpu - k * self.vcpu_step) > 1e-9 * max(1.0, vcpu):
            return None
        if not (self.vcpu_min - 1e-9 <= k * self.vcpu_step <= self.vcpu_max + 1e-9):
            return None
        return k

    def to_dict(self) -> dict[str, Any]:
        """Return the platform in the JSON schema read by :func:`platform_from_dict`."""
        d = asdict(self)
        return {
            "name": d["name"],
            "description": d["description"],
            "currency": d["currency"],
            "prices": {
                "cpu_per_vcpu_s": d["cpu_price"],
                "mem_per_gb_s": d["mem_price"],
                "gpu_per_gb_s": d["gpu_price"],
                "per_invocation": d["invocation_price"],
            },
            "billing_unit_s": {"cpu": d["cpu_billing_unit"], "gpu": d["gpu_billing_unit"]},
            "gpu_bills_host": d["gpu_bills_host"],
            "gpu_timeslice_overhead": d["gpu_timeslice_overhead"],
            "vcpu_grid": {"min": d["vcpu_min"], "max": d["vcpu_max"], "step": d["vcpu_step"]},
            "cpu_max_batch": d["cpu_max_batch"],
            "cpu_mem_gb_per_vcpu": d["mem_gb_per_vcpu"],
            "gpu_max_batch": d["gpu_max_batch"],
            "gpu_gb_per_vcpu": d["gpu_gb_per_vcpu"],
            "memory_granularity_mb": d["memory_granularity_mb"],
        }


def platform_from_dict(data: Any, where: str = "platform") -> Platform:
    """Build and validate a :class:`Platform` from its JSON schema (see the preset files).

    Prices are finite, at least 0 and at most :data:`MAX_PRICE`, and neither kind of function
    may cost nothing. A field the schema does not have is an error that names it (misspelt,
    an optional field would be read as its default). A :class:`Platform` made in code is
    checked by the same rules when a solver first evaluates its configurations
    (:func:`~harmonybatch_mp.config_grid`).

    Examples
    --------
    >>> d = preset("reference").to_dict()
    >>> d["prices"]["gpu_per_gb_s"] = 2e-4
    >>> platform_from_dict(d).gpu_price
    0.0002
    >>> d["vcpu_grid"]["step"] = -1
    >>> platform_from_dict(d)
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: platform.vcpu_grid.step: must be > 0, got -1.0
    """
    where = v.prefix(where)
    v.only(data, FIELDS, where)
    name = v.field(data, "name", where)
    if not isinstance(name, str) or not name:
        raise InputError(f"{where}.name: expected a non-empty string")
    prices = v.field(data, "prices", where)
    bill = v.field(data, "billing_unit_s", where)
    grid = v.field(data, "vcpu_grid", where)
    w_p, w_b, w_g = f"{where}.prices", f"{where}.billing_unit_s", f"{where}.vcpu_grid"
    v.only(prices, ("cpu_per_vcpu_s", "mem_per_gb_s", "gpu_per_gb_s", "per_invocation"), w_p)
    v.only(bill, ("cpu", "gpu"), w_b)
    v.only(grid, ("min", "max", "step"), w_g)

    def price(key):
        return v.number(v.field(prices, key, w_p), f"{w_p}.{key}", nonnegative=True, maximum=MAX_PRICE)

    hosts = v.field(data, "gpu_bills_host", where)
    if not isinstance(hosts, bool):
        raise InputError(f"{where}.gpu_bills_host: expected true or false, got {hosts!r}")
    p = Platform(
        name=name,
        cpu_price=price("cpu_per_vcpu_s"),
        mem_price=price("mem_per_gb_s"),
        gpu_price=price("gpu_per_gb_s"),
        invocation_price=price("per_invocation"),
        cpu_billing_unit=v.number(v.field(bill, "cpu", w_b), f"{w_b}.cpu", nonnegative=True),
        gpu_billing_unit=v.number(v.field(bill, "gpu", w_b), f"{w_b}.gpu", nonnegative=True),
        gpu_bills_host=hosts,
        gpu_timeslice_overhead=v.number(
            v.field(data, "gpu_timeslice_overhead", where), f"{where}.gpu_timeslice_overhead", positive=True
        ),
        vcpu_min=v.number(v.field(grid, "min", w_g), f"{w_g}.min", positive=True),
        vcpu_max=v.number(v.field(grid, "max", w_g), f"{w_g}.max", positive=True),
        vcpu_step=v.number(v.field(grid, "step", w_g), f"{w_g}.step", positive=True),
        cpu_max_batch=v.integer(v.field(data, "cpu_max_batch", where), f"{where}.cpu_max_batch", minimum=1,
                                maximum=MAX_BATCH),
        mem_gb_per_vcpu=v.number(v.field(data, "cpu_mem_gb_per_vcpu", where), f"{where}.cpu_mem_gb_per_vcpu", positive=True),
        gpu_max_batch=v.integer(v.field(data, "gpu_max_batch", where), f"{where}.gpu_max_batch", minimum=1,
                                maximum=MAX_BATCH),
        gpu_gb_per_vcpu=v.number(v.field(data, "gpu_gb_per_vcpu", where), f"{where}.gpu_gb_per_vcpu", positive=True),
        memory_granularity_mb=v.integer(
            v.field(data, "memory_granularity_mb", where), f"{where}.memory_granularity_mb", minimum=1
        ),
        currency=str(data.get("currency", "")),
        description=str(data.get("description", "")),
    )
    host = p.cpu_price + p.mem_price if p.gpu_bills_host else 0.0
    for kind, rate in (("CPU", p.cpu_price + p.mem_price), ("GPU", p.gpu_price + host)):
        if rate + p.invocation_price == 0:  # every plan on it would cost 0: nothing to optimise
            raise InputError(f"{w_p}: a {kind} function would cost nothing (its prices and the per-invocation "
                             f"price are all 0); give one of them a positive price")
    if p.vcpu_max < p.vcpu_min:
        raise InputError(f"{w_g}: max ({p.vcpu_max}) is below min ({p.vcpu_min})")
    points = (p.vcpu_max - p.vcpu_min) / p.vcpu_step + 1
    if points > MAX_VCPU_SIZES:
        raise InputError(f"{w_g}: {points:.3g} vCPU sizes (min {p.vcpu_min:g}, max {p.vcpu_max:g}, step "
                         f"{p.vcpu_step:g}); at most {MAX_VCPU_SIZES} are supported")
    if p.vcpu_index(p.vcpu_min) is None or p.vcpu_index(p.vcpu_max) is None:
        raise InputError(f"{w_g}: min and max must be multiples of step ({p.vcpu_step})")
    return p


def load_platform(path: str | Path) -> Platform:
    """Load and validate a platform JSON file (schema of the preset files)."""
    return platform_from_dict(v.read_json(path, "platform"), where=f"platform {str(path)!r}")


def preset(name: str = "reference") -> Platform:
    """Return a built-in platform preset: ``reference`` (default) or ``paper``.

    Examples
    --------
    >>> preset().gpu_billing_unit
    1.0
    >>> preset("paper").gpu_bills_host
    False
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)} (or give a platform file)")
    return _preset(name)


def as_platform(platform: Platform | str) -> Platform:
    """``platform`` itself, or the preset it names (:func:`preset`); an InputError for anything else.

    >>> as_platform("paper") is preset("paper")
    True
    """
    if isinstance(platform, str):
        return preset(platform)
    if not isinstance(platform, Platform):
        raise InputError(f"platform: expected a Platform or a preset name, got {type(platform).__name__}")
    return platform


@functools.cache
def _preset(name: str) -> Platform:
    text = resources.files("harmonybatch_mp").joinpath("data/presets", f"{name}.json").read_text()
    return platform_from_dict(json.loads(text), where=f"preset {name}")
