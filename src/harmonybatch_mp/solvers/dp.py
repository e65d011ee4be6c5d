"""The optimum over SLO-contiguous partitions, as a shortest path (``formulations/model.md`` section 8)."""

from __future__ import annotations

import math
import operator
import time

from .._validate import flag, instance
from ..errors import SolverError
from ..plan import RESTRICTED_OPTIMAL, TIME_LIMIT, SolverInfo
from ..provision import GroupConfig
from ..solver_info import relative_gap
from .base import Solution
from .candidates import auto_max_run, check_max_run
from .groups import run_mask
from .options import checked_deadline, deadline_of, late
from .problem import Problem

#: Per end node ``j``, the runs ``apps[i:j]`` ending there: ``(start i, weight)``. (Their masks
#: are made for the path only: at 20,000 apps the 1.3 million runs' masks held about 1.5 GB.)
Runs = list[list[tuple[int, float]]]
#: Paths whose lengths differ by at most this share are tied, and the one with the fewest groups
#: is taken. Under full-batch, a run split into two parts on the group's configuration costs the
#: same but for rounding, and which split won was rounding's choice (n = 1,000 VGG19: 48 groups,
#: now 13). Under expected the full-batch plan's groups are offered to the capped runs
#: (:func:`offered_groups`): n = 300 VGG19 2.0% cheaper, n = 1,000 0.11% dearer
#: (formulations/contiguous_shortest_path.md, "Ties").
TIE = 1e-12
#: Under a deadline and full-batch, each pass of :func:`contiguous_graph` searches runs up to this
#: many times as long as the last pass's. (A pass folds each start's shorter runs again without
#: searching them, about a fifteenth of a step each: 0.6 us against 9.8 us.)
PASS_GROWTH = 4
#: Seconds an app that :func:`offered_groups` keeps of its deadline for pricing the full-batch
#: plan's groups under expected (7-36 us an app at 1,000-20,000 apps, three models).
OFFER_PRICING = 4e-5


def contiguous_graph(problem: Problem, max_run: int | None = None, deadline: float | None = None,
                     isolate: bool = False) -> tuple[Runs, bool]:
    """DAG on nodes ``0..n``; edge ``i -> j`` is the group ``apps[i:j]`` weighted by ``(r_X/R) C_X``
    (listed at ``j``, by start), and whether every run got its edge.

    Only feasible groups of at most ``max_run`` apps get an edge, and with ``isolate`` only
    those that hold no isolated pair of ``problem.side`` (group optima computed incrementally
    by :meth:`Problem.fill_runs`). With a ``deadline`` (a ``time.perf_counter()`` reading) the
    apps alone come first, so that a path exists when the deadline stops the runs. Under
    full-batch the runs are then searched in passes, every start's runs of up to
    :data:`PASS_GROWTH` apps, then of up to ``PASS_GROWTH**2``, and so on, so that the path is
    the best over the runs of every start up to some length; under expected start by start
    (formulations/contiguous_shortest_path.md, "At a deadline").
    """
    apart = isolate and bool(problem.side.isolate)
    last: dict[int, tuple[int, float]] = {}  # per start i, the last run's end and rate

    def edge(g: Runs, i: int, j: int, mask: int, cfg: GroupConfig | None) -> None:
        # the run's rate summed in app order, as Problem.rate does (ties between plans of equal
        # cost break the same way), one addition per run
        end, rate = last.get(i, (i, 0))
        rate = rate + problem.apps[j - 1].rate if end == j - 1 else problem.rate(mask)
        last[i] = (j, rate)
        if cfg is not None and not (apart and j > i + 1 and problem.side.separates(problem, mask)):
            g[j].append((i, rate / problem.total_rate * cfg.cost))

    longest = problem.n if max_run is None else min(max_run, problem.n)
    caps, passes, complete = [longest], [], True  # the longest run of each pass, and its edges
    if deadline is not None:  # the apps alone first (priced together), then passes of longer runs
        # (under expected, passes of short runs first planned no better within short limits)
        caps = [1, longest] if problem.expected else _pass_caps(longest, PASS_GROWTH)
        passes.append([[] for _ in range(problem.n + 1)])
        for i, cfg in enumerate(problem.alone()):
            edge(passes[0], i, i + 1, 0, cfg)  # (an app alone's rate is its own: no mask needed)
    while complete and len(passes) < len(caps):  # (a pass stopped by the deadline is the last)
        shortest = caps[len(passes) - 1] + 1 if passes else 1
        passes.append([[] for _ in range(problem.n + 1)])
        runs = problem.fill_runs(caps[len(passes) - 1], deadline, shortest)
        complete = False
        while deadline is None or time.perf_counter() <= deadline:  # checked before each run's search
            run = next(runs, None)
            if run is None:
                complete = True
                break
            edge(passes[-1], *run)  # (the run's optimum as fill_runs found it: not looked up again)
    if len(passes) == 1:
        return passes[0], complete
    # each pass's runs at j start before the last pass's: joined in the order of their starts,
    # the path ties break as without a deadline
    return [[e for g in reversed(passes) for e in g[j]] for j in range(problem.n + 1)], complete


def _pass_caps(longest: int, growth: int) -> list[int]:
    """The longest run of each pass of :func:`contiguous_graph` under a deadline: ``1, growth,
    growth**2, ...`` up to ``longest``.

    >>> _pass_caps(64, 4), _pass_caps(100, 4), _pass_caps(4, 2), _pass_caps(1, 4)
    ([1, 4, 16, 64], [1, 4, 16, 64, 100], [1, 2, 4], [1])
    """
    caps = [1]
    while caps[-1] < longest:
        caps.append(min(longest, caps[-1] * growth))
    return caps


def dp(problem: Problem, *, max_run: int | None = None, deadline: float | None = None,
       isolate: bool = False) -> Solution:
    """Cheapest partition of the SLO-sorted apps into consecutive runs (shortest path).

    Parameters
    ----------
    problem : Problem
    max_run : int, optional
        Longest run (group) considered; default: no limit up to 446 apps, then
        ``max(64, 100000 // n)``; under ``expected`` no limit up to 99 apps, then
        ``max(4, 5000 // n)`` plus the groups of the full-batch contiguous optimum
        (:func:`~.candidates.auto_max_run`; the scope says which).
    deadline : float, optional
        A ``time.perf_counter()`` reading: the runs not searched by then get no edge, and the
        plan is the best over the runs searched (every app alone at least), status ``time_limit``.
    isolate : bool
        Leave out the runs that hold an isolated pair of ``problem.side`` (pins are kept
        always, through the groups' allowed kinds); the counting rows are not known here.

    Returns
    -------
    Solution
        Status ``restricted_optimal``: optimal among contiguous partitions (its cost is
        the ``restricted_bound``); ``bound`` is the global per-app bound.
    """
    return _dp(problem, max_run, deadline, isolate)[0]


def dp_with_ties(problem: Problem, *, deadline: float | None = None) -> tuple[Solution, list[int]]:
    """:func:`dp`'s plan, and the groups of the contiguous plan with the most groups of those
    tied with it (:func:`shortest_path` with ``fewest=False``, one more pass over the runs,
    none once ``deadline`` has passed): under full-batch the same cost in smaller groups, which
    :func:`.colgen.colgen` adds to its first master as well
    (``formulations/contiguous_shortest_path.md``, "Ties")."""
    solution, runs = _dp(problem, None, deadline, False)
    return solution, [] if late(deadline) else shortest_path(runs, fewest=False)[1]


def _dp(problem: Problem, max_run: int | None, deadline: float | None, isolate: bool) -> tuple[Solution, Runs]:
    """:func:`dp`'s plan and the runs it is the shortest path over."""
    instance(problem, Problem, "dp: problem")
    max_run, deadline = check_max_run(max_run), checked_deadline(deadline)
    isolate = flag(isolate, "dp: isolate")
    capped = max_run is None and auto_max_run(problem.n, problem.expected) is not None
    if max_run is None:
        max_run = auto_max_run(problem.n, problem.expected)
    offered = capped and problem.expected
    if offered and deadline is not None:  # the full-batch plan's groups first: they make most of the plan
        masks, found = offered_groups(problem, deadline)  # (contiguous_shortest_path.md, "At a deadline")
    g, complete = contiguous_graph(problem, max_run, deadline, isolate)
    if offered:
        if deadline is None:
            masks, found = offered_groups(problem)
        complete = complete and found
        for mask in masks:
            i = (mask & -mask).bit_length() - 1
            if not (isolate and problem.side.separates(problem, mask)):
                g[i + mask.bit_count()].append((i, problem.weighted_cost(mask)))
    objective, masks = shortest_path(g)
    if math.isinf(objective):
        problem.require_feasible()  # names an app no function serves (or a pin it cannot keep)
        raise SolverError("dp: no contiguous plan: some app has no feasible function")
    bound = problem.lower_bound()
    scope = "contiguous partitions" if max_run is None else f"contiguous partitions, groups of at most {max_run}"
    if offered:
        scope += " (and the full-batch contiguous optimum's groups)"
    if not complete:
        scope = scope.replace("contiguous partitions", "contiguous partitions searched by the time limit", 1)
    info = SolverInfo("dp", status=RESTRICTED_OPTIMAL if complete else TIME_LIMIT, objective=objective, bound=bound,
                      gap=relative_gap(objective, bound), scope=scope,
                      restricted_bound=objective if complete else None)
    return Solution.of(problem, masks, info), g


def shortest_path(runs: Runs, fewest: bool = True) -> tuple[float, list[int]]:
    """The shortest path from node 0 to the last over the DAG of ``runs`` (every edge goes
    forward, so one pass in node order relaxes each edge once; formulations/contiguous_shortest_path.md):
    its length and its edges' masks, the runs ``apps[i:j]`` (``inf`` and none where no path
    joins them). Of paths whose lengths differ by no more than rounding (:data:`TIE`), the one
    with the fewest edges (with ``fewest=False``, the most).

    >>> shortest_path([[], [(0, 1.0)], [(1, 1.0), (0, 1.5)]])
    (1.5, [3])
    >>> runs = [[], [(0, 0.1)], [(0, 0.8), (1, 0.7)]]  # 0.1 + 0.7 < 0.8 by rounding
    >>> shortest_path(runs), shortest_path(runs, fewest=False)
    ((0.8, [3]), (0.7999999999999999, [1, 2]))
    """
    best = [0.0] + [math.inf] * (len(runs) - 1)
    edges = [0] * len(runs)
    fewer = operator.lt if fewest else operator.gt
    last = [0] * len(runs)
    for j in range(1, len(runs)):
        for i, weight in runs[j]:
            length = best[i] + weight
            if length < best[j] - TIE * length or (length <= best[j] + TIE * length < math.inf
                                                   and fewer(edges[i] + 1, edges[j])):
                best[j], edges[j], last[j] = length, edges[i] + 1, i
    if math.isinf(best[-1]):
        return best[-1], []
    masks, j = [], len(runs) - 1
    while j:
        masks.append(run_mask(last[j], j))
        j = last[j]
    return best[-1], masks[::-1]


def offered_groups(problem: Problem, deadline: float | None = None) -> tuple[list[int], bool]:
    """The groups offered besides capped runs under ``expected`` (by :func:`dp` and the MILP's
    contiguous candidates): the full-batch contiguous optimum's groups that ``problem``'s
    cost model can serve, and whether that optimum was complete, and its groups priced, by
    ``deadline`` (the optimum is made by then less :data:`OFFER_PRICING` an app)."""
    within = None if deadline is None else max(time.perf_counter(), deadline - OFFER_PRICING * problem.n)
    full_batch, priced = dp(problem.full_batch_view(), deadline=within), []
    for batch in problem.prefetched(full_batch.groups, deadline):  # (100,000 apps: 20,000 groups, 5 s)
        priced += batch
        if late(deadline):
            break
    return ([m for m in priced if problem.group(m) is not None],
            full_batch.info.status == RESTRICTED_OPTIMAL and len(priced) == len(full_batch.groups))


def dp_solver(problem: Problem, *, max_run: int | None = None, time_limit: float | None = None) -> Solution:
    """Solver ``dp`` as registered: :func:`dp` with ``time_limit``, seconds for the whole call,
    in place of its ``deadline`` (a ``time.perf_counter()`` reading, for the solvers that run it
    within their own limit). At the limit the plan is the best over the runs searched by then,
    status ``time_limit``.

    >>> from harmonybatch_mp import solve
    >>> solve("0.3:2,0.5:5,0.8:10", "VGG19", solver="dp", time_limit=10).solver.status
    'restricted_optimal'
    """
    return dp(problem, max_run=max_run, deadline=deadline_of(time.perf_counter(), time_limit))
