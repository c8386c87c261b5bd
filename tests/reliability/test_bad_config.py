"""Bad configs: values of the right type that no run can use, and YAML that does not parse."""

from __future__ import annotations

import re

import pytest

from robustreid.config import load_config
from robustreid.errors import ConfigError


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.epochs=-1", "optim.epochs=-1 must be >= 0"),
        ("optim.iters=0", "optim.iters=0 must be >= 1"),
        ("optim.lr=0", "optim.lr=0.0 must be > 0"),
        ("optim.lr=-0.1", "optim.lr=-0.1 must be > 0"),
        ("optim.num_instances=1", "optim.num_instances=1 must be >= 2"),
        (
            "optim.batch_size=30",
            "optim.batch_size=30 must be a positive multiple of optim.num_instances (16)",
        ),
        ("optim.batch_size=0", "optim.batch_size=0 must be a positive multiple"),
        ("optim.step_size=0", "optim.step_size=0 must be >= 1"),
        ("optim.weight_decay=-1", "optim.weight_decay=-1.0 must be >= 0"),
        ("cluster.eps=-0.5", "cluster.eps=-0.5 must be in (0, 1) with cluster.method=sparse"),
        ("cluster.eps=1.2", "cluster.eps=1.2 must be in (0, 1) with cluster.method=sparse"),
        ("cluster.min_samples=0", "cluster.min_samples=0 must be >= 1"),
        ("cluster.k1=0", "cluster.k1=0 must be >= 1"),
        ("cluster.tracklet_weight=1.5", "cluster.tracklet_weight=1.5 must be in [0, 1]"),
        ("data.height=8", "data.height=8 must be >= 16"),
        ("data.width=-4", "data.width=-4 must be >= 16"),
        ("data.num_workers=-1", "data.num_workers=-1 must be >= 0"),
        ("data.identity_stride=0", "data.identity_stride=0 must be >= 1"),
        (
            "data.identity_offset=4",
            "data.identity_offset=4 must be in [0, 1): one of the data.identity_stride folds",
        ),
        ("memory.momentum=1", "memory.momentum=1.0 must be in [0, 1)"),
        ("memory.momentum=-0.1", "memory.momentum=-0.1 must be in [0, 1)"),
        ("memory.temperature=0", "memory.temperature=0.0 must be > 0"),
        ("memory.saa.width=250", "memory.saa.width=250 must be a multiple of memory.saa.heads (4)"),
        ("eval.batch_size=0", "eval.batch_size=0 must be >= 1"),
        ("seed=-1", "seed=-1 must be in [0, 4294967296)"),
    ],
)
def test_out_of_range_values_are_named_with_what_they_must_be(override, message):
    with pytest.raises(ConfigError, match=f"^invalid config: {re.escape(message)}"):
        load_config(None, [override])


def test_boundary_values_and_a_larger_eps_with_the_dense_distance_are_accepted():
    cfg = load_config(
        None, ["optim.epochs=0", "memory.momentum=0", "cluster.eps=1.5", "cluster.method=dense"]
    )
    assert (cfg.optim.epochs, cfg.memory.momentum, cfg.cluster.eps) == (0, 0.0, 1.5)


def test_every_problem_is_named_at_once():
    with pytest.raises(ConfigError) as error:
        load_config(None, ["optim.lr=-1", "optim.iters=0"])
    assert str(error.value) == "invalid config: optim.iters=0 must be >= 1; optim.lr=-1.0 must be > 0"


def test_a_range_error_on_the_command_line_is_one_line(user_error):
    err = user_error(["train", "--set", "optim.num_instances=1"])
    assert "invalid config: optim.num_instances=1 must be >= 2" in err


@pytest.mark.parametrize(
    "config_text, overrides, message",
    [
        ("optim:\n  epochs: [1\n", [], "not valid YAML: while parsing a flow sequence"),
        ("optim:\n\tepochs: 1\n", [], "not valid YAML: while scanning for the next token"),
        (None, ["data.options={images_per_id:[8,10]}"], "not valid YAML"),
    ],
    ids=["unclosed-bracket", "tab-indent", "bad-set-value"],
)
def test_yaml_that_does_not_parse_is_one_line_naming_the_place(
    tmp_path, user_error, config_text, overrides, message
):
    argv = ["train"]
    if config_text is not None:
        (tmp_path / "bad.yaml").write_text(config_text)
        argv += ["--config", str(tmp_path / "bad.yaml")]
    err = user_error([*argv, *(item for value in overrides for item in ("--set", value))])
    assert message in err and ("line 2" in err or config_text is None)
