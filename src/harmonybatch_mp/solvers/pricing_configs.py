"""The configurations column generation prices, and which apps and groups each can serve
(``formulations/column_generation.md``, "Configurations pricing needs"), as arrays over
them, the vectorised part of :mod:`.pricing`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..batching import fold_timeout, max_batch
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
    keep = []
    for k in np.unique(key):
        idx = ok[key == k]
        idx = idx[np.lexsort((idx, g.batch[idx], g.latency_max[idx], g.cost[idx]))]
        lat, b = g.latency_max[idx], g.batch[idx]
        dominated = np.zeros(idx.size, bool)
        for start in range(0, idx.size, 512):  # earlier in cost order and no worse on latency and batch
            stop = min(idx.size, start + 512)
            before = np.arange(idx.size)[None, :] < np.arange(start, stop)[:, None]
            dominated[start:stop] = (before & (lat[None, :] <= lat[start:stop, None])
                                     & (b[None, :] <= b[start:stop, None])).any(axis=1)
        keep.append(idx[~dominated])
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
    dominates = ((pk[None, :] == key[:, None]) & (configs.cost[None, :] <= g.cost[:, None])
                 & (configs.latency[None, :] <= g.latency_max[:, None]) & (configs.batch[None, :] <= g.batch[:, None]))
    ok = g.memory_ok & ((g.batch > 1) | problem.side.counting) & dominates.any(axis=1)
    first = np.argmin(np.where(dominates, configs.cost[None, :], np.inf), axis=1)  # the cheapest that dominates
    return np.where(ok, first, -1)


def serves(problem: Problem, configs: PricingConfigs) -> np.ndarray:
    """``serves[k, a]``: configuration ``k`` meets app ``a``'s SLO and kind (Eq. 10)."""
    slo = np.array([a.slo for a in problem.apps])
    return (configs.latency[:, None] <= slo[None, :]) & kinds_allowed(problem)[:, configs.is_gpu.astype(int)].T


def kinds_allowed(problem: Problem) -> np.ndarray:
    """``(n, 2)``: whether each app allows CPU and GPU functions."""
    return np.array([[("cpu" in k), ("gpu" in k)] for k in problem.app_kinds]).reshape(problem.n, 2)


def fills(problem: Problem, configs: PricingConfigs, chosen: np.ndarray) -> np.ndarray:
    """Whether each configuration's chosen group (a boolean row over the apps, canonical
    order) meets Eq. 9, with the same fold as provisioning; vectorised over configurations."""
    T = np.zeros(len(configs))
    rho = np.zeros(len(configs))
    for i, a in enumerate(problem.apps):
        on = chosen[:, i]
        t = a.slo - configs.latency
        first = on & (rho == 0)
        rest = on & (rho > 0)
        T[first], rho[first] = t[first], a.rate
        if rest.any():
            T[rest], rho[rest] = fold_timeout(T[rest], rho[rest], t[rest], a.rate)
    return (configs.batch == 1) | ((rho > 0) & (configs.batch <= max_batch(rho, T)))
