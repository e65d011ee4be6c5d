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
         r_free, r_price, r_amount, r_paid, r_cheap, r_order, partner, bit, loss, rho, T, v, bits, level, limit,
         out_rho, out_T, out_v, out_bits, out_parent, out_took, records, state):
    """Decide app ``d`` for the labels ``rho, T, v, bits`` of depth ``d`` (their groups over apps
    ``0..d-1``), writing the labels of depth ``d + 1`` to ``out_*`` (``out_parent``: the label
    of depth ``d`` each came from; ``out_took``: whether it took app ``d``), each of at least
    ``2 * rho.size`` entries. A child whose group fills the batch is not kept: its best
    completion takes every positive app left that keeps the conflicts, and where that beats
    ``level[0]`` the level rises to it and ``(d, parent, took)`` goes to ``records`` (a ring;
    ``state[0]`` counts what was written). A child is dropped where the depth-first search
    would prune it (its profit and the positive profits left, less either cover's cheapest
    fractional cost, no more than the level), or where a kept one of the same ``bits`` has no
    larger rate, a larger ``G`` (:data:`MARGIN`) and no smaller profit. Returns the number
    kept, or -1 when it is more than ``limit``.

    Conflicts are disjoint pairs: ``partner[i]`` is app ``i``'s (-1: none), ``bit[i]`` the bit
    of the first app of a pair (-1 for the others) and ``loss[k]`` the positive profit of the
    second app of bit ``k``'s pair. A label's ``bits`` are the first apps it took whose
    partner is still to decide: it cannot take the partner, so its positive profit (which
    ``best_left`` counts) is lost to it."""
    count = rho.size
    need = (batch - 1) * (1 - 1e-12)  # Eq. 9: r_X T_X >= b - 1
    c_rho, c_T, c_v = np.empty(2 * count), np.empty(2 * count), np.empty(2 * count)
    c_bits = np.empty(2 * count, np.int64)
    c_parent, c_took = np.empty(2 * count, np.int64), np.empty(2 * count, np.bool_)
    kept = 0
    t, r, p = timeout[d], rate[d], profit[d]
    first = partner[d] if 0 <= partner[d] < d else -1  # app d closes the pair of this first app
    for i in range(count):
        for take in (False, True):
            nb = bits[i]
            if first >= 0:
                if take and (nb >> bit[first]) & 1:
                    continue  # its partner is in the group
                nb &= ~(np.int64(1) << bit[first])
            if take and bit[d] >= 0:
                nb |= np.int64(1) << bit[d]
            if not take:
                nT, nr, nv = T[i], rho[i], v[i]
            elif rho[i] == 0:
                nT, nr, nv = t, r, v[i] + p
            else:  # the fold of Eq. 5 (batching.fold_timeout)
                nT = T[i] + (r / (rho[i] + r)) * (-math.expm1(-rho[i] * (t - T[i]))) / rho[i]
                nr, nv = rho[i] + r, v[i] + p
            reach = nv + best_left[d + 1]
            x, k = nb, 0
            while x:  # the partners it may not take
                if x & 1:
                    reach -= loss[k]
                x >>= 1
                k += 1
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
            c_rho[kept], c_T[kept], c_v[kept], c_bits[kept] = nr, nT, nv, nb
            c_parent[kept], c_took[kept] = i, take
            kept += 1
    # a level raised late in the loop prunes the children kept before it (best_left bounds what
    # is left of each, whatever its bits)
    alive = np.zeros(kept, np.bool_)
    for q in range(kept):
        alive[q] = c_v[q] + best_left[d + 1] > level[0] + TOLERANCE
    G = c_rho[:kept] * c_T[:kept]
    # a label dominates only those of its own bits (other bits rule out other partners)
    by_bits = np.argsort(c_bits[:kept], kind="mergesort")
    start = 0
    for q in range(1, kept + 1):
        if q == kept or c_bits[by_bits[q]] != c_bits[by_bits[start]]:
            _dominate(by_bits[start:q], c_rho, G, c_v, alive)
            start = q
    survivors = 0
    for q in range(kept):
        survivors += alive[q]
    if survivors > limit:
        return -1
    w = 0
    for q in range(kept):
        if alive[q]:
            out_rho[w], out_T[w], out_v[w], out_bits[w] = c_rho[q], c_T[q], c_v[q], c_bits[q]
            out_parent[w], out_took[w] = c_parent[q], c_took[q]
            w += 1
    return w


@compiled(nogil=True)
def _dominate(labels, rho, G, v, alive):
    """Among ``labels`` (indices), drop (``alive`` False) each that one of them dominates. In
    order of rate (then ``G`` and profit descending), a label is dropped where one before it
    has ``G`` larger by the margin and no smaller profit (a Fenwick tree of the largest profit
    over the labels taken so far, indexed by ``G`` descending)."""
    m = labels.size
    lr, lg, lv = rho[labels], G[labels], v[labels]
    order = np.argsort(-lv, kind="mergesort")
    order = order[np.argsort(-lg[order], kind="mergesort")]
    order = order[np.argsort(lr[order], kind="mergesort")]
    by_g = np.argsort(lg, kind="mergesort")
    sorted_g = lg[by_g]
    place = np.empty(m, np.int64)
    place[by_g] = np.arange(m)
    tree = np.full(m + 1, -np.inf)
    for q in order:
        if not alive[labels[q]]:
            continue
        if lr[q] > 0:
            first = np.searchsorted(sorted_g, lg[q] + MARGIN * max(1.0, lg[q]))
            j = m - first  # the labels of G at least that are places m-j .. m-1, reversed 1 .. j
            most = -np.inf
            while j > 0:
                most = max(most, tree[j])
                j -= j & -j
            if most >= lv[q]:
                alive[labels[q]] = False
                continue
            j = m - place[q]
            while j <= m:
                tree[j] = max(tree[j], lv[q])
                j += j & -j


@compiled(nogil=True)
def merged_step(d, profit, rate, timeout, batch, best_left, f_free, f_price, f_amount, f_paid, f_cheap, f_order,
                r_free, r_price, r_amount, r_paid, r_cheap, r_order, partner, bit, loss, rho, G, v, bits, level, upper,
                low_rate, log_step, n_g, keys, slots, out_rho, out_G, out_v, out_bits):
    """:func:`step` for *merged* labels, a relaxation (``formulations/column_generation.md``,
    "A bound by merged labels"): the labels of depth ``d + 1`` that fall in one cell of a grid
    over ``(rho, G)`` (``rho`` in ratios of ``exp(log_step)`` from ``low_rate``; ``G`` in
    ``n_g`` steps up to ``b - 1``) become one, with the least ``rho``, the largest ``G`` and the
    largest profit of them, which dominates each. The next app adds
    ``r * integral_0^t exp(-rho (s - T)^+) ds`` to ``G`` (``T = G / rho`` may pass ``t`` once
    labels merge). A child that fills the batch raises ``upper[0]`` to its profit and the
    positive profits left that keep the conflicts; ``level`` (fixed) prunes as :func:`step`'s
    does. Labels merge only with labels of the same ``bits`` (conflicts as in :func:`step`).
    ``keys`` and ``slots`` (a power of two entries, at least twice ``2 * rho.size``; ``keys``
    -1 throughout) hash a cell to its label. Returns the number of labels written."""
    need = (batch - 1) * (1 - 1e-12)
    t, r, p = timeout[d], rate[d], profit[d]
    mask = keys.size - 1
    shift = bit.max() + 1 if bit.size else 0  # the bits go below the cell in a key
    first = partner[d] if 0 <= partner[d] < d else -1
    kept = 0
    for i in range(rho.size):
        for take in (False, True):
            nb = bits[i]
            if first >= 0:
                if take and (nb >> bit[first]) & 1:
                    continue
                nb &= ~(np.int64(1) << bit[first])
            if take and bit[d] >= 0:
                nb |= np.int64(1) << bit[d]
            if not take:
                nr, nG, nv = rho[i], G[i], v[i]
            else:
                add = r * t
                if rho[i] > 0 and t > G[i] / rho[i]:
                    T = G[i] / rho[i]
                    add = r * (T + (-math.expm1(-rho[i] * (t - T))) / rho[i])
                nr, nG, nv = rho[i] + r, G[i] + add, v[i] + p
            reach = nv + best_left[d + 1]
            x, k = nb, 0
            while x:
                if x & 1:
                    reach -= loss[k]
                x >>= 1
                k += 1
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
            key = (key << shift) | nb
            h = (key * 2654435761 + (key >> 13)) & mask
            while keys[h] >= 0 and keys[h] != key:
                h = (h + 1) & mask
            if keys[h] < 0:
                keys[h], slots[h] = key, kept
                out_rho[kept], out_G[kept], out_v[kept], out_bits[kept] = nr, nG, nv, nb
                kept += 1
            else:
                at = slots[h]
                out_rho[at] = min(out_rho[at], nr)
                out_G[at] = max(out_G[at], nG)
                out_v[at] = max(out_v[at], nv)
    return kept
