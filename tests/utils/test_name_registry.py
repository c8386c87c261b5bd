"""Registry: one mechanism for every pluggable part, so names are listed, checked and explained alike."""

from __future__ import annotations

import sys

import pytest

from robustreid.data.datasets.registry import DATASETS
from robustreid.errors import ConfigError
from robustreid.memory.settings import DISPERSION, ESTIMATORS, MEMORY_UPDATE, PROTOTYPE_INIT, SAA_OBJECTIVES
from robustreid.models.registry import BACKBONES, POOLINGS
from robustreid.utils.registry import Registry

#: Every registry of the package: each declares where its factories live.
PACKAGE_REGISTRIES = (
    DATASETS,
    BACKBONES,
    POOLINGS,
    PROTOTYPE_INIT,
    MEMORY_UPDATE,
    ESTIMATORS,
    SAA_OBJECTIVES,
    DISPERSION,
)


@pytest.fixture
def colours() -> Registry:
    registry: Registry = Registry("colour")
    for name in ("red", "green", "grey"):
        registry.register(name)(lambda name=name: name)
    return registry


def test_a_registered_factory_is_found_by_its_name(colours):
    assert colours.get("green")() == "green"
    assert "green" in colours and "blue" not in colours


def test_the_names_are_sorted_and_filtered_by_a_pattern(colours):
    assert colours.names() == ["green", "grey", "red"] == list(colours)
    assert colours.names("gr*") == ["green", "grey"]
    assert len(colours) == 3


def test_an_unknown_name_is_a_config_error_listing_the_choices(colours):
    with pytest.raises(ConfigError, match=r"^unknown colour 'blue'; available: green, grey, red$"):
        colours.get("blue")


def test_registering_a_name_twice_is_a_bug(colours):
    with pytest.raises(KeyError, match="colour 'red' is already registered"):
        colours.register("red")(lambda: "crimson")
    assert colours.get("red")() == "red"


@pytest.fixture
def paints(tmp_path, monkeypatch) -> Registry:
    """A registry whose names are declared in a module that no test has imported yet."""
    (tmp_path / "paint_factories.py").write_text("def crimson():\n    return 'crimson'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "paint_factories", raising=False)
    return Registry("paint", {"crimson": "paint_factories:crimson"})


def test_declared_names_are_listed_and_checked_without_importing_their_module(paints):
    assert paints.names() == ["crimson"] == list(paints) and len(paints) == 1
    assert "crimson" in paints and "scarlet" not in paints
    assert "paint_factories" not in sys.modules


def test_a_declared_factory_is_imported_when_first_asked_for(paints):
    assert paints.get("crimson")() == "crimson"
    assert "paint_factories" in sys.modules


def test_a_registered_factory_joins_the_declared_ones(paints):
    paints.register("scarlet")(lambda: "scarlet")
    assert paints.names() == ["crimson", "scarlet"]
    assert paints.get("scarlet")() == "scarlet"
    with pytest.raises(ConfigError, match=r"^unknown paint 'blue'; available: crimson, scarlet$"):
        paints.get("blue")


def test_registering_a_declared_name_is_a_bug(paints):
    with pytest.raises(KeyError, match="paint 'crimson' is already registered"):
        paints.register("crimson")(lambda: "red")
    assert paints.get("crimson")() == "crimson"


@pytest.mark.parametrize("registry", PACKAGE_REGISTRIES, ids=lambda registry: registry.kind)
def test_every_name_the_package_declares_finds_its_factory(registry):
    assert len(registry) > 0
    for name in registry:
        assert callable(registry.get(name)), name
