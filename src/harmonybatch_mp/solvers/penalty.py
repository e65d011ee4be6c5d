"""Bounds on what the improving columns of any plan gain together: the penalty of the
Lagrangian bound of column generation (``formulations/column_generation.md``, "The master
and the bound"). Each is an upper bound on ``-sum rc`` over a plan's columns, given per
configuration ``k`` the pricing bound ``gain_k`` on what one of its columns gains."""

from __future__ import annotations

import time

import numpy as np

from .kernels import PACKING, ready


def fill_penalty(gain: np.ndarray, fill: np.ndarray, count: int, supply: float) -> float:
    """An upper bound on the LP ``max sum_k gain_k n_k`` s.t. ``sum n_k <= count`` and
    ``sum fill_k n_k <= supply``, ``n >= 0``: its dual at the best ``v >= 0`` among the
    breakpoints ``0`` and ``gain_k / fill_k``, ``count max_k (gain_k - fill_k v)^+ + supply v``
    (weak duality; ``gain >= 0``)."""
    if not (gain > 0).any() or count <= 0:
        return 0.0
    v = np.unique(np.concatenate([[0.0], (gain / np.where(fill > 0, fill, np.inf))[gain > 0]]))
    over = np.maximum(gain[None, :] - fill[None, :] * v[:, None], 0.0).max(axis=1)
    return float((count * over + supply * v).min())


def packing_penalty(gain: np.ndarray, share: np.ndarray, amount: np.ndarray, fill: np.ndarray,
                    count: int, deadline: float | None = None) -> float:
    """An upper bound on what disjoint improving columns gain together, from the packing LP
    (``formulations/column_generation.md``, "The packing LP"): ``n_k`` columns of
    configuration ``k`` hold the apps ``x_ak`` (each app at most once over all ``k``), fill
    their batches (``fill_k n_k <= sum_a amount_ak x_ak``), each hold an app of positive share
    (``n_k <= sum_{share_ak > 0} x_ak``), number at most ``count``, and gain
    ``g_k <= gain_k n_k`` and ``g_k <= sum_a share_ak x_ak``; maximise ``sum g_k``.

    ``share`` and ``amount`` are ``(configurations, apps)``: an app's share of a column's
    gain (``min(gain_k, p_a(k)^+ + bonus_k)``, 0 where ``k`` does not serve it) and what it
    adds to filling the batch, at most ``fill_k``. The value is the objective of HiGHS's
    duals (clipped to ``>= 0``) plus what their infeasibility could add over the box
    ``x <= 1, n <= count, g <= count gain``: a bound by weak duality whatever the LP's
    tolerances. inf when HiGHS fails, or ``deadline`` stops it."""
    if not ready(PACKING, deadline):
        # scipy.optimize's first import (0.13 s), begun with the pricer, is not done: eight calls at
        # once in a fresh process, 4 s each, ended up to 0.074 s past their limit waiting on it here
        return np.inf
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    keep = np.flatnonzero(gain > 0)
    if keep.size == 0 or count <= 0:
        return 0.0
    gain, share, amount, fill = gain[keep], share[keep], amount[keep], fill[keep]
    k, a = np.nonzero((share > 0) | (amount > 0))  # the pairs (x); then n, then g
    nk, nx, n = keep.size, k.size, share.shape[1]
    x, cols = np.arange(nx), nx + np.arange(nk)
    positive = share[k, a] > 0
    # rows: apps (n), fill (nk), g <= gain n (nk), g <= share x (nk), n <= x of positive share (nk), count
    fill_row, gain_row, share_row, hold_row, count_row = n, n + nk, n + 2 * nk, n + 3 * nk, n + 4 * nk
    parts = [(a, x, 1.0),
             (fill_row + np.arange(nk), cols, fill), (fill_row + k, x, -amount[k, a]),
             (gain_row + np.arange(nk), cols + nk, 1.0), (gain_row + np.arange(nk), cols, -gain),
             (share_row + np.arange(nk), cols + nk, 1.0), (share_row + k, x, -share[k, a]),
             (hold_row + np.arange(nk), cols, 1.0), (hold_row + k[positive], x[positive], -1.0),
             (np.full(nk, count_row), cols, 1.0)]
    rows = np.concatenate([r for r, _, _ in parts])
    matrix = coo_matrix((np.concatenate([np.broadcast_to(v, np.shape(r)) for r, _, v in parts]),
                         (rows, np.concatenate([c for _, c, _ in parts]))), shape=(count_row + 1, nx + 2 * nk)).tocsr()
    b = np.zeros(count_row + 1)
    b[:n], b[count_row] = 1.0, count
    objective = np.concatenate([np.zeros(nx + nk), np.ones(nk)])
    box = np.concatenate([np.ones(nx), np.full(nk, float(count)), count * gain])
    left = None if deadline is None else deadline - time.perf_counter()
    if left is not None and left <= 0:
        return np.inf
    options = {} if left is None else {"time_limit": left}
    solved = linprog(-objective, A_ub=matrix, b_ub=b, bounds=np.column_stack([np.zeros(box.size), box]),
                     method="highs", options=options)
    if solved.status != 0:  # (or stopped by the deadline: no bound)
        return np.inf
    u = np.maximum(-solved.ineqlin.marginals, 0.0)
    return float(b @ u + box @ np.maximum(objective - matrix.T @ u, 0.0))
