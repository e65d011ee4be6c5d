"""The model's equations as functions (``batching``, ``latency``, ``shapes``, ``pricing``,
``duration``, ``expected_cost``, ``expected_search``, ``provision``) called with a wrong argument: each
names it in an InputError. Before, each raised numpy's or Python's own error from inside
(TypeError, AttributeError, IndexError, numpy's "truth value of an array is ambiguous"),
or, for a batch of 2.5, quietly took batch 2."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from harmonybatch_mp import (
    App,
    InputError,
    batching,
    builtin_profile,
    config_grid,
    duration,
    expected_cost,
    expected_search,
    latency,
    preset,
    pricing,
    provision,
    shapes,
)

VGG, REF = builtin_profile("VGG19"), preset()
GRID = config_grid(VGG, REF)
TABLES = expected_cost.expected_tables(GRID)
APP = App("a", 0.5, 5)

#: One valid call of each function: (function, positional arguments, keyword arguments).
CALLS = [
    (batching.slo_timeouts, ([0.5, 0.8], 0.1), {}),
    (batching.fold_timeout, (0.2, 1.0, 0.3, 2.0), {}),
    (batching.equivalent_timeout, ([0.1, 0.2], [1.0, 2.0]), {}),
    (batching.max_batch, (3.0, 0.5), {}),
    (latency.cpu_latency, (VGG, 1.5, 1), {"stat": "max"}),
    (latency.gpu_base_latency, (VGG, 4), {}),
    (latency.gpu_latency_avg, (VGG, REF, 4, 2), {}),
    (latency.gpu_overhead, (VGG, REF, 4), {}),
    (latency.gpu_latency_max, (VGG, REF, 4, 2), {}),
    (shapes.round_memory_mb, (844.19, 64), {}),
    (shapes.vcpu_grid, (REF,), {}),
    (shapes.cpu_batch_limit, (VGG, REF), {}),
    (shapes.cpu_memory_need_mb, (VGG, REF, 2), {}),
    (shapes.cpu_memory_feasible, (VGG, REF, 1.5, 2), {}),
    (shapes.cpu_billed_memory_gb, (VGG, REF, 1.5, 2), {}),
    (shapes.gpu_vcpu, (REF, 4), {}),
    (shapes.gpu_host_memory_gb, (VGG, REF), {}),
    (shapes.gpu_memory_need_gb, (VGG, [1, 4]), {}),
    (shapes.gpu_memory_feasible, (VGG, REF, 4, 2), {}),
    (pricing.billed_duration, (0.27, 1.0), {}),
    (pricing.cost_per_request, (REF,), {"vcpu": 1.55, "mem_gb": 1.5, "gpu_gb": 0, "duration": 0.3, "batch": 1}),
    (pricing.function_cost, (REF, "gpu"),
     {"vcpu": 0.5, "mem_gb": 0.5, "gpu_gb": 2, "latency_avg": 0.3, "batch": 14, "billed": False}),
    (duration.billed_durations, (duration.DEFAULT_DURATION, np.array([0.3]), np.array([0.5]), 1.0), {}),
    (expected_cost.tail_probabilities, (np.array([2.0, 3.0]), np.array([[0.4, 0.4]]), 4), {}),
    (expected_cost.cost_per_request, (np.ones((1, 4)), np.ones((1, 4)), np.array([4])), {}),
    (expected_cost.expected_size_bound, (np.array([2.0, 3.0]), np.array([[0.4, 0.4]])), {}),
    (expected_cost.capped_size_bound, (np.array([32.0]), np.array([32])), {}),
    (expected_cost.expected_tables, (GRID,), {}),
    (expected_search.evaluate, (TABLES, np.arange(5), np.array([0.5, 0.8]), np.array([2.0, 3.0]), 4), {}),
    (expected_search.pad_members, ([([0.5], [1.0]), ([0.4, 0.6], [1.0, 2.0])],), {}),
    (expected_search.search, (TABLES, np.arange(100), [0.5, 0.8], [2.0, 3.0]), {"levels": 4}),
    (expected_search.search_many, (TABLES, [(np.arange(100), [0.5], [1.0])]), {"levels": 4}),
    (expected_search.lower_bound, (TABLES, np.arange(5), np.full(5, 3.0)), {}),
    (expected_search.level_bounds, (TABLES, np.arange(5), np.array([1.0, 3.0])), {}),
    (provision.feasible_mask, (GRID, [APP]), {"kinds": ("cpu",)}),
    (provision.best_config, (GRID, [APP]), {"kinds": ("cpu", "gpu")}),
    (provision.kind_mask, (GRID, ["cpu"]), {}),
    (lambda grid, apps, start: next(provision.run_optima(grid, apps, start)), (GRID, [APP], 0), {}),
]

#: Wrong for every argument above: not a number, not an array of numbers, not a profile,
#: platform, grid, table, list of apps, kind, flag or count.
JUNK = [None, "x", "2", [1, "a"], [[1], [1, 2]], object(), {"a": 1}, b"x", complex(1, 1)]


def _cases():
    for fn, args, kwargs in CALLS:
        names = list(inspect.signature(fn).parameters)
        for i in range(len(args)):
            for junk in JUNK:
                yield pytest.param(fn, args[:i] + (junk,) + args[i + 1:], kwargs,
                                   id=f"{getattr(fn, '__name__', 'run_optima')}-{names[i]}-{junk!r:.12}")
        for key in kwargs:
            for junk in JUNK:
                yield pytest.param(fn, args, {**kwargs, key: junk},
                                   id=f"{getattr(fn, '__name__', 'run_optima')}-{key}-{junk!r:.12}")


@pytest.mark.parametrize("fn, args, kwargs", [pytest.param(*c, id=getattr(c[0], "__name__", "run_optima"))
                                               for c in CALLS])
def test_each_call_of_the_table_is_valid(fn, args, kwargs):
    """The calls the wrong arguments are put into run as they are (so an InputError below is
    the argument's, not the call's)."""
    fn(*args, **kwargs)


@pytest.mark.parametrize("fn, args, kwargs", list(_cases()))
def test_an_equation_names_a_wrong_argument(fn, args, kwargs):
    with pytest.raises(InputError):
        fn(*args, **kwargs)


@pytest.mark.parametrize("call, needle", [
    (lambda: latency.cpu_latency(VGG, 1.5, 2.5), "cpu_latency: batch: expected whole numbers, got 2.5"),
    (lambda: latency.cpu_latency("VGG19", 1.5, 1), "cpu_latency: profile: expected a ModelProfile, got str"),
    (lambda: shapes.gpu_vcpu("reference", 4), "gpu_vcpu: platform: expected a Platform, got str"),
    (lambda: batching.equivalent_timeout([0.1, 0.2], [1.0]), "equivalent_timeout: expected timeouts of shape (n, ...)"),
    (lambda: pricing.billed_duration(0.3, float("nan")), "billed_duration: unit: expected one number of seconds"),
    (lambda: expected_cost.tail_probabilities([1.0], [[0.1]], 0), "tail_probabilities: bmax: expected a whole number"),
    # arrays of shapes that do not broadcast (numpy's "operands could not be broadcast together")
    (lambda: batching.slo_timeouts([], [0.1, 0.2]), "slo_timeouts: slos (0,) and latency_max (2,) do not broadcast"),
    (lambda: batching.fold_timeout([0.1, 0.2], 1.0, [0.1, 0.2, 0.3], 1.0), "fold_timeout: T (2,) and rho () and t (3,)"),
    (lambda: batching.max_batch([1.0, 2.0], [0.1, 0.2, 0.3]), "max_batch: total_rate (2,) and T (3,) do not"),
    (lambda: latency.cpu_latency(VGG, [1.0, 2.0], [1, 2, 3]), "cpu_latency: vcpu (2,) and batch (3,) do not"),
    (lambda: latency.gpu_latency_max(VGG, REF, [4, 8], [1, 2, 3]), "gpu_latency_max: gpu_mem_gb (2,) and batch (3,)"),
    (lambda: shapes.cpu_memory_feasible(VGG, REF, [1.0, 2.0], [1, 2, 3]), "cpu_memory_feasible: vcpu (2,) and batch"),
    (lambda: shapes.gpu_memory_feasible(VGG, REF, [4, 8], [1, 2, 3]), "gpu_memory_feasible: gpu_mem_gb (2,) and"),
    (lambda: pricing.cost_per_request(REF, vcpu=[1.0, 2.0], mem_gb=[1.0, 2.0, 3.0], gpu_gb=0, duration=0.3, batch=1),
     "cost_per_request: vcpu (2,) and mem_gb (3,) and gpu_gb () and duration () and batch () do not broadcast"),
    (lambda: expected_cost.capped_size_bound(np.ones(2), np.ones(3)), "capped_size_bound: size (2,) and batch (3,)"),
    # sizes that would have allocated gigabytes (or hung) before they were refused
    (lambda: expected_cost.tail_probabilities([1.0], [[0.1]], 10**9), "bmax: expected a whole number from 1 to 1024"),
    (lambda: expected_search.evaluate(TABLES, np.arange(3), [0.5, 0.6], [1.0, 2.0], 10**9),
     "evaluate: levels: expected a whole number from 1 to 64"),
    (lambda: expected_search.evaluate(TABLES, np.array([len(GRID)]), [0.5], [1.0], 4),
     f"evaluate: idx: expected a 1-D array of grid indices from 0 to {len(GRID) - 1}"),
    (lambda: expected_search.lower_bound(TABLES, np.arange(3), np.ones(2)), "lower_bound: size: expected one per"),
])
def test_the_message_names_the_function_and_the_argument(call, needle):
    with pytest.raises(InputError) as info:
        call()
    assert needle in str(info.value)
