"""Request-rate traces: per-minute request counts per app (the Azure Functions trace layout),
read from CSV with errors naming the row and minute."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _validate as v
from ._io import as_path, csv_rows
from .errors import InputError

#: Largest count one minute of a trace may hold (the simulator's request cap).
MAX_COUNT_PER_MINUTE = 20_000_000


@dataclass(frozen=True)
class Trace:
    """Per-minute request counts per app (the Azure Functions invocation-trace layout)."""

    counts: Mapping[str, tuple[float, ...]]

    def __post_init__(self) -> None:
        """Built in code, a trace is checked as a file is: app names, counts finite, >= 0 and at
        most :data:`MAX_COUNT_PER_MINUTE`, every app the same number of minutes.

        >>> Trace({"a": (1, 2), "b": (3,)})
        Traceback (most recent call last):
        ...
        harmonybatch_mp.errors.InputError: trace: app 'b': 1 minutes, but app 'a' has 2
        """
        if not isinstance(self.counts, Mapping):
            raise InputError(f"trace: counts: expected a mapping of app name to per-minute counts, "
                             f"got {type(self.counts).__name__}")
        counts: dict[str, tuple[float, ...]] = {}
        for name, row in self.counts.items():
            if not isinstance(name, str) or not name.strip():
                raise InputError(f"trace: app name: expected a non-empty string, got {name!r:.60}")
            if isinstance(row, (str, bytes)) or not isinstance(row, Iterable):
                raise InputError(f"trace: app {name!r}: expected a sequence of per-minute counts, "
                                 f"got {type(row).__name__}")
            counts[name] = _counts(name, row)
            first = next(iter(counts))
            if len(counts[name]) != len(counts[first]):
                raise InputError(f"trace: app {name!r}: {len(counts[name])} minutes, but app {first!r} has "
                                 f"{len(counts[first])}")
        object.__setattr__(self, "counts", counts)

    @property
    def minutes(self) -> int:
        return max((len(c) for c in self.counts.values()), default=0)


def _counts(name: str, row: Iterable) -> tuple[float, ...]:
    """An app's per-minute counts as floats, each checked (a row of floats in range, as
    :func:`load_trace` makes, in one pass of numpy)."""
    row = tuple(row)
    if all(type(x) is float for x in row):  # (not bools, which float() would take as 0 and 1)
        values = np.array(row)
        if np.all((values >= 0) & (values <= MAX_COUNT_PER_MINUTE)):  # (False for NaN)
            return row
    return tuple(v.number(x, f"trace: app {name!r}, minute {j}", nonnegative=True, maximum=MAX_COUNT_PER_MINUTE)
                 for j, x in enumerate(row, 1))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_trace(path: str | Path) -> Trace:
    """Read a trace CSV: one row per app, the app name followed by its per-minute counts.

    A first row whose first field is ``name`` or ``app``, or whose second field is not a
    number, is taken as a header and skipped.
    Every row must have the same number of minutes; counts must be finite and >= 0.
    """
    path = as_path(path, "trace")
    rows = [cells for _, cells in csv_rows(path, "trace")]
    if rows and len(rows[0]) > 1 and (rows[0][0].strip().lower() in ("name", "app") or not _is_number(rows[0][1])):
        rows = rows[1:]  # a header line
    if not rows:
        raise InputError(f"trace file {str(path)!r}: no rows; expected 'name,count,count,...' per app")
    counts: dict[str, tuple[float, ...]] = {}
    width = None
    for k, row in enumerate(rows, 1):
        name = row[0].strip()
        where = f"trace file {str(path)!r}, row {k} ({name!r})"
        if not name:
            raise InputError(f"{where}: empty app name")
        if name in counts:
            raise InputError(f"{where}: app {name!r} appears twice")
        if len(row) < 2:
            raise InputError(f"{where}: no counts")
        vals = tuple(v.number(x.strip(), f"{where}, minute {j}", nonnegative=True, maximum=MAX_COUNT_PER_MINUTE,
                              text=True)
                     for j, x in enumerate(row[1:], 1))
        if width is not None and len(vals) != width:
            raise InputError(f"{where}: {len(vals)} minutes, but the first row has {width}")
        width = len(vals)
        counts[name] = vals
    return Trace(counts)
