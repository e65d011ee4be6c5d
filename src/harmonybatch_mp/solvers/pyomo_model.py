"""The set-partitioning model as a Pyomo ``ConcreteModel``: readable column keys and
components named as in ``formulations/set_partitioning.md`` (``A``, ``J``, ``x``, ``cost``,
``cover``, and the side-constraint rows)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..provision import GroupConfig
from .problem import members

if TYPE_CHECKING:
    import pyomo.environ as pyo

    from .candidates import Column
    from .model import SetPartitioningModel
    from .problem import Problem


def config_label(config: GroupConfig) -> str:
    """Readable key of a configuration: ``cpu:1.55vcpu:b1`` or ``gpu:2gb:b14``."""
    if config.kind == "gpu":
        return f"gpu:{config.gpu_mem_gb}gb:b{config.batch}"
    return f"cpu:{config.vcpu:g}vcpu:b{config.batch}"


def column_keys(problem: Problem, columns: list[Column]) -> dict[tuple[str, str], Column]:
    """Readable, unique keys ``(group label, configuration label)`` for the columns."""
    out: dict[tuple[str, str], Column] = {}
    for c in columns:
        key = ("+".join(problem.apps[i].name for i in members(c.mask)), config_label(c.config))
        while key in out:  # app names containing '+' can make two labels equal
            key = (key[0] + "'", key[1])
        out[key] = c
    return out


#: Longest name the writer gives a component, with room for the prefix and suffix Pyomo adds to
#: a row's (``c_e_..._``): GLPK reads 255 characters, and CBC 2.10's MPS reader crashed on names
#: of 245 (it read 165).
MAX_NAME = 120
_NOT_PORTABLE = re.compile(r"[^A-Za-z0-9_()]")


class FileLabeler:
    """Names of the model's components in an LP or MPS file (``set_partitioning.md``,
    "Exported instances"): Pyomo's LP names, such as ``x(app0_app1__gpu_2gb_b14_)``, with
    every character but ASCII letters, digits, ``_``, ``(`` and ``)`` made ``_``, cut to
    :data:`MAX_NAME` characters, and made unique by a suffix ``_2``, ``_3``, ... where two
    components would otherwise share a name (apps ``"a b"`` and ``"a_b"``, or long groups
    cut to one prefix). A new labeler for each file: Pyomo's writers ask it once per
    component and keep the name (in their ``SymbolMap``).

    >>> import pyomo.environ as pyo
    >>> m = pyo.ConcreteModel()
    >>> m.x = pyo.Var(["a b", "a_b", "ü"])
    >>> label = FileLabeler()
    >>> [label(m.x[k]) for k in ("a b", "a_b", "ü")]
    ['x(a_b)', 'x(a_b)_2', 'x(_)']
    """

    def __init__(self) -> None:
        from pyomo.core.base.label import LPFileLabeler

        self._lp = LPFileLabeler()
        self._taken: set[str] = set()

    def __call__(self, component: object) -> str:
        name = _NOT_PORTABLE.sub("_", self._lp(component))[:MAX_NAME]
        unique, k = name, 1
        while unique in self._taken:
            k += 1
            unique = f"{name[:MAX_NAME - len(str(k)) - 1]}_{k}"
        self._taken.add(unique)
        return unique


def _pyomo_model(model: SetPartitioningModel) -> pyo.ConcreteModel:
    import pyomo.environ as pyo

    problem, columns, scale = model.problem, model.columns, model.scale
    m = pyo.ConcreteModel(name="harmonybatch_set_partitioning")
    keys = list(columns)
    names = [a.name for a in problem.apps]
    m.A = pyo.Set(initialize=names, ordered=True, doc="apps")
    m.J = pyo.Set(initialize=keys, dimen=2, ordered=True, doc="columns: (group, configuration)")
    m.x = pyo.Var(m.J, domain=pyo.Binary)
    m.cost = pyo.Objective(expr=pyo.quicksum(scale * columns[k].weight * m.x[k] for k in keys), sense=pyo.minimize)
    covering: dict[str, list] = {a: [] for a in names}
    for k, c in columns.items():
        for i in members(c.mask):
            covering[names[i]].append(k)
    m.cover = pyo.Constraint(m.A, rule=lambda m, a: pyo.quicksum(m.x[k] for k in covering[a]) == 1)
    for name, coef, upper in model.rows():
        terms = [coef[j] * m.x[k] for j, k in enumerate(keys) if coef[j]]
        setattr(m, name, pyo.Constraint(expr=pyo.quicksum(terms) <= upper if terms else pyo.Constraint.Feasible))
    return m


def user_restrictions(m: pyo.ConcreteModel, own_rows: tuple[str, ...], objective: object) -> tuple[str, ...]:
    """What a user's edits of the Pyomo model restrict (``set_partitioning.md``, "Backends"):
    the names of the rows they added, and the columns they fixed or bounded.
    An optimum is then optimal over the plans that keep them, which the certificate must say.
    Edits after which no solution is a certified plan are an InputError: an objective other
    than the model's own ``cost``, minimised (maximised, its bound was the dearest plan's and
    its status "optimal"), or one of the model's own rows (``cover``, the side constraints'
    ``own_rows``) removed or switched off (a plan broke the side constraint, "optimal")."""
    import pyomo.environ as pyo

    from ..errors import InputError

    objectives = list(m.component_data_objects(pyo.Objective, active=True))
    cost = m.component("cost")
    if objectives != [cost] or cost.sense != pyo.minimize or cost.expr is not objective:
        raise InputError("the model's objective must be its own: 'cost', minimised, the only one active (a plan's "
                         "certificate bounds its cost); add rows instead")
    if m.component("x") is None:
        raise InputError("the model's columns 'x' were removed; a plan is read from them")
    for name in ("cover", *own_rows):
        row = m.component(name)
        if row is None or not all(r.active for r in row.values()):
            raise InputError(f"the model's own row {name!r} was removed or deactivated; a plan must keep it")
    ours = {"cover", *own_rows}
    added = [c.name for c in m.component_objects(pyo.Constraint, active=True) if c.name not in ours]
    held = sum(v.fixed or (v.lb or 0) > 0 or v.ub is not None and v.ub < 1 for v in m.x.values())
    return (*added, *([f"{held} column(s) fixed or bounded"] if held else []))
