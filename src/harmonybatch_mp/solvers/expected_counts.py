"""The count rows of the expected-batch bound's relaxed master: the cap on GPU functions and
the GPU memory budget (``formulations/column_generation.md``, "Count rows under expected").

A plan holds at most ``G`` groups on GPU functions, and at most ``B`` GB of GPU memory on them.
Bins are of one kind (:mod:`.expected_bins`), and under a budget that can bind each GPU bin
holds one GPU memory size (:func:`.expected_relaxed.budgeted`), so a relaxed column found on a
bin counts as its real groups do: one GPU function and its GB where the bin's configurations
are GPUs, nothing where they are CPUs. A column weighed over several bins (an app alone, an
initial run, an earlier master's group) is the column of the bin it weighs least on. With the
rows' duals ``mu <= 0`` (for ``<=`` rows of a minimisation), a column's reduced cost is ``w -
y(X) - sum_r mu_r u_r``: each bin's columns carry the offset ``-sum_r mu_r u_r(bin) >= 0`` in
pricing, and the Lagrangian bound gains ``sum_r mu_r cap_r``. So the bound holds at any duals,
and the rows raise it where the caps bind (the master's LP holds them where they raise it by
more than ``expected_bound.COUNTED_RISE``: where they bind little, they slow generation more).
The cap on functions is not a row: it enters the bound as the most columns a plan holds
(``Problem.most_groups``), and as a row it made the bound worse within a limit where generation
does not converge (100 random GPT-2 apps with ``F = 2``, 60 s: 12.1% against 7.8%).
"""

from __future__ import annotations

import numpy as np

from ..grid import GPU
from .problem import Problem


class Counts:
    """The count rows a problem's side constraints put in the relaxed master over the bins of
    one relaxation (``kind``: each bin's, 0 for CPU and 1 for GPU; ``memory``: each bin's GPU
    memory in GB, where each bin holds one size, else None): ``usage[r, v]``, what a column of
    bin ``v`` adds to row ``r``, and ``caps[r]``. A row for a cap on GPU functions below the
    apps, and one for a GPU memory budget where ``memory`` is given."""

    def __init__(self, problem: Problem, kind: np.ndarray, memory: np.ndarray | None = None):
        side, n = problem.side, problem.n
        usage, caps = [], []
        if side.max_gpu_functions is not None and side.max_gpu_functions < n:
            usage.append((kind == GPU).astype(float))
            caps.append(float(side.max_gpu_functions))
        if memory is not None and side.gpu_memory_budget is not None:  # (bins of one GPU size each)
            usage.append(np.where(kind == GPU, memory, 0).astype(float))
            caps.append(float(side.gpu_memory_budget))
        self.usage = np.array(usage).reshape(len(caps), kind.size)
        self.caps = np.array(caps)
        self.kind = kind
        # the sets of bins an initial column is weighed over: both kinds apart where a row tells them apart
        apart = any((u != u[0]).any() for u in self.usage) if kind.size else False
        self.classes: list[np.ndarray | None] = [kind != GPU, kind == GPU] if apart else [None]

    @property
    def rows(self) -> int:
        """How many count rows there are."""
        return self.caps.size

    def duals(self, point: np.ndarray, n: int) -> np.ndarray:
        """The rows' duals at ``point`` (the master's duals: ``n`` cover rows, then these),
        at most 0 (an interior point may leave them a little above)."""
        return np.minimum(point[n:n + self.rows], 0.0) if point.size > n else np.zeros(self.rows)

    def offsets(self, point: np.ndarray, n: int) -> np.ndarray:
        """Per bin, what its columns add to their reduced cost at ``point``: ``-sum_r mu_r
        usage[r]`` (at least 0)."""
        return -(self.duals(point, n) @ self.usage) if self.rows else np.zeros(self.kind.size)

    def constant(self, point: np.ndarray, n: int) -> float:
        """The Lagrangian bound's constant at ``point``: ``sum_a y_a + sum_r mu_r cap_r``."""
        return float(point[:n].sum() + self.duals(point, n) @ self.caps)
