import pytest

from robustreid.data import DATASETS, dataset_names, load_dataset
from robustreid.errors import ConfigError


def test_every_data_set_is_registered() -> None:
    assert dataset_names() == ["dukemtmcreid", "folder", "market1501", "msmt17", "personx", "synthetic"]
    assert "market1501" in DATASETS


def test_unknown_name_lists_the_available_ones() -> None:
    with pytest.raises(ConfigError, match="unknown dataset 'market'; available: dukemtmcreid, folder"):
        load_dataset("market", "/data")
