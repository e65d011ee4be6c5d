"""The compiled pricing of the expected-batch bound's relaxed rows (numba; imported on first
use; ``formulations/column_generation.md``, "Under the expected-batch model"): the anchored
sizes (:func:`anchored_size`), and per row an upper bound on a 0-1 knapsack with a lower and
an upper limit on the total size, by a small best-first branch and bound over its LP
(:func:`knapsack_bound`; :func:`price_rows` builds each row's items and bounds it).
"""

from __future__ import annotations

import math

import numpy as np

from .kernels import compiled, compiled_ufunc

#: Relative widening of a row's limits: a selection whose sizes sum to a limit in another order
#: may pass it by rounding (sizes 1 and 1e-108 within a limit of 1), and still counts as in.
SLACK = 1e-12


@compiled_ufunc(["float64(float64, float64, float64, float64, float64, float64)"])
def anchored_size(rate, tau, first, start, second, start2):
    """An app's share ``r_a int_0^{tau_a} e^{-r_j (s - tau_j)^+ - r_k (s - tau_k)^+} ds`` of
    ``A_jk`` (app: ``rate``, ``tau``; anchor: ``first``, ``start``; partner: ``second``,
    ``start2``, with ``second = 0`` for none: then ``r_a (min(tau_a, tau_j) + (1 -
    e^{-r_j (tau_a - tau_j)^+}) / r_j)``), a ufunc."""
    if second != 0.0 and start2 < start:  # the partner's deadline first: it decays alone until the anchor's
        first, start, second, start2 = second, start2, first, start
    if second == 0.0 or start2 >= tau:  # one decay before tau
        return rate * (min(tau, start) - math.expm1(-first * max(tau - start, 0.0)) / first)
    # 0 .. start: 1; start .. start2: e^{-first (s - start)}; start2 .. tau: both
    both = first + second
    return rate * (start - math.expm1(-first * (start2 - start)) / first
                   - math.exp(-first * (start2 - start)) * math.expm1(-both * (tau - start2)) / both)


@compiled()
def _sorted(items, key):
    """``items`` in the order of ``key[items]`` (a shell sort: quick to compile)."""
    out = items.copy()
    gap = out.size // 2
    while gap > 0:
        for i in range(gap, out.size):
            item, k = out[i], key[out[i]]
            j = i
            while j >= gap and key[out[j - gap]] > k:
                out[j] = out[j - gap]
                j -= gap
            out[j] = item
        gap //= 2
    return out


@compiled()
def _lp(profit, size, low, high, state, x, capped, key):
    """The LP of one row at a node (``state``: 1 in, -1 out, 0 free): ``max p.x`` s.t.
    ``low <= s.x <= high``, ``0 <= x <= 1``, with the free items larger than the room left
    out and sizes capped at the lower limit left in the lower limit's row. Where the
    profitable items pass the room, the LP without the lower limit (a fractional knapsack);
    otherwise the LP without the room (they and the cheapest others up to the lower limit).
    Fills ``x`` (a vertex: at most one item in part) and returns ``(gain, the item in part or
    -1)``; the gain is -inf when infeasible. ``capped`` and ``key`` are work space."""
    m = profit.size
    gain, taken = 0.0, 0.0
    for i in range(m):
        x[i] = 0.0
        if state[i] == 1:
            gain += profit[i]
            taken += size[i]
            x[i] = 1.0
    slack = SLACK * (1.0 + abs(low) + (abs(high) if high < math.inf else 0.0))  # at a limit within rounding: in
    lo, hi = low - taken - slack, high - taken + slack
    if hi < 0.0 or lo > hi:
        return -math.inf, -1
    # free: the true size of the profitable items, reached: their capped size; paid: the items
    # that may join to reach the lower limit
    free, reached, paid = 0.0, 0.0, 0
    items = np.empty(m, np.int64)
    for i in range(m):
        capped[i] = min(size[i], lo) if lo > 0.0 else size[i]
        if state[i] == 0 and size[i] <= hi:
            if profit[i] > 0.0:  # joins, unless past the room
                free += size[i]
                reached += capped[i]
                gain += profit[i]
                x[i] = 1.0
                key[i] = -profit[i] / size[i] if size[i] > 0.0 else -math.inf
            elif capped[i] > 0.0 and profit[i] > -math.inf:
                key[i] = -profit[i] / capped[i]  # (inf for a tiny size: last)
                items[paid] = i
                paid += 1
    if free > hi:  # past the room: the profitable items in ratio order, up to it (true sizes)
        count = 0
        for i in range(m):
            if x[i] > 0.0 and state[i] == 0:
                gain -= profit[i]
                x[i] = 0.0
                items[count] = i
                count += 1
        left = hi
        for i in _sorted(items[:count], key):
            if size[i] > left:
                x[i] = left / size[i]
                return gain + profit[i] * x[i], i if x[i] > 0.0 else -1
            x[i] = 1.0
            gain += profit[i]
            left -= size[i]
        return gain, -1
    deficit = lo - reached
    if deficit <= 0.0:
        return gain, -1
    for i in _sorted(items[:paid], key):  # too little: the cheapest others per unit of size
        use = min(capped[i], deficit)
        x[i] = use / capped[i]
        gain += profit[i] * x[i]
        deficit -= use
        if deficit <= 1e-12 * lo:
            return gain, i if x[i] < 1.0 else -1
    return -math.inf, -1


@compiled()
def _row(profit, size, low, high, enough, nodes, x, state, capped, key):
    """One row's bound: best-first branch and bound over the LP, splitting (the item in part
    out, or in) the open node of the largest LP until that LP is integral, at most
    ``enough``, or ``nodes`` splits are spent; the bound is then that LP. Fills ``x`` with
    its vertex. ``state`` (``nodes + 1`` rows), ``capped`` and ``key``, each of at least
    ``profit.size`` columns, are work space."""
    m = profit.size
    for k in range(m):
        state[0, k] = 0
    gain = np.empty(nodes + 1)
    part = np.empty(nodes + 1, np.int64)
    gain[0], part[0] = _lp(profit, size, low, high, state[0], x, capped, key)
    count, last = 1, 0
    for split in range(nodes + 1):
        i = _largest(gain, count)
        if part[i] < 0 or gain[i] <= enough or split == nodes or gain[i] == -math.inf:
            break
        item = part[i]
        for k in range(m):
            state[count, k] = state[i, k]
        state[i, item] = -1
        state[count, item] = 1
        parent = gain[i]  # bounds both children (each holds fewer selections), however loose their LPs
        gain[i], part[i] = _lp(profit, size, low, high, state[i], x, capped, key)
        gain[count], part[count] = _lp(profit, size, low, high, state[count], x, capped, key)
        gain[i], gain[count] = min(gain[i], parent), min(gain[count], parent)
        count, last = count + 1, count
    i = _largest(gain, count)
    if i != last:
        _lp(profit, size, low, high, state[i], x, capped, key)
    return gain[i]


@compiled()
def _largest(gain, count):
    """The first index of the largest of ``gain[:count]``."""
    best = 0
    for i in range(1, count):
        if gain[i] > gain[best]:
            best = i
    return best


@compiled()
def _rows(profit, size, low, high, enough, nodes):
    """:func:`_row` on each row, over its items of finite profit."""
    rows, m = profit.shape
    gain = np.empty(rows)
    x = np.zeros((rows, m))
    state, capped, key, part = np.empty((nodes + 1, m), np.int8), np.empty(m), np.empty(m), np.empty(m)
    for r in range(rows):
        items = np.flatnonzero(profit[r] > -math.inf)
        k = items.size
        gain[r] = _row(profit[r][items], size[r][items], low[r], high[r], enough[r], nodes, part[:k], state, capped, key)
        x[r][items] = part[:k]
    return gain, x


def knapsack_bound(profit: np.ndarray, size: np.ndarray, low: np.ndarray, high: np.ndarray,
                   nodes: int, enough: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per row, an upper bound on the 0-1 knapsack ``max p.x`` s.t. ``low <= s.x <= high``
    (items of profit -inf absent; -inf when nothing fits) and the LP vertex that gives it.
    Three relaxations, each valid for every 0-1 selection: an item larger than the room left
    cannot join; sizes are capped at the lower limit left (a selection reaching it with the
    true sizes reaches it with the capped ones); and the LP, split on its item in part (out,
    or in) at up to ``nodes`` nodes, the bound the largest LP left open. A row whose LP is
    at most ``enough`` is not split.

    >>> gain, x = knapsack_bound(np.array([[3.0, 2.0, -1.0]]), np.array([[2.0, 2.0, 1.0]]),
    ...                          np.array([0.0]), np.array([3.0]), nodes=7)
    >>> float(gain[0]), x[0].tolist()
    (3.0, [1.0, 0.0, 0.0])
    """
    rows = profit.shape[0]
    enough = np.full(rows, -np.inf) if enough is None else np.asarray(enough, float)
    return _rows(np.ascontiguousarray(profit, float), np.ascontiguousarray(size, float),
                 np.asarray(low, float), np.asarray(high, float), enough, int(nodes))


@compiled(nogil=True)
def price_rows(bins, anchors, places, partners, own, profit_of, share, unit, rates, slo, u, served, rank, low, high,
               enough, nodes, gain, x, fill, paid, shares):
    """Bound the rows ``(bins[r], anchors[r], places[r])``: the knapsack over the apps ``a``
    with ``served[bin, a]`` after the anchor (``rank[a] > rank[anchor]``) and not among the
    anchor's first ``places[r] + 1`` ``partners`` (all of them where ``places[r]`` is their
    number: no partner), profit ``profit_of[a] - share[a] unit[r]``, size the anchored size
    with the partner ``partners[anchor, places[r]]`` (if any) at the timeouts ``slo -
    u[bin]``, limits ``low[r]``, ``high[r]`` (:func:`_row`, not split at most ``enough[r]``).
    Writes each row's bound to ``gain``, its vertex to ``x`` over all apps (zeros on entry;
    the anchor and partner at 1), and to ``fill`` ``1 +`` the anchored size of the vertex's
    apps taken whole and of those taken at all, plus the anchor's and partner's ``own[r]``,
    and to ``paid`` and ``shares`` the sums of ``profit_of`` and of ``share`` over the vertex
    (weighed by its coefficients), the apps it takes whole and those it takes at all, anchor
    and partner included (the caller's arrays, so that threads write parts of them in
    place)."""
    rows, n = bins.size, rates.size
    state, capped, key = np.empty((nodes + 1, n), np.int8), np.empty(n), np.empty(n)
    items, size, profit, part = np.empty(n, np.int64), np.empty(n), np.empty(n), np.empty(n)
    m, v, j, q, k = 0, -1, -1, -1, -1
    most = partners.shape[1]
    for r in range(rows):
        if bins[r] != v or anchors[r] != j or places[r] != q:  # (rows of one bin, anchor and partner share items)
            v, j, q, m = bins[r], anchors[r], places[r], 0
            k = partners[j, q] if q < most else -1
            second, start2 = (rates[k], slo[k] - u[v]) if k >= 0 else (0.0, 0.0)
            for a in range(n):
                if served[v, a] and rank[a] > rank[j]:
                    out = False
                    for p in range(min(q + 1, most)):
                        out = out or partners[j, p] == a
                    if not out:
                        items[m] = a
                        size[m] = anchored_size(rates[a], slo[a] - u[v], rates[j], slo[j] - u[v], second, start2)
                        m += 1
        for i in range(m):
            profit[i] = profit_of[items[i]] - share[items[i]] * unit[r]
        gain[r] = _row(profit[:m], size[:m], low[r], high[r], enough[r], nodes, part[:m], state, capped, key)
        fill[r, 0] = 1.0 + own[r]
        fill[r, 1] = 1.0 + own[r]
        mine, theirs = profit_of[j] + (profit_of[k] if k >= 0 else 0.0), share[j] + (share[k] if k >= 0 else 0.0)
        paid[r, :] = mine
        shares[r, :] = theirs
        for i in range(m):
            a = items[i]
            x[r, a] = part[i]
            paid[r, 0] += part[i] * profit_of[a]
            shares[r, 0] += part[i] * share[a]
            if part[i] > 1 - 1e-9:
                fill[r, 0] += size[i]
                paid[r, 1] += profit_of[a]
                shares[r, 1] += share[a]
            if part[i] > 1e-9:
                fill[r, 1] += size[i]
                paid[r, 2] += profit_of[a]
                shares[r, 2] += share[a]
        x[r, j] = 1.0
        if k >= 0:
            x[r, k] = 1.0


@compiled()
def open_rows(duals, share, unit, where, first, tolerance, gains, rows, caps):
    """One bin's rows worth pricing at ``duals``: per level ``l`` (``unit[l]``), anchor ``t``
    (the bin's apps in anchor order: ``duals``, ``share``) and place ``q`` of a partner
    (``where[t, q]``: its position among the apps, or their number where the bin serves none
    there; the last place: none), the row's cap: the anchor's and partner's profits and every
    positive profit after the anchor but the candidates up to the partner (profit ``y_a -
    share_a unit[l]``). A row fits from level ``first[t, q]`` on. Writes the rows whose cap
    passes ``tolerance`` to the caller's arrays (a kernel that returns arrays has numba call
    Python to make them), as ``(level, anchor, place, rank)`` to the columns of ``rows`` (the
    rank: its place among the rows of its level) and their caps to ``caps``, by level and then
    by falling cap (stable), and per level to ``gains``
    the largest cap of the rows that fit but do not pass (at least 0); returns their number.
    Where they are more than ``caps`` holds (empty ``caps``: it only counts them), what it
    wrote is not in that order, and the caller calls it again with arrays that hold them."""
    levels, m, most = unit.size, duals.size, where.shape[1]
    profit, after, cap = np.empty(m + 1), np.empty(m), np.empty((m, most + 1))
    gains[:] = 0.0
    room = caps.size
    count = 0
    for lv in range(levels):
        start = count
        profit[m] = 0.0
        total = 0.0
        for a in range(m - 1, -1, -1):
            profit[a] = duals[a] - share[a] * unit[lv]
            after[a] = total
            total += max(profit[a], 0.0)
        for t in range(m):
            base, ahead = profit[t] + after[t], 0.0
            for q in range(most):
                theirs = profit[where[t, q]]
                ahead += max(theirs, 0.0)
                cap[t, q] = base - ahead + theirs
            cap[t, most] = base - ahead
            for q in range(most + 1):
                if lv >= first[t, q]:
                    if cap[t, q] > tolerance:
                        if count < room:
                            rows[0, count], rows[1, count], rows[2, count], caps[count] = lv, t, q, cap[t, q]
                        count += 1
                    else:
                        gains[lv] = max(gains[lv], cap[t, q])
        if count <= room and count > start + 1:
            order = np.argsort(-caps[start:count], kind="mergesort")
            for i in range(1, 3):
                rows[i, start:count] = rows[i, start:count][order]
            caps[start:count] = caps[start:count][order]
        if count <= room:
            for i in range(start, count):
                rows[3, i] = i - start
    return count
