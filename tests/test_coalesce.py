"""Requests share a read of the site's state begun after they came, never older."""

from __future__ import annotations

import threading
import time

import pytest

from homepage.core.coalesce import Coalesced


class Database:
    """A read that blocks until the test lets it finish, and counts its runs."""

    def __init__(self, blocking: bool = True) -> None:
        self.blocking = blocking
        self.runs = 0
        self.version = 1
        self.gates: list[threading.Event] = []
        self.started = threading.Semaphore(0)
        self.fail_next = False

    def read(self) -> int:
        self.runs += 1
        gate = threading.Event()
        self.gates.append(gate)
        seen = self.version
        self.started.release()
        assert not self.blocking or gate.wait(10), "the test never let the read finish"
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("the server went away")
        return seen

    def finish(self, number: int) -> None:
        """Let run ``number`` (from 1) return."""
        deadline = time.monotonic() + 10
        while len(self.gates) < number:
            assert time.monotonic() < deadline, f"run {number} never began"
            time.sleep(0.001)
        self.gates[number - 1].set()


class Clock:
    """The system clock and the monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.wall = 1_800_000_000.0
        self.steady = 5_000.0

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.steady

    def tick(self, seconds: float = 0.001) -> None:
        """Let time pass."""
        self.wall += seconds
        self.steady += seconds

    def set_back(self, seconds: float) -> None:
        """Set the system clock back, as an NTP step or an operator would."""
        self.wall -= seconds


def ask(
    state: Coalesced, answers: list, name: str, since: float | None = None
) -> threading.Thread:
    """Start a thread that asks for the state and records its answer."""

    def run() -> None:
        try:
            answers.append((name, state(since)))
        except ConnectionError as error:
            answers.append((name, error))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_until_waiting(state: Coalesced, threads: int) -> None:
    """Wait until ``threads`` threads are blocked in the state's condition."""
    deadline = time.monotonic() + 10
    while len(state._changed._waiters) < threads:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline
        time.sleep(0.001)


@pytest.fixture
def database() -> Database:
    return Database()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_lone_thread_reads_for_itself_every_time():
    database = Database(blocking=False)
    state = Coalesced(database.read)
    assert [state(), state(), state()] == [1, 1, 1]
    assert database.runs == 3


@pytest.mark.parametrize("readers", [1, 5])
def test_threads_that_ask_during_a_read_share_the_next_never_that_one(
    database, readers
):
    state = Coalesced(database.read)
    answers: list = []
    first = ask(state, answers, "first")
    database.started.acquire()
    # A save lands while the first read is under way; then readers ask.
    database.version = 2
    others = [ask(state, answers, f"reader {n}") for n in range(readers)]
    wait_until_waiting(state, readers)

    database.finish(1)
    database.finish(2)
    for thread in [first, *others]:
        thread.join(10)

    assert sorted(answers) == [("first", 1)] + [
        (f"reader {n}", 2) for n in range(readers)
    ]
    # However many readers asked meanwhile: two statements.
    assert database.runs == 2


def test_a_failed_read_fails_its_own_thread_and_the_others_read_again(database):
    state = Coalesced(database.read)
    answers: list = []
    database.fail_next = True
    first = ask(state, answers, "first")
    database.started.acquire()
    waiting = [ask(state, answers, f"reader {n}") for n in range(3)]
    wait_until_waiting(state, 3)

    database.finish(1)
    # A run that began after the readers asked: it serves them all.
    database.finish(2)
    for thread in [first, *waiting]:
        thread.join(10)

    errors = [name for name, answer in answers if isinstance(answer, Exception)]
    assert errors == ["first"]
    assert sorted(a for a in answers if a[0] != "first") == [
        (f"reader {n}", 1) for n in range(3)
    ]
    assert database.runs == 2


def test_a_read_serves_the_requests_that_came_before_it_began(clock):
    database = Database(blocking=False)
    state = Coalesced(database.read, clock.time, clock.monotonic)
    came = clock.time()
    clock.tick()  # the request waits for a thread; then its read begins
    assert state(came) == 1

    # A save is acknowledged; a request that came before the read began
    # was sent before that, so the read's answer is the one it may see.
    database.version = 2
    clock.tick()
    assert state(came) == 1
    assert database.runs == 1
    # A request that comes now reads again, and sees the save.
    assert state(clock.time()) == 2
    assert database.runs == 2


def test_a_request_that_came_before_the_read_under_way_shares_that_one(database, clock):
    state = Coalesced(database.read, clock.time, clock.monotonic)
    answers: list = []
    came = clock.time()
    clock.tick()
    first = ask(state, answers, "first")
    database.started.acquire()
    queued = ask(state, answers, "came before it", since=came)
    wait_until_waiting(state, 1)

    database.finish(1)
    for thread in (first, queued):
        thread.join(10)

    assert sorted(answers) == [("came before it", 1), ("first", 1)]
    assert database.runs == 1


@pytest.mark.parametrize("step", [10.0, 0.5], ids=["10 s", "half a second"])
def test_setting_the_system_clock_back_makes_earlier_reads_unusable(clock, step):
    database = Database(blocking=False)
    state = Coalesced(database.read, clock.time, clock.monotonic)
    assert state() == 1
    database.version = 2
    clock.tick()

    # Set back, the clock dates a request that comes now before the read
    # that began earlier: after a step, moments on either side of it cannot
    # be compared, so the state is read again.
    clock.set_back(step)
    assert state() == 2
    assert database.runs == 2
    # Reads made after the step are shared again.
    clock.tick()
    assert state(clock.time() - 0.002) == 2
    assert database.runs == 2


def test_the_clocks_read_a_moment_apart_do_not_count_as_a_step(clock):
    database = Database(blocking=False)
    state = Coalesced(database.read, clock.time, clock.monotonic)
    came = clock.time()
    clock.tick()
    assert state(came) == 1
    # A thread switch between reading the two clocks looks like this.
    clock.steady += 0.003
    assert state(came) == 1
    assert database.runs == 1
