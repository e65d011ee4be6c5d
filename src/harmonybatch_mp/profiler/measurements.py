"""Measurement tables of the profiler: CSV input and output, validation naming row and column.

Header ``kind,vcpu,gpu_mem_gb,batch,latency_s[,mem_mb]``, one latency sample per row
(``vcpu`` empty for GPU rows, ``gpu_mem_gb`` empty for CPU rows).
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validate as v
from .._io import as_path, atomic_output, csv_records
from ..errors import InputError

#: Largest memory (MB: one TB, the largest GPU a profile may describe) and latency (s) a row may hold.
MAX_MEM_MB, MAX_LATENCY_S = 1024.0 * 1024.0, 3600.0
#: Most measurement rows read: a million fit in 4.5 s and 750 MB on the 2-core machine; a file
#: at the readers' size cap holds about 15 million, which would need some 11 GB.
MAX_ROWS = 1_000_000

#: Required columns of a measurement CSV (``mem_mb`` is optional).
COLUMNS = ("kind", "vcpu", "gpu_mem_gb", "batch", "latency_s")


@dataclass(frozen=True)
class Measurements:
    """A validated measurement table (arrays aligned by sample; ``line`` is the CSV line)."""

    kind: np.ndarray
    vcpu: np.ndarray
    gpu_mem_gb: np.ndarray
    batch: np.ndarray
    latency: np.ndarray
    mem_mb: np.ndarray
    line: np.ndarray

    def select(self, mask: np.ndarray) -> Measurements:
        """The measurements where ``mask`` (a boolean array, one entry per measurement) holds."""
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != self.batch.shape:
            raise InputError(f"select: expected a boolean array of {len(self.batch)} entries, one per measurement, "
                             f"got {mask.dtype} of shape {mask.shape}")
        return Measurements(**{f.name: getattr(self, f.name)[mask] for f in dataclasses.fields(self)})

    def rows(self) -> list[dict[str, Any]]:
        """The measurements as rows with the CSV's columns (``mem_mb`` where measured), as
        :func:`profile_callable` returns them: :func:`write_measurements` writes either."""
        out = []
        for kind, vcpu, gpu, batch, latency, mem in zip(self.kind, self.vcpu, self.gpu_mem_gb, self.batch,
                                                        self.latency, self.mem_mb):
            row = {"kind": str(kind), "vcpu": float(vcpu) if kind == "cpu" else "",
                   "gpu_mem_gb": int(gpu) if kind == "gpu" else "", "batch": int(batch), "latency_s": float(latency)}
            out.append(row if math.isnan(mem) else {**row, "mem_mb": float(mem)})
        return out


def measurements_from_rows(rows: Iterable[Mapping[str, Any]], where: str = "measurements",
                           first_line: int = 1) -> Measurements:
    """Validate measurement rows (mappings with the CSV's keys); errors name the row and column."""
    where, first_line = v.prefix(where), v.integer(first_line, "first_line", minimum=0)
    rows = v.listed(rows, where, "rows (mappings of column to value)")
    if len(rows) > MAX_ROWS:
        raise InputError(f"{where}: more than {MAX_ROWS:,} rows; a profile needs far fewer (sample them)")
    cols: dict[str, list] = {k: [] for k in ("kind", "vcpu", "gpu_mem_gb", "batch", "latency", "mem_mb", "line")}
    for k, row in enumerate(rows):
        line = first_line + k
        w = f"{where}, row {line}"
        if not isinstance(row, Mapping):
            raise InputError(f"{w}: expected a mapping of column to value, got {type(row).__name__}")
        missing = [c for c in COLUMNS if c not in row]
        if missing:
            raise InputError(f"{where}: missing column(s) {', '.join(missing)}; expected header {','.join(COLUMNS)}")
        kind = str(row["kind"]).strip().lower()
        if kind not in ("cpu", "gpu"):
            raise InputError(f"{w}, column kind: expected cpu or gpu, got {row['kind']!r}")
        cols["kind"].append(kind)
        if kind == "cpu":
            cols["vcpu"].append(v.number(row["vcpu"], f"{w}, column vcpu", positive=True, text=True))
            cols["gpu_mem_gb"].append(0)
        else:
            cols["vcpu"].append(0.0)
            cols["gpu_mem_gb"].append(v.integer(row["gpu_mem_gb"], f"{w}, column gpu_mem_gb", minimum=1,
                                                maximum=int(MAX_MEM_MB // 1024), text=True))
        cols["batch"].append(v.integer(row["batch"], f"{w}, column batch", minimum=1, maximum=1024, text=True))
        cols["latency"].append(v.number(row["latency_s"], f"{w}, column latency_s", positive=True,
                                        maximum=MAX_LATENCY_S, text=True))
        mem = row.get("mem_mb")
        cols["mem_mb"].append(math.nan if mem in (None, "") else v.number(mem, f"{w}, column mem_mb", positive=True,
                                                                           maximum=MAX_MEM_MB, text=True))
        cols["line"].append(line)
    if not cols["kind"]:
        raise InputError(f"{where}: no measurements")
    return Measurements(
        kind=np.array(cols["kind"]), vcpu=np.array(cols["vcpu"], float), gpu_mem_gb=np.array(cols["gpu_mem_gb"], int),
        batch=np.array(cols["batch"], int), latency=np.array(cols["latency"], float),
        mem_mb=np.array(cols["mem_mb"], float), line=np.array(cols["line"], int),
    )


def load_measurements(path: str | Path) -> Measurements:
    """Read and validate a measurement CSV (see the module docstring)."""
    path = as_path(path, "measurements")
    header, records = csv_records(path, "measurements")
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InputError(f"measurements file {str(path)!r}: missing column(s) {', '.join(missing)}; "
                         f"expected header {','.join(COLUMNS)}[,mem_mb]")
    rows = [r for _, r in itertools.islice(records, MAX_ROWS + 1)]  # (one past the cap: refused, not all read)
    return measurements_from_rows(rows, where=f"measurements file {str(path)!r}", first_line=2)


def write_measurements(rows: Sequence[Mapping[str, Any]] | Measurements, path: str | Path) -> None:
    """Write measurement rows (as returned by :func:`profile_callable`), or :class:`Measurements`
    (as :func:`load_measurements` returns them, or a selection of them), to a CSV file, atomically."""
    if isinstance(rows, Measurements):
        rows = rows.rows()
    rows = v.listed(rows, "measurement rows", "mappings of column to value")
    if not all(isinstance(r, Mapping) for r in rows):
        raise InputError(f"measurement rows: expected mappings of column to value, got {rows!r:.60}")
    fields = [*COLUMNS, "mem_mb"] if any("mem_mb" in r for r in rows) else list(COLUMNS)
    with atomic_output(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


