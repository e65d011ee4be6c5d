"""Planning many instances at once, on any ``concurrent.futures.Executor``.

A process pool is the default for local parallelism. Dask is the distributed engine:
``plan_many(instances, executor=client.get_executor())`` with a ``dask.distributed``
``Client`` (the optional extra ``dask``) runs the same calls on a cluster; the plans come
back in input order either way.
"""

from __future__ import annotations

import os
import pickle
import traceback
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import CancelledError, Executor, Future
from dataclasses import dataclass
from typing import Any

from . import _pool
from ._validate import function, integer, listed
from .errors import HarmonyBatchError, InputError
from .plan import Plan

#: Most worker processes of the default pool.
MAX_WORKERS = 1024
#: The error, in another process, of an instance naming a solver the caller could not send.
UNSENT = ("solver {!r}: the calling process registered it with a function that cannot be sent to this worker process "
          "(one of its script's own, or one that does not pickle); register one defined at the top level of a module "
          "the workers can import")
#: The error of an instance whose future the executor cancelled, which says nothing itself: a
#: Dask cluster closed while a sweep ran left 30 of 40 records with an empty error.
CANCELLED = "the executor cancelled this instance before it finished (was its pool or cluster shut down?)"


@dataclass(frozen=True)
class PlanRecord:
    """The outcome of one instance (every instance has one): its plan, or the error that
    stopped it. An error is the library's (``error_type`` one of :mod:`harmonybatch_mp.errors`:
    the instance has no plan, or its solver none in time), or, with ``lost``, the executor's:
    the instance never ran to its end (a worker or the cluster gone, the future cancelled) or
    raised another error (a defect)."""

    index: int
    plan: Plan | None
    error_type: str | None = None
    error: str | None = None
    lost: bool = False

    @property
    def ok(self) -> bool:
        return self.plan is not None


@dataclass(frozen=True)
class _Withheld:
    """A solver the calls name that goes to other processes as a name only, with the error
    its records get there: one the caller has not registered, or one it cannot send."""

    name: str
    error: str


def _arguments(instance: Any, index: int) -> dict[str, Any]:
    if isinstance(instance, Mapping):
        return dict(instance)
    if isinstance(instance, (tuple, list)) and len(instance) in (2, 3):
        keys = ("workload", "profile", "platform")[:len(instance)]
        return dict(zip(keys, instance))
    raise InputError(f"instance {index}: expected (workload, profile[, platform]) or a dict of solve() arguments, "
                     f"got {type(instance).__name__}")


def plan_one(index: int, arguments: dict[str, Any], solvers: tuple[Any, ...] = (),
             home: int | None = None) -> PlanRecord:
    """Solve one instance; any error becomes the record's error (module level: picklable).
    ``solvers`` are the :class:`~harmonybatch_mp.solvers.SolverSpec` of the solvers the calls
    name, as the calling process (``home``, its process id) has them registered
    (:func:`_registered`). Another process solves with them in place of its own
    (:func:`~harmonybatch_mp.solvers.base.using`): one it does not know, one the caller
    registered in place of a built-in (``replace=True``; it was solved by the built-in), a
    built-in an earlier caller replaced in a long-lived worker (Dask's), without changing what
    its other threads find. A name alone (:class:`_Withheld`) is a solver the caller has not
    registered (a built-in it unregistered was solved by the worker's own) or could not send:
    one it names is the record's error, as another process would solve with another."""
    from .solvers import solve
    from .solvers.base import using

    sent = solvers if os.getpid() != home else ()
    try:
        for spec in sent:
            if isinstance(spec, _Withheld) and spec.name == arguments.get("solver", "milp"):
                raise InputError(spec.error)
        with using(spec for spec in sent if not isinstance(spec, _Withheld)):
            return PlanRecord(index, solve(**arguments))
    except HarmonyBatchError as exc:
        return PlanRecord(index, None, type(exc).__name__, str(exc))
    except Exception as exc:  # a bug must not lose the other results: reported with its traceback
        return PlanRecord(index, None, type(exc).__name__, "".join(traceback.format_exception_only(exc)).strip())


def plan_many(instances: Iterable[Any], *, executor: Executor | None = None, workers: int | None = None,
              progress: Callable[[int], None] | None = None, **solve_options: Any) -> list[PlanRecord]:
    """Plan every instance; return one :class:`PlanRecord` per instance, in input order.

    Parameters
    ----------
    instances : iterable
        Each a ``(workload, profile)`` or ``(workload, profile, platform)`` tuple (names are
        accepted for profile and platform), or a dict of :func:`~harmonybatch_mp.solve` arguments.
    executor : concurrent.futures.Executor, optional
        Where to run: a ``ThreadPoolExecutor``, a ``ProcessPoolExecutor``, Dask's
        ``client.get_executor()``... Each solver named goes with the instances as this process
        has it registered (:func:`~harmonybatch_mp.solvers.register_solver`), and a worker
        in another process solves with it, whatever it has registered: yours, and a built-in
        you replaced (on an executor of yours, one whose function a worker can import: not one
        of the script's own; with another, each instance that names it is an error in another
        process); a solver you unregistered is an error there as here. Default: a process pool of
        ``workers`` processes (default: the cores this process may use; each instance, and each
        registered solver named, must pickle, or it is an InputError naming it), started
        with ``forkserver`` (scripts that call it need the usual ``if __name__ ==
        "__main__":`` guard; without it each record is a ``BrokenProcessPool`` error that
        says so), whose solvers search in one thread each,
        and whose workers end by themselves once the calling process is gone
        (even killed). An executor that takes no work (shut down) is an InputError; an
        instance it loses after taking it (a worker or the cluster gone, its future
        cancelled) is a record with ``lost``. The default pool runs a worker's worth of
        instances at a time; one whose worker ended (killed, out of memory) runs again in a
        fresh pool, alone, and is such a record where its worker ended again: the instances
        beside it are not lost (``_pool.run``). Progress comes as instances finish. An
        instance waits as its executor makes it wait: on a Dask cluster with no worker, until
        one joins (``bench --scheduler`` gives up after a while; cancelling the futures, e.g.
        ``executor.shutdown(wait=False)`` from another thread, makes such records).
    progress : callable, optional
        Called with 1 as each instance finishes.

        If it raises, or on Ctrl-C (``KeyboardInterrupt``), ``plan_many`` raises that at once:
        the instances not started are cancelled, and the default pool's workers are stopped
        (plans already running on an executor of the caller's are the caller's to wait for).
    **solve_options
        Passed to every ``solve()`` call (an instance's own dict entries win).

    Examples
    --------
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> recs = plan_many([("0.5:5,1.0:20", "VGG19"), ("0.001:1", "VGG19")], executor=ThreadPoolExecutor(2))
    >>> [r.ok for r in recs], recs[1].error_type
    ([True, False], 'InfeasibleError')
    """
    instances = listed(instances, "instances", "an iterable of (workload, profile[, platform]) tuples or dicts")
    if workers is not None:
        workers = integer(workers, "workers", minimum=1, maximum=MAX_WORKERS)
    if executor is not None and not callable(getattr(executor, "submit", None)):  # (any executor-like object)
        raise InputError(f"executor: expected an executor (an object with submit()), got {type(executor).__name__}")
    function(progress, "progress", optional=True)
    calls = []
    own = executor is None
    for i, inst in enumerate(instances):
        calls.append((i, {**solve_options, **_arguments(inst, i)}))
        if own:  # the default pool's workers get each instance pickled
            _picklable(i, calls[-1][1])
    solvers = _registered(args for _, args in calls)
    if own:
        _sendable(solvers)
    else:  # what a worker can import; of the others the name
        solvers = tuple(spec if isinstance(spec, _Withheld) or _importable(spec)
                        else _Withheld(spec.name, UNSENT.format(spec.name)) for spec in solvers)
    records: dict[int, PlanRecord] = {}

    def finish(i: int, fut: Future) -> None:
        try:
            records[i] = fut.result()
        except Exception as exc:  # the executor lost the task (a worker died, a cluster closed): a record
            records[i] = PlanRecord(i, None, type(exc).__name__, _lost_error(exc), lost=True)
        if progress is not None:
            progress(1)

    if own:
        _pool.run(calls, lambda pool, i, args: pool.submit(plan_one, i, args, solvers, os.getpid()), workers, finish)
    else:
        _run_on(executor, calls, solvers, finish)
    return [records[i] for i, _ in calls]


def _run_on(executor: Executor, calls: list[tuple[int, dict[str, Any]]], solvers: tuple[Any, ...],
            finish: Callable[[int, Future], None]) -> None:
    """Run each call on the caller's executor, and pass each future, in input order, to
    ``finish`` (raising there cancels those not started, and raises)."""
    futures: list[Any] = []
    try:
        for i, args in calls:
            try:
                futures.append(executor.submit(plan_one, i, args, solvers, os.getpid()))
            except Exception as exc:  # a pool shut down, a Dask client closed: it takes no work
                raise InputError(f"executor: it took no work ({type(exc).__name__}: {exc}); "
                                 "was it shut down?") from None
        for (i, _), fut in zip(calls, futures):
            finish(i, fut)
    except BaseException:  # Ctrl-C, or the caller's progress raised: what has not started never will
        for fut in futures:
            fut.cancel()
        raise


def _lost_error(exc: Exception) -> str:
    """The error of a record whose instance the executor lost with ``exc``: its message, or
    what a cancelled future or a message-less error means.

    >>> _lost_error(CancelledError())
    'the executor cancelled this instance before it finished (was its pool or cluster shut down?)'
    >>> _lost_error(TypeError("x"))
    'x'
    """
    return str(exc) or (CANCELLED if isinstance(exc, CancelledError) else
                        f"the executor raised {type(exc).__name__} with no message")


def _registered(calls: Iterable[dict[str, Any]]) -> tuple[Any, ...]:
    """The specs of the registered solvers the calls name, as this process has them, and a
    :class:`_Withheld` with this process's error for each it has not registered: a worker
    process has only those its own imports register, so one the calling script registers under
    ``if __name__ == "__main__":`` was an "unknown solver" in every record, one it registered
    in place of a built-in was solved by the built-in, and so was one it unregistered."""
    from .solvers import get_solver

    out: list[Any] = []
    for name in dict.fromkeys(n for n in (args.get("solver", "milp") for args in calls) if isinstance(n, str)):
        try:
            out.append(get_solver(name))
        except InputError as exc:
            out.append(_Withheld(name, str(exc)))
    return tuple(out)


def _pickle_error(value: Any) -> Exception | None:
    """The error pickling ``value`` raised, or None where it pickles."""
    try:
        pickle.dumps(value)
    except Exception as exc:  # (PicklingError, TypeError or AttributeError, by what failed)
        return exc
    return None


def _importable(spec: Any) -> bool:
    """Whether a worker can import a registered solver's function (one of the calling script's
    may not serialize: Dask sends those by value, with their globals)."""
    return getattr(spec.function, "__module__", "__main__") != "__main__" and _pickle_error(spec) is None


def _sendable(solvers: tuple[Any, ...]) -> None:
    """An InputError naming the registered solver the default pool's workers cannot be sent."""
    for spec in solvers:
        exc = None if isinstance(spec, _Withheld) else _pickle_error(spec)
        if exc is not None:  # (a lambda, a function defined in a function)
            raise InputError(f"solver {spec.name!r}: cannot be sent to a worker process ({type(exc).__name__}: "
                             f"{exc}); register a function defined at a module's top level, or pass "
                             "executor=ThreadPoolExecutor(...)")


def _picklable(index: int, arguments: dict[str, Any]) -> None:
    """An InputError naming the instance whose arguments cannot be sent to a worker process:
    the pool failed it with a PicklingError, which its record put down to a worker that ended."""
    exc = _pickle_error(arguments)
    if exc is not None:
        raise InputError(f"instance {index}: cannot be sent to a worker process ({type(exc).__name__}: {exc}); "
                         "pass arguments that pickle, or executor=ThreadPoolExecutor(...)")
