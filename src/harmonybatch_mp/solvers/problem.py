"""The planning problem shared by every solver: apps in canonical order, side constraints,
cached group optima and a lower bound valid for every plan.

Groups are bitmasks over the canonical app order (bit ``i`` = ``workload.apps[i]``,
:mod:`.groups`). A problem's optima per class of function are :mod:`.problem_classes`', and
those of its runs :mod:`.problem_runs`'; :class:`Problem` holds both, and every cache.
"""

from __future__ import annotations

import bisect
import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from .._sums import ordered_sum
from .._validate import attributes, choice, instance, integer, listed, whole
from ..duration import DEFAULT_DURATION, DurationModel
from ..errors import MORE_APPS, InfeasibleApp, InfeasibleError, InputError, SolverError, _listing
from ..expected_cost import COST_MODELS, EXPECTED, FULL_BATCH, MAX_TIMEOUT_LEVELS, TIMEOUT_LEVELS, expected_tables
from ..expected_search import _search_many, evaluate
from ..grid import GPU
from ..plan import FUNCTION_FIELDS, Plan, SolverInfo
from ..platform import Platform
from ..profiles import ModelProfile
from ..provision import (
    KINDS,
    ConfigGrid,
    GroupConfig,
    best_config,
    config_grid,
    feasible_mask,
    kind_mask,
)
from ..workload import App, Workload
from .bounds import per_app_bound
from .groups import MISSING, checked_kinds, members
from .options import checked_deadline
from .problem_classes import FunctionClasses
from .problem_runs import ContiguousRuns
from .side import SideConstraints

if TYPE_CHECKING:  # (the kernel's module imports numba: on first use only)
    from .run_kernel import ClassArrays, RunArrays

T = TypeVar("T")
#: Groups searched together under ``expected`` (bounds the memory of one round).
_SEARCH_BATCH = 256
#: Groups searched together under ``expected`` between two of a caller's deadline checks (the
#: contiguous runs of :meth:`Problem.fill_runs`, the apps alone of
#: :meth:`Problem.require_feasible`): at least and at most so many, sized so that a batch takes
#: about ``_RUN_SECONDS`` (:meth:`Problem.timed_batches`). Batches of every run from a start,
#: at least 128, took up to 1.4 s at 50 VideoMAE apps of rates up to 316/s (2.4 s at 100); 16
#: at a time, at most 0.26 s, in the same total time, but typical workloads took 30% longer
#: (dp, 100 random VGG19 apps: 1.15 s against 0.85 s). Apps alone were priced 64 at a time
#: (64 high-rate apps: about 0.12 s).
_RUN_BATCH = (16, 256)
_RUN_SECONDS = 0.1



class Problem(FunctionClasses, ContiguousRuns):
    """A workload on a model and platform, with each group's optimum computed once.

    Parameters
    ----------
    workload, profile, platform
        The instance.
    side : SideConstraints, optional
        Side constraints; pinned apps only get columns of their kind in every solver.
    cost_model : {"expected", "full-batch"}
        How groups are priced (``formulations/model.md`` sections 5 and 12).
    timeout_levels : int, optional
        Under ``expected``: timeout scales ``1, (J-1)/J, ..., 1/J`` tried per configuration
        (default 4). Under ``full-batch`` a group's cost does not depend on its timeouts, and
        giving it is an error; :attr:`timeout_levels` is None there.
    duration : DurationModel
        Under ``expected``: the execution-time distribution (the simulator's).
    """

    def __init__(self, workload: Workload, profile: ModelProfile, platform: Platform,
                 side: SideConstraints | None = None, cost_model: str = FULL_BATCH,
                 timeout_levels: int | None = None, duration: DurationModel = DEFAULT_DURATION):
        for name, value, cls in (("workload", workload, Workload), ("profile", profile, ModelProfile),
                                 ("platform", platform, Platform)):
            if not isinstance(value, cls):
                raise InputError(f"{name} must be a {cls.__name__}, got {type(value).__name__}")
        if side is not None and not isinstance(side, SideConstraints):
            raise InputError(f"side must be a SideConstraints, got {type(side).__name__}")
        choice(cost_model, COST_MODELS, "cost_model")
        if timeout_levels is not None and cost_model != EXPECTED:
            raise InputError(f"timeout_levels applies to cost_model {EXPECTED!r} only (a group's cost under "
                             f"{cost_model} does not depend on its timeouts); drop it or the cost model")
        if cost_model == EXPECTED:
            levels = whole(TIMEOUT_LEVELS if timeout_levels is None else timeout_levels)
            if levels is None or not 1 <= levels <= MAX_TIMEOUT_LEVELS:
                raise InputError(f"timeout_levels must be a whole number from 1 to {MAX_TIMEOUT_LEVELS}, "
                                 f"got {timeout_levels!r:.40}")
            timeout_levels = levels
        if not (hasattr(duration, "sample") and hasattr(duration, "expected_billed")):
            raise InputError(f"duration must have sample() and expected_billed(), got {type(duration).__name__}")
        self.cost_model, self.timeout_levels, self.duration = cost_model, timeout_levels, duration
        self.side = side or SideConstraints()
        self.side.validate_names(a.name for a in workload.apps)
        self.workload = workload
        self.profile = profile
        self.platform = platform
        self.apps: tuple[App, ...] = workload.apps
        self.n = len(self.apps)
        self.total_rate = workload.total_rate
        self.grid: ConfigGrid = config_grid(profile, platform)
        # the GPU sizes per_class searches under expected: under a GPU memory budget, none above it
        # (no plan under the budget can use them)
        budget = self.side.gpu_memory_budget
        self._gpu_sizes = [int(s) for s in np.unique(self.grid.gpu_mem[self.grid.memory_ok & (self.grid.kind == GPU)])
                           if budget is None or s <= budget]
        pins = self.side.kinds()
        self.app_kinds = tuple(pins.get(a.name, KINDS) for a in self.apps)
        # per kind, the apps pinned away from it, as a mask (kinds_of in a step, not one per member)
        self._pinned_from = {k: sum(1 << i for i, ks in enumerate(self.app_kinds) if k not in ks) for k in KINDS}
        self._cache: dict[int, GroupConfig | None] = {}
        # the apps alone by position, and runs apps[i:j] by (i, j), per kinds asked for (None: all
        # each allows): a dict keyed by a group's mask hashes all its bits, which made pricing
        # 100,000 apps alone, and dp's runs of 20,000, quadratic (_cached)
        self._alone: dict[tuple[str, ...] | None, list[GroupConfig | None | object]] = {}
        self._runs: dict[tuple[int, int, tuple[str, ...] | None], GroupConfig | None] = {}
        self._classes: dict[int, list[GroupConfig]] = {}
        self._class_found: dict[tuple, GroupConfig | None] = {}  # (_class_searched)
        self._kind_configs: dict[tuple, np.ndarray] = {}
        self._class_configs: dict[tuple[tuple[str, ...], int | None], np.ndarray] = {}  # (_class_candidates)
        self._feasible = False  # require_feasible() passed (its side check took 0.15 s at 300 apps)
        self._index: dict[str, int] | None = None  # app name -> position (mask_of)
        self._isolated: list[int] | None = None  # the isolated pairs as masks (isolated_pairs)
        self._run_arrays: dict[tuple[tuple[str, ...] | None, int | None], RunArrays] = {}  # (run_arrays)
        self._class_arrays: dict[tuple[int, ...], ClassArrays] = {}  # (run_indices_by_class)
        self._full_batch: Problem | None = None  # full_batch_view(), made once
        self._by_class: tuple[np.ndarray, np.ndarray] | None = None  # per_class's order of the grid
        self.tables = expected_tables(self.grid, duration) if cost_model == EXPECTED else None

    @property
    def expected(self) -> bool:
        """Whether groups are priced by the ``expected`` model."""
        return self.tables is not None

    @property
    def most_groups(self) -> int:
        """The most groups a plan may have: one per app, or the side constraints' cap."""
        return self.n if self.side.max_functions is None else min(self.n, self.side.max_functions)

    def full_batch_view(self) -> Problem:
        """The same instance priced by the full-batch model (the heuristics' published rules use it)."""
        if not self.expected:
            return self
        if self._full_batch is None:  # one view, whose caches the side checks, fallbacks and repairs share
            self._full_batch = Problem(self.workload, self.profile, self.platform, self.side)
        return self._full_batch

    def _expected_config(self, index: int, scale: float, cost: float) -> GroupConfig:
        return replace(self.grid.config(index), cost=cost, timeout_scale=scale,
                       timeout_base=float(self.tables.latency_max_upto[index]))

    def _search(self, mask: int, candidates: np.ndarray) -> GroupConfig | None:
        return self._search_many([(mask, candidates)])[0]

    def _search_many(self, jobs: Sequence[tuple[int, np.ndarray]]) -> list[GroupConfig | None]:
        found = []
        for k in range(0, len(jobs), _SEARCH_BATCH):
            batch = [(c, [self.apps[i].slo for i in members(m)], [self.apps[i].rate for i in members(m)])
                     for m, c in jobs[k:k + _SEARCH_BATCH]]
            found += _search_many(self.tables, batch, self.timeout_levels)
        return [None if c is None else self._expected_config(c.index, c.scale, c.cost) for c in found]

    def _candidates(self, kinds: tuple[str, ...]) -> np.ndarray:
        if kinds not in self._kind_configs:  # one array per kinds: the searches share it
            self._kind_configs[kinds] = np.flatnonzero(self.grid.memory_ok & kind_mask(self.grid, kinds))
        return self._kind_configs[kinds]

    def prefetch(self, masks: Iterable[int], kinds: tuple[str, ...] | None = None) -> None:
        """Compute and cache the optima of many groups at once (under ``expected`` the searches
        run together, one vectorised round for all; ``formulations/model.md`` section 12), on
        the function ``kinds`` given (as :meth:`group` takes them). Under ``full-batch`` a group
        costs one lookup, so there is nothing to compute ahead, but the masks are checked all
        the same."""
        masks, kinds = self._masks(masks), checked_kinds(kinds)
        if not self.expected:
            return
        # each group once, runs and apps alone known by their ends: hashing a mask reads all its
        # bits (dict.fromkeys of 100,000 apps alone took 3.3 s of the 4.1 s of this call)
        seen: set[int | tuple[int, int]] = set()
        jobs, ends = [], []
        for m in masks:
            at = self._run_of(m)
            key = at if at[1] else m
            if key in seen or self._cached(m, kinds, at) is not MISSING:
                continue
            seen.add(key)
            allowed = tuple(k for k in self.kinds_of(m) if kinds is None or k in kinds)
            if allowed:
                jobs.append((m, self._candidates(allowed)))
                ends.append(at)
            else:
                self._keep(m, None, kinds, at)
        for (m, _), at, cfg in zip(jobs, ends, self._search_many(jobs)):
            self._keep(m, cfg, kinds, at)

    def prefetched(self, masks: Iterable[int], deadline: float | None = None, *, classes: bool = False,
                   most: int = _RUN_BATCH[1], kinds: tuple[str, ...] | None = None) -> Iterator[list[int]]:
        """``masks`` in batches of at most ``most``, each batch's optima computed and cached
        (:meth:`prefetch`, on the function ``kinds`` given; with ``classes``, its optimum per
        class, :meth:`prefetch_classes`) before it is yielded. The batches are sized as
        :meth:`fill_runs`'s: about 0.1 s each, and with a ``deadline`` (a ``time.perf_counter()``
        reading, which the caller checks between batches) the first is one group and none is
        longer than the time left at the last one's pace.

        >>> from harmonybatch_mp.solvers import as_instance
        >>> p = Problem(*as_instance("0.3:2,0.5:5,0.8:10", "VGG19"), cost_model="expected")
        >>> [len(batch) for batch in p.prefetched(range(1, 8), deadline=float("inf"))]
        [1, 2, 4]
        >>> [len(batch) for batch in p.prefetched(range(1, 8), most=2)]
        [2, 2, 2, 1]
        """
        masks, deadline, most = self._masks(masks), checked_deadline(deadline), integer(most, "most", minimum=1)
        kinds = checked_kinds(kinds)
        fetch = self.prefetch_classes if classes else None if kinds is None else lambda ms: self.prefetch(ms, kinds)
        return self.timed_batches(iter(masks), list, deadline, fetch=fetch, most=most)

    def check_mask(self, mask: Any) -> int:
        """``mask`` as an int, where it is a group of this problem's apps (bit ``i`` is
        ``apps[i]``); else :class:`~harmonybatch_mp.InputError`, naming it.

        >>> from harmonybatch_mp.solvers import as_instance
        >>> p = Problem(*as_instance("0.3:2,0.5:5", "VGG19"))
        >>> p.check_mask(0b11)
        3
        >>> p.check_mask(0b100)
        Traceback (most recent call last):
        ...
        harmonybatch_mp.errors.InputError: a group must be a bitmask of the problem's 2 apps (an int from 1 to 3), got 4
        """
        if isinstance(mask, bool) or not isinstance(mask, (int, np.integer)) or mask <= 0 or int(mask) >> self.n:
            raise InputError(f"a group must be a bitmask of the problem's {self.n} apps (an int from 1 to "
                             f"{(1 << self.n) - 1}), got {repr(mask):.40}")
        return int(mask)

    def _masks(self, masks: Iterable[int]) -> list[int]:
        """``masks`` as a list of ints, each checked by :meth:`check_mask`."""
        return [self.check_mask(m) for m in listed(masks, "masks", "an iterable of group bitmasks")]

    def kinds_of(self, mask: int) -> tuple[str, ...]:
        """Function kinds every member of the group allows."""
        mask = self.check_mask(mask)
        return tuple(k for k in KINDS if not mask & self._pinned_from[k])

    def rate(self, mask: int) -> float:
        """``r_X``, the total rate of the group."""
        return ordered_sum(self.apps[i].rate for i in members(self.check_mask(mask)))

    def group(self, mask: int, kinds: tuple[str, ...] | None = None) -> GroupConfig | None:
        """Cheapest feasible configuration of the group ``mask`` under the cost model, cached;
        ``kinds`` restricts the function kinds further (e.g. the CPU-only baseline)."""
        if type(mask) is not int:  # (ints are checked where first priced, in kinds_of)
            mask = self.check_mask(mask)
        kinds = checked_kinds(kinds)
        at = self._run_of(mask)
        cfg = self._cached(mask, kinds, at)
        if cfg is MISSING:
            allowed = tuple(k for k in self.kinds_of(mask) if kinds is None or k in kinds)
            if not allowed:
                cfg = None
            elif self.expected:
                cfg = self._search(mask, self._candidates(allowed))
            else:
                i = best_config(self.grid, [self.apps[i] for i in members(mask)], allowed, check_input=False)
                cfg = None if i is None else self.grid.config(i)
            self._keep(mask, cfg, kinds, at)
        return cfg

    def alone(self) -> list[GroupConfig | None]:
        """Each app's optimum alone, in app order: :meth:`group` of ``1 << i``, without making the
        masks where they are cached (at 100,000 apps, looking them up by mask took 1 s)."""
        cached = self._alone.get(None, [MISSING] * self.n)
        missing = [i for i, cfg in enumerate(cached) if cfg is MISSING]
        self.prefetch(1 << i for i in missing)  # (under expected, searched together)
        for i in missing:
            self.group(1 << i)
        return list(self._alone[None])

    def _cached(self, mask: int, kinds: tuple[str, ...] | None = None,
                at: tuple[int, int] | None = None) -> GroupConfig | None | object:
        """The group's cached optimum (``kinds`` as :meth:`group` takes it), or ``MISSING``;
        ``at`` is :meth:`_run_of` the mask where the caller knows it. Runs are cached by where
        they start and end, an app alone by its position, other groups by mask: hashing a mask
        reads all its bits (at 20,000 apps, dp spent 108 s of 148 s hashing its runs, and their
        masks held gigabytes as keys)."""
        i, j = at or self._run_of(mask)
        if j == i + 1:
            return self._alone[kinds][i] if kinds in self._alone else MISSING
        if j:
            return self._runs.get((i, j, kinds), MISSING)
        return self._cache.get(mask if kinds is None else (mask, kinds), MISSING)

    def _keep(self, mask: int, cfg: GroupConfig | None, kinds: tuple[str, ...] | None = None,
              at: tuple[int, int] | None = None) -> None:
        """Cache the group's optimum (``kinds`` and ``at`` as :meth:`_cached` takes them), where
        :meth:`_cached` finds it."""
        i, j = at or self._run_of(mask)
        if j == i + 1:
            if kinds not in self._alone:
                self._alone[kinds] = [MISSING] * self.n
            self._alone[kinds][i] = cfg
        elif j:
            self._runs[i, j, kinds] = cfg
        else:
            self._cache[mask if kinds is None else (mask, kinds)] = cfg

    def _run_of(self, mask: int) -> tuple[int, int]:
        """``(i, j)`` where ``mask`` is the run ``apps[i:j]`` of this problem's apps, else ``(0, 0)``."""
        if mask <= 0:
            return 0, 0
        low = mask & -mask
        j = mask.bit_length()
        if (mask + low) & mask or j > self.n:
            return 0, 0
        return low.bit_length() - 1, j

    def config_for(self, mask: int, fn: Any) -> GroupConfig | None:
        """The group on function ``fn`` (anything with ``kind``, ``vcpu``, ``gpu_mem_gb``, ``batch``,
        e.g. a running plan's group), priced under the cost model; None where it is infeasible."""
        mask = self.check_mask(mask)
        attributes(fn, FUNCTION_FIELDS, "config_for: the function")
        g = self.grid
        hit = np.flatnonzero((g.kind == KINDS.index(fn.kind)) & (g.batch == fn.batch) & np.isclose(g.vcpu, fn.vcpu)
                             & (g.gpu_mem == (fn.gpu_mem_gb or 0)))
        if hit.size != 1 or fn.kind not in self.kinds_of(mask):
            return None
        i = int(hit[0])
        apps = [self.apps[k] for k in members(mask)]
        if not self.expected:
            return g.config(i) if feasible_mask(g, apps, (fn.kind,))[i] else None
        if not g.memory_ok[i] or self.tables.latency_max_upto[i] > apps[0].slo:
            return None
        cost, scale = evaluate(self.tables, hit, np.array([a.slo for a in apps]), np.array([a.rate for a in apps]),
                               self.timeout_levels)
        return self._expected_config(i, float(scale[0]), float(cost[0]))

    def all_configs(self, mask: int) -> list[GroupConfig]:
        """Every feasible configuration of the group (under ``expected``, each at its best
        timeout level), cheapest first."""
        kinds = self.kinds_of(mask)
        if not kinds:
            return []
        apps = [self.apps[i] for i in members(mask)]
        grid = self.grid
        if not self.expected:
            idx = np.flatnonzero(feasible_mask(grid, apps, kinds))
            return [grid.config(i) for i in sorted(idx.tolist(), key=lambda i: (grid.cost[i], i))]
        idx = np.flatnonzero(grid.memory_ok & kind_mask(grid, kinds))
        idx = idx[self.tables.latency_max_upto[idx] <= apps[0].slo]
        cost, scale = evaluate(self.tables, idx, np.array([a.slo for a in apps]), np.array([a.rate for a in apps]),
                               self.timeout_levels) if idx.size else (np.empty(0), np.empty(0))
        out = [self._expected_config(int(i), float(t), float(c)) for i, t, c in zip(idx, scale, cost)]
        return sorted(out, key=lambda c: (c.cost, c.index))

    def timed_batches(self, items: Iterator[T], masks: Callable[[list[T]], list[int]],
                      deadline: float | None = None, first: int | None = None,
                      fetch: Callable[[list[int]], None] | None = None,
                      most: int = _RUN_BATCH[1]) -> Iterator[list[T]]:
        """``items`` in batches of at most ``most``, each batch's groups (``masks(batch)``)
        prefetched (by ``fetch``, default :meth:`prefetch`) before it is yielded; the ``first``
        batch of so many items (default: one under a ``deadline``, else ``_RUN_BATCH[0]``). A
        batch and the caller's work on it take about ``_RUN_SECONDS`` (the batch doubles while
        one takes under half of it and halves when one takes more, within ``_RUN_BATCH``, and
        under a ``deadline`` down to one item). Near ``deadline`` a batch holds no more members
        than half the time left allows at the slowest pace (seconds a member) of the batches so
        far, and the next batch doubles from the one searched: a caller checking the deadline
        between batches overshoots it by about one item's search, or the first batch's. (At the
        last batch's pace an item, 16 runs at a time, a 1 s ``milp`` call among eight in threads on
        two cores ended up to 0.74 s past it: later runs are longer, and a batch's pace varied
        40-fold; at the slowest of the last four paces a member, 2.6 s, once a few batches of
        one run had gone fast.)"""
        size = min(most, first or (_RUN_BATCH[0] if deadline is None else 1))
        fewest = _RUN_BATCH[0] if deadline is None else 1
        pace = 0.0
        while batch := list(itertools.islice(items, size)):
            groups = masks(batch)
            members = list(itertools.accumulate(m.bit_count() for m in groups))
            if deadline is not None and pace > 0:
                fit = bisect.bisect_right(members, (deadline - time.perf_counter()) / 2 / pace)
                if fit < len(batch):  # (the rest goes back in front of the items)
                    fit = max(fit, 1)
                    items = itertools.chain(batch[fit:], items)
                    batch, groups, members = batch[:fit], groups[:fit], members[:fit]
            start = time.perf_counter()
            (fetch or self.prefetch)(groups)
            yield batch
            now = time.perf_counter()
            took = now - start
            pace = max(pace, took / members[-1])
            size = min(2 * len(batch), most) if took < _RUN_SECONDS / 2 else (
                min(max(len(batch) // 2, fewest), most) if took > _RUN_SECONDS else len(batch))

    def plan_cost(self, masks: Iterable[int]) -> float:
        """Average cost per request of a partition given as group masks (Eq. 7)."""
        return ordered_sum(self.weighted_cost(m) for m in self._masks(masks))

    def weighted_cost(self, mask: int) -> float:
        """``(r_X / R) * C_X`` of the group, or inf when infeasible (Eq. 7)."""
        cfg = self.group(mask)
        return math.inf if cfg is None else self.rate(mask) / self.total_rate * cfg.cost

    def require_feasible(self, deadline: float | None = None) -> None:
        """Raise InfeasibleError naming every app no allowed function can serve alone, or the side
        constraints no plan can keep as the apps alone show (:meth:`.SideConstraints.impossible`).
        SolverError if ``deadline`` (a ``time.perf_counter()`` reading) passes with apps still to
        price alone: no plan is known before they are (under expected with rates up to 316
        requests/s, 0.05-0.21 s for 1,000 apps)."""
        if self._feasible:
            return
        deadline = checked_deadline(deadline)
        bad, priced = [], 0
        for batch in self.timed_batches(iter(range(self.n)), lambda batch: [1 << i for i in batch], deadline,
                                        _RUN_BATCH[0]):
            for i in batch:
                self.group(1 << i)
                if self.side.counting:  # kept for impossible() below, which reads them under full-batch
                    self.full_batch_view().per_class(1 << i)
            priced += len(batch)
            if priced < self.n and deadline is not None and time.perf_counter() > deadline:
                raise SolverError(f"time limit reached while pricing the apps alone ({priced} of {self.n} priced); "
                                  "no plan is known before they are: raise the time limit", time_limit=True)
        for i, a in enumerate(self.apps):
            if self.group(1 << i) is None:
                bad.append(InfeasibleApp(a.name, a.slo, self.grid.best_latency(self.app_kinds[i] or KINDS)))
        if bad:
            raise InfeasibleError("no plan: " + _listing(bad, MORE_APPS), apps=bad)
        impossible = self.side.impossible(self)
        if impossible:
            raise InfeasibleError("no plan keeps the side constraints: " + "; ".join(impossible),
                                  constraints=[line.split(": ", 1)[0] for line in impossible])
        self._feasible = True

    def lower_bound(self) -> float:
        """The per-app lower bound on every feasible plan (:func:`.bounds.per_app_bound`)."""
        return per_app_bound(self)

    def isolated_pairs(self) -> list[int]:
        """The side constraints' isolated pairs as bitmasks, made once (a group is checked
        against them for every candidate: 95,000 runs at 1,000 apps)."""
        if self._isolated is None:
            self._isolated = [self.mask_of(pair) for pair in self.side.isolate]
        return self._isolated

    def mask_of(self, names: Iterable[str]) -> int:
        """The bitmask of the apps named (an InputError for a name not in the workload)."""
        names = listed(names, "", "a list of app names")
        if self._index is None:  # built once: per call it was O(n), 26 s of a 0.5 s limit at 1,000 apps
            self._index = {a.name: i for i, a in enumerate(self.apps)}
        index = self._index
        mask = 0
        for n in names:
            if not isinstance(n, str) or n not in index:
                raise InputError(f"unknown app {n!r}")
            mask |= 1 << index[n]
        return mask

    def plan(self, masks: Sequence[int], configs: Sequence[GroupConfig], info: SolverInfo) -> Plan:
        """Build the plan of a partition given as group masks with a configuration each."""
        masks = self._masks(masks)
        configs = [instance(c, GroupConfig, "configs") for c in listed(configs, "configs", "a sequence of GroupConfig")]
        if len(configs) != len(masks):
            raise InputError(f"plan: {len(masks)} groups but {len(configs)} configurations")
        instance(info, SolverInfo, "info")
        groups = [([self.apps[i] for i in members(m)], cfg) for m, cfg in zip(masks, configs)]
        return Plan.from_groups(groups, self.workload, self.profile, self.platform, info, self.cost_model)
