"""Batching timeouts, the equivalent timeout and the batch constraint (``formulations/model.md`` section 6).

Paper Eqs. 5 (equivalent timeout), 9 (batch constraint) and 10 (SLO constraint).
Functions are vectorised: extra trailing axes are configurations evaluated at once.
"""

from __future__ import annotations

import numpy as np

from ._validate import reals, together
from .errors import InputError


def slo_timeouts(slos, latency_max):
    """Largest timeouts meeting the SLO: ``t_i = s_i - L_max`` (Eq. 10). Negative = infeasible."""
    slos, latency_max = reals(slos, "slo_timeouts: slos"), reals(latency_max, "slo_timeouts: latency_max")
    together("slo_timeouts", slos=slos, latency_max=latency_max)
    return _slo_timeouts(slos, latency_max)


def fold_timeout(T, rho, t, r):
    """One step of the equivalent-timeout fold (Eq. 5): add an app with timeout ``t`` and rate ``r``.

    ``T <- T + (r / (rho + r)) * (1 - exp(-rho * (t - T))) / rho``; returns ``(T, rho + r)``.
    Apps must be added in non-decreasing timeout order.
    """
    T, rho, t, r = (reals(x, f"fold_timeout: {name}") for x, name in ((T, "T"), (rho, "rho"), (t, "t"), (r, "r")))
    together("fold_timeout", T=T, rho=rho, t=t, r=r)
    return _fold(T, rho, t, r)


# The equations unchecked, for the loops of provisioning and pricing, which hand them float
# arrays and floats: checking every argument there cost dp 10% at 2,000 apps.
def _slo_timeouts(slos, latency_max):
    return slos - latency_max


def _fold(T, rho, t, r):
    return T + (r / (rho + r)) * (-np.expm1(-rho * (t - T))) / rho, rho + r


def _max_batch(total_rate, T):
    return np.floor(total_rate * T) + 1


def equivalent_timeout(timeouts, rates):
    """Equivalent timeout ``T_X`` of a group (Eq. 5), folding apps in timeout order.

    Parameters
    ----------
    timeouts : array, shape (n, ...)
        Per-app timeouts, sorted non-decreasing along axis 0.
    rates : array, shape (n,)
        Per-app rates (requests/s).

    Examples
    --------
    >>> round(float(equivalent_timeout([0.1], [5.0])), 6)
    0.1
    >>> float(equivalent_timeout([0.2, 0.2], [1.0, 3.0]))
    0.2
    """
    t, r = reals(timeouts, "equivalent_timeout: timeouts"), reals(rates, "equivalent_timeout: rates")
    if t.ndim == 0 or r.shape != t.shape[:1] or not len(r):
        raise InputError(f"equivalent_timeout: expected timeouts of shape (n, ...) and rates of shape (n,), n >= 1, "
                         f"got shapes {t.shape} and {r.shape}")
    T, rho = t[0], float(r[0])
    for k in range(1, t.shape[0]):
        T, rho = _fold(T, rho, t[k], float(r[k]))
    return T


def max_batch(total_rate: float, T):
    """Largest batch the batch constraint allows: ``floor(r_X * T_X) + 1`` (Eq. 9)."""
    total_rate, T = reals(total_rate, "max_batch: total_rate"), reals(T, "max_batch: T")
    together("max_batch", total_rate=total_rate, T=T)
    return _max_batch(total_rate, T)
