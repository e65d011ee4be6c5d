"""Command-line interface: ``harmonybatch-mp plan | export | simulate | profile fit``.

Exit codes: 0 success; 1 internal error (a plan failed its own check);
2 bad input (the message names the field, file or app); 3 infeasible (each app
that no function can serve is named with the lowest latency the platform can give);
4 the solver stopped without a plan (a time limit with no plan known, a backend that
is missing or failed, candidate groups that hold no plan keeping the side constraints); 130 interrupted (Ctrl-C); 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from ._io import drop_stdout, print_out, write_text
from ._validate import read_json
from .check import check_plan
from .cli_batch import add_batch_parsers, cmd_bench, cmd_replan, simulate_schedule_command
from .errors import HarmonyBatchError, InfeasibleError, InputError, PlanCheckError, SolverError
from .expected_cost import EXPECTED
from .platform import PRESETS, load_platform, preset
from .profiles import BUILTIN_MODELS, builtin_profile, load_profile
from .report import format_plan, format_simulation
from .solvers import SideConstraints, build_model, get_solver, solve, solver_names
from .workload import DEFAULT_APPS, load_workload, parse_apps

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_INFEASIBLE, EXIT_SOLVER = 0, 1, 2, 3, 4
#: The reader of the output went away (128 + SIGPIPE, as shell tools exit).
EXIT_BROKEN_PIPE = 141
#: Interrupted (Ctrl-C: 128 + SIGINT, as shell tools exit).
EXIT_INTERRUPTED = 130
#: Terminated (SIGTERM: ``kill``, ``timeout``, a job scheduler; 128 + SIGTERM).
EXIT_TERMINATED = 143

_EPILOG = """\
examples:
  harmonybatch-mp plan
      the built-in default: VGG19, preset 'reference', 8 apps (SLO 0.3..1.0 s)
  harmonybatch-mp plan --model BERT --apps "0.2:5,0.5:20,1.0:50" --solver dp
  harmonybatch-mp plan --workload apps.csv --preset paper --json > plan.json
  harmonybatch-mp plan --max-gpu-functions 1 --isolate app0/app1 --pin app7=cpu
  harmonybatch-mp export --format mps model.mps

exit codes: 0 plan found, 2 bad input, 3 infeasible (apps named with the
tightest latency the platform can give them), 4 the solver stopped without a
plan (time limit, missing backend, candidates with no plan keeping the side
constraints), 1 internal error, 130 interrupted (Ctrl-C),
143 terminated (SIGTERM: stopped as Ctrl-C stops it).
"""


def _add_instance_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("instance")
    m = g.add_mutually_exclusive_group()
    m.add_argument("--model", default="VGG19", metavar="NAME",
                   help=f"built-in model profile: {', '.join(BUILTIN_MODELS)} (default VGG19)")
    m.add_argument("--profile", metavar="FILE", help="model profile JSON file (schema of the built-in profiles)")
    w = g.add_mutually_exclusive_group()
    w.add_argument("--apps", metavar="SLO:RATE,...",
                   help=f'apps as "SLO:RATE" pairs (s, requests/s), named app0, app1, ... '
                        f'(default "{DEFAULT_APPS}")')
    w.add_argument("--workload", metavar="FILE", help="workload CSV (header name,slo,rate) or JSON list of objects")
    g.add_argument("--cost-model", choices=("expected", "full-batch"), default="expected",
                   help="expected (default): the cost actually paid under Poisson arrivals, partial batches "
                        "included, timeouts chosen per group; full-batch: the paper's Eqs. 6 and 9")
    g.add_argument("--timeout-levels", type=int, default=None, metavar="J",
                   help="expected cost model only: timeout scales 1, (J-1)/J, ..., 1/J tried per group "
                        "(default 4)")
    pl = g.add_mutually_exclusive_group()
    pl.add_argument("--preset", default="reference", choices=PRESETS, help="platform preset (default reference)")
    pl.add_argument("--platform", metavar="FILE", help="platform JSON file (schema of the preset files)")


def _add_candidate_args(g: argparse._ArgumentGroup, time_limit_help: str) -> None:
    """The flags ``plan`` and ``export`` share: candidate groups and the time limit (``time_limit_help``)."""
    g.add_argument("--candidates", choices=("auto", "all", "contiguous"), default="auto",
                   help="candidate groups: all subsets, SLO-contiguous runs, or auto (all when n <= 12 "
                        "and no --max-run; under full-batch, column generation over every group up to "
                        "40 apps; else contiguous, then under expected at 13 and 14 apps (15 given 40 s "
                        "of bound time) the model over every group, within --bound-time)")
    g.add_argument("--max-run", type=int, metavar="N", help="longest contiguous group (milp contiguous, dp)")
    g.add_argument("--time-limit", type=float, metavar="S", help=time_limit_help)


def _add_export_args(p: argparse.ArgumentParser) -> None:
    _add_candidate_args(p.add_argument_group("candidate groups"),
                        "seconds for building the model: a model not built by then is not written (exit 4); "
                        "writing a built model is not bounded")
    SideConstraints.add_arguments(p)


def _add_milp_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("milp: candidate groups and solver options")
    _add_candidate_args(g, "seconds for the whole call (any solver); at the limit the best plan known is "
                           "returned with the bound proven by then (exit 4 where none is known)")
    g.add_argument("--rel-gap", type=float, default=0.0, metavar="G", help="relative MIP gap (default 0: prove optimum)")
    g.add_argument("--abs-gap", type=float, default=0.0, metavar="G",
                   help="absolute MIP gap in cost per million requests (default 0)")
    g.add_argument("--threads", type=int, metavar="N", help="solver threads")
    g.add_argument("--warm-start", choices=("dp", "greedy"), help="start the solver from this solver's plan")
    g.add_argument("--bound-time", type=float, metavar="S",
                   help="when the plan is not proven over every partition: seconds (within --time-limit) "
                        "of column generation to raise the certificate's bound, under full-batch taking "
                        "colgen's plan where cheaper (default: what --time-limit leaves, up to 1,000 apps under "
                        "expected and 500 under full-batch; without a limit 5, up to 500 apps under "
                        "expected and 120 under full-batch; 0 above; "
                        "0: the per-app bound only)")
    g.add_argument("--move-time", type=float, metavar="S",
                   help="when the plan is optimal over contiguous groups only: seconds (within --time-limit) "
                        "of moving single apps between groups to lower its cost (default 5 up to 500 apps under "
                        "expected and 2,000 under full-batch, 0 above; 0: the contiguous optimum)")
    g.add_argument("--backend", default="appsi_highs", metavar="NAME",
                   help="MILP backend: appsi_highs (default, in process) or any Pyomo SolverFactory name "
                        "(glpk, cbc, gurobi, cplex, scip) installed on this machine")
    SideConstraints.add_arguments(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harmonybatch-mp",
        description="Cost-optimal, SLO-safe serverless DNN inference plans (HarmonyBatch model, solved exactly).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EPILOG,
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    plan = sub.add_parser("plan", help="plan a workload and print the plan",
                          description="Group the apps, provision a function per group, print the plan.",
                          formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG)
    _add_instance_args(plan)
    plan.add_argument("--solver", default="milp", choices=solver_names(),
                      help="; ".join(f"{name}: {get_solver(name).description}" for name in solver_names()))
    plan.add_argument("--force", action="store_true", help="let solver exact run on 11 to 13 apps (13: about 35 s)")
    plan.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    _add_milp_args(plan)
    export = sub.add_parser("export", help="write the MILP of a workload as an LP or MPS file",
                            description="Write the set-partitioning MILP (objective: cost per million requests).")
    _add_instance_args(export)
    export.add_argument("--format", choices=("lp", "mps"), default=None, help="file format (default: from OUT's suffix)")
    export.add_argument("out", metavar="OUT", help="output file (written atomically), or - for standard output "
                        "(with --format)")
    export.add_argument("--full", action="store_true",
                        help="keep every candidate group and the cheapest column per function kind and GPU size "
                             "(no reductions), for adding your own rows")
    _add_export_args(export)
    sim = sub.add_parser(
        "simulate", help="replay arrivals through a plan: SLO violations and the cost actually paid",
        description="Simulate a plan written by 'harmonybatch-mp plan --json': Poisson arrivals at each app's rate "
                    "(or a per-minute trace), one batch buffer per group, invocations with execution times drawn "
                    "uniformly on [max(0, 2 L_avg - L_max), L_max] of the actual batch size.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  harmonybatch-mp plan --json > plan.json && harmonybatch-mp simulate plan.json --duration 3600")
    sim.add_argument("plan", metavar="PLAN.json",
                     help="plan JSON written by 'harmonybatch-mp plan --json', or a schedule written by "
                          "'harmonybatch-mp replan -o' (replayed over --trace)")
    src = sim.add_mutually_exclusive_group()
    src.add_argument("--duration", type=float, metavar="SECONDS", help="seconds of Poisson arrivals (default 600)")
    src.add_argument("--trace", metavar="FILE",
                     help="per-minute counts per app: CSV rows 'name,count,count,...' (Azure Functions trace layout)")
    sim.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sim.add_argument("--json", action="store_true", help="print one JSON object {overall, apps}")
    sim.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_batch_parsers(sub)
    prof = sub.add_parser("profile", help="fit a model profile from latency measurements",
                          description="Model profiler commands.")
    psub = prof.add_subparsers(dest="profile_command", metavar="SUBCOMMAND")
    fit = psub.add_parser(
        "fit", help="fit a profile from a measurement CSV",
        description="Fit CPU latency curves (alpha*exp(-c/beta)+gamma per batch, mean and max), GPU xi1, xi2, "
                    "the GPU-bound share and time slice, and memory demand from a measurement CSV with header "
                    "kind,vcpu,gpu_mem_gb,batch,latency_s[,mem_mb] (one sample per row). Prints the fit quality.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  harmonybatch-mp profile fit measurements.csv -o mymodel.json --name MyModel\n"
               "  harmonybatch-mp plan --profile mymodel.json --apps 0.5:5,1.0:20")
    fit.add_argument("measurements", metavar="MEASUREMENTS.csv")
    fit.add_argument("-o", "--output", required=True, metavar="PROFILE.json", help="where to write the profile")
    fit.add_argument("--name", default=None, help="model name (default: the output file's stem)")
    fit.add_argument("--quantile", type=float, metavar="Q",
                     help="fit the max curves to this quantile (e.g. 0.99) instead of the maximum")
    fit.add_argument("--preset", default="reference", choices=PRESETS,
                     help="platform whose GPU vCPU share and time-slicing overhead the formulas use")
    fit.add_argument("--device-mem", type=int, metavar="GB", help="memory of a whole GPU (default: largest measured)")
    return parser


def _timeout_levels(args) -> int | None:
    """``--timeout-levels``, which only the expected cost model takes (given with another, an error)."""
    if args.timeout_levels is None:
        return None
    if args.cost_model != EXPECTED:
        raise InputError(f"--timeout-levels applies to --cost-model expected only (a group's cost under "
                         f"{args.cost_model} does not depend on its timeouts); drop it or the cost model")
    return args.timeout_levels


def _instance(args):
    profile = load_profile(args.profile) if args.profile else builtin_profile(args.model)
    platform = load_platform(args.platform) if args.platform else preset(args.preset)
    if args.workload:
        workload = load_workload(args.workload)
    else:
        workload = parse_apps(args.apps if args.apps is not None else DEFAULT_APPS)
    return workload, profile, platform


_MILP_FLAGS = {"candidates": "auto", "max_run": None, "time_limit": None, "rel_gap": 0.0, "abs_gap": 0.0,
               "threads": None, "warm_start": None, "backend": "appsi_highs", "bound_time": None,
               "move_time": None}


def _solver_options(args) -> dict:
    """The options for ``--solver``; a flag the solver does not take is an error, not ignored."""
    spec = get_solver(args.solver)
    given = {k: getattr(args, k) for k, default in _MILP_FLAGS.items() if getattr(args, k) != default}
    if args.force:
        given["force"] = True
    unknown = sorted(set(given) - spec.options)
    if unknown:
        flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
        raise InputError(f"solver {args.solver} does not take {flags}; "
                         f"its options: {', '.join('--' + o.replace('_', '-') for o in sorted(spec.options)) or 'none'}")
    return given


def _cmd_plan(args) -> int:
    workload, profile, platform = _instance(args)
    plan = solve(workload, profile, platform, solver=args.solver, side=SideConstraints.from_arguments(args),
                 cost_model=args.cost_model, timeout_levels=_timeout_levels(args),
                 **_solver_options(args))
    print_out(plan.to_json() if args.json else format_plan(plan))
    return EXIT_OK


def _cmd_export(args) -> int:
    fmt = args.format or args.out.rsplit(".", 1)[-1].lower()
    if fmt not in ("lp", "mps"):
        raise InputError(f"export: cannot tell the format of {args.out!r}; give --format lp or --format mps")
    workload, profile, platform = _instance(args)
    model = build_model(workload, profile, platform, side=SideConstraints.from_arguments(args),
                        candidates=args.candidates, max_run=args.max_run, reduce=not args.full,
                        cost_model=args.cost_model, timeout_levels=_timeout_levels(args),
                        time_limit=args.time_limit)
    if args.out == "-":  # standard output, as the text a file would hold
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"model.{fmt}"
            model.write(path, fmt)
            print_out(path.read_text().rstrip("\n"))
    else:
        model.write(args.out, fmt)
    where = "standard output" if args.out == "-" else args.out
    print(f"wrote {where} ({fmt}): {len(model.columns)} columns, {model.problem.n} cover rows; objective in "
          f"cost per request x {model.scale:g}; reductions: {', '.join(model.reductions) or 'none'}",
          file=sys.stderr)
    return EXIT_OK


def _cmd_simulate(args) -> int:
    from .plan import load_plan
    from .simulate import simulate
    from .trace import load_trace

    data = read_json(args.plan, "plan or schedule")
    if isinstance(data, dict) and "windows" in data:
        return simulate_schedule_command(args, data)
    plan = load_plan(args.plan)
    try:
        check_plan(plan)
    except PlanCheckError as exc:  # a plan file is input: one that does not agree with its model is bad input
        raise InputError(f"plan file {args.plan!r} does not agree with the model it carries:\n  "
                         + "\n  ".join(exc.problems)) from None
    trace = load_trace(args.trace) if args.trace else None
    duration = None if trace else (args.duration if args.duration is not None else 600.0)
    expected = None  # the progress bar's total (simulate checks the duration itself)
    if duration is not None and 0 < duration * plan.workload.total_rate < float("inf"):
        expected = int(plan.workload.total_rate * duration)
    from tqdm import tqdm

    with tqdm(total=expected, unit="req", unit_scale=True, desc="simulating", file=sys.stderr,
              disable=True if args.no_progress else None, leave=False) as bar:
        result = simulate(plan, duration=duration, trace=trace, seed=args.seed, progress=bar.update)
    print_out(json.dumps(result.to_dict(), indent=2) if args.json else format_simulation(result))
    return EXIT_OK


def _cmd_profile(args) -> int:
    import warnings
    from pathlib import Path

    from .profiler import ProfileFitWarning, fit_profile

    if args.profile_command != "fit":
        raise InputError("profile: give a subcommand: fit (see 'harmonybatch-mp profile fit --help')")
    if args.device_mem is not None and args.device_mem < 1:
        raise InputError(f"--device-mem: the memory of a whole GPU must be a whole number of GB >= 1, "
                         f"got {args.device_mem}")
    name = args.name or Path(args.output).stem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProfileFitWarning)
        result = fit_profile(args.measurements, name=name, quantile=args.quantile, platform=preset(args.preset),
                             device_mem_gb=args.device_mem, source=f"fitted from {args.measurements}")
    write_text(args.output, json.dumps(result.profile.to_dict(), indent=2) + "\n")
    print_out(result.report())
    print_out(f"wrote {args.output}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``harmonybatch-mp`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_INPUT
    terminated: list[int] = []
    try:
        commands = {"plan": _cmd_plan, "export": _cmd_export, "simulate": _cmd_simulate, "replan": cmd_replan, "bench": cmd_bench,
                    "profile": _cmd_profile}
        with _sigterm_stops_as_ctrl_c(terminated):
            return commands[args.command](args)
    except InfeasibleError as exc:
        if exc.apps:
            print(f"harmonybatch-mp: infeasible: {len(exc.apps)} app(s) cannot be served:", file=sys.stderr)
            for a in exc.apps:
                print(f"  {a}", file=sys.stderr)
        else:
            print(f"harmonybatch-mp: infeasible: {exc}", file=sys.stderr)
        return EXIT_INFEASIBLE
    except PlanCheckError as exc:
        print(f"harmonybatch-mp: internal error, the plan failed its check: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    except SolverError as exc:
        print(f"harmonybatch-mp: solver stopped: {exc}", file=sys.stderr)
        return EXIT_SOLVER
    except BrokenPipeError:  # the reader went away (plan | head -1): stop quietly, as a shell tool does
        drop_stdout()
        return EXIT_BROKEN_PIPE
    except (InputError, HarmonyBatchError) as exc:
        print(f"harmonybatch-mp: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:  # Ctrl-C: one line, as a shell tool stops (files are written atomically or not at all)
        print(f"harmonybatch-mp: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


@contextlib.contextmanager
def _sigterm_stops_as_ctrl_c(seen: list[int]) -> Iterator[None]:
    """SIGTERM stops the command as Ctrl-C does (``seen`` records it): a temp file being
    written is removed, ``bench``'s worker processes are stopped, a HiGHS solve is stopped
    (its Ctrl-C handling runs). Killed by the signal's default action, none of that ran.
    Only in the main thread, and only where nobody else handles SIGTERM."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def stop(signum: int, frame: object) -> None:
        seen.append(signum)
        ctrl_c = signal.getsignal(signal.SIGINT)
        if callable(ctrl_c):  # Python's KeyboardInterrupt, or a HiGHS solve's flag (solvers/highs.py)
            ctrl_c(signal.SIGINT, frame)
        else:  # SIGINT ignored (a background job) or left to the system: stop all the same
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run() -> None:
    """The ``harmonybatch-mp`` console script and ``python -m harmonybatch_mp``: :func:`main`, then
    the exit. After Ctrl-C or SIGTERM (whose line :func:`main` has written, and whose temp files
    and workers are gone by then) the process ends without the interpreter's teardown: threads
    of the solve may still be in native code (compiled searches, HiGHS), and once a CI run's
    CLI, terminated, aborted there (SIGABRT, after its line)."""
    code = main()
    if code in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
