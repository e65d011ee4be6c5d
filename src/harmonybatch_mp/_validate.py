"""Validation helpers shared by the input parsers (profiles, platforms, workloads)."""

from __future__ import annotations

import difflib
import json
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError


def number(value: Any, where: str, *, positive: bool = False, nonnegative: bool = False,
           maximum: float | None = None, minimum: float | None = None, text: bool = False) -> float:
    """Return ``value`` as a finite float, or raise an InputError naming ``where``.

    Booleans are not numbers (JSON ``true`` is not 1), and neither is text unless ``text`` is
    set, as the readers of CSV files and command lines set it (a JSON ``"1"`` is a string);
    numbers too large for a float are an error, not an OverflowError.

    >>> number("2.5", "csv: rate", text=True)
    2.5
    >>> number("2.5", "app 'a': rate")
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: app 'a': rate: expected a number, got '2.5'
    """
    if isinstance(value, bool):
        raise InputError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, (str, bytes, bytearray)) and not text:
        raise InputError(f"{where}: expected a number, got {shown(value)}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected a number, got {shown(value)}") from None
    except OverflowError:
        raise InputError(f"{where}: {shown(value)} is too large a number") from None
    if not math.isfinite(value):
        raise InputError(f"{where}: must be finite, got {value!r}")
    if positive and value <= 0:
        raise InputError(f"{where}: must be > 0, got {value!r}")
    if nonnegative and value < 0:
        raise InputError(f"{where}: must be >= 0, got {value!r}")
    if minimum is not None and value < minimum:
        raise InputError(f"{where}: must be >= {minimum:g}, got {value!r}")
    if maximum is not None and value > maximum:
        raise InputError(f"{where}: must be <= {maximum:g}, got {value!r}")
    return value


#: Largest count an option takes (a limit, a side constraint's count): the compiled kernels and
#: numpy count in 64-bit integers, and a larger count limits nothing a workload can reach.
MOST_COUNT = 2**62

#: Integer types :func:`whole` takes at once (``bool`` is not one of them).
_INTEGERS = frozenset({int, np.int64, np.int32, np.intp})


def whole(value: Any) -> int | None:
    """``value`` as an int where it is of a whole-number type (``int``, numpy's integers; not a
    bool), else None: a count computed with numpy is a count.

    >>> import numpy as np
    >>> whole(np.int64(3)), whole(3.0), whole(True)
    (3, None, None)
    """
    if type(value) in _INTEGERS:  # the solvers' loops ask without the abc check below (dp, 300 apps: 150,000
        return int(value)  # configuration indices, 6% of its time)
    return int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else None


def real(value: Any) -> float | None:
    """``value`` as a float where it is of a real-number type (``int``, ``float``, numpy's; not a
    bool), else None; an int too large for a float is inf.

    >>> import numpy as np
    >>> real(np.float32(0.5)), real(10**400), real("1"), real(np.True_)
    (0.5, inf, None, None)
    """
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf


def comparable(value: Any) -> float | None:
    """``value`` as a float where it is a real number other than nan (infinities included: a
    time that never comes), else None.

    >>> comparable(-math.inf), comparable(math.nan), comparable("1")
    (-inf, None, None)
    """
    x = real(value)
    return None if x is None or x != x else x


def indent(value: Any) -> int | None:
    """A JSON indent: None (one line) or a whole number of spaces from 0 to 64.

    >>> indent(2), indent(None)
    (2, None)
    """
    if value is None:
        return None
    n = whole(value)
    if n is None or not 0 <= n <= 64:
        raise InputError(f"indent: expected None or a whole number of spaces from 0 to 64, got {shown(value)}")
    return n


def shown(value: Any) -> str:
    """``value``'s repr, cut to 40 characters for a message.

    >>> shown(10**50)
    '1000000000000000000000000000000000000...'
    """
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def reals(value: Any, where: str) -> np.ndarray:
    """``value``, a number or an array of numbers (bools and integers too, not text), as a float
    array; else an InputError naming ``where``. The equations' functions take these.

    >>> reals([1, 2.5], "batch").tolist(), reals(np.int64(3), "batch").tolist()
    ([1.0, 2.5], 3.0)
    >>> reals("2", "vcpu")
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: vcpu: expected a number or an array of numbers, got '2'
    """
    if type(value) is np.ndarray and value.dtype == np.float64:
        return value  # (as the solvers pass them: no copy)
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):  # (a ragged list)
        array = None
    if array is None or array.dtype.kind not in "biuf":
        raise InputError(f"{where}: expected a number or an array of numbers, got {shown(value)}")
    return array.astype(float, copy=False)


def together(where: str, **arrays: np.ndarray) -> None:
    """An InputError naming ``where`` and the arrays' shapes unless they broadcast together.

    >>> together("slo_timeouts", slos=np.zeros(3), latency_max=np.zeros(2))
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: slo_timeouts: slos (3,) and latency_max (2,) do not broadcast together
    """
    try:
        np.broadcast_shapes(*(np.shape(a) for a in arrays.values()))
    except ValueError:
        shapes = " and ".join(f"{name} {np.shape(a)}" for name, a in arrays.items())
        raise InputError(f"{where}: {shapes} do not broadcast together") from None


def integer(value: Any, where: str, *, minimum: int | None = None, maximum: int | None = None,
            text: bool = False) -> int:
    """Return ``value`` as an int (no fractional part), or raise an InputError; text as
    :func:`number` takes it."""
    x = number(value, where, text=text)
    if x != int(x):
        raise InputError(f"{where}: expected a whole number, got {shown(value)}")
    if minimum is not None and x < minimum:
        raise InputError(f"{where}: must be >= {minimum}, got {shown(value)}")
    if maximum is not None and x > maximum:
        raise InputError(f"{where}: must be <= {maximum}, got {shown(value)}")
    return int(x)


def instance(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    """``value`` if it is a ``kind`` (or one of them), or an InputError naming ``where`` (and
    what it got).

    >>> instance(None, float, "rate")
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: rate: expected a float, got NoneType
    """
    if not isinstance(value, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise InputError(f"{where}: expected a {names}, got {type(value).__name__}")
    return value


def choice(value: Any, choices: Sequence[str], where: str) -> str:
    """``value`` if it is one of the strings ``choices``, or an InputError naming ``where`` and
    them (an array or a list is refused as such, not compared item by item).

    >>> choice("full", ("expected", "full-batch"), "cost_model")
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: cost_model must be one of expected, full-batch, got 'full'
    """
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"{where} must be one of {', '.join(choices)}, got {shown(value)}")
    return value


def flag(value: Any, where: str) -> bool:
    """``value`` as a bool if it is True or False (numpy's too), or an InputError naming
    ``where``. Anything else is refused: the string ``"false"`` is truthy, so taking it as it
    is would switch the option on.

    >>> flag("false", "simulate: log")
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: simulate: log: expected True or False, got 'false'
    """
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{where}: expected True or False, got {value!r:.40}")
    return bool(value)


def attributes(value: Any, names: tuple[str, ...], where: str) -> Any:
    """``value`` if it has every attribute of ``names``, or an InputError naming the first it lacks.

    >>> attributes(3, ("kind", "batch"), "the function")
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: the function must have kind, batch; int has no kind
    """
    for name in names:
        if not hasattr(value, name):
            raise InputError(f"{where} must have {', '.join(names)}; {type(value).__name__} has no {name}")
    return value


def function(value: Any, where: str, *, optional: bool = False) -> Any:
    """``value`` if it can be called (or is None, where ``optional``), or an InputError naming
    ``where``: a callback that is not one fails here, not once the work it reports on is done.

    >>> function("x", "progress", optional=True)
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: progress: expected a callable, got str
    """
    if not (callable(value) or optional and value is None):
        raise InputError(f"{where}: expected a callable, got {type(value).__name__}")
    return value


def listed(value: Any, where: str, what: str, hint: str = "") -> list:
    """The items of ``value`` as a list, or an InputError: "``where``: expected ``what``, got
    <type>``hint``" (no ``where``: no prefix). A string or a mapping is not a list of items.

    >>> listed("cpu", "kinds", "a sequence of function kinds")
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: kinds: expected a sequence of function kinds, got str
    """
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise InputError(f"{where + ': ' if where else ''}expected {what}, got {type(value).__name__}{hint}")
    return list(value)


def seed(value: Any, where: str) -> int | None:
    """A random seed: None, or a whole number >= 0 (what numpy's generators take).

    >>> seed(-1, "seed")
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: seed: expected a whole number >= 0 or None, got -1
    """
    count = whole(value)
    if value is not None and (count is None or count < 0):
        raise InputError(f"{where}: expected a whole number >= 0 or None, got {shown(value)}")
    return count


def prefix(where: Any) -> str:
    """``where``, the prefix a parser puts before the fields it names, if it is a string."""
    if not isinstance(where, str):
        raise InputError(f"where: expected a string to name the input in messages, got {shown(where)}")
    return where


def field(obj: Any, key: str, where: str) -> Any:
    """Return ``obj[key]`` of a mapping, or raise an InputError naming the missing field."""
    if not isinstance(obj, Mapping):
        raise InputError(f"{where}: expected an object, got {type(obj).__name__}")
    if key not in obj:
        raise InputError(f"{where}.{key}: missing field" if where else f"{key}: missing field")
    return obj[key]


def only(obj: Any, keys: Sequence[str], where: str) -> None:
    """Raise an InputError naming the first field of the mapping ``obj`` that is not one of
    ``keys``, and the field it is closest to; a field misspelt would be missing where it is
    required, and where it is not, its default would be read in its place.

    >>> only({"xi1": 1.0, "gpu_shares": 0.5}, ("xi1", "gpu_share"), "profile.gpu")
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: profile.gpu: unknown field 'gpu_shares' (did you mean 'gpu_share'?); \
its fields: xi1, gpu_share
    """
    if not isinstance(obj, Mapping):
        return
    for key in obj:
        if key not in keys:
            close = difflib.get_close_matches(str(key), keys, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(f"{where + ': ' if where else ''}unknown field {shown(key)}{hint}; "
                             f"its fields: {', '.join(keys)}")


def loads(text: str, what: str) -> Any:
    """Parse JSON text, turning syntax errors (and integers Python will not convert) into
    InputErrors naming ``what``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{what}: unreadable JSON ({str(exc)[:80]})") from None


def read_json(path: str | Path, what: str) -> Any:
    """Read a JSON file, turning I/O and syntax errors into InputErrors naming the file."""
    from ._io import read_text

    return loads(read_text(path, what), f"{what} file {str(Path(path))!r}")
