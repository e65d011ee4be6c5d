"""File input and output shared by every reader and writer of the library.

Reads accept UTF-8 with or without a byte-order mark (Excel's "CSV UTF-8") and turn
undecodable or oversized files into an :class:`InputError` naming the file. Writes go
to a temporary file in the target's folder and replace the target only once complete,
so a failed write (full disk, file-size limit) never leaves a truncated file behind.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import InputError

#: Largest input file read (bytes).
MAX_INPUT_BYTES = 256 * 1024 * 1024


def as_path(path: str | Path, what: str) -> Path:
    """``path`` as a Path, or an InputError naming ``what`` file it should have been."""
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"{what} file: expected a path, got {type(path).__name__}")
    return Path(path)


def read_text(path: str | Path, what: str) -> str:
    """The text of a UTF-8 file (a leading BOM is dropped), or an InputError naming it.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "w.csv")
    >>> _ = open(p, "wb").write(b"\\xef\\xbb\\xbfname,slo,rate\\n")
    >>> read_text(p, "workload")
    'name,slo,rate\\n'
    >>> _ = open(p, "wb").write(b"name\\xe9\\n")
    >>> read_text(p, "workload")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: workload file '...w.csv': not UTF-8 text (byte 0xe9 at offset 4); ...
    >>> import shutil; shutil.rmtree(os.path.dirname(p))
    """
    path = as_path(path, what)
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise InputError(f"{what} file {str(path)!r}: {size} bytes is more than the {MAX_INPUT_BYTES} "
                             f"bytes this reader accepts")
        with open(path, "rb") as fh:  # at most one byte past the cap: a device or pipe has no size to check
            data = fh.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{what} file {str(path)!r}: cannot read ({exc.strerror})") from None
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"{what} file {str(path)!r}: more than the {MAX_INPUT_BYTES} bytes this reader accepts "
                         f"(it does not end: a device or stream?)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} file {str(path)!r}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start}); save it as UTF-8") from None


def csv_records(path: str | Path, what: str) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header of a CSV file (cells stripped) and its records, ``(line, {column: cell})``,
    read lazily; blank lines are skipped and a short row's missing cells read ``""``. A column
    named twice in the header, a row with more cells than the header or a line the csv module
    cannot read (a cell past its field limit) is an InputError naming the file and the line.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "w.csv")
    >>> _ = open(p, "w").write("name, slo\\na,0.5\\n\\nb\\n")
    >>> header, records = csv_records(p, "workload")
    >>> header, list(records)
    (['name', 'slo'], [(2, {'name': 'a', 'slo': '0.5'}), (4, {'name': 'b', 'slo': ''})])
    >>> _ = open(p, "w").write("name,slo\\na,0.5,7\\n")
    >>> list(csv_records(p, "workload")[1])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    harmonybatch_mp.errors.InputError: workload file '...w.csv', line 2: 3 cells, more than the header's 2 columns
    >>> import shutil; shutil.rmtree(os.path.dirname(p))
    """
    path = as_path(path, what)
    rows = csv_rows(path, what)
    first = next(rows, None)
    header = first[1] if first else []
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise InputError(f"{what} file {str(path)!r}: column(s) {', '.join(twice)} appear twice in the header")

    def records() -> Iterator[tuple[int, dict[str, str]]]:
        for line, cells in rows:
            if len(cells) > len(header):
                raise InputError(f"{what} file {str(path)!r}, line {line}: {len(cells)} cells, more than the "
                                 f"header's {len(header)} columns")
            yield line, dict(zip(header, cells + [""] * (len(header) - len(cells))))
    return header, records()


def csv_rows(path: str | Path, what: str) -> Iterator[tuple[int, list[str]]]:
    """The rows of a CSV file, ``(line, cells)`` with the cells stripped, skipping blank
    lines; a line the csv module cannot read is an InputError naming the file and the line."""
    path = as_path(path, what)
    reader = csv.reader(io.StringIO(read_text(path, what)))
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(f"{what} file {str(path)!r}, line {reader.line_num}: {exc}") from None
        cells = [c.strip() for c in row]
        if any(cells):
            yield reader.line_num, cells


@contextlib.contextmanager
def atomic_output(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    On any error the temporary file is removed and ``path`` is left as it was; an
    OSError becomes an InputError naming ``path``. Through a symlink, the file it names is
    replaced (the link stays); a device or FIFO is yielded itself and written in place (a
    rename would put a regular file where ``/dev/null`` or a pipe was).
    """
    path = as_path(path, "output")
    target = Path(os.path.realpath(path))  # a symlink stays one: the file it names is replaced
    if target.exists() and not target.is_file() and not target.is_dir():
        try:  # a device or FIFO (/dev/stdout, /dev/null): written in place, never replaced by a file
            yield target
        except OSError as exc:
            raise InputError(f"cannot write {str(path)!r} ({exc.strerror})") from None
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + ".tmp", dir=target.parent)
    except OSError as exc:
        raise InputError(f"cannot write {str(path)!r} ({exc.strerror})") from None
    os.close(fd)
    try:
        mode = target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~_umask()
        os.chmod(tmp, mode)  # mkstemp creates 0600; keep the target's mode (or the umask's default)
        yield Path(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise InputError(f"cannot write {str(path)!r} ({exc.strerror}); the file was left as it was") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def print_out(text: str) -> None:
    """Print ``text`` and a newline on standard output, flushed. A write that fails (a full
    disk: ``plan > /dev/full``) is an InputError naming standard output, not a traceback; a
    reader gone (BrokenPipeError) is raised as it is, for the CLI to stop quietly. Either way
    standard output is then the null device, so the exit does not write the text again.
    Characters its encoding cannot show (an app named ``café`` on an ASCII terminal) come out
    escaped (``caf\\xe9``), not as a UnicodeEncodeError."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    text = text.encode(encoding, "backslashreplace").decode(encoding)
    try:
        print(text, flush=True)
    except BrokenPipeError:
        drop_stdout()
        raise
    except OSError as exc:
        drop_stdout()
        raise InputError(f"cannot write to standard output ({exc.strerror})") from None


def drop_stdout() -> None:
    """Point standard output at the null device (its writes failed: what is buffered is lost).
    A standard output that is no file (a caller's own object) is left as it is."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)


def _umask() -> int:
    """The process umask, read without changing it where the system allows (threads may be
    creating files meanwhile)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        if stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # (a FIFO or device written in place has no disk to sync)
            os.fsync(fh.fileno())
