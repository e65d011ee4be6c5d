"""The compiled kernels (numba): how they are compiled (:func:`compiled`, cached on disk where
it can be), how a Ctrl-C inside them comes out (:func:`interruptible`), and how they are made
ready within a deadline.

numba compiles a kernel on its first call in a process, or loads it from its cache beside
the package: the first time after an install that takes about 13 s for ``colgen``'s kernels on
the 2-core machine and 2.5 s for ``expected_bound``'s, and no call can be cut short. So a
solver with a deadline first asks :func:`ready`, which warms the kernels up in a background
thread (one per set of kernels and process) and waits for it at most until the deadline;
where they are not ready, the solver returns what it has without them. Pyomo, which the
backends other than HiGHS need, is made ready the same way (:data:`PYOMO`): its first import
takes about 0.65 s, and happens in that one thread even without a deadline, since first imports
of Pyomo from several threads at once failed ("partially initialized module"); so is
``scipy.optimize``, the packing LP's solver (:data:`PACKING`, 0.13 s).
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

#: The kernels of ``colgen``: the pricing searches (:mod:`.branch_bound_kernel`,
#: :mod:`.label_kernel`) and the exact cover search of its proof (:mod:`.partition_kernel`).
COLGEN = "colgen"
#: The kernel of ``expected_bound`` (:mod:`.relaxed_kernel`).
EXPECTED = "expected"
#: The kernels of the contiguous runs' optima (:mod:`.run_kernel`) and of the capped path's
#: pushes (:mod:`.path_kernel`).
RUNS = "runs"
#: Not a kernel: Pyomo and its solver factory, for a model solved by a backend other than HiGHS.
PYOMO = "pyomo"
#: Not a kernel: ``scipy.optimize``, whose ``linprog`` solves the packing LP (:mod:`.penalty`).
PACKING = "packing"



def compiled(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(cache=True, **options)``: a kernel compiled once and kept on disk; where
    numba has nowhere to keep it, compiled in each process instead. A read-only install whose
    user has no writable cache folder (a container's non-root user, a serverless function
    whose home is read-only) made numba raise at import ("no locator available"), and every
    solver with a kernel failed. ``NUMBA_CACHE_DIR`` names a folder to keep them in."""
    import numba

    return _cached(lambda cache: numba.njit(cache=cache, **options))


def compiled_ufunc(signatures: list[str]) -> Callable[[Callable[..., Any]], Any]:
    """``numba.vectorize(signatures, cache=True)``, kept on disk where it can be (:func:`compiled`)."""
    import numba

    return _cached(lambda cache: numba.vectorize(signatures, cache=cache))


def _cached(decorator: Callable[[bool], Callable[[Callable[..., Any]], Any]]) -> Callable[[Callable[..., Any]], Any]:
    def decorate(function: Callable[..., Any]) -> Any:
        try:
            return decorator(True)(function)
        except RuntimeError as exc:
            if "no locator available" not in str(exc):
                raise
            return decorator(False)(function)
    return decorate


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C comes out as KeyboardInterrupt (a context manager, or a decorator of the solvers
    that call kernels, so that direct calls get it too). Where it lands in Python code that
    compiled numba code calls (numba unpickles the type of each array it returns so), numba
    goes on as if nothing happened and Python raises a SystemError caused by the
    KeyboardInterrupt instead, one more for each array after it (seen in the test suite:
    ``test_ctrl_c_is_one_line_and_exit_130``; 14 deep from a kernel that returned 14 arrays).
    The library's kernels return no arrays, so this is for numba's other calls into Python.
    """
    try:
        yield
    except SystemError as exc:
        cause: BaseException | None = exc
        seen: set[int] = set()
        while cause is not None and not isinstance(cause, KeyboardInterrupt) and id(cause) not in seen:
            seen.add(id(cause))
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        raise


_lock = threading.Lock()
_warming: dict[str, threading.Thread] = {}


def ready(kernels: str, deadline: float | None) -> bool:
    """Whether the ``kernels`` (:data:`COLGEN`, :data:`EXPECTED` or :data:`RUNS`) are compiled (for
    :data:`PYOMO` and :data:`PACKING`: their modules are imported), waiting for them until ``deadline`` (a
    ``time.perf_counter()`` reading; None: as long as it takes).
    The first call in a process starts compiling them in a background thread, which goes on
    after a deadline has passed, so a later call finds them ready.

    >>> ready(COLGEN, None)
    True
    """
    warm = {COLGEN: _warm_colgen, EXPECTED: _warm_expected, RUNS: _warm_runs, PYOMO: _warm_pyomo,
            PACKING: _warm_packing}[kernels]
    with _lock:
        thread = _warming.get(kernels)
        if thread is None:
            thread = _warming[kernels] = threading.Thread(target=_quietly, args=(warm,), daemon=True,
                                                          name=f"harmonybatch-mp-compile-{kernels}")
            thread.start()
    # (a far or infinite deadline waits as long as threading allows: it refuses more)
    thread.join(None if deadline is None else min(max(0.0, deadline - time.perf_counter()), threading.TIMEOUT_MAX))
    return not thread.is_alive()


def _quietly(warm: Callable[[], None]) -> None:
    """Run a warm-up; an error it meets is the solver's to raise, on its own call."""
    try:
        warm()
    except Exception:  # the same call in the solver raises it, where it belongs
        pass


def _warm_colgen() -> None:
    """One call of each ``colgen`` kernel through the code that calls it, so that the argument
    types (and the compiled signatures) are the solver's own."""
    from .branch_bound import GroupSearch
    from .label_search import label_search, merged_bound
    from .partition_search import cheapest_partition

    two = np.ones(2)
    GroupSearch(np.arange(2), two, two, two, 2, ~np.eye(2, dtype=bool), np.array([-1, 0])).groups(0.0, improve=True)
    label_search(GroupSearch(np.arange(2), two, two, two, 2), 0.0, 10)
    merged_bound(GroupSearch(np.arange(2), two, two, two, 2), 0.0)
    cheapest_partition([[0], [1], [0, 1]], np.ones(3), 2, np.zeros(2), 3.0)


def _warm_expected() -> None:
    """``expected_bound`` on four apps, without a deadline (its kernel's every entry point)."""
    from . import as_instance
    from .expected_bound import expected_bound
    from .problem import Problem

    expected_bound(Problem(*as_instance("0.3:2,0.5:5,0.8:10,1.0:20", "VGG19"), cost_model="expected"))


def _warm_runs() -> None:
    """The runs of two apps through :func:`.run_kernel.runs` and per class of function
    (:func:`.run_kernel.class_indices`), and the pushes of a path over them
    (:func:`.path_kernel.push`), with the solvers' argument types."""
    from . import as_instance
    from .path_kernel import push
    from .problem import Problem
    from .run_kernel import ClassArrays, class_indices, runs

    problem = Problem(*as_instance("0.3:2,0.5:5", "VGG19"), cost_model="full-batch")
    list(runs(problem.run_arrays(), 0, 2))
    arrays = problem.run_arrays()
    class_indices(ClassArrays(problem.grid, arrays.slos, arrays.rates, problem.app_kinds, (2,)), 0, 2)
    layers = [np.zeros((1, 1, 1, 3), np.int64) for _ in range(3)]
    layer = np.zeros((1, 3), np.int64)
    push(np.zeros((1, 1, 1, 3)), *layers, 0, np.ones((1, 2)), layer, layer, np.zeros(1, np.int64), 0.0)


def _warm_pyomo() -> None:
    """Import Pyomo's modelling layer and its solver factory (the backends' first use)."""
    importlib.import_module("pyomo.environ")
    importlib.import_module("pyomo.opt")


def _warm_packing() -> None:
    """Import the packing LP's solver."""
    importlib.import_module("scipy.optimize")
