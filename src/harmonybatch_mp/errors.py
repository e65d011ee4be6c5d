"""Exceptions raised by harmonybatch-mp.

Every error a user can provoke with bad input derives from :class:`HarmonyBatchError`,
so a caller can catch one type. Messages name the field, app or constraint at fault.
"""

from __future__ import annotations

from dataclasses import dataclass

#: What an error says of a figure the model cannot compute (inf or nan) from finite inputs.
OUT_OF_RANGE = "a coefficient of the profile (or a price of the platform) is out of range"


class HarmonyBatchError(Exception):
    """Base class of every error raised on purpose by this library."""


class InputError(HarmonyBatchError, ValueError):
    """Bad input: a malformed file, an unknown name or an out-of-range value.

    The message names the culprit (field path, app name, row or column).
    """


@dataclass(frozen=True)
class InfeasibleApp:
    """An app that no function of the platform can serve within its SLO.

    Attributes
    ----------
    name : str
        The app's name.
    slo : float
        The app's latency SLO in seconds.
    best_latency : float
        The lowest maximum latency (s) any memory-feasible function of the
        platform gives, i.e. the tightest SLO the platform could meet.
    """

    name: str
    slo: float
    best_latency: float

    def __str__(self) -> str:
        return (
            f"app {self.name!r} (SLO {self.slo:g} s): no function meets it; "
            f"the lowest maximum latency the platform can give is {self.best_latency:.4g} s"
        )


#: Most items an error's message lists; the exception's attribute holds every one.
LISTED = 10
#: What an :class:`InfeasibleError`'s message says of the apps it does not list.
MORE_APPS = "and {} more apps (InfeasibleError.apps lists every one)"


def _listing(items, more: str, sep: str = "; ") -> str:
    """``items`` joined by ``sep``, at most :data:`LISTED` of them, then ``more`` with the count
    of the rest formatted in (a message of 5,000 apps lists 10 and says how many are left).

    >>> _listing(["a", "b"], "and {} more")
    'a; b'
    >>> _listing(range(12), MORE_APPS)
    '0; 1; 2; 3; 4; 5; 6; 7; 8; 9; and 2 more apps (InfeasibleError.apps lists every one)'
    """
    items = [str(item) for item in items]
    rest = [more.format(len(items) - LISTED)] if len(items) > LISTED else []
    return sep.join(items[:LISTED] + rest)


class InfeasibleError(HarmonyBatchError):
    """No plan exists: some apps cannot be served, or side constraints conflict.

    Attributes
    ----------
    apps : tuple of InfeasibleApp
        The apps no function can serve within their SLO (may be empty when the
        cause is a set of side constraints).
    constraints : tuple of str
        The kinds of side constraints involved, when they are the cause.
    """

    def __init__(self, message: str, apps=(), constraints=()):
        super().__init__(message)
        self.apps = tuple(apps)
        self.constraints = tuple(constraints)


class PlanCheckError(HarmonyBatchError):
    """A plan violates the model (``formulations/model.md`` section 9).

    Attributes
    ----------
    problems : tuple of str
        One line per violation found.
    """

    def __init__(self, problems):
        self.problems = tuple(problems)
        more = "and {} more (PlanCheckError.problems lists every one)"
        super().__init__("plan check failed:\n  " + _listing(self.problems, more, "\n  "))


class SolverError(HarmonyBatchError):
    """A solver ran but returned no usable plan: a time limit reached before any feasible
    plan was known, a backend that is not installed or that failed.

    This is not bad input: the command line exits with code 4 for it.

    Attributes
    ----------
    time_limit : bool
        True when the time limit stopped the solver.
    restricted : bool
        True when a model over some groups only (contiguous candidates, a list) holds no plan
        that keeps the side constraints: plans of other groups may (this is no proof of
        infeasibility, which :class:`InfeasibleError` is).
    """

    def __init__(self, message: str, *, time_limit: bool = False, restricted: bool = False):
        super().__init__(message)
        self.time_limit = time_limit
        self.restricted = restricted
