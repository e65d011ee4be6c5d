"""The Lagrangian bound at the best round's duals scaled down, searched over the scale in the
time generation leaves (``formulations/column_generation.md``, "Scaled duals").

Where generation stops at its deadline, columns still price out at its best duals ``y``, and
the penalty lets a plan hold many of them: most of the bound's gap to the LP. At ``y / θ``
(``θ > 1``; side and count duals too, so they keep their signs) every column's profit falls
by ``(1 - 1/θ)`` times its duals, about its cost: the large groups that price out at ``y``
by a small share of their cost stop pricing out, and the penalty falls far faster than
``y·b / θ`` (Farley's bound is the point where nothing prices out). Any duals give a
Lagrangian bound, so every point tried gives one; the scale is searched by golden section,
each point priced exactly until its share of the time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from .generation import Generated, batch_one, lagrangian_base, packed_bound, right_sides
from .options import late
from .pricing import Pricer

#: ``θ - 1`` is searched in ``[0, FIRST]`` and, while the search ends at the top of its
#: bracket, in ``[top, 2 top]``, up to :data:`WIDEST` (the best scales at n = 60-150 were
#: 0.002-0.004; a first bracket of 0.005 put the first points where pricing is slow, nearer
#: ``θ = 1``).
FIRST, WIDEST = 0.01, 0.5
#: The search stops once its bracket of ``θ - 1`` is this narrow.
NARROWEST = 1e-4
#: Share of the time left one point's pricing may take (the first points, nearest ``θ = 1``,
#: are the slowest: at n = 150 random VGG19, over 20 s at ``θ = 1``, 1.7 s at 1.004).
POINT_SHARE = 0.5
_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def scaled_bound(pricer: Pricer, root: Generated, deadline: float) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """The best Lagrangian bound found at ``root``'s best duals scaled by ``1/θ`` (scaled
    units, as ``root.bound``), and the duals, side charges and pricing bounds it was proven
    at; ``root``'s own when no scale gives more by ``deadline``.

    Examples
    --------
    >>> import time
    >>> from harmonybatch_mp.solvers import Problem, as_instance
    >>> from harmonybatch_mp.solvers.column_master import Master
    >>> from harmonybatch_mp.solvers.generation import generate
    >>> problem = Problem(*as_instance("0.3:2,0.5:5,0.8:10,1.0:20", "VGG19"), cost_model="full-batch")
    >>> scale = 1 / problem.lower_bound()
    >>> master, pricer = Master(problem, scale), Pricer(problem, scale)
    >>> for i in range(problem.n):
    ...     _ = master.add_group(1 << i)
    >>> root = generate(master, pricer, None)  # converged: nothing prices out at its duals
    >>> bound, duals, charge, upper = scaled_bound(pricer, root, time.perf_counter() + 5)
    >>> bound == root.bound and duals is root.duals  # so scaling them only lowers y.b
    True
    """
    best = (root.bound, root.duals, root.charge, root.upper)
    if root.upper is None or late(deadline):
        return best
    problem = pricer.problem
    n, most = problem.n, problem.most_groups
    rhs, alone = right_sides(problem), batch_one(pricer)

    def base(theta: float) -> float:
        return lagrangian_base(root.duals / theta, rhs, alone)

    def bound(theta: float) -> float:
        nonlocal best
        if base(theta) <= best[0]:  # the penalty is >= 0: this scale cannot give more
            return base(theta)
        if late(deadline):
            return -np.inf
        now = time.perf_counter()
        point, charge = root.duals / theta, root.charge / theta
        upper, _ = pricer.price(point[:n], charge, budget=None, enough=None,
                                deadline=now + POINT_SHARE * (deadline - now))
        penalty = pricer.penalty(upper, most, point[:n], charge)
        value = packed_bound(pricer, (base(theta) - penalty, point, charge, upper, penalty), most, deadline)
        if value > best[0]:
            best = (value, point, charge, upper)
        return value

    search_scale(bound, deadline)
    return best


def search_scale(bound: Callable[[float], float], deadline: float | None) -> None:
    """Golden section over ``θ - 1`` in ``[0, FIRST]`` of ``bound(θ)``, the bound a caller
    proves at its duals scaled by ``1/θ`` (and keeps, if the best), and while the search ends
    at the top of its bracket, over ``[top, 2 top]`` up to :data:`WIDEST`; until ``deadline``,
    or the bracket is :data:`NARROWEST`. Every point is a bound, so the curve need not be
    unimodal for what is kept to hold.

    >>> tried = []
    >>> search_scale(lambda theta: tried.append(theta) or -(theta - 1.004) ** 2, None)
    >>> bool(abs(max(tried, key=lambda t: -(t - 1.004) ** 2) - 1.004) < 1e-4)
    True
    """
    low, high = 0.0, FIRST  # the bracket, and in it the inner points left < right
    while True:
        top = high
        left, right = high - _GOLDEN * (high - low), low + _GOLDEN * (high - low)
        f_left, f_right = bound(1.0 + left), bound(1.0 + right)
        while high - low > NARROWEST and not late(deadline):
            if f_left >= f_right:
                high, right, f_right = right, left, f_left
                left = high - _GOLDEN * (high - low)
                f_left = bound(1.0 + left)
            else:
                low, left, f_left = left, right, f_right
                right = low + _GOLDEN * (high - low)
                f_right = bound(1.0 + right)
        if late(deadline) or high < top or top >= WIDEST:
            return
        low, high = top, 2.0 * top  # the bounds rose to the bracket's top: look above it
