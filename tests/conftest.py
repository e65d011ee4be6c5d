"""Hypothesis settings (derandomized under CI so that CI runs are repeatable) and shared fixtures."""

from __future__ import annotations

import importlib
import os
import signal
import threading
import time

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt during the test, as in a terminal: a shell without job
    control starts a background command (``pytest &``) with SIGINT ignored, and a test that
    sends itself Ctrl-C would then see nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def slow_warm_up(monkeypatch):
    """``slow_warm_up(name, seconds)``: the warm-up ``name`` of ``solvers.kernels`` (``_warm_pyomo``,
    ``_warm_packing``) takes ``seconds`` instead, from its next start; returns the event set
    when it ends."""
    kernels = importlib.import_module("harmonybatch_mp.solvers.kernels")
    monkeypatch.setattr(kernels, "_warming", {})

    def make(name: str, seconds: float) -> threading.Event:
        loaded = threading.Event()

        def slow() -> None:
            time.sleep(seconds)
            loaded.set()

        monkeypatch.setattr(kernels, name, slow)
        return loaded
    return make


@pytest.fixture
def no_gc_reserve(monkeypatch):
    """solve() keeps from a limit as long as the process's last full garbage collection, which
    took 0.3 s in a CI worker: a test that needs a short limit for its solver forgets it."""
    monkeypatch.setattr(importlib.import_module("harmonybatch_mp.solvers"), "_full_collection", [0.0, 0.0])


@pytest.fixture
def stopped_clock(monkeypatch):
    """``time.perf_counter`` made a clock that stands at 1000.0 until the test moves it
    (``clock[0] += seconds``, where a mocked search would take that long): a time limit then
    ends on that clock, whatever else runs on the machine. Returns the one-item list."""
    clock = [1000.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    return clock
