"""One read serves every thread that asked before it began.

Every reader page and every 304 starts by reading the site's state (content
version, newest due post). Under load, a process's threads ask for it many
times at once; on PostgreSQL each ask is a round trip to the server, which
cost cached pages 40 % of their speed. A :class:`Coalesced` read lets those
threads share one statement, without ever handing a thread an answer older
than its own request: a thread waits for a read that *began after it asked*,
so it sees every save acknowledged before it arrived, as a read of its own
would (a save on another host is still visible on the very next request).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Coalesced(Generic[T]):
    """Run ``read`` for a thread, or share a run that began after the thread asked.

    At most one run is under way at a time. A thread that asks while one is
    under way waits for it to end and then starts the next run, unless another
    waiting thread started it first, in which case it shares that one. A run
    that raises hands its error to its own thread only; the waiting threads
    run the next one themselves.
    """

    def __init__(self, read: Callable[[], T]) -> None:
        self._read = read
        self._changed = threading.Condition(threading.Lock())
        #: How many runs have begun, and whether the last one is under way.
        self._begun = 0
        self._running = False
        #: The number of the last run that ended well, and what it returned.
        self._done = 0
        self._value: T | None = None

    def __call__(self) -> T:
        """Return what a run that began after this call returned."""
        with self._changed:
            # A run under way now began before this call, so it cannot serve
            # it; the next run to begin can.
            needed = self._begun + 1
            while True:
                if self._done >= needed:
                    return self._value  # type: ignore[return-value]
                if not self._running:
                    break
                self._changed.wait()
            self._begun += 1
            number = self._begun
            self._running = True
        try:
            value = self._read()
        except BaseException:
            with self._changed:
                self._running = False
                self._changed.notify_all()
            raise
        with self._changed:
            self._running = False
            self._done, self._value = number, value
            self._changed.notify_all()
        return value
