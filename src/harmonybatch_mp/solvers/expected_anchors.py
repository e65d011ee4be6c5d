"""The anchored sizes that bound a group's mean batch under the expected-batch model, and the
anchors' partners (``formulations/column_generation.md``, "Under the expected-batch model",
and "Partners"), for the relaxed columns of :mod:`.expected_relaxed`.

A group ``X`` on a configuration whose timeouts are ``tau_a`` has ``E[K] <= 1 + A_j(X)`` for
each member ``j``, ``A_j(X) = sum_{a in X} z_j(a)``, ``z_j(a) = r_a (min(tau_a, tau_j) + (1 -
e^{-r_j (tau_a - tau_j)^+}) / r_j)``: past ``tau_j`` an arrival of ``j`` (rate ``r_j``) closes
the buffer. With a partner ``k`` of the anchor ``j`` both decay terms count: ``A_jk(X) = sum_a
z_jk(a)``, ``z_jk(a) = r_a int_0^{tau_a} e^{-r_j (s - tau_j)^+ - r_k (s - tau_k)^+} ds``.
"""

from __future__ import annotations

import numpy as np

#: Each anchor's candidate partners (:func:`partners`): the apps after it whose decay cuts an
#: unbounded wait the most.
PARTNERS = 3
#: Most entries (groups x apps) of one step of :func:`partners` and of
#: :meth:`.expected_relaxed.Relaxed.weights`.
WEIGHED = 1 << 21


def anchored_sizes(rates: np.ndarray, tau: np.ndarray, anchors: np.ndarray | None = None,
                   partners: np.ndarray | None = None) -> np.ndarray:
    """``z[i, a]``: app ``a``'s share of ``A_jk`` (see the module docstring) for the anchor
    ``j = anchors[i]`` and partner ``k = partners[i]`` (-1 or absent: none) and the rates
    and timeouts of row ``i`` (``rates`` one row for all, or one per row): ``r_a
    int_0^{tau_a} e^{-r_j (s - tau_j)^+ - r_k (s - tau_k)^+} ds``; without a partner ``r_a
    (min(tau_a, tau_j) + (1 - e^{-r_j (tau_a - tau_j)^+}) / r_j)``, so ``z[i, j] = r_j
    tau_j``, and an app of no larger timeout adds ``r_a tau_a``. With one row of timeouts and
    no anchors: every app is the anchor of a row, without a partner.

    >>> z = anchored_sizes(np.array([1.0, 2.0]), np.array([0.5, 3.0]))
    >>> bool(np.isclose(z[0, 1], 2.0 * (0.5 + (1 - np.exp(-2.5)))))   # app 0 cuts app 1's wait
    True
    >>> float(z[1, 1])
    6.0
    >>> w = anchored_sizes(np.array([1.0, 2.0, 4.0]), np.array([[0.5, 1.0, 3.0]]), np.array([0]), np.array([1]))
    >>> bool(w[0, 2] < anchored_sizes(np.array([1.0, 2.0, 4.0]), np.array([[0.5, 1.0, 3.0]]), np.array([0]))[0, 2])
    True
    """
    from .relaxed_kernel import anchored_size

    if anchors is None:
        anchors, tau = np.arange(rates.size), np.broadcast_to(tau, (rates.size, rates.size))
    rates = np.broadcast_to(rates, tau.shape)
    rows = np.arange(anchors.size)
    first = rates[rows, anchors][:, None]
    start = tau[rows, anchors][:, None]
    if partners is None:
        return anchored_size(rates, tau, first, start, 0.0, 0.0)
    some = partners >= 0
    second = np.where(some, rates[rows, np.maximum(partners, 0)], 0.0)[:, None]
    start2 = np.where(some, tau[rows, np.maximum(partners, 0)], 0.0)[:, None]
    return anchored_size(rates, tau, first, start, second, start2)


def partners(rates: np.ndarray, slo: np.ndarray, rank: np.ndarray, most: int = PARTNERS) -> np.ndarray:
    """``k[j]``: the candidate partners of each anchor ``j``, best first (-1 where fewer): of
    the apps after ``j`` in the anchor order (``rank``), the ``most`` whose decay added to
    ``j``'s shortens an unbounded wait the most, ``int e^{-r_j (s - s_j)^+} (1 - e^{-r_k (s -
    s_k)^+}) ds`` (the same for every configuration that serves both: shifting both timeouts
    by ``u`` does not change it). A group's partner is its first candidate, in this order.

    >>> partners(np.array([1.0, 5.0, 0.1]), np.array([0.5, 0.6, 0.7]), np.array([0, 1, 2]), most=2).tolist()
    [[1, 2], [2, -1], [-1, -1]]
    """
    from .relaxed_kernel import anchored_size

    n = rates.size
    out = np.full((n, most), -1, dtype=np.int64)
    if most == 0:
        return out
    unbounded = 1e9 + 2 * float(slo.max(initial=0.0))
    step = max(1, WEIGHED // max(n, 1))  # anchors at a time
    for lo in range(0, n, step):
        j = np.arange(lo, min(n, lo + step))
        alone = slo[j] + 1.0 / rates[j]
        cut = alone[:, None] - anchored_size(1.0, unbounded, rates[j, None], slo[j, None], rates[None, :], slo[None, :])
        cut = np.where(rank[None, :] > rank[j, None], cut, -np.inf)
        best = np.argsort(-cut, axis=1, kind="stable")[:, :most]
        ok = np.take_along_axis(cut, best, axis=1) > 0
        out[j, :best.shape[1]] = np.where(ok, best, -1)
    return out
