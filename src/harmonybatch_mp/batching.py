"""Batching timeouts, the equivalent timeout and the batch constraint (``formulations/model.md`` section 6).

Paper Eqs. 5 (equivalent timeout), 9 (batch constraint) and 10 (SLO constraint).
Functions are vectorised: extra trailing axes are configurations evaluated at once.
"""

from __future__ import annotations

import numpy as np


def slo_timeouts(slos, latency_max):
    """Largest timeouts meeting the SLO: ``t_i = s_i - L_max`` (Eq. 10). Negative = infeasible."""
    return np.asarray(slos, dtype=float) - latency_max


def fold_timeout(T, rho, t, r):
    """One step of the equivalent-timeout fold (Eq. 5): add an app with timeout ``t`` and rate ``r``.

    ``T <- T + (r / (rho + r)) * (1 - exp(-rho * (t - T))) / rho``; returns ``(T, rho + r)``.
    Apps must be added in non-decreasing timeout order.
    """
    T = T + (r / (rho + r)) * (-np.expm1(-rho * (t - T))) / rho
    return T, rho + r


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
    t = np.asarray(timeouts, dtype=float)
    T, rho = t[0], float(rates[0])
    for k in range(1, t.shape[0]):
        T, rho = fold_timeout(T, rho, t[k], float(rates[k]))
    return T


def max_batch(total_rate: float, T):
    """Largest batch the batch constraint allows: ``floor(r_X * T_X) + 1`` (Eq. 9)."""
    return np.floor(total_rate * np.asarray(T, dtype=float)) + 1
