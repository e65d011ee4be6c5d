"""The set-partitioning MILP over candidate groups, with Pyomo and HiGHS (MODEL.md section 8).

Formulation (written out in ``formulations/set_partitioning.md``): one binary per
column, a column being a candidate group with one of its function configurations;
each app covered exactly once; minimise ``sum_j (r_X/R) C_j x_j`` scaled to cost per
million requests. Optional side constraints: maximum GPU functions, GPU memory
budget, maximum functions, isolated app pairs, apps pinned to CPU or GPU.

Two exact reductions keep the model small:

* column dominance: within a group, drop a configuration when another costs no
  more and uses no more of every quantity an active side constraint counts;
* group dominance (only without counting constraints): drop a group whose optimum
  costs no less than its best split into smaller candidate groups.

Pyomo is imported on first use, so ``import harmonybatch_mp`` stays light.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import InfeasibleError, InputError, SolverError
from ..plan import SolverInfo
from ..provision import KINDS, GroupConfig, pareto_configs
from .dp import check_max_run, dp
from .greedy import greedy
from .problem import Problem, members

#: Objective scale: the MILP minimises cost per million requests (MODEL.md section 8 numerics).
SCALE = 1e6
#: Default largest workload for ``candidates="all"`` under ``candidates="auto"``.
ALL_SUBSETS_MAX_APPS = 12


@dataclass(frozen=True)
class SideConstraints:
    """Optional side constraints of the MILP; None / empty = not imposed.

    Attributes
    ----------
    max_gpu_functions : int, optional
        At most this many groups on GPU functions.
    gpu_memory_budget : float, optional
        Total GPU memory (GB) of all GPU functions at most this.
    max_functions : int, optional
        At most this many groups (functions) in all.
    isolate : tuple of (str, str)
        Pairs of apps that must never share a group (tenant isolation).
    pin : tuple of (str, "cpu"|"gpu")
        Apps restricted to one function kind.
    """

    max_gpu_functions: int | None = None
    gpu_memory_budget: float | None = None
    max_functions: int | None = None
    isolate: tuple[tuple[str, str], ...] = ()
    pin: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        for name, lo in (("max_gpu_functions", 0), ("max_functions", 1)):
            val = getattr(self, name)
            if val is not None and (isinstance(val, bool) or not isinstance(val, int) or val < lo):
                raise InputError(f"side constraint {name}: expected a whole number >= {lo}, got {val!r}")
        b = self.gpu_memory_budget
        if b is not None and (isinstance(b, bool) or not isinstance(b, (int, float)) or not b >= 0 or math.isinf(b)):
            raise InputError(f"side constraint gpu_memory_budget: expected a number of GB >= 0, got {b!r}")
        object.__setattr__(self, "isolate", tuple(tuple(p) for p in self.isolate))
        pin = self.pin.items() if isinstance(self.pin, Mapping) else self.pin
        object.__setattr__(self, "pin", tuple(tuple(p) for p in pin))
        for p in self.isolate:
            if len(p) != 2 or p[0] == p[1]:
                raise InputError(f"side constraint isolate: expected pairs of two different apps, got {p!r}")
        for p in self.pin:
            if len(p) != 2 or p[1] not in KINDS:
                raise InputError(f"side constraint pin: expected (app, 'cpu'|'gpu'), got {p!r}")

    @property
    def counting(self) -> bool:
        """Whether a constraint counts groups or their resources (disables group dominance)."""
        return any(v is not None for v in (self.max_gpu_functions, self.gpu_memory_budget, self.max_functions))

    def active(self) -> list[str]:
        """Human-readable list of the imposed constraints."""
        out = []
        for name in ("max_gpu_functions", "gpu_memory_budget", "max_functions"):
            if getattr(self, name) is not None:
                out.append(f"{name}={getattr(self, name)}")
        if self.isolate:
            out.append("isolate=" + ",".join(f"{a}/{b}" for a, b in self.isolate))
        if self.pin:
            out.append("pin=" + ",".join(f"{a}:{k}" for a, k in self.pin))
        return out

    def validate_names(self, names: Iterable[str]) -> None:
        known = set(names)
        for a, b in self.isolate:
            for x in (a, b):
                if x not in known:
                    raise InputError(f"side constraint isolate names unknown app {x!r}")
        for a, _ in self.pin:
            if a not in known:
                raise InputError(f"side constraint pin names unknown app {a!r}")

    def kinds(self) -> dict[str, tuple[str, ...]]:
        """Allowed function kinds per pinned app."""
        return {a: (k,) for a, k in self.pin}

    def allows(self, problem: Problem, masks: Sequence[int], configs: Sequence[GroupConfig]) -> bool:
        """Whether a plan (groups with configs) satisfies every side constraint."""
        if self.max_functions is not None and len(masks) > self.max_functions:
            return False
        gpus = [c for c in configs if c.kind == "gpu"]
        if self.max_gpu_functions is not None and len(gpus) > self.max_gpu_functions:
            return False
        if self.gpu_memory_budget is not None and sum(c.gpu_mem_gb for c in gpus) > self.gpu_memory_budget:
            return False
        iso = [problem.mask_of(p) for p in self.isolate]
        if any((m & p) == p for m in masks for p in iso):
            return False
        return all(c.kind in problem.kinds_of(m) for m, c in zip(masks, configs))


@dataclass(frozen=True)
class Column:
    """One MILP column: a group (bitmask) with one configuration and its weighted cost."""

    mask: int
    config: GroupConfig
    weight: float


def candidate_groups(problem: Problem, candidates: str | Sequence[Sequence[str]] = "auto",
                     max_run: int | None = None) -> tuple[list[int], str]:
    """Candidate groups as bitmasks, and the strategy used.

    ``"all"``: every nonempty subset; ``"contiguous"``: runs of the SLO-sorted apps of
    at most ``max_run`` apps; ``"auto"``: all when ``n <= 12`` and no ``max_run`` is given,
    else contiguous; or a
    list of groups given as lists of app names (singletons are added so that a plan
    always exists).
    """
    n = problem.n
    check_max_run(max_run)
    if isinstance(candidates, str):
        if candidates == "auto":
            candidates = "all" if n <= ALL_SUBSETS_MAX_APPS and max_run is None else "contiguous"
        if candidates == "all" and max_run is not None:
            raise InputError("max_run limits contiguous candidate groups; it does not apply to candidates 'all'")
        if candidates == "all":
            if n > 20:
                raise InputError(f"candidates 'all' means 2^{n} - 1 groups; use 'contiguous' for {n} apps")
            return list(range(1, 1 << n)), "all"
        if candidates == "contiguous":
            stop = n if max_run is None else max_run
            return [((1 << (j - i)) - 1) << i for i in range(n) for j in range(i + 1, min(n, i + stop) + 1)], "contiguous"
        raise InputError(f"unknown candidate strategy {candidates!r}; expected all, contiguous, auto or a list of groups")
    masks = {1 << i for i in range(n)}
    for k, group in enumerate(candidates):
        try:
            masks.add(problem.mask_of(group))
        except KeyError as exc:
            raise InputError(f"candidate group {k + 1} names unknown app {exc.args[0]!r}") from None
    return sorted(masks), "list"


def _reduce_all(problem: Problem, masks: list[int]) -> list[int]:
    """Group dominance over all subsets: keep S only if cheaper than its best split."""
    cost = {m: problem.weighted_cost(m) for m in masks}
    best = dict(cost)
    kept = []
    for s in masks:  # ascending: every proper subset comes first
        low = s & -s
        rest = s ^ low
        split = math.inf
        sub = rest
        while True:
            a = sub | low
            if a != s:
                v = best[a] + best[s ^ a]
                if v < split:
                    split = v
            if sub == 0:
                break
            sub = (sub - 1) & rest
        if cost[s] < split:
            kept.append(s)
        else:
            best[s] = split
    return kept


def _reduce_contiguous(problem: Problem, masks: list[int]) -> list[int]:
    """Group dominance over runs: keep a run only if cheaper than its best split into sub-runs."""
    def span(m):
        lo = (m & -m).bit_length() - 1
        return lo, lo + bin(m).count("1")

    best, kept = {}, []
    for m in sorted(masks, key=lambda m: bin(m).count("1")):
        i, j = span(m)
        c = problem.weighted_cost(m)
        split = min((best[(i, k)] + best[(k, j)] for k in range(i + 1, j)), default=math.inf)
        if c < split:
            kept.append(m)
        best[(i, j)] = min(c, split)
    return kept


@dataclass
class MilpInstance:
    """The MILP before solving: its columns, how they were built, and the Pyomo model."""

    problem: Problem
    columns: list[Column]
    strategy: str
    candidate_groups: int
    side: SideConstraints
    model: object = None


def build_instance(problem: Problem, *, candidates="auto", max_run: int | None = None,
                   side: SideConstraints | None = None, extra_groups: Iterable[int] = ()) -> MilpInstance:
    """Generate candidate groups and columns and build the Pyomo model."""
    side = side or SideConstraints()
    masks, strategy = candidate_groups(problem, candidates, max_run)
    if side.isolate:
        iso = [problem.mask_of(p) for p in side.isolate]
        masks = [m for m in masks if not any((m & p) == p for p in iso)]
    n_candidates = len(masks)
    if not side.counting:
        if strategy == "all" and not side.isolate:
            masks = _reduce_all(problem, masks)
        elif strategy == "contiguous":
            masks = _reduce_contiguous(problem, masks)
    masks = sorted(set(masks) | set(extra_groups))
    columns = []
    grid = problem.grid
    for m in masks:
        kinds = problem.kinds_of(m)
        if not kinds:
            continue
        share = problem.rate(m) / problem.total_rate
        if side.max_gpu_functions is None and side.gpu_memory_budget is None:
            cfg = problem.group(m)
            idx = [] if cfg is None else [cfg.index]
        else:
            idx = pareto_configs(grid, [problem.apps[i] for i in members(m)], kinds=kinds,
                                 by_gpu=side.max_gpu_functions is not None,
                                 by_gpu_mem=side.gpu_memory_budget is not None)
        for i in idx:
            cfg = grid.config(i)
            columns.append(Column(m, cfg, share * cfg.cost))
    inst = MilpInstance(problem, columns, strategy, n_candidates, side)
    inst.model = _pyomo_model(inst)
    return inst


def _pyomo_model(inst: MilpInstance):
    import pyomo.environ as pyo

    cols, side, n = inst.columns, inst.side, inst.problem.n
    m = pyo.ConcreteModel(name="harmonybatch_set_partitioning")
    m.J = pyo.Set(initialize=range(len(cols)), ordered=True)
    m.x = pyo.Var(m.J, domain=pyo.Binary)
    m.cost = pyo.Objective(expr=pyo.quicksum(SCALE * cols[j].weight * m.x[j] for j in m.J), sense=pyo.minimize)
    covering = [[] for _ in range(n)]
    for j, c in enumerate(cols):
        for i in members(c.mask):
            covering[i].append(j)
    uncovered = [inst.problem.apps[i].name for i in range(n) if not covering[i]]
    if uncovered:
        raise InfeasibleError(f"no candidate group can serve app(s) {', '.join(uncovered)}",
                              constraints=inst.side.active())
    m.cover = pyo.Constraint(range(n), rule=lambda m, i: pyo.quicksum(m.x[j] for j in covering[i]) == 1)
    gpu = [j for j, c in enumerate(cols) if c.config.kind == "gpu"]

    def at_most(terms, limit):
        return pyo.quicksum(terms) <= limit if terms else pyo.Constraint.Feasible

    if side.max_gpu_functions is not None:
        m.max_gpu = pyo.Constraint(expr=at_most([m.x[j] for j in gpu], side.max_gpu_functions))
    if side.gpu_memory_budget is not None:
        m.gpu_budget = pyo.Constraint(
            expr=at_most([cols[j].config.gpu_mem_gb * m.x[j] for j in gpu], side.gpu_memory_budget))
    if side.max_functions is not None:
        m.max_functions = pyo.Constraint(expr=at_most([m.x[j] for j in m.J], side.max_functions))
    return m


def export_model(inst: MilpInstance, path: str, fmt: str) -> None:
    """Write the MILP as an LP or MPS file (objective in cost per million requests)."""
    if fmt not in ("lp", "mps"):
        raise InputError(f"export format must be 'lp' or 'mps', got {fmt!r}")
    from pyomo.opt import ProblemFormat

    inst.model.write(str(path), format=ProblemFormat.cpxlp if fmt == "lp" else ProblemFormat.mps,
                     io_options={"symbolic_solver_labels": True})


def milp(problem: Problem, *, candidates="auto", max_run: int | None = None,
         side: SideConstraints | None = None, time_limit: float | None = None, rel_gap: float = 0.0,
         abs_gap: float = 0.0, threads: int | None = None, warm_start: str | None = None,
         ) -> tuple[list[int], dict[int, GroupConfig], SolverInfo]:
    """Solve the set-partitioning MILP; return the groups, their configurations and a certificate.

    Parameters
    ----------
    problem : Problem
    candidates : {"auto", "all", "contiguous"} or list of lists of app names
    max_run : int, optional
        Longest contiguous run for ``candidates="contiguous"``.
    side : SideConstraints, optional
    time_limit : float, optional
        Seconds; with an incumbent at the limit, its plan is returned with its gap.
    rel_gap, abs_gap : float
        HiGHS ``mip_rel_gap`` and ``mip_abs_gap`` (the latter in cost per million
        requests). Default 0: prove the optimum.
    threads : int, optional
    warm_start : {"dp", "greedy"}, optional
        Start HiGHS from that solver's plan when it satisfies the side constraints.
    """
    from pyomo.contrib.appsi.base import TerminationCondition
    from pyomo.contrib.appsi.solvers.highs import Highs

    side = side or SideConstraints()
    for name, val in (("time_limit", time_limit), ("rel_gap", rel_gap), ("abs_gap", abs_gap)):
        bad_type = isinstance(val, bool) or not isinstance(val, (int, float))
        if val is not None and (bad_type or not 0 <= val < math.inf):
            raise InputError(f"milp option {name}: expected a finite number >= 0, got {val!r}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise InputError(f"milp option threads: expected a whole number >= 1, got {threads!r}")
    start = time.perf_counter()
    warm_masks: list[int] = []
    if warm_start is not None:
        starts = {"dp": dp, "greedy": greedy}
        if warm_start not in starts:
            raise InputError(f"warm_start must be 'dp' or 'greedy', got {warm_start!r}")
        wm = starts[warm_start](problem)
        if side.allows(problem, wm, [problem.group(m) for m in wm]):
            warm_masks = wm
    inst = build_instance(problem, candidates=candidates, max_run=max_run, side=side, extra_groups=warm_masks)
    model = inst.model
    if warm_masks:
        wanted = {m: problem.group(m).index for m in warm_masks}
        for j, c in enumerate(inst.columns):
            model.x[j].value = 1 if wanted.get(c.mask) == c.config.index else 0
    opt = Highs()
    opt.config.load_solution = False
    opt.config.time_limit = time_limit
    opt.config.mip_gap = rel_gap
    opt.config.warmstart = bool(warm_masks)
    opts = {"mip_abs_gap": abs_gap}
    if threads is not None:
        opts["threads"] = threads
    opt.highs_options = opts
    res = opt.solve(model)
    wall = time.perf_counter() - start
    tc = res.termination_condition
    obj = res.best_feasible_objective
    if tc in (TerminationCondition.infeasible, TerminationCondition.infeasibleOrUnbounded):
        kinds = side.active()
        raise InfeasibleError(
            "no plan satisfies the side constraints together: " + "; ".join(kinds or ["(none imposed)"]),
            constraints=kinds,
        )
    if obj is None:
        raise SolverError(f"HiGHS stopped ({tc.name}) after {wall:.2f} s without a feasible plan; "
                          "raise the time limit or relax the gaps")
    res.solution_loader.load_vars()
    chosen = [c for j, c in enumerate(inst.columns) if model.x[j].value is not None and model.x[j].value > 0.5]
    bound = res.best_objective_bound
    if bound is not None and not math.isfinite(bound):
        bound = None
    gap = None if bound is None else (max(0.0, (obj - bound) / abs(obj)) if obj else 0.0)
    status = {TerminationCondition.optimal: "optimal", TerminationCondition.maxTimeLimit: "time_limit"}.get(tc, tc.name)
    info = SolverInfo(
        name="milp", wall_time_s=wall, status=status, objective=obj / SCALE,
        bound=None if bound is None else bound / SCALE, gap=gap, columns=len(inst.columns),
        candidate_groups=inst.candidate_groups,
    )
    return [c.mask for c in chosen], {c.mask: c.config for c in chosen}, info


__all__ = ["Column", "MilpInstance", "SideConstraints", "build_instance", "candidate_groups",
           "export_model", "milp"]
