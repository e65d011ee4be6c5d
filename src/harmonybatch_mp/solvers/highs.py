"""The default backend on the library's own model: HiGHS in process, straight from the
model's arrays (no Pyomo model is built), under the process-wide solver lock of
:mod:`.backends`, with a deadline enforced through HiGHS's interrupt callbacks."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..errors import InputError, SolverError
from .abandon import run_by
from .backends import (
    _LOCK,
    INFEASIBLE,
    OPTIMAL,
    OTHER,
    TIME_LIMIT,
    BackendResult,
    _acquire,
    _finite,
    check_options,
    highs_threads,
)

#: HiGHS's feasibility jump heuristic ignores the time limit, so it is switched off above this
#: many columns (on 72,486 columns and 30 rows it ran 6.1 s and found nothing) and where the time
#: left is under this many seconds per nonzero of the cover rows (on 5,050 columns of 100 apps,
#: 176,750 nonzeros, it ran 0.2 s of a 0.08 s limit).
FEASIBILITY_JUMP_MAX_COLUMNS = 10_000
FEASIBILITY_JUMP_SECONDS_PER_NONZERO = 1e-5

#: Seconds before its deadline (at most this share of the time left) a MIP solve is stopped.
#: HiGHS calls its interrupt callbacks between nodes only: in the integer master of n = 60
#: VideoMAE under a GPU cap (about 4,000 columns) 17 calls in 9 s, up to 0.96 s apart, so it
#: ended 0.17-0.4 s past its deadline.
MIP_RESERVE, MIP_RESERVE_SHARE = 1.0, 0.1
#: Columns whose cover rows :func:`master_entries` lists between two looks at the clock.
ENTRY_CHUNK = 50_000
#: Bits of masks :func:`covers_of_masks` unpacks at once (a byte each while unpacked).
UNPACK_BITS = 1 << 23

_BANNER = [False]  # HiGHS prints a banner on stdout at its first construction in a process


def _highs():
    """A silent ``highspy.Highs`` (call with the lock held)."""
    import highspy

    if not _BANNER[0]:  # swallow the one-time banner written to file descriptor 1
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _BANNER[0] = True
    else:
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


class _Model(NamedTuple):
    """A model as HiGHS takes it, column-wise (:func:`_model`)."""

    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    start: np.ndarray
    index: np.ndarray
    value: np.ndarray


class Covers(NamedTuple):
    """The cover rows' nonzeros of a master's columns, as arrays: column ``column[e]`` covers
    row ``row[e]``; sorted by column. What :func:`master_entries` takes in place of a list of
    each column's rows, where a list of lists would be large (:func:`covers_of_masks`)."""

    column: np.ndarray
    row: np.ndarray


def covers_of_masks(masks: Sequence[int], n: int, deadline: float | None = None) -> Covers:
    """The :class:`Covers` of columns given as bitmasks of ``n`` rows, read off the masks' bytes
    by numpy, a block of at most :data:`UNPACK_BITS` bits at a time, looking at the clock
    between blocks (a time-limit SolverError once ``deadline`` passes). On the 182,553 columns
    of 1,000 apps (9.2 million nonzeros) 0.4-0.6 s and 73 MB, where lists of each column's rows
    took 300 MB (``formulations/set_partitioning.md``, "Time limits").

    >>> [a.tolist() for a in covers_of_masks([0b1, 0b110], 3)]
    [[0, 1, 1], [0, 1, 2]]
    """
    width = (n + 7) // 8
    block = max(1, UNPACK_BITS // max(8 * width, 1))
    column, row = [np.empty(0, np.int32)], [np.empty(0, np.int32)]
    for k in range(0, len(masks), block):
        if deadline is not None and time.perf_counter() > deadline:
            raise SolverError("time limit reached while passing the model to HiGHS", time_limit=True)
        packed = np.frombuffer(b"".join([m.to_bytes(width, "little") for m in masks[k:k + block]]), np.uint8)
        c, r = np.divmod(np.flatnonzero(np.unpackbits(packed, bitorder="little")), 8 * width)
        column.append((c + k).astype(np.int32))
        row.append(r.astype(np.int32))
    return Covers(np.concatenate(column), np.concatenate(row))


def _listed_covers(columns: Sequence[Sequence[int]], deadline: float | None) -> Covers:
    """The :class:`Covers` of a list of each column's rows."""
    lengths = np.fromiter(map(len, columns), dtype=np.int64, count=len(columns))
    row = []
    for k in range(0, len(columns), ENTRY_CHUNK):  # 606,156 columns of 5,000 apps took 1.5 s
        if deadline is not None and time.perf_counter() > deadline:
            raise SolverError("time limit reached while passing the model to HiGHS", time_limit=True)
        row.append(np.fromiter(itertools.chain.from_iterable(columns[k:k + ENTRY_CHUNK]), dtype=np.int64,
                               count=int(lengths[k:k + ENTRY_CHUNK].sum())))
    return Covers(np.repeat(np.arange(len(columns)), lengths),
                  np.concatenate(row) if row else np.empty(0, np.int64))


def master_entries(columns: Sequence[Sequence[int]] | Covers, rows: Sequence[tuple[np.ndarray, float]],
                   n_cover: int, coefficients: Sequence[Sequence[float]] | None = None,
                   deadline: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The nonzeros of a master's matrix as ``(column, row, value)`` arrays: each column's cover
    rows as given (a list of each column's rows, or :class:`Covers`; coefficients 1, or
    ``coefficients[j]`` for the members of column ``j``), then the ``<=`` rows' nonzeros, row by
    row (vectorised: the loops over the columns took 9 ms of each node LP of 3,000 columns,
    n = 30). HiGHS takes them sorted by column (:func:`_model`), the dense interior point as they
    are (:mod:`.interior_lp`). A time-limit SolverError once ``deadline`` passes (it is looked at
    every :data:`ENTRY_CHUNK` columns).

    >>> [a.tolist() for a in master_entries([[0], [0, 1]], [(np.array([0.0, 2.0]), 1.0)], 2)]
    [[0, 1, 1, 1], [0, 0, 1, 2], [1.0, 1.0, 1.0, 2.0]]
    """
    covers = columns if isinstance(columns, Covers) else _listed_covers(columns, deadline)
    col, row = [covers.column], [covers.row]
    val = [np.ones(row[0].size) if coefficients is None else
           np.fromiter(itertools.chain.from_iterable(coefficients), dtype=float, count=row[0].size)]
    for r, (coef, _) in enumerate(rows):
        nz = np.flatnonzero(coef)
        col.append(nz)
        row.append(np.full(nz.size, n_cover + r))
        val.append(np.asarray(coef, float)[nz])
    return np.concatenate(col), np.concatenate(row), np.concatenate(val)


def _model(cost: np.ndarray, columns: Sequence[Sequence[int]] | Covers, rows: Sequence[tuple[np.ndarray, float]],
           n_cover: int, upper: float = 1.0, coefficients: Sequence[Sequence[float]] | None = None,
           deadline: float | None = None) -> _Model:
    """``0 <= x <= upper``, equality cover rows, then the ``<=`` rows, column-wise: the entries of
    :func:`master_entries`, in the order made within each column."""
    ncol = len(cost)
    owner, row, val = master_entries(columns, rows, n_cover, coefficients, deadline)
    order = np.argsort(owner, kind="stable")
    start = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=ncol))]).astype(np.int32)
    return _Model(np.asarray(cost, float), np.zeros(ncol), np.full(ncol, upper),
                  np.concatenate([np.ones(n_cover), np.full(len(rows), -np.inf)]),
                  np.concatenate([np.ones(n_cover), [ub for _, ub in rows]]),
                  start, row[order].astype(np.int32), val[order])


def _pass(h, model: _Model, integer: bool = False) -> None:
    """Give HiGHS the ``model`` (minimised; its columns integer when ``integer``) from the arrays
    themselves: through a ``HighsLp`` the matrix was copied element by element (5 ms of each
    node LP of 34,000 nonzeros)."""
    import highspy

    ncol = model.cost.size
    status = h.passModel(ncol, model.row_lower.size, model.index.size, int(highspy.MatrixFormat.kColwise),
                         int(highspy.ObjSense.kMinimize), 0.0, *model,
                         np.full(ncol, int(highspy.HighsVarType.kInteger if integer else highspy.HighsVarType.kContinuous),
                                 dtype=np.int32))
    if status == highspy.HighsStatus.kError:
        raise SolverError("HiGHS rejected the model")


class _Seen:
    """What HiGHS reported through its callbacks while it ran: its best plan (column values and
    objective) and its best bound. A solve left at its deadline (:func:`.abandon.run_by`) is
    read from here, as HiGHS itself is still running."""

    def __init__(self) -> None:
        self.values: np.ndarray | None = None
        self.objective: float | None = None
        self.bound: float | None = None

    def improved(self, event) -> None:
        out = event.data_out
        self.values, self.objective = np.array(out.mip_solution), _finite(out.objective_function_value)

    def saw_bound(self, bound: float) -> None:
        if _finite(bound) is not None:
            self.bound = bound

    def result(self) -> BackendResult:
        """The result of a solve left running at its deadline: its last plan, or none."""
        return BackendResult("appsi_highs", TIME_LIMIT, "time limit reached (HiGHS left running past it)",
                             self.objective, self.bound, self.values is not None)


def run_highs_lp(cost: np.ndarray, columns: Sequence[Sequence[int]], rows: Sequence[tuple[np.ndarray, float]],
                 n_cover: int, *, deadline: float | None = None, interior: bool = False,
                 coefficients: Sequence[Sequence[float]] | None = None,
                 presolve: bool = True) -> tuple[float, np.ndarray, np.ndarray] | None:
    """The LP relaxation of :func:`run_highs_arrays`' model without the upper bounds ``x <= 1``
    (the cover rows imply them, and without them every column's reduced cost is >= 0 at the
    optimum): ``(objective, row duals, x)``, or None when HiGHS did not reach its optimum
    (infeasible, or stopped at ``deadline``). Reduced costs are ``c_j - sum_i a_ij y_i``.
    With ``interior``, HiGHS's interior point method without crossover: duals from the
    middle of the optimal face rather than a vertex of it. ``coefficients``: as in :func:`_lp`.
    Without ``presolve``, HiGHS solves the model as given.
    A deadline that passes while another thread's solve holds HiGHS stops it too (None)."""
    import highspy

    try:
        _acquire(deadline)
    except SolverError as exc:
        if exc.time_limit:
            return None
        raise
    try:
        h = _highs()
        _pass(h, _model(cost, columns, rows, n_cover, upper=np.inf, coefficients=coefficients))
        if not presolve:
            h.setOptionValue("presolve", "off")
        if deadline is not None:
            h.setOptionValue("time_limit", max(0.0, deadline - time.perf_counter()))
        if interior:
            h.setOptionValue("solver", "ipm")
            h.setOptionValue("run_crossover", "off")
        h.run()
        status = highspy.HighsModelStatus
        if interior and h.getModelStatus() not in (status.kOptimal, status.kTimeLimit, status.kInfeasible):
            # the interior point method can stop short of its tolerances without crossover (status
            # unknown at a node of n = 30 BERT under a GPU cap, 12,566 columns); simplex solves it
            h.setOptionValue("solver", "simplex")
            if deadline is not None:
                h.setOptionValue("time_limit", max(0.0, deadline - time.perf_counter()))
            h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        sol = h.getSolution()
        return float(h.getInfo().objective_function_value), np.asarray(sol.row_dual), np.asarray(sol.col_value)
    finally:
        _LOCK.release()


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _ctrl_c_stops(flag: list[bool]) -> Iterator[None]:
    """While HiGHS runs in the main thread, Ctrl-C appends to ``flag`` (the interrupt callbacks
    then stop the solve) and is raised as KeyboardInterrupt once HiGHS returns. Python runs its
    signal handlers where the main thread next runs Python code, which during a solve is an
    interrupt callback: raised there, HiGHS swallowed the KeyboardInterrupt as a "Solve error"
    and the call went on. A SIGINT handler of the caller's own is left as it is."""
    if not _in_main_thread() or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    signal.signal(signal.SIGINT, lambda *_: flag.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if flag:
        raise KeyboardInterrupt


def run_highs_arrays(cost: np.ndarray, columns: Sequence[Sequence[int]] | Covers, rows: Sequence[tuple[np.ndarray, float]],
                     n_cover: int, *, deadline: float | None = None, rel_gap: float = 0.0, abs_gap: float = 0.0,
                     threads: int | None = None, warm_start: np.ndarray | None = None,
                     backend_options: Mapping[str, Any] | None = None) -> tuple[BackendResult, np.ndarray | None]:
    """Solve ``min cost·x`` over binary ``x`` with equality cover rows and ``<=`` rows, in HiGHS.

    ``columns[j]`` lists the cover rows (apps) column ``j`` covers (or ``columns`` is their
    :class:`Covers`); each of ``rows`` is (coefficient per column, upper bound). Returns the
    result and the column values. ``columns`` is let go of once HiGHS has the model: a list the
    caller does not keep is freed before the solve.
    """
    import highspy

    check_options(backend_options)
    _acquire(deadline)
    owned = True  # the lock, until a solve left at its deadline takes it along
    try:
        h = _highs()
        ncol = len(cost)
        model = _model(cost, columns, rows, n_cover, deadline=deadline)
        del columns  # (182,553 columns of 1,000 apps: 300 MB as lists, held through the solve)
        covered = int(np.count_nonzero(model.index < n_cover))
        _pass(h, model, integer=True)
        del model
        hard = deadline
        if deadline is not None:  # HiGHS's MIP ends past its deadline: it stops this much before it
            deadline -= min(MIP_RESERVE, MIP_RESERVE_SHARE * max(0.0, deadline - time.perf_counter()))
        remaining = None if deadline is None else max(0.0, deadline - time.perf_counter())
        # MIPs run without presolve (backend_options can turn it on). It ignores the time limit:
        # it probed for 12.8 s on 32,809 columns and 16 rows, and ran 0.65 s of a 0.23 s limit on
        # 5,050 contiguous columns of 100 apps under max_functions=4, reducing nothing. Without it
        # the 35 draws of benchmarks/short_limits.py with side constraints (up to 100 apps, 10 s)
        # and 18 models over every group of 12 apps ended with the same plans and statuses, in up
        # to 3.8 s less (9.0 s -> 5.2 s; 12.6 s -> 11.5 s), 0.05 s more at most. And HiGHS 1.16
        # valued a start in the presolved model without the offset of the columns presolve
        # fixed: it pruned with that value and returned the start as optimal (5 apps: a start
        # of cost 4.8755 came back "optimal" at 3.9004, where a plan costs 4.6011;
        # tests/test_solvers.py).
        opts: dict[str, Any] = {"mip_rel_gap": float(rel_gap), "mip_abs_gap": float(abs_gap), "presolve": "off"}
        if ncol > FEASIBILITY_JUMP_MAX_COLUMNS or (remaining is not None and remaining < (
                FEASIBILITY_JUMP_SECONDS_PER_NONZERO * covered)):
            opts["mip_heuristic_run_feasibility_jump"] = False
        if remaining is not None:
            opts["time_limit"] = remaining
        if threads is not None:
            opts["threads"] = threads
        opts.update(backend_options or {})
        for k, v in opts.items():
            if h.setOptionValue(k, v) != highspy.HighsStatus.kOk:
                raise InputError(f"HiGHS rejected option {k}={v!r}")
        highs_threads(threads, backend_options)
        ctrl_c: list[bool] = []
        seen = _Seen()
        # HiGHS checks its own time limit too rarely on large models; in the main thread Ctrl-C stops it too
        if deadline is not None or _in_main_thread():
            def stop(event):
                seen.saw_bound(event.data_out.mip_dual_bound)
                if ctrl_c or (deadline is not None and time.perf_counter() > deadline):
                    event.interrupt()

            for hook in (h.cbSimplexInterrupt, h.cbIpmInterrupt, h.cbMipInterrupt):
                hook.subscribe(stop)
        if hard is not None:
            h.cbMipImprovingSolution.subscribe(seen.improved)
        if warm_start is not None:
            sol = highspy.HighsSolution()
            sol.col_value = list(map(float, warm_start))
            sol.value_valid = True
            h.setSolution(sol)
        with _ctrl_c_stops(ctrl_c):
            if hard is None:
                h.run()
            elif not run_by(h.run, hard, on_late=_LOCK.release, name="harmonybatch-mp HiGHS")[0]:
                owned = False
                return seen.result(), seen.values
        status = h.getModelStatus()
        info = h.getInfo()
        S = highspy.HighsModelStatus
        termination = {S.kOptimal: OPTIMAL, S.kTimeLimit: TIME_LIMIT, S.kInterrupt: TIME_LIMIT,
                       S.kInfeasible: INFEASIBLE, S.kUnboundedOrInfeasible: INFEASIBLE}.get(status, OTHER)
        has = info.primal_solution_status == 2 and termination != INFEASIBLE  # 2: feasible solution
        values = np.asarray(h.getSolution().col_value) if has else None
        obj = _finite(info.objective_function_value) if has else None
        bound = _finite(info.mip_dual_bound)
        return BackendResult("appsi_highs", termination, h.modelStatusToString(status), obj, bound, has), values
    finally:
        if owned:
            _LOCK.release()


