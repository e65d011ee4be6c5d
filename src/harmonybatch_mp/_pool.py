"""The default process pool of :func:`~harmonybatch_mp.sweep.plan_many`: workers that end with
the process that started them, and a run that a worker killed mid-plan does not break."""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from typing import Any

from ._cores import usable_cores

#: How long a worker of the default pool is given to end once asked to stop (then it is killed).
STOP_SECONDS = 5.0
#: The error of an instance whose worker ended as it ran, and again as it ran alone in a fresh pool.
KILLED = ("a worker of the default process pool ended while it planned this instance, twice, the second time "
          "alone in the pool (killed: out of memory?); the other instances ran in other workers")
#: The error of each instance where no worker of the default pool started. A script without
#: the guard had its records say only "terminated abruptly": each worker runs the script again
#: as it starts, and the call in it stopped the worker (Python's "bootstrapping phase" error,
#: on standard error).
NOT_STARTED = ("no worker of the default process pool started: the script that called plan_many needs an "
               "`if __name__ == \"__main__\":` guard, which the workers need to start; or pass "
               "executor=ThreadPoolExecutor(...)")

Call = tuple[int, Any]


def run(calls: list[Call], submit: Callable[[ProcessPoolExecutor, int, Any], Future],
        workers: int | None, finish: Callable[[int, Future], None]) -> None:
    """Run each ``(index, arguments)`` call in a default pool of ``workers`` processes
    (:func:`default_pool`), ``submit(pool, index, arguments)`` its future, and pass each future
    done to ``finish(index, future)`` (raising there stops the workers and raises).

    At most a worker's worth of calls is submitted at a time, so all of them are running. A
    worker that ends (killed, out of memory) breaks the pool, which fails them all
    (``BrokenProcessPool``): the calls not submitted are not lost with them. The calls that
    were running run again in a fresh pool, after the others, each alone: one whose worker
    ends then is done with a broken future (:data:`KILLED`), and those that ran beside it
    are not lost (nor those that only fail beside another, out of memory together). So is
    every call left where no worker of a pool started (:data:`NOT_STARTED`)."""
    size = workers or usable_cores()
    again = dict.fromkeys((i for i, _ in calls), False)  # (whose worker ended as it ran: it runs alone)
    todo = deque(calls)
    while todo:
        pool, owner, started = default_pool(size)
        running: dict[Future, Call] = {}
        ended: list[Call] = []
        try:
            broken = False
            while (todo or running) and not broken:
                broken = not _submit_more(pool, submit, todo, running, again, size)
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                if broken or any(isinstance(fut.exception(), BrokenProcessPool) for fut in done):
                    broken = True
                    done, _ = wait(running)  # the pool fails every one running
                for fut in done:
                    call = running.pop(fut)
                    if isinstance(fut.exception(), BrokenProcessPool):
                        ended.append(call)
                    else:
                        finish(call[0], fut)
            if broken and not started[0].poll():
                for i, _ in [*ended, *todo]:
                    finish(i, _broken(NOT_STARTED))
                return
            for call in sorted(ended, key=lambda c: c[0]):  # (after the calls left, in input order)
                if again[call[0]]:
                    finish(call[0], _broken(KILLED))
                else:
                    again[call[0]] = True
                    todo.append(call)
        except BaseException:  # Ctrl-C, or finish raised: what has not started never will
            for fut in running:
                fut.cancel()
            stop_workers(pool)
            raise
        finally:
            pool.shutdown()
            for end in (*owner, *started):
                end.close()


def _submit_more(pool: ProcessPoolExecutor, submit: Callable[[ProcessPoolExecutor, int, Any], Future],
                 todo: deque[Call], running: dict[Future, Call], again: dict[int, bool], size: int) -> bool:
    """Submit calls from the front of ``todo`` until ``size`` run, but one that runs ``again``
    only alone (it waits for those running, and the others for it). False where the pool is
    broken (a worker ended while none of these ran)."""
    while len(running) < size and todo and not any(again[i] for i, _ in running.values()):
        i, arguments = todo[0]
        if again[i] and running:
            break
        try:
            running[submit(pool, i, arguments)] = todo[0]
        except BrokenProcessPool:
            return False
        todo.popleft()
    return True


def _broken(message: str) -> Future:
    """A future failed as a broken pool fails one, with ``message``."""
    fut: Future = Future()
    fut.set_exception(BrokenProcessPool(message))
    return fut


def default_pool(workers: int) -> tuple[ProcessPoolExecutor, tuple[Connection, Connection],
                                        tuple[Connection, Connection]]:
    """A process pool of ``workers`` processes whose workers end with this process
    (:func:`start_worker`), the pipe that tells them, and the pipe each tells once it has
    started, whose read end polls true then (close all four ends once the pool is shut down:
    pipes, not an event, whose semaphores a process terminated leaves behind)."""
    # forkserver: forking a process that runs threads (a Dask client, a solver) can deadlock
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    owner = context.Pipe(duplex=False)  # (read end: the workers', write end: only ours)
    started = context.Pipe(duplex=False)  # (read end: ours, write end: the workers')
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=start_worker,
                               initargs=(owner[0], started[1]))
    return pool, owner, started


def start_worker(owner: Connection, started: Connection | None = None) -> None:
    """Start a worker of the default pool (a process per core).

    Its pricing searches (and ``expected_bound``'s row pricing) stay in one thread
    (``solvers.pricing.THREADS``), or the pool would run more threads than cores. And it ends
    once the process that started the pool is gone, however that ended: ``owner`` is the read
    end of a pipe whose write end only that process holds, so it reads end-of-file then.
    Killed (SIGKILL, or SIGTERM where nothing handles it), that process cannot stop its pool,
    and its workers waited for ever on queues nobody reads (a shell pipeline reading their
    output with them). It tells ``started`` (a pipe's write end) that it has started."""
    from .solvers import pricing

    pricing.THREADS = 1
    threading.Thread(target=_end_with, args=(owner,), name="harmonybatch-mp-owner", daemon=True).start()
    if started is not None:
        started.send_bytes(b"")


def _end_with(owner: Connection) -> None:
    try:
        while True:  # the owner never writes: this returns at its end only
            owner.recv_bytes()
    except (EOFError, OSError):
        os._exit(1)


def stop_workers(executor: ProcessPoolExecutor) -> None:
    """Stop the default pool's workers now: leaving on Ctrl-C must not wait for every plan
    already running (``shutdown`` would, each up to its time limit). The pool's thread is
    joined then: where it ended as the process did (the CLI ends without the interpreter's
    teardown), the semaphores of the queues it let go were left to multiprocessing's resource
    tracker, which warned of them."""
    processes = list((getattr(executor, "_processes", None) or {}).values())  # the pool's own table (3.10-3.14)
    thread = getattr(executor, "_executor_manager_thread", None)
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:  # reaped, not left as zombies
        process.join(STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()
    if thread is not None:
        thread.join(STOP_SECONDS)
