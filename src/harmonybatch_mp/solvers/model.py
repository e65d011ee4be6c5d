"""The set-partitioning model as an object users can extend and hand to any backend.

(Over 300 lines on purpose: one idea, the model object, from building its columns to
solving and certifying it; its Pyomo form is in :mod:`.pyomo_model`, the backends in
:mod:`.backends` and :mod:`.highs`.)

``formulations/set_partitioning.md`` writes the model out; its components carry the
same names here: the binary ``x`` indexed by column keys ``(group, configuration)``,
the objective ``cost``, one ``cover[a]`` row per app and the optional rows
``max_gpu``, ``gpu_budget`` and ``max_functions``.

>>> import pyomo.environ as pyo
>>> from harmonybatch_mp import build_model
>>> m = build_model("0.5:5,0.8:10,1.0:20", "VGG19")
>>> cpu = [k for k in m.pyomo.x if k[1].startswith("cpu")]
>>> m.pyomo.cpu_budget = pyo.Constraint(expr=sum(m.pyomo.x[k] for k in cpu) <= 0)
>>> plan = m.solve()
>>> [g.kind for g in plan.groups], f"{plan.total_cost:.4e}"
(['gpu'], '2.8434e-05')
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _validate as v
from .._sums import ordered_sum
from ..errors import InfeasibleError, InputError, SolverError
from ..expected_cost import EXPECTED
from ..plan import BOUNDED, HEURISTIC, OPTIMAL, RESTRICTED_OPTIMAL, TIME_LIMIT, Plan, SolverInfo
from ..platform import Platform
from ..profiles import ModelProfile
from ..solver_info import SCALE, allowance, relative_gap
from ..workload import App, Workload
from . import backends
from .abandon import run_by
from .base import Solution
from .candidates import (
    CONFIG_CHOICES,
    Column,
    _check_time,
    candidate_groups,
    dominance,
    fewest_runs,
    group_configs,
    reduce_all,
    reduce_contiguous,
)
from .highs import covers_of_masks, run_highs_arrays
from .kernels import PYOMO, ready
from .options import check_gaps, checked_deadline, deadline_of
from .problem import Problem, members
from .pyomo_model import _pyomo_model, column_keys, user_restrictions
from .side import SideConstraints

if TYPE_CHECKING:
    import pyomo.environ as pyo

#: Smallest scaled column weight wanted, and the largest allowed, when rescaling an instance: the
#: objective is in cost per million requests (``SCALE``; ``formulations/set_partitioning.md``,
#: "Numerics"), unless its smallest column weight would then fall under the solvers' tolerances.
MIN_SCALED_WEIGHT, MAX_SCALED_WEIGHT = 1e-3, 1e9
#: Seconds a column takes to hand to HiGHS, to start it and to free after. 606,156 columns of 5,000
#: apps took 5.4 s to list and pass (1.7 s of it two full garbage collections) and 0.5 s to free;
#: with 10 us a column, a model built with 6 s left still ended its call 1.5 s past the limit, with
#: HiGHS holding 2.5 GB. A model's building stops where the time left is less than this for the
#: columns it has.
HANDOFF_PER_COLUMN = 2e-5
#: Seconds a column of a model of :data:`SOLVE_RESERVE_FROM` columns or more takes HiGHS to solve:
#: ``milp`` stops building such a model where the time left would not hand its columns over and
#: solve them too (and returns its plan made first). Under a GPU cap of 4, HiGHS took 15.5 s on
#: 182,553 columns (1,000 apps), 13.7 s on 239,941, 28.4 s on 362,607 and 43.7 s on 606,156
#: (5,000 apps: given 38 s, it found no plan, holding 6.3 GB), 57-85 us a column.
SOLVE_PER_COLUMN = 4e-5
#: Columns from which a model's building keeps time for solving it (:data:`SOLVE_PER_COLUMN`);
#: smaller models were not measured, and short limits solve them whole.
SOLVE_RESERVE_FROM = 100_000
#: Seconds a column takes to free after the solve, kept from the solver's deadline: the
#: 606,156-column model took 0.5 s to free and its heap 0.6-1.1 s a full garbage collection,
#: and with HiGHS given the model's whole deadline its call ended 0.1 s past its limit.
FREE_PER_COLUMN = 3e-6

_SCOPES = {"all": "all partitions", "contiguous": "contiguous candidate groups", "list": "candidate list"}


def _restricted(scope: str, broken: str) -> SolverError:
    """The error of a model over some groups only that holds no plan keeping the side
    constraints: no proof that none exists (``formulations/set_partitioning.md``)."""
    longer = "a longer max_run, " if "groups of at most" in scope else ""
    return SolverError(f"no plan of the {scope} satisfies the constraints together: {broken}; plans of other "
                       f"groups may ({longer}candidates='all', or solver 'colgen')", restricted=True)


def objective_scale(weights: Sequence[float]) -> float:
    """:data:`SCALE`, raised so the smallest positive weight stays above solver tolerances."""
    positive = [w for w in weights if w > 0]
    if not positive:
        return SCALE
    lo, hi = min(positive), max(positive)
    if lo * SCALE >= MIN_SCALED_WEIGHT:
        return SCALE
    return max(SCALE, min(MIN_SCALED_WEIGHT / lo, MAX_SCALED_WEIGHT / hi))


@dataclass(eq=False)
class SetPartitioningModel:
    """A built set-partitioning model: its columns, how they were chosen, and the Pyomo model.

    Attributes
    ----------
    problem : Problem
    columns : dict
        Column key ``(group label, configuration label)`` -> :class:`Column`, in the
        order of ``pyomo.x``.
    strategy : {"all", "contiguous", "list"}
        How candidate groups were generated.
    candidate_groups : int
        Candidate groups before reductions.
    reductions : tuple of str
        The reductions applied: ``"group dominance"``, ``"column dominance"``. Each is
        exact only for the rows the library itself adds.
    configs : str
        Columns per group (see ``candidates.CONFIG_CHOICES``).
    scale : float
        Objective units per unit of cost per request (1e6: cost per million requests).
    detail : str
        What the scope adds to the strategy's: the contiguous runs' longest, and groups
        offered besides them (:func:`.candidates.candidate_groups`).

    The Pyomo model (:attr:`pyomo`) is built on first access; until then the default
    backend solves the model straight from its arrays. Once it exists, every solve goes
    through it, so rows a user adds always count.
    """

    problem: Problem
    columns: dict[tuple[str, str], Column]
    strategy: str
    candidate_groups: int
    reductions: tuple[str, ...]
    configs: str
    scale: float
    detail: str = ""

    def __post_init__(self) -> None:
        self._pyomo: Any = None
        self._lock = threading.Lock()
        self._solving = threading.Lock()  # held by a solve through Pyomo (:meth:`_through_pyomo`)

    @property
    def pyomo(self) -> pyo.ConcreteModel:
        """The Pyomo ``ConcreteModel`` (built on first access). Add rows (or fix columns), then
        :meth:`solve`: the plan's scope names them. Its objective ``cost`` and its own rows stay
        (:func:`.pyomo_model.user_restrictions`)."""
        ready(PYOMO, None)  # Pyomo imported in one thread: first imports from several threads failed
        with self._lock:
            if self._pyomo is None:
                self._pyomo = _pyomo_model(self)
                self._objective = self._pyomo.cost.expr  # (the user's edits are checked against it)
            return self._pyomo

    def rows(self) -> list[tuple[str, np.ndarray, float]]:
        """The side-constraint rows, ``(name, coefficient per column, upper bound)``."""
        configs = [c.config for c in self.columns.values()]
        is_gpu = np.array([c.kind == "gpu" for c in configs])
        gpu_mem = np.array([c.gpu_mem_gb or 0 for c in configs], float)
        return self.problem.side.rows(is_gpu, gpu_mem)

    @property
    def scope(self) -> str:
        """What an optimum of this model is optimal over."""
        return _SCOPES[self.strategy] + self.detail

    def key_of(self, mask: int, config_index: int) -> tuple[str, str] | None:
        """The column key of a group with a configuration, or None if the model has no such column."""
        mask, config_index = self.problem.check_mask(mask), v.whole(config_index)
        for k, c in self.columns.items():
            if c.mask == mask and c.config.index == config_index:
                return k
        return None

    def solve(self, backend: str = backends.DEFAULT_BACKEND, *, time_limit: float | None = None,
              rel_gap: float = 0.0, abs_gap: float = 0.0, threads: int | None = None,
              warm_start: Sequence[int] | None = None, backend_options: Mapping[str, Any] | None = None) -> Plan:
        """Solve the model as it stands (with any rows the user added) and return a checked plan.

        Parameters are those of :meth:`solution`. Raises PlanCheckError if the user's
        changes let the solver return something that is not a valid plan.
        """
        from ..check import check_plan

        start = time.perf_counter()
        sol = self.solution(backend, deadline=deadline_of(start, time_limit), rel_gap=rel_gap, abs_gap=abs_gap,
                            threads=threads, warm_start=warm_start, backend_options=backend_options)
        plan = self.problem.plan(sol.groups, sol.configs, replace(sol.info, wall_time_s=time.perf_counter() - start))
        check_plan(plan)
        return plan

    def solution(self, backend: str = backends.DEFAULT_BACKEND, *, deadline: float | None = None,
                 rel_gap: float = 0.0, abs_gap: float = 0.0, threads: int | None = None,
                 warm_start: Sequence[int] | None = None,
                 backend_options: Mapping[str, Any] | None = None) -> Solution:
        """Solve and return the :class:`Solution` (groups, configurations, certificate).

        Parameters
        ----------
        backend : str
            ``appsi_highs`` (default) or a Pyomo ``SolverFactory`` name (``glpk``, ``cbc``, ...).
        deadline : float, optional
            ``time.perf_counter()`` by which to stop.
        rel_gap, abs_gap : float
            MIP gaps; ``abs_gap`` in cost per million requests. Default 0: prove the optimum.
        threads : int, optional
        warm_start : sequence of int, optional
            Group masks of a plan to start from (each with its optimal configuration). HiGHS
            runs without presolve unless ``backend_options`` turn it on; with a start, keep it
            off (formulations/column_generation.md, "Every integer master searches first":
            with it, HiGHS 1.16 could return the start as optimal).
        backend_options : mapping, optional
            Passed to the backend verbatim.
        """
        backend = backends.check_backend(backend)
        rel_gap, abs_gap, threads = check_gaps(rel_gap, abs_gap, threads)
        deadline = checked_deadline(deadline)
        if deadline is not None:
            deadline -= FREE_PER_COLUMN * len(self.columns)
        keys = list(self.columns)
        warm = None
        if warm_start is not None:
            starts = v.listed(warm_start, "warm_start", "a sequence of group masks")
            masks = [self.problem.check_mask(m) for m in starts]
            groups = {m: self.problem.group(m) for m in masks}  # a group no function serves starts at 0
            wanted = {self.key_of(m, cfg.index) for m, cfg in groups.items() if cfg is not None}
            warm = np.array([1.0 if k in wanted else 0.0 for k in keys]) if masks else None
        scaled_abs = abs_gap * self.scale / SCALE
        added = () if self._pyomo is None else user_restrictions(self._pyomo, tuple(r[0] for r in self.rows()),
                                                                  self._objective)
        if backend in backends.HIGHS_NAMES and self._pyomo is None:
            listed = list(self.columns.values())
            cost = np.array([self.scale * c.weight for c in listed])
            # the apps of each column, handed over without a name here: freed once HiGHS has the model
            res, values = run_highs_arrays(
                cost, covers_of_masks([c.mask for c in listed], self.problem.n, deadline),
                [(coef, ub) for _, coef, ub in self.rows()],
                self.problem.n, deadline=deadline, rel_gap=rel_gap, abs_gap=scaled_abs, threads=threads,
                warm_start=warm, backend_options=backend_options)
        else:
            res, values = self._through_pyomo(backend, keys, warm, deadline, rel_gap=rel_gap, abs_gap=scaled_abs,
                                              threads=threads, backend_options=backend_options)
        termination = res.termination
        if termination in (backends.OTHER, backends.INFEASIBLE) and deadline is not None \
                and time.perf_counter() >= deadline:
            # stopped by its time option and said otherwise (GLPK, CBC: "other"; CBC at times even
            # "infeasible", of a model whose apps alone are a plan): no proof of anything
            termination = backends.TIME_LIMIT
        if termination == backends.INFEASIBLE:
            active = "; ".join([*self.problem.side.active(), *added] or ["(the model's own rows)"])
            if self.strategy != "all":  # a proof over the candidates only
                raise _restricted(self.scope, active)
            raise InfeasibleError("no plan satisfies the constraints together: " + active,
                                  constraints=self.problem.side.active())
        chosen = [] if values is None else [c for c, v in zip(self.columns.values(), values) if v > 0.5]
        if values is not None and not _partitions(chosen, self.problem.n):
            values = None  # a point that is no plan (CBC stopped at a fractional one: "intermediateNonInteger")
        if values is None:
            if termination == backends.TIME_LIMIT:
                raise SolverError(f"{backend} reached the time limit before finding a feasible plan; "
                                  "raise the time limit or relax the gaps", time_limit=True)
            raise SolverError(f"{backend} stopped ({res.message}) without a feasible plan")
        objective = ordered_sum(c.weight for c in chosen)  # re-evaluated exactly, not the solver's rounded value
        bound = None if res.bound is None else min(res.bound / self.scale, objective)
        return self._certify([c.mask for c in chosen], [c.config for c in chosen], objective, bound,
                             termination, rel_gap, abs_gap, backend, added)

    def _through_pyomo(self, backend: str, keys: list, warm: np.ndarray | None, deadline: float | None,
                       **options: Any) -> tuple[backends.BackendResult, np.ndarray | None]:
        """Build (once), write and solve the Pyomo model with ``backend``: the result and the
        column values. Under a ``deadline`` all of it runs in a thread the call leaves at the
        deadline (:func:`.abandon.run_by`): on 98,280 columns (12 VGG19 apps) CBC given 0.5 s took 3.1 s to
        build, 3.2 s to write and 6.4 s to solve. The model is then busy until that thread ends
        (the next solve of it waits, within its own deadline)."""
        if not ready(PYOMO, deadline):  # imported in one thread, as for :attr:`pyomo`
            raise SolverError(f"time limit reached while loading Pyomo for backend {backend!r} (about 0.65 s "
                              "the first time in a process)", time_limit=True)

        def work() -> tuple[backends.BackendResult, np.ndarray | None]:
            x = self.pyomo.x
            if warm is not None:
                for k, value in zip(keys, warm):
                    x[k].value = value
            res = backends.run_backend(self.pyomo, backend, deadline=deadline, warm_start=warm is not None, **options)
            values = np.array([x[k].value if x[k].value is not None else 0.0 for k in keys]) if res.has_solution \
                else None
            return res, values

        wait = -1.0 if deadline is None else max(0.0, deadline - time.perf_counter())
        if not self._solving.acquire(timeout=min(wait, threading.TIMEOUT_MAX)):
            raise SolverError("time limit reached while an earlier solve of this model was still running",
                              time_limit=True)
        late = False
        try:
            if deadline is None:
                return work()
            done, out = run_by(work, deadline, on_late=self._solving.release, name=f"harmonybatch-mp {backend}")
            if not done:
                late = True
                raise SolverError(f"{backend} did not stop by the time limit (building, writing or solving the "
                                  "model) and no plan was known; raise the time limit", time_limit=True)
            return out  # type: ignore[return-value]
        finally:
            if not late:
                self._solving.release()

    def _certify(self, masks, configs, objective, bound, termination, rel_gap, abs_gap, backend, added) -> Solution:
        gap = relative_gap(objective, bound)
        proven = termination == backends.OPTIMAL and bound is not None and (
            objective - bound <= allowance(objective, (rel_gap, abs_gap)) + 1e-9 * abs(objective))
        status = OPTIMAL if proven else TIME_LIMIT if termination == backends.TIME_LIMIT else HEURISTIC
        restricted = None
        if bound is None and self.strategy == "all":  # no bound from the backend (GLPK stopped by its limit)
            bound = self.problem.lower_bound()
            gap = relative_gap(objective, bound)
        if self.strategy != "all":  # the solver's bound holds over the candidates only
            restricted, bound = bound, self.problem.lower_bound()
            gap = relative_gap(objective, bound)
            if status == OPTIMAL:
                status = RESTRICTED_OPTIMAL
        if status == HEURISTIC and termination == backends.OPTIMAL and bound is not None:
            # the backend ended its search as optimal within its own tolerances, short of the gaps
            # asked (HiGHS, gaps 0: 4.5e-8 of the plan): a global bound and its gap, not "no claim"
            status = BOUNDED
        scope = self.scope + (f", under what was added to the model: {', '.join(added)}" if added else "")
        info = SolverInfo("milp", status=status, objective=objective, bound=bound, gap=gap, scope=scope,
                          restricted_bound=restricted, backend=backend, columns=len(self.columns),
                          candidate_groups=self.candidate_groups)
        return Solution(tuple(masks), tuple(configs), info)

    def write(self, path: str | Path, fmt: str | None = None) -> None:
        """Write the model as an LP or MPS file (format from the suffix unless given), atomically,
        with names every reader takes (:class:`~harmonybatch_mp.solvers.pyomo_model.FileLabeler`)."""
        from .._io import as_path, atomic_output

        path = as_path(path, "model")
        fmt = path.suffix.lstrip(".") if fmt is None else fmt
        if not isinstance(fmt, str) or fmt.lower() not in ("lp", "mps"):
            raise InputError(f"export format must be 'lp' or 'mps', got {fmt!r:.40}")
        fmt = fmt.lower()
        model = self.pyomo
        from pyomo.opt import ProblemFormat

        from .pyomo_model import FileLabeler

        # names any reader takes; no OBJSENSE section (GLPK does not read it; minimising is MPS's default)
        options = {"labeler": FileLabeler(), **({} if fmt == "lp" else {"skip_objective_sense": True})}
        with atomic_output(path, suffix=f".{fmt}") as tmp:
            model.write(str(tmp), format=ProblemFormat.cpxlp if fmt == "lp" else ProblemFormat.mps, io_options=options)


def build_model(workload: Workload | Iterable[App] | str, profile: ModelProfile | str,
                platform: Platform | str = "reference", *, side: SideConstraints | None = None,
                candidates: str | Sequence[Sequence[str]] = "auto", max_run: int | None = None,
                reduce: bool = False, configs: str | None = None, cost_model: str = EXPECTED,
                timeout_levels: int | None = None, time_limit: float | None = None) -> SetPartitioningModel:
    """Build the set-partitioning model of a workload (``formulations/set_partitioning.md``).

    Parameters
    ----------
    workload, profile, platform
        As for :func:`~harmonybatch_mp.solve` (objects or names; a workload may be an
        ``"SLO:RATE,..."`` string).
    side : SideConstraints, optional
    candidates : {"auto", "all", "contiguous"} or list of lists of app names
    max_run : int, optional
        Longest contiguous candidate group.
    reduce : bool
        Apply the reductions that are exact for the library's own rows (group dominance
        without counting rows, column dominance). Default False: keep every candidate
        group, so that a row the user adds cannot lose an optimum the reductions removed.
    configs : {"optimum", "pareto", "all"}, optional
        Columns per group. Default ``"pareto"`` without ``reduce`` (the cheapest per kind
        and GPU memory size: exact for any row on groups, kinds, GPU counts or GPU
        memory); ``"all"`` for rows on other attributes (vCPU, batch).
    cost_model : {"expected", "full-batch"}
        How columns are priced (``formulations/model.md`` sections 5 and 12); under
        ``expected`` each column carries its timeout scale.
    timeout_levels : int, optional
        As for :func:`~harmonybatch_mp.solve` (``expected`` only).
    time_limit : float, optional
        Seconds for building the model (pricing the apps alone and every candidate group):
        SolverError (its ``time_limit`` True) once they pass. A model of 5,000 apps under
        ``full-batch`` (7.6 million columns) took 98 s and 5 GB.
    """
    from . import as_instance
    from .options import deadline_of

    deadline = deadline_of(time.perf_counter(), time_limit)
    problem = Problem(*as_instance(workload, profile, platform), side=side, cost_model=cost_model,
                      timeout_levels=timeout_levels)
    problem.require_feasible(deadline)
    return build_from_problem(problem, candidates=candidates, max_run=max_run, reduce=reduce, configs=configs,
                              deadline=deadline, handoff=False)


def _not_among(extra: list[int], masks: list[int]) -> list[int]:
    """The groups of ``extra`` that are not in ``masks``. Masks are compared where their highest
    bit and bit count agree: hashing a mask reads all its bits (``set(masks)`` of the 318,000
    runs of 5,000 apps took 1 s, and ended a 5 s call 0.3 s past its limit).

    >>> _not_among([3, 5, 8, 6 << 70], [1, 3, 6, 8, 6 << 70])
    [5]
    """
    if not extra:
        return []
    keyed: dict[tuple[int, int], list[int]] = {}
    for m in extra:
        keyed.setdefault((m.bit_length(), m.bit_count()), []).append(m)
    found = {e for m in masks for e in keyed.get((m.bit_length(), m.bit_count()), ()) if e == m}
    return [m for m in extra if m not in found]


def build_from_problem(problem: Problem, *, candidates: str | Sequence[Sequence[str]] = "auto",
                       max_run: int | None = None, reduce: bool = False, configs: str | None = None,
                       deadline: float | None = None, extra_groups: Iterable[int] = (),
                       handoff: bool = True) -> SetPartitioningModel:
    """:func:`build_model` for a :class:`Problem`, stopping with SolverError at ``deadline``
    (with ``handoff``, as soon as what is left would not hand the columns so far to HiGHS,
    :data:`HANDOFF_PER_COLUMN`, nor from :data:`SOLVE_RESERVE_FROM` columns on solve them,
    :data:`SOLVE_PER_COLUMN`)."""
    side = problem.side
    reduce = v.flag(reduce, "build_model: reduce")
    if configs is not None:
        v.choice(configs, CONFIG_CHOICES, "configs")
    masks, strategy, detail = candidate_groups(problem, candidates, max_run, deadline)
    extra = _not_among(list(dict.fromkeys(extra_groups)), masks)
    if extra:
        note = "the groups of a plan given to start from"
        detail = detail[:-1] + f", and {note})" if detail.endswith(")") else detail + f" (and {note})"
    if strategy == "contiguous" and side.max_functions is not None:
        fewest = fewest_runs(masks, problem.n)  # known before the columns are priced (3.6 GB at 5,000 apps)
        if fewest > side.max_functions:
            raise _restricted(_SCOPES[strategy] + detail,
                              f"max_functions={side.max_functions}, and they need at least {fewest:.0f} groups")
    n_candidates = len(masks)
    reductions: list[str] = []
    if reduce and not side.counting:
        if strategy == "all" and not side.isolate:
            masks = reduce_all(problem, masks, deadline)
            reductions.append("group dominance")
        elif strategy == "contiguous":
            masks = reduce_contiguous(problem, masks, deadline)
            reductions.append("group dominance")
    masks = sorted(set(masks) | set(extra))
    by_gpu, by_gpu_mem = side.max_gpu_functions is not None, side.gpu_memory_budget is not None
    if reduce:
        reductions.append("column dominance")
    choice = configs or ("optimum" if reduce and not (by_gpu or by_gpu_mem) else "pareto")
    columns: list[Column] = []
    # groups searched in batches timed to end by the deadline, less the handoff of a column a
    # group (Problem.prefetched), of at most 16 under expected (64 groups' classes took up to
    # 0.24 s, 100 high-rate VGG19 apps; and groups searched later may be larger). 16 groups at a
    # time whatever the time left took milp given 1.9 s (10 VGG19 apps, max_functions=1) up to
    # 0.065 s past it
    ahead = None if deadline is None else deadline - handoff * _reserve(len(masks))
    most = 16 if problem.expected else 64
    # under expected with a cap on GPU functions and no budget, column dominance keeps at most a
    # group's optimum on CPU and on GPU functions of any memory: two searches, not one per GPU
    # size (100 random VGG19 apps with max_gpu_functions=2: 11-12 s of columns; "Columns per group")
    by_kind = reduce and choice == "pareto" and problem.expected and by_gpu and not by_gpu_mem
    batches = problem.timed_batches(iter(masks), list, ahead, fetch=lambda ms: problem.class_optima(ms, BY_KIND),
                                    most=most) if by_kind else problem.prefetched(
        masks, ahead, classes=True, most=most) if choice == "pareto" else (
        problem.prefetched(masks, ahead, most=most) if choice == "optimum" else ([m] for m in masks))
    done = 0
    for batch in batches:
        for m in batch:
            found = [c for c in problem.class_optima([m], BY_KIND)[0] if c is not None] if by_kind else (
                group_configs(problem, m, choice))
            if reduce and choice == "pareto":
                found = dominance(found, by_gpu, by_gpu_mem)
            share = problem.rate(m) / problem.total_rate
            columns.extend(Column(m, cfg, share * cfg.cost) for cfg in found)
        done += len(batch)
        # stop where what is left would not hand the columns so far to the solver (and solve many)
        if done < len(masks):
            _check_time(None if deadline is None else deadline - handoff * _reserve(len(columns)), "generating columns")
    _check_time(deadline, "building the model")
    keyed = column_keys(problem, columns)
    union = 0
    for c in columns:
        union |= c.mask
    uncovered = [a.name for i, a in enumerate(problem.apps) if not union >> i & 1]
    if uncovered:
        under = f" under {', '.join(side.active())}" if side.active() else ""
        raise InfeasibleError(f"no candidate group can serve app(s) {', '.join(uncovered)}{under}",
                              constraints=side.active())
    scale = objective_scale([c.weight for c in columns])
    return SetPartitioningModel(problem, keyed, strategy, n_candidates, tuple(reductions), choice, scale, detail)


#: The classes a group's columns are searched on under ``expected`` with a cap on GPU functions
#: and no GPU memory budget: CPU functions, and GPU functions of any memory.
BY_KIND: tuple[tuple[tuple[str, ...], None], ...] = ((("cpu",), None), (("gpu",), None))


def _reserve(columns: int) -> float:
    """Seconds to keep for handing ``columns`` to HiGHS, and from :data:`SOLVE_RESERVE_FROM`
    columns on for solving them too."""
    return (HANDOFF_PER_COLUMN + (SOLVE_PER_COLUMN if columns >= SOLVE_RESERVE_FROM else 0.0)) * columns


def _partitions(columns: Sequence[Any], n: int) -> bool:
    """Whether the chosen ``columns`` hold each of the ``n`` apps exactly once."""
    held = np.zeros(n, int)
    for c in columns:
        held[members(c.mask)] += 1
    return bool((held == 1).all())
