"""A name -> factory registry, shared by datasets, backbones and training strategies.

One mechanism for every pluggable piece keeps the CLI self-documenting
(``choices=registry.names()``) and gives users one way to add their own.

The package's own factories are *declared*: each name with the place of its factory,
``"module:attribute"``, imported by the first :meth:`Registry.get` of that name. The
names are then known, listed and checked without importing those modules, most of
which need torch (seconds to import): a config is checked, and a mistake in it
reported, before torch loads. The declaration is the one list of a registry's own names.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from robustreid.errors import ConfigError

T = TypeVar("T", bound=Callable)


class Registry(Generic[T]):
    """Maps names to factories; rejects duplicates (a bug) and explains unknown names (a user's mistake).

    ``declared`` maps each of the package's own names to its factory's ``"module:attribute"``;
    :meth:`register` adds a factory already in hand, such as a user's.
    """

    def __init__(self, kind: str, declared: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self._declared = dict(declared or {})
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@REGISTRY.register("name")``."""

        def add(factory: T) -> T:
            if name in self:
                raise KeyError(f"{self.kind} {name!r} is already registered")
            self._items[name] = factory
            return factory

        return add

    def get(self, name: str) -> T:
        """The factory of ``name``; a declared one is imported the first time it is asked for."""
        if name not in self._items and name in self._declared:
            self._items[name] = _load(self._declared[name])
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}") from None

    def names(self, pattern: str = "*") -> list[str]:
        """Declared and registered names, sorted; none of the declared factories is imported."""
        return sorted(n for n in self._declared.keys() | self._items.keys() if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._declared or name in self._items

    def __iter__(self) -> Iterator[str]:
        """The names, sorted: a registry is the collection of choices a config key may take."""
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())


def _load(place: str) -> Any:
    """The object at ``"module:attribute"``."""
    module, _, attribute = place.partition(":")
    return getattr(importlib.import_module(module), attribute)
