"""Registry: one mechanism for every pluggable part, so names are listed, checked and explained alike."""

from __future__ import annotations

import pytest

from robustreid.errors import ConfigError
from robustreid.utils.registry import Registry


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
