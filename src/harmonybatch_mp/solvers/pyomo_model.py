"""The set-partitioning model as a Pyomo ``ConcreteModel``: readable column keys and
components named as in ``formulations/set_partitioning.md`` (``A``, ``J``, ``x``, ``cost``,
``cover``, and the side-constraint rows)."""

from __future__ import annotations

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
