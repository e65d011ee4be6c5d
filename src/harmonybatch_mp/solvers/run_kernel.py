"""The optima of a start's contiguous runs, compiled (numba; imported on first use;
``formulations/contiguous_shortest_path.md``, "The runs compiled").

:func:`.provision.run_optima` folds one app a run (Eq. 5) and checks the batch constraint
(Eq. 9) over the configurations with numpy: about 18-22 us a run, most of it numpy's cost per
call on arrays of a few thousand configurations. :func:`runs` does the same fold and checks,
in the same order, with the same equations (:mod:`.batching`'s, compiled), in one compiled loop
per few runs, about 2.2-2.5 us a run. It gives the same configurations (tests check it against
:func:`.provision.run_optima`); :meth:`.problem.Problem.runs_from` uses it once it is compiled
(:func:`.kernels.ready`), and ``run_optima`` until then. :func:`class_indices` folds each run
once for several classes of function (CPU, GPU functions of given memory sizes), the cheapest
configuration of each (:func:`.function_cap.capped_path` under a GPU memory budget).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ..batching import _fold, _max_batch, _slo_timeouts
from ..grid import GPU, ConfigGrid
from ..provision import KINDS, run_class
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


@compiled()
def _fold_classes(idx, lmax, batch, cost, bits, first, slos, rates, app_bits, start, stop, top, out):
    """:func:`_fold_runs` per class of function: the configurations of class ``c`` are
    ``idx[first[c]:first[c + 1]]`` (in grid order), and ``out[c, j - start - 1]`` is the grid
    index of the cheapest of them that serves ``apps[start:j]`` (-1: none), for ``j = start +
    1, ..., stop``: one fold for every class. ``top`` (work space, one per class) holds each
    class's cheapest configuration that meets the SLO and the kinds, tried first."""
    folded, rho, allowed = slos[start], rates[start], -1
    tightest, top_for = slos[start], -2  # (no kinds allowed is 0: the tops are found at the first run)
    for j in range(start + 1, stop + 1):
        if j > start + 1:
            folded, rho = _fold_step(folded, rho, slos[j - 1], rates[j - 1])
        allowed &= app_bits[j - 1]
        if allowed != top_for:
            top_for = allowed
            for c in range(first.shape[0] - 1):
                top[c], least = -1, math.inf
                for k in range(first[c], first[c + 1]):
                    if lmax[k] <= tightest and bits[k] & allowed and cost[k] < least:
                        top[c], least = k, cost[k]
        for c in range(first.shape[0] - 1):
            t = top[c]
            if t < 0 or batch[t] == 1 or batch[t] <= _largest_batch(rho, _timeouts(folded, lmax[t])):
                out[c, j - start - 1] = -1 if t < 0 else idx[t]
                continue
            best, least = -1, math.inf
            for k in range(first[c], first[c + 1]):
                if lmax[k] <= tightest and bits[k] & allowed and cost[k] < least:
                    if batch[k] == 1 or batch[k] <= _largest_batch(rho, _timeouts(folded, lmax[k])):
                        best, least = idx[k], cost[k]
            out[c, j - start - 1] = best


class RunArrays:
    """What :func:`runs` reads of a problem, made once: the configurations that fit in memory
    (indices, ``L_max``, batch, cost, kind bit; on a GPU function only of ``gpu_mem`` GB where
    it is given: :func:`.provision.run_class`), the apps' SLOs and rates, and per app the kinds
    it allows (bits of :data:`.provision.KINDS`)."""

    def __init__(self, grid: ConfigGrid, slos: np.ndarray, rates: np.ndarray, app_kinds: tuple[tuple[str, ...], ...],
                 gpu_mem: int | None = None):
        self.idx = np.flatnonzero(run_class(grid, KINDS, gpu_mem)).astype(np.int64)
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


class ClassArrays(RunArrays):
    """:class:`RunArrays` per class of function, for :func:`class_indices`: CPU functions, then
    a GPU function of each of ``sizes`` GB, each class's configurations in grid order."""

    def __init__(self, grid: ConfigGrid, slos: np.ndarray, rates: np.ndarray,
                 app_kinds: tuple[tuple[str, ...], ...], sizes: tuple[int, ...]):
        super().__init__(grid, slos, rates, app_kinds)
        key = np.where(grid.kind[self.idx] == GPU, grid.gpu_mem[self.idx], 0)  # the class: 0 for CPU, else GB
        classes = np.array((0, *sizes))
        # a class's row (one past the last for a class not asked for)
        place = np.full(int(max(classes.max(), key.max(initial=0))) + 1, len(classes))
        place[classes] = np.arange(len(classes))
        order = np.argsort(place[key], kind="stable")
        order = order[place[key][order] < len(classes)]
        for name in ("idx", "lmax", "batch", "cost", "bits"):
            setattr(self, name, np.ascontiguousarray(getattr(self, name)[order]))
        self.first = np.searchsorted(place[key][order], np.arange(len(classes) + 1)).astype(np.int64)


def class_indices(arrays: ClassArrays, start: int, stop: int) -> np.ndarray:
    """Per class of ``arrays`` (a row each), the grid index of the cheapest configuration of that
    class that serves each run ``apps[start:j]``, ``j = start + 1, ..., stop`` (-1: none): the
    runs of every class in one call of the kernel (:func:`run_indices` a class at a time)."""
    out = np.empty((len(arrays.first) - 1, stop - start), np.int64)
    _fold_classes(arrays.idx, arrays.lmax, arrays.batch, arrays.cost, arrays.bits, arrays.first, arrays.slos,
                  arrays.rates, arrays.app_bits, start, stop, np.empty(len(arrays.first) - 1, np.int64), out)
    return out
