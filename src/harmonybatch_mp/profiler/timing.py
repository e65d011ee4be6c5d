"""Timing a Python callable across batch sizes and CPU sizes, as profiler measurements."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from .. import _validate as v
from .._cores import usable_cores
from ..errors import InputError
from .measurements import MAX_ROWS


def profile_callable(infer: Callable[[int], Any], batches: Sequence[int], vcpus: Sequence[float] = (0.25, 0.5, 1, 2),
                     *, repeats: int = 5, warmup: int = 1, memory: Callable[[int], float] | None = None,
                     timer: Callable[[], float] = time.perf_counter) -> list[dict[str, Any]]:
    """Time ``infer(batch)`` across batch sizes and CPU sizes; return measurement rows.

    Parameters
    ----------
    infer : callable
        Runs one batch of inference of the given size.
    batches : sequence of int
        Batch sizes, e.g. ``range(1, 5)``.
    vcpus : sequence of float
        CPU sizes. Whole numbers up to the cores this process may use run with that many threads
        (threadpoolctl limits the BLAS/OpenMP pools). Sizes below 1 are emulated as a CPU
        quota of that fraction of one core, as serverless platforms enforce it: the
        latency measured on one thread is divided by the fraction.
    repeats, warmup : int
        Timed runs, and untimed runs before them, per (vCPU, batch).
    memory : callable, optional
        ``memory(batch)`` -> peak memory in MB (a number > 0), recorded as ``mem_mb``.
    timer : callable
        Clock returning seconds (a finite number); default ``time.perf_counter``.

    Returns
    -------
    list of dict
        Rows with ``kind="cpu", vcpu, gpu_mem_gb="", batch, latency_s`` (and ``mem_mb``), ready
        for :func:`write_measurements` or :func:`measurements_from_rows`.
    """
    from threadpoolctl import threadpool_limits

    for what, f in (("infer", infer), ("timer", timer), ("memory", memory)):
        v.function(f, what, optional=what == "memory")
    batches = [v.integer(b, "batches", minimum=1) for b in v.listed(batches, "batches", "a sequence of numbers")]
    vcpus = [v.number(c, "vcpus", positive=True) for c in v.listed(vcpus, "vcpus", "a sequence of numbers")]
    repeats, warmup = v.integer(repeats, "repeats"), v.integer(warmup, "warmup")
    cores = usable_cores()
    for c in vcpus:
        if c > 1 and (c != int(c) or c > cores):
            raise InputError(f"vcpus: {c:g} cannot be measured here; use fractions below 1 or whole numbers "
                             f"up to {cores} (the cores this process may use)")
    if repeats < 1 or warmup < 0:
        raise InputError("repeats must be >= 1 and warmup >= 0")
    if not batches or not vcpus:  # (no rows, which no profile can be fitted to)
        raise InputError(f"{'batches' if not batches else 'vcpus'}: expected at least one size to measure")
    sizes = len(vcpus) * len(batches)
    if sizes * (repeats + warmup) > MAX_ROWS:  # (an endless loop, growing, before)
        raise InputError(f"repeats + warmup: at most {MAX_ROWS // max(sizes, 1):,} runs for each of the {sizes} "
                         f"(vCPU, batch) sizes, as measurements take at most {MAX_ROWS:,} rows")
    rows = []
    for c in vcpus:
        threads = max(1, int(c))
        scale = 1.0 / c if c < 1 else 1.0
        with threadpool_limits(limits=threads):
            for b in batches:
                for _ in range(warmup):
                    infer(b)
                mem = v.number(memory(b), f"memory({b})", positive=True) if memory else None
                for _ in range(repeats):
                    t = v.number(timer(), "timer")
                    infer(b)
                    row = {"kind": "cpu", "vcpu": float(c), "gpu_mem_gb": "", "batch": b,
                           "latency_s": (v.number(timer(), "timer") - t) * scale}
                    if mem is not None:
                        row["mem_mb"] = mem
                    rows.append(row)
    return rows
