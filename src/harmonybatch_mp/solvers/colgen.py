"""Solver ``colgen``: column generation on the set-partitioning LP over every group, then
reduced-cost enumeration or branch and price to prove the integer optimum
(``formulations/column_generation.md``; full-batch model).

1. The master LP starts from every app alone and the contiguous optimum (``dp``), improved
   by moves of single apps (:mod:`.moves`), and is grown by pricing
   (:func:`.generation.generate`); its Lagrangian bound holds for every plan at every
   round, and is the LP optimum once pricing proves no column left. Where the root does not
   prove the plan, the apps of two or three of its groups are planned again
   (:mod:`.regroup`): under a time limit once the root's first rounds run out of time (then
   generation resumes), or once the enumeration of step 3 finds too many columns.
2. The integer master over the generated columns (and the moved ``dp`` plan) gives a plan,
   improved by moves again.
3. Any plan cheaper than it (less the gaps asked, if any) uses only columns whose reduced
   cost is at most that cost's gap to the bound, so enumerating those (the same search with a
   threshold), then bounding them by their LP (:meth:`.Master.lp_bound`) or solving the
   integer master over them proves the optimum (within the gaps).
4. When more columns than ``enumeration_limit`` lie within the gap, branch and price
   (:mod:`.branch_price`) closes it, until what is left of the time limit is the integer
   master's reserve (:data:`BRANCH_RESERVE_FACTOR`). The time limit leaves the plan with the
   proven bound and gap (status ``time_limit``); a node it cannot branch on, with status
   ``bounded``.
5. Unproven, the time left raises the root's bound: at its best duals scaled down
   (:mod:`.scaled_duals`), then with the pricing bounds there proven again (:mod:`.sharpen`).
"""

from __future__ import annotations

import time

import numpy as np

from .._validate import MOST_COUNT, flag, instance, integer
from ..errors import InputError, SolverError
from ..expected_cost import FULL_BATCH
from ..plan import BOUNDED, OPTIMAL, TIME_LIMIT, SolverInfo
from ..provision import GroupConfig
from ..solver_info import allowance, relative_gap
from .base import Solution
from .branch_price import Polish, branch_and_price, unchanged
from .column_master import PROOF_TOLERANCE, Master
from .dp import dp_with_ties
from .function_cap import capped_plans
from .generation import Generated, generate
from .kernels import COLGEN, interruptible, ready
from .moves import improve
from .options import check_gaps, deadline_of, late
from .pricing import TOLERANCE, Pricer
from .problem import Problem
from .regroup import regroup as regroup_plan
from .repair import incumbent_cost, plan_cost, repair
from .sharpen import sharpen

#: Share of the time limit for generating columns; the integer master has the rest.
GENERATION_SHARE = 0.85
#: Share of the time limit by which the enumeration proof's columns must be in the master,
#: leaving the rest for the integer master over them.
PROOF_SHARE = 0.9
#: Branch and price may go on past :data:`PROOF_SHARE`, until this many times what the integer
#: master over the root's columns took (at least :data:`BRANCH_RESERVE` seconds) is left: only
#: the integer master over the nodes' columns follows it. At n = 30-60 those integer masters
#: took 1-75 ms (``formulations/column_generation.md``, "Time").
BRANCH_RESERVE_FACTOR, BRANCH_RESERVE = 4, 0.1
#: Most columns the enumeration of step 3 may produce before giving up the proof.
ENUMERATION_LIMIT = 100_000
#: Share of the time limit the contiguous optimum (``dp``) may take; the rest is for the steps
#: after it, which take at least about 0.1 s at n = 1,000.
DP_SHARE = 0.8
#: Share of the time left the moves of single apps from the ``dp`` plan may take.
MOVE_SHARE = 0.1
#: Share of the time left that the root's first rounds may take where the plan may be
#: regrouped after them, and that regrouping may take.
REGROUP_SHARE = 0.1
#: Regrouping under a time limit only where the time left is at least this many seconds an app:
#: with less, generation needs all of it (n = 200 with 60 s: random VGG19 0.88% -> 1.83%, ladder
#: BERT 0.55% -> 0.85%; n = 60-150 with 60-120 s gained; ``formulations/column_generation.md``).
REGROUP_PER_APP = 0.5
#: Seconds per app kept from the time limit for what follows the last step (each group's
#: optimum, the plan's cost, the solution): at n = 5,000 it took 55 ms after the moves, which
#: stopped 14 ms past their deadline, on a day the machine ran at about 0.6 times its usual pace
#: (``benchmarks/results/time_limits.md``).
FINISH_PER_APP = 2.5e-5


@interruptible()
def colgen(problem: Problem, *, time_limit: float | None = None, rel_gap: float = 0.0, abs_gap: float = 0.0,
           enumeration_limit: int = ENUMERATION_LIMIT, regroup: bool = True) -> Solution:
    """Proven-optimal plans over every partition by column generation (full-batch model).

    Parameters
    ----------
    problem : Problem
        Side constraints are read from ``problem.side``; the cost model must be ``full-batch``.
    time_limit : float, optional
        Seconds for the whole call; at the limit the best plan is returned with status
        ``time_limit`` and the bound proven by then. Time that generation and branching leave
        goes to proving the bound tighter (:func:`.sharpen.sharpen`), so an unproven plan
        may take the whole limit.
    rel_gap, abs_gap : float
        Stop once the plan is within this relative gap of the bound, or this absolute one (per
        million requests), as ``milp`` does (default 0: prove it).
    enumeration_limit : int
        Most columns the enumeration proof may produce; past it (or with 0) the gap is
        closed by branch and price, whose node count the certificate's ``nodes`` gives.
    regroup : bool
        Plan the apps of two or three groups of the incumbent again, each part by ``colgen``
        alone within :data:`.regroup.PART_SECONDS` (:func:`.regroup.regroup`), for up to
        :data:`REGROUP_SHARE` of the time left, where the root does not prove the plan: once
        the root's first rounds (:data:`REGROUP_SHARE` of the time left) run out of time,
        under a limit of at least :data:`REGROUP_PER_APP` seconds an app; once the enumeration
        finds more columns than ``enumeration_limit`` (with less time an app, never); and
        without a limit where the root has no bound. No effect under side constraints that
        count groups.

    Examples
    --------
    >>> from harmonybatch_mp import solve
    >>> plan = solve("0.3:2,0.5:5,0.8:10,1.0:20", "VGG19", solver="colgen", cost_model="full-batch")
    >>> plan.solver.status, plan.solver.scope
    ('optimal', 'all partitions')
    """
    instance(problem, Problem, "colgen: problem")
    start = time.perf_counter()
    deadline = deadline_of(start, time_limit)
    gaps = check_gaps(rel_gap, abs_gap, None, "colgen")[:2]
    enumeration_limit = integer(enumeration_limit, "enumeration_limit", minimum=0, maximum=MOST_COUNT)
    regroup = flag(regroup, "colgen option regroup")
    if problem.cost_model != FULL_BATCH:
        raise InputError("solver 'colgen' prices the full-batch model; use cost_model='full-batch' "
                         "(under 'expected' use 'milp')")
    if deadline is not None:
        deadline -= FINISH_PER_APP * problem.n
    scale = 1.0 / problem.lower_bound()
    master = Master(problem, scale)
    for i in range(problem.n):
        if late(deadline):  # (2,000 apps under a GPU cap: 0.3 s, begun past the deadline at times)
            raise SolverError("colgen: no feasible plan found by the time limit (it ran out while adding the apps "
                              "alone to the master); raise the time limit", time_limit=True)
        master.add_group(1 << i)
    # by its deadline, the best contiguous plan searched (at n = 1,000 dp takes 6 s)
    by = None if deadline is None else start + DP_SHARE * (deadline - start)
    contiguous, tied = dp_with_ties(problem, deadline=by)
    warm = list(contiguous.groups)
    warm_configs = [problem.group(m) for m in warm]
    allowed = problem.side.allows(problem, warm, warm_configs)
    # dp knows pins only (formulations/set_partitioning.md, "Repairing a plan"); the repair has all the time
    # left: at scale its plan is the only one (1,000 apps under a function cap with 2 s: a tenth was too little)
    if not allowed:  # under caps on functions or GPU memory, the contiguous optimum under them too (function_cap.py)
        fixed = repair(problem, warm, deadline)
        starts = ([] if fixed is None else [fixed]) + capped_plans(problem, deadline)
        allowed = bool(starts)
        warm, warm_configs = min(starts, key=lambda plan: plan_cost(problem, *plan)) if allowed else ([], [])
    movable = allowed and not problem.side.counting  # groups at their optima keep the side constraints
    if movable:  # the optimum need not be contiguous (formulations/set_partitioning.md, "Moves")
        now = time.perf_counter()
        warm = improve(problem, warm, None if deadline is None else now + MOVE_SHARE * (deadline - now))
        warm_configs = [problem.group(m) for m in warm]
    # the plan is regrouped where the root does not prove it: under a time limit of at least
    # REGROUP_PER_APP seconds an app, after the root's first rounds, or where the enumeration
    # fails (formulations/column_generation.md, "Regrouping the incumbent")
    now = time.perf_counter()
    regrouping = movable and regroup and (deadline is None or deadline - now >= REGROUP_PER_APP * problem.n)
    regrouped = False
    for m, cfg in zip(warm, warm_configs):
        master.add_group(m, cfg if problem.side.counting else None)
    # the groups of the tied contiguous plan of the most groups too: a richer first master (n = 200
    # random VGG19, 60 s: 2.08% -> 0.88%; formulations/contiguous_shortest_path.md, "Ties")
    for m in tied:
        master.add_group(m)
    start_cutoff = _cutoff(incumbent_cost(problem, warm, warm_configs), gaps, scale) if allowed else np.inf
    # generation leaves part of the time for the integer master over what it generated
    generation = None if deadline is None else start + GENERATION_SHARE * (deadline - start)
    # the pricer is made only when generation has time (2,000 apps: 0.12 s)
    pricer = None if late(generation) else Pricer(problem, scale)
    if pricer is not None and (generation is None or ready(COLGEN, generation)):
        # it stops once its bound proves the moved dp plan
        first = generation if deadline is None or not regrouping else min(generation, now + REGROUP_SHARE * (deadline - now))
        root = generate(master, pricer, first, cutoff=start_cutoff)
        if root.stopped and root.bound < start_cutoff and regrouping and not late(generation):
            # the root needs more than its first rounds: the plan is regrouped, then generation resumes
            cost, warm, warm_configs = _regrouped(master, incumbent_cost(problem, warm, warm_configs), warm,
                                                  warm_configs, deadline)
            start_cutoff, regrouped = _cutoff(cost, gaps, scale), True
            root = generate(master, pricer, generation, cutoff=start_cutoff, resume=root)
    else:  # out of time, or the kernels are compiling (a first call after an install): the plan so far, unproven
        root = Generated(np.inf, np.zeros(len(master.masks)), -np.inf, None, None, 0, True)
    stopped = root.stopped
    best_round = None if root.duals is None else (root.bound, root.duals, root.charge)
    rounds, nodes = root.rounds, None
    # not where the bound proves the moved dp plan already (within the gaps): of the steps after
    # generation the integer master is the one the deadline stops least promptly (at 2,000 apps
    # under a GPU cap HiGHS's root LP over 47,308 columns took 0.58 s of the last 0.6 s)
    before = time.perf_counter()
    plan = None if root.bound >= start_cutoff else master.integer(deadline, warm if allowed else [], root.duals)
    reserve = max(BRANCH_RESERVE, BRANCH_RESERVE_FACTOR * (time.perf_counter() - before))
    options = [(incumbent_cost(problem, plan[0], plan[1]), plan[0], plan[1])] if plan else []
    if allowed:
        options.append((incumbent_cost(problem, warm, warm_configs), warm, warm_configs))
    if not options:
        problem.require_feasible()  # side constraints the apps alone rule out are named (solve() checks first)
        limited = stopped or late(deadline)  # (the integer master stops at the deadline too)
        raise SolverError("colgen: no feasible plan found" + (" by the time limit" if limited else ""),
                          time_limit=limited)
    objective, masks, configs = min(options, key=lambda o: o[0])
    polish = _polisher(master, deadline) if movable else unchanged
    objective, masks, configs = polish(objective, masks, configs)  # the moves from dp's plan may have been cut short
    bound = max(problem.lower_bound(), -np.inf if best_round is None else best_round[0] / scale)
    proven = objective - bound <= allowance(objective, gaps)
    cutoff = None if deadline is None else start + PROOF_SHARE * (deadline - start)
    if regrouping and not regrouped and not proven and best_round is None and not late(cutoff):
        # a root without a bound: no enumeration to try first
        objective, masks, configs = _regrouped(master, objective, masks, configs, deadline)
        proven, regrouped = objective - bound <= allowance(objective, gaps), True
    if not proven and best_round is not None and not late(deadline):
        # a plan cheaper than this one less its gaps (goal) uses only columns whose reduced cost
        # at the best-bound duals is at most goal's gap to that bound (formulations/column_generation.md, step 3)
        lagrangian, duals, charge = best_round
        goal = objective - allowance(objective, gaps)
        groups = pricer.enumerate(duals[:problem.n], charge, goal * scale - lagrangian, enumeration_limit, cutoff)
        if groups is None and regrouping and not regrouped and not late(cutoff):
            # too many columns within the gap (or out of time): a cheaper plan narrows it
            objective, masks, configs = _regrouped(master, objective, masks, configs, deadline)
            proven, regrouped = objective - bound <= allowance(objective, gaps), True
            goal = objective - allowance(objective, gaps)
            groups = {} if proven else pricer.enumerate(duals[:problem.n], charge, goal * scale - lagrangian,
                                                        enumeration_limit, cutoff)
        grid = problem.grid
        for m, index in (groups or {}).items():
            if late(cutoff):
                groups = None
                break
            # the enumeration's cheapest configuration is the group's optimum when no side row
            # charges it (Pricer.enumerate); searching the optimum again took 16 s of 32 at n = 30
            master.add_group(m, None if problem.side.counting else grid.config(index))
        # every plan cheaper than goal is over the master's columns now, so their LP bounds it:
        # where the plan costs what the root's LP does (within the bound's precision) that proves
        # it, also where the search over them would not end (a degenerate LP); its time is not
        # spent elsewhere (1.5 s of 4.8 at n = 30 ladder BERT, 0.87% above its LP)
        tight = objective * scale - root.value <= TOLERANCE * problem.n
        over = master.lp_bound(deadline) if groups is not None and tight and not proven else None
        if over is not None:
            closes = over >= goal * scale - PROOF_TOLERANCE  # (no plan is cheaper than goal)
            bound = max(bound, goal if closes else over / scale)
            proven = closes or objective - bound <= allowance(objective, gaps)
        if groups is not None:
            full = None if proven else master.cheapest(duals, deadline, masks)
            if full is not None:
                cost = incumbent_cost(problem, full[0], full[1])
                if cost < objective:
                    objective, masks, configs = cost, full[0], full[1]
                if full[2]:  # the cheapest over them, or none cheaper than goal
                    proven, bound = True, min(objective, goal)
        elif not (stopped or late(cutoff)):  # too many such columns: branch (step 4)
            branching = None if deadline is None else max(cutoff, deadline - reserve)
            tree = branch_and_price(master, pricer, lagrangian, objective, masks, configs, gaps, branching, polish,
                                    duals)
            objective, masks, configs, nodes = tree.objective, tree.masks, tree.configs, tree.nodes
            bound, proven = max(bound, tree.bound), tree.closed
            full = None if proven else master.integer(deadline, masks, duals)  # over the nodes' columns too
            if full is not None and incumbent_cost(problem, full[0], full[1]) < objective:
                objective, masks, configs = polish(incumbent_cost(problem, full[0], full[1]), full[0], full[1])
                proven = objective - bound <= allowance(objective, gaps)
    if not proven and deadline is not None and root.upper is not None and not late(deadline):
        # the time left raises the root's bound: scaled duals, then its pricing bounds proven again
        # (formulations/column_generation.md, "Scaled duals" and "Sharpening the bound")
        best_round = (sharpen(pricer, root, deadline), *best_round[1:])
        bound = max(bound, best_round[0] / scale)
        proven = objective - bound <= allowance(objective, gaps)
    if not problem.side.counting:  # each group on its optimum (an enumerated column may be dearer)
        configs = [problem.group(m) for m in masks]
        objective = problem.plan_cost(masks)
    bound = min(bound, objective)
    status = OPTIMAL if proven else TIME_LIMIT if stopped or late(cutoff) else BOUNDED
    info = SolverInfo("colgen", status=status, objective=objective, bound=bound,
                      relaxation_bound=min(objective, max(problem.lower_bound(),
                                                          -np.inf if best_round is None else best_round[0] / scale)),
                      gap=relative_gap(objective, bound), scope="all partitions",
                      backend="appsi_highs", columns=len(master.masks),
                      candidate_groups=len(set(master.masks)), iterations=rounds, nodes=nodes)
    return Solution.of(problem, masks, info, configs=configs)


def _cutoff(cost: float, gaps: tuple[float, float], scale: float) -> float:
    """The scaled bound at which generation stops: a plan of ``cost`` is proven there, within ``gaps``."""
    return (cost - allowance(cost, gaps)) * scale


def _regrouped(master: Master, objective: float, masks: list[int], configs: list[GroupConfig],
               deadline: float | None) -> tuple[float, list[int], list[GroupConfig]]:
    """The plan after :func:`.regroup.regroup`, where it is cheaper, within :data:`REGROUP_SHARE`
    of the time left before ``deadline`` (None: without a limit)."""
    now = time.perf_counter()
    until = None if deadline is None else now + REGROUP_SHARE * (deadline - now)
    return _adopt(master, objective, masks, configs, regroup_plan(master.problem, masks, until))


def _polisher(master: Master, deadline: float | None) -> Polish:
    """The plan after moves of single apps (:func:`.moves.improve`) until ``deadline``, where
    it is cheaper."""

    def polish(objective: float, masks: list[int], configs: list[GroupConfig]) -> tuple[float, list[int], list[GroupConfig]]:
        return _adopt(master, objective, masks, configs, improve(master.problem, masks, deadline))
    return polish


def _adopt(master: Master, objective: float, masks: list[int], configs: list[GroupConfig],
           new: list[int]) -> tuple[float, list[int], list[GroupConfig]]:
    """The plan ``new`` (each group on its optimum) if it costs less than ``objective``, its
    groups added to the ``master`` as columns (for the integer masters to come); else the plan
    given."""
    problem = master.problem
    cost = problem.plan_cost(new)
    if not cost < objective:
        return objective, masks, configs
    for m in new:
        master.add_group(m)
    return cost, new, [problem.group(m) for m in new]
