"""DNN model profiles: latency and memory coefficients (``formulations/model.md`` section 2).

Four profiles are built in: VGG19, BERT, GPT-2 and VideoMAE, with the coefficients
published with the HarmonyBatch prototype [1]_, stored in the project's own schema
under ``harmonybatch_mp/data/profiles``. A user profile is a JSON file in the same
schema (see :func:`profile_from_dict`).

References
----------
.. [1] J. Chen, F. Xu, Y. Gu, L. Chen, F. Liu, Z. Zhou, "HarmonyBatch: Batching
   multi-SLO DNN inference with heterogeneous serverless functions", IWQoS 2024,
   arXiv:2405.05633.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from . import _validate as v
from .errors import InputError

#: Largest GPU (GB) a profile may describe: one configuration per GB is evaluated.
MAX_DEVICE_GB = 1024
#: The fields of a profile's ``gpu`` object (:func:`profile_from_dict`); the last two are optional.
GPU_FIELDS = ("host_memory_mb", "memory_thresholds", "xi1", "xi2", "time_slice_s", "device_memory_gb", "gpu_share",
              "cpu_share")


@dataclass(frozen=True)
class ExpCurve:
    """CPU latency curve ``alpha * exp(-c / beta) + gamma`` of one batch size (Eq. 1)."""

    alpha: float
    beta: float
    gamma: float


@dataclass(frozen=True)
class ModelProfile:
    """Latency and memory coefficients of one DNN model.

    Attributes
    ----------
    name : str
        Model name.
    cpu_avg, cpu_max : tuple of ExpCurve
        Average and maximum CPU latency curves for batch sizes 1..B (Eq. 1).
    cpu_mem_per_request, cpu_mem_base : float
        CPU function memory demand ``a*b + m0`` in MB.
    gpu_host_mem_mb : float
        Host memory of a GPU function, MB.
    gpu_mem_thresholds : tuple of float
        GPU memory demand of batch ``b`` is the smallest ``j`` (1-based) with
        ``b <= thresholds[j-1]``, else ``len(thresholds) + 1`` GB.
    xi1, xi2 : float
        ``L0(b) = xi1*b + xi2``, latency on a whole GPU (Eq. 2).
        A CPU-only profile (``"gpu": null`` in JSON) has ``device_mem_gb == 0`` and no
        GPU configurations; its other GPU fields are 0.
    time_slice : float
        GPU time slice ``tau`` in seconds.
    device_mem_gb : int
        Memory of a whole GPU device (``Mmax``), GB.
    gpu_share, cpu_share : float
        Shares of ``L0`` that are GPU-bound (``a``) and CPU-bound (``b``).
    source : str
        Where the coefficients come from.
    """

    name: str
    cpu_avg: tuple[ExpCurve, ...]
    cpu_max: tuple[ExpCurve, ...]
    cpu_mem_per_request: float
    cpu_mem_base: float
    gpu_host_mem_mb: float
    gpu_mem_thresholds: tuple[float, ...]
    xi1: float
    xi2: float
    time_slice: float
    device_mem_gb: int
    gpu_share: float = 1.0
    cpu_share: float = 0.0
    source: str = ""

    @property
    def has_gpu(self) -> bool:
        """Whether the profile has GPU coefficients (a CPU-only profile has ``device_mem_gb == 0``)."""
        return self.device_mem_gb > 0

    @property
    def cpu_batches(self) -> int:
        """Number of batch sizes (1..B) the CPU coefficients cover."""
        return len(self.cpu_avg)

    def to_dict(self) -> dict[str, Any]:
        """Return the profile in the JSON schema read by :func:`profile_from_dict`."""

        def curves(cs):
            return [{"alpha": c.alpha, "beta": c.beta, "gamma": c.gamma} for c in cs]

        return {
            "name": self.name,
            "source": self.source,
            "cpu": {
                "latency_avg": curves(self.cpu_avg),
                "latency_max": curves(self.cpu_max),
                "memory_mb": {"per_request": self.cpu_mem_per_request, "base": self.cpu_mem_base},
            },
            "gpu": None if not self.has_gpu else {
                "host_memory_mb": self.gpu_host_mem_mb,
                "memory_thresholds": list(self.gpu_mem_thresholds),
                "xi1": self.xi1,
                "xi2": self.xi2,
                "time_slice_s": self.time_slice,
                "device_memory_gb": self.device_mem_gb,
                "gpu_share": self.gpu_share,
                "cpu_share": self.cpu_share,
            },
        }


def _curves(raw: Any, where: str) -> tuple[ExpCurve, ...]:
    if not isinstance(raw, list) or not raw:
        raise InputError(f"{where}: expected a non-empty list of curves, one per batch size 1..B")
    out = []
    for i, c in enumerate(raw):
        w = f"{where}[{i}] (batch {i + 1})"
        v.only(c, ("alpha", "beta", "gamma"), w)
        out.append(
            ExpCurve(
                alpha=v.number(v.field(c, "alpha", w), f"{w}.alpha", nonnegative=True),
                beta=v.number(v.field(c, "beta", w), f"{w}.beta", positive=True),
                gamma=v.number(v.field(c, "gamma", w), f"{w}.gamma", positive=True),
            )
        )
    return tuple(out)


def profile_from_dict(data: Any, where: str = "profile") -> ModelProfile:
    """Build and validate a :class:`ModelProfile` from its JSON schema.

    Parameters
    ----------
    data : dict
        ``{"name", "source"?, "cpu": {"latency_avg": [{"alpha","beta","gamma"}, ...],
        "latency_max": [...], "memory_mb": {"per_request", "base"}}, "gpu":
        {"host_memory_mb", "memory_thresholds", "xi1", "xi2", "time_slice_s",
        "device_memory_gb", "gpu_share"?, "cpu_share"?}}``; ``"gpu": null`` for a
        CPU-only profile (``?``: optional). A field the schema does not have is an error:
        misspelt, an optional one would be read as its default.
    where : str
        Prefix for error messages (e.g. the file name).

    Returns
    -------
    ModelProfile

    Raises
    ------
    InputError
        Naming the first field that is unknown, missing, non-finite or out of range.

    Examples
    --------
    >>> p = builtin_profile("vgg19")
    >>> profile_from_dict(p.to_dict()) == p
    True
    >>> d = p.to_dict()
    >>> d["gpu"]["cpu_shares"] = 0.5
    >>> profile_from_dict(d)
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: profile.gpu: unknown field 'cpu_shares' (did you mean 'cpu_share'?); ...
    """
    where = v.prefix(where)
    v.only(data, ("name", "source", "cpu", "gpu"), where)
    name = v.field(data, "name", where)
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{where}.name: expected a non-empty string")
    cpu = v.field(data, "cpu", where)
    gpu = v.field(data, "gpu", where)
    v.only(cpu, ("latency_avg", "latency_max", "memory_mb"), f"{where}.cpu")
    v.only(gpu, GPU_FIELDS, f"{where}.gpu")
    cpu_avg = _curves(v.field(cpu, "latency_avg", f"{where}.cpu"), f"{where}.cpu.latency_avg")
    cpu_max = _curves(v.field(cpu, "latency_max", f"{where}.cpu"), f"{where}.cpu.latency_max")
    if len(cpu_avg) != len(cpu_max):
        raise InputError(
            f"{where}.cpu: latency_avg covers batch 1..{len(cpu_avg)} but latency_max "
            f"covers 1..{len(cpu_max)}; both must cover the same batch sizes"
        )
    mem = v.field(cpu, "memory_mb", f"{where}.cpu")
    w_mem = f"{where}.cpu.memory_mb"
    v.only(mem, ("per_request", "base"), w_mem)
    cpu_part = dict(
        name=name.strip(),
        cpu_avg=cpu_avg,
        cpu_max=cpu_max,
        cpu_mem_per_request=v.number(v.field(mem, "per_request", w_mem), f"{w_mem}.per_request", nonnegative=True),
        cpu_mem_base=v.number(v.field(mem, "base", w_mem), f"{w_mem}.base", positive=True),
        source=str(data.get("source", "")),
    )
    if gpu is None:
        return ModelProfile(**cpu_part, gpu_host_mem_mb=0.0, gpu_mem_thresholds=(), xi1=0.0, xi2=0.0,
                            time_slice=0.0, device_mem_gb=0)
    thresholds = v.field(gpu, "memory_thresholds", f"{where}.gpu")
    if not isinstance(thresholds, list):
        raise InputError(f"{where}.gpu.memory_thresholds: expected a list of batch sizes")
    th = tuple(
        v.number(t, f"{where}.gpu.memory_thresholds[{i}]", nonnegative=True)
        for i, t in enumerate(thresholds)
    )
    if any(b < a for a, b in zip(th, th[1:])):
        raise InputError(f"{where}.gpu.memory_thresholds: must be non-decreasing, got {list(th)}")
    g = f"{where}.gpu"
    xi1 = v.number(v.field(gpu, "xi1", g), f"{g}.xi1", positive=True)
    xi2 = v.number(v.field(gpu, "xi2", g), f"{g}.xi2")
    if xi1 + xi2 <= 0:
        raise InputError(f"{g}: xi1 + xi2 (GPU latency of batch 1) must be > 0, got {xi1 + xi2!r}")
    device = v.integer(v.field(gpu, "device_memory_gb", g), f"{g}.device_memory_gb", minimum=1,
                       maximum=MAX_DEVICE_GB)
    if len(th) + 1 > device:
        raise InputError(
            f"{g}.memory_thresholds: {len(th)} thresholds imply up to {len(th) + 1} GB, "
            f"more than device_memory_gb={device}"
        )
    profile = ModelProfile(
        **cpu_part,
        gpu_host_mem_mb=v.number(v.field(gpu, "host_memory_mb", g), f"{g}.host_memory_mb", positive=True),
        gpu_mem_thresholds=th,
        xi1=xi1,
        xi2=xi2,
        time_slice=v.number(v.field(gpu, "time_slice_s", g), f"{g}.time_slice_s", positive=True),
        device_mem_gb=device,
        gpu_share=v.number(gpu.get("gpu_share", 1.0), f"{g}.gpu_share", nonnegative=True),
        cpu_share=v.number(gpu.get("cpu_share", 0.0), f"{g}.cpu_share", nonnegative=True),
    )
    if profile.gpu_share + profile.cpu_share <= 0:
        raise InputError(f"{g}: gpu_share + cpu_share must be > 0")
    return profile


def load_profile(path: str | Path) -> ModelProfile:
    """Load and validate a profile JSON file (schema of :func:`profile_from_dict`).

    Examples
    --------
    >>> import json, tempfile, os
    >>> f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    >>> json.dump(builtin_profile("bert").to_dict(), f); f.close()
    >>> load_profile(f.name).name
    'BERT'
    >>> os.unlink(f.name)
    """
    return profile_from_dict(v.read_json(path, "profile"), where=f"profile {str(path)!r}")


def _key(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


_BUILTIN_FILES = {"vgg19": "vgg19.json", "bert": "bert.json", "gpt2": "gpt2.json", "videomae": "videomae.json"}

#: Names of the built-in profiles, as accepted by :func:`builtin_profile`.
BUILTIN_MODELS = ("VGG19", "BERT", "GPT-2", "VideoMAE")


@functools.cache
def _builtin(key: str) -> ModelProfile:
    text = resources.files("harmonybatch_mp").joinpath("data/profiles", _BUILTIN_FILES[key]).read_text()
    return profile_from_dict(json.loads(text), where=f"built-in profile {key}")


def builtin_profile(name: str) -> ModelProfile:
    """Return a built-in profile by name (case, '-' and '_' are ignored).

    Examples
    --------
    >>> builtin_profile("GPT-2").name
    'GPT-2'
    >>> builtin_profile("resnet")
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: unknown model 'resnet'; built-in models: VGG19, BERT, GPT-2, VideoMAE (or give a profile file)
    """
    key = _key(str(name))
    if key not in _BUILTIN_FILES:
        raise InputError(
            f"unknown model {name!r}; built-in models: {', '.join(BUILTIN_MODELS)} (or give a profile file)"
        )
    return _builtin(key)


def as_profile(profile: ModelProfile | str) -> ModelProfile:
    """``profile`` itself, or the built-in profile it names (:func:`builtin_profile`); an
    InputError for anything else.

    >>> as_profile("bert").name
    'BERT'
    """
    if isinstance(profile, str):
        return builtin_profile(profile)
    if not isinstance(profile, ModelProfile):
        raise InputError(f"profile: expected a ModelProfile or a built-in model name, got {type(profile).__name__}")
    return profile
