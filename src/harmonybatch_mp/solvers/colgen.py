"""Solver ``colgen``: column generation on the set-partitioning LP over every group, then
reduced-cost enumeration to prove the integer optimum
(``formulations/column_generation.md``; full-batch model).

1. The master LP (interior-point duals; vertex duals when those yield nothing new) starts
   from every app alone and the contiguous optimum (``dp``); each round prices every
   configuration (:mod:`.pricing`) and adds the improving groups found. With ``P_k`` an
   upper bound on the profit of configuration ``k``'s columns (proven by the searches),
   ``y.b`` less what a plan's columns can gain (:meth:`.Pricer.penalty`) is a lower bound
   on every plan at every round, and the LP optimum once pricing proves ``P <= 0``.
2. The integer master over the generated columns (and the ``dp`` plan) gives a plan.
3. Any plan cheaper than it uses only columns whose reduced cost is at most the gap, so
   enumerating those (the same search with a threshold) and solving the integer master
   over them proves the optimum. Too many such columns leave the plan with the proven
   bound and gap (status ``bounded``); the time limit, with status ``time_limit``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .._validate import integer
from ..errors import InputError, SolverError
from ..expected_cost import FULL_BATCH
from ..plan import BOUNDED, OPTIMAL, TIME_LIMIT, SolverInfo
from ..provision import GroupConfig
from .backends import OPTIMAL as SOLVED
from .base import Solution
from .dp import dp
from .highs import run_highs_arrays, run_highs_lp
from .options import check_gaps, deadline_of
from .pricing import TOLERANCE, Pricer
from .problem import Problem, members

#: Cost of one unit of violation of a side row in the master LP (scaled units; the plan is ~1).
#: Elastic rows keep the LP feasible from the first round; the bound stays valid for any value.
ELASTIC_COST = 1e3
#: Weight of the best-bound duals in the pricing point (Wentges smoothing; 0 prices at the LP's).
SMOOTHING = 0.8
#: Share of the time limit for generating columns; the integer master has the rest.
GENERATION_SHARE = 0.85
#: Share of the time limit by which the proof's columns must be in the master, leaving the
#: rest for the integer master over them.
PROOF_SHARE = 0.9
#: Node budgets per search when a round finds no column but cannot rule one out (None: exact).
ESCALATION = (20_000, 200_000, 2_000_000, None)
#: Most columns the enumeration of step 3 may produce before giving up the proof.
ENUMERATION_LIMIT = 100_000


@dataclass
class _Master:
    """The restricted master: columns as (group mask, configuration, scaled weight)."""

    problem: Problem
    scale: float

    def __post_init__(self) -> None:
        self.masks: list[int] = []
        self.members: list[list[int]] = []
        self.configs: list[GroupConfig] = []
        self.weights: list[float] = []
        self.seen: set[tuple[int, int]] = set()

    def add_group(self, mask: int) -> int:
        """Columns for a group: its optimum, or its optimum per kind and GPU size when side rows
        count GPUs or their memory. Returns how many columns were new."""
        p = self.problem
        if p.side.isolate and p.side.separates(p, mask):
            return 0  # holds an isolated pair: no column (formulations/set_partitioning.md)
        by_class = p.side.max_gpu_functions is not None or p.side.gpu_memory_budget is not None
        cfgs = p.per_class(mask) if by_class else [c for c in [p.group(mask)] if c is not None]
        new = 0
        for c in cfgs:
            if (mask, c.index) not in self.seen:
                self.seen.add((mask, c.index))
                self.masks.append(mask)
                self.members.append(members(mask))
                self.configs.append(c)
                self.weights.append(self.scale * p.rate(mask) / p.total_rate * c.cost)
                new += 1
        return new

    def add_groups(self, masks: list[int], duals: np.ndarray) -> int:
        """Add the groups' columns; returns how many new ones price out at ``duals``."""
        before = len(self.masks)
        for m in masks:
            self.add_group(m)
        n = self.problem.n
        rows = self.side_rows(elastic=False)
        useful = 0
        for j in range(before, len(self.masks)):
            rc = self.weights[j] - sum(duals[i] for i in self.members[j])
            rc -= sum(duals[n + r] * coef[j] for r, (coef, _) in enumerate(rows))
            useful += rc < -TOLERANCE
        return useful

    def side_rows(self, elastic: bool) -> list[tuple[np.ndarray, float]]:
        is_gpu = np.array([c.kind == "gpu" for c in self.configs], float)
        mem = np.array([c.gpu_mem_gb or 0 for c in self.configs], float)
        rows = [(coef, ub) for _, coef, ub in self.problem.side.rows(is_gpu, mem)]
        if not elastic:
            return rows
        k = len(rows)
        return [(np.concatenate([coef, -np.eye(k)[r]]), ub) for r, (coef, ub) in enumerate(rows)]

    def lp(self, deadline: float | None, interior: bool):
        rows = self.side_rows(elastic=True)
        cost = np.concatenate([self.weights, np.full(len(rows), ELASTIC_COST)])
        cols = self.members + [[] for _ in rows]
        return run_highs_lp(cost, cols, rows, self.problem.n, deadline=deadline, interior=interior)

    def integer(self, deadline: float | None, warm: list[int]) -> tuple[list[int], list[GroupConfig], bool] | None:
        """The integer master over the columns so far: ``(groups, configs, proven optimal)``."""
        cols = self.members
        start = np.zeros(len(self.masks))
        for m in warm:
            start[next(j for j, x in enumerate(self.masks) if x == m)] = 1.0
        result, x = run_highs_arrays(np.asarray(self.weights), cols, self.side_rows(elastic=False), self.problem.n,
                                     deadline=deadline, warm_start=start if warm else None)
        if x is None:
            return None
        chosen = np.flatnonzero(x > 0.5)
        return [self.masks[j] for j in chosen], [self.configs[j] for j in chosen], result.termination == SOLVED


def colgen(problem: Problem, *, time_limit: float | None = None, rel_gap: float = 0.0,
           enumeration_limit: int = ENUMERATION_LIMIT) -> Solution:
    """Proven-optimal plans over every partition by column generation (full-batch model).

    Parameters
    ----------
    problem : Problem
        Side constraints are read from ``problem.side``; the cost model must be ``full-batch``.
    time_limit : float, optional
        Seconds for the whole call; at the limit the best plan is returned with status
        ``time_limit`` and the bound proven by then.
    rel_gap : float
        Stop once the plan is within this relative gap of the bound (default 0: prove it).
    enumeration_limit : int
        Most columns the final proof may enumerate.

    Examples
    --------
    >>> from harmonybatch_mp import solve
    >>> plan = solve("0.3:2,0.5:5,0.8:10,1.0:20", "VGG19", solver="colgen", cost_model="full-batch")
    >>> plan.solver.status, plan.solver.scope
    ('optimal', 'all partitions')
    """
    start = time.perf_counter()
    deadline = deadline_of(start, time_limit)
    check_gaps(rel_gap, 0.0, None)
    enumeration_limit = integer(enumeration_limit, "enumeration_limit", minimum=0)
    if problem.cost_model != FULL_BATCH:
        raise InputError("solver 'colgen' prices the full-batch model; use cost_model='full-batch' "
                         "(under 'expected' use 'milp')")
    scale = 1.0 / problem.lower_bound()
    master = _Master(problem, scale)
    for i in range(problem.n):
        master.add_group(1 << i)
    warm = list(dp(problem).groups)
    allowed = problem.side.allows(problem, warm, [problem.group(m) for m in warm])
    for m in warm:
        master.add_group(m)
    pricer = Pricer(problem, scale)
    # batch-1 groups are not priced without counting rows (formulations/column_generation.md):
    # such a group's reduced cost is the sum of its members' alone, bounded with these weights
    alone = None if problem.side.counting else np.array([scale * problem.weighted_cost(1 << i)
                                                          for i in range(problem.n)])
    most = problem.n if problem.side.max_functions is None else min(problem.n, problem.side.max_functions)
    rhs = np.concatenate([np.ones(problem.n), [ub for _, _, ub in problem.side.rows(np.zeros(0), np.zeros(0))]])
    best_round: tuple[float, np.ndarray, np.ndarray] | None = None  # (bound, duals, charges)
    rounds, stopped, interior = 0, False, True
    # generation leaves part of the time for the integer master over what it generated
    generation = None if deadline is None else start + GENERATION_SHARE * (deadline - start)
    while not (stopped := _late(generation)):
        solved = master.lp(generation, interior)
        if solved is None:
            stopped = True
            break
        duals = solved[1][:rhs.size]
        rounds += 1
        added = 0
        for alpha in ((SMOOTHING, 0.0) if best_round is not None else (0.0,)):
            # price at a point between the best-bound duals and the LP's (Wentges smoothing);
            # when that finds nothing the LP can use (mispricing), price at the LP's own duals
            point = duals if alpha == 0 else alpha * best_round[1] + (1 - alpha) * duals
            point = np.concatenate([point[:problem.n], np.minimum(point[problem.n:], 0.0)])  # the bound needs y_r <= 0
            charge = _charges(problem, pricer, point)
            upper, found = pricer.price(point[:problem.n], charge, deadline=generation)
            for budget in ESCALATION:  # only bounds left: search longer, in the end exactly
                if found or upper.max(initial=0.0) <= TOLERANCE or _late(generation):
                    break
                upper, found = pricer.price(point[:problem.n], charge, budget=budget, enough=None,
                                            deadline=generation)
            # Lagrangian bound at any duals: a plan costs y.b plus its columns' reduced costs,
            # whose negative part the pricing bounds cap (Pricer.penalty); batch-1 groups lose
            # at most what their members alone do (0 up to the LP's dual tolerance)
            lagrangian = float(point @ rhs) - pricer.penalty(upper, most, point[:problem.n])
            if alone is not None:
                lagrangian -= float(np.maximum(point[:problem.n] - alone, 0.0).sum())
            if best_round is None or lagrangian > best_round[0]:
                best_round = (lagrangian, point, charge)
            added = master.add_groups([m for _, m in found], duals)
            if added:
                break
        if float(duals @ rhs) - best_round[0] <= TOLERANCE or not (added or interior):
            break
        # the interior point's duals stabilise generation; when they yield nothing new (they
        # are optimal only within the LP's tolerances), the next round takes a vertex's
        interior = bool(added)
    plan = master.integer(deadline, warm if allowed else [])
    options = [(problem.plan_cost(plan[0]), plan[0], plan[1])] if plan else []
    if allowed:
        options.append((problem.plan_cost(warm), warm, [problem.group(m) for m in warm]))
    if not options:
        raise SolverError("colgen: no feasible plan found" + (" by the time limit" if stopped else ""),
                          time_limit=stopped)
    objective, masks, configs = min(options, key=lambda o: o[0])
    bound = max(problem.lower_bound(), -np.inf if best_round is None else best_round[0] / scale)
    proven = objective - bound <= rel_gap * objective
    if not proven and best_round is not None and not _late(deadline):
        # a plan cheaper than this one uses only columns whose reduced cost at the best-bound
        # duals is at most its gap to that bound (formulations/column_generation.md, step 3)
        lagrangian, duals, charge = best_round
        cutoff = None if deadline is None else start + PROOF_SHARE * (deadline - start)
        groups = pricer.enumerate(duals[:problem.n], charge, objective * scale - lagrangian, enumeration_limit,
                                  cutoff)
        for m in groups or ():
            if _late(cutoff):
                groups = None
                break
            master.add_group(m)
        if groups is not None:
            full = master.integer(deadline, masks)
            if full is not None and full[2]:
                proven = True
                cost = problem.plan_cost(full[0])
                if cost < objective:
                    objective, masks, configs = cost, full[0], full[1]
                bound = objective
    bound = min(bound, objective)
    status = OPTIMAL if proven else TIME_LIMIT if stopped or _late(deadline) else BOUNDED
    info = SolverInfo("colgen", status=status, objective=objective, bound=bound,
                      relaxation_bound=min(objective, max(problem.lower_bound(),
                                                          -np.inf if best_round is None else best_round[0] / scale)),
                      gap=max(0.0, (objective - bound) / objective), scope="all partitions",
                      backend="appsi_highs", columns=len(master.masks),
                      candidate_groups=len(set(master.masks)), iterations=rounds)
    return Solution.of(problem, masks, info, configs=dict(zip(masks, configs)))


def _late(deadline: float | None) -> bool:
    return deadline is not None and time.perf_counter() > deadline


def _charges(problem: Problem, pricer: Pricer, duals: np.ndarray) -> np.ndarray:
    """What the side rows charge each pricing configuration: ``-sum_r y_r D_r(k)`` (>= 0)."""
    c = pricer.configs
    coef = problem.side.rows(c.is_gpu.astype(float), c.gpu_mem.astype(float))
    charge = np.zeros(len(c))
    for r, (_, d, _) in enumerate(coef):
        charge -= duals[problem.n + r] * d
    return charge
