"""Plan schedules: a plan per time window, with the reconfigurations each switch costs
(``formulations/replanning.md``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _validate as v
from ._io import write_text
from .errors import InputError
from .plan import FUNCTION_FIELDS, Plan


def function_key(apps: Iterable[str], fn: Any) -> tuple[frozenset[str], str, float, int | None, int]:
    """What a running group is: its apps and its function (kind, size, batch) -- ``fn`` is a
    plan's group or a configuration. Timeouts are the batch manager's settings, not part of
    the deployed function."""
    names = v.listed(apps, "function_key: apps", "an iterable of app names")
    v.attributes(fn, FUNCTION_FIELDS, "function_key: the function")
    return frozenset(names), fn.kind, round(v.number(fn.vcpu, "function_key: vcpu"), 9), fn.gpu_mem_gb, fn.batch


def reconfigurations(running: Plan | None, new: Plan) -> int:
    """Functions of ``new`` that must be started or reconfigured when ``running`` is in force:
    every group whose apps and function configuration are not already running."""
    if running is not None:
        v.instance(running, Plan, "running")
    v.instance(new, Plan, "new")
    kept = set() if running is None else {function_key(g.apps, g) for g in running.groups}
    return sum(function_key(g.apps, g) not in kept for g in new.groups)


@dataclass(frozen=True)
class Window:
    """One window of a schedule: when it starts (s from the trace's start), its plan, the
    rates it was planned for, and the functions started or reconfigured at its start."""

    start: float
    plan: Plan
    reconfigurations: int

    def __post_init__(self) -> None:
        """Built in code, a window is checked as a file's is.

        >>> Window(-1.0, None, 0)
        Traceback (most recent call last):
        ...
        harmonybatch_mp.errors.InputError: window: start: must be >= 0, got -1.0
        """
        object.__setattr__(self, "start", v.number(self.start, "window: start", nonnegative=True))
        v.instance(self.plan, Plan, "window: plan")
        object.__setattr__(self, "reconfigurations", v.integer(self.reconfigurations, "window: reconfigurations",
                                                               minimum=0))

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "plan": self.plan.to_dict(), "reconfigurations": self.reconfigurations}


@dataclass(frozen=True)
class Schedule:
    """Windows in time order; ``window_s`` long each (the last may be cut by the trace's end).

    Examples
    --------
    >>> from harmonybatch_mp import solve
    >>> p = solve("0.5:5,1.0:20", "VGG19", cost_model="full-batch")
    >>> s = Schedule((Window(0.0, p, 2), Window(60.0, p, 0)), window_s=60.0)
    >>> Schedule.from_json(s.to_json()).windows[1].reconfigurations
    0
    """

    windows: tuple[Window, ...]
    window_s: float
    settings: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        """Built in code, a schedule is checked as a file's is: windows (a sequence of at least
        one :class:`Window`) whose starts increase, a window length > 0, settings a dict or None.

        >>> Schedule((), 60.0)
        Traceback (most recent call last):
        ...
        harmonybatch_mp.errors.InputError: schedule: windows: expected at least one window
        """
        windows = tuple(v.instance(w, Window, "schedule: windows")
                        for w in v.listed(self.windows, "schedule: windows", "a sequence of Window"))
        if not windows:
            raise InputError("schedule: windows: expected at least one window")
        late = next((i for i, (a, b) in enumerate(zip(windows, windows[1:]), 1) if b.start <= a.start), None)
        if late is not None:
            raise InputError(f"schedule: windows: starts must increase; window {late} starts at "
                             f"{windows[late].start:g} s, window {late - 1} at {windows[late - 1].start:g} s")
        for i, w in enumerate(windows[1:], 1):
            other = _other_apps(windows[0].plan, w.plan)
            if other:
                raise InputError(f"schedule: windows: every window plans the same apps with the same SLOs, but "
                                 f"window {i} {other} window 0")
        object.__setattr__(self, "windows", windows)
        object.__setattr__(self, "window_s", v.number(self.window_s, "schedule: window_s", positive=True))
        if self.settings is not None:
            _check_settings(self.settings, windows, self.window_s)

    @property
    def total_reconfigurations(self) -> int:
        return sum(w.reconfigurations for w in self.windows)

    def plan_at(self, t: float) -> Plan:
        """The plan in force at time ``t`` (s; the first window's before it starts, the last's
        after the trace ends)."""
        reading = v.comparable(t)
        if reading is None:
            raise InputError(f"plan_at: t: expected a number of seconds, got {t!r}")
        t = reading
        current = self.windows[0].plan
        for w in self.windows:
            if w.start <= t:
                current = w.plan
        return current

    def to_dict(self) -> dict[str, Any]:
        return {"window_s": self.window_s, "windows": [w.to_dict() for w in self.windows],
                "reconfigurations": self.total_reconfigurations, "settings": self.settings or {}}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=v.indent(indent))

    def write(self, path: str | Path) -> None:
        """Write the schedule as JSON, atomically."""
        write_text(path, self.to_json() + "\n")

    @classmethod
    def from_dict(cls, data: Any, where: str = "schedule") -> Schedule:
        where = v.prefix(where)
        if not isinstance(data, dict):
            raise InputError(f"{where}: expected an object")
        raw = v.field(data, "windows", where)
        if not isinstance(raw, list):  # (an empty one: the constructor's "at least one window")
            raise InputError(f"{where}.windows: expected a list")
        windows = []
        for i, w in enumerate(raw):
            at = f"{where}.windows[{i}]"
            windows.append(Window(v.number(v.field(w, "start", at), f"{at}.start", nonnegative=True),
                                  Plan.from_dict(v.field(w, "plan", at), f"{at}.plan"),
                                  v.integer(v.field(w, "reconfigurations", at), f"{at}.reconfigurations", minimum=0)))
        settings = data.get("settings")
        window_s = v.number(v.field(data, "window_s", where), f"{where}.window_s", positive=True)
        try:
            return cls(tuple(windows), window_s, settings)
        except InputError as exc:  # (the starts and each window's apps: the rest is checked above, in place)
            raise InputError(f"{where}.{str(exc).removeprefix('schedule: ')}") from None

    @classmethod
    def from_json(cls, text: str) -> Schedule:
        """Parse a schedule from JSON text."""
        return cls.from_dict(v.loads(v.instance(text, (str, bytes, bytearray), "schedule"), "schedule"))


def _check_settings(settings: Any, windows: tuple[Window, ...], window_s: float) -> None:
    """Settings are a JSON object; those :func:`~harmonybatch_mp.replan.replan` and
    :func:`~harmonybatch_mp.replan.baselines` record must be what they could have recorded for
    these windows (other keys are the user's own). ``kept_at_time_limit`` is reported, and
    counts windows after the first that start nothing.

    >>> from harmonybatch_mp import solve
    >>> p = solve("0.5:5", "VGG19", cost_model="full-batch")
    >>> Schedule((Window(0.0, p, 1),), 60.0, {"window_min": 2})
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: schedule: settings: window_min 2 is not the window of 60 s
    """
    from .expected_cost import COST_MODELS
    from .replan import Forecast

    where = "schedule: settings"
    v.instance(settings, dict, where)
    try:
        json.dumps(settings, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: not writable as JSON ({exc})") from None
    bad = next((k for k in settings if not isinstance(k, str)), None)
    if bad is not None:
        raise InputError(f"{where}: keys must be strings, got {bad!r}")
    get = settings.get
    if "window_min" in settings and v.integer(get("window_min"), f"{where}: window_min", minimum=1) * 60 != window_s:
        raise InputError(f"{where}: window_min {get('window_min')!r} is not the window of {window_s:g} s")
    for key in ("change_penalty", "warm_up_s"):
        if key in settings:
            v.number(get(key), f"{where}: {key}", nonnegative=True)
    if "cost_model" in settings:
        v.choice(get("cost_model"), COST_MODELS, f"{where}: cost_model")
    for key in ("solver", "policy"):
        if key in settings:
            v.instance(get(key), str, f"{where}: {key}")
    if "forecast" in settings:
        spec = v.instance(get("forecast"), str, f"{where}: forecast")
        try:
            Forecast.parse(spec)
        except InputError as exc:
            raise InputError(f"{where}: forecast: {str(exc).removeprefix('--forecast ')}") from None
    if "kept_at_time_limit" in settings:
        idle = sum(w.reconfigurations == 0 for w in windows[1:])
        v.integer(get("kept_at_time_limit"), f"{where}: kept_at_time_limit", minimum=0, maximum=idle)


def _other_apps(first: Plan, plan: Plan) -> str:
    """How ``plan``'s apps differ from ``first``'s ('' where they are the same names with the same
    SLOs), worded to be followed by "window 0"."""
    was = {a.name: a.slo for a in first.workload.apps}
    now = {a.name: a.slo for a in plan.workload.apps}
    more, fewer = [n for n in now if n not in was], [n for n in was if n not in now]
    if more or fewer:
        names = [f"{word} app(s) {', '.join(map(repr, some[:3]))}{' ...' if len(some) > 3 else ''}"
                 for word, some in (("has", more), ("lacks", fewer)) if some]
        return f"{' and '.join(names)}, unlike"
    slo = next((n for n in now if now[n] != was[n]), None)
    return "" if slo is None else f"gives app {slo!r} SLO {now[slo]:g} s, against {was[slo]:g} s in"


def load_schedule(path: str | Path) -> Schedule:
    """Read a schedule JSON file (as ``harmonybatch-mp replan --json`` writes)."""
    return Schedule.from_dict(v.read_json(path, "schedule"), where=f"schedule {str(path)!r}")


def check_schedule(schedule: Schedule) -> None:
    """Run :func:`~harmonybatch_mp.check_plan` on every window's plan, and check that each
    window's ``reconfigurations`` are those its plan needs after the window before (the first
    window's: every function it starts); raise naming the window. A file whose counts were
    edited passed, and :func:`~harmonybatch_mp.report.format_schedule` reported their sum."""
    from .check import check_plan
    from .errors import PlanCheckError

    v.instance(schedule, Schedule, "schedule")
    before = None
    for i, w in enumerate(schedule.windows):
        where = f"window {i} (start {w.start:g} s)"
        try:
            check_plan(w.plan)
        except PlanCheckError as exc:
            raise PlanCheckError([f"{where}: {p}" for p in exc.problems]) from None
        needed = reconfigurations(before, w.plan)
        if w.reconfigurations != needed:
            raise PlanCheckError([f"{where}: {w.reconfigurations} reconfigurations, but its plan starts or "
                                  f"reconfigures {needed} function(s) after the window before"])
        before = w.plan
