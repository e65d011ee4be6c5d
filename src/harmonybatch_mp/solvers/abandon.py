"""A backend's solve that the call can leave at its deadline (formulations/set_partitioning.md,
"Time limits").

Some backends do not look at the clock for seconds at a time: HiGHS on 98,280 columns of 12
apps ran 9.3 s in its first heuristic without calling back, and CBC through Pyomo spent 3.1 s
building, 3.2 s writing and 6.4 s solving a model given 0.5 s. :func:`run_by` runs such work
in a thread of its own and waits for it only until the deadline; a call then ends with what it
knows, and the work ends on its own in the background, releasing what it holds when it does.
The thread is not a daemon: a process waits for it at exit. (Killed at exit instead, HiGHS's
worker threads were destroyed running, and the process aborted: "terminate called without an
active exception".)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def run_by(work: Callable[[], T], deadline: float, *, on_late: Callable[[], None] | None = None,
           name: str = "harmonybatch-mp backend") -> tuple[bool, T | None]:
    """Run ``work()`` in a thread of its own; wait for it until ``deadline`` (``time.perf_counter()``).

    Returns ``(True, result)`` when it ended in time (an exception it raised is raised here),
    and ``(False, None)`` when the deadline came first. Late work goes on in its thread: its
    result or exception is dropped, and ``on_late`` runs there once it ends (to release a lock
    the caller took for it; the caller must not release it then).

    >>> run_by(lambda: 6 * 7, time.perf_counter() + 5)
    (True, 42)
    >>> released = threading.Event()
    >>> run_by(lambda: time.sleep(0.2), time.perf_counter() + 0.01, on_late=released.set)
    (False, None)
    >>> released.wait(5)
    True
    """
    outcome: list[tuple[bool, object]] = []
    finished = threading.Event()
    handoff = threading.Lock()
    late: list[bool] = []

    def target() -> None:
        try:
            outcome.append((True, work()))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, or dropped when late
            outcome.append((False, exc))
        finally:
            with handoff:
                finished.set()
                if late and on_late is not None:
                    on_late()

    threading.Thread(target=target, name=name).start()
    wait = max(0.0, deadline - time.perf_counter())
    if not finished.wait(None if wait >= threading.TIMEOUT_MAX else wait):
        with handoff:
            if not finished.is_set():
                late.append(True)
                return False, None
    ok, value = outcome[0]
    if not ok:
        raise value  # type: ignore[misc]
    return True, value  # type: ignore[return-value]
