"""One registry style for everything chosen by name: inverse algorithms, forward solvers, reward
and policy kinds. A :class:`Registry` maps a name to an entry and says which names it knows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Name → entry, for one kind of thing (``what``, e.g. ``"inverse algorithm"``).

    ``register(name, entry)`` adds one (a name twice is an error); ``decorator(name)`` is
    the same as a class decorator; ``get(name)`` raises ``KeyError`` listing the known names.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"a {self.what} named {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def decorator(self, name: str) -> Callable[[T], T]:
        """A class decorator that registers the class under ``name`` and sets its ``kind`` attribute."""

        def decorate(cls: T) -> T:
            cls.kind = name  # type: ignore[attr-defined]
            return self.register(name, cls)

        return decorate

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"unknown {self.what} {name!r}; known: {', '.join(self._entries)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def items(self):
        return self._entries.items()

    def values(self):
        return self._entries.values()
