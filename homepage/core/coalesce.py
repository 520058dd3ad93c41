"""One read serves every request that reached the server before it began.

Every reader page and every 304 starts by reading the site's state (content
version, newest due post). Under load a process's threads ask for it many
times a millisecond, and on PostgreSQL each ask is a round trip to the
server. A :class:`Coalesced` read is shared without ever handing a caller an
answer older than its request: the caller names the moment its request
reached the server, and gets the answer of a read that *began after that
moment*. Every save acknowledged before the request was sent committed
before that moment, so the read sees it, as a read of the request's own
would; a save on another host is visible on the very next request.

A request waits in the server's queue, and for a thread, before it asks; a
read that began while it waited serves it at once. So under load most
requests send no statement at all, and at a quiet moment each reads for
itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

#: Seconds by which the system clock may move against the monotonic clock
#: before the last read's moment is no longer trusted. The two move apart
#: only when the system clock is set (an NTP step, a hand), which makes a
#: moment taken before it incomparable with one taken after; smaller
#: differences come from reading the two clocks one after the other. NTP
#: daemons step only for offsets well above this and slew the rest.
CLOCK_STEP = 0.05


class Coalesced(Generic[T]):
    """Run ``read`` for a caller, or share a run that began after the caller's moment.

    At most one run is under way at a time. A caller whose moment is before
    the last run began takes that run's answer; otherwise it waits for the
    run under way, if any, and takes its answer if that run began after its
    moment, or else starts the next run (or shares it with a caller that
    started it first). A run that raises hands its error to its own caller
    only; the waiting callers run the next one themselves.

    Moments are on the system clock (``time.time()``), the clock on which
    Apache stamps a request; ``wall_clock`` and ``steady_clock`` stand in
    for it and for the monotonic clock in tests.
    """

    def __init__(
        self,
        read: Callable[[], T],
        wall_clock: Callable[[], float] = time.time,
        steady_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._wall_clock = wall_clock
        self._steady_clock = steady_clock
        self._changed = threading.Condition(threading.Lock())
        self._running = False
        #: When the last run that ended well began, the system clock's lead
        #: over the monotonic clock then, and what the run returned.
        self._began = float("-inf")
        self._lead = 0.0
        self._value: T | None = None

    def __call__(self, since: float | None = None) -> T:
        """Return what a run that began after ``since`` returned.

        :param since: when the caller's request reached the server, on the
            system clock; now if None.
        """
        if since is None:
            since = self._wall_clock()
        with self._changed:
            while self._running and not self._began_after(since):
                self._changed.wait()
            if self._began_after(since):
                return self._value  # type: ignore[return-value]
            self._running = True
        # Taken before the statement is sent: its answer is at least this new.
        began, lead = self._now()
        try:
            value = self._read()
        except BaseException:
            with self._changed:
                self._running = False
                self._changed.notify_all()
            raise
        with self._changed:
            self._running = False
            self._began, self._lead, self._value = began, lead, value
            self._changed.notify_all()
        return value

    def _now(self) -> tuple[float, float]:
        """Return the system clock's time and its lead over the monotonic clock."""
        wall = self._wall_clock()
        return wall, wall - self._steady_clock()

    def _began_after(self, since: float) -> bool:
        """Tell whether the last run began after ``since``, on an unchanged clock."""
        _, lead = self._now()
        return self._began > since and abs(lead - self._lead) <= CLOCK_STEP
