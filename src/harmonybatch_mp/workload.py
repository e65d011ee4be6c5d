"""Applications and workloads: who shares the model, with which SLO and rate.

Every solver processes apps in one canonical order: SLO, then rate, then name
(:attr:`Workload.apps` is kept in that order), so a plan never depends on the
order in which apps were given.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _validate as v
from ._io import as_path, csv_records
from ._sums import ordered_sum
from .errors import InputError

#: Accepted ranges: an SLO of at most a day; rates from one request in 30 years to 1e9/s
#: (smaller rates underflow the cost arithmetic: a rate of 5e-324 gave a total cost of 0).
MAX_SLO, MIN_RATE, MAX_RATE = 86_400.0, 1e-9, 1e9
#: Most apps a workload may hold. Groups are bitmasks, whose operations grow with the apps, so
#: the work outside the solvers grows faster than n: 100,000 apps planned in 45 s and 2.2 GB
#: (time limit 5 s), 200,000 in 192 s and 8.2 GB (30 s), and 1,000,000 ran out of 12 GB
#: (``benchmarks/results/time_limits.md``).
MAX_APPS = 100_000


@dataclass(frozen=True)
class App:
    """One application: a latency SLO (s, end to end) and a Poisson arrival rate (requests/s).

    Examples
    --------
    >>> App("search", slo=0.5, rate=5.0)
    App(name='search', slo=0.5, rate=5.0)
    >>> App("x", slo=-1, rate=1)
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: app 'x': slo: must be > 0, got -1.0
    """

    name: str
    slo: float
    rate: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InputError(f"app name must be a non-empty string, got {self.name!r}")
        object.__setattr__(self, "slo", v.number(self.slo, f"app {self.name!r}: slo", positive=True, maximum=MAX_SLO))
        object.__setattr__(self, "rate", v.number(self.rate, f"app {self.name!r}: rate", positive=True,
                                                  minimum=MIN_RATE, maximum=MAX_RATE))

    @property
    def sort_key(self) -> tuple[float, float, str]:
        """Canonical order: SLO, then rate, then name."""
        return (self.slo, self.rate, self.name)


@dataclass(frozen=True)
class Workload:
    """A non-empty set of apps with distinct names, kept in canonical order.

    Examples
    --------
    >>> w = Workload([App("b", 1.0, 2), App("a", 0.5, 5)])
    >>> [a.name for a in w.apps], w.total_rate
    (['a', 'b'], 7.0)
    >>> [a.name for a in w], len(w)  # its apps, in that order
    (['a', 'b'], 2)
    """

    apps: tuple[App, ...]

    def __init__(self, apps: Iterable[App]):
        apps = tuple(v.listed(apps, "workload", "App objects", " (parse_apps reads 'SLO:RATE,...')"))
        if not apps:
            raise InputError("empty workload: give at least one app")
        if len(apps) > MAX_APPS:
            raise InputError(f"workload: {len(apps):,} apps is more than the {MAX_APPS:,} this library plans")
        for a in apps:
            if not isinstance(a, App):
                raise InputError(f"workload entries must be App objects, got {type(a).__name__}")
        seen: set[str] = set()
        for a in apps:
            if a.name in seen:
                raise InputError(f"app name {a.name!r} appears twice in the workload")
            seen.add(a.name)
        object.__setattr__(self, "apps", tuple(sorted(apps, key=lambda a: a.sort_key)))

    def __len__(self) -> int:
        return len(self.apps)

    def __iter__(self) -> Iterator[App]:
        return iter(self.apps)

    @property
    def total_rate(self) -> float:
        """``R``, the sum of all rates (requests/s)."""
        return ordered_sum(a.rate for a in self.apps)

    def by_name(self) -> dict[str, App]:
        """Map app name to app."""
        return {a.name: a for a in self.apps}

    def to_list(self) -> list[dict[str, Any]]:
        """JSON-friendly list of ``{"name", "slo", "rate"}``."""
        return [{"name": a.name, "slo": a.slo, "rate": a.rate} for a in self.apps]


#: The built-in default workload: 8 apps, SLOs 0.3..1.0 s, rates 2,2,5,5,10,10,20,20 rps.
DEFAULT_APPS = "0.3:2,0.4:2,0.5:5,0.6:5,0.7:10,0.8:10,0.9:20,1.0:20"


def parse_apps(spec: str) -> Workload:
    """Parse ``"SLO:RATE,SLO:RATE,..."``; apps are named ``app0, app1, ...`` in input order.

    Examples
    --------
    >>> [(a.name, a.slo, a.rate) for a in parse_apps("1.0:2, 0.5:5").apps]
    [('app1', 0.5, 5.0), ('app0', 1.0, 2.0)]
    >>> parse_apps("0.5")
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: --apps item 1 '0.5': expected SLO:RATE, e.g. 0.5:10
    """
    items = [s.strip() for s in str(spec).split(",")]
    if not any(items):
        raise InputError("--apps: empty workload: give at least one SLO:RATE pair")
    apps = []
    for i, item in enumerate(items):
        parts = item.split(":")
        if len(parts) != 2:
            raise InputError(f"--apps item {i + 1} {item!r}: expected SLO:RATE, e.g. 0.5:10")
        name = f"app{i}"
        slo, rate = (v.number(part, f"app {name!r}: {what}", text=True) for part, what in zip(parts, ("slo", "rate")))
        apps.append(App(name, slo, rate))
    return Workload(apps)


def workload_from_records(records: Any, where: str = "workload", *, rates: bool = True) -> Workload:
    """Build a workload from a list of ``{"name", "slo", "rate"}`` mappings (with ``rates=False``,
    ``{"name", "slo"}``: a ``rate`` is ignored and every rate reads as 1, as in an SLO file)."""
    where = v.prefix(where)
    rates = v.flag(rates, "workload_from_records: rates")
    if not isinstance(records, list):
        raise InputError(f"{where}: expected a list of objects with keys name, slo{', rate' if rates else ''}")
    apps = []
    for i, r in enumerate(records):
        w = f"{where} entry {i + 1}"
        name = v.field(r, "name", w)
        if not isinstance(name, str):
            raise InputError(f"{w}.name: expected a string, got {name!r}")
        apps.append(App(name, v.field(r, "slo", w), v.field(r, "rate", w) if rates else 1.0))
    return Workload(apps)


def load_workload(path: str | Path, *, rates: bool = True) -> Workload:
    """Load a workload from CSV (header ``name,slo,rate``) or JSON (list of objects).

    The format is chosen by the suffix (``.json``, else CSV). With ``rates=False`` (an SLO
    file for re-planning, whose rates come from a trace) a CSV needs only ``name,slo`` and a
    JSON file only ``name`` and ``slo`` per app; a rate is ignored and every rate reads as 1.
    """
    path = as_path(path, "workload")
    rates = v.flag(rates, "load_workload: rates")
    if path.suffix.lower() == ".json":
        return workload_from_records(v.read_json(path, "workload"), where=f"workload {str(path)!r}", rates=rates)
    header, records = csv_records(path, "workload")
    wanted = ("name", "slo", "rate") if rates else ("name", "slo")
    missing = [c for c in wanted if c not in header]
    if missing:
        raise InputError(f"workload file {str(path)!r}: missing column(s) {', '.join(missing)}; "
                         f"expected a header line '{','.join(wanted)}'")
    apps = []
    for line, row in records:
        w = f"workload file {str(path)!r}, line {line}"
        if not row.get("name"):
            raise InputError(f"{w}: empty name")
        try:
            rate = v.number(row["rate"], "rate", text=True) if rates else 1.0
            apps.append(App(row["name"], v.number(row["slo"], "slo", text=True), rate))
        except InputError as exc:
            raise InputError(f"{w}: {exc}") from None
    return Workload(apps)
