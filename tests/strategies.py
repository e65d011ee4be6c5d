"""Hypothesis strategies shared by the tests."""

from __future__ import annotations

from hypothesis import strategies as st

from harmonybatch_mp import App, Workload, builtin_profile, preset
from harmonybatch_mp.grid import config_grid

MODELS = ("VGG19", "BERT", "GPT-2", "VideoMAE")
PRESETS = ("reference", "paper")

models = st.sampled_from(MODELS).map(builtin_profile)
platforms = st.sampled_from(PRESETS).map(preset)


@st.composite
def workloads(draw, min_apps: int = 1, max_apps: int = 7, min_slo: float = 0.05):
    """Random workloads: SLOs 0.05-3 s, rates 0.01-50 rps (log-uniform), unique names."""
    n = draw(st.integers(min_apps, max_apps))
    apps = []
    for i in range(n):
        slo = draw(st.floats(min_slo, 3.0))
        rate = 10 ** draw(st.floats(-2.0, 1.69897))
        apps.append(App(f"w{i}", round(slo, 4), round(rate, 4)))
    return Workload(apps)


@st.composite
def served_workloads(draw, min_apps: int = 1, max_apps: int = 7):
    """``(model, platform, workload)``: a built-in model, a preset, and a workload of
    :func:`workloads` whose apps some configuration each serves alone: SLOs from 0.05 s, and
    above the least latency of any configuration of the model on the platform."""
    model, platform = draw(st.sampled_from(MODELS)), draw(st.sampled_from(PRESETS))
    least = config_grid(builtin_profile(model), preset(platform)).best_latency()
    return model, platform, draw(workloads(min_apps, max_apps, min_slo=max(0.05, least + 1e-3)))


@st.composite
def mixed_workloads(draw, max_apps: int = 40, min_apps: int = 1):
    """``min_apps`` to ``max_apps`` apps, SLOs 0.15-2 s, rates 0.01-300 rps (log-uniform): runs of
    apps on CPU functions, apps on GPU functions, groups worth merging."""
    n = draw(st.integers(min_apps, max_apps))
    return Workload([App(f"w{i}", round(draw(st.floats(0.15, 2.0)), 3), round(10 ** draw(st.floats(-2.0, 2.5)), 4))
                     for i in range(n)])
