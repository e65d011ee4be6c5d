"""The execution-time distribution of an invocation, shared by the simulator and the
``expected`` cost model (``formulations/model.md`` section 12).

A duration model has two methods: :meth:`sample` draws execution times (the simulator)
and :meth:`expected_billed` gives the expected billed duration ``E[ceil_u(D)]`` (the cost
model). To plug in another distribution, implement both on a frozen dataclass and pass
the same object to ``solve(..., duration=...)`` and ``simulate(..., duration=...)``; the
plan's predicted cost and the simulated cost then describe the same function. What both
return is checked (one duration >= 0 per latency, finite; an InputError naming the model).

>>> import numpy as np
>>> d = UniformDuration()
>>> float(d.expected_billed(np.array(0.3), np.array(0.5), 0.0))   # mean of U[0.1, 0.5]
0.3
>>> float(d.expected_billed(np.array(0.9), np.array(1.2), 1.0))   # U[0.6, 1.2] billed in whole seconds
1.3333333333333333
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ._validate import attributes, number, reals
from .errors import InputError


class DurationModel(Protocol):
    """What the simulator and the ``expected`` cost model need of a duration distribution."""

    name: str

    def sample(self, rng: np.random.Generator, lat_avg: np.ndarray, lat_max: np.ndarray) -> np.ndarray:
        """Execution times, one per invocation, given its ``L_avg(k)`` and ``L_max(k)``."""

    def expected_billed(self, lat_avg: np.ndarray, lat_max: np.ndarray, unit: float) -> np.ndarray:
        """``E[ceil_u(D)]``: the expected duration rounded up to the billing unit (0: exact)."""


@dataclass(frozen=True)
class UniformDuration:
    """Uniform on ``[max(0, 2 L_avg - L_max), L_max]``: mean ``L_avg`` where the lower end is
    not clipped, never above ``L_max`` (where a profile's ``L_avg > L_max``, always ``L_max``)."""

    name: str = "uniform"

    @staticmethod
    def bounds(lat_avg: np.ndarray, lat_max: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The interval ``[lo, hi]`` of the distribution."""
        hi = np.asarray(lat_max, dtype=float)
        lo = np.clip(2.0 * np.asarray(lat_avg, dtype=float) - hi, 0.0, hi)
        return lo, hi

    def sample(self, rng: np.random.Generator, lat_avg: np.ndarray, lat_max: np.ndarray) -> np.ndarray:
        lo, hi = self.bounds(lat_avg, lat_max)
        return lo + (hi - lo) * rng.random(lo.shape)

    def expected_billed(self, lat_avg: np.ndarray, lat_max: np.ndarray, unit: float) -> np.ndarray:
        """``u * sum_j P(D > j u)`` (``ceil(D/u) = #{j >= 0 : D > j u}``), in closed form: the
        steps ``j u`` below ``lo`` count 1 each and those in ``[lo, hi)`` ``(hi - j u) / (hi - lo)``,
        an arithmetic series (summed step by step, a unit of 10 us took the grid's tables
        past the machine's memory)."""
        # (latencies of 1e308 s and units of 1e-300 s from a stranger's files give inf, not warnings)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            lo, hi = self.bounds(lat_avg, lat_max)
            if unit <= 0:
                return (lo + hi) / 2.0
            below_lo, below_hi = _steps_below(lo, unit), _steps_below(hi, unit)
            count = below_hi - below_lo  # the steps in [lo, hi)
            width = hi - lo
            ramp = count * ((hi - below_lo * unit) - unit * (count - 1) / 2.0) / width
            billed = unit * (below_lo + np.where(width > 0, ramp, count))
            # (overflowed: the mean, which it is within a unit)
            return np.where(np.isfinite(billed), billed, (lo + hi) / 2.0)


def billed_durations(duration: DurationModel, lat_avg: np.ndarray, lat_max: np.ndarray, unit: float) -> np.ndarray:
    """``duration.expected_billed(lat_avg, lat_max, unit)`` as a float array, checked: one
    finite duration >= 0 per pair of finite latencies (else an InputError naming the model: a
    negative one priced plans below nothing, a NaN made every app "infeasible" and an inf an
    IndexError). Where a latency is not finite (a profile out of range), the callers name it.

    >>> billed_durations("uniform", np.array([0.3]), np.array([0.5]), 0.0)
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: billed_durations: duration must have expected_billed; str has no expected_billed
    """
    attributes(duration, ("expected_billed",), "billed_durations: duration")
    lat_avg, lat_max = reals(lat_avg, "billed_durations: lat_avg"), reals(lat_max, "billed_durations: lat_max")
    unit = number(unit, "billed_durations: unit", nonnegative=True)
    try:
        billed = np.asarray(duration.expected_billed(lat_avg, lat_max, unit), dtype=float)
    except (TypeError, ValueError):
        billed = None
    shape = np.shape(lat_max)
    if billed is None or billed.shape != shape or not np.all(
            (billed >= 0) & np.isfinite(billed) | ~(np.isfinite(lat_avg) & np.isfinite(lat_max))):
        raise InputError(f"duration model {getattr(duration, 'name', type(duration).__name__)!r}: "
                         f"expected_billed must return one duration >= 0 per latency ({shape[0] if shape else 1}), "
                         "finite where the latencies are")
    return billed


def _steps_below(x: np.ndarray, unit: float) -> np.ndarray:
    """``#{j >= 0 : j u < x}``, by the same float products ``j u`` a step-by-step sum compares."""
    k = np.maximum(np.ceil(x / unit), 0.0)
    k = np.where((k >= 1) & ((k - 1) * unit >= x), k - 1, k)
    return np.where(k * unit < x, k + 1, k)


#: The default duration model of the simulator and the ``expected`` cost model.
DEFAULT_DURATION = UniformDuration()
