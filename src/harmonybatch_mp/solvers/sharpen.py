"""A sharper bound from the best round of generation, in the time generation leaves
(``formulations/column_generation.md``, "Scaled duals" and "Sharpening the bound").

Where generation stops at its deadline, its bound is the Lagrangian of its best round, whose
penalty lets a plan hold many of the columns that still price out, and often rests on a few
configurations whose searches ran out of nodes: their pricing bounds are what the bisection
of :meth:`.GroupSearch.best` proved, not their maxima. First the best round's duals are
scaled down (:func:`.scaled_duals.scaled_bound`); then, at the best duals found, which are
fixed, so the work adds up, passes over the configurations that carry the penalty
(:meth:`.Pricer.blame`), largest share first, search each again with ten times the nodes of
the pass before, from the best profit found so far up to its bound. Where those end early (the
bound at the best duals proven exactly), the last LP's duals are scaled down too.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from .branch_bound import TOLERANCE
from .generation import Generated, batch_one, lagrangian_base, packed_bound, right_sides
from .options import late
from .pricing import Pricer
from .scaled_duals import scaled_bound

#: Node budget per search of the first pass; each pass multiplies it by :data:`GROWTH`.
FIRST_BUDGET, GROWTH = 200_000, 10
#: Share of the time left that the searches may take; the rest, and at least
#: :data:`PACKING_SECONDS`, is for the packing LP (44 ms at n = 60 VideoMAE under a GPU cap).
SEARCH_SHARE, PACKING_SECONDS = 0.95, 0.1
#: Share of the searches' time for the search over scaled duals; the rest proves the pricing
#: bounds at the best duals it found.
SCALING_SHARE = 0.8
#: Seconds per app left after the searches for which the packing LP runs whatever the closed
#: form's penalty (generation's rounds run it only below ``generation.PACKING_BELOW``): at
#: n = 200 it took 0.04 s alone and 0.13-0.17 s as the searches' threads ended, and cut the
#: penalty from 0.148 to 0.087 (formulations/column_generation.md, "Sharpening the bound").
PACKING_PER_APP = 1e-3


def sharpen(pricer: Pricer, root: Generated, deadline: float) -> float:
    """The bound of ``root``'s best round (scaled units) raised until ``deadline``: by the
    best of its duals scaled down (:func:`.scaled_duals.scaled_bound`), then with the pricing
    bounds at those duals proven again (:func:`sharpened`), less the time of the packing LP
    after them (with less than that left, ``root.bound``; with :data:`PACKING_PER_APP` a
    problem's app left, the LP runs however large the closed form's penalty); then, in the time those searches
    leave, by the last LP's duals scaled down (``root.last``). At least ``root.bound``: each
    point tried gives a bound, and each pricing bound proven again only falls, and the penalty
    with it."""
    now = time.perf_counter()
    if root.upper is None or deadline - now < PACKING_SECONDS:
        return root.bound
    problem = pricer.problem
    n, most = problem.n, problem.most_groups
    searches = min(now + SEARCH_SHARE * (deadline - now), deadline - PACKING_SECONDS)
    bound, duals, charge, upper = scaled_bound(pricer, root, now + SCALING_SHARE * (searches - now))
    upper = sharpened(pricer, duals[:n], charge, upper, searches)
    penalty = pricer.penalty(upper, most, duals[:n], charge)
    base = lagrangian_base(duals, right_sides(problem), batch_one(pricer))
    below = np.inf if deadline - time.perf_counter() >= PACKING_PER_APP * n else None
    bound = max(bound, packed_bound(pricer, (base - penalty, duals, charge, upper, penalty), most, deadline, below))
    if root.last is None or late(searches):
        return bound
    # what the searches leave: the last LP's duals scaled down too (formulations/column_generation.md,
    # "The last LP's duals, in the time left")
    again = replace(root, bound=bound, duals=root.last[0], charge=root.last[1])
    return max(bound, scaled_bound(pricer, again, searches)[0])


def sharpened(pricer: Pricer, duals: np.ndarray, charge: np.ndarray, upper: np.ndarray,
              deadline: float | None) -> np.ndarray:
    """``upper``, bounds on each configuration's best profit at ``duals`` and ``charge``
    (:meth:`.Pricer.price`), proven again until ``deadline`` or until every configuration that
    carries the penalty has its exact maximum (the best profit found meets its bound; without a
    deadline that is where it ends).

    Examples
    --------
    >>> from harmonybatch_mp.solvers import Problem, as_instance
    >>> problem = Problem(*as_instance("0.3:2,0.5:5,0.8:10,1.0:20", "VGG19"), cost_model="full-batch")
    >>> pricer = Pricer(problem, 1 / problem.lower_bound())
    >>> duals, charge = 1.5 * pricer.alone, np.zeros(len(pricer.configs))
    >>> loose, _ = pricer.price(duals, charge, budget=1, bisections=1)  # searches of one node
    >>> exact, _ = pricer.price(duals, charge, budget=None, enough=None)
    >>> sharp = sharpened(pricer, duals, charge, loose, None)
    >>> bool((exact - 1e-6 <= sharp).all() and (sharp <= loose).all() and (sharp < loose).any())
    True
    """
    upper = np.asarray(upper, dtype=float).copy()
    known = np.zeros_like(upper)  # per configuration, the best profit found (0: none)
    exact = upper <= TOLERANCE
    budget = FIRST_BUDGET
    while not late(deadline):
        blame = np.where(exact, 0.0, pricer.blame(upper, duals, charge))
        todo = np.flatnonzero(blame > TOLERANCE)
        if todo.size == 0:
            break
        for k in todo[np.argsort(-blame[todo], kind="stable")].tolist():
            if late(deadline):
                break
            groups, high = pricer.search(k, duals).best(known[k] + charge[k], upper[k] + charge[k], budget, deadline)
            known[k] = max([known[k]] + [profit - charge[k] for _, profit in groups])
            upper[k] = min(upper[k], max(known[k], high - charge[k]))  # (the same group may sum a hair above)
            exact[k] = upper[k] - known[k] <= 2 * TOLERANCE
        budget *= GROWTH
    return upper
