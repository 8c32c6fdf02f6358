"""The spawn queue (hub/spawn_queue.py): starts admitted in order, a few at a time, nobody refused."""

import asyncio
import sys

import pytest

from template_helpers import PROJECT_TEMPLATE, load_module

sys.path.insert(0, str(PROJECT_TEMPLATE / "hub"))
spawn_queue = load_module(PROJECT_TEMPLATE / "hub" / "spawn_queue.py", "spawn_queue")


async def start_many(queue, names, width, hold):
    """Each name takes a ticket in order, enters, holds its slot for `hold` s, leaves; returns admission order."""
    admitted = []

    async def one(name):
        ticket = queue.ticket(width)
        await queue.enter(ticket, width)
        admitted.append((name, queue.running))
        await asyncio.sleep(hold)
        queue.leave(width)

    await asyncio.gather(*(one(name) for name in names))
    return admitted


def test_admits_in_order_and_never_more_than_the_width():
    queue = spawn_queue.AdmissionQueue()
    names = [f"user{number:02d}" for number in range(12)]
    admitted = asyncio.run(start_many(queue, names, width=3, hold=0.01))
    assert [name for name, _ in admitted] == names, "first come, first served"
    assert max(running for _, running in admitted) == 3
    assert queue.running == 0 and not queue.waiting


def test_positions_count_down_and_a_cancelled_wait_gives_its_place_back():
    async def scenario():
        queue = spawn_queue.AdmissionQueue()
        first = queue.ticket(1)
        await queue.enter(first, 1)
        second, third = queue.ticket(1), queue.ticket(1)
        assert (queue.position(second), queue.position(third)) == (1, 2)
        waiting = asyncio.ensure_future(queue.enter(second, 1))
        await asyncio.sleep(0)
        waiting.cancel()  # e.g. the user's spawn timed out or was stopped
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert queue.position(third) == 1
        queue.leave(1)
        await queue.enter(third, 1)
        assert queue.running == 1 and not queue.waiting

    asyncio.run(scenario())


def test_a_wait_cancelled_just_after_admission_frees_the_slot():
    async def scenario():
        queue = spawn_queue.AdmissionQueue()
        holder = queue.ticket(1)
        await queue.enter(holder, 1)
        late = queue.ticket(1)
        waiting = asyncio.ensure_future(queue.enter(late, 1))
        await asyncio.sleep(0)
        queue.leave(1)  # admits `late` ...
        waiting.cancel()  # ... whose spawn is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert queue.running == 0, "the slot is not leaked"

    asyncio.run(scenario())
