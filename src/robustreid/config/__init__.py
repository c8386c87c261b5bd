"""The training config: its schema (every key and default), how it is loaded, and the checks at load time.

``load_config(path, overrides)`` merges defaults, a YAML file and ``key=value``
overrides and checks the result (:mod:`.validation`) before anything runs;
``robustreid config show`` prints what it resolves to. Each section's dataclass
lives in the torch-free settings of the package it configures (``clustering/settings.py``,
``memory/settings.py``, ``models/config.py``) and is re-exported here: loading and
checking a config never imports torch.
"""

from robustreid.clustering.settings import ClusterConfig, GuardConfig
from robustreid.config.schema import (
    DataConfig,
    EvalConfig,
    OptimConfig,
    RuntimeConfig,
    TrainConfig,
    config_yaml,
    load_config,
    save_config,
)
from robustreid.memory.settings import MemoryConfig, SAAConfig
from robustreid.models.config import ModelConfig

__all__ = [
    "ClusterConfig",
    "DataConfig",
    "EvalConfig",
    "GuardConfig",
    "MemoryConfig",
    "ModelConfig",
    "OptimConfig",
    "RuntimeConfig",
    "SAAConfig",
    "TrainConfig",
    "config_yaml",
    "load_config",
    "save_config",
]
