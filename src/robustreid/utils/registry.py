"""A name -> factory registry, shared by datasets, backbones and training strategies.

One mechanism for every pluggable piece keeps the CLI self-documenting
(``choices=registry.names()``) and gives users one way to add their own.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from robustreid.errors import ConfigError

T = TypeVar("T", bound=Callable)


class Registry(Generic[T]):
    """Maps names to factories; rejects duplicates (a bug) and explains unknown names (a user's mistake)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@REGISTRY.register("name")``."""

        def add(factory: T) -> T:
            if name in self._items:
                raise KeyError(f"{self.kind} {name!r} is already registered")
            self._items[name] = factory
            return factory

        return add

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}") from None

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._items if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        """The names, sorted: a registry is the collection of choices a config key may take."""
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
