"""The restricted master of column generation (``formulations/column_generation.md``, "The
master and the bound"), shared by the root of :func:`.colgen.colgen` and the nodes of
:mod:`.branch_price`: its columns, its LP (with the side rows and a node's count rows), and
its integer plans (HiGHS, or the partition search of the enumeration proof). The loop that
grows it is :func:`.generation.generate`.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np

from ..errors import SolverError
from ..provision import GroupConfig
from .backends import OPTIMAL as SOLVED
from .highs import run_highs_arrays, run_highs_lp
from .interior_lp import Chooser, run_interior_lp
from .options import late
from .partition_search import cheapest_partition
from .pricing import TOLERANCE
from .problem import Problem, members

#: Cost of one unit of violation of a side row, or of an uncovered app at a node of branch and
#: price, in the master LP (scaled units; the plan is ~1). Elastic rows keep the LP feasible
#: from the first round; the bound stays valid for any value.
ELASTIC_COST = 1e3
#: The enumeration proof's search (:meth:`Master.cheapest`) looks for plans cheaper than the
#: incumbent by more than this (scaled units: the per-app bound is 1), as HiGHS's tolerances
#: let it: to 1e-9, n = 32 (88,920 columns, 88,596 of reduced cost under 1e-6, the incumbent
#: 7e-9 above the bound) ran out its 60 s, where HiGHS proved it in 1.1 s.
PROOF_TOLERANCE = 1e-7
#: Under a deadline, the integer master gives HiGHS the start's columns and at most this many
#: others, those of least reduced cost at the duals given (least weight per app without them). HiGHS's
#: root reduced-cost fixing checks neither its time limit nor the interrupt callbacks: on the
#: 32,575 columns of n = 100 BERT under a GPU cap (part 5 of ``benchmarks/colgen.py``) it ran
#: about 12 s of a MIP solve given 8 s, and the 60 s call ended at 76 s; on random 10,000 of
#: those columns with the start, the solve took 0.17 s, on 20,000 1.07 s.
INTEGER_COLUMNS = 10_000
#: The integer master's partition search (:meth:`Master.integer`) has this share of the time
#: left, and at most this many seconds, before HiGHS takes over from the best plan it found.
SEARCH_SHARE, SEARCH_SECONDS = 0.25, 2.0


@dataclass(frozen=True)
class Count:
    """A rule of a node of branch and price on how many groups of a plan use one of the
    ``configs`` (positions among the pricer's configurations, which each column is priced
    as: :attr:`.Pricer.priced_as`): at most ``value`` when ``most``, else at least."""

    configs: tuple[int, ...]
    value: int
    most: bool


@dataclass
class Master:
    """The restricted master: columns as (group mask, configuration, scaled weight)."""

    problem: Problem
    scale: float

    def __post_init__(self) -> None:
        self.masks: list[int] = []
        self.members: list[list[int]] = []
        self.configs: list[GroupConfig] = []
        self.weights: list[float] = []
        self.seen: set[tuple[int, int]] = set()
        self._membership = np.zeros((0, self.problem.n), bool)
        self._flat = np.zeros(0, np.intp)  # every column's apps, one after another
        self._starts = np.zeros(0, np.intp)  # where each column's apps start in _flat
        self._config_arrays = np.zeros((3, 0))  # per column: grid index, GPU or not, GPU memory
        self._chooser = Chooser()  # under counting side rows, the interior point by its times

    def add_group(self, mask: int, config: GroupConfig | None = None, exact: bool = False) -> int:
        """Columns for a group: its optimum (``config`` when it is known to be one), or its
        optimum per kind and GPU size when side rows count GPUs or their memory; with
        ``exact``, the group on ``config`` as well. Returns how many columns were new."""
        p = self.problem
        if p.side.isolate and p.side.separates(p, mask):
            return 0  # holds an isolated pair: no column (formulations/set_partitioning.md)
        by_class = p.side.max_gpu_functions is not None or p.side.gpu_memory_budget is not None
        if by_class:
            cfgs = p.per_class(mask)
        else:
            cfgs = [c for c in [p.group(mask) if config is None or exact else config] if c is not None]
        if exact and config is not None:
            cfgs.append(config)
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

    def add_groups(self, groups: list[tuple[int, GroupConfig | None]], duals: np.ndarray,
                   counts: tuple[Count, ...] = (), priced_as: np.ndarray | None = None,
                   deadline: float | None = None) -> int:
        """Add the groups' columns (each also on its configuration when one is given); returns
        how many new ones price out at ``duals`` (over the side rows, then the ``counts``).
        Those not added by ``deadline`` are left out (each finds its group's optimum: a round's
        groups took 0.79 s at 1,000 apps)."""
        before = len(self.masks)
        for k, (m, config) in enumerate(groups):
            if k % 16 == 0 and late(deadline):
                break
            self.add_group(m, config, exact=config is not None)
        rc = self.reduced_costs(duals, before, self.count_rows(counts, priced_as))
        return int((rc < -TOLERANCE).sum())

    def reduced_costs(self, duals: np.ndarray, first: int = 0,
                      rows: list[tuple[np.ndarray, float]] | None = None) -> np.ndarray:
        """The reduced costs at ``duals`` of the columns from ``first`` on: over the cover rows,
        the side rows, then the extra ``rows`` (a node's :meth:`count_rows`)."""
        n = self.problem.n
        flat, starts = self._flattened()
        if first >= starts.size:
            return np.zeros(0)
        rc = np.asarray(self.weights[first:]) - np.add.reduceat(duals[:n][flat], starts[first:])
        for r, (coef, _) in enumerate(self.side_rows() + (rows or [])):
            rc -= duals[n + r] * coef[first:]
        return rc

    def count_rows(self, counts: tuple[Count, ...], priced_as: np.ndarray | None) -> list[tuple[np.ndarray, float]]:
        """The rows of a node's ``counts`` over the columns so far, as ``<=`` rows, each
        column counted on the configuration it is priced as (``priced_as``, per grid index)."""
        if not counts:
            return []
        priced = self.priced(priced_as)
        return [((1.0 if c.most else -1.0) * np.isin(priced, c.configs), float(c.value if c.most else -c.value))
                for c in counts]

    def priced(self, priced_as: np.ndarray) -> np.ndarray:
        """Per column, the pricing configuration it is priced as (``priced_as``: per grid
        index, :attr:`.Pricer.priced_as`; -1 for none)."""
        return priced_as[self._per_config()[0].astype(np.intp)]

    def membership(self) -> np.ndarray:
        """Columns by apps: whether each column's group holds each app (rows added as the
        columns come)."""
        have = self._membership.shape[0]
        if have < len(self.masks):
            new = np.zeros((len(self.masks) - have, self.problem.n), bool)
            for row, apps in enumerate(self.members[have:]):
                new[row, apps] = True
            self._membership = np.concatenate([self._membership, new])
        return self._membership

    def _flattened(self) -> tuple[np.ndarray, np.ndarray]:
        """Every column's apps one after another, and where each column's start (grown as the
        columns come): the cover rows' sums over them take time in the nonzeros. Through the
        dense :meth:`membership` they took 1.6 s at 2,000 apps and 47,309 columns (a float
        copy of 757 MB), and a colgen call given 5 s ended 0.8 s past it."""
        have = self._starts.size
        if have < len(self.members):
            new = self.members[have:]
            lengths = np.fromiter(map(len, new), np.intp, len(new))
            offsets = self._flat.size + np.cumsum(lengths) - lengths
            self._starts = np.concatenate([self._starts, offsets])
            self._flat = np.concatenate([self._flat, np.fromiter(itertools.chain.from_iterable(new), np.intp,
                                                                 int(lengths.sum()))])
        return self._flat, self._starts

    def side_rows(self) -> list[tuple[np.ndarray, float]]:
        """The side rows over the columns so far: (coefficient per column, upper bound)."""
        _, is_gpu, mem = self._per_config()
        return [(coef, ub) for _, coef, ub in self.problem.side.rows(is_gpu, mem)]

    def _per_config(self) -> np.ndarray:
        """Per column, its configuration's grid index, whether it is a GPU function and its GPU
        memory (rows of a ``(3, columns)`` array, grown as the columns come: built from the
        configurations each time, they took a tenth of a node's time at n = 30)."""
        have = self._config_arrays.shape[1]
        if have < len(self.configs):
            new = np.array([(c.index, c.kind == "gpu", c.gpu_mem_gb or 0) for c in self.configs[have:]], float).T
            self._config_arrays = np.concatenate([self._config_arrays, new], axis=1)
        return self._config_arrays

    def lp(self, deadline: float | None, interior: bool, allowed: np.ndarray | None = None,
           rows: list[tuple[np.ndarray, float]] | None = None):
        """The master LP over the ``allowed`` columns (all when None; otherwise each app may
        also stay uncovered at :data:`ELASTIC_COST`), with the side rows and the extra
        ``rows`` (a node's :meth:`count_rows`): ``(objective, duals, x)``, ``x`` over every
        column, or None."""
        n = self.problem.n
        keep = np.arange(len(self.masks)) if allowed is None else np.flatnonzero(allowed)
        rows = [(coef[keep], ub) for coef, ub in self.side_rows() + (rows or [])]
        k = len(rows)
        rows = [(np.concatenate([coef, -np.eye(k)[r], np.zeros(0 if allowed is None else n)]), ub)
                for r, (coef, ub) in enumerate(rows)]
        cols = [self.members[j] for j in keep] + [[] for _ in range(k)]
        cost = [self.weights[j] for j in keep] + [ELASTIC_COST] * k
        if allowed is not None:
            cols += [[i] for i in range(n)]
            cost += [ELASTIC_COST] * n
        # a node's LPs without presolve: one of 3,026 columns and 62 rows (n = 60) took 123 ms
        # instead of 157 ms by interior point, 38 ms instead of 77 ms by simplex (at the root,
        # its other interior duals slowed generation: formulations/column_generation.md)
        # interior duals by PIQP's dense interior point where the master is small, and under
        # counting side rows by whichever backend is faster on this master's LPs (interior_lp)
        if interior:
            solved = run_interior_lp(np.asarray(cost), cols, rows, n, deadline=deadline, presolve=allowed is None,
                                     chooser=self._chooser if self.problem.side.counting else None)
        else:
            solved = run_highs_lp(np.asarray(cost), cols, rows, n, deadline=deadline, presolve=allowed is None)
        if solved is None:
            return None
        x = np.zeros(len(self.masks))
        x[keep] = solved[2][:keep.size]
        return solved[0], solved[1], x

    def lp_bound(self, deadline: float | None) -> float | None:
        """A bound on every plan over the master's columns (scaled): the Lagrangian at its LP's
        duals, ``sum y`` plus the ``n`` most negative reduced costs, so that duals the LP solver
        left slightly infeasible still give a bound. None when the LP is not solved by
        ``deadline``, or the master has side rows. Over the columns of the enumeration proof it
        bounds every plan cheaper than the incumbent (``formulations/column_generation.md``,
        "The LP over the enumerated columns").

        >>> from harmonybatch_mp.solvers import Problem, as_instance
        >>> problem = Problem(*as_instance("0.3:2,0.5:5,0.8:10", "VGG19"), cost_model="full-batch")
        >>> master = Master(problem, 1.0)
        >>> for m in (0b001, 0b010, 0b100, 0b011, 0b111):
        ...     _ = master.add_group(m)
        >>> bound = master.lp_bound(None)
        >>> bool(abs(bound - master.lp(None, True)[0]) < 1e-9)
        True
        """
        solved = None if self.side_rows() else self.lp(deadline, True)
        if solved is None:
            return None
        n = self.problem.n
        duals = solved[1][:n]
        rc = self.reduced_costs(np.concatenate([duals, np.zeros(len(solved[1]) - n)]))
        return float(duals.sum() + np.sort(np.minimum(rc, 0.0))[:n].sum())

    def positions(self, masks: list[int]) -> list[int]:
        """The column of each group of ``masks`` (its first, where a group has several)."""
        index = {m: j for j, m in reversed(list(enumerate(self.masks)))}
        return [index[m] for m in masks]

    def integer(self, deadline: float | None, warm: list[int],
                duals: np.ndarray | None = None) -> tuple[list[int], list[GroupConfig], bool] | None:
        """The integer master over the columns so far: ``(groups, configs, proven optimal)``,
        or None (no solution by the ``deadline``, also while another thread held HiGHS).
        Without side rows and given ``duals`` to guide it, the partition search of
        :meth:`cheapest` first, for :data:`SEARCH_SHARE` of the time left (at most
        :data:`SEARCH_SECONDS`): where it ends, its plan is the optimum; otherwise HiGHS goes
        on from the best plan it found. (In the trees of n = 30 the search took 1-45 ms where
        HiGHS took 0.2-0.8 s.) Under a ``deadline`` HiGHS gets at most :data:`INTEGER_COLUMNS`
        columns (:meth:`_given`), and a plan over fewer than all is not proven optimal."""
        if duals is not None and not self.side_rows():
            now = time.perf_counter()
            budget = SEARCH_SECONDS if deadline is None else min(SEARCH_SECONDS, SEARCH_SHARE * max(0.0, deadline - now))
            found = self.cheapest(duals, now + budget, warm)
            if found is not None and (found[2] or late(deadline)):
                return found
            warm = warm if found is None else found[0]
        if late(deadline):  # (setting HiGHS up took 0.05 s at 2,000 columns, past a deadline)
            return None
        positions = self.positions(warm)
        given = self._given(deadline, positions, duals)
        start = np.zeros(given.size)
        start[np.isin(given, positions)] = 1.0
        try:
            result, x = run_highs_arrays(np.asarray(self.weights)[given], [self.members[j] for j in given],
                                         [(coef[given], ub) for coef, ub in self.side_rows()], self.problem.n,
                                         deadline=deadline, warm_start=start if warm else None)
        except SolverError as exc:
            if not exc.time_limit:
                raise
            return None
        if x is None:
            return None
        chosen = given[np.flatnonzero(x > 0.5)]
        proven = result.termination == SOLVED and given.size == len(self.masks)
        return [self.masks[j] for j in chosen], [self.configs[j] for j in chosen], proven

    def _given(self, deadline: float | None, start: list[int], duals: np.ndarray | None) -> np.ndarray:
        """The columns :meth:`integer` gives HiGHS: all of them, or under a ``deadline`` the
        ``start``'s (column positions) and the :data:`INTEGER_COLUMNS` others of least reduced
        cost at ``duals`` (cover and side rows; least weight per app without them)."""
        count = len(self.masks)
        if deadline is None or count <= INTEGER_COLUMNS + len(start):
            return np.arange(count)
        if duals is None:
            flat, starts = self._flattened()
            score = np.asarray(self.weights) / np.diff(starts, append=flat.size)
        else:
            score = self.reduced_costs(duals)
        score[start] = -np.inf
        return np.sort(np.argsort(score, kind="stable")[:INTEGER_COLUMNS + len(start)])

    def cheapest(self, duals: np.ndarray, deadline: float | None,
                 warm: list[int]) -> tuple[list[int], list[GroupConfig], bool] | None:
        """:meth:`integer` for the enumeration proof: without side rows, by the search of
        :mod:`.partition_search` (pruned by the reduced costs at ``duals``) until ``deadline``:
        the cheapest plan found, no dearer than ``warm`` (cheaper by more than
        :data:`PROOF_TOLERANCE`; None when ``warm`` is empty and no plan was found), and
        whether the search ended. On the 72,486 columns of n = 30 ladder BERT it took 0.9 s,
        HiGHS 6.6-12.3 s; and HiGHS, given 0.7 s there, ran 1.6 s."""
        if self.side_rows():
            return self.integer(deadline, warm, duals)
        start = self.positions(warm)
        weights = np.asarray(self.weights)
        upper = float(weights[start].sum()) if start else np.inf
        found, ended = cheapest_partition(self.members, weights, self.problem.n, duals, upper, deadline,
                                          tol=PROOF_TOLERANCE)
        chosen = start if found is None else found
        if not chosen:
            return None
        return [self.masks[j] for j in chosen], [self.configs[j] for j in chosen], ended
