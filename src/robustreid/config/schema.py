"""Typed training configuration.

The schema is a tree of dataclasses; YAML files and ``--set key=value`` overrides
are merged into it by OmegaConf, which rejects unknown keys and values of the wrong
type with a message naming them. Every published number is reproducible from a
config file alone because the resolved config is saved in the run folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from robustreid.clustering.settings import ClusterConfig
from robustreid.config.validation import validate_config
from robustreid.errors import ConfigError
from robustreid.memory.settings import MemoryConfig
from robustreid.models.config import ModelConfig


@dataclass
class DataConfig:
    name: str = "synthetic"
    root: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # extra kwargs for load_dataset
    height: int = 256
    width: int = 128
    preload: bool = True  # decode + resize every image once into RAM (fast epochs on CPU)
    num_workers: int = 2
    max_bad_fraction: float = 0.01  # share of a split's images that may be unreadable and are skipped
    identity_stride: int = 1  # keep every n-th train and test identity (data/identity_subset.py); 1: all
    identity_offset: int = 0  # ... starting at this one (0 to stride - 1): disjoint folds of the identities


@dataclass
class OptimConfig:
    epochs: int = 50
    iters: int = 200
    batch_size: int = 256
    num_instances: int = 16
    lr: float = 3.5e-4
    weight_decay: float = 5e-4
    step_size: int = 20
    gamma: float = 0.1


@dataclass
class EvalConfig:
    every: int = 10  # evaluate every N epochs (and always after the last one)
    before_training: bool = False  # also evaluate the initial model
    batch_size: int = 256
    camera_filter: bool = True
    rerank: bool = False


@dataclass
class RuntimeConfig:
    inference_dtype: str = "auto"  # auto | fp32 | bf16: auto = bf16 on CUDA, fp32 on the CPU


@dataclass
class TrainConfig:
    output_dir: str = "runs/default"
    seed: int = 1
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)


BASE_KEY = "_base_"


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Defaults <- YAML file (after the file it names as ``_base_``, if any) <- ``key=value`` overrides,
    validated against the schema."""
    try:
        cfg = OmegaConf.structured(TrainConfig)
        if path is not None:
            cfg = OmegaConf.merge(cfg, *_yaml_chain(Path(path)))
        if overrides:
            cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
    except OmegaConfBaseException as err:
        raise ConfigError(_explain(err)) from None
    except FileNotFoundError as err:
        raise ConfigError(f"config file not found: {err.filename or path}") from None
    except yaml.YAMLError as err:  # a syntax error in a file or a --set value: its text names the place
        raise ConfigError(f"not valid YAML: {' '.join(str(err).split())}") from None
    return validate_config(OmegaConf.to_object(cfg))


def _yaml_chain(path: Path, seen: tuple[Path, ...] = ()) -> list[Any]:
    """The YAML at ``path`` preceded by its ``_base_`` chain (a path relative to the file), base first.

    A variant config then says only what differs, e.g. the full method on a data set
    is its data-set config plus ``memory.init`` / ``memory.update``.
    """
    if path.resolve() in seen:
        raise ConfigError(f"config {path} inherits from itself through {BASE_KEY}")
    node = OmegaConf.load(path)
    base = node.pop(BASE_KEY, None)
    chain = _yaml_chain(path.parent / base, (*seen, path.resolve())) if base else []
    return [*chain, node]


def _explain(err: OmegaConfBaseException) -> str:
    key = getattr(err, "full_key", None)
    first_line = str(err).splitlines()[0]
    return f"invalid config key {key!r}: {first_line}" if key else first_line


def config_yaml(cfg: TrainConfig) -> str:
    """Every key of ``cfg`` with its value, defaults included: what a run folder keeps and ``config show`` prints."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    Path(path).write_text(config_yaml(cfg))
