"""Side constraints of the set-partitioning model (``formulations/set_partitioning.md``, "Model").

Each constraint has one section below: how it is validated, how it filters columns
(isolation, pinning) or which row it adds to the model (the counting constraints),
and its command-line flag. The counting rows are named as in the
formulation: ``max_gpu``, ``gpu_budget``, ``max_functions``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validate import MOST_COUNT, attributes, instance, listed, real, reals, shown, whole
from ..errors import InputError
from ..provision import KINDS

if TYPE_CHECKING:
    from ..provision import GroupConfig
    from .problem import Problem


def _whole(name: str, value: Any, lo: int) -> int | None:
    count = whole(value)
    if value is not None and (count is None or not lo <= count <= MOST_COUNT):
        raise InputError(f"side constraint {name}: expected a whole number from {lo} to {MOST_COUNT}, "
                         f"got {shown(value)}")
    return count


def _pairs(value: Any, name: str, expected: str) -> tuple[tuple[Any, Any], ...]:
    """``value``, an iterable of pairs, as a tuple of 2-tuples, or an InputError naming the
    constraint. A string is not a pair, nor a list of them: ``"ab"`` would read as ``("a", "b")``."""
    if isinstance(value, str):
        raise InputError(f"side constraint {name}: expected {expected} pairs, got {value!r}")
    try:
        items = list(value)
    except TypeError:
        raise InputError(f"side constraint {name}: expected {expected} pairs, got {value!r}") from None
    pairs = []
    for p in items:
        try:
            pair = None if isinstance(p, str) else tuple(p)
        except TypeError:
            pair = None
        if pair is None or len(pair) != 2:
            raise InputError(f"side constraint {name}: expected {expected} pairs, got {p!r}")
        pairs.append(pair)
    return tuple(pairs)


def _problem(problem: Any) -> Problem:
    """``problem`` if it is a :class:`~harmonybatch_mp.solvers.Problem`, else an InputError."""
    from .problem import Problem

    return instance(problem, Problem, "problem")


def _of(side: SideConstraints, problem: Any) -> Problem:
    """``problem`` checked, with every app ``side`` names among its apps."""
    problem = _problem(problem)
    if problem.side is not side:
        side.validate_names(a.name for a in problem.apps)
    return problem


def _plan(problem: Problem, masks: Any, configs: Any) -> tuple[list[int], list[Any]]:
    """A plan's groups (bitmasks of ``problem``'s apps) and their functions (anything with
    ``kind`` and ``gpu_mem_gb``: a :class:`GroupConfig`, a plan's :class:`GroupPlan`), checked."""
    masks = [problem.check_mask(m) for m in listed(masks, "masks", "a sequence of group bitmasks")]
    configs = [attributes(c, ("kind", "gpu_mem_gb"), "configs") for c in
               listed(configs, "configs", "a sequence of GroupConfig")]
    for c in configs:
        kind, memory = c.kind, real(c.gpu_mem_gb)
        if not (isinstance(kind, str) and kind in KINDS) or kind == "gpu" and not (memory and 0 < memory < math.inf):
            raise InputError(f"configs: expected a function kind ({', '.join(KINDS)}) and a GPU's memory in GB, "
                             f"got kind {c.kind!r:.20} and gpu_mem_gb {c.gpu_mem_gb!r:.20}")
    if len(configs) != len(masks):
        raise InputError(f"configs: expected one per group ({len(masks)}), got {len(configs)}")
    return masks, configs


def _least(kind: str, only: Collection[int], apart: Sequence[tuple[int, ...]], name: Sequence[str]) -> tuple[int, str]:
    """The functions of ``kind`` every plan has, and why: one if an app ``only`` it serves
    exists, two if two such apps are isolated from each other (:meth:`SideConstraints.impossible`)."""
    pairs = [(i, j) for i, j in apart if i in only and j in only]
    if pairs:
        i, j = pairs[0]
        return 2, f"isolated apps {name[i]!r} and {name[j]!r} can each be served only on {kind} functions"
    if only:
        return 1, f"app {name[min(only)]!r} can be served only on {kind} functions"
    return 0, ""


@dataclass(frozen=True)
class SideConstraints:
    """Optional side constraints; None / empty = not imposed.

    Attributes
    ----------
    max_gpu_functions : int, optional
        At most this many groups on GPU functions (row ``max_gpu``).
    gpu_memory_budget : float, optional
        Total GPU memory (GB) of all GPU functions at most this (row ``gpu_budget``).
    max_functions : int, optional
        At most this many groups (functions) in all (row ``max_functions``).
    isolate : tuple of (str, str)
        Pairs of apps that never share a group (a column filter).
    pin : tuple of (str, "cpu"|"gpu"), or a mapping app -> kind
        Apps served only by one function kind (a column filter). An app pinned twice
        is an error, even to the same kind.

    Examples
    --------
    >>> SideConstraints(max_gpu_functions=1, pin={"app0": "cpu"}).active()
    ['max_gpu_functions=1', 'pin=app0:cpu']
    """

    max_gpu_functions: int | None = None
    gpu_memory_budget: float | None = None
    max_functions: int | None = None
    isolate: tuple[tuple[str, str], ...] = ()
    pin: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        # --- max_gpu_functions, max_functions: whole numbers
        object.__setattr__(self, "max_gpu_functions", _whole("max_gpu_functions", self.max_gpu_functions, 0))
        object.__setattr__(self, "max_functions", _whole("max_functions", self.max_functions, 1))
        # --- gpu_memory_budget: a finite number of GB >= 0
        b = self.gpu_memory_budget
        if b is not None:
            gb = real(b)
            if gb is None or not 0 <= gb < math.inf:
                raise InputError(f"side constraint gpu_memory_budget: expected a number of GB >= 0, got {b!r}")
            object.__setattr__(self, "gpu_memory_budget", gb if whole(b) is None else whole(b))
        # --- isolate: pairs of two different app names
        isolate = _pairs(self.isolate, "isolate", "(app, app)")
        for p in isolate:
            if p[0] == p[1] or not all(isinstance(x, str) for x in p):
                raise InputError(f"side constraint isolate: expected pairs of two different app names, got {p!r}")
        object.__setattr__(self, "isolate", isolate)
        # --- pin: (app, kind) pairs, each app at most once
        pin = _pairs(self.pin.items() if isinstance(self.pin, Mapping) else self.pin, "pin", "(app, 'cpu'|'gpu')")
        seen: dict[str, str] = {}
        for p in pin:
            if not isinstance(p[0], str) or p[1] not in KINDS:
                raise InputError(f"side constraint pin: expected (app, 'cpu'|'gpu'), got {p!r}")
            if p[0] in seen:
                raise InputError(f"side constraint pin: app {p[0]!r} is pinned twice ({seen[p[0]]} and {p[1]})")
            seen[p[0]] = p[1]
        object.__setattr__(self, "pin", pin)

    # ------------------------------------------------------------------ summary
    @property
    def counting(self) -> bool:
        """Whether a constraint counts groups or their resources (such rows disable group dominance)."""
        return any(v is not None for v in (self.max_gpu_functions, self.gpu_memory_budget, self.max_functions))

    def active(self) -> list[str]:
        """Human-readable list of the imposed constraints."""
        out = [f"{n}={getattr(self, n)}" for n in ("max_gpu_functions", "gpu_memory_budget", "max_functions")
               if getattr(self, n) is not None]
        if self.isolate:
            out.append("isolate=" + ",".join(f"{a}/{b}" for a, b in self.isolate))
        if self.pin:
            out.append("pin=" + ",".join(f"{a}:{k}" for a, k in self.pin))
        return out

    def validate_names(self, names: Iterable[str]) -> None:
        """Raise InputError if an isolated or pinned app is not in the workload."""
        known = {instance(x, str, "names") for x in listed(names, "names", "an iterable of app names")}
        for what, apps in (("isolate", [x for p in self.isolate for x in p]), ("pin", [a for a, _ in self.pin])):
            for x in apps:
                if x not in known:
                    raise InputError(f"side constraint {what} names unknown app {x!r}")

    # ------------------------------------------------------------------ pin: column filter
    def kinds(self) -> dict[str, tuple[str, ...]]:
        """Allowed function kinds per pinned app (:class:`Problem` filters columns by them)."""
        return {a: (k,) for a, k in self.pin}

    # ------------------------------------------------------------------ isolate: column filter
    def separates(self, problem: Problem, mask: int) -> bool:
        """True if the group ``mask`` holds both apps of an isolated pair (it gets no column)."""
        problem = _of(self, problem)
        mask = problem.check_mask(mask)
        pairs = problem.isolated_pairs() if problem.side is self else [problem.mask_of(p) for p in self.isolate]
        return any((mask & p) == p for p in pairs)

    # ------------------------------------------------------------------ counting rows
    def rows(self, is_gpu: np.ndarray, gpu_mem: np.ndarray) -> list[tuple[str, np.ndarray, float]]:
        """The rows ``max_gpu``, ``gpu_budget`` and ``max_functions`` that are imposed, as
        ``(name, coefficient per column, upper bound)``.

        ``is_gpu`` and ``gpu_mem`` give, per column, whether it is a GPU function and its
        GPU memory (GB). Every backend builds its rows from this one description.
        """
        is_gpu, gpu_mem = reals(is_gpu, "rows: is_gpu"), reals(gpu_mem, "rows: gpu_mem")
        if is_gpu.ndim != 1 or gpu_mem.shape != is_gpu.shape:
            raise InputError(f"rows: is_gpu and gpu_mem must be 1-D arrays of one length, got shapes "
                             f"{is_gpu.shape} and {gpu_mem.shape}")
        ones = np.ones(len(is_gpu))
        out = []
        if self.max_gpu_functions is not None:
            out.append(("max_gpu", is_gpu, float(self.max_gpu_functions)))
        if self.gpu_memory_budget is not None:
            out.append(("gpu_budget", is_gpu * gpu_mem, float(self.gpu_memory_budget)))
        if self.max_functions is not None:
            out.append(("max_functions", ones, float(self.max_functions)))
        return out

    # ------------------------------------------------------------------ the whole plan
    def allows(self, problem: Problem, masks: Sequence[int], configs: Sequence[GroupConfig]) -> bool:
        """Whether a plan (groups with their functions, as for :meth:`broken`) keeps every side constraint."""
        return not self.broken(problem, masks, configs)

    def broken(self, problem: Problem, masks: Sequence[int], configs: Sequence[GroupConfig]) -> list[str]:
        """The side constraints a plan breaks, one line each (empty: none). The plan is its groups
        (bitmasks of ``problem``'s apps) and their functions: :class:`GroupConfig` or anything
        else with ``kind`` and ``gpu_mem_gb`` (a plan's :class:`~harmonybatch_mp.GroupPlan`).

        Examples
        --------
        >>> from harmonybatch_mp.solvers import Problem, as_instance
        >>> side = SideConstraints(max_functions=1, isolate=[("app0", "app1")])
        >>> problem = Problem(*as_instance("0.5:5,0.8:10", "VGG19"), side=side)
        >>> side.broken(problem, [3], [problem.group(3)])
        ['isolate=app0/app1: the pair shares a group']
        """
        problem = _of(self, problem)
        masks, configs = _plan(problem, masks, configs)
        out = []
        if self.max_functions is not None and len(masks) > self.max_functions:
            out.append(f"max_functions={self.max_functions}: the plan has {len(masks)} functions")
        gpus = [c for c in configs if c.kind == "gpu"]
        if self.max_gpu_functions is not None and len(gpus) > self.max_gpu_functions:
            out.append(f"max_gpu_functions={self.max_gpu_functions}: the plan has {len(gpus)} GPU functions")
        memory = sum(c.gpu_mem_gb for c in gpus)
        if self.gpu_memory_budget is not None and memory > self.gpu_memory_budget:
            out.append(f"gpu_memory_budget={self.gpu_memory_budget:g}: the plan's GPU functions have {memory:g} GB")
        for pair in self.isolate:
            both = problem.mask_of(pair)
            if any(m & both == both for m in masks):
                out.append(f"isolate={pair[0]}/{pair[1]}: the pair shares a group")
        for m, c in zip(masks, configs):
            if c.kind not in problem.kinds_of(m):
                out += [f"pin={problem.apps[i].name}:{problem.app_kinds[i][0]}: on a {c.kind} function"
                        for i in range(problem.n) if m >> i & 1 and c.kind not in problem.app_kinds[i]]
        return out

    # ------------------------------------------------------------------ from the apps alone
    def impossible(self, problem: Problem) -> list[str]:
        """Side constraints no plan can keep, found from the apps alone, one line each (empty:
        none found, which does not prove a plan exists).

        A group can use only the classes of function (CPU, or one GPU memory size) every member
        can use alone (``formulations/set_partitioning.md``, "Plans no constraint allows"). So
        an app no CPU function serves needs a GPU function of at least the smallest memory it
        can use alone; two such apps isolated from each other need two; and an app only CPU
        serves never shares a function with one only GPU serves.

        Examples
        --------
        >>> from harmonybatch_mp.solvers import Problem, as_instance
        >>> side = SideConstraints(gpu_memory_budget=8, pin={"app0": "gpu"})
        >>> side.impossible(Problem(*as_instance("0.5:5", "GPT-2"), side=side))
        ["gpu_memory_budget=8: app 'app0' can be served only on a GPU function of at least 13 GB"]
        """
        problem = _of(self, problem)
        if not self.counting:
            return []
        gpu: dict[int, float] = {}  # the apps only GPU serves, with the smallest memory each can use
        cpu: set[int] = set()  # the apps only CPU serves
        alone = problem.full_batch_view()  # an app's classes alone are the same under both cost models
        for i in range(problem.n):
            classes = alone.per_class(1 << i)
            kinds = {c.kind for c in classes}  # (none: an app no function serves, named elsewhere)
            if kinds == {"gpu"}:
                gpu[i] = min(c.gpu_mem_gb for c in classes)
            elif kinds == {"cpu"}:
                cpu.add(i)
        name = [a.name for a in problem.apps]
        index = {a: i for i, a in enumerate(name)}
        apart = [tuple(sorted(index[a] for a in pair)) for pair in self.isolate]
        gpus, gpu_why = _least("GPU", gpu, apart, name)
        cpus, cpu_why = _least("CPU", cpu, apart, name)
        out = []
        if self.max_gpu_functions is not None and gpus > self.max_gpu_functions:
            out.append(f"max_gpu_functions={self.max_gpu_functions}: {gpu_why}")
        if self.gpu_memory_budget is not None and gpu:
            memory, why = max([(m, f"app {name[i]!r} can be served only on a GPU function of at least {m:g} GB")
                               for i, m in gpu.items()]
                              + [(gpu[i] + gpu[j], f"isolated apps {name[i]!r} and {name[j]!r} can be served only "
                                                   f"on GPU functions of at least {gpu[i]:g} and {gpu[j]:g} GB")
                                 for i, j in apart if i in gpu and j in gpu], key=lambda t: t[0])
            if memory > self.gpu_memory_budget:
                out.append(f"gpu_memory_budget={self.gpu_memory_budget:g}: {why}")
        if self.max_functions is not None and max(gpus + cpus, 2 if apart else 0) > self.max_functions:
            why = ("; ".join(w for w in (gpu_why, cpu_why) if w) if gpus + cpus > self.max_functions
                   else f"apps {name[apart[0][0]]!r} and {name[apart[0][1]]!r} are isolated")
            out.append(f"max_functions={self.max_functions}: {why}")
        return out

    # ------------------------------------------------------------------ command line
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """The command-line flags, one per constraint."""
        s = instance(parser, argparse.ArgumentParser, "parser").add_argument_group("milp: side constraints")
        s.add_argument("--max-gpu-functions", type=int, metavar="K", help="at most K GPU functions")
        s.add_argument("--gpu-budget", type=float, metavar="GB", help="total GPU memory of all GPU functions (GB)")
        s.add_argument("--max-functions", type=int, metavar="K", help="at most K functions (groups) in all")
        s.add_argument("--isolate", action="append", default=[], metavar="A/B",
                       help="apps A and B never share a batch (repeatable)")
        s.add_argument("--pin", action="append", default=[], metavar="APP=cpu|gpu",
                       help="serve APP only on CPU or only on GPU functions (repeatable; once per app)")

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> SideConstraints | None:
        """The side constraints of parsed command-line flags, or None when none is given."""
        attributes(args, ("max_gpu_functions", "gpu_budget", "max_functions", "isolate", "pin"), "args")
        isolate = []
        for item in listed(args.isolate, "args.isolate", "a list of A/B strings"):
            if not isinstance(item, str):
                raise InputError(f"--isolate: expected A/B, got {item!r:.40}")
            parts = item.split("/")
            if len(parts) != 2 or not all(parts):
                raise InputError(f"--isolate {item!r}: expected two app names as A/B (names holding '/' "
                                 "are isolated through the Python API: SideConstraints(isolate=...))")
            isolate.append(tuple(parts))
        pin = []
        for item in listed(args.pin, "args.pin", "a list of APP=cpu|gpu strings"):
            if not isinstance(item, str):
                raise InputError(f"--pin: expected APP=cpu or APP=gpu, got {item!r:.40}")
            app, _, kind = item.rpartition("=")  # (an app name may hold '=')
            if not app or kind not in KINDS:
                raise InputError(f"--pin {item!r}: expected APP=cpu or APP=gpu")
            pin.append((app, kind))
        side = cls(max_gpu_functions=args.max_gpu_functions, gpu_memory_budget=args.gpu_budget,
                   max_functions=args.max_functions, isolate=tuple(isolate), pin=tuple(pin))
        return side if side.active() else None
