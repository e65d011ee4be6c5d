"""The compiled step of :mod:`.label_search` (numba): one app decided for every label of a
depth, the children bounded as the depth-first search bounds its nodes, and those another
dominates dropped (``formulations/column_generation.md``, "Pricing by labels"). Imported on
first use."""

from __future__ import annotations

import math

import numpy as np

from .branch_bound import TOLERANCE
from .branch_bound_kernel import penalty
from .kernels import compiled

#: A label dominates another only where its ``G = rho T`` is larger by this share (and 1e-12 at
#: least): rounding in the fold must not let a label drop one whose group is feasible.
MARGIN = 1e-12


@compiled(nogil=True)
def step(d, profit, rate, timeout, batch, best_left, f_free, f_price, f_amount, f_paid, f_cheap, f_order,
         r_free, r_price, r_amount, r_paid, r_cheap, r_order, rho, T, v, level, limit,
         out_rho, out_T, out_v, out_parent, out_took, records, state):
    """Decide app ``d`` for the labels ``rho, T, v`` of depth ``d`` (their groups over apps
    ``0..d-1``), writing the labels of depth ``d + 1`` to ``out_*`` (``out_parent``: the label
    of depth ``d`` each came from; ``out_took``: whether it took app ``d``), each of at least
    ``2 * rho.size`` entries. A child whose group fills the batch is not kept: its best
    completion takes every positive app left, and where that beats ``level[0]`` the level rises
    to it and ``(d, parent, took)`` goes to ``records`` (a ring; ``state[0]`` counts what was
    written). A child is dropped where the depth-first search would prune it (its profit and
    the positive profits left, less either cover's cheapest fractional cost, no more than the
    level), or where a kept one has no larger rate, a larger ``G`` (:data:`MARGIN`) and no
    smaller profit. Returns the number kept, or -1 when it is more than ``limit``."""
    count = rho.size
    need = (batch - 1) * (1 - 1e-12)  # Eq. 9: r_X T_X >= b - 1
    c_rho, c_T, c_v = np.empty(2 * count), np.empty(2 * count), np.empty(2 * count)
    c_parent, c_took = np.empty(2 * count, np.int64), np.empty(2 * count, np.bool_)
    kept = 0
    t, r, p = timeout[d], rate[d], profit[d]
    for i in range(count):
        for take in (False, True):
            if not take:
                nT, nr, nv = T[i], rho[i], v[i]
            elif rho[i] == 0:
                nT, nr, nv = t, r, v[i] + p
            else:  # the fold of Eq. 5 (batching.fold_timeout)
                nT = T[i] + (r / (rho[i] + r)) * (-math.expm1(-rho[i] * (t - T[i]))) / rho[i]
                nr, nv = rho[i] + r, v[i] + p
            reach = nv + best_left[d + 1]
            if nr > 0 and (batch == 1 or batch <= math.floor(nr * nT) + 1):
                if reach > level[0] + TOLERANCE:
                    level[0] = reach
                    at = state[0] % records.shape[0]
                    records[at, 0], records[at, 1], records[at, 2] = d, i, take
                    state[0] += 1
                continue
            if reach <= level[0] + TOLERANCE:
                continue
            spare = reach - level[0] - TOLERANCE
            deficit = need - nr * nT - f_free[d + 1]  # r_X T_X <= current + sum of r t taken later
            if deficit > 0 and penalty(deficit, d + 1, spare, f_price, f_amount, f_paid, f_cheap, f_order) >= spare:
                continue
            if nr > 0:  # the group needs rate b / (T + 1/rho)
                deficit = (need + 1) / (nT + 1 / nr) - nr - r_free[d + 1]
                if deficit > 0 and penalty(deficit, d + 1, spare, r_price, r_amount, r_paid, r_cheap, r_order) >= spare:
                    continue
            c_rho[kept], c_T[kept], c_v[kept], c_parent[kept], c_took[kept] = nr, nT, nv, i, take
            kept += 1
    # a level raised late in the loop prunes the children kept before it
    alive = np.zeros(kept, np.bool_)
    for q in range(kept):
        alive[q] = c_v[q] + best_left[d + 1] > level[0] + TOLERANCE
    G = c_rho[:kept] * c_T[:kept]
    # dominance: in order of rate (then G and profit descending), a label is dropped where one
    # before it has G larger by the margin and no smaller profit (a Fenwick tree of the largest
    # profit over the labels taken so far, indexed by G descending)
    order = np.argsort(-c_v[:kept], kind="mergesort")
    order = order[np.argsort(-G[order], kind="mergesort")]
    order = order[np.argsort(c_rho[:kept][order], kind="mergesort")]
    by_g = np.argsort(G, kind="mergesort")
    sorted_g = G[by_g]
    place = np.empty(kept, np.int64)
    place[by_g] = np.arange(kept)
    tree = np.full(kept + 1, -np.inf)
    survivors = 0
    for q in order:
        if not alive[q]:
            continue
        if c_rho[q] > 0:
            first = np.searchsorted(sorted_g, G[q] + MARGIN * max(1.0, G[q]))
            j = kept - first  # the labels of G at least that are places kept-j .. kept-1, reversed 1 .. j
            most = -np.inf
            while j > 0:
                most = max(most, tree[j])
                j -= j & -j
            if most >= c_v[q]:
                alive[q] = False
                continue
            j = kept - place[q]
            while j <= kept:
                tree[j] = max(tree[j], c_v[q])
                j += j & -j
        survivors += 1
    if survivors > limit:
        return -1
    w = 0
    for q in range(kept):
        if alive[q]:
            out_rho[w], out_T[w], out_v[w], out_parent[w], out_took[w] = c_rho[q], c_T[q], c_v[q], c_parent[q], c_took[q]
            w += 1
    return w


@compiled(nogil=True)
def merged_step(d, profit, rate, timeout, batch, best_left, f_free, f_price, f_amount, f_paid, f_cheap, f_order,
                r_free, r_price, r_amount, r_paid, r_cheap, r_order, rho, G, v, level, upper,
                low_rate, log_step, n_g, keys, slots, out_rho, out_G, out_v):
    """:func:`step` for *merged* labels, a relaxation (``formulations/column_generation.md``,
    "A bound by merged labels"): the labels of depth ``d + 1`` that fall in one cell of a grid
    over ``(rho, G)`` (``rho`` in ratios of ``exp(log_step)`` from ``low_rate``; ``G`` in
    ``n_g`` steps up to ``b - 1``) become one, with the least ``rho``, the largest ``G`` and the
    largest profit of them, which dominates each. The next app adds
    ``r * integral_0^t exp(-rho (s - T)^+) ds`` to ``G`` (``T = G / rho`` may pass ``t`` once
    labels merge). A child that fills the batch raises ``upper[0]`` to its profit and the
    positive profits left; ``level`` (fixed) prunes as :func:`step`'s does. ``keys`` and
    ``slots`` (a power of two entries, at least twice ``2 * rho.size``; ``keys`` -1 throughout)
    hash a cell to its label. Returns the number of labels written."""
    need = (batch - 1) * (1 - 1e-12)
    t, r, p = timeout[d], rate[d], profit[d]
    mask = keys.size - 1
    kept = 0
    for i in range(rho.size):
        for take in (False, True):
            if not take:
                nr, nG, nv = rho[i], G[i], v[i]
            else:
                add = r * t
                if rho[i] > 0 and t > G[i] / rho[i]:
                    T = G[i] / rho[i]
                    add = r * (T + (-math.expm1(-rho[i] * (t - T))) / rho[i])
                nr, nG, nv = rho[i] + r, G[i] + add, v[i] + p
            reach = nv + best_left[d + 1]
            if reach <= level + TOLERANCE:
                continue
            if nr > 0 and (batch == 1 or nG >= need):
                upper[0] = max(upper[0], reach)
                continue
            # step's two cover tests, repeated: one compiled helper for both kernels (even with
            # inline="always") made this one three times slower
            spare = reach - level - TOLERANCE
            deficit = need - nG - f_free[d + 1]  # as in step: G_X <= G + sum of r t taken later
            if deficit > 0 and penalty(deficit, d + 1, spare, f_price, f_amount, f_paid, f_cheap, f_order) >= spare:
                continue
            key = 0
            if nr > 0:  # the group needs rate b / (T + 1/rho)
                deficit = (need + 1) / (nG / nr + 1 / nr) - nr - r_free[d + 1]
                if deficit > 0 and penalty(deficit, d + 1, spare, r_price, r_amount, r_paid, r_cheap, r_order) >= spare:
                    continue
                ir = max(0, int(math.floor(math.log(nr / low_rate) / log_step)))
                key = 1 + ir * n_g + min(n_g - 1, int(math.floor(nG / need * n_g)))
            h = (key * 2654435761 + (key >> 13)) & mask
            while keys[h] >= 0 and keys[h] != key:
                h = (h + 1) & mask
            if keys[h] < 0:
                keys[h], slots[h] = key, kept
                out_rho[kept], out_G[kept], out_v[kept] = nr, nG, nv
                kept += 1
            else:
                at = slots[h]
                out_rho[at] = min(out_rho[at], nr)
                out_G[at] = max(out_G[at], nG)
                out_v[at] = max(out_v[at], nv)
    return kept
