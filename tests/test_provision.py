"""Group provisioning: exhaustive optimum, the paper's fast path, and SLO safety."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from harmonybatch_mp import App, InputError, Workload, builtin_profile, preset, provision_group, provision_group_fast
from harmonybatch_mp.provision import config_grid, feasible_mask
from harmonybatch_mp.solvers.candidates import dominance
from harmonybatch_mp.solvers.problem import Problem
from strategies import mixed_workloads, models, platforms, workloads

VGG = builtin_profile("VGG19")
REF = preset()

#: Allowed relative excess of the fast path over the exhaustive optimum, by (model, preset).
#: benchmarks/fast_path.py (results in benchmarks/results/fast_path.md, 2,000 groups each)
#: measured no difference on VGG19, BERT and GPT-2; on VideoMAE a worst excess of 69.8% with
#: preset reference (GPU time billed in whole seconds: a smaller batch can be cheaper, which
#: Theorem 2 ignores) and 0.2% with preset paper (xi2 < 0: per-request GPU time grows with
#: the batch). The bounds are those worsts rounded up; anything above is a regression. A random
#: draw then came out at 70.15% with preset reference; 220,000 more groups drawn as above (three
#: seeds) gave 70.90% at worst, 9 of them above 70%: the reference bound is 75% since.
FAST_PATH_BOUND = {("VideoMAE", "reference"): 0.75, ("VideoMAE", "paper"): 0.0025}


@example(builtin_profile("VideoMAE"), preset("reference"),  # 70.15% above: over the bound before
          Workload((App("w0", 1.5, 10.0), App("w2", 2.0, 31.6228), App("w1", 2.0, 42.1697))))
@given(models, platforms, workloads(max_apps=5))
def test_fast_path_matches_exhaustive(profile, platform, workload):
    exhaustive = provision_group(workload.apps, profile, platform)
    fast = provision_group_fast(workload.apps, profile, platform)
    assert (exhaustive is None) == (fast is None)
    event("infeasible group" if exhaustive is None else "feasible group")
    if exhaustive is None:
        return
    assert feasible_mask(config_grid(profile, platform), workload.apps)[fast.index]
    excess = fast.cost / exhaustive.cost - 1
    assert excess >= -1e-12  # the exhaustive search is the optimum
    bound = FAST_PATH_BOUND.get((profile.name, platform.name), 1e-12)
    event("fast path above the optimum" if excess > 1e-12 else "fast path exact")
    assert excess <= bound


def test_exhaustive_is_cheapest_feasible_by_brute_force():
    apps = [App("a", 0.4, 3), App("b", 0.9, 12), App("c", 1.5, 0.5)]
    g = config_grid(VGG, REF)
    mask = feasible_mask(g, apps)
    # brute force, one configuration at a time, with the batch constraint written out
    from harmonybatch_mp.batching import equivalent_timeout

    best = None
    for i in range(len(g)):
        if not g.memory_ok[i] or g.latency_max[i] > 0.4:
            continue
        t = [a.slo - g.latency_max[i] for a in apps]
        T = float(equivalent_timeout(t, [a.rate for a in apps]))
        ok = g.batch[i] == 1 or g.batch[i] <= np.floor(15.5 * T) + 1
        assert ok == mask[i]
        if ok and (best is None or g.cost[i] < g.cost[best]):
            best = i
    assert provision_group(apps, VGG, REF).index == best


@given(models, platforms, workloads(max_apps=8))
def test_one_fold_of_the_slos_decides_the_batch_constraint_of_every_configuration(profile, platform, workload):
    """Provisioning folds the SLOs once (``T_X = T_X(L_max = 0) - L_max``,
    ``formulations/model.md`` section 6); every configuration's own fold of its timeouts
    ``s_i - L_max`` (Eq. 5), written out over the grid, gives the same feasible set."""
    from harmonybatch_mp.batching import equivalent_timeout

    apps = sorted(workload.apps, key=lambda a: a.sort_key)
    g = config_grid(profile, platform)
    timeouts = np.array([a.slo for a in apps])[:, None] - g.latency_max[None, :]
    T = equivalent_timeout(timeouts, [a.rate for a in apps])
    rate = sum(a.rate for a in apps)
    meets = g.memory_ok & (g.latency_max <= apps[0].slo)
    batched = (g.batch == 1) | (g.batch <= np.floor(rate * T) + 1)
    assert np.array_equal(feasible_mask(g, apps), meets & batched)
    event(f"Eq. 9 rules out some configurations: {bool((meets & ~batched).any())}")
    event(f"Eq. 9 admits some batches >= 2: {bool((meets & batched & (g.batch >= 2)).any())}")


def test_paper_table_one_groups():
    """formulations/model.md section 11: {app2, app3} of Table I on a 2 GB GPU with batch 14."""
    g = provision_group([App("app2", 0.8, 10), App("app3", 1.0, 20)], VGG, REF)
    assert (g.kind, g.gpu_mem_gb, g.batch) == ("gpu", 2, 14)


def test_prototype_defect_cannot_happen():
    """formulations/model.md section 10: the prototype put (0.05 s, 1 rps) + (1.0 s, 30 rps) on a 2 GB GPU,
    batch 10, L_max 0.287 s, violating the 0.05 s SLO. Here every configuration considered
    meets the tightest SLO, so the group gets L_max <= 0.05 s and no negative timeout."""
    apps = [App("tight", 0.05, 1), App("loose", 1.0, 30)]
    g = provision_group(apps, VGG, REF)
    assert g.latency_max <= 0.05
    assert not (g.kind == "gpu" and g.gpu_mem_gb == 2 and g.batch == 10)
    mask = feasible_mask(config_grid(VGG, REF), apps)
    assert (config_grid(VGG, REF).latency_max[mask] <= 0.05).all()


@pytest.mark.parametrize("model, name", [("VGG19", "reference"), ("GPT-2", "paper"), ("VideoMAE", "paper")])
def test_a_model_and_a_preset_may_be_given_by_name_as_to_solve(model, name):
    """As ``solve(apps, "VGG19")`` does: the same grid and the same configurations as the
    objects give, the platform ``reference`` by default."""
    apps = [App("a", 0.6, 5), App("b", 1.0, 20)]
    profile, platform = builtin_profile(model), preset(name)
    assert config_grid(model, name) is config_grid(profile, platform)
    assert provision_group(apps, model, name) == provision_group(apps, profile, platform) is not None
    assert provision_group_fast(apps, model, name) == provision_group_fast(apps, profile, platform) is not None
    assert provision_group(apps, model) == provision_group(apps, profile, REF)
    assert provision_group_fast(apps, model) == provision_group_fast(apps, profile, REF)


def test_infeasible_group_returns_none():
    assert provision_group([App("a", 0.003, 1)], VGG, REF) is None  # below VGG19's 3.79 ms on a whole GPU
    assert provision_group([App("a", 0.1, 1)], builtin_profile("GPT-2"), REF) is None
    assert provision_group([App("a", 0.2, 1)], VGG, REF, kinds=("cpu",)) is None


def test_kinds_restrict_the_search():
    apps = [App("a", 0.8, 10), App("b", 1.0, 20)]
    assert provision_group(apps, VGG, REF, kinds=("cpu",)).kind == "cpu"
    with pytest.raises(ValueError, match="unknown function kind"):
        provision_group(apps, VGG, REF, kinds=("tpu",))


@given(models, platforms, workloads(max_apps=4), st.booleans(), st.booleans())
def test_pareto_columns_are_exact(profile, platform, workload, by_gpu, by_mem):
    """Every feasible configuration is dominated by a kept column (cost and counted resources):
    the columns the MILP builds under counting rows (Problem.per_class, then dominance)."""
    g = config_grid(profile, platform)
    problem = Problem(workload, profile, platform, cost_model="full-batch")
    columns = dominance(problem.per_class((1 << problem.n) - 1), by_gpu, by_mem)
    kept = [c.index for c in columns]
    feas = np.flatnonzero(feasible_mask(g, workload.apps))
    event("no configuration serves the whole group" if feas.size == 0 else
          f"configurations that serve it: {'one' if feas.size == 1 else 'several'}, "
          f"kept: {'one' if len(kept) == 1 else 'more'}")
    assert set(kept) <= set(feas.tolist())
    for i in feas:
        assert any(
            g.cost[k] <= g.cost[i]
            and (not by_gpu or g.kind[k] <= g.kind[i])
            and (not by_mem or g.gpu_mem[k] <= g.gpu_mem[i])
            for k in kept
        )
    if kept:
        assert g.cost[kept[0]] == g.cost[feas].min()


@given(models, platforms, workloads(max_apps=7), st.data())
def test_run_optima_match_each_runs_own_optimum_with_pins(profile, platform, workload, data):
    """The incremental optima of the SLO-contiguous runs (one fold step per app, the kinds a
    run allows narrowing as pinned apps join) equal each run's exhaustive optimum over the
    kinds all its members allow."""
    from harmonybatch_mp import SideConstraints
    from harmonybatch_mp.provision import KINDS, best_config

    names = [a.name for a in workload.apps]
    pins = data.draw(st.dictionaries(st.sampled_from(names), st.sampled_from(KINDS), max_size=len(names)))
    p = Problem(workload, profile, platform, side=SideConstraints(pin=list(pins.items())), cost_model="full-batch")
    grid = config_grid(profile, platform)
    event(f"{len(pins)} pinned of {p.n}")
    every = list(p.fill_runs())
    for i, j, _, cfg in every:
        kinds = [k for k in KINDS if all(pins.get(a.name, k) == k for a in p.apps[i:j])]
        want = best_config(grid, p.apps[i:j], kinds) if kinds else None
        event("pins leave no kind" if not kinds else "infeasible run" if want is None else "feasible run")
        assert (None if cfg is None else cfg.index) == want
    # the runs of shortest..max_run apps alone, folded past the shorter ones on a fresh problem
    shortest, longest = data.draw(st.integers(1, p.n)), data.draw(st.none() | st.integers(1, p.n))
    event("no run that long" if longest is not None and shortest > longest else "some runs")
    fresh = Problem(workload, profile, platform, side=SideConstraints(pin=list(pins.items())), cost_model="full-batch")
    assert list(fresh.fill_runs(longest, shortest=shortest)) == [
        run for run in every if shortest <= run[1] - run[0] <= (longest or p.n)]


@settings(max_examples=150, deadline=None)
@given(models, platforms, st.one_of(workloads(max_apps=7), mixed_workloads(), mixed_workloads(80, 41)),
       st.data())
def test_the_compiled_runs_are_run_optima(profile, platform, workload, data):
    """``run_kernel.runs`` (the fold and the batch check compiled, a few runs a call) yields what
    ``provision.run_optima`` yields, to the configuration: from any start, up to any stop, past
    any shortest length, with any pins, one run at a time or as one array (``run_indices``);
    and a problem's runs are the same whether its kernel is compiled or not (numpy's until it is)."""
    from harmonybatch_mp import SideConstraints
    from harmonybatch_mp.provision import KINDS, run_optima
    from harmonybatch_mp.solvers import problem_runs
    from harmonybatch_mp.solvers.kernels import RUNS, ready
    from harmonybatch_mp.solvers.run_kernel import run_indices, runs

    assert ready(RUNS, None)
    names = [a.name for a in workload.apps]
    pins = data.draw(st.dictionaries(st.sampled_from(names), st.sampled_from(KINDS), max_size=3))
    p = Problem(workload, profile, platform, side=SideConstraints(pin=list(pins.items())), cost_model="full-batch")
    start = data.draw(st.integers(0, max(0, p.n - 40)) | st.integers(0, p.n - 1))  # (runs past one call's 32)
    longest = data.draw(st.none() | st.integers(1, p.n))
    shortest = data.draw(st.integers(1, min(4, p.n - start)) | st.integers(1, p.n - start))
    stop = p.n if longest is None else min(p.n, start + longest)
    want = list(run_optima(p.grid, p.apps, start, longest, app_kinds=p.app_kinds, min_len=shortest))
    served = sum(index is not None for _, index in want)
    event(f"{'no' if not served else 'some' if served < len(want) else 'every'} run served")
    event("runs past one call's 32" if stop - start > 32 else "the runs of one call")
    event(f"{'several' if len({i for _, i in want}) > 2 else 'one or two'} configurations")
    assert list(runs(p.run_arrays(), start, stop, shortest)) == want
    # every run from the start as one array, compiled and by numpy
    every = [-1 if index is None else index for _, index in run_optima(p.grid, p.apps, start, longest,
                                                                      app_kinds=p.app_kinds)]
    assert run_indices(p.run_arrays(), start, stop).tolist() == every
    with mock.patch.object(problem_runs, "ready", lambda *args: False):
        assert p.run_indices(start, stop).tolist() == every
    with mock.patch.object(problem_runs, "RUN_KERNEL_APPS", 1):
        assert p.run_indices(start, stop).tolist() == every
    # how many runs the kernel takes on the cheapest configuration their SLO and kinds allow
    g, kinds, on_top = p.grid, set(KINDS), 0
    fits = g.memory_ok & (g.latency_max <= p.apps[start].slo)
    for j, index in enumerate(every, start + 1):
        kinds &= set(p.app_kinds[j - 1])
        allowed = np.flatnonzero(fits & np.isin(g.kind, [KINDS.index(k) for k in kinds]))
        on_top += index >= 0 and index == allowed[np.argmin(g.cost[allowed])]
    event(f"{'no' if not on_top else 'some' if on_top < len(every) else 'every'} run on the cheapest configuration")
    # on one class of function, a GPU memory size (as function_cap.capped_path searches under a
    # budget): each run's cheapest configuration of the class, as Problem.per_class finds it
    size = data.draw(st.sampled_from(sorted(set(g.gpu_mem[g.memory_ok & (g.kind == KINDS.index("gpu"))].tolist()))))
    on_class = [-1 if index is None else index for _, index in run_optima(
        p.grid, p.apps, start, longest, ("gpu",), app_kinds=p.app_kinds, gpu_mem=size)]
    assert run_indices(p.run_arrays(("gpu",), size), start, stop).tolist() == on_class
    with mock.patch.object(problem_runs, "RUN_KERNEL_APPS", 1):
        assert p.run_indices(start, stop, ("gpu",), size).tolist() == on_class
    per_class = [next((c.cost for c in p.per_class(problem_runs.run_mask(start, j))
                       if c.kind == "gpu" and c.gpu_mem_gb == size), None) for j in range(start + 1, stop + 1)]
    assert [None if k < 0 else float(g.cost[k]) for k in on_class] == per_class
    event(f"{'no' if max(on_class) < 0 else 'some'} run served on a GPU function of the size drawn")
    # every class in one call (CPU, then the sizes drawn, in any order), compiled
    sizes = data.draw(st.lists(st.sampled_from(range(1, 25)), max_size=4, unique=True))
    each = [run_optima(p.grid, p.apps, start, longest, ("cpu",), app_kinds=p.app_kinds)] + [run_optima(
        p.grid, p.apps, start, longest, ("gpu",), app_kinds=p.app_kinds, gpu_mem=s) for s in sizes]
    with mock.patch.object(problem_runs, "RUN_KERNEL_APPS", 1):
        rows = p.run_indices_by_class(start, stop, tuple(sizes))
    assert rows.tolist() == [[-1 if index is None else index for _, index in runs] for runs in each]
    with mock.patch.object(problem_runs, "ready", lambda *args: False):
        fresh = Problem(workload, profile, platform, side=SideConstraints(pin=list(pins.items())),
                        cost_model="full-batch")
        by_numpy = list(fresh.fill_runs(longest, shortest=shortest))
    with mock.patch.object(problem_runs, "RUN_KERNEL_APPS", 1):
        assert list(p.fill_runs(longest, shortest=shortest)) == by_numpy


@given(models, platforms, workloads(max_apps=7), st.data())
def test_per_class_is_each_class_s_cheapest_feasible_configuration(profile, platform, workload, data):
    """Under full-batch, ``Problem.per_class`` (the grid ordered by class once, members taken in
    canonical order without checks) is, per function kind and GPU memory size, the cheapest
    feasible configuration (ties to the first), cheapest first: as written out here from
    ``feasible_mask`` of the members in shuffled order, checked and sorted; and ``group`` is
    ``best_config``'s choice among the kinds the members' pins allow."""
    from harmonybatch_mp import SideConstraints
    from harmonybatch_mp.provision import best_config

    names = [a.name for a in workload.apps]
    pin = {name: data.draw(st.sampled_from(["cpu", "gpu"])) for name in data.draw(st.lists(st.sampled_from(names),
                                                                                            max_size=2, unique=True))}
    problem = Problem(workload, profile, platform, side=SideConstraints(pin=pin), cost_model="full-batch")
    mask = data.draw(st.integers(1, (1 << problem.n) - 1))
    apps = data.draw(st.permutations([a for i, a in enumerate(problem.apps) if mask >> i & 1]))
    kinds = [k for k in ("cpu", "gpu") if all(pin.get(a.name, k) == k for a in apps)]
    g = problem.grid
    feasible = np.flatnonzero(feasible_mask(g, apps, kinds)) if kinds else np.empty(0, int)
    cheapest: dict[tuple[int, int], int] = {}
    for i in sorted(feasible.tolist(), key=lambda i: (g.cost[i], i)):
        cheapest.setdefault((int(g.kind[i]), int(g.gpu_mem[i])), i)
    want = sorted(cheapest.values(), key=lambda i: (g.cost[i], i))
    event(f"{len(want)} classes" if len(want) < 3 else "3 classes or more")
    event("pinned" if pin else "no pins")
    assert [c.index for c in problem.per_class(mask)] == want
    best = problem.group(mask)
    assert (best is None) == (not want) and (best is None or best.index == best_config(g, apps, kinds))


@pytest.mark.parametrize("cost_model", ["full-batch", "expected"])
def test_alone_is_each_app_s_group_optimum_in_app_order(cost_model):
    """``Problem.alone()`` is ``group(1 << i)`` for every app, in order (None where no function
    serves it alone, or none of its pinned kind does), priced where missing, and a copy."""
    from harmonybatch_mp import SideConstraints

    workload = Workload([App("a", 0.001, 2.0), App("b", 0.8, 3.0), App("c", 1.0, 40.0), App("d", 0.5, 200.0)])
    profile, platform = builtin_profile("VGG19"), preset("reference")
    p = Problem(workload, profile, platform, side=SideConstraints(pin={"c": "cpu"}), cost_model=cost_model)
    p.group(1 << 2)  # one priced before
    alone = p.alone()
    q = Problem(workload, profile, platform, side=SideConstraints(pin={"c": "cpu"}), cost_model=cost_model)
    each = [q.group(1 << i) for i in range(4)]  # (under expected, searched alone: an ulp apart)
    assert alone[0] is None is each[0] and [cfg.kind for cfg in alone[1:]] == ["gpu", "cpu", "cpu"]
    assert [(c.index, c.timeout_scale) for c in alone[1:]] == [(c.index, c.timeout_scale) for c in each[1:]]
    assert [c.cost for c in alone[1:]] == pytest.approx([c.cost for c in each[1:]], rel=1e-12)
    assert all(p.group(1 << i) is alone[i] for i in range(4))
    alone.clear()
    assert len(p.alone()) == 4


@pytest.mark.parametrize("cost_model", ["full-batch", "expected"])
def test_apps_alone_and_runs_are_cached_by_position_whichever_way_they_are_priced(cost_model):
    """An app alone is cached by its position and a run of apps by where it starts and ends, not
    by mask: a mask's hash reads all its bits, so pricing 100,000 apps alone took 17 s under
    full-batch (30 s under expected), 3.0 s (5.7 s) by position, and dp spent 108 s of 148 s
    hashing the runs of 20,000 apps. A singleton priced by :meth:`group`, :meth:`prefetch`, the
    runs or restricted to a kind is priced once and found by the others, and each kind keeps its
    own; other groups keep their masks as keys."""
    workload = Workload([App("a", 0.5, 200.0), App("b", 0.8, 3.0), App("c", 1.0, 40.0)])
    profile, platform = builtin_profile("VGG19"), preset("reference")
    fresh = Problem(workload, profile, platform, cost_model=cost_model)
    alone = [fresh.group(1 << i) for i in range(3)]
    assert alone[0].kind == "gpu" and not fresh._cache  # nothing keyed by a singleton's mask
    p = Problem(workload, profile, platform, cost_model=cost_model)
    on_cpu = [p.group(1 << i, kinds=("cpu",)) for i in range(3)]  # first, under another key
    assert on_cpu[0].kind == "cpu" and on_cpu[0] != alone[0]
    if cost_model == "expected":
        p.prefetch([1, 2, 3])
    else:
        assert [next(p.runs_from(i))[2] for i in range(3)] == alone
    p.require_feasible()
    again = [p.group(1 << i) for i in range(3)]  # (under expected, searched beside others: an ulp apart)
    assert [(c.index, c.timeout_scale) for c in again] == [(c.index, c.timeout_scale) for c in alone]
    assert [c.cost for c in again] == pytest.approx([c.cost for c in alone], rel=1e-12)
    assert all(p.group(1 << i) is again[i] for i in range(3))
    assert [p.group(1 << i, kinds=("cpu",)) for i in range(3)] == on_cpu
    assert p.group(0b101) == fresh.group(0b101) and list(p._cache) == [0b101]  # not a run: by its mask
    run = p.group(0b110)
    assert run == fresh.group(0b110) and p._runs[1, 3, None] is run and list(p._cache) == [0b101]
    for bad in (0, -1, 8):
        with pytest.raises(InputError, match="a group must be a bitmask"):
            p.group(bad)
