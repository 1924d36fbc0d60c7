"""The write queue: a process's SQLite writers take turns in arrival order, and a writer that cannot
have its turn soon enough is refused at once instead of being left in SQLite's busy handler. The
processes that share a file take turns at its gate."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tenure.db.engine import ProcessGate, WriteQueue, WriteQueueBusy

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


def _gated(path: Path) -> WriteQueue:
    return WriteQueue(max_waiting=4, max_wait_seconds=PATIENCE, gate=ProcessGate(str(path)))


def test_queues_with_one_gate_take_turns(tmp_path: Path) -> None:
    """Two queues on one file, as two processes have: the holder of the second's turn waits at the
    gate while the first holds it, has it the moment the first lets go, and the first then waits."""
    lock_file = tmp_path / "tenure.sqlite3.write-lock"
    first, second = _gated(lock_file), _gated(lock_file)
    first.acquire()
    second_in = threading.Event()
    second_done = threading.Event()

    def other_process() -> None:
        second.acquire()
        second_in.set()
        second_done.wait(PATIENCE)
        second.release()

    thread = threading.Thread(target=other_process)
    thread.start()
    assert not second_in.wait(0.3)  # at the gate
    first.release()
    assert second_in.wait(PATIENCE)
    first_in = threading.Event()
    again = threading.Thread(target=lambda: (first.acquire(), first_in.set()))
    again.start()
    assert not first_in.wait(0.3)
    second_done.set()
    assert first_in.wait(PATIENCE)
    first.release()
    thread.join(PATIENCE)
    again.join(PATIENCE)
    assert not first.held and not second.held


def test_the_gate_holds_between_processes(tmp_path: Path) -> None:
    lock_file = tmp_path / "tenure.sqlite3.write-lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from tenure.db.engine import ProcessGate; gate = ProcessGate(sys.argv[1]); "
            "gate.lock(); print('locked', flush=True); sys.stdin.readline(); gate.unlock()",
            str(lock_file),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "locked"
        queue = _gated(lock_file)
        ours = threading.Event()
        waiter = threading.Thread(target=lambda: (queue.acquire(), ours.set()))
        waiter.start()
        assert not ours.wait(0.3)  # the other process has it
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert ours.wait(PATIENCE)
        queue.release()
        waiter.join(PATIENCE)
    finally:
        holder.kill()
        holder.wait(PATIENCE)


def test_a_gate_that_cannot_be_made_leaves_the_order_to_sqlite(tmp_path: Path) -> None:
    queue = _gated(tmp_path / "missing directory" / "tenure.sqlite3.write-lock")
    queue.acquire()
    queue.release()
    assert not queue.held
