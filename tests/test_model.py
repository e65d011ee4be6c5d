"""Hand-checked values of each equation of formulations/model.md sections 3-6."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harmonybatch_mp import App, InputError, builtin_profile, preset, provision_group
from harmonybatch_mp.batching import equivalent_timeout, max_batch, slo_timeouts
from harmonybatch_mp.latency import cpu_latency, gpu_latency_avg, gpu_latency_max
from harmonybatch_mp.pricing import billed_duration, cost_per_request
from harmonybatch_mp.provision import config_grid
from harmonybatch_mp.shapes import (
    cpu_billed_memory_gb,
    cpu_memory_feasible,
    cpu_memory_need_mb,
    gpu_host_memory_gb,
    gpu_memory_need_gb,
    round_memory_mb,
    vcpu_grid,
)

VGG = builtin_profile("VGG19")
REF = preset("reference")
PAPER = preset("paper")


def test_up64_truncates_then_rounds_up():
    assert round_memory_mb(64.9) == 64  # truncated to 64 MB, already a multiple
    assert round_memory_mb(65.0) == 128
    assert round_memory_mb(844.19) == 896
    assert round_memory_mb(0.5) == 0


def test_vcpu_grid_is_exact_multiples():
    g = vcpu_grid(REF)
    assert len(g) == 320 and g[0] == 0.05 and g[-1] == 16.0
    assert all(REF.vcpu_index(c) is not None for c in g)
    assert REF.vcpu_index(1.937) is None  # the prototype's off-grid value
    for far in (1e308, -1e308, 16.06, 0.0, -0.05):  # off the range (1e308 / step overflowed round())
        assert REF.vcpu_index(far) is None
    for bad in (float("nan"), float("inf"), None, "two"):
        with pytest.raises(InputError, match="vcpu: "):
            REF.vcpu_index(bad)


def test_cpu_memory_rules_by_hand():
    # VGG19: a = 36.57142857, m0 = 807.6190476; b = 1 -> 844.19 -> up64 = 896 MB
    assert cpu_memory_need_mb(VGG, REF, 1) == 896
    # infeasible if need/1024 > 4c: 896/1024 = 0.875 GB needs c >= 0.21875
    assert not cpu_memory_feasible(VGG, REF, 0.2, 1)
    assert cpu_memory_feasible(VGG, REF, 0.25, 1)
    # billed: up64(1024*max(c, need/1024)) / 1024
    assert cpu_billed_memory_gb(VGG, REF, 1.55, 1) == 1600 / 1024
    assert cpu_billed_memory_gb(VGG, REF, 0.5, 1) == 896 / 1024


def test_cpu_latency_eq1_by_hand():
    a, b, g = 1.8260695578676214, 0.5283726420022545, 0.18015427168547402
    assert cpu_latency(VGG, 1.55, 1) == pytest.approx(a * math.exp(-1.55 / b) + g, rel=1e-15)
    a, b, g = 9.65159701751372, 0.46592585483072324, 0.8287713748262584
    assert cpu_latency(VGG, 2.0, 4, stat="max") == pytest.approx(a * math.exp(-2.0 / b) + g, rel=1e-15)
    with pytest.raises(ValueError):
        cpu_latency(VGG, 1.0, 5)


def test_gpu_latency_eqs_2_4_by_hand():
    # VGG19, m = 2 GB, b = 10: the prototype's defective plan of formulations/model.md section 10 (L_max 0.287 s)
    l0 = 0.001679844365532822 * 10 + 0.002113091944793135
    n = math.ceil(l0 / (2 * 0.002))
    assert gpu_latency_max(VGG, REF, 2, 10) == pytest.approx(((24 - 2) * n * 0.002 + l0) * 1.2, rel=1e-14)
    assert round(float(gpu_latency_max(VGG, REF, 2, 10)), 3) == 0.287
    assert gpu_latency_avg(VGG, REF, 2, 10) == pytest.approx(12 * l0, rel=1e-14)
    # k(m) = 1.0 at a whole device, and on preset paper everywhere
    assert gpu_latency_max(VGG, REF, 24, 10) == pytest.approx(l0, rel=1e-14)
    assert gpu_latency_max(VGG, PAPER, 2, 10) == pytest.approx((22 * n * 0.002 + l0), rel=1e-14)


def test_gpu_latency_with_cpu_share_bert():
    bert = builtin_profile("BERT")
    l0 = bert.xi1 * 4 + bert.xi2
    cc = min(1 / 3, 1.0)
    assert gpu_latency_avg(bert, REF, 1, 4) == pytest.approx(24 * 0.43 * l0 + 0.57 * l0 / cc, rel=1e-14)
    n = math.ceil(0.43 * l0 / (6 * 0.002))
    want = ((24 - 6) * n * 0.002 + 0.43 * l0) * 1.2 + 0.57 * l0 / 1.0
    assert gpu_latency_max(bert, REF, 6, 4) == pytest.approx(want, rel=1e-14)


def test_gpu_memory_need_thresholds():
    assert gpu_memory_need_gb(VGG, [1, 32]).tolist() == [2, 2]  # thresholds [0]
    assert gpu_memory_need_gb(builtin_profile("BERT"), [1, 32]).tolist() == [1, 1]  # no thresholds
    assert gpu_memory_need_gb(builtin_profile("GPT-2"), [27, 28]).tolist() == [1, 2]
    assert gpu_memory_need_gb(builtin_profile("VideoMAE"), [4, 5, 6, 7, 12, 14, 15]).tolist() == [2, 3, 3, 4, 4, 5, 6]
    assert gpu_host_memory_gb(builtin_profile("GPT-2"), REF) == 1.0


def test_cost_eq6_and_billing_units():
    assert billed_duration(0.3, 1.0) == 1.0 and billed_duration(1.2, 1.0) == 2.0
    assert billed_duration(0.3, 0.0) == 0.3
    c = cost_per_request(REF, vcpu=2 / 3, mem_gb=0.5, gpu_gb=2, duration=1.0, batch=14)
    assert c == pytest.approx((9e-7 + (2 / 3 * 9e-5 + 0.5 * 9e-6 + 2 * 1.1e-4) * 1.0) / 14, rel=1e-15)


def test_equivalent_timeout_eq5_by_hand():
    t = [0.1, 0.3, 0.5]
    r = [2.0, 3.0, 5.0]
    T = t[0]
    rho = r[0]
    for tk, rk in zip(t[1:], r[1:]):
        T = T + rk / (rho + rk) * (1 - math.exp(-rho * (tk - T))) / rho
        rho += rk
    assert equivalent_timeout(t, r) == pytest.approx(T, rel=1e-13)
    # vectorised over configurations
    Ts = equivalent_timeout(np.array([[0.1, 0.2], [0.3, 0.4]]), [1.0, 1.0])
    assert Ts.shape == (2,) and Ts[0] == pytest.approx(float(equivalent_timeout([0.1, 0.3], [1, 1])))


def test_batch_and_slo_constraints():
    assert max_batch(10.0, 0.35) == 4  # floor(3.5) + 1
    assert slo_timeouts([0.5, 0.8], 0.3).tolist() == pytest.approx([0.2, 0.5])


def test_anchor_single_app_exhaustive():
    """formulations/model.md section 11: VGG19, one app (0.5 s, 5 rps) -> 1.55 vCPU, batch 1, 4.3485e-05."""
    g = provision_group([App("a", 0.5, 5)], VGG, REF)
    assert (g.kind, g.vcpu, g.batch) == ("cpu", 1.55, 1)
    assert g.cost == pytest.approx(4.3485e-05, rel=1e-4)


def test_grid_has_1280_cpu_and_768_gpu_points():
    g = config_grid(VGG, REF)
    assert int((g.kind == 0).sum()) == 1280 and int((g.kind == 1).sum()) == 768
