"""How a plan was found: the solver's report and certificate, with the named statuses."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import _validate as v
from .errors import InputError

#: Solver statuses: proven optimal over the whole model (every partition, every configuration).
OPTIMAL = "optimal"
#: Proven optimal over a restricted set only (``SolverInfo.scope`` says which); no global claim.
RESTRICTED_OPTIMAL = "restricted_optimal"
#: Stopped at the time limit: the best plan known, with whatever bound was proven by then.
TIME_LIMIT = "time_limit"
#: Finished without proving optimality: the plan with a lower bound over every plan (the
#: gap says how far it may be from the optimum), e.g. when branch and price meets a node it
#: cannot branch on, or a MILP backend ends as optimal within its own tolerances but short of
#: the gaps asked.
BOUNDED = "bounded"
#: A heuristic's plan: no optimality claim.
HEURISTIC = "heuristic"
#: Every status a :class:`SolverInfo` may carry.
STATUSES = (OPTIMAL, RESTRICTED_OPTIMAL, TIME_LIMIT, BOUNDED, HEURISTIC)


def relative_gap(objective: float, bound: float | None) -> float | None:
    """``(objective - bound) / objective``, at least 0 (0 for a plan that costs nothing;
    None without a bound): the ``gap`` of a :class:`SolverInfo`.

    >>> relative_gap(2.0, 1.5), relative_gap(2.0, 2.5), relative_gap(2.0, None)
    (0.25, 0.0, None)
    """
    cost, low = v.real(objective), None if bound is None else v.real(bound)
    if cost is None or not math.isfinite(cost) or bound is not None and (low is None or not math.isfinite(low)):
        raise InputError(f"relative_gap: expected a plan's cost and a bound (or None), finite numbers, got "
                         f"{objective!r:.30} and {bound!r:.30}")
    if low is None:
        return None
    return max(0.0, (cost - low) / cost) if cost > 0 else 0.0


@dataclass(frozen=True)
class SolverInfo:
    """How a plan was found: solver name, wall time, and for exact solvers a certificate.

    Attributes
    ----------
    name : str
    wall_time_s : float
    status : str
        One of :data:`STATUSES`.
    objective : float, optional
        The plan's cost per request as the solver saw it; :func:`~harmonybatch_mp.solve` sets
        it to the plan's ``total_cost`` (they may differ by rounding only: a report further off
        is refused with PlanCheckError).
    bound : float, optional
        A lower bound on the cost of *every* feasible plan of the model (all partitions,
        all configurations), or None when the solver proved none; never above the plan's
        ``total_cost`` in a plan from :func:`~harmonybatch_mp.solve`. It holds to the solver's
        numerical precision, as does ``optimal``: HiGHS's tolerances for ``milp``, and for
        ``colgen`` ``n * 1e-6`` times the per-app bound (pricing counts a column that gains
        less than ``1e-6`` of it as none; ``formulations/column_generation.md``).
    gap : float, optional
        ``(objective - bound) / objective``, at least 0 (:func:`relative_gap`).
    scope : str, optional
        What an exact solver optimised over: ``"all partitions"``, or the restriction (e.g.
        ``"contiguous candidate groups"``) under which a ``restricted_optimal`` plan is
        optimal; None for heuristics.
    restricted_bound : float, optional
        The bound over ``scope`` when that is a restriction (not a bound on other plans).
    relaxation_bound : float, optional
        For column generation: the bound before the integer proof (the best Lagrangian bound
        of the LP, or the per-app bound if higher); once the LP has converged,
        ``objective / relaxation_bound - 1`` is the LP-vs-integer gap. For a ``milp`` plan not
        proven over every partition: the bound of column generation over every group
        (``expected_bound`` under ``expected``, ``colgen``'s under ``full-batch``), which
        ``bound`` takes when it is above the per-app bound.
    backend : str, optional
        The MILP backend that solved the model.
    columns, candidate_groups : int, optional
        Size of the MILP (for column generation: the columns and groups generated).
    iterations : int, optional
        Solver iterations (column generation: rounds of the master LP, at the root).
    nodes : int, optional
        Column generation: nodes of branch and price solved (None: no branching was needed).
    rel_gap, abs_gap : float, optional
        The gaps an ``optimal`` or ``restricted_optimal`` plan was proven to: the options
        :func:`~harmonybatch_mp.solve` was given (0 where it was given none; ``abs_gap`` per
        million requests, as :data:`SCALE`), None for other statuses. The ``bound`` of
        ``optimal``, and the ``restricted_bound`` of ``restricted_optimal`` where there is one,
        meets the plan within them; a plan file without them is held to 0
        (:func:`certificate_problems`).
    """

    name: str
    wall_time_s: float = 0.0
    status: str = OPTIMAL
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    scope: str | None = None
    restricted_bound: float | None = None
    relaxation_bound: float | None = None
    backend: str | None = None
    columns: int | None = None
    candidate_groups: int | None = None
    iterations: int | None = None
    nodes: int | None = None
    rel_gap: float | None = None
    abs_gap: float | None = None

    def __post_init__(self) -> None:
        """Built by a solver of the user's, or read from a file, the report is checked: a
        bound of ``"abc"`` or a gap below 0 went into the plan, and an objective of ``"x"``
        raised a TypeError in :func:`~harmonybatch_mp.solve`.

        >>> SolverInfo("mine", bound=float("nan"))
        Traceback (most recent call last):
        ...
        harmonybatch_mp.errors.InputError: solver 'mine': bound: must be finite, got nan
        """
        if not isinstance(self.status, str) or self.status not in STATUSES:
            raise InputError(f"solver status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if not isinstance(self.name, str):
            raise InputError(f"solver name: expected a string, got {self.name!r:.40}")
        fields = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k, value in _checked(fields, lambda k: f"solver {self.name!r}: {k}").items():
            object.__setattr__(self, k, value)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _checked(fields: dict[str, Any], label: Callable[[str], str]) -> dict[str, Any]:
    """The numbers, counts and strings among a :class:`SolverInfo`'s ``fields`` (those given),
    checked, each error under ``label(field)``: the constructor's and a plan file's check."""
    out = dict(fields)
    for k in ("wall_time_s", "objective", "bound", "gap", "restricted_bound", "relaxation_bound", "rel_gap", "abs_gap"):
        if k in out and (out[k] is not None or k == "wall_time_s"):
            out[k] = v.number(out[k], label(k), nonnegative=k in ("wall_time_s", "gap", "rel_gap", "abs_gap"))
    for k in ("columns", "candidate_groups", "iterations", "nodes"):
        if out.get(k) is not None:
            out[k] = v.integer(out[k], label(k), minimum=0)
    for k in ("scope", "backend"):
        if out.get(k) is not None and not isinstance(out[k], str):
            raise InputError(f"{label(k)}: expected a string or None, got {out[k]!r:.40}")
    return out


def _solver_from_dict(s: Any, where: str) -> SolverInfo:
    """The solver record of a plan file (optional; a plan without one reads as a heuristic's)."""
    if s is None:
        return SolverInfo("unknown", status=HEURISTIC)
    if not isinstance(s, dict):
        raise InputError(f"{where}: expected an object, got {type(s).__name__}")
    fields = {k: s[k] for k in SolverInfo.__dataclass_fields__ if k in s}
    fields.setdefault("name", "unknown")
    fields.setdefault("status", HEURISTIC)
    for k in ("name", "status"):
        if not isinstance(fields[k], str):
            raise InputError(f"{where}.{k}: expected a string, got {fields[k]!r}")
    fields = _checked(fields, lambda k: f"{where}.{k}")
    try:
        return SolverInfo(**fields)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


#: The objective's unit in the MILP, and ``abs_gap``'s: cost per million requests
#: (``formulations/set_partitioning.md``, "Numerics").
SCALE = 1e6
#: Relative difference within which a bound is the plan's cost: summing the same groups in
#: another order moves a cost by about 1e-16 (measured: at most 3.3e-16).
SAME_COST = 1e-9
#: The bound each status needs: ``optimal`` proves the plan against ``bound``, and ``bounded``
#: reports it (``restricted_optimal`` may be optimal for another objective, as a replanned
#: window's spend plus change penalty, where no bound on the cost alone is known).
NEEDED_BOUND = {OPTIMAL: "bound", BOUNDED: "bound"}
#: The bound that proves each proven status, within the certificate's gaps.
PROVING_BOUND = {OPTIMAL: "bound", RESTRICTED_OPTIMAL: "restricted_bound"}


def allowance(objective: float, gaps: tuple[float, float]) -> float:
    """How far above a bound a plan costing ``objective`` may lie and be optimal within
    ``gaps``, ``(rel_gap, abs_gap)``: ``rel_gap`` of its cost or ``abs_gap`` per million
    requests (:data:`SCALE`), whichever is more (the MILP backends' rule). The one rule of
    :func:`certificate_problems`, ``milp`` and ``colgen`` (each with its own rounding slack).

    >>> allowance(2e-5, (0.5, 0.0)), allowance(2e-5, (0.5, 20.0))
    (1e-05, 2e-05)
    """
    return max(gaps[0] * objective, gaps[1] / SCALE)


def certificate_problems(info: SolverInfo, cost: float) -> list[str]:
    """What in a certificate no plan of cost ``cost`` can bear: an objective other than it or
    a bound above it (beyond :data:`SAME_COST`), a gap other than its bound's
    (:func:`relative_gap`), a status without the bound it needs (:data:`NEEDED_BOUND`), or a
    proven status whose bound (:data:`PROVING_BOUND`) falls short of ``cost`` by more than its
    gaps (``rel_gap``, ``abs_gap``; 0 where the certificate has none). Empty when there is
    none. :func:`~harmonybatch_mp.solve` refuses a solver's report with these (its gap set from
    its bound first); :func:`~harmonybatch_mp.check_plan` a plan's (a plan file's "optimal"
    with no bound, a bound twice or half its cost, or an objective or gap for another plan,
    was taken as it came).

    >>> certificate_problems(SolverInfo("x", status="optimal"), 2.0)
    ["status 'optimal' with no bound"]
    >>> certificate_problems(SolverInfo("x", status="bounded", bound=3.0), 2.0)
    ["bound 3.0 above its plan's cost 2.0"]
    >>> certificate_problems(SolverInfo("x", status="optimal", bound=1.9), 2.0)
    ["status 'optimal' with bound 1.9, short of its plan's cost 2.0 by more than its gaps (0 and 0)"]
    >>> certificate_problems(SolverInfo("x", status="optimal", bound=1.9, rel_gap=0.06), 2.0)
    []
    >>> certificate_problems(SolverInfo("x", status="bounded", objective=2.5, bound=1.5, gap=0.1), 2.0)
    ['objective 2.5, but its plan costs 2.0', "gap 0.1, but its bound 1.5 and plan's cost 2.0 give 0.25"]
    """
    out = []
    if info.objective is not None and not abs(info.objective - cost) <= SAME_COST * abs(cost):
        out.append(f"objective {info.objective!r}, but its plan costs {cost!r}")
    out += [f"{name} {value!r} above its plan's cost {cost!r}"
            for name in ("bound", "restricted_bound", "relaxation_bound")
            if (value := getattr(info, name)) is not None and value > cost + SAME_COST * abs(cost)]
    if info.bound is not None and info.gap is not None:
        gap = relative_gap(cost, min(info.bound, cost))
        if not abs(info.gap - gap) <= SAME_COST + 1e-12:
            out.append(f"gap {info.gap!r}, but its bound {info.bound!r} and plan's cost {cost!r} give {gap!r}")
    needs = NEEDED_BOUND.get(info.status)
    if needs is not None and getattr(info, needs) is None:
        out.append(f"status {info.status!r} with no {needs}")
    proves = PROVING_BOUND.get(info.status)
    low = None if proves is None else getattr(info, proves)
    rel, absolute = info.rel_gap or 0.0, info.abs_gap or 0.0
    if low is not None and cost - low > allowance(cost, (rel, absolute)) + (SAME_COST + 1e-9) * abs(cost):
        out.append(f"status {info.status!r} with {proves} {low!r}, short of its plan's cost {cost!r} by more "
                   f"than its gaps ({rel:g} and {absolute:g})")
    return out
