"""The masters' LPs by PIQP's dense interior point (``solvers/interior_lp.py``): the optimum
HiGHS's simplex finds, duals that prove it, and HiGHS where PIQP is not used."""

from __future__ import annotations

import threading
import time
from unittest import mock

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from harmonybatch_mp.solvers import interior_lp
from harmonybatch_mp.solvers.highs import run_highs_lp
from harmonybatch_mp.solvers.interior_lp import iterations_allowed, run_interior_lp


@st.composite
def masters(draw):
    """A master LP as ``Master.lp`` makes them: every app alone, groups of apps (with fractional
    coefficients, as ``expected_bound``'s rows give, or ones), side rows with an elastic column
    each (a large cost, as ``ELASTIC_COST``), costs near 1."""
    n = draw(st.integers(1, 8))
    groups = draw(st.lists(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True), max_size=25))
    columns = [[a] for a in range(n)] + [sorted(g) for g in groups]
    fractional = draw(st.booleans())
    coefficients = [[draw(st.floats(0.1, 1.0)) if fractional and len(c) > 1 else 1.0 for _ in c] for c in columns]
    cost = [draw(st.floats(0.05, 2.0)) * len(c) for c in columns]
    k = draw(st.integers(0, 2))
    rows = []
    for r in range(k):
        coef = np.array([draw(st.sampled_from([0.0, 1.0, 2.5])) for _ in columns] + [0.0] * k)
        coef[len(columns) + r] = -1.0  # the row's elastic column
        rows.append((coef, float(draw(st.integers(0, 3)))))
    columns += [[] for _ in range(k)]
    coefficients += [[] for _ in range(k)]
    cost += [1e3] * k
    return np.array(cost), columns, rows, n, (coefficients if fractional else None)


def _matrix(columns, rows, n, coefficients):
    a = np.zeros((n + len(rows), len(columns)))
    for j, c in enumerate(columns):
        a[c, j] = 1.0 if coefficients is None else coefficients[j]
    for r, (coef, _) in enumerate(rows):
        a[n + r] = coef
    return a


@settings(max_examples=80, deadline=None)
@given(masters())
def test_the_dense_interior_point_finds_the_optimum_and_duals_that_prove_it(lp):
    """PIQP's solution is HiGHS's simplex optimum, its column values are feasible, and its
    duals are dual feasible (``y_r <= 0`` on the ``<=`` rows) with ``b·y`` the optimum: they
    prove it, as the Lagrangian bound needs."""
    cost, columns, rows, n, coefficients = lp
    want = run_highs_lp(cost, columns, rows, n, coefficients=coefficients)
    got = interior_lp._dense(cost, columns, rows, n, coefficients, interior_lp.MOST_ITERATIONS)
    event(f"side rows: {len(rows)}, fractional: {coefficients is not None}")
    assert want is not None and got is not None
    value, duals, x = got
    scale = 1.0 + abs(want[0])
    assert value == pytest.approx(want[0], abs=1e-6 * scale)
    a = _matrix(columns, rows, n, coefficients)
    rhs = np.concatenate([np.ones(n), [ub for _, ub in rows]])
    assert (x >= 0).all()
    assert np.allclose(a[:n] @ x, 1.0, atol=1e-6)
    assert (a[n:] @ x <= rhs[n:] + 1e-6).all()
    assert (duals[n:] <= 1e-9).all()
    assert (cost - a.T @ duals >= -1e-6 * scale).all()
    assert duals @ rhs == pytest.approx(want[0], abs=1e-6 * scale)


def test_an_lp_without_an_optimum_or_time_is_left_to_highs():
    """An app no column covers: PIQP does not report an optimum, and HiGHS finds the LP
    infeasible (None). A deadline too near for PIQP's iterations, or a master whose dense matrix
    is too large: HiGHS, which honours the deadline."""
    cost, columns = np.array([1.0, 1.0]), [[0], [0, 1]]
    assert run_interior_lp(cost, columns, [], 3) is None
    assert interior_lp._dense(cost, columns, [], 3, None, interior_lp.MOST_ITERATIONS) is None
    with mock.patch.object(interior_lp, "_dense", side_effect=AssertionError("PIQP was used")):
        run_interior_lp(np.ones(3), [[0], [1], [0, 1]], [], 2, deadline=time.perf_counter() - 1)
        assert iterations_allowed(3_000, 100, time.perf_counter() + 0.01) == 0
        with mock.patch.object(interior_lp, "DENSE_WORK", 3 * 2 * 2 - 1):  # a master over it: HiGHS
            value, _, x = run_interior_lp(np.array([2.0, 2.0, 3.0]), [[0], [1], [0, 1]], [], 2)
        assert value == pytest.approx(3.0) and x == pytest.approx([0.0, 0.0, 1.0], abs=1e-6)


def test_the_dense_solves_give_the_same_results_from_several_threads():
    """Each call builds its own solver: four threads at once give what one thread gives."""
    rng = np.random.default_rng(7)
    n = 30
    columns = [[a] for a in range(n)] + [sorted(rng.choice(n, size=rng.integers(2, 12), replace=False).tolist())
                                         for _ in range(600)]
    cost = np.array([0.2 * len(c) + rng.random() for c in columns])
    alone = run_interior_lp(cost, columns, [], n)
    results = [None] * 4

    def run(i):
        results[i] = run_interior_lp(cost, columns, [], n)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got in results:
        assert got[0] == alone[0] and np.array_equal(got[1], alone[1]) and np.array_equal(got[2], alone[2])


def _chosen(slow: str) -> tuple[interior_lp.Chooser, list[str]]:
    """16 calls under a deadline, then one without, on an LP where ``slow`` takes 1 s and the
    other 0.1 s (a clock of its own): the chooser and the backend of each call."""
    cost, columns = np.array([2.0, 2.0, 3.0]), [[0], [1], [0, 1]]
    chooser, used, clock = interior_lp.Chooser(), [], [0.0]

    def tick(backend, real):
        def solve(*args, **kwargs):
            used.append(backend)
            clock[0] += 1.0 if backend == slow else 0.1
            return real(*args, **kwargs)
        return solve
    with mock.patch.object(interior_lp, "_dense", tick("piqp", interior_lp._dense)), \
            mock.patch.object(interior_lp, "run_highs_lp", tick("highs", interior_lp.run_highs_lp)), \
            mock.patch.object(interior_lp.time, "perf_counter", lambda: clock[0]):
        for _ in range(16):
            value, _, _ = run_interior_lp(cost, columns, [], 2, deadline=1e9, chooser=chooser)
            assert value == pytest.approx(3.0)
        run_interior_lp(cost, columns, [], 2, chooser=chooser)
    return chooser, used


@pytest.mark.parametrize("slow, tries", [("piqp", [0, 3, 11]), ("highs", [1, 9])])
def test_under_a_deadline_the_chooser_takes_the_faster_backend_on_the_masters_own_lps(slow, tries):
    """A master whose LPs one backend solves faster: after a try of the other, the chooser keeps
    the faster and tries the slower again after 2, 8, 32 calls. Every call returns the LP's
    optimum whichever solves it; without a deadline the chooser is not consulted."""
    chooser, used = _chosen(slow)
    assert chooser.using != slow and chooser.calls == 16
    assert [i for i, b in enumerate(used[:16]) if b == slow] == tries
    assert used[16] == "piqp"  # (no deadline: by size alone)
