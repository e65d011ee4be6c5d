"""The model's sums of floats are the same on every Python version (``harmonybatch_mp._sums``).

Python 3.12 made ``sum`` of floats compensated. The greedy and MBS+ build their sums a term at a
time and compare them with :meth:`.Problem.rate` and :meth:`.Problem.plan_cost`; on 3.12 and 3.13
those used ``sum`` and no longer met them: ``test_greedy_makes_the_groups_of_algorithm_one`` and
``test_mbs_abandons_only_splits_that_could_not_be_kept`` failed there on the two workloads below
(on the first, Algorithm 1 priced through ``weighted_cost`` merged a tie that the greedy's own
sums did not). Here ``sum`` is made compensated on any version (``math.fsum``, where 3.11 adds in
order), as 3.12 makes it.
"""

from __future__ import annotations

import builtins
import math
from unittest import mock

from harmonybatch_mp import App, Workload, builtin_profile, preset, solve
from harmonybatch_mp._sums import ordered_sum
from harmonybatch_mp.solvers.baselines import mbs_baseline
from harmonybatch_mp.solvers.greedy import greedy
from harmonybatch_mp.solvers.problem import Problem
from test_baselines import _every_split
from test_greedy import _algorithm_one

_SUM = builtins.sum


def _compensated(values, /, start=0):
    """``sum`` as Python 3.12 adds floats: compensated (here exactly rounded), not in order."""
    values = list(values)
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in [start, *values])
    if numbers and any(isinstance(x, float) for x in values):
        return math.fsum([start, *values])
    return _SUM(values, start)


def _tied() -> Workload:
    """26 apps of rate 1 and two GPU apps, all of SLO 1 s: stage 2's merge is an exact tie."""
    apps = [App(f"w{i}", 1.0, 1.0) for i in range(28) if i not in (0, 18)]
    return Workload(tuple(apps) + (App("w0", 1.0, 42.1697), App("w18", 1.0, 56.2341)))


def test_the_emulation_sums_as_python_3_12_does():
    """So that the tests below can fail on 3.11: the compensated sum differs where the order
    matters, and the rates of the tied workload are such a case."""
    rates = [a.rate for a in _tied().apps]
    assert _compensated([0.1] * 10) == 1.0 != ordered_sum([0.1] * 10)
    assert _compensated(rates) != ordered_sum(rates)


def test_the_greedy_merges_as_algorithm_one_whatever_sum_does():
    for sum_ in (_SUM, _compensated):
        with mock.patch.object(builtins, "sum", sum_):
            p = Problem(_tied(), builtin_profile("VGG19"), preset("paper"), cost_model="full-batch")
            plain = _algorithm_one(Problem(_tied(), builtin_profile("VGG19"), preset("paper"), cost_model="full-batch"))
            assert sorted(greedy(p).groups) == sorted(plain) == [(1 << 27) - 1, 1 << 27]


def test_mbs_prices_a_split_as_plan_cost_whatever_sum_does():
    apps = (App("w4", 0.188, 10.0), App("w0", 1.0, 1.0), App("w1", 1.0, 1.0), App("w2", 1.0, 1.0),
            App("w3", 1.0, 10.0), App("w5", 1.0, 10.0), App("w6", 2.0, 3.1623))
    for sum_ in (_SUM, _compensated):
        with mock.patch.object(builtins, "sum", sum_):
            p = Problem(Workload(apps), builtin_profile("VGG19"), preset(), cost_model="full-batch")
            plain, cost, _ = _every_split(Problem(Workload(apps), builtin_profile("VGG19"), preset(),
                                                  cost_model="full-batch"))
            sol = mbs_baseline(p)
            assert sorted(sol.groups) == sorted(plain) and sol.info.objective == cost


def test_rates_and_costs_are_added_in_order_whatever_sum_does():
    """The workload's, a group's and a plan's sums, to the last bit as 3.11 gives them."""
    w = _tied()
    rates = [a.rate for a in w.apps]
    with mock.patch.object(builtins, "sum", _compensated):
        p = Problem(w, builtin_profile("VGG19"), preset("paper"), cost_model="full-batch")
        plan = solve(w, "VGG19", "paper", solver="greedy", cost_model="full-batch")
        assert w.total_rate == p.total_rate == ordered_sum(rates)
        assert p.rate((1 << 28) - 1) == ordered_sum(a.rate for a in p.apps)
        rate = {a.name: a.rate for a in w.apps}
        assert [g.rate for g in plan.groups] == [ordered_sum(rate[a] for a in g.apps) for g in plan.groups]
        assert plan.total_cost == ordered_sum(g.rate * g.cost_per_request for g in plan.groups) / w.total_rate
