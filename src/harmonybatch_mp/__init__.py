"""harmonybatch-mp: cost-optimal, SLO-safe serverless DNN inference plans."""

from .check import check_plan, plan_problems
from .errors import HarmonyBatchError, InfeasibleError, InputError, PlanCheckError, SolverError
from .fast_path import provision_group_fast
from .grid import GroupConfig, config_grid
from .plan import (
    BOUNDED,
    HEURISTIC,
    OPTIMAL,
    RESTRICTED_OPTIMAL,
    STATUSES,
    TIME_LIMIT,
    GroupPlan,
    Plan,
    SolverInfo,
    load_plan,
)
from .platform import PRESETS, Platform, load_platform, platform_from_dict, preset
from .profiles import BUILTIN_MODELS, ModelProfile, builtin_profile, load_profile, profile_from_dict
from .provision import provision_group
from .solvers import (
    SetPartitioningModel,
    SideConstraints,
    Solution,
    build_model,
    register_solver,
    solve,
    solver_names,
)
from .sweep import PlanRecord, plan_many
from .workload import App, Workload, load_workload, parse_apps

__version__ = "0.1.0"

__all__ = [
    "App",
    "BOUNDED",
    "BUILTIN_MODELS",
    "GroupConfig",
    "GroupPlan",
    "Plan",
    "HEURISTIC",
    "PlanRecord",
    "plan_many",
    "OPTIMAL",
    "RESTRICTED_OPTIMAL",
    "STATUSES",
    "TIME_LIMIT",
    "SetPartitioningModel",
    "Solution",
    "build_model",
    "register_solver",
    "solver_names",
    "SideConstraints",
    "SolverInfo",
    "check_plan",
    "load_plan",
    "plan_problems",
    "solve",
    "HarmonyBatchError",
    "InfeasibleError",
    "InputError",
    "ModelProfile",
    "PRESETS",
    "Platform",
    "PlanCheckError",
    "SolverError",
    "Workload",
    "builtin_profile",
    "config_grid",
    "load_platform",
    "load_profile",
    "load_workload",
    "parse_apps",
    "platform_from_dict",
    "preset",
    "profile_from_dict",
    "provision_group",
    "provision_group_fast",
]
