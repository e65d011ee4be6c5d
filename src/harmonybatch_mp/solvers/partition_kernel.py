"""The compiled depth-first search of :mod:`.partition_search` (numba): the cheapest exact
cover of the apps by given columns, pruned by reduced costs. Imported on first use."""

from __future__ import annotations

import numpy as np

from .kernels import compiled

#: Search status: cut short by the step limit (resumable), or ended.
RUNNING, DONE = 0, 1


@compiled()
def search(words, rc, col_share, floor, ptr, cols, order, where, limit, tol, max_steps,
           state, app, pos, acc, low, chosen, covered, best):
    """The search from ``state`` (depth, steps, best depth, status) until it ends or has
    taken ``max_steps`` steps (a node, or a column looked at). Depth ``d`` covers app
    ``app[d]`` (the first uncovered in ``order``; ``where[a]`` is app ``a``'s place in it)
    with its columns ``cols[ptr[a]:ptr[a+1]]`` (by reduced cost, ascending) from ``pos[d]``
    on; ``acc[d]`` is the reduced cost of the columns above, ``low[d]`` a lower bound on what
    the apps still uncovered add (their shares: ``col_share[j]`` is the shares of column
    ``j``'s apps; ``floor``, the sum of the negative ones, bounds every rest). A cover whose
    reduced cost is at most ``limit[0]`` becomes ``best`` (its columns, ``state[2]`` of
    them) and lowers ``limit[0]`` below its own by ``tol``."""
    n_words = covered.size
    d, steps = state[0], state[1]
    status = RUNNING
    while steps < max_steps:
        a = app[d]
        p = pos[d]
        end = ptr[a + 1]
        j = -1
        while p < end:
            c = cols[p]
            p += 1
            steps += 1
            if acc[d] + rc[c] + floor > limit[0]:
                p = end  # the rest cost more
                break
            if acc[d] + rc[c] + low[d] - col_share[c] > limit[0]:
                continue
            clash = False
            for w in range(n_words):
                if covered[w] & words[c, w]:
                    clash = True
                    break
            if not clash:
                j = c
                break
        pos[d] = p
        if j < 0:  # no column left here: back up
            if d == 0:
                status = DONE
                break
            d -= 1
            for w in range(n_words):
                covered[w] ^= words[chosen[d], w]
            continue
        steps += 1
        chosen[d] = j
        for w in range(n_words):
            covered[w] ^= words[j, w]
        k = where[a] + 1
        while k < order.size and covered[order[k] >> 6] >> np.uint64(order[k] & 63) & np.uint64(1):
            k += 1
        if k == order.size:  # every app covered: a cheaper plan
            best[:d + 1] = chosen[:d + 1]
            state[2] = d + 1
            limit[0] = acc[d] + rc[j] - tol
            for w in range(n_words):
                covered[w] ^= words[j, w]
            continue
        d += 1
        app[d] = order[k]
        pos[d] = ptr[order[k]]
        acc[d] = acc[d - 1] + rc[j]
        low[d] = low[d - 1] - col_share[j]
    state[0], state[1], state[3] = d, steps, status
    return status
