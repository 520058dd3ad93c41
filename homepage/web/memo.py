"""Values a process computes once and keeps, within a bound."""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V], Generic[K, V]):
    """A dict of computed values that starts again past ``limit`` entries.

    Dropping everything at once is crude but cheap and needs no lock: threads
    share it, and a dict's single operations are atomic. Keys must name
    everything the value depends on, so that a kept value is never stale.
    A limit of 0 keeps nothing.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def keep(self, key: K, value: V) -> V:
        """Remember ``value`` under ``key`` and return it."""
        if self.limit:
            if len(self) >= self.limit:
                self.clear()
            self[key] = value
        return value
