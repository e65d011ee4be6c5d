"""The configurations column generation prices, and which apps and groups each can serve
(``formulations/column_generation.md``, "Configurations pricing needs"), as arrays over
them, the vectorised part of :mod:`.pricing`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..batching import _fold, _max_batch
from ..grid import GPU
from .problem import Problem


@dataclass(frozen=True, eq=False)
class PricingConfigs:
    """The configurations pricing has to consider, as arrays over them: per function kind
    (and GPU memory when a budget row counts it), those no other configuration beats on
    cost, maximum latency and batch at once. A group feasible on a dominated configuration
    is feasible, and cheaper, on the one that dominates it. Without rows that count
    functions, batch-1 configurations are left out too: a group on one costs exactly what
    its members cost alone on it, and the master holds every app alone at its optimum."""

    index: np.ndarray
    cost: np.ndarray
    latency: np.ndarray
    batch: np.ndarray
    is_gpu: np.ndarray
    gpu_mem: np.ndarray

    def __len__(self) -> int:
        return self.index.size


def pricing_configs(problem: Problem) -> PricingConfigs:
    """The non-dominated configurations of ``problem`` (see :class:`PricingConfigs`)."""
    g = problem.grid
    ok = np.flatnonzero(g.memory_ok & ((g.batch > 1) | problem.side.counting))
    by_mem = problem.side.gpu_memory_budget is not None
    key = g.kind[ok] * 10_000 + (g.gpu_mem[ok] if by_mem else 0)
    batches = np.unique(g.batch)
    keep = []
    for k in np.unique(key):
        idx = ok[key == k]
        idx = idx[np.lexsort((idx, g.batch[idx], g.latency_max[idx], g.cost[idx]))]
        # fastest[b, j]: the least latency among the first j configurations in cost order with
        # batch <= b; one is dominated when an earlier one is no slower and has no larger batch
        level = np.searchsorted(batches, g.batch[idx])
        fastest = np.full((batches.size, idx.size + 1), np.inf)
        fastest[level, np.arange(1, idx.size + 1)] = g.latency_max[idx]
        fastest = np.minimum.accumulate(np.minimum.accumulate(fastest, axis=0), axis=1)
        keep.append(idx[fastest[level, np.arange(idx.size)] > g.latency_max[idx]])
    index = np.sort(np.concatenate(keep))
    return PricingConfigs(index, g.cost[index], g.latency_max[index], g.batch[index], g.kind[index] == GPU,
                          np.where(g.kind[index] == GPU, g.gpu_mem[index], 0))


def priced_as(problem: Problem, configs: PricingConfigs) -> np.ndarray:
    """Per grid configuration, the position in ``configs`` of the cheapest one of its kind
    (and GPU memory where that is kept apart) that dominates it, or is it (-1 for the
    configurations pricing leaves out). A group on a configuration is feasible, and no
    dearer, on the one it is priced as, so pricing that one bounds both; the nodes of branch
    and price count columns by it (``formulations/column_generation.md``, "Branch and price")."""
    g = problem.grid
    key = g.kind * 10_000 + (g.gpu_mem if problem.side.gpu_memory_budget is not None else 0)
    pk = key[configs.index]
    none = len(configs)  # a rank past every configuration's
    by_cost = np.argsort(configs.cost, kind="stable")  # cheapest first, ties to the lowest position
    rank = np.empty(none, dtype=np.intp)
    rank[by_cost] = np.arange(none)
    position = np.append(by_cost, -1)  # the configuration of each rank (-1: none)
    batches = np.unique(g.batch)
    out = np.full(key.size, -1)
    wanted = g.memory_ok & ((g.batch > 1) | problem.side.counting)
    for k in np.unique(pk):
        cand = np.flatnonzero(pk == k)
        cand = cand[np.argsort(configs.latency[cand], kind="stable")]
        # least[b, j]: the least rank among the first j + 1 candidates by latency with batch <= b
        least = np.full((batches.size, cand.size), none)
        least[np.searchsorted(batches, configs.batch[cand]), np.arange(cand.size)] = rank[cand]
        least = np.minimum.accumulate(np.minimum.accumulate(least, axis=0), axis=1)
        rows = np.flatnonzero(wanted & (key == k))
        at = np.searchsorted(configs.latency[cand], g.latency_max[rows], side="right") - 1
        best = position[np.where(at >= 0, least[np.searchsorted(batches, g.batch[rows]), at], none)]
        found = (best >= 0) & (configs.cost[best] <= g.cost[rows])
        out[rows[found]] = best[found]
    return out


def serves(problem: Problem, configs: PricingConfigs) -> np.ndarray:
    """``serves[k, a]``: configuration ``k`` meets app ``a``'s SLO and kind (Eq. 10)."""
    slo = np.array([a.slo for a in problem.apps])
    return (configs.latency[:, None] <= slo[None, :]) & kinds_allowed(problem)[:, configs.is_gpu.astype(int)].T


def kinds_allowed(problem: Problem) -> np.ndarray:
    """``(n, 2)``: whether each app allows CPU and GPU functions."""
    return np.array([[("cpu" in k), ("gpu" in k)] for k in problem.app_kinds]).reshape(problem.n, 2)


def fills(problem: Problem, configs: PricingConfigs, chosen: np.ndarray) -> np.ndarray:
    """Whether each configuration's chosen group (a boolean row over the apps, canonical
    order) meets Eq. 9, folding each configuration's own timeouts (provisioning folds the
    SLOs once and subtracts ``L_max``: the same in exact arithmetic, ``formulations/model.md``
    section 6); vectorised over configurations."""
    T = np.zeros(len(configs))
    rho = np.zeros(len(configs))
    for i, a in enumerate(problem.apps):
        on = chosen[:, i]
        t = a.slo - configs.latency
        first = on & (rho == 0)
        rest = on & (rho > 0)
        T[first], rho[first] = t[first], a.rate
        if rest.any():
            T[rest], rho[rest] = _fold(T[rest], rho[rest], t[rest], a.rate)
    return (configs.batch == 1) | ((rho > 0) & (configs.batch <= _max_batch(rho, T)))
