"""Command-line commands over many plans: ``replan`` (schedules over a trace), ``bench``
(solvers on a workload family) and ``simulate`` of a schedule. Exit codes as in :mod:`.cli`."""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import math
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from ._io import print_out
from ._validate import integer, number
from .errors import InputError, PlanCheckError
from .platform import PRESETS, preset
from .profiles import builtin_profile, load_profile
from .report import format_schedule, format_simulation
from .solvers import solver_names

#: (:mod:`.cli`'s ``EXIT_OK`` and ``EXIT_INTERNAL``: ``bench`` exits with the second when the
#: executor lost plans, its rows' status ``lost``.)
EXIT_OK, EXIT_LOST = 0, 1
#: How long ``bench --scheduler`` tries to reach its scheduler (s; Dask's own default).
CONNECT_SECONDS = 30.0
#: The port of a scheduler's address that names none (Dask's).
SCHEDULER_PORT = 8786
#: How long ``bench --scheduler`` waits for the scheduler to have a worker (s): before the run
#: (then it is bad input), and during it once every worker has left (then the plans not made
#: are cancelled, rows of status ``lost``). Dask itself would wait for ever.
NO_WORKERS_SECONDS = 30.0
#: How often the run checks that the scheduler still has a worker (s).
WORKERS_POLL_SECONDS = 1.0


def add_batch_parsers(sub) -> None:
    """The ``replan`` and ``bench`` subcommands."""
    rp = sub.add_parser(
        "replan", help="plan every window of a rate trace, with a penalty per reconfiguration",
        description="Forecast each app's rate per window from past windows only (the first window is the "
                    "warm-up) and plan the window for its expected spend plus --change-penalty per function "
                    "started or reconfigured relative to the running plan (exact with --solver milp).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  harmonybatch-mp replan --trace examples/azure/slices.csv --workload "
               "examples/azure/slos.csv --window 1 --change-penalty 0.001")
    rp.add_argument("--trace", required=True, metavar="FILE", help="per-minute counts: CSV rows 'name,count,...'")
    rp.add_argument("--workload", required=True, metavar="SLOS.csv", help="CSV with header name,slo")
    rp.add_argument("--window", type=int, default=1, metavar="MIN", help="window length in minutes (default 1)")
    rp.add_argument("--forecast", default="last", metavar="last|max:K|ewma:A",
                    help="rate forecast from past windows (default last)")
    rp.add_argument("--change-penalty", type=float, default=0.0, metavar="P",
                    help="currency per function started or reconfigured (default 0: plan every window from scratch)")
    rp.add_argument("--model", default="VGG19", metavar="NAME", help="built-in model profile (default VGG19)")
    rp.add_argument("--profile", metavar="FILE", help="model profile JSON file")
    rp.add_argument("--preset", default="reference", choices=PRESETS, help="platform preset (default reference)")
    rp.add_argument("--solver", default="milp", choices=solver_names())
    rp.add_argument("--cost-model", choices=("expected", "full-batch"), default="expected")
    rp.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                    help="seconds for the whole replan (any solver): each window planned gets an equal share of "
                         "what is left")
    rp.add_argument("--json", action="store_true", help="print the schedule as JSON")
    rp.add_argument("-o", "--output", metavar="SCHEDULE.json", help="also write the schedule to this file")
    bp = sub.add_parser(
        "bench", help="run every solver on a workload family: cost, gap to the proven bound, time",
        description="Benchmark solvers on a seeded workload family; writes rows.csv, rows.json and summary.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  harmonybatch-mp bench --quick --out bench-out\n"
               "  harmonybatch-mp bench --family random --workers 2 --simulate 600 --out bench-random\n"
               "  harmonybatch-mp bench --family scale --solvers milp dp greedy --scheduler tcp://host:8786\n\n"
               "exit codes: 0 every plan made or refused by its solver (rows with status error: no plan, or\n"
               "none in time), 1 plans lost by the executor (status lost: a worker or the scheduler gone),\n"
               "2 bad input, 130 interrupted (Ctrl-C).")
    bp.add_argument("--family", default="paper", choices=("paper", "paper-high", "random", "scale"))
    bp.add_argument("--solvers", nargs="+", default=None, metavar="NAME", help="solvers to run (default: "
                    "milp dp greedy mbs batch)")
    bp.add_argument("--cost-model", choices=("expected", "full-batch"), default="expected")
    bp.add_argument("--simulate", type=float, metavar="SECONDS", help="also simulate every plan for this long")
    bp.add_argument("--count", type=int, default=5, help="workloads per model (paper, random; default 5)")
    bp.add_argument("--seed", type=int, default=0)
    bp.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                    help="time limit per plan, in seconds (every built-in solver takes one; a registered solver "
                         "without a time_limit option runs unbounded)")
    bp.add_argument("--quick", action="store_true", help="one paper workload per model, 60 s simulated (< 2 min)")
    where = bp.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="local worker processes (default: the cores this process may use)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="a dask.distributed scheduler to run on "
                       f"(pip install '.[dask]'; its port, usually {SCHEDULER_PORT}, not its dashboard's); with no "
                       f"worker for {NO_WORKERS_SECONDS:g} s, before the run or during it, or no answer for as long, "
                       "the plans not made are given up")
    bp.add_argument("--out", default="bench-out", metavar="DIR", help="output folder (default bench-out)")


def simulate_schedule_command(args, data) -> int:
    """``simulate SCHEDULE.json --trace FILE``."""
    from .schedule import Schedule, check_schedule
    from .schedule_sim import simulate_schedule
    from .trace import load_trace

    schedule = Schedule.from_dict(data, where=f"schedule {args.plan!r}")
    try:
        check_schedule(schedule)
    except PlanCheckError as exc:
        raise InputError(f"schedule file {args.plan!r} does not agree with its models:\n  "
                         + "\n  ".join(exc.problems)) from None
    if not args.trace:
        raise InputError("simulate: a schedule is replayed over its trace; give --trace FILE")
    result = simulate_schedule(schedule, load_trace(args.trace), seed=args.seed)
    print_out(json.dumps(result.to_dict(), indent=2) if args.json else format_simulation(result))
    return EXIT_OK


def _time_limit(seconds: float) -> float:
    """``--time-limit`` checked: a finite number of seconds > 0."""
    if not 0 < seconds < math.inf:
        raise InputError(f"--time-limit must be a finite number of seconds > 0, got {seconds}")
    return seconds


def cmd_replan(args) -> int:
    """``replan``: plan every window of a trace."""
    from .replan import load_slos, replan
    from .trace import load_trace

    limit = {} if args.time_limit is None else {"time_limit": _time_limit(args.time_limit)}
    profile = load_profile(args.profile) if args.profile else builtin_profile(args.model)
    schedule = replan(load_trace(args.trace), load_slos(args.workload), profile, preset(args.preset),
                      window_min=args.window, forecast=args.forecast, change_penalty=args.change_penalty,
                      solver=args.solver, cost_model=args.cost_model, **limit)
    if args.output:
        schedule.write(args.output)
    print_out(schedule.to_json() if args.json else format_schedule(schedule))
    return EXIT_OK


def cmd_bench(args) -> int:
    """``bench``: every solver on a workload family."""
    from .bench import DEFAULT_SOLVERS, LOST, quick_settings, run_bench
    from .solvers import get_solver

    solvers = tuple(args.solvers or DEFAULT_SOLVERS)
    for s in solvers:
        get_solver(s)
    settings = quick_settings() if args.quick else {"family_name": args.family, "count": args.count,
                                                      "simulate_s": args.simulate}
    # each flag named as the user typed it (run_bench named its own parameters: "simulate_s")
    integer(args.count, "--count", minimum=1)
    if args.simulate is not None:
        number(args.simulate, "--simulate", nonnegative=True)
    if args.workers is not None:
        integer(args.workers, "--workers", minimum=1)
    integer(args.seed, "--seed", minimum=0)
    if args.time_limit is not None:
        _time_limit(args.time_limit)
    executor, client = None, None
    if args.scheduler is not None:
        if not args.scheduler.strip():  # (Dask would start a local cluster for an empty address)
            raise InputError("--scheduler: expected a dask.distributed scheduler's address, e.g. tcp://host:8786")
        client = _connect(args.scheduler)
        executor = client.get_executor()
    from tqdm import tqdm

    total = len(solvers) * len(__import__("harmonybatch_mp.families", fromlist=["family"]).family(
        settings["family_name"], seed=args.seed, count=settings["count"]))
    try:
        if client is not None:
            _wait_for_a_worker(client, args.scheduler)
        with tqdm(total=total, unit="plan", desc="bench", file=sys.stderr, disable=None, leave=False) as bar, \
                _quiet_dask(client is not None), _workers_watched(client, executor) as starved:
            rows = run_bench(settings["family_name"], solvers=solvers, cost_model=args.cost_model,
                             simulate_s=settings["simulate_s"], count=settings["count"], seed=args.seed,
                             executor=executor, workers=args.workers, out=args.out, time_limit=args.time_limit,
                             progress=bar.update)
    finally:
        if client is not None:
            client.close()
    errors, lost = sum(r.cost is None for r in rows), sum(r.status == LOST for r in rows)
    print_out(f"{len(rows)} rows ({errors} errors) written to {args.out}/rows.csv, rows.json, summary.md")
    if starved.is_set():
        print(f"harmonybatch-mp: the scheduler at {args.scheduler} "
              f"{'did not answer' if starved.silent else 'had no worker'} for {NO_WORKERS_SECONDS:g} s: "
              "the plans not made by then were cancelled", file=sys.stderr)
    if lost:
        print(f"harmonybatch-mp: the executor lost {lost} of {len(rows)} plans (their rows' status is {LOST!r} and "
              f"their error says why): the benchmark is incomplete", file=sys.stderr)
        return EXIT_LOST
    return EXIT_OK


def _connect(address: str) -> Any:
    """A Dask client of the scheduler at ``address``, or an InputError naming it.

    A client that fails to connect is garbage in a reference cycle whose ``__del__`` closes it,
    taking Dask's lock of every loop runner. Collected where another client (a later ``bench``
    in this process) is starting, in the thread of its event loop, it waited for that lock
    while the starting client held it, waiting for that thread: both for ever (the test suite
    hung so). It is collected here instead, where this thread holds no lock of Dask's."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise InputError("--scheduler needs dask.distributed: pip install '.[dask]'") from None
    start = time.monotonic()
    failed = _unreachable(address)
    if failed is None:
        failed = _no_handshake(address, max(1.0, CONNECT_SECONDS - (time.monotonic() - start)))
    if failed is None:
        try:  # (the 30 s are the probes' and the client's together)
            return Client(address, timeout=max(1.0, CONNECT_SECONDS - (time.monotonic() - start)))
        except Exception as exc:  # an address Dask cannot read, or not a Dask scheduler there
            failed = f"{type(exc).__name__}: {exc}"
        gc.collect()  # (outside the except clause, whose exception holds the failed client's frames)
    raise InputError(f"--scheduler {address!r}: cannot connect to a dask.distributed scheduler there ({failed})")


def _unreachable(address: str) -> str | None:
    """Why nothing answers at the TCP (or TLS) ``address``: the connection refused, the host
    unknown, or no answer within :data:`CONNECT_SECONDS`; None where something does, or where
    the address is of another kind (Dask then says what it makes of it). Asked before Dask's
    client, which retries a refused connection until its timeout and leaves its event loop's
    thread behind (a call on a port nothing listened on took the 30 s, and left a thread)."""
    from distributed.comm import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        host, port = parse_host_port(location, SCHEDULER_PORT)
    except ValueError:
        return None
    if scheme not in ("tcp", "tls"):
        return None
    try:
        socket.create_connection((host, port), timeout=CONNECT_SECONDS).close()
    except (OSError, OverflowError, ValueError) as exc:  # (refused, a host unknown or not a name, a timeout)
        return f"{type(exc).__name__}: {exc}"
    return None


def _no_handshake(address: str, seconds: float) -> str | None:
    """Why the server at ``address`` does not answer Dask's handshake within ``seconds``; None
    where it answers. A server that accepts the connection and says nothing (a dashboard's
    port, 8787, waits for an HTTP request) kept Dask's client waiting for ever, whatever its
    timeout (dask/distributed#8071). The handshake runs on an event loop and in a thread of its
    own, which end with it (the caller may be in a running loop: a notebook's)."""
    import asyncio

    from distributed.comm import connect
    from distributed.security import Security

    async def shake() -> None:
        comm = await asyncio.wait_for(connect(address, timeout=seconds, **Security().get_connection_args("client")),
                                      seconds)
        await comm.close()

    failed: list[str] = []

    def run() -> None:
        try:
            asyncio.run(shake())
        except TimeoutError:
            failed.append(f"no Dask handshake within {seconds:.3g} s; a scheduler's port is "
                          f"usually {SCHEDULER_PORT}, not its dashboard's")
        except Exception as exc:  # an address Dask cannot read, a closed comm, bytes that are not Dask's
            failed.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=run, name="harmonybatch-scheduler-handshake", daemon=True)
    thread.start()
    thread.join()
    return failed[0] if failed else None


def _wait_for_a_worker(client: Any, address: str) -> None:
    """Return once the scheduler of ``client`` has a worker, or raise an InputError naming
    ``address`` after :data:`NO_WORKERS_SECONDS` (its plans would wait for one for ever)."""
    try:
        client.wait_for_workers(1, timeout=NO_WORKERS_SECONDS)
    except OSError as exc:  # (Dask's timeout is a TimeoutError; a scheduler gone, a closed comm)
        if not isinstance(exc, TimeoutError):
            raise InputError(f"--scheduler {address!r}: lost the scheduler while waiting for a worker "
                             f"({type(exc).__name__}: {exc})") from None
        raise InputError(f"--scheduler {address!r}: the scheduler has no worker (none joined within "
                         f"{NO_WORKERS_SECONDS:g} s); start one with: dask worker {address}") from None


class _Starved(threading.Event):
    """Set once the watch of :func:`_workers_watched` cancelled the plans not made; ``silent``
    where the scheduler had stopped answering, rather than had no worker."""

    silent = False


@contextlib.contextmanager
def _workers_watched(client: Any, executor: Any) -> Iterator[_Starved]:
    """While the block runs, a thread checks every :data:`WORKERS_POLL_SECONDS` that the
    scheduler of ``client`` (None: nothing to watch) has a worker; once it has had none, or
    has not answered, for :data:`NO_WORKERS_SECONDS`, it cancels what ``executor`` has not
    finished (rows of status ``lost``) and sets the event yielded. A scheduler that does not
    answer (frozen, or cut off without the connection's reset) kept the plans waiting for
    ever: the client is closed then, which cancels its futures without asking the scheduler.
    A scheduler gone ends the watch: the client loses the plans then."""
    starved, stop = _Starved(), threading.Event()

    def watch() -> None:
        since = None  # since when the scheduler has had no worker, or not answered
        while not stop.wait(WORKERS_POLL_SECONDS):
            asked = time.monotonic()
            try:
                workers = len(client.nthreads(callback_timeout=NO_WORKERS_SECONDS))
                starved.silent = False
            except TimeoutError:
                workers, starved.silent = 0, True
            except Exception:  # the scheduler gone, or the client closing
                return
            if workers:
                since = None
            elif since is None:
                since = asked
            if since is not None and time.monotonic() - since >= NO_WORKERS_SECONDS:
                starved.set()
                if starved.silent:  # (Dask's executor cancels by asking the scheduler: no answer would come)
                    with contextlib.suppress(Exception):  # (not a thread's traceback: the rows say what was lost)
                        client.close(timeout=CONNECT_SECONDS)
                else:
                    executor.shutdown(wait=False)  # (Dask's executor: cancels its futures)
                return

    thread = None
    if client is not None:
        thread = threading.Thread(target=watch, name="harmonybatch-workers-watch", daemon=True)
        thread.start()
    try:
        yield starved
    finally:
        stop.set()
        if thread is not None:  # (a scheduler that stopped answering: the thread is a daemon, left to end)
            thread.join(CONNECT_SECONDS)


@contextlib.contextmanager
def _quiet_dask(quiet: bool) -> Iterator[None]:
    """Dask's own error logs off while ``quiet``: a scheduler gone mid-run had its client print a
    traceback on every attempt to reconnect; the plans it lost are said once, by their rows."""
    names = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] == "distributed"] if quiet else []
    levels = {n: logging.getLogger(n).level for n in names}  # (Dask sets some children's levels: each is set)
    for n in names:
        logging.getLogger(n).setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)
