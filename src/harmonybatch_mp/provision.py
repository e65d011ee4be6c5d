"""Group provisioning: the cheapest function for one group of apps (``formulations/model.md`` section 7).

The exhaustive search: a group's constraints (SLO, Eq. 10; batch, Eq. 9) are checked
against the whole :class:`~.grid.ConfigGrid` at once with numpy, and the cheapest
feasible configuration wins. Every solver provisions groups through this module; the
paper's fast path is in :mod:`.fast_path`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ._validate import flag, instance, listed, whole
from .batching import _fold, _max_batch, _slo_timeouts
from .errors import InputError
from .grid import GPU, KINDS, ConfigGrid, GroupConfig, config_grid, kind_mask
from .platform import Platform
from .profiles import ModelProfile
from .workload import App

__all__ = ["GPU", "KINDS", "ConfigGrid", "GroupConfig", "best_config", "config_grid", "feasible_mask",
           "kind_mask", "provision_group", "run_optima"]


def _sorted(apps: Sequence[App]) -> list[App]:
    """A group's apps in canonical order, or an InputError naming what is wrong with them."""
    apps = listed(apps, "apps", "a sequence of App")
    if not apps:
        raise InputError("a group needs at least one app")
    names: set[str] = set()
    for a in apps:
        if not isinstance(a, App):
            raise InputError(f"apps: expected App objects, got {type(a).__name__}")
        if a.name in names:
            raise InputError(f"apps: app name {a.name!r} appears twice in the group")
        names.add(a.name)
    return sorted(apps, key=lambda a: a.sort_key)


class _RunState:
    """Feasibility of a growing group over the grid, one app at a time.

    Apps must be added in canonical (SLO) order, which is also timeout order, so the
    equivalent-timeout fold of Eq. 5 extends by one step per app. Only configurations
    that fit in memory and meet the first (tightest) SLO are carried along. The fold is one
    number for them all: each step depends on ``t - T`` only, so with the timeouts
    ``s_i - L_max`` every configuration's ``T_X`` is the fold of the SLOs less its ``L_max``
    (``formulations/model.md`` section 6).
    """

    def __init__(self, grid: ConfigGrid, first: App, base: np.ndarray):
        self.grid = grid
        self.idx = np.flatnonzero(base & (grid.latency_max <= first.slo))  # Eq. 10 at the tightest SLO
        self.lmax = grid.latency_max[self.idx]
        self.batch = grid.batch[self.idx]
        self.cost = grid.cost[self.idx]
        self.folded = first.slo  # the SLOs folded by Eq. 5: T_X at L_max = 0
        self.rho = first.rate

    def add(self, app: App) -> None:
        self.folded, self.rho = _fold(self.folded, self.rho, app.slo, app.rate)

    def _ok(self) -> np.ndarray:
        return (self.batch == 1) | (self.batch <= _max_batch(self.rho, _slo_timeouts(self.folded, self.lmax)))  # Eq. 9

    def mask(self) -> np.ndarray:
        full = np.zeros(len(self.grid), bool)
        full[self.idx] = self._ok()
        return full

    def best(self, kinds: np.ndarray | None = None) -> int | None:
        """Grid index of the cheapest feasible configuration (of the kinds selected by the
        boolean ``kinds`` over :attr:`idx`, if given), or None."""
        ok = self._ok() if kinds is None else self._ok() & kinds
        if not ok.any():
            return None
        masked = np.where(ok, self.cost, np.inf)
        return int(self.idx[int(np.argmin(masked))])


def _group_state(grid: ConfigGrid, apps: Sequence[App], kinds: Sequence[str], check_input: bool = True) -> _RunState:
    if flag(check_input, "check_input"):
        instance(grid, ConfigGrid, "grid")
        apps = _sorted(apps)
    state = _RunState(grid, apps[0], grid.memory_ok & kind_mask(grid, kinds))
    for a in apps[1:]:
        state.add(a)
    return state


def feasible_mask(grid: ConfigGrid, apps: Sequence[App], kinds: Sequence[str] = KINDS, *,
                  check_input: bool = True) -> np.ndarray:
    """Boolean mask of the configurations that can serve ``apps`` as one group.

    A configuration is feasible when it fits in memory, its maximum latency meets the
    tightest SLO (Eq. 10) and, for batch >= 2, its batch meets Eq. 9 with the
    largest timeouts ``s_i - L_max``. With ``check_input=False`` the apps must be distinct
    App objects in canonical order already (a Problem's members are): they are neither
    checked nor sorted (a third of the time of a group of 100 apps).
    """
    return _group_state(grid, apps, kinds, check_input).mask()


def provision_group(
    apps: Sequence[App], profile: ModelProfile | str, platform: Platform | str = "reference", *,
    kinds: Sequence[str] = KINDS
) -> GroupConfig | None:
    """Exhaustive group optimum: the cheapest feasible configuration on the whole grid.

    Parameters
    ----------
    apps : sequence of App
        The group's members (any order).
    profile, platform
        Model and platform, or their names (a built-in model, a preset; default ``reference``).
    kinds : sequence of {"cpu", "gpu"}
        Function kinds allowed.

    Returns
    -------
    GroupConfig or None
        None when no configuration is feasible.

    Examples
    --------
    >>> from harmonybatch_mp import App, builtin_profile, preset
    >>> g = provision_group([App("a", 0.5, 5)], builtin_profile("VGG19"), preset())
    >>> g.kind, g.vcpu, g.batch, f"{g.cost:.4e}"
    ('cpu', 1.55, 1, '4.3485e-05')
    """
    grid = config_grid(profile, platform)
    i = best_config(grid, apps, kinds)
    return None if i is None else grid.config(i)


def best_config(grid: ConfigGrid, apps: Sequence[App], kinds: Sequence[str] = KINDS, *,
                check_input: bool = True) -> int | None:
    """Grid index of the cheapest feasible configuration of a group, or None (see :func:`provision_group`;
    ``check_input`` as for :func:`feasible_mask`)."""
    return _group_state(grid, apps, kinds, check_input).best()


def run_class(grid: ConfigGrid, kinds: Sequence[str] = KINDS, gpu_mem: int | None = None) -> np.ndarray:
    """The configurations a run is searched over: those that fit in memory, of the function
    ``kinds`` given, and on a GPU function only of ``gpu_mem`` GB of GPU memory where it is
    given (a class of function, as a plan under a GPU memory budget needs them).

    >>> grid = config_grid("VGG19")
    >>> int(run_class(grid).sum()), int(run_class(grid, ("gpu",), gpu_mem=4).sum())
    (2000, 32)
    """
    base = grid.memory_ok & kind_mask(grid, kinds)
    if gpu_mem is None:
        return base
    if whole(gpu_mem) is None or gpu_mem < 1:
        raise InputError(f"gpu_mem: expected a whole number of GB >= 1, got {gpu_mem!r:.20}")
    return base & ((grid.kind != GPU) | (grid.gpu_mem == gpu_mem))


def _app(app: App) -> App:
    if not isinstance(app, App):
        raise InputError(f"run_optima: apps: expected App objects, got {type(app).__name__}")
    return app


def run_optima(
    grid: ConfigGrid, apps: Sequence[App], start: int, max_len: int | None = None,
    kinds: Sequence[str] = KINDS, app_kinds: Sequence[Sequence[str]] | None = None, min_len: int = 1,
    gpu_mem: int | None = None,
) -> Iterator[tuple[int, int | None]]:
    """Group optima of the runs ``apps[start:j]`` for ``j = start+min_len, ...`` (apps in canonical order).

    Yields ``(j, index)`` with the grid index of the cheapest feasible configuration
    of ``apps[start:j]``, or None. One fold step per run: cheap for the DP solver; the runs
    shorter than ``min_len`` are folded but not searched (about a fifteenth of a step's time).
    ``app_kinds[i]`` restricts app ``i`` to some function kinds (pinning); a run may use
    the kinds all its members allow. ``gpu_mem`` (GB) restricts GPU functions to that GPU
    memory (:func:`run_class`).
    """
    instance(grid, ConfigGrid, "grid")
    if isinstance(apps, (str, bytes)) or not isinstance(apps, Sequence):
        raise InputError(f"run_optima: apps: expected a sequence of App, got {type(apps).__name__}")
    if whole(start) is None or not 0 <= start < len(apps) or not (max_len is None or (whole(max_len) or 0) >= 1):
        raise InputError(f"run_optima: expected a start from 0 to {len(apps) - 1} and max_len None or >= 1, "
                         f"got {start!r:.20} and {max_len!r:.20}")
    if (whole(min_len) or 0) < 1:
        raise InputError(f"run_optima: expected min_len >= 1, got {min_len!r:.20}")
    stop = len(apps) if max_len is None else min(len(apps), start + max_len)
    state = _RunState(grid, _app(apps[start]), run_class(grid, kinds, gpu_mem))
    allowed = set(KINDS)
    selected = None  # over state.idx, the configurations of the kinds allowed (None: all)
    for j in range(start + 1, stop + 1):
        if j > start + 1:
            state.add(_app(apps[j - 1]))
        if app_kinds is not None and not allowed <= set(app_kinds[j - 1]):  # the run's kinds narrow
            allowed &= set(app_kinds[j - 1])
            selected = np.isin(grid.kind[state.idx], [KINDS.index(k) for k in allowed])
        if j >= start + min_len:
            yield j, state.best(selected) if allowed else None
