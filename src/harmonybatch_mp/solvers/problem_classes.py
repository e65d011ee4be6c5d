"""A problem's groups per class of function, mixed into :class:`.problem.Problem`: a group's
optimum on CPU functions and on each GPU memory size (``formulations/set_partitioning.md``,
"Columns per group"), or on any class asked for (``formulations/contiguous_shortest_path.md``,
"Under expected"); under ``expected`` each group searched once per class.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .._validate import integer, listed
from ..errors import InputError
from ..provision import KINDS, GroupConfig, feasible_mask, run_class
from .groups import MISSING, checked_kinds, members


class FunctionClasses:
    """:class:`.problem.Problem`'s optima per class of function (its caches and searches are the
    problem's own)."""

    def prefetch_classes(self, masks: Iterable[int]) -> None:
        """Compute and cache :meth:`per_class` of many groups at once (under ``expected``: one
        search per group and class not searched yet, all run together; under ``full-batch`` the
        masks are only checked)."""
        masks = self._masks(masks)
        if not self.expected:
            return
        todo = [m for m in dict.fromkeys(masks) if m not in self._classes]
        jobs = [(m, on, size) for m in todo for on, size in self._classes_of(m)]
        found: dict[int, list[GroupConfig]] = {m: [] for m in todo}
        for (m, _, _), cfg in zip(jobs, self._class_searched(jobs)):
            if cfg is not None:
                found[m].append(cfg)
        for m, cfgs in found.items():
            self._classes[m] = sorted(cfgs, key=lambda c: (c.cost, c.index))

    def _classes_of(self, mask: int) -> list[tuple[tuple[str, ...], int | None]]:
        """The classes :meth:`per_class` searches the group on under ``expected``: CPU, and each
        GPU size within the budget, of the kinds its members allow."""
        kinds = self.kinds_of(mask)
        return ([(("cpu",), None)] if "cpu" in kinds else []) + (
            [(("gpu",), s) for s in self._gpu_sizes] if "gpu" in kinds else [])

    def _class_searched(self, jobs: Sequence[tuple[int, tuple[str, ...], int | None]]) -> list[GroupConfig | None]:
        """Under ``expected``, each group's optimum on a class (``(mask, kinds, gpu_mem)``, the kinds
        within those its members allow), searched once and kept: :meth:`per_class` and
        :meth:`class_optima` read the same searches (:func:`.function_cap.capped_path` searches
        runs that the model's columns search again), and a class of every kind its members allow
        and any GPU size is the group's optimum, :meth:`group`'s."""
        keys, todo = [], {}
        for m, on, size in jobs:
            at = self._run_of(m)
            key = (at if at[1] else m, on, size)
            keys.append(key)
            if key in self._class_found or key in todo:
                continue
            if size is None and on == self.kinds_of(m):
                cfg = self._cached(m, None, at)
                if cfg is not MISSING:
                    self._class_found[key] = cfg
                    continue
            todo[key] = m
        searched = [(key, m) for key, m in todo.items() if self._class_candidates(key[1], key[2]).size]
        for key in todo.keys() - {key for key, _ in searched}:
            self._class_found[key] = None
        found = self._search_many([(m, self._class_candidates(key[1], key[2])) for key, m in searched])
        for (key, m), cfg in zip(searched, found):
            self._class_found[key] = cfg
            if key[2] is None and key[1] == self.kinds_of(m):
                self._keep(m, cfg)
        return [self._class_found[key] for key in keys]

    def per_class(self, mask: int) -> list[GroupConfig]:
        """The group's cheapest configuration per function kind and GPU memory size (one per
        CPU, one per GPU size), under the cost model; cheapest first. Under ``expected`` and a
        GPU memory budget, no GPU size above it: there each class is a search, and a group on
        such a size breaks the budget whatever the rest of the plan (100 random VGG19 apps within
        6 GB: the model's columns took 11.4 s with every size, 3.6 s without those above it).
        Under ``full-batch`` every size: the classes are read off the grid at once, and
        :meth:`.SideConstraints.impossible` names the least size an app alone needs."""
        kinds = self.kinds_of(mask)
        if not kinds:
            return []
        grid = self.grid
        if self.expected:
            if mask not in self._classes:
                self.prefetch_classes([mask])
            return list(self._classes[mask])
        if mask in self._classes:  # kept, as under expected: every solver asks for the apps alone again,
            return list(self._classes[mask])  # and a repair cut short by its deadline for its merges
        if self._by_class is None:  # the grid by class (kind, GPU memory), then cost, then index: sorted once
            key = grid.kind * 10_000 + grid.gpu_mem
            order = np.lexsort((np.arange(len(grid)), grid.cost, key))
            self._by_class = order, key[order]
        order, key = self._by_class
        ok = feasible_mask(grid, [self.apps[i] for i in members(mask)], kinds, check_input=False)[order]
        ranked, key = order[ok], key[ok]
        first = np.ones(ranked.size, bool)
        first[1:] = key[1:] != key[:-1]
        out = [grid.config(i) for i in sorted(ranked[first].tolist(), key=lambda i: (grid.cost[i], i))]
        self._classes[mask] = out
        return list(out)

    def class_optima(self, masks: Iterable[int], classes: Sequence[tuple[tuple[str, ...] | None, int | None]],
                     ) -> list[list[GroupConfig | None]]:
        """Per group, its optimum under the cost model on each class ``(kinds, gpu_mem)``: the
        function ``kinds`` given (as :meth:`group` takes them), and on a GPU function only of
        ``gpu_mem`` GB where it is not None (:func:`~harmonybatch_mp.provision.run_class`); None
        where none serves it. Under ``expected`` one search per group and class not searched yet,
        all run together, kept where :meth:`per_class` and :meth:`group` find them
        (:func:`.function_cap.capped_path` reads every run on a few classes).

        >>> from harmonybatch_mp.solvers import Problem, as_instance
        >>> p = Problem(*as_instance("0.3:2,0.5:5,0.8:10", "VGG19"), cost_model="expected")
        >>> [[c.gpu_mem_gb for c in row] for row in p.class_optima([1, 7], [(("gpu",), 3), (("gpu",), 4)])]
        [[3, 4], [3, 4]]
        >>> p.class_optima([7], [(None, None)]) == [[p.group(7)]]
        True
        """
        masks, asked = self._masks(masks), []
        for pair in listed(classes, "class_optima: classes", "a sequence of (kinds, gpu_mem) pairs"):
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise InputError(f"class_optima: classes: expected (kinds, gpu_mem) pairs, got {repr(pair):.40}")
            kinds, size = pair
            asked.append((checked_kinds(kinds), None if size is None else integer(size, "class_optima: gpu_mem", minimum=1)))
        jobs, where = [], []
        for a, mask in enumerate(masks):
            allowed = self.kinds_of(mask)
            for b, (kinds, size) in enumerate(asked):
                on = tuple(k for k in allowed if kinds is None or k in kinds)
                if on:
                    jobs.append((mask, on, size))
                    where.append((a, b))
        found = self._class_searched(jobs) if self.expected else [
            self._cheapest(m, self._class_candidates(on, size)) for m, on, size in jobs]
        out: list[list[GroupConfig | None]] = [[None] * len(asked) for _ in masks]
        for (a, b), cfg in zip(where, found):
            out[a][b] = cfg
        return out

    def _class_candidates(self, kinds: tuple[str, ...], gpu_mem: int | None) -> np.ndarray:
        """The grid indices a class's searches run over (:func:`~harmonybatch_mp.provision.run_class`),
        one array per class, which the searches share."""
        if (kinds, gpu_mem) not in self._class_configs:
            self._class_configs[kinds, gpu_mem] = np.flatnonzero(run_class(self.grid, kinds, gpu_mem))
        return self._class_configs[kinds, gpu_mem]

    def _cheapest(self, mask: int, candidates: np.ndarray) -> GroupConfig | None:
        """Under full-batch, the group's cheapest feasible configuration among ``candidates``."""
        ok = candidates[feasible_mask(self.grid, [self.apps[i] for i in members(mask)], KINDS,
                                      check_input=False)[candidates]]
        return None if not ok.size else self.grid.config(int(ok[np.lexsort((ok, self.grid.cost[ok]))[0]]))

