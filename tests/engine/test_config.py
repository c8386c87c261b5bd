from pathlib import Path

import pytest

from robustreid.engine.config import ConfigError, TrainConfig, load_config, save_config

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_is_valid(path):
    assert isinstance(load_config(path), TrainConfig)


def test_overrides_are_typed():
    cfg = load_config(None, ["optim.lr=0.01", "optim.epochs=3", "eval.rerank=true"])
    assert (cfg.optim.lr, cfg.optim.epochs, cfg.eval.rerank) == (0.01, 3, True)


@pytest.mark.parametrize("override, message", [
    ("optim.learning_rate=0.1", "optim.learning_rate"),
    ("optim.epochs=ten", "optim.epochs"),
    ("nonsense=1", "nonsense"),
])
def test_unknown_keys_and_wrong_types_are_named(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_saved_config_loads_back_identically(tmp_path):
    cfg = load_config(None, ["optim.epochs=7", "data.options={num_train_ids: 5}"])
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg
