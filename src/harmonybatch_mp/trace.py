"""Request-rate traces: per-minute request counts per app (the Azure Functions trace layout),
read from CSV with errors naming the row and minute."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import _validate as v
from ._io import as_path, csv_rows
from .errors import InputError

#: Largest count one minute of a trace may hold (the simulator's request cap).
MAX_COUNT_PER_MINUTE = 20_000_000


@dataclass(frozen=True)
class Trace:
    """Per-minute request counts per app (the Azure Functions invocation-trace layout)."""

    counts: Mapping[str, tuple[float, ...]]

    @property
    def minutes(self) -> int:
        return max((len(c) for c in self.counts.values()), default=0)


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
        vals = tuple(v.number(x.strip(), f"{where}, minute {j}", nonnegative=True, maximum=MAX_COUNT_PER_MINUTE)
                     for j, x in enumerate(row[1:], 1))
        if width is not None and len(vals) != width:
            raise InputError(f"{where}: {len(vals)} minutes, but the first row has {width}")
        width = len(vals)
        counts[name] = vals
    return Trace(counts)
