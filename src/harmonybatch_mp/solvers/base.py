"""The one contract every plan solver follows, and the registry of solvers.

A solver is a function ``f(problem, **options) -> Solution``: it reads a
:class:`~.problem.Problem` (the workload, model, platform, side constraints and
cached group optima) and returns the groups it chose, each with a function
configuration, and a :class:`~harmonybatch_mp.plan.SolverInfo` whose ``status`` is
one of the constants of :mod:`harmonybatch_mp.plan` (``OPTIMAL``, ``TIME_LIMIT``,
``HEURISTIC``). Its options are its keyword-only parameters; :func:`solve
<harmonybatch_mp.solvers.solve>` rejects any other option by name.

A user adds a solver with :func:`register_solver`:

>>> from harmonybatch_mp import HEURISTIC, SolverInfo, solve
>>> from harmonybatch_mp.solvers import Solution, register_solver, unregister_solver
>>> def singletons(problem):
...     masks = [1 << i for i in range(problem.n)]
...     return Solution.of(problem, masks, SolverInfo("singletons", status=HEURISTIC))
>>> spec = register_solver("singletons", singletons, description="each app alone")
>>> solve("0.5:5,1.0:20", "VGG19", solver="singletons").solver.status
'heuristic'
>>> unregister_solver("singletons")
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from .._validate import flag, listed
from ..errors import InfeasibleError, InputError, SolverError
from ..expected_cost import COST_MODELS
from ..plan import SolverInfo
from ..provision import GroupConfig
from .problem import Problem, members


@dataclass(frozen=True)
class Solution:
    """What a solver returns: the groups (bitmasks over ``problem.apps``), a configuration
    for each, and the solver's report.

    Attributes
    ----------
    groups : tuple of int
        A partition of the apps: bit ``i`` of a group is ``problem.apps[i]``.
    configs : tuple of GroupConfig
        The function configuration of each group, aligned with ``groups``.
    info : SolverInfo
        Name, status and, for exact solvers, the certificate (objective, bound, gap).
    """

    groups: tuple[int, ...]
    configs: tuple[GroupConfig, ...]
    info: SolverInfo

    def __post_init__(self) -> None:
        # a solver registered by a user returns one too: what it holds is checked here, and the
        # masks against the workload by solve()
        for name, value in (("groups", self.groups), ("configs", self.configs)):
            if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
                raise SolverError(f"Solution: {name} must be a tuple, got {type(value).__name__}")
        for m in self.groups:
            if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m <= 0:
                raise SolverError(f"Solution: each group must be a bitmask of apps (an int > 0), got {m!r}")
        for c in self.configs:
            if not isinstance(c, GroupConfig):
                raise SolverError(f"Solution: each configuration must be a GroupConfig, got {type(c).__name__}")
        if not isinstance(self.info, SolverInfo):
            raise SolverError(f"Solution: info must be a SolverInfo, got {type(self.info).__name__}")
        object.__setattr__(self, "groups", tuple(int(m) for m in self.groups))
        object.__setattr__(self, "configs", tuple(self.configs))
        if len(self.groups) != len(self.configs):
            raise SolverError(f"Solution: {len(self.groups)} groups but {len(self.configs)} configurations")

    @classmethod
    def of(cls, problem: Problem, groups: Sequence[int], info: SolverInfo,
           configs: Mapping[int, GroupConfig] | Sequence[GroupConfig | None] | None = None) -> Solution:
        """A solution from group masks; a group without a given configuration (``configs`` by
        mask, or a sequence aligned with ``groups``, None where none is given) gets its optimum.
        (Aligned, no mask is hashed: a dict's hash of a group reads all its bits, which at
        100,000 apps in singletons was quadratic.)"""
        groups = list(groups)
        if configs is None or isinstance(configs, Mapping):
            given = [(configs or {}).get(m) for m in groups]
        elif isinstance(configs, Sequence) and not isinstance(configs, (str, bytes)) and len(configs) == len(groups):
            given = list(configs)
        else:
            raise SolverError(f"Solution.of: configs must be a mapping from group to configuration or a sequence of "
                              f"{len(groups)}, one per group, got {type(configs).__name__}")
        chosen = []
        for m, cfg in zip(groups, given):
            cfg = cfg or problem.group(m)
            if cfg is None:
                names = [problem.apps[i].name for i in members(m)]
                raise InfeasibleError(f"solver {info.name!r} chose group {names}, which no function can serve")
            chosen.append(cfg)
        return cls(tuple(groups), tuple(chosen), info)


#: The signature of a solver.
SolverFunction = Callable[..., Solution]


@dataclass(frozen=True)
class SolverSpec:
    """A registered solver: its function, its options and what it guarantees.

    Attributes
    ----------
    name : str
    function : callable
        ``function(problem, **options) -> Solution``.
    options : frozenset of str
        Its keyword-only parameters: the options :func:`solve` accepts for it.
    side_constraints : bool
        Whether it honours :class:`~.side.SideConstraints` (read from ``problem.side``).
    description : str
        One line for ``--help`` and error messages.
    cost_models : frozenset of str
        The cost models it prices (``"expected"``, ``"full-batch"``); :func:`solve` refuses
        the others before planning.
    """

    name: str
    function: SolverFunction
    options: frozenset[str]
    side_constraints: bool
    description: str
    cost_models: frozenset[str] = frozenset(COST_MODELS)

    def check_cost_model(self, cost_model: str) -> None:
        """An InputError, naming the solvers that do price it, unless this one prices ``cost_model``."""
        if isinstance(cost_model, str) and cost_model in COST_MODELS and cost_model not in self.cost_models:
            with _LOCK:  # another thread may be registering a solver
                others = [n for n, s in _REGISTRY.items() if cost_model in s.cost_models]
            raise InputError(f"solver {self.name!r} prices the {' and '.join(sorted(self.cost_models))} cost model only; "
                             f"use cost_model={sorted(self.cost_models)[0]!r}, or for {cost_model!r} a solver of: "
                             f"{', '.join(others) or 'none registered'}")


_LOCK = threading.Lock()
#: The registered solvers by name (read-only view: use :func:`register_solver`).
_REGISTRY: dict[str, SolverSpec] = {}
#: Solvers that :func:`get_solver` finds in place of the registered ones of the same name, in
#: this thread (:func:`using`).
_USING: contextvars.ContextVar[Mapping[str, SolverSpec]] = contextvars.ContextVar("solvers_in_use",
                                                                                    default=MappingProxyType({}))


@contextlib.contextmanager
def using(specs: Iterable[SolverSpec]) -> Iterator[None]:
    """Within the block, :func:`get_solver` in this thread (and so :func:`solve`) finds each of
    ``specs`` under its name, whatever is registered; the registry itself is left alone.
    ``plan_many``'s workers solve each instance with the solvers its caller has registered
    this way: registered in the worker, another thread of that worker running another
    caller's instance could find the one or the other."""
    token = _USING.set(MappingProxyType({**_USING.get(), **{spec.name: spec for spec in specs}}))
    try:
        yield
    finally:
        _USING.reset(token)


def register_solver(name: str, function: SolverFunction, *, side_constraints: bool = False,
                    description: str = "", replace: bool = False,
                    cost_models: Sequence[str] = COST_MODELS) -> SolverSpec:
    """Register ``function`` as solver ``name`` for :func:`solve` and the command line.

    Parameters
    ----------
    name : str
    function : callable
        ``function(problem, **options) -> Solution``; its keyword-only parameters are
        its options. :func:`solve` checks what it returns before using it: a
        :class:`Solution` whose groups are bitmasks of the problem's apps (ints > 0) that
        partition them, each with a :class:`GroupConfig`, that keeps the side constraints and
        the plan checks (else :class:`~harmonybatch_mp.SolverError` or
        :class:`~harmonybatch_mp.PlanCheckError`, naming what is wrong).
    side_constraints : bool
        True if it honours ``problem.side``; :func:`solve` refuses side constraints
        for solvers that do not.
    description : str
    replace : bool
        Allow replacing a registered solver of the same name.
    cost_models : sequence of str
        The cost models it prices (default both); :func:`solve` refuses the others.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise InputError(f"solver name must be an identifier, got {name!r}")
    if not callable(function):
        raise InputError(f"solver {name!r}: expected a function, got {type(function).__name__}")
    params = inspect.signature(function).parameters.values()
    options = frozenset(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)
    side_constraints = flag(side_constraints, f"solver {name!r}: side_constraints")
    replace = flag(replace, f"solver {name!r}: replace")
    models = listed(cost_models, f"solver {name!r}: cost_models", "a sequence of cost model names")
    if not models or any(not isinstance(m, str) or m not in COST_MODELS for m in models):
        raise InputError(f"solver {name!r}: cost_models must be some of {', '.join(COST_MODELS)}, got {models!r}")
    spec = SolverSpec(name, function, options, side_constraints, description, frozenset(models))
    with _LOCK:
        if name in _REGISTRY and not replace:
            raise InputError(f"a solver named {name!r} is registered already (pass replace=True)")
        _REGISTRY[name] = spec
    return spec


def unregister_solver(name: str) -> None:
    """Remove a registered solver."""
    with _LOCK:
        if (_REGISTRY.pop(name, None) if isinstance(name, str) else None) is None:
            raise InputError(f"no solver named {name!r} is registered")


def get_solver(name: str) -> SolverSpec:
    """The registered solver ``name`` (or the one :func:`using` puts in its place), or an
    InputError listing the registered ones."""
    spec = (_USING.get().get(name) or _REGISTRY.get(name)) if isinstance(name, str) else None
    if spec is None:
        raise InputError(f"unknown solver {name!r}; solvers: {', '.join(solver_names())}")
    return spec


def solver_names() -> tuple[str, ...]:
    """Names of the registered solvers, in registration order."""
    with _LOCK:  # copied whole while no thread registers (a build without the GIL could see it change)
        return tuple(_REGISTRY)
