"""Groups as bitmasks over a problem's canonical app order (bit ``i`` is ``apps[i]``): their
members, the runs of apps consecutive in SLO order, and the function kinds a group's optimum is
asked on (:class:`.problem.Problem`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..provision import KINDS

#: A group's optimum not cached yet (:meth:`.Problem._cached`; None is an infeasible group's).
MISSING = object()

#: Members from which :func:`members` reads the mask's bytes at once: 13 us for 60 of 3,000 apps,
#: against 19 us a member at a time (3 us against 0.6 us for 5 of 30).
_MANY_MEMBERS = 32


def members(mask: int) -> list[int]:
    """Indices of the set bits of ``mask``, ascending (one step per member, not per bit).

    >>> members(0b1010)
    [1, 3]
    >>> members(-1)
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: a group must be a bitmask of apps (an int >= 0), got -1
    """
    if mask < 0:  # (its bits never run out)
        raise InputError(f"a group must be a bitmask of apps (an int >= 0), got {mask!r}")
    if type(mask) is not int and isinstance(mask, np.integer):  # (it has no bit_length)
        mask = int(mask)
    low = mask & -mask
    if mask and not (mask + low) & mask:  # a run of consecutive apps (a contiguous candidate, a group of dp)
        return list(range(low.bit_length() - 1, mask.bit_length()))
    if mask.bit_count() >= _MANY_MEMBERS:  # each step below costs a pass over every word of the mask
        size = (mask.bit_length() + 7) // 8
        return np.flatnonzero(np.unpackbits(np.frombuffer(mask.to_bytes(size, "little"), np.uint8),
                                            bitorder="little")).tolist()
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


def checked_kinds(kinds: Any) -> tuple[str, ...] | None:
    """``kinds`` checked as :meth:`.Problem.group` takes it: None, or a tuple of function kinds."""
    if kinds is not None and not (isinstance(kinds, tuple) and all(isinstance(k, str) and k in KINDS for k in kinds)):
        raise InputError(f"kinds: expected a tuple of function kinds ({', '.join(KINDS)}), got {repr(kinds):.40}")
    return kinds


def run_mask(i: int, j: int) -> int:
    """The mask of the apps ``i..j-1`` (a run in SLO order)."""
    return ((1 << (j - i)) - 1) << i

