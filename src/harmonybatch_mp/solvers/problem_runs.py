"""A problem's runs, mixed into :class:`.problem.Problem`: the optima of the groups of apps
consecutive in SLO order (``formulations/contiguous_shortest_path.md``), folded one app at a
time under ``full-batch`` (compiled from :data:`RUN_KERNEL_APPS` apps, "The runs compiled") and
searched in timed batches under ``expected``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from .._validate import integer, listed
from ..errors import InputError
from ..provision import KINDS, GroupConfig, run_optima
from .groups import MISSING, checked_kinds, run_mask
from .kernels import RUNS, ready

if TYPE_CHECKING:  # (the kernel's module imports numba: on first use only)
    from .run_kernel import RunArrays

#: Fewest apps whose runs are searched by the compiled kernel (:mod:`.run_kernel`), where it
#: is ready. Fewer are searched by numpy (99 apps: 0.10-0.17 s in all), and their first search
#: of a process does not import numba, which in a background thread held a first 0.1 s
#: ``solve()`` of 6 apps (its imports wait for numba's) until its limit: ``time_limit`` at
#: 54% above the bound, where it had been ``optimal``.
RUN_KERNEL_APPS = 100


class ContiguousRuns:
    """:class:`.problem.Problem`'s runs (its caches are the problem's own)."""

    def fill_runs(self, max_run: int | None = None, deadline: float | None = None,
                  shortest: int = 1) -> Iterator[tuple[int, int, int, GroupConfig | None]]:
        """Optima of every SLO-contiguous run ``apps[i:j]`` of ``shortest`` to ``max_run`` apps,
        computed incrementally (one fold step per extension) and cached; yields ``(i, j, mask,
        config)``, start by start. Under expected, runs are searched in batches that end about
        when ``deadline`` passes (:meth:`timed_batches`), the first of one run where there is
        one; the caller checks it. (16 runs of 9 VGG19 apps under preset ``paper`` took 0.17 s
        on a machine at half its speed: a fallback plan given 0.03 s ended 0.14 s past it.)"""
        shortest = integer(shortest, "fill_runs: shortest", minimum=1)
        max_run = None if max_run is None else integer(max_run, "max_run", minimum=1)
        if self.expected:  # no incremental fold: runs are searched together, a batch of searches at a time
            def runs() -> Iterator[tuple[int, int, int]]:
                for i in range(self.n):
                    mask = run_mask(i, i + shortest - 1)
                    for j in range(i + shortest, self.n + 1 if max_run is None else min(self.n, i + max_run) + 1):
                        mask |= 1 << (j - 1)
                        yield i, j, mask
            for batch in self.timed_batches(runs(), lambda batch: [mask for _, _, mask in batch], deadline):
                for i, j, mask in batch:
                    yield i, j, mask, self.group(mask)
            return
        for i in range(self.n - shortest + 1 if max_run is None or shortest <= max_run else 0):
            for j, mask, cfg in self._runs_from(i, max_run, shortest):
                yield i, j, mask, cfg

    def runs_from(self, i: int, max_run: int | None = None,
                  shortest: int = 1) -> Iterator[tuple[int, int, GroupConfig | None]]:
        """Under full-batch, the optima of the runs ``apps[i:j]`` for ``j = i + shortest, ...``
        (at most ``max_run`` apps), one fold step per extension, cached: ``(j, mask, config)``."""
        if self.expected:
            raise InputError("runs_from folds the full-batch model; under expected use fill_runs")
        i = integer(i, "runs_from: the first app's position", minimum=0, maximum=self.n - 1)
        return self._runs_from(i, None if max_run is None else integer(max_run, "max_run", minimum=1),
                               integer(shortest, "runs_from: shortest", minimum=1))

    def run_indices(self, i: int, stop: int | None = None, kinds: tuple[str, ...] | None = None,
                    gpu_mem: int | None = None) -> np.ndarray:
        """Under full-batch, the grid index of the optimum of each run ``apps[i:j]``, ``j = i + 1,
        ..., stop`` (default: every app after ``i``; on the function ``kinds`` given, as
        :meth:`group` takes them, and on a GPU function only of ``gpu_mem`` GB of GPU memory
        where it is given), -1 where none serves it, as an array and not cached
        (:func:`.function_cap.capped_path` reads every run of thousands of apps).

        >>> from harmonybatch_mp.solvers import Problem, as_instance
        >>> p = Problem(*as_instance("0.3:2,0.5:5,0.8:10", "VGG19"), cost_model="full-batch")
        >>> [int(k) for k in p.run_indices(0)] == [p.group(m).index for m in (1, 3, 7)]
        True
        >>> [int(p.grid.gpu_mem[k]) for k in p.run_indices(0, kinds=("gpu",), gpu_mem=3)]
        [3, 3, 3]
        """
        if self.expected:
            raise InputError("run_indices: runs fold under the full-batch model; under expected use fill_runs")
        i = integer(i, "run_indices: the first app's position", minimum=0, maximum=self.n - 1)
        stop = self.n if stop is None else integer(stop, "run_indices: stop", minimum=i + 1, maximum=self.n)
        kinds = checked_kinds(kinds)
        gpu_mem = None if gpu_mem is None else integer(gpu_mem, "run_indices: gpu_mem", minimum=1)
        if self._runs_compiled():
            from .run_kernel import run_indices

            return run_indices(self.run_arrays(kinds, gpu_mem), i, stop)
        return np.array([-1 if k is None else k for _, k in run_optima(
            self.grid, self.apps, i, stop - i, kinds or KINDS, app_kinds=self.app_kinds, gpu_mem=gpu_mem)],
            dtype=np.int64)

    def run_indices_by_class(self, i: int, stop: int | None = None, sizes: tuple[int, ...] = ()) -> np.ndarray:
        """Under full-batch, per class of function, :meth:`run_indices` on it: row 0 on CPU
        functions, row ``r`` on a GPU function of ``sizes[r - 1]`` GB; compiled, one kernel call
        for every class (:func:`.run_kernel.class_indices`), or a class at a time.

        >>> from harmonybatch_mp.solvers import Problem, as_instance
        >>> p = Problem(*as_instance("0.3:2,0.5:5,0.8:10", "VGG19"), cost_model="full-batch")
        >>> rows = p.run_indices_by_class(0, sizes=(2, 3))
        >>> rows.tolist() == [p.run_indices(0, None, k, s).tolist() for k, s in ((("cpu",), None),
        ...                                                                    (("gpu",), 2), (("gpu",), 3))]
        True
        """
        if self.expected:
            raise InputError("run_indices_by_class: runs fold under the full-batch model; under expected use "
                             "fill_runs")
        i = integer(i, "run_indices_by_class: the first app's position", minimum=0, maximum=self.n - 1)
        stop = self.n if stop is None else integer(stop, "run_indices_by_class: stop", minimum=i + 1, maximum=self.n)
        sizes = tuple(integer(s, "run_indices_by_class: sizes", minimum=1) for s in listed(
            sizes, "run_indices_by_class: sizes", "a sequence of GPU memory sizes in GB"))
        if len(set(sizes)) < len(sizes):
            raise InputError(f"run_indices_by_class: sizes: expected distinct GPU memory sizes, got {sizes!r:.60}")
        if not self._runs_compiled():
            return np.array([self.run_indices(i, stop, ("cpu",))] + [self.run_indices(i, stop, ("gpu",), s)
                                                                   for s in sizes])
        from .run_kernel import ClassArrays, class_indices

        if sizes not in self._class_arrays:
            self._class_arrays[sizes] = ClassArrays(
                self.grid, np.array([a.slo for a in self.apps]), np.array([a.rate for a in self.apps]),
                self.app_kinds, sizes)
        return class_indices(self._class_arrays[sizes], i, stop)

    def _runs_compiled(self) -> bool:
        """Whether runs are searched by the compiled kernel: from RUN_KERNEL_APPS apps, once it is
        compiled (formulations/contiguous_shortest_path.md, "The runs compiled")."""
        return self.n >= RUN_KERNEL_APPS and ready(RUNS, time.perf_counter())

    def run_arrays(self, kinds: tuple[str, ...] | None = None, gpu_mem: int | None = None) -> RunArrays:
        """What the compiled runs read of this problem (:class:`.run_kernel.RunArrays`), on the
        function ``kinds`` given (each app's pins narrowed to them), and on a GPU function only of
        ``gpu_mem`` GB where it is given, made once."""
        from .run_kernel import RunArrays

        kinds = checked_kinds(kinds)
        gpu_mem = None if gpu_mem is None else integer(gpu_mem, "run_arrays: gpu_mem", minimum=1)
        if (kinds, gpu_mem) not in self._run_arrays:
            self._run_arrays[kinds, gpu_mem] = RunArrays(
                self.grid, np.array([a.slo for a in self.apps]), np.array([a.rate for a in self.apps]),
                tuple(tuple(k for k in allowed if kinds is None or k in kinds) for allowed in self.app_kinds), gpu_mem)
        return self._run_arrays[kinds, gpu_mem]

    def _runs_from(self, i: int, max_run: int | None, shortest: int) -> Iterator[tuple[int, int, GroupConfig | None]]:
        mask = run_mask(i, i + shortest - 1)
        # compiled once the kernel is (formulations/contiguous_shortest_path.md, "The runs compiled"):
        # the same optima, about a tenth of the time; numpy's until then (it compiles in the background)
        if self._runs_compiled():
            from .run_kernel import runs

            optima = runs(self.run_arrays(), i, self.n if max_run is None else min(self.n, i + max_run), shortest)
        else:
            optima = run_optima(self.grid, self.apps, i, max_run, app_kinds=self.app_kinds, min_len=shortest)
        for j, idx in optima:
            mask |= 1 << (j - 1)
            cfg = self._cached(mask, None, (i, j))
            if cfg is MISSING:
                cfg = None if idx is None else self.grid.config(idx)
                self._keep(mask, cfg, None, (i, j))
            yield j, mask, cfg

