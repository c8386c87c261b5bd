"""Checks of a loaded config: every value no run can use fails here, before any work, naming its key.

OmegaConf rejects unknown keys and wrong types; it cannot know that a negative
learning rate, a misspelled strategy name or an HPS update without the SAA it reads
is a mistake. Without these checks such a value fails minutes later, after feature
extraction and clustering, or deep inside the first epoch with a traceback that does
not name the key. Each rule names its key as ``--set`` spells it and says what the
value must be: a range, the registered names, or the other key it depends on.

Range rules apply to numbers only: a setting that may also be a word (``cluster.eps:
auto``) has its words checked by the schema that defines it. Choices are read from
the registries when the config is checked, so a strategy a user registers is accepted.
Every name and setting here comes from a torch-free module, so that a mistake is
reported before torch is imported.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from robustreid.clustering.settings import CLUSTER_METHODS, KNN_SETTINGS, eps_requirement
from robustreid.data.datasets.registry import DATASETS
from robustreid.errors import ConfigError
from robustreid.memory.settings import (
    DISPERSION,
    DISPERSION_SOURCES,
    ESTIMATORS,
    MEMORY_UPDATE,
    PROTOTYPE_INIT,
    RELIABILITY_GROUPS,
    SAA_OBJECTIVES,
    SAA_READING_UPDATES,
    SAA_TRAINING_INITS,
)
from robustreid.models.registry import BACKBONES, LAST_STRIDES, POOLINGS
from robustreid.utils.devices import INFERENCE_DTYPES, is_device_name

if TYPE_CHECKING:
    from robustreid.config.schema import TrainConfig

#: numpy's legacy seeding takes 0 <= seed < 2**32
SEED_LIMIT = 2**32
#: The smallest input side the backbones' strides leave a feature map for.
MIN_INPUT_SIDE = 16


@dataclass(frozen=True)
class Rule:
    """``key`` (dotted, as in ``--set``) must satisfy ``holds(value, config)``; ``requirement(config)`` says how.

    The requirement is a function of the config, so a rule that relates two keys can
    show the other one's value, and a choice lists the names registered when it is read.
    """

    key: str
    requirement: Callable[[TrainConfig], str]
    holds: Callable[[Any, TrainConfig], bool]

    def problem(self, cfg: TrainConfig) -> str | None:
        value = operator.attrgetter(self.key)(cfg)
        if self.holds(value, cfg):
            return None
        return f"{self.key}={value!r} must be {self.requirement(cfg)}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def numeric(key: str, requirement: str, holds: Callable[[Any, TrainConfig], bool]) -> Rule:
    """A rule on a number; ``requirement`` is formatted with the config as ``cfg``. Words pass (see above)."""
    return Rule(
        key,
        lambda cfg: requirement.format(cfg=cfg),
        lambda value, cfg: not _is_number(value) or holds(value, cfg),
    )


def at_least(key: str, low: float) -> Rule:
    return numeric(key, f">= {low}", lambda value, _: value >= low)


def above(key: str, low: float) -> Rule:
    return numeric(key, f"> {low}", lambda value, _: value > low)


def within(key: str, low: float, high: float) -> Rule:
    """``low <= value < high``."""
    return numeric(key, f"in [{low}, {high})", lambda value, _: low <= value < high)


def one_of(key: str, choices: Collection[Any]) -> Rule:
    """``value in choices``; a registry is a collection of its names, read when the config is checked."""
    return Rule(key, lambda _: "one of " + ", ".join(map(str, choices)), lambda value, _: value in choices)


def requires(key: str, values: Collection[Any], condition: str, holds: Callable[[TrainConfig], bool]) -> Rule:
    """A cross-key rule: when ``key`` is one of ``values``, ``holds(config)`` must be true, as ``condition`` says."""
    return Rule(key, lambda _: condition, lambda value, cfg: value not in values or holds(cfg))


CHOICES: tuple[Rule, ...] = (
    Rule("device", lambda _: "auto, cpu, cuda or cuda:N", lambda value, _: is_device_name(value)),
    one_of("data.name", DATASETS),
    one_of("model.backbone", BACKBONES),
    one_of("model.pooling", POOLINGS),
    one_of("model.last_stride", LAST_STRIDES),
    one_of("cluster.method", CLUSTER_METHODS),
    one_of("cluster.knn", KNN_SETTINGS),
    one_of("memory.init", PROTOTYPE_INIT),
    one_of("memory.update", MEMORY_UPDATE),
    one_of("memory.reliability", RELIABILITY_GROUPS),
    one_of("memory.saa.aggregator", ("saa", *ESTIMATORS.names())),
    one_of("memory.saa.objective", SAA_OBJECTIVES),
    one_of("memory.saa.dispersion", DISPERSION),
    one_of("memory.saa.dispersion_source", DISPERSION_SOURCES),
    one_of("runtime.inference_dtype", INFERENCE_DTYPES),
)

CROSS_KEY: tuple[Rule, ...] = (
    requires(
        "memory.update",
        SAA_READING_UPDATES,
        f"used with memory.init {' or '.join(SAA_TRAINING_INITS)}, which train the SAA it reads",
        lambda cfg: cfg.memory.init in SAA_TRAINING_INITS,
    ),
    requires(
        "memory.update",
        ["hps_gated"],
        "used with memory.saa.dispersion_source=epoch: it ranks the epoch's dispersion",
        lambda cfg: cfg.memory.saa.dispersion_source == "epoch",
    ),
    numeric(
        "memory.saa.loss_quantile",
        "in (0, 1], and below 1 only with memory.init csa or mean+saa (which train the SAA it reads)",
        lambda value, cfg: 0 < value <= 1 and (value == 1 or cfg.memory.init in SAA_TRAINING_INITS),
    ),
    numeric(
        "model.samples_per_bn",
        ">= 0, and above 0 only with model.sync_bn=true",
        lambda value, cfg: value >= 0 and (value == 0 or cfg.model.sync_bn),
    ),
    numeric(
        "optim.batch_size",
        "a positive multiple of optim.num_instances ({cfg.optim.num_instances}): P identities x K instances",
        lambda batch, cfg: batch > 0 and cfg.optim.num_instances > 0 and batch % cfg.optim.num_instances == 0,
    ),
    numeric(
        "data.identity_offset",
        "in [0, {cfg.data.identity_stride}): one of the data.identity_stride folds",
        lambda offset, cfg: (
            0 <= offset and (offset < cfg.data.identity_stride or cfg.data.identity_stride < 1)
        ),
    ),
    numeric(
        "memory.saa.width",
        "a multiple of memory.saa.heads ({cfg.memory.saa.heads})",
        lambda width, cfg: cfg.memory.saa.heads > 0 and width % cfg.memory.saa.heads == 0,
    ),
)

RANGES: tuple[Rule, ...] = (
    within("seed", 0, SEED_LIMIT),
    at_least("data.height", MIN_INPUT_SIDE),
    at_least("data.width", MIN_INPUT_SIDE),
    at_least("data.num_workers", 0),
    numeric("data.max_bad_fraction", "in [0, 1]", lambda value, _: 0 <= value <= 1),
    at_least("data.identity_stride", 1),
    Rule(
        "cluster.eps",
        lambda cfg: str(eps_requirement(cfg.cluster.eps, cfg.cluster.method, "cluster.method")),
        lambda eps, cfg: not _is_number(eps) or eps_requirement(eps, cfg.cluster.method) is None,
    ),
    at_least("cluster.min_samples", 1),
    at_least("cluster.k1", 1),
    at_least("cluster.k2", 1),
    at_least("cluster.camera_penalty", 0),
    numeric("cluster.tracklet_weight", "in [0, 1]", lambda value, _: 0 <= value <= 1),
    above("memory.temperature", 0),
    within("memory.momentum", 0, 1),
    at_least("memory.warmup_epochs", 0),
    within("memory.anchor_weight", 0, 1),
    at_least("memory.anchor_fade_epochs", 0),
    at_least("memory.camera_weight", 0),
    at_least("memory.camera_negatives", 1),
    above("memory.saa.temperature", 0),
    numeric("memory.saa.noise_quantile", "in (0, 1]", lambda value, _: 0 < value <= 1),
    numeric("memory.saa.merge_share", "in (0, 1): the minority side of a merge", lambda v, _: 0 < v < 1),
    above("memory.saa.lr", 0),
    at_least("optim.epochs", 0),
    at_least("optim.iters", 1),
    at_least("optim.num_instances", 2),
    above("optim.lr", 0),
    at_least("optim.weight_decay", 0),
    at_least("optim.step_size", 1),
    above("optim.gamma", 0),
    at_least("eval.every", 0),
    at_least("eval.batch_size", 1),
)

RULES: tuple[Rule, ...] = CHOICES + CROSS_KEY + RANGES


def validate_config(cfg: TrainConfig, rules: tuple[Rule, ...] = RULES) -> TrainConfig:
    """``cfg`` unchanged when every rule holds; else one :class:`ConfigError` naming every bad key."""
    problems = [problem for rule in rules if (problem := rule.problem(cfg)) is not None]
    if problems:
        raise ConfigError(f"invalid config: {'; '.join(problems)}")
    return cfg
