"""Pricing by labels (formulations/column_generation.md, "Pricing by labels"): the same best
group as a brute force and as the depth-first search, its limit and back-off, and its stops;
labels merged on a grid bound the best group from above ("A bound by merged labels")."""

from __future__ import annotations

import itertools
import threading
import time
from unittest import mock

import numpy as np
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from harmonybatch_mp.batching import equivalent_timeout
from harmonybatch_mp.solvers import branch_bound
from harmonybatch_mp.solvers import label_search as labels
from harmonybatch_mp.solvers.branch_bound import LABEL_NODES, TOLERANCE, GroupSearch
from harmonybatch_mp.solvers.label_search import label_search, merged_bound


@st.composite
def searches(draw, min_apps: int = 1, max_apps: int = 9, pairs: bool = False) -> tuple[GroupSearch, float]:
    """One configuration's search: apps in timeout order, rates over three decades, profits
    that make some groups price out and most not, a threshold near 0, and a batch that all
    the apps together fill (Eq. 9) by a factor of 1 to 5, so that which groups fill it is
    close (where a label wrongly dropped shows). With ``pairs``, one to ``n / 2`` disjoint
    pairs of apps in conflict."""
    n = draw(st.integers(max(min_apps, 2 if pairs else 1), max_apps))
    floats = st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)
    rate = 10 ** (3 * np.array(draw(floats)) - 1)
    timeout = np.sort(0.01 + 2 * np.array(draw(floats)))
    profit = np.array(draw(st.lists(st.floats(-0.3, 0.1), min_size=n, max_size=n)))
    fill = rate.sum() * float(equivalent_timeout(timeout, rate))
    batch = max(1, int(fill / draw(st.floats(1.0, 5.0))) + 1)
    threshold = draw(st.sampled_from([0.0, -0.05, 0.02]))
    conflicts = np.zeros((n, n), bool)
    if pairs:
        order = draw(st.permutations(range(n)))
        for q in range(draw(st.integers(1, n // 2))):
            i, j = order[2 * q], order[2 * q + 1]
            conflicts[i, j] = conflicts[j, i] = True
    return GroupSearch(np.arange(n), profit, rate, timeout, batch, conflicts), threshold


def _brute(search: GroupSearch) -> dict[int, float]:
    """Every feasible group's profit, by enumeration (Eq. 5 by ``equivalent_timeout``, Eq. 9
    as ``b <= floor(r_X T_X) + 1``, no two apps in conflict)."""
    n, out = search.apps.size, {}
    for size in range(1, n + 1):
        for combo in itertools.combinations(range(n), size):
            idx = list(combo)
            if search.conflicts[np.ix_(idx, idx)].any():
                continue
            rate = search.rate[idx]
            fill = rate.sum() * float(equivalent_timeout(search.timeout[idx], rate))
            if search.batch == 1 or search.batch <= np.floor(fill) + 1:
                out[sum(1 << i for i in idx)] = float(search.profit[idx].sum())
    return out


def _best_of_brute(groups: list[tuple[int, float]], brute: dict[int, float], threshold: float) -> None:
    """The labels' groups are improving (at most :data:`.branch_bound.KEEP`), each feasible
    at its brute-force profit and above the threshold, and the last is the best of all up to
    the search's tolerance (none where none is above the threshold by more)."""
    values = [v for _, v in groups]
    assert values == sorted(values) and len(groups) <= branch_bound.KEEP
    for mask, value in groups:
        assert brute[mask] == value > threshold
    best = max(brute.values(), default=-np.inf)
    if groups:
        assert values[-1] >= best - TOLERANCE - 1e-12
    else:
        assert best <= threshold + TOLERANCE + 1e-12


@settings(max_examples=80, deadline=None)
@given(searches())
def test_labels_find_the_best_group_of_a_brute_force(case):
    """Without a limit the labels end, and their groups are feasible, improving, above the
    threshold, and the last is the best of all up to the search's tolerance (none where none
    is above the threshold by more)."""
    search, threshold = case
    brute = _brute(search)
    best = max(brute.values(), default=-np.inf)
    groups, complete = label_search(search, threshold, 10**9)
    assert complete
    event("a group above the threshold" if best > threshold + TOLERANCE else "none above the threshold")
    _best_of_brute(groups, brute, threshold)


@settings(max_examples=80, deadline=None)
@given(searches(2, 9, pairs=True))
def test_labels_keep_pairs_in_conflict_and_find_the_best_group_of_a_brute_force(case):
    """With disjoint pairs of apps in conflict, the labels' groups hold no pair, and the last
    is the best of every group that holds none (a label that took an app may not take its
    partner, and completes without it); the merged labels bound it from above."""
    search, threshold = case
    assert search.labels is (search.apps.size >= branch_bound.LABEL_APPS) and search.merges
    brute = _brute(search)
    best = max(brute.values(), default=-np.inf)
    free = GroupSearch(search.apps, search.profit, search.rate, search.timeout, search.batch)
    event("a pair rules out the best group" if max(_brute(free).values(), default=-np.inf) > best + 1e-12 else
          "the best group holds no pair")
    groups, complete = label_search(search, threshold, 10**9)
    assert complete
    _best_of_brute(groups, brute, threshold)
    assert merged_bound(search, threshold) >= best - 1e-12


@settings(max_examples=150, deadline=None)
@given(searches(12, 28, pairs=True))
def test_labels_with_pairs_in_conflict_find_what_the_depth_first_search_finds(case):
    """The same on more apps, against the depth-first search, which keeps the conflicts too."""
    search, threshold = case
    dfs = search.groups(threshold, improve=True, last=1)
    assert search.complete
    labelled = label_search(search, threshold, 10**9)
    assume(labelled is not None)
    groups, complete = labelled
    assert complete
    event("a group above the threshold" if dfs else "none above the threshold")
    for mask, _ in groups:
        held = [i for i in range(search.apps.size) if mask >> i & 1]
        assert not search.conflicts[np.ix_(held, held)].any()
    if dfs and groups:
        assert abs(groups[-1][1] - dfs[-1][1]) <= TOLERANCE + 1e-12
    else:
        assert max((v for _, v in dfs + groups), default=threshold) <= threshold + TOLERANCE


def test_labels_take_only_disjoint_pairs_in_conflict_and_at_most_label_pairs_of_them():
    """Labels and merged labels keep a bit per pair in conflict, and complete a group that
    fills the batch with the larger of each pair left: right only where the pairs are
    disjoint. Conflicts that share an app, more than :data:`.branch_bound.LABEL_PAIRS` pairs
    or a class (``leader``) send the configuration to the depth-first search alone."""
    n = 2 * branch_bound.LABEL_PAIRS + 2
    rng = np.random.default_rng(0)
    rate, timeout, profit = rng.uniform(0.1, 10, n), np.sort(rng.uniform(0.01, 2, n)), rng.uniform(-0.3, 0.1, n)

    def search(pairs: list[tuple[int, int]], leader: np.ndarray | None = None) -> GroupSearch:
        conflicts = np.zeros((n, n), bool)
        for i, j in pairs:
            conflicts[i, j] = conflicts[j, i] = True
        return GroupSearch(np.arange(n), profit, rate, timeout, 8, conflicts, leader)

    most = [(2 * q, 2 * q + 1) for q in range(branch_bound.LABEL_PAIRS)]
    for pairs, leader, allowed in ((most, None, True), (most[:3], None, True), ([], None, True),
                                   (most + [(n - 2, n - 1)], None, False), ([(0, 1), (1, 2)], None, False),
                                   ([(0, 1), (0, 5)], None, False), ([], np.r_[-1, 0, np.full(n - 2, -1)], False)):
        made = search(pairs, leader)
        assert made.labels is made.merges is allowed, (pairs, leader)
        if allowed:
            assert sorted(map(tuple, made.pairs.tolist())) == sorted(pairs)


def test_labels_dominate_only_labels_of_the_same_pairs_taken():
    """A label that took the first app of a pair may not take the second, so it dominates no
    label that did not: on 1,000 seeded searches of 12-28 apps with disjoint pairs, the labels'
    best is the depth-first search's (7 of these seeds fail where labels of other bits are
    compared, about 1 draw in 120)."""
    for seed in range(1000):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(12, 29))
        rate, timeout = 10 ** (3 * rng.uniform(0, 1, n) - 1), np.sort(0.01 + 2 * rng.uniform(0, 1, n))
        profit = rng.uniform(-0.3, 0.1, n)
        batch = max(1, int(rate.sum() * float(equivalent_timeout(timeout, rate)) / rng.uniform(1, 5)) + 1)
        conflicts, order = np.zeros((n, n), bool), rng.permutation(n)
        for q in range(int(rng.integers(1, n // 2 + 1))):
            conflicts[order[2 * q], order[2 * q + 1]] = conflicts[order[2 * q + 1], order[2 * q]] = True
        search = GroupSearch(np.arange(n), profit, rate, timeout, batch, conflicts)
        dfs = search.groups(0.0, improve=True, last=1)
        groups, complete = label_search(search, 0.0, 10**9)
        assert complete
        assert abs((groups[-1][1] if groups else 0.0) - (dfs[-1][1] if dfs else 0.0)) <= TOLERANCE + 1e-12, seed


@settings(max_examples=300, deadline=None)  # (a dominance 5% too loose in G fails about 1 draw in 100)
@given(searches(12, 28))
def test_labels_find_what_the_depth_first_search_finds(case):
    """On more apps than a brute force reaches, the labels' best group is worth what the
    depth-first search's is (both exact up to the tolerance)."""
    search, threshold = case
    dfs = search.groups(threshold, improve=True, last=1)
    assert search.complete
    labelled = label_search(search, threshold, 10**9)
    event("a depth passed DEPTH_LABELS" if labelled is None else "the labels ended")
    assume(labelled is not None)
    groups, complete = labelled
    assert complete
    event("a group above the threshold" if dfs else "none above the threshold")
    if dfs and groups:
        assert abs(groups[-1][1] - dfs[-1][1]) <= TOLERANCE + 1e-12
    else:
        assert max((v for _, v in dfs + groups), default=threshold) <= threshold + TOLERANCE


@settings(max_examples=40, deadline=None)
@given(searches(4, 10), st.integers(1, 6))
def test_best_falls_back_to_the_depth_first_search_past_the_labels_limit(case, limit):
    """With a limit of a few labels, ``best`` gives up on them where they pass it and searches
    depth first: the same bound as with labels and as without them. (Its first search is cut
    to one node, and labels allowed below ``LABEL_APPS``, so that labels run on searches this
    small.)"""
    search, threshold = case
    high = threshold + float(np.maximum(search.profit, 0).sum()) + 1.0
    with mock.patch.object(branch_bound, "LABEL_NODES", 1), mock.patch.object(search, "labels", True):
        with mock.patch.object(branch_bound, "LABELS", 10**9):
            _, labelled = search.best(threshold, high, settle=False)
            event("labels ran" if search.outcome == "ended" else "its first node ended it")
            search.settle()
        with mock.patch.object(branch_bound, "LABELS", limit):
            passed = label_search(search, threshold, limit) is None
            _, limited = search.best(threshold, high)
    with mock.patch.object(search, "labels", False):
        _, depth_first = search.best(threshold, high)
    event("the labels passed the limit" if passed else "the labels ended within it")
    assert abs(limited - labelled) <= TOLERANCE + 1e-12 and abs(depth_first - labelled) <= TOLERANCE + 1e-12


def test_labels_back_off_after_passing_their_limit():
    """After the labels pass their limit on a configuration, its next searches up to that
    limit go depth first, 1, then 2, then 4 of them; a larger limit tries labels again; a
    search that ends resets it. Only settled searches count (``settle=False``: not yet), and
    only those whose first :data:`LABEL_NODES` nodes do not end them (here none does)."""
    rng = np.random.default_rng(0)  # batch 3 over 50 apps of low rate, 3 of them of positive profit
    rate, timeout = rng.uniform(0.1, 0.5, 50), np.sort(rng.uniform(0.1, 1.0, 50))
    profit = -0.01 * rate * timeout * rng.uniform(0.8, 1.2, 50)
    profit[:3] = 0.01
    search = GroupSearch(np.arange(50), profit, rate, timeout, 3)
    outcomes = []
    with mock.patch.object(branch_bound, "LABELS", 3):
        for _ in range(9):
            made = search.reprice(search.profit)
            made.best(0.0, 10.0, budget=100_000, settle=False)
            outcomes.append(made.outcome)
            made.settle()
        assert outcomes == ["passed", "skipped", "passed", "skipped", "skipped", "passed"] + ["skipped"] * 3
        made = search.reprice(search.profit)
        made.best(0.0, 10.0, budget=10**7)  # a limit of 3 labels still: skipped
        assert made.outcome is None and search._backoff[0] == 0
        made = search.reprice(search.profit)
        made.best(0.0, 10.0, budget=LABEL_NODES)  # no labels: its first search is the whole budget
        assert made.outcome is None and search._backoff[0] == 0
    made = search.reprice(search.profit)
    made.best(0.0, 10.0, budget=10**6)  # a limit of 500,000 labels: tried, and they end
    assert search._backoff == [0, 1, 0]


def _wide_search() -> GroupSearch:
    """Batch 16 over 60 apps of near-zero profits: labels that multiply."""
    rng = np.random.default_rng(1)
    return GroupSearch(np.arange(60), rng.normal(0, 1e-3, 60), 10 ** rng.uniform(-1, 1, 60),
                       np.sort(rng.uniform(0.1, 1.0, 60)), 16)


def test_labels_stop_when_told_and_at_the_deadline():
    """A label search told to stop, or past its deadline, returns at once, not complete."""
    search = _wide_search()
    stop = threading.Event()
    stop.set()
    start = time.perf_counter()
    assert label_search(search, 0.0, 10**9, stop=stop) == ([], False)
    assert label_search(search, 0.0, 10**9, deadline=start) == ([], False)
    assert time.perf_counter() - start < 1


@st.composite
def loose_searches(draw) -> tuple[GroupSearch, float]:
    """As :func:`searches`, but a batch drawn apart from the rates (2 to 40), so that which
    groups fill it ranges from none to all, and a threshold that may prune nothing (-1)."""
    n = draw(st.integers(3, 9))
    floats = st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)
    rate = 10 ** (3 * np.array(draw(floats)) - 1)
    timeout = np.sort(0.01 + 2 * np.array(draw(floats)))
    profit = np.array(draw(st.lists(st.floats(-0.3, 0.1), min_size=n, max_size=n)))
    return GroupSearch(np.arange(n), profit, rate, timeout, draw(st.integers(2, 40))), draw(st.sampled_from([-1.0, 0.0]))


@settings(max_examples=300, deadline=None)
@given(loose_searches(), st.sampled_from([(1, 1), (2, 3), (200, 1_000)]))
def test_merged_labels_bound_the_best_group_of_a_brute_force(case, grid):
    """On any grid, however coarse (a cell per factor ``e`` of the rate, and one over the
    fill), the merged labels bound every feasible group's profit from above, and give at least
    the threshold plus the tolerance; on coarse grids they may give more than the best."""
    search, threshold = case
    brute = _brute(search)
    best = max(brute.values(), default=-np.inf)
    with mock.patch.object(labels, "RATE_CELLS", grid[0]), mock.patch.object(labels, "FILL_CELLS", grid[1]):
        bound = merged_bound(search, threshold)
    assert bound >= threshold + TOLERANCE
    event("a group above the threshold" if best > threshold + TOLERANCE else "none above the threshold")
    loose = bound > max(best, threshold) + TOLERANCE + 1e-12
    event(f"grid {grid}: " + ("the bound is above the best group's" if loose else "the bound is the best group's"))
    assert bound >= best - 1e-12


def test_merged_labels_on_a_coarse_grid_are_above_the_best_of_some_searches():
    """The property above rarely meets a draw where merging loosens the bound; on 400 seeded
    searches a grid of one fill cell per factor ``e`` of the rate does, and is above the best
    on every one."""
    rng = np.random.default_rng(0)
    loose = 0
    with mock.patch.object(labels, "RATE_CELLS", 1), mock.patch.object(labels, "FILL_CELLS", 1):
        for _ in range(400):
            n = int(rng.integers(3, 10))
            search = GroupSearch(np.arange(n), rng.uniform(-0.3, 0.1, n), 10 ** (3 * rng.uniform(0, 1, n) - 1),
                                 np.sort(0.01 + 2 * rng.uniform(0, 1, n)), int(rng.integers(2, 40)))
            best = max(_brute(search).values(), default=-np.inf)
            bound = merged_bound(search, -1.0)
            assert bound >= best - 1e-12
            loose += bound > max(best, -1.0) + TOLERANCE + 1e-12
    assert loose >= 10


@settings(max_examples=60, deadline=None)
@given(searches(1, 9))
def test_best_bounded_by_merged_labels_is_still_the_brute_force_best(case):
    """A search without a budget takes its upper end down to the merged labels' bound first,
    and where that proves nothing beats ``low`` it ends there: its result is the brute
    force's best, up to the tolerance, either way. Budgeted searches that end unproven take
    their bound down to the merged labels', never below the best."""
    search, threshold = case
    best = max(_brute(search).values(), default=-np.inf)
    high = threshold + float(np.maximum(search.profit, 0).sum()) + 1.0
    with mock.patch.object(search, "groups", wraps=search.groups) as searched:
        groups, upper = search.best(threshold, high)
    event("ended by the merged labels" if not searched.called else "searched depth first")
    assert search.complete
    if best > threshold + TOLERANCE:
        assert groups and abs(groups[-1][1] - best) <= TOLERANCE + 1e-12 and abs(upper - best) <= 2 * TOLERANCE
    else:
        assert not groups and upper <= threshold + TOLERANCE + 1e-12
    # searches of one node leave their bound unproven: merged labels take it down, not below the best
    with mock.patch.object(branch_bound, "MERGED_NODES", 1):
        _, cut = search.best(threshold, high, budget=1, bisections=2)
    with mock.patch.object(search, "merges", False):
        _, unmerged = search.best(threshold, high, budget=1, bisections=2)
    event("merged labels lowered an unproven bound" if cut < unmerged - TOLERANCE else "they did not")
    assert max(best, threshold) - 1e-12 <= cut <= unmerged + 1e-12


def test_merged_labels_stop_when_told_at_the_deadline_and_past_their_limit():
    """At a deadline, once told to stop, or where a depth keeps more labels than the limit,
    there is no bound (None), at once."""
    search = _wide_search()
    stop = threading.Event()
    stop.set()
    start = time.perf_counter()
    assert merged_bound(search, 0.0, stop=stop) is None
    assert merged_bound(search, 0.0, deadline=start) is None
    with mock.patch.object(labels, "DEPTH_CELLS", 10):
        assert merged_bound(search, 0.0) is None
    assert time.perf_counter() - start < 1
    assert merged_bound(search, 0.0) is not None
