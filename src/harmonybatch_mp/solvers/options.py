"""Validation of the options every MILP solve takes: the time limit (turned into a
deadline that bounds the whole call), the gaps and the thread count."""

from __future__ import annotations

import math
import time
from typing import Any

from .._validate import comparable, real, whole
from ..errors import InputError

#: Most threads a MILP solve may be given: HiGHS aborted the process (``terminate called without
#: an active exception``) asked for 100,000; 4,096 ran, taking 90 times as long as the default
#: on 8 apps.
MAX_THREADS = 1024


def deadline_of(start: float, time_limit: float | None) -> float | None:
    if time_limit is None:
        return None
    return start + seconds(time_limit, "time_limit")


def checked_deadline(deadline: Any) -> float | None:
    """``deadline`` checked as a ``time.perf_counter()`` reading (any number but nan; inf: never)
    or None, as a float.

    >>> checked_deadline(None), checked_deadline(10**400)
    (None, inf)
    """
    if deadline is None:
        return None
    reading = comparable(deadline)
    if reading is None:
        raise InputError(f"deadline must be a time.perf_counter() reading, got {deadline!r:.40}")
    return reading


def late(deadline: float | None) -> bool:
    """Whether ``deadline`` (a ``time.perf_counter()`` reading, or None: never) has passed."""
    return deadline is not None and time.perf_counter() > deadline


def seconds(value: Any, name: str) -> float:
    """``value`` checked as a finite number of seconds >= 0 (the option ``name`` in errors), as a float."""
    x = real(value)
    if x is None or not 0 <= x < math.inf:
        raise InputError(f"{name}: expected a finite number of seconds >= 0, got {value!r}")
    return x


def check_gaps(rel_gap: Any, abs_gap: Any, threads: Any, solver: str = "milp") -> tuple[float, float, int | None]:
    """The gaps checked as finite numbers >= 0 and ``threads`` as None or a whole number from 1
    to :data:`MAX_THREADS` (errors name the ``solver`` whose option it is); returned as a
    float, a float and an int (numpy's numbers too)."""
    gaps = []
    for name, val in (("rel_gap", rel_gap), ("abs_gap", abs_gap)):
        x = real(val)
        if x is None or not 0 <= x < math.inf:
            raise InputError(f"{solver} option {name}: expected a finite number >= 0, got {val!r}")
        gaps.append(x)
    count = whole(threads)
    if threads is not None and (count is None or not 1 <= count <= MAX_THREADS):
        raise InputError(f"{solver} option threads: expected a whole number from 1 to {MAX_THREADS}, got {threads!r}")
    return gaps[0], gaps[1], count
