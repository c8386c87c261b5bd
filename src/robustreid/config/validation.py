"""Range checks of a loaded config: values of the right type that no run can use.

OmegaConf rejects unknown keys and wrong types; it cannot know that a negative
learning rate or a batch that does not split into P x K identities is a mistake.
Without these checks such a value fails minutes later, deep inside the first epoch,
with a traceback that does not name the key. Each rule names its key as ``--set``
spells it and says what the value must be.

Rules apply to numbers only: a setting that may also be a word (``cluster.eps:
auto``) has its words checked by the schema that defines it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from robustreid.errors import ConfigError
from robustreid.memory.strategies import SAA_TRAINING_INITS

if TYPE_CHECKING:
    from robustreid.config.schema import TrainConfig

#: numpy's legacy seeding takes 0 <= seed < 2**32
SEED_LIMIT = 2**32
#: The smallest input side the backbones' strides leave a feature map for.
MIN_INPUT_SIDE = 16


@dataclass(frozen=True)
class Rule:
    """``key`` (dotted, as in ``--set``) must satisfy ``holds(value, config)``; ``requirement`` says how.

    ``requirement`` is formatted with the config as ``cfg``, so a rule that relates
    two keys can show the other one's value.
    """

    key: str
    requirement: str
    holds: Callable[[Any, TrainConfig], bool]

    def problem(self, cfg: TrainConfig) -> str | None:
        value = operator.attrgetter(self.key)(cfg)
        if not _is_number(value) or self.holds(value, cfg):
            return None
        return f"{self.key}={value!r} must be {self.requirement.format(cfg=cfg)}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def at_least(key: str, low: float) -> Rule:
    return Rule(key, f">= {low}", lambda value, _: value >= low)


def above(key: str, low: float) -> Rule:
    return Rule(key, f"> {low}", lambda value, _: value > low)


def within(key: str, low: float, high: float) -> Rule:
    """``low <= value < high``."""
    return Rule(key, f"in [{low}, {high})", lambda value, _: low <= value < high)


RULES: tuple[Rule, ...] = (
    within("seed", 0, SEED_LIMIT),
    at_least("data.height", MIN_INPUT_SIDE),
    at_least("data.width", MIN_INPUT_SIDE),
    at_least("data.num_workers", 0),
    Rule("data.max_bad_fraction", "in [0, 1]", lambda value, _: 0 <= value <= 1),
    above("cluster.eps", 0),
    Rule(
        "cluster.eps",
        "< 1 with cluster.method=sparse (use cluster.method=dense for a larger eps)",
        lambda eps, cfg: cfg.cluster.method != "sparse" or eps < 1,
    ),
    at_least("cluster.min_samples", 1),
    at_least("cluster.k1", 1),
    at_least("cluster.k2", 1),
    at_least("cluster.camera_penalty", 0),
    above("memory.temperature", 0),
    within("memory.momentum", 0, 1),
    at_least("memory.warmup_epochs", 0),
    within("memory.anchor_weight", 0, 1),
    at_least("memory.anchor_fade_epochs", 0),
    at_least("memory.camera_weight", 0),
    at_least("memory.camera_negatives", 1),
    above("memory.saa.temperature", 0),
    Rule("memory.saa.noise_quantile", "in (0, 1]", lambda value, _: 0 < value <= 1),
    Rule(
        "memory.saa.loss_quantile",
        "in (0, 1], and below 1 only with memory.init csa or mean+saa (which train the SAA it reads)",
        lambda value, cfg: 0 < value <= 1 and (value == 1 or cfg.memory.init in SAA_TRAINING_INITS),
    ),
    Rule("memory.saa.merge_share", "in (0, 1): the minority side of a merge", lambda v, _: 0 < v < 1),
    above("memory.saa.lr", 0),
    Rule(
        "memory.saa.width",
        "a multiple of memory.saa.heads ({cfg.memory.saa.heads})",
        lambda width, cfg: cfg.memory.saa.heads > 0 and width % cfg.memory.saa.heads == 0,
    ),
    Rule(
        "model.samples_per_bn",
        ">= 0, and above 0 only with model.sync_bn=true",
        lambda value, cfg: value >= 0 and (value == 0 or cfg.model.sync_bn),
    ),
    at_least("optim.epochs", 0),
    at_least("optim.iters", 1),
    at_least("optim.num_instances", 2),
    Rule(
        "optim.batch_size",
        "a positive multiple of optim.num_instances ({cfg.optim.num_instances}): P identities x K instances",
        lambda batch, cfg: batch > 0 and cfg.optim.num_instances > 0 and batch % cfg.optim.num_instances == 0,
    ),
    above("optim.lr", 0),
    at_least("optim.weight_decay", 0),
    at_least("optim.step_size", 1),
    above("optim.gamma", 0),
    at_least("eval.every", 0),
    at_least("eval.batch_size", 1),
)


def validate_config(cfg: TrainConfig, rules: tuple[Rule, ...] = RULES) -> TrainConfig:
    """``cfg`` unchanged when every rule holds; else one :class:`ConfigError` naming every bad key."""
    problems = [problem for rule in rules if (problem := rule.problem(cfg)) is not None]
    if problems:
        raise ConfigError(f"invalid config: {'; '.join(problems)}")
    return cfg
