"""Every registry choice and every rule between keys is checked when the config is loaded, naming the key."""

from __future__ import annotations

import re
import time

import pytest

from robustreid.config import load_config
from robustreid.errors import ConfigError
from robustreid.memory.settings import MEMORY_UPDATE
from robustreid.memory.strategies import update_by_every_sample


@pytest.mark.parametrize(
    "override, allowed",
    [
        ("data.name=market", "dukemtmcreid, folder, market1501, msmt17, personx, synthetic"),
        ("model.backbone=resnet18", "efficientnet_lite0, efficientnet_lite2, resnet50"),
        ("model.pooling=max", "avg, gem"),
        ("model.last_stride=3", "1, 2"),
        ("cluster.method=fast", "sparse, dense, infomap"),
        ("cluster.knn=aproximate", "exact, approximate, auto"),
        ("memory.init=median", "csa, mean, mean+saa"),
        ("memory.update=hsp", "gated, hard, hps, hps_gated, mean"),
        ("memory.reliability=cameras", "camera, cluster"),
        ("memory.saa.objective=plant", "merge, planted, split_half"),
        ("memory.saa.dispersion=spread", "distance, weight"),
        ("memory.saa.dispersion_source=both", "epoch, batch, memory"),
        ("memory.saa.aggregator=median", "saa, margin, mean, medoid, mode, neighbours, split, trimmed"),
        ("runtime.inference_dtype=fp16", "auto, fp32, bf16"),
    ],
)
def test_a_misspelled_choice_is_named_with_the_allowed_values(override, allowed):
    key, value = override.split("=")
    shown = value if key == "model.last_stride" else repr(value)
    message = f"invalid config: {key}={shown} must be one of {allowed}"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        load_config(None, [override])


def test_a_device_torch_cannot_read_is_named():
    with pytest.raises(ConfigError, match=re.escape("device='gpu' must be auto, cpu, cuda or cuda:N")):
        load_config(None, ["device=gpu"])


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["memory.update=hps"], "memory.update='hps' must be used with memory.init csa or mean+saa"),
        (
            ["memory.update=hps_gated"],
            "memory.update='hps_gated' must be used with memory.init csa or mean+saa",
        ),
        (
            ["memory.init=csa", "memory.update=hps_gated", "memory.saa.dispersion_source=batch"],
            "memory.update='hps_gated' must be used with memory.saa.dispersion_source=epoch",
        ),
        (["memory.saa.loss_quantile=0.8"], "below 1 only with memory.init csa or mean+saa"),
        (["model.samples_per_bn=4"], "above 0 only with model.sync_bn=true"),
        (
            ["cluster.camera_penalty=0.1", "cluster.method=dense"],
            "cluster.camera_penalty needs cluster.method=sparse",
        ),
    ],
)
def test_a_choice_that_another_key_rules_out_is_named(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, overrides)


@pytest.mark.parametrize(
    "overrides",
    [
        ["memory.init=mean+saa", "memory.update=hps"],
        ["memory.init=csa", "memory.update=hps", "memory.saa.dispersion_source=batch"],
        ["memory.init=csa", "memory.update=hps_gated"],
        ["cluster.method=dense", "cluster.eps=1.5"],
        ["device=cuda:1", "cluster.eps=auto"],
    ],
)
def test_compatible_choices_load(overrides):
    load_config(None, overrides)


def test_a_strategy_registered_after_import_is_accepted(monkeypatch):
    monkeypatch.setitem(MEMORY_UPDATE._items, "every_sample", update_by_every_sample)
    assert load_config(None, ["memory.update=every_sample"]).memory.update == "every_sample"


def test_a_bad_choice_fails_before_any_data_is_read(user_error, tmp_path):
    """The data root does not exist; the config error comes first, at once."""
    start = time.perf_counter()
    err = user_error(["train", "--set", "memory.update=hsp", "--data-root", str(tmp_path / "missing")])
    assert "memory.update='hsp' must be one of" in err
    assert time.perf_counter() - start < 2
