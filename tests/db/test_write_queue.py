"""The write queue: a process's SQLite writers take turns in arrival order, and a writer that cannot
have its turn soon enough is refused at once instead of being left in SQLite's busy handler."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from tenure.db.engine import WriteQueue, WriteQueueBusy

# Generous: these bound how long a broken queue may hang a test, not how fast a working one is.
PATIENCE = 30.0


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def test_turns_are_served_in_arrival_order() -> None:
    queue = WriteQueue(max_waiting=16, max_wait_seconds=PATIENCE)
    queue.acquire()
    served: list[int] = []

    def writer(number: int) -> None:
        queue.acquire()
        served.append(number)
        queue.release()

    threads = []
    for number in range(8):
        thread = threading.Thread(target=writer, args=(number,))
        thread.start()
        threads.append(thread)
        wait_until(lambda n=number: queue.waiting == n + 1)  # queued before the next one arrives
    queue.release()
    for thread in threads:
        thread.join(PATIENCE)
    assert served == list(range(8))
    assert not queue.held and queue.waiting == 0


def test_a_released_turn_is_handed_to_the_first_waiter() -> None:
    """Handed over, not put up for grabs: no gap in which a newcomer could take it first."""
    queue = WriteQueue(max_waiting=16, max_wait_seconds=PATIENCE)
    queue.acquire()
    got_it = threading.Event()
    done = threading.Event()

    def waiter() -> None:
        queue.acquire()
        got_it.set()
        done.wait(PATIENCE)
        queue.release()

    thread = threading.Thread(target=waiter)
    thread.start()
    wait_until(lambda: queue.waiting == 1)
    queue.release()
    assert queue.held and queue.waiting == 0  # the waiter's now, before it has even woken up
    assert got_it.wait(PATIENCE)
    done.set()
    thread.join(PATIENCE)
    assert not queue.held


def test_a_wait_is_bounded_and_leaves_the_queue_as_it_was() -> None:
    queue = WriteQueue(max_waiting=16, max_wait_seconds=0.2)
    queue.acquire()
    started = time.monotonic()
    with pytest.raises(WriteQueueBusy) as refused:
        queue.acquire()
    assert 0.2 <= time.monotonic() - started < PATIENCE
    assert refused.value.retry_after >= 1
    assert "busy" in str(refused.value)
    assert queue.waiting == 0 and queue.held
    queue.release()
    queue.acquire()  # still usable, and free again
    queue.release()
    assert not queue.held


def test_a_full_queue_refuses_at_once() -> None:
    queue = WriteQueue(max_waiting=1, max_wait_seconds=PATIENCE)
    queue.acquire()
    waiter = threading.Thread(target=lambda: (queue.acquire(), queue.release()))
    waiter.start()
    wait_until(lambda: queue.waiting == 1)
    started = time.monotonic()
    with pytest.raises(WriteQueueBusy):
        queue.acquire()
    assert time.monotonic() - started < PATIENCE / 3  # at once, not after a wait
    queue.release()
    waiter.join(PATIENCE)
    assert not queue.held and queue.waiting == 0


def test_a_turn_is_given_back_when_the_holder_fails() -> None:
    queue = WriteQueue(max_waiting=4, max_wait_seconds=PATIENCE)

    def failing_write() -> None:
        queue.acquire()
        try:
            raise RuntimeError("the write failed")
        finally:
            queue.release()

    with pytest.raises(RuntimeError):
        failing_write()
    assert not queue.held
    queue.acquire()
    queue.release()


def test_releasing_a_free_queue_is_a_bug() -> None:
    with pytest.raises(RuntimeError):
        WriteQueue(max_waiting=1, max_wait_seconds=1).release()
