"""Synthetic measurements generated from a profile, for the profiler's round-trip tests."""

from __future__ import annotations

import numpy as np

from harmonybatch_mp.latency import cpu_latency, gpu_latency_avg, gpu_latency_max
from harmonybatch_mp.profiler import measurements_from_rows

CPU_SIZES = np.round(np.geomspace(0.05, 16, 12) / 0.05) * 0.05
GPU_PARTIAL = (1, 2, 3, 4, 6, 8, 12, 16, 20)


def synth_rows(profile, platform, rng, samples=60, noise=0.01):
    """Latency samples of a profile with multiplicative noise: ``samples - 1`` around a centre
    chosen so that their mean with one sample at ``L_max`` is ``L_avg``, and that sample."""
    rows = []

    def add(kind, size, b, avg, mx):
        mx = max(mx, avg)  # where a profile has L_avg > L_max, the samples' maximum is about L_avg
        centre = (samples * avg - mx) / (samples - 1)
        ys = np.concatenate([centre * (1 + noise * rng.standard_normal(samples - 1)), [mx]])
        for y in ys:
            rows.append({"kind": kind, "vcpu": size if kind == "cpu" else "", "gpu_mem_gb": size if kind == "gpu" else "",
                         "batch": b, "latency_s": max(float(y), 1e-6)})

    for b in range(1, profile.cpu_batches + 1):
        for c in CPU_SIZES:
            add("cpu", float(c), b, float(cpu_latency(profile, c, b)), float(cpu_latency(profile, c, b, stat="max")))
    if profile.has_gpu:
        for m in (*GPU_PARTIAL, profile.device_mem_gb):
            for b in (1, 2, 4, 8, 16, 32):
                add("gpu", m, b, float(gpu_latency_avg(profile, platform, m, b)),
                    float(gpu_latency_max(profile, platform, m, b)))
    return measurements_from_rows(rows)
