"""Sums of floats added in order, the same on every Python version.

Python 3.12 made the built-in ``sum`` of floats compensated: more accurate, and different in
the last bits from adding the terms one at a time. Code that builds a sum a term at a time (a
run's rate as it grows, a split's cost as its groups are priced) then no longer met the sum it
stands for, and a merge that was an exact tie went the other way on 3.12 than on 3.11. Every
sum of the model's floats (rates, costs) adds its terms left to right instead, as ``sum`` did
before 3.12, so the plans and costs are the same to the last bit on every version.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable


def ordered_sum(values: Iterable[float]) -> float:
    """``values`` added left to right (0.0 if there are none).

    >>> ordered_sum([0.1] * 10)  # (sum() gives 1.0 from Python 3.12 on)
    0.9999999999999999
    >>> ordered_sum([])
    0.0
    """
    return functools.reduce(operator.add, values, 0.0)
