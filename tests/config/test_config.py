from pathlib import Path

import pytest

from robustreid.config import TrainConfig, load_config, save_config
from robustreid.errors import ConfigError

CONFIGS_DIR = Path(__file__).parents[2] / "configs"
CONFIGS = sorted(CONFIGS_DIR.rglob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_is_valid(path):
    assert isinstance(load_config(path), TrainConfig)


#: The robust variant each robust config ships: the best measured on its data (docs/method.md section 9):
#: `full` (CSA v2 + HPS v2) on the real data sets, `csa_hard` (CSA v2 + Cluster Contrast's hard update)
#: on the synthetic set.
ROBUST_MEMORY = {"synthetic.yaml": ("csa", 0.5, "hard", 0)}
FULL_MEMORY = ("csa", 0.5, "hps_gated", 2)


@pytest.mark.parametrize("path", sorted((CONFIGS_DIR / "robust").glob("*.yaml")), ids=lambda p: p.name)
def test_robust_configs_are_their_dataset_config_plus_the_best_robust_memory(path):
    robust, base = load_config(path), load_config(CONFIGS_DIR / path.name)
    memory = robust.memory
    expected = ROBUST_MEMORY.get(path.name, FULL_MEMORY)
    assert (memory.init, memory.anchor_weight, memory.update, memory.warmup_epochs) == expected
    assert robust.data == base.data and robust.optim == base.optim and robust.cluster == base.cluster
    assert robust.output_dir != base.output_dir


def test_base_chain_and_its_errors(tmp_path):
    (tmp_path / "a.yaml").write_text("optim:\n  epochs: 3\n  iters: 5\n")
    (tmp_path / "b.yaml").write_text("_base_: a.yaml\noptim:\n  iters: 7\n")
    cfg = load_config(tmp_path / "b.yaml", ["optim.lr=0.1"])
    assert (cfg.optim.epochs, cfg.optim.iters, cfg.optim.lr) == (3, 7, 0.1)  # base <- file <- overrides
    (tmp_path / "c.yaml").write_text("_base_: c.yaml\n")
    with pytest.raises(ConfigError, match="inherits from itself"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text("_base_: missing.yaml\n")
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_config(tmp_path / "d.yaml")


def test_overrides_are_typed():
    cfg = load_config(None, ["optim.lr=0.01", "optim.epochs=3", "eval.rerank=true"])
    assert (cfg.optim.lr, cfg.optim.epochs, cfg.eval.rerank) == (0.01, 3, True)


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.learning_rate=0.1", "optim.learning_rate"),
        ("optim.epochs=ten", "optim.epochs"),
        ("nonsense=1", "nonsense"),
    ],
)
def test_unknown_keys_and_wrong_types_are_named(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_saved_config_loads_back_identically(tmp_path):
    cfg = load_config(None, ["optim.epochs=7", "data.options={num_train_ids: 5}"])
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg
