"""The training config: its schema (every key and default), how it is loaded, and the checks at load time.

``load_config(path, overrides)`` merges defaults, a YAML file and ``key=value``
overrides and checks the result (:mod:`.validation`) before anything runs;
``robustreid config show`` prints what it resolves to. Each section's dataclass
lives next to the code it configures and is re-exported here.
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
from robustreid.memory.cluster_memory import MemoryConfig
from robustreid.memory.saa import SAAConfig
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
