"""The ``expected`` cost model: a group's cost per request under Poisson arrivals and the
batch manager the simulator runs (``formulations/model.md`` section 12).

Pure, vectorised functions: :func:`tail_probabilities` (``P(K >= m)``, closed form per
segment of ``Lambda``), :func:`cost_per_request` (renewal reward), and the search for a
group's cheapest (configuration, timeout scale) over the grid with the lower bound
``min_k c(k)/k`` used for pruning.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import gammainc, gammaln, xlogy

from .duration import DEFAULT_DURATION, DurationModel
from .grid import GPU, ConfigGrid
from .pricing import function_cost

#: Cost model names.
FULL_BATCH, EXPECTED = "full-batch", "expected"
COST_MODELS = (EXPECTED, FULL_BATCH)
#: Default number of timeout levels ``J`` (scales ``1, (J-1)/J, ..., 1/J`` of the maximal timeouts).
TIMEOUT_LEVELS = 4
#: Configurations evaluated at once while searching a group: the first chunk, doubling up to the last.
FIRST_CHUNK, LAST_CHUNK = 4, 64


def tail_probabilities(rates: np.ndarray, timeouts: np.ndarray, bmax: int) -> np.ndarray:
    """``P(K >= m)`` for ``m = 1..bmax`` of an uncapped invocation size, per row of timeouts.

    Parameters
    ----------
    rates : array (n,)
        Member rates, in the order of ``timeouts``' columns.
    timeouts : array (rows, n)
        Member timeouts, non-decreasing along each row (one order for all rows).
    bmax : int

    Returns
    -------
    array (rows, bmax)
        Column ``m-1`` is ``P(K >= m)``; column 0 is 1. Capping at a batch ``b`` is the
        caller's: ``P(K = b) = P(K >= b)``.

    Examples
    --------
    >>> from scipy.stats import poisson
    >>> g = tail_probabilities(np.array([2.0, 3.0]), np.array([[0.4, 0.4]]), 4)
    >>> bool(np.allclose(g[0, 1:], poisson.sf(np.arange(0, 3), 5.0 * 0.4)))   # one timeout: Poisson(RT)
    True
    """
    r = np.asarray(rates, dtype=float)
    t = np.asarray(timeouts, dtype=float)
    rows, n = t.shape
    R = r.sum()
    sigma = np.cumsum(r[::-1])[::-1]  # slope of Lambda on segment q: rate of apps whose timeout exceeds s
    t_prev = np.concatenate([np.zeros((rows, 1)), t[:, :-1]], axis=1)
    lam0 = np.concatenate([np.zeros((rows, 1)), np.cumsum(r * t, axis=1)[:, :-1]], axis=1) + sigma * t_prev
    delta = sigma * (t - t_prev)  # growth of Lambda over the segment
    a = R / sigma
    decay = np.exp(-(R * t_prev - lam0))  # e^{-(R s0 - Lambda(s0))} <= 1
    out = np.zeros((rows, bmax))
    out[:, 0] = 1.0
    if bmax == 1:
        return out
    k = np.arange(bmax - 1)  # j = 0..bmax-2
    lam = lam0[:, :, None]
    pois = np.exp(xlogy(k, lam) - lam - gammaln(k + 1))  # P(Poisson(Lambda(s0)) = k)
    q = np.exp(-(k + 1) * np.log(a)[None, :, None]) * gammainc(k + 1, (a * delta)[:, :, None])
    # conv[m-1] = sum_j q_j pois_{m-1-j}: a Toeplitz product, as one einsum over a sliding window
    padded = np.concatenate([np.zeros((rows, n, bmax - 2)), pois], axis=2)
    window = np.lib.stride_tricks.sliding_window_view(padded, bmax - 1, axis=2)  # [m', c] = pois[m' + c - (B-2)]
    conv = np.matmul(window, q[:, :, ::-1, None])[..., 0]  # (rows, n, bmax - 1)
    out[:, 1:] = np.matmul(decay[:, None, :], conv)[:, 0, :]
    return np.clip(np.minimum.accumulate(out, axis=1), 0.0, 1.0)


def cost_per_request(invocation_cost: np.ndarray, tails: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """``C = sum_k P(K=k) c(k) / E[K]`` with ``K`` capped at ``batch`` (renewal reward).

    ``invocation_cost[:, k-1]`` is ``c(k)``; ``tails`` as returned by :func:`tail_probabilities`.
    """
    b = np.asarray(batch)[:, None]
    m = np.arange(1, tails.shape[1] + 1)[None, :]
    g = np.where(m <= b, tails, 0.0)
    steps = np.diff(invocation_cost, axis=1, prepend=0.0)  # c(1), c(2) - c(1), ...
    steps = np.where(m <= b, steps, 0.0)
    return (g * steps).sum(axis=1) / g.sum(axis=1)


def expected_size_bound(rates: np.ndarray, timeouts: np.ndarray) -> np.ndarray:
    """``E[K]`` of the uncapped invocation size, per row: ``1 + integral e^{-(Rs - Lambda)} Lambda'``.

    Larger timeouts keep the buffer open longer, so with the maximal timeouts this bounds
    ``E[K]`` for every timeout choice from above.
    """
    r = np.asarray(rates, dtype=float)
    t = np.asarray(timeouts, dtype=float)
    R = r.sum()
    sigma = np.cumsum(r[::-1])[::-1]
    t_prev = np.concatenate([np.zeros((t.shape[0], 1)), t[:, :-1]], axis=1)
    lam0 = np.concatenate([np.zeros((t.shape[0], 1)), np.cumsum(r * t, axis=1)[:, :-1]], axis=1) + sigma * t_prev
    width = t - t_prev
    gap = R - sigma
    with np.errstate(divide="ignore", invalid="ignore"):
        seg = np.where(gap > 1e-12 * R, sigma * -np.expm1(-gap * width) / gap, sigma * width)
    return 1.0 + (np.exp(-(R * t_prev - lam0)) * seg).sum(axis=1)


@dataclass(frozen=True, eq=False)
class ExpectedTables:
    """Per grid configuration (function f, batch b): what the expected model needs of it.

    ``first[i]`` is the grid index of batch 1 of the same function (so ``c(k)`` of
    configuration ``i`` is ``invocation[first[i] + k - 1]``); ``latency_max_upto[i]`` is
    ``max_{k<=b} L_max(k)`` (the latency timeouts must leave room for);
    ``bound[i]`` is ``min_{k<=b} c(k)/k``, a lower bound on its cost per request, and
    ``cheapest[i]`` is ``min_{k<=b} c(k)``.
    """

    grid: ConfigGrid
    duration: DurationModel
    invocation: np.ndarray
    first: np.ndarray
    latency_max_upto: np.ndarray
    bound: np.ndarray
    cheapest: np.ndarray

    def invocation_costs(self, idx: np.ndarray, bmax: int) -> np.ndarray:
        """``c(k)`` for ``k = 1..bmax`` of each configuration in ``idx`` (rows; beyond b: repeats c(b))."""
        b = self.grid.batch[idx]
        k = np.minimum(np.arange(bmax)[None, :], (b - 1)[:, None])
        return self.invocation[self.first[idx][:, None] + k]


@functools.lru_cache(maxsize=64)
def expected_tables(grid: ConfigGrid, duration: DurationModel = DEFAULT_DURATION) -> ExpectedTables:
    """Evaluate :class:`ExpectedTables` for a grid (cached per grid and duration model)."""
    pf = grid.platform
    inv = np.empty(len(grid))
    for kind in (0, GPU):
        sel = grid.kind == kind
        unit = pf.gpu_billing_unit if kind == GPU else pf.cpu_billing_unit
        billed = duration.expected_billed(grid.latency_avg[sel], grid.latency_max[sel], unit)
        inv[sel] = function_cost(pf, "gpu" if kind == GPU else "cpu", vcpu=grid.vcpu[sel], mem_gb=grid.mem_gb[sel],
                                 gpu_gb=grid.gpu_mem[sel], latency_avg=billed, batch=1, billed=True)
    first = np.arange(len(grid)) - (grid.batch - 1)
    upto, bound, cheapest = np.empty(len(grid)), np.empty(len(grid)), np.empty(len(grid))
    for i in range(len(grid)):  # once per grid: cumulative over the batches of one function
        b = grid.batch[i]
        if b == 1:
            upto[i], bound[i], cheapest[i] = grid.latency_max[i], inv[i], inv[i]
        else:
            upto[i] = max(upto[i - 1], grid.latency_max[i])
            bound[i] = min(bound[i - 1], inv[i] / b)
            cheapest[i] = min(cheapest[i - 1], inv[i])
    for arr in (inv, first, upto, bound, cheapest):
        arr.setflags(write=False)
    return ExpectedTables(grid, duration, inv, first, upto, bound, cheapest)


@dataclass(frozen=True)
class GroupChoice:
    """A configuration and timeout scale for a group, with its expected cost per request."""

    index: int
    scale: float
    cost: float


def _levels(levels: int) -> np.ndarray:
    return np.arange(levels, 0, -1) / levels  # 1, (J-1)/J, ..., 1/J


def evaluate(tables: ExpectedTables, idx: np.ndarray, slos: np.ndarray, rates: np.ndarray,
             levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Expected cost of each configuration in ``idx`` at its best timeout level; returns
    ``(cost, scale)`` per configuration. Members must be sorted by SLO."""
    grid = tables.grid
    b = grid.batch[idx]
    scales = _levels(levels)
    cost = np.where(b == 1, tables.invocation[idx], np.inf)
    scale = np.ones(idx.size)
    multi = np.flatnonzero(b > 1)
    if multi.size:
        sub = idx[multi]
        bmax = int(grid.batch[sub].max())
        room = slos[None, :] - tables.latency_max_upto[sub][:, None]  # maximal timeouts (rows, n)
        t = (room[:, None, :] * scales[None, :, None]).reshape(-1, slos.size)
        tails = tail_probabilities(rates, t, bmax)
        inv = np.repeat(tables.invocation_costs(sub, bmax), levels, axis=0)
        c = cost_per_request(inv, tails, np.repeat(grid.batch[sub], levels)).reshape(sub.size, levels)
        best = np.argmin(c, axis=1)
        cost[multi] = c[np.arange(sub.size), best]
        scale[multi] = scales[best]
    return cost, scale


def search(tables: ExpectedTables, candidates: np.ndarray, slos: Sequence[float], rates: Sequence[float],
           levels: int = TIMEOUT_LEVELS) -> GroupChoice | None:
    """The cheapest (configuration, timeout scale) among ``candidates`` (grid indices of
    memory-feasible configurations of allowed kinds) for members sorted by SLO.

    Configurations are visited in order of the lower bound ``max(min_k c(k)/k,
    min_k c(k) / min(b, E[K] with maximal timeouts))``; the search stops when the next bound
    is no lower than the best cost found.
    """
    s = np.asarray(slos, dtype=float)
    r = np.asarray(rates, dtype=float)
    idx = candidates[tables.latency_max_upto[candidates] <= s[0]]
    if idx.size == 0:
        return None
    lb = tables.bound[idx].copy()  # min_k c(k)/k, tightened with E[K] at the maximal timeouts
    multi = tables.grid.batch[idx] > 1
    if multi.any():
        room = s[None, :] - tables.latency_max_upto[idx[multi]][:, None]
        ek = np.minimum(tables.grid.batch[idx[multi]], expected_size_bound(r, room))
        lb[multi] = np.maximum(lb[multi], tables.cheapest[idx[multi]] / ek)
    order = np.lexsort((idx, lb))
    idx, lb = idx[order], lb[order]
    best = GroupChoice(-1, 1.0, np.inf)
    start, size = 0, FIRST_CHUNK
    while start < idx.size and lb[start] < best.cost:
        best = _best_of(tables, idx[start:start + size][lb[start:start + size] < best.cost], s, r, levels, best)
        start, size = start + size, min(2 * size, LAST_CHUNK)
    return best if best.index >= 0 else None


def _best_of(tables: ExpectedTables, chunk: np.ndarray, slos: np.ndarray, rates: np.ndarray, levels: int,
             best: GroupChoice) -> GroupChoice:
    if chunk.size == 0:
        return best
    cost, scale = evaluate(tables, chunk, slos, rates, levels)
    k = int(np.argmin(cost))
    return GroupChoice(int(chunk[k]), float(scale[k]), float(cost[k])) if cost[k] < best.cost else best
