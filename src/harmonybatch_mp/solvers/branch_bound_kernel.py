"""The compiled depth-first search of :mod:`.branch_bound` (numba): the pricing branch and
bound of column generation (``formulations/column_generation.md``, "Pricing"): about 8
million nodes per second on the 2-core machine, 48 times this same code interpreted
(``benchmarks/pricing_kernel.py``). Imported on first use."""

from __future__ import annotations

import math

import numpy as np

from .kernels import compiled

#: Search status: cut short by the node limit (resumable), ended, or stopped at the cap on groups.
RUNNING, DONE, FULL = 0, 1, 2


@compiled(nogil=True)
def suffix(x):
    """``out[i] = sum(x[i:])``, summed from the end (``out[n] = 0``)."""
    out = np.zeros(x.size + 1)
    for i in range(x.size - 1, -1, -1):
        out[i] = out[i + 1] + x[i]
    return out


@compiled(nogil=True)
def cover(profit, amount, out, order):
    """The arrays of a covering constraint ``sum amount >= deficit`` over the apps from a
    position on (:class:`.branch_bound.GroupSearch`): the positive apps bring their amount
    for free; the others (paid) cost ``-profit`` per app, taken in order of price (profit
    lost per unit of amount). Writes to the rows of ``out`` (``n + 1`` columns) the price,
    the paid amount (their first ``n`` entries), the free amount left, the paid amount left
    and the cheapest price left (0 or inf past the last app), and to ``order`` the paid apps
    by price; returns their number."""
    n = profit.size
    price, paid = out[0, :n], out[1, :n]
    price[:] = np.inf
    paid[:] = 0.0
    for i in range(n):
        if profit[i] <= 0 and amount[i] > 0:
            price[i] = -profit[i] / amount[i]
            paid[i] = amount[i]
    out[2] = suffix(np.where(profit > 0, amount, 0.0))
    out[3] = suffix(paid)
    out[4, n] = np.inf
    for i in range(n - 1, -1, -1):
        out[4, i] = min(out[4, i + 1], price[i])
    chosen = np.flatnonzero(paid > 0)
    order[:chosen.size] = chosen[np.argsort(price[chosen], kind="mergesort")]
    return chosen.size


@compiled(nogil=True)
def prepare(profit, rate, timeout, batch, leader, pairs, out, order, prefer):
    """What one configuration's search needs besides its inputs (:class:`.branch_bound.GroupSearch`),
    written to the caller's arrays (a kernel that returns arrays has numba call Python to
    make them, where a Ctrl-C left it in an undefined state): the positive profit left from
    each position (``out[0]``), the covers of ``r_X T_X`` (``out[1:6]``, ``order[0]``; amounts
    ``r t``, each at most ``b - 1``: no app need cover more than the batch) and of the rate
    (``out[6:11]``, ``order[1]``; amounts ``r``), as :func:`cover` writes them, and which
    branch of each app to try first (``prefer``): taking it where its profit is positive,
    or where the root's fractional cover uses it. Returns the two covers' numbers of paid
    apps. An app with a
    leader (``leader >= 0``; its profit pooled on the leader) brings its amounts with the
    leader's: they are the leader's in the covers, and the search counts them as forced once
    the leader is taken. Of two apps in conflict (``pairs``, disjoint, each ``i < j``) a group
    takes at most one, so while neither is decided the profit left counts only the larger of
    their positive profits."""
    fill_amount, rate_amount = rate * timeout, rate.copy()
    for f in range(profit.size):
        if leader[f] >= 0:
            fill_amount[leader[f]] += fill_amount[f]
            rate_amount[leader[f]] += rate_amount[f]
            fill_amount[f] = rate_amount[f] = 0.0
    paid_fill = cover(profit, np.minimum(fill_amount, batch - 1.0), out[1:6], order[0])
    # the branch tried first as without classes (with the class's amounts on its first app,
    # n = 30 random VideoMAE took 129 nodes of branch and price, not 77)
    if (leader >= 0).any():
        plain, plain_order = np.empty((5, profit.size + 1)), np.empty(profit.size, np.int64)
        paid_plain = cover(profit, rate * timeout, plain, plain_order)
    else:
        plain, plain_order, paid_plain = out[1:6], order[0], paid_fill
    prefer[:] = profit > 0
    deficit = (batch - 1) - plain[2, 0]
    before = 0.0
    for q in plain_order[:paid_plain]:
        if before >= deficit:
            break
        prefer[q] = True
        before += plain[1, q]
    gain = np.maximum(profit, 0.0)
    for q in range(pairs.shape[0]):
        i, j = pairs[q, 0], pairs[q, 1]
        gain[i] -= min(gain[i], gain[j])  # counted until app i is decided
    out[0] = suffix(gain)
    return paid_fill, cover(profit, rate_amount, out[6:11], order[1])


@compiled(nogil=True)
def penalty(deficit, i, spare, price, amount, paid_left, cheapest_left, order):
    """Least profit lost covering ``deficit`` with paid apps from position ``i`` on,
    fractionally (inf when they cannot); may stop at any value above ``spare``."""
    if deficit > paid_left[i] * (1 + 1e-12):
        return math.inf
    if deficit * cheapest_left[i] > spare:
        return deficit * cheapest_left[i]
    cost = 0.0
    for q in order:
        if q < i:
            continue
        if amount[q] >= deficit:
            return cost + price[q] * deficit  # the last app used in part
        cost += price[q] * amount[q]
        deficit -= amount[q]
        if cost >= spare:
            return cost
    return math.inf


@compiled(nogil=True)
def search(profit, prefer, rate, timeout, batch, conflicts, clash, pairs, leader, follow, best_left, f_free, f_price, f_amount, f_paid, f_cheap, f_order,
            r_free, r_price, r_amount, r_paid, r_cheap, r_order, improve, cap, max_nodes,
            state, T, rho, value, stage, took, level, found, values):
    """The depth-first search from ``state`` (depth, nodes, groups, status) until it ends,
    reaches ``max_nodes`` or holds ``cap`` groups (-1: no cap). Depth ``d`` is the node that
    has decided apps ``0..d-1``: fold state ``T[d], rho[d]``, profit ``value[d]``; ``stage``
    counts its children tried, ``took[d]`` whether its current child takes app ``d``.
    ``conflicts[i, j]``: apps ``i`` and ``j`` may not both be taken (``clash[j]``: app ``j``
    conflicts with some app; ``pairs``: disjoint pairs in conflict, whose second app the bound
    drops once the first is taken); ``leader[d] >= 0``: app
    ``d`` is taken exactly when app ``leader[d] < d`` is (``follow``: the apps with a leader;
    the covers hold their amounts at the leader, so those of the ones still to come whose
    leader is taken are counted as forced). The groups found go to ``found`` and ``values``;
    when they are full the search stops (``RUNNING``) before its next node, for the caller to
    grow them and resume. Returns the status."""
    n = profit.size
    need = (batch - 1) * (1 - 1e-12)  # Eq. 9: r_X T_X >= b - 1
    d, nodes, count = state[0], state[1], state[2]
    status = RUNNING
    while d >= 0:
        if stage[d] == 0:
            if nodes >= max_nodes or count == found.shape[0]:  # (full: the caller grows the arrays)
                break
            nodes += 1
            threshold = level[0]
            reach = value[d] + best_left[d]
            for q in range(pairs.shape[0]):  # the second of a pair whose first is taken brings nothing
                if pairs[q, 0] < d <= pairs[q, 1] and took[pairs[q, 0]]:
                    reach -= max(profit[pairs[q, 1]], 0.0)
            if reach <= threshold + 1e-6:
                d -= 1
                continue
            spare = reach - threshold - 1e-6
            forced_fill = forced_rate = 0.0  # apps still to come that a taken leader brings
            for f in follow:
                if f >= d and leader[f] < d and took[leader[f]]:
                    forced_fill += rate[f] * timeout[f]
                    forced_rate += rate[f]
            deficit = need - rho[d] * T[d] - f_free[d] - forced_fill  # r_X T_X <= current + sum of r t taken later
            if deficit > 0 and penalty(deficit, d, spare, f_price, f_amount, f_paid, f_cheap, f_order) >= spare:
                d -= 1
                continue
            if rho[d] > 0:  # r_X T_X <= r_X (T + 1/rho) - 1: the group needs rate b / (T + 1/rho)
                deficit = (need + 1) / (T[d] + 1 / rho[d]) - rho[d] - r_free[d] - forced_rate
                if deficit > 0 and penalty(deficit, d, spare, r_price, r_amount, r_paid, r_cheap, r_order) >= spare:
                    d -= 1
                    continue
            if d == n:
                if rho[d] > 0 and (batch == 1 or batch <= math.floor(rho[d] * T[d]) + 1):
                    found[count, :] = took[:n]
                    values[count] = value[d]
                    count += 1
                    if improve:
                        level[0] = value[d]
                    if cap >= 0 and count >= cap:
                        status = FULL
                        d -= 1
                        break
                d -= 1
                continue
        if stage[d] == 2:
            stage[d] = 0
            d -= 1
            continue
        # child number stage[d] of node d: the likelier branch first
        take = prefer[d] == (stage[d] == 0)
        stage[d] += 1
        if leader[d] >= 0 and take != took[leader[d]]:
            continue
        if take and clash[d]:
            for j in range(d):
                if took[j] and conflicts[j, d]:
                    take = False
                    break
            if not take:
                continue
        took[d] = take
        if not take:
            T[d + 1], rho[d + 1] = T[d], rho[d]
            value[d + 1] = value[d]
        else:
            t, r = timeout[d], rate[d]
            if rho[d] == 0:
                T[d + 1], rho[d + 1] = t, r
            else:  # the fold of Eq. 5 (batching.fold_timeout)
                T[d + 1] = T[d] + (r / (rho[d] + r)) * (-math.expm1(-rho[d] * (t - T[d]))) / rho[d]
                rho[d + 1] = rho[d] + r
            value[d + 1] = value[d] + profit[d]
        d += 1
        stage[d] = 0
    if d < 0 and status == RUNNING:
        status = DONE
    state[0], state[1], state[2], state[3] = d, nodes, count, status
    return status
