"""Validation helpers shared by the input parsers (profiles, platforms, workloads)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import InputError


def number(value: Any, where: str, *, positive: bool = False, nonnegative: bool = False) -> float:
    """Return ``value`` as a finite float, or raise an InputError naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{where}: expected a number, got {value!r}") from None
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{where}: must be finite, got {value!r}")
    if positive and value <= 0:
        raise InputError(f"{where}: must be > 0, got {value!r}")
    if nonnegative and value < 0:
        raise InputError(f"{where}: must be >= 0, got {value!r}")
    return value


def integer(value: Any, where: str, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int (no fractional part), or raise an InputError."""
    x = number(value, where)
    if x != int(x):
        raise InputError(f"{where}: expected a whole number, got {value!r}")
    if minimum is not None and x < minimum:
        raise InputError(f"{where}: must be >= {minimum}, got {value!r}")
    return int(x)


def field(obj: Any, key: str, where: str) -> Any:
    """Return ``obj[key]`` of a mapping, or raise an InputError naming the missing field."""
    if not isinstance(obj, Mapping):
        raise InputError(f"{where}: expected an object, got {type(obj).__name__}")
    if key not in obj:
        raise InputError(f"{where}.{key}: missing field" if where else f"{key}: missing field")
    return obj[key]


def read_json(path: str | Path, what: str) -> Any:
    """Read a JSON file, turning I/O and syntax errors into InputErrors naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{what} file {str(path)!r}: cannot read ({exc.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{what} file {str(path)!r}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
