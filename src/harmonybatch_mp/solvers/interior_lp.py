"""The masters' LPs by an interior point, as column generation asks for them
(``formulations/column_generation.md``, "The master LP by a dense interior point").

A master has a row per app (and the side and count rows) and thousands of columns: n = 100
apps, 3,000 columns at the root of ``colgen``. HiGHS's interior point (IPX) took 250-400 ms on
those LPs, 70% of generation. Their dual has a variable per row and an inequality per column,
``max b·y  s.t.  A'y <= c`` (``y_r <= 0`` on the ``<=`` rows), and PIQP's dense interior point
solves it through a matrix of one row and column per row of the master: 30-80 ms. Its solution
is the LP's row duals, and the multipliers of its inequalities are the column values. Where
that matrix would be large, or the time left is short, or PIQP does not report the optimum,
HiGHS's interior point solves the LP (:func:`.highs.run_highs_lp`), as it did before.

Neither is faster on every master: on masters of n = 100 under a cap on GPU functions HiGHS
took 4-30 ms where PIQP took 30-60 ms (2,700 columns), 0.24 s against 0.88 s (15,900 columns),
while on the unconstrained master of the same apps PIQP took 0.03 s and HiGHS 0.13 s (1,400
columns). Under a deadline, a master with counting side rows has a :class:`Chooser` time both
on its own LPs and take the faster; the others keep PIQP, whose duals HiGHS's tries would
change (``formulations/column_generation.md``, "Choosing the interior point by its times").
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from .highs import master_entries, run_highs_lp

#: Most work per interior-point iteration (columns times rows squared, the products forming
#: the dense matrix) and most entries of that matrix (8 bytes each) for which PIQP is used. On
#: this 2-core machine PIQP took 0.03-0.18 s on the root masters of n = 100-200 (3,000-3,900
#: columns; HiGHS 0.25-0.78 s), 0.34 s on 10,000 columns of 150 rows (HiGHS 0.52 s), and as
#: long as HiGHS at about this work (0.78 s on 8,000 columns of 300 rows).
DENSE_WORK, DENSE_ENTRIES = 4e8, 4e6
#: Seconds an iteration is allowed per unit of work (2.5 times the most measured, 6e-11 s on
#: 20,000 columns of 150 rows), and at least.
SECONDS_PER_WORK, SECONDS_PER_ITERATION = 1.5e-10, 1e-4
#: Iterations PIQP may take (it took 20-40 on the masters measured); with a deadline, as many as
#: the time left allows at the rate above, and HiGHS where that is fewer than
#: :data:`FEWEST_ITERATIONS`.
MOST_ITERATIONS, FEWEST_ITERATIONS = 100, 60
#: A :class:`Chooser` tries the backend it is not using on the master's LP this many calls after
#: the start or a switch, then :data:`BACKOFF` times as many calls after each try that lost; a
#: try wins where it took less than ``1 / MARGIN`` of the time per column of the backend in use
#: (where either was faster, it was 4-6 times faster: a try that wins by less is as likely the
#: LP's own luck, and each switch costs the slower backend's time on the next try).
FIRST_TRY, BACKOFF, MARGIN = 2, 4, 2.0
#: PIQP's options: absolute tolerances of 1e-9 and the duality gap checked (its defaults: 1e-8,
#: and 1e-9 relative to the data's size, which the elastic columns' cost of 1,000 makes large).
#: With the defaults a hypothesis draw of ``test_interior_lp.py`` had a column of cost 1 pricing
#: out by 2.5e-6, more than pricing's tolerance; with relative tolerances, a node's bound passed
#: the optimum under its counts by 2e-9 of it. On the masters of n = 30 and 100 measured these
#: took no more time.
SETTINGS = {"verbose": False, "eps_abs": 1e-9, "eps_rel": 0.0, "check_duality_gap": True,
            "eps_duality_gap_abs": 1e-9, "eps_duality_gap_rel": 0.0}


def iterations_allowed(columns: int, rows: int, deadline: float | None) -> int:
    """How many iterations PIQP may take on a master of ``columns`` and ``rows`` by ``deadline``
    (a ``time.perf_counter()`` reading): 0 where HiGHS should solve it (too large a dense
    matrix, or too little time left).

    >>> iterations_allowed(3_000, 100, None), iterations_allowed(50_000, 100, None)
    (100, 0)
    >>> iterations_allowed(500_000, 10, None)  # few rows, but a matrix of 40 MB
    0
    >>> iterations_allowed(3_000, 100, time.perf_counter() + 0.01), iterations_allowed(3_000, 100, float("inf"))
    (0, 100)
    """
    work = float(columns) * rows * rows
    if columns == 0 or work > DENSE_WORK or columns * rows > DENSE_ENTRIES:
        return 0
    if deadline is None:
        return MOST_ITERATIONS
    allowed = (deadline - time.perf_counter()) / (SECONDS_PER_WORK * work + SECONDS_PER_ITERATION)
    return int(min(MOST_ITERATIONS, allowed)) if allowed >= FEWEST_ITERATIONS else 0


class Chooser:
    """Which interior point solves the next LP of one master, under a deadline: the one of
    less time per column on its latest LP of this master, by :data:`MARGIN`. It starts with
    PIQP and tries the other :data:`FIRST_TRY` calls after the start or a switch, then at
    intervals :data:`BACKOFF` times longer while the other loses (each try a solve of the LP
    all the same, its duals used). Without a deadline the choice is by size alone
    (:func:`iterations_allowed`), so that a call without a time limit takes one path. One
    master's, not shared between threads.

    >>> chooser = Chooser()
    >>> chooser.pick(), chooser.record("piqp", 0.06, 3_000)
    ('piqp', None)
    >>> chooser.pick(), chooser.record("highs", 0.02, 3_000)  # the try wins
    ('highs', None)
    >>> [chooser.pick() for _ in range(2)], chooser.using
    (['highs', 'piqp'], 'highs')
    """

    def __init__(self) -> None:
        self.using, self.wait, self.calls = "piqp", FIRST_TRY, 0
        self.next_try = FIRST_TRY
        self.rate: dict[str, float] = {}

    def pick(self) -> str:
        """The backend for the next LP (``"piqp"`` or ``"highs"``)."""
        self.calls += 1
        if self.calls >= self.next_try:
            return _other(self.using)
        return self.using

    def record(self, backend: str, seconds: float, columns: int) -> None:
        """The time ``backend`` took on an LP of ``columns``; after a try, switch to it where it
        took less than ``1 / MARGIN`` per column of what the backend in use took on its latest
        LP, else wait :data:`BACKOFF` times as long before the next try."""
        self.rate[backend] = seconds / max(columns, 1)
        if backend == self.using:
            return
        if MARGIN * self.rate[backend] < self.rate.get(self.using, np.inf):
            self.using, self.wait = backend, FIRST_TRY
        else:
            self.wait *= BACKOFF
        self.next_try = self.calls + self.wait


def _other(backend: str) -> str:
    return "highs" if backend == "piqp" else "piqp"


def run_interior_lp(cost: np.ndarray, columns: Sequence[Sequence[int]], rows: Sequence[tuple[np.ndarray, float]],
                    n_cover: int, *, deadline: float | None = None,
                    coefficients: Sequence[Sequence[float]] | None = None,
                    presolve: bool = True, chooser: Chooser | None = None) -> tuple[float, np.ndarray, np.ndarray] | None:
    """The LP of :func:`.highs.run_highs_lp` (equality cover rows, then the ``<=`` rows,
    ``x >= 0``) by an interior point, without crossover: ``(objective, row duals, x)``, or None
    when it has no optimum or ``deadline`` passes. Reduced costs are ``c_j - sum_i a_ij y_i``.
    PIQP's dense interior point on the LP's dual where :func:`iterations_allowed` allows it;
    HiGHS's otherwise, or where PIQP stops short of its optimum (``presolve`` is HiGHS's).
    PIQP holds the GIL while it solves (up to about 0.7 s at :data:`DENSE_WORK`, 0.2 s on the
    masters of n = 200 measured). With a ``chooser`` and a ``deadline``, the backend is the
    chooser's where PIQP is allowed, and its time is recorded.

    >>> value, duals, x = run_interior_lp(np.array([2.0, 2.0, 3.0]), [[0], [1], [0, 1]], [], 2)
    >>> round(value, 6), [round(float(v), 6) for v in x]
    (3.0, [0.0, 0.0, 1.0])
    """
    cost = np.asarray(cost, dtype=float)
    iterations = iterations_allowed(len(columns), n_cover + len(rows), deadline)
    timed = chooser is not None and deadline is not None and iterations > 0
    backend = chooser.pick() if timed else "piqp"
    start = time.perf_counter()
    if iterations and backend == "piqp":
        solved = _dense(cost, columns, rows, n_cover, coefficients, iterations)
        if solved is not None:
            if timed:
                chooser.record("piqp", time.perf_counter() - start, len(columns))
            return solved
    solved = run_highs_lp(cost, columns, rows, n_cover, deadline=deadline, interior=True, coefficients=coefficients,
                          presolve=presolve)
    if timed and solved is not None:  # (after PIQP stopped short: its time too, as HiGHS's)
        chooser.record("highs", time.perf_counter() - start, len(columns))
    return solved


def _dense(cost: np.ndarray, columns: Sequence[Sequence[int]], rows: Sequence[tuple[np.ndarray, float]], n_cover: int,
           coefficients: Sequence[Sequence[float]] | None, iterations: int) -> tuple[float, np.ndarray, np.ndarray] | None:
    """PIQP's dense solve of the LP's dual, ``min -b·y  s.t.  A'y <= c, y_r <= 0``, or None unless
    it reports the optimum. Its tolerances (:data:`SETTINGS`) are absolute, in the masters' units,
    where a plan costs about 1 (an elastic column 1,000)."""
    import piqp

    m, k = len(columns), len(rows)
    if not np.isfinite(cost).all():
        return None
    g = np.zeros((m, n_cover + k), order="F")  # A', a row per column of the master
    column, row, value = master_entries(columns, rows, n_cover, coefficients)
    g[column, row] = value
    rhs = np.concatenate([np.ones(n_cover), [ub for _, ub in rows]])
    solver = piqp.DenseSolver()
    for option, value in SETTINGS.items():
        setattr(solver.settings, option, value)
    solver.settings.max_iter = iterations
    solver.setup(np.zeros((n_cover + k, n_cover + k), order="F"), -rhs, None, None, g, np.full(m, -np.inf),
                 cost, None, np.concatenate([np.full(n_cover, np.inf), np.zeros(k)]))
    if solver.solve() != piqp.PIQP_SOLVED:
        return None
    # (copies: the result's arrays are read-only views of the solver's memory)
    duals, x = np.array(solver.result.x, dtype=float), np.maximum(np.array(solver.result.z_u, dtype=float), 0.0)
    duals[n_cover:] = np.minimum(duals[n_cover:], 0.0)  # (within its tolerance of its bound 0)
    if not (np.isfinite(duals).all() and np.isfinite(x).all()):
        return None
    return float(cost @ x), duals, x
