"""The ``expected`` cost model: a group's cost per request under Poisson arrivals and the
batch manager the simulator runs (``formulations/model.md`` section 12).

Pure, vectorised functions: :func:`tail_probabilities` (``P(K >= m)``, closed form per
segment of ``Lambda``), :func:`cost_per_request` (renewal reward), :func:`expected_size_bound`,
and the per-grid tables the search for a group's cheapest configuration uses
(:mod:`harmonybatch_mp.expected_search`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.special import gammainc, gammaincc, gammaln

from ._validate import attributes, instance, reals, together, whole
from .duration import DEFAULT_DURATION, DurationModel, billed_durations
from .errors import InputError
from .grid import GPU, ConfigGrid
from .platform import MAX_BATCH
from .pricing import function_cost

#: Cost model names.
FULL_BATCH, EXPECTED = "full-batch", "expected"
COST_MODELS = (EXPECTED, FULL_BATCH)
#: Default number of timeout levels ``J`` (scales ``1, (J-1)/J, ..., 1/J`` of the maximal timeouts).
TIMEOUT_LEVELS = 4
#: Most timeout levels a group search takes (``Problem``, ``expected_search``).
MAX_TIMEOUT_LEVELS = 64


def tail_probabilities(rates: np.ndarray, timeouts: np.ndarray, bmax: int) -> np.ndarray:
    """``P(K >= m)`` for ``m = 1..bmax`` of an uncapped invocation size, per row of timeouts.

    Parameters
    ----------
    rates : array (n,) or (rows, n)
        Member rates, in the order of ``timeouts``' columns (one row for all, or per row; a
        zero rate marks padding, whose timeout must be 0).
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
    t, r = _rows("tail_probabilities", rates, timeouts)
    if whole(bmax) is None or not 1 <= bmax <= MAX_BATCH:
        raise InputError(f"tail_probabilities: bmax: expected a whole number from 1 to {MAX_BATCH} (the largest "
                         f"batch a platform has), got {bmax!r:.40}")
    return _tail_probabilities(r, t, int(bmax))


# The public functions check what they are given, then run these unchecked ones, which the
# group search (expected_search) calls with the arrays it built: checking there cost 7% of dp.
def _tail_probabilities(r: np.ndarray, t: np.ndarray, bmax: int) -> np.ndarray:
    rows, n = t.shape
    r = np.broadcast_to(r, t.shape)
    R = r.sum(axis=1, keepdims=True)
    sigma = np.cumsum(r[:, ::-1], axis=1)[:, ::-1]  # slope of Lambda on segment q: rate of apps whose timeout exceeds s
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
    x = a * delta
    # q_j = a^{-(j+1)} P(j+1, a delta), the regularised lower gamma by its recurrence
    # P(j+1, x) = P(B-1, x) + sum_{i=j+1}^{B-2} x^i e^{-x} / i!  (positive terms only: no cancellation)
    upper = np.cumsum(_poisson_pmf(x, bmax - 1)[:, :, :0:-1], axis=2)[:, :, ::-1]
    gam = gammainc(bmax - 1, x)[:, :, None] + np.concatenate([upper, np.zeros((rows, n, 1))], axis=2)
    q = np.exp(-(k + 1) * np.log(a)[:, :, None]) * gam
    # sum over segments of decay * (q * pois)[m-1], pois_j = P(Poisson(Lambda(s0)) = j). The first
    # segment starts at Lambda(0) = 0 with decay 1, so its term is q itself (an app alone has no
    # other: 9,600 configurations of one app took 22 ms with the product below, 9 ms without)
    out[:, 1:] = q[:, 0]
    if n > 1:  # the others: a Toeplitz product over a sliding window (a view)
        pois = _poisson_pmf(lam0[:, 1:], bmax - 1)
        padded = np.concatenate([np.zeros((rows, n - 1, bmax - 2)), pois], axis=2)
        step = padded.strides[2]
        window = np.lib.stride_tricks.as_strided(  # [m', c] = pois[m' + c - (B-2)], a read-only view
            padded, (rows, n - 1, bmax - 1, bmax - 1), padded.strides + (step,), writeable=False)
        out[:, 1:] += np.einsum("rqmc,rqc->rm", window, q[:, 1:, ::-1] * decay[:, 1:, None])
    return np.clip(np.minimum.accumulate(out, axis=1), 0.0, 1.0)


def _rows(where: str, rates: np.ndarray, timeouts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``timeouts`` as rows of floats, and ``rates`` broadcast to them; else an InputError."""
    t, r = reals(timeouts, f"{where}: timeouts"), reals(rates, f"{where}: rates")
    if np.ndim(t) != 2 or not np.shape(t)[1] or np.ndim(r) not in (1, 2) or np.shape(r)[-1] != np.shape(t)[1] \
            or np.ndim(r) == 2 and np.shape(r)[0] not in (1, np.shape(t)[0]):
        raise InputError(f"{where}: expected timeouts of shape (rows, n >= 1) and rates of shape (n,) or (rows, n), "
                         f"got {np.shape(t)} and {np.shape(r)}")
    return t, np.broadcast_to(r, t.shape)


def _poisson_pmf(lam: np.ndarray, size: int) -> np.ndarray:
    """``P(Poisson(lam) = j)`` for ``j = 0..size-1`` along a new last axis (log space: no overflow)."""
    j = np.arange(size)
    log_lam = np.log(np.maximum(lam, 1e-300))[..., None]  # lam = 0: only j = 0 keeps mass
    return np.exp(j * log_lam - lam[..., None] - gammaln(j + 1))


def cost_per_request(invocation_cost: np.ndarray, tails: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """``C = sum_k P(K=k) c(k) / E[K]`` with ``K`` capped at ``batch`` (renewal reward).

    ``invocation_cost[:, k-1]`` is ``c(k)``; ``tails`` as returned by :func:`tail_probabilities`.
    """
    invocation_cost = reals(invocation_cost, "cost_per_request: invocation_cost")
    tails, batch = reals(tails, "cost_per_request: tails"), reals(batch, "cost_per_request: batch")
    rows = np.shape(tails)[:1]
    if not (np.ndim(tails) == 2 and np.ndim(invocation_cost) == 2 and np.shape(batch) == rows
            and np.shape(invocation_cost)[1] == np.shape(tails)[1] and np.shape(invocation_cost)[0] in (1, *rows)):
        raise InputError(f"cost_per_request: expected tails of shape (rows, bmax), invocation_cost of shape "
                         f"(rows, bmax) or (1, bmax) and a batch per row, got {np.shape(tails)}, "
                         f"{np.shape(invocation_cost)} and {np.shape(batch)}")
    return _cost_per_request(invocation_cost, tails, batch)


def _cost_per_request(invocation_cost: np.ndarray, tails: np.ndarray, batch: np.ndarray) -> np.ndarray:
    b = batch[:, None]
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
    t, r = _rows("expected_size_bound", rates, timeouts)
    R = r.sum(axis=1, keepdims=True)
    sigma = np.cumsum(r[:, ::-1], axis=1)[:, ::-1]
    t_prev = np.concatenate([np.zeros((t.shape[0], 1)), t[:, :-1]], axis=1)
    lam0 = np.concatenate([np.zeros((t.shape[0], 1)), np.cumsum(r * t, axis=1)[:, :-1]], axis=1) + sigma * t_prev
    width = t - t_prev
    gap = R - sigma
    with np.errstate(divide="ignore", invalid="ignore"):
        seg = np.where(gap > 1e-12 * R, sigma * -np.expm1(-gap * width) / gap, sigma * width)
    return 1.0 + (np.exp(-(R * t_prev - lam0)) * seg).sum(axis=1)


def capped_size_bound(size: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """An upper bound on ``E[min(K, b)]`` from an upper bound ``size`` on the uncapped
    ``E[K]`` (``formulations/model.md`` section 12.2): ``K - 1`` is a mixed Poisson, and
    ``h(mu) = E[min(1 + Poisson(mu), b)]`` is concave and increasing, so
    ``E[min(K, b)] <= h(size - 1) <= min(b, size)``.

    >>> from scipy.stats import poisson
    >>> round(float(capped_size_bound(np.array([32.0]), np.array([32]))[0]), 3)   # not 32
    29.785
    >>> n = np.arange(200)
    >>> round(float((np.minimum(1 + n, 32) * poisson.pmf(n, 31)).sum()), 3)
    29.785
    """
    size, batch = reals(size, "capped_size_bound: size"), reals(batch, "capped_size_bound: batch")
    together("capped_size_bound", size=size, batch=batch)
    return _capped_size_bound(size, batch)


def _capped_size_bound(size: np.ndarray, batch: np.ndarray) -> np.ndarray:
    mu = np.maximum(size - 1.0, 0.0)
    c = batch - 1.0  # E[min(N, c)] = mu P(N <= c-2) + c P(N >= c)
    below = np.where(c >= 2, gammaincc(np.maximum(c - 1, 1), mu), 0.0)
    above = np.where(c >= 1, gammainc(np.maximum(c, 1), mu), 0.0)
    mean = np.multiply(mu, below, out=np.zeros(np.broadcast(mu, below).shape), where=below > 0)  # size inf: b
    return 1.0 + mean + c * above


@dataclass(frozen=True, eq=False)
class ExpectedTables:
    """Per grid configuration (function f, batch b): what the expected model needs of it.

    ``first[i]`` is the grid index of batch 1 of the same function (so ``c(k)`` of
    configuration ``i`` is ``invocation[first[i] + k - 1]``); ``latency_max_upto[i]`` is
    ``max_{k<=b} L_max(k)`` (the latency timeouts must leave room for);
    ``bound[i]`` is ``min_{k<=b} c(k)/k``, a lower bound on its cost per request,
    ``cheapest[i]`` is ``min_{k<=b} c(k)`` and ``slope[i]`` is ``min_{2<=k<=b} (c(k) - c(1))/(k - 1)``
    (so ``c(k) >= c(1) + slope (k - 1)`` for every ``k <= b``; inf at ``b = 1``).
    """

    grid: ConfigGrid
    duration: DurationModel
    invocation: np.ndarray
    first: np.ndarray
    latency_max_upto: np.ndarray
    bound: np.ndarray
    cheapest: np.ndarray
    slope: np.ndarray

    def invocation_costs(self, idx: np.ndarray, bmax: int) -> np.ndarray:
        """``c(k)`` for ``k = 1..bmax`` of each configuration in ``idx`` (rows; beyond b: repeats c(b))."""
        b = self.grid.batch[idx]
        k = np.minimum(np.arange(bmax)[None, :], (b - 1)[:, None])
        return self.invocation[self.first[idx][:, None] + k]


def expected_tables(grid: ConfigGrid, duration: DurationModel = DEFAULT_DURATION) -> ExpectedTables:
    """Evaluate :class:`ExpectedTables` for a grid (cached per grid and duration model)."""
    instance(grid, ConfigGrid, "expected_tables: grid")
    attributes(duration, ("sample", "expected_billed"), "expected_tables: duration")
    try:
        hash(duration)
    except TypeError:
        raise InputError(f"expected_tables: duration: expected a hashable duration model, got "
                         f"{type(duration).__name__}") from None
    return _expected_tables(grid, duration)


@functools.lru_cache(maxsize=64)
def _expected_tables(grid: ConfigGrid, duration: DurationModel) -> ExpectedTables:
    pf = grid.platform
    inv = np.empty(len(grid))
    for kind in (0, GPU):
        sel = grid.kind == kind
        unit = pf.gpu_billing_unit if kind == GPU else pf.cpu_billing_unit
        billed = billed_durations(duration, grid.latency_avg[sel], grid.latency_max[sel], unit)
        inv[sel] = function_cost(pf, "gpu" if kind == GPU else "cpu", vcpu=grid.vcpu[sel], mem_gb=grid.mem_gb[sel],
                                 gpu_gb=grid.gpu_mem[sel], latency_avg=billed, batch=1, billed=True)
    first = np.arange(len(grid)) - (grid.batch - 1)
    upto, bound, cheapest, slope = (np.empty(len(grid)) for _ in range(4))
    for i in range(len(grid)):  # once per grid: cumulative over the batches of one function
        b = grid.batch[i]
        if b == 1:
            upto[i], bound[i], cheapest[i], slope[i] = grid.latency_max[i], inv[i], inv[i], np.inf
        else:
            upto[i] = max(upto[i - 1], grid.latency_max[i])
            bound[i] = min(bound[i - 1], inv[i] / b)
            cheapest[i] = min(cheapest[i - 1], inv[i])
            slope[i] = min(slope[i - 1], (inv[i] - inv[first[i]]) / (b - 1))
    for arr in (inv, first, upto, bound, cheapest, slope):
        arr.setflags(write=False)
    return ExpectedTables(grid, duration, inv, first, upto, bound, cheapest, slope)
