"""The optima of a start's contiguous runs, compiled (numba; imported on first use;
``formulations/contiguous_shortest_path.md``, "The runs compiled").

:func:`.provision.run_optima` folds one app a run (Eq. 5) and checks the batch constraint
(Eq. 9) over the configurations with numpy: about 18-22 us a run, most of it numpy's cost per
call on arrays of a few thousand configurations. :func:`runs` does the same fold and checks,
in the same order, with the same equations (:mod:`.batching`'s, compiled), in one compiled loop
per few runs, about 2.2-2.5 us a run. It gives the same configurations (tests check it against
:func:`.provision.run_optima`); :meth:`.problem.Problem.runs_from` uses it once it is compiled
(:func:`.kernels.ready`), and ``run_optima`` until then.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ..batching import _fold, _max_batch, _slo_timeouts
from ..grid import ConfigGrid
from ..provision import KINDS, kind_mask
from .kernels import compiled

# the model's own equations (Eqs. 5, 9 and 10, as numpy evaluates them), compiled for the loop
_fold_step, _largest_batch, _timeouts = compiled()(_fold), compiled()(_max_batch), compiled()(_slo_timeouts)

#: Runs folded and searched in one call of the kernel: the runs are yielded as they are asked
#: for (greedy asks a start's first few), and a call costs about as much as a run or two.
CHUNK = 32


@compiled()
def _fold_runs(idx, lmax, batch, cost, bits, slos, rates, app_bits, start, first, last, search_from, state, out):
    """Extend the run from ``apps[start:first-1]`` to ``apps[start:last]``, one app at a time:
    ``out[j - first]`` is the grid index of the cheapest configuration of ``apps[start:j]``
    (-1: none) for ``j >= search_from``. ``state`` holds the fold (``T``, the total rate) and
    the kinds every member allows (bits), in and out. A configuration serves the run where it
    meets the first app's SLO (Eq. 10), is of a kind every member allows, and holds its batch
    (Eq. 9): ``floor(rate (T - L_max)) + 1 >= b``, or ``b = 1``; of the cheapest, the first
    in grid order (as numpy's ``argmin``). The cheapest configuration that meets the SLO and
    the kinds is tried first: a long run holds its batch, and the scan is skipped."""
    folded, rho, allowed = state[0], state[1], int(state[2])
    tightest = slos[start]
    top, top_for = -1, -1  # the cheapest configuration of the kinds allowed that meets the SLO (first in grid order)
    for j in range(first, last + 1):
        if j > start + 1:
            folded, rho = _fold_step(folded, rho, slos[j - 1], rates[j - 1])
        allowed &= app_bits[j - 1]
        if j < search_from:
            continue
        if allowed != top_for:
            top, top_for, least = -1, allowed, math.inf
            for k in range(idx.shape[0]):
                if lmax[k] <= tightest and bits[k] & allowed and cost[k] < least:
                    top, least = k, cost[k]
        # where it holds its batch no configuration is cheaper: the scan below would take it
        if top >= 0 and (batch[top] == 1 or batch[top] <= _largest_batch(rho, _timeouts(folded, lmax[top]))):
            out[j - first] = idx[top]
            continue
        best, least = -1, math.inf
        if allowed:
            for k in range(idx.shape[0]):
                if lmax[k] <= tightest and bits[k] & allowed and cost[k] < least:
                    if batch[k] == 1 or batch[k] <= _largest_batch(rho, _timeouts(folded, lmax[k])):
                        best, least = idx[k], cost[k]
        out[j - first] = best
    state[0], state[1], state[2] = folded, rho, allowed


class RunArrays:
    """What :func:`runs` reads of a problem, made once: the configurations that fit in memory
    (indices, ``L_max``, batch, cost, kind bit), the apps' SLOs and rates, and per app the
    kinds it allows (bits of :data:`.provision.KINDS`)."""

    def __init__(self, grid: ConfigGrid, slos: np.ndarray, rates: np.ndarray, app_kinds: tuple[tuple[str, ...], ...]):
        self.idx = np.flatnonzero(grid.memory_ok & kind_mask(grid, KINDS)).astype(np.int64)
        self.lmax = np.ascontiguousarray(grid.latency_max[self.idx], dtype=np.float64)
        self.batch = np.ascontiguousarray(grid.batch[self.idx], dtype=np.float64)
        self.cost = np.ascontiguousarray(grid.cost[self.idx], dtype=np.float64)
        self.bits = (1 << grid.kind[self.idx]).astype(np.int64)
        self.slos = np.ascontiguousarray(slos, dtype=np.float64)
        self.rates = np.ascontiguousarray(rates, dtype=np.float64)
        self.app_bits = np.array([sum(1 << KINDS.index(k) for k in ks) for ks in app_kinds], dtype=np.int64)


def runs(arrays: RunArrays, start: int, stop: int, min_len: int = 1) -> Iterator[tuple[int, int | None]]:
    """``(j, index)`` for the runs ``apps[start:j]``, ``j = start + min_len, ..., stop``, as
    :func:`.provision.run_optima` yields them (``index`` None: no configuration serves the
    run); the arguments are the caller's to check."""
    state = np.array([arrays.slos[start], arrays.rates[start], float((1 << len(KINDS)) - 1)])
    out = np.empty(CHUNK, np.int64)
    first = start + 1
    while first <= stop:
        last = min(stop, first + CHUNK - 1)
        _fold_runs(arrays.idx, arrays.lmax, arrays.batch, arrays.cost, arrays.bits, arrays.slos, arrays.rates,
                   arrays.app_bits, start, first, last, start + min_len, state, out)
        for j in range(max(first, start + min_len), last + 1):
            k = int(out[j - first])
            yield j, None if k < 0 else k
        first = last + 1


def run_indices(arrays: RunArrays, start: int, stop: int) -> np.ndarray:
    """The grid index of the cheapest configuration of each run ``apps[start:j]``, ``j = start +
    1, ..., stop`` (-1: none), in one call of the kernel: :func:`runs`'s, as an array."""
    out = np.empty(stop - start, np.int64)
    state = np.array([arrays.slos[start], arrays.rates[start], float((1 << len(KINDS)) - 1)])
    _fold_runs(arrays.idx, arrays.lmax, arrays.batch, arrays.cost, arrays.bits, arrays.slos, arrays.rates,
               arrays.app_bits, start, start + 1, stop, start + 1, state, out)
    return out
