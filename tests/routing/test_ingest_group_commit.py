"""GroupCommit with a fake commit: coalescing, limits, errors, shutdown."""

from __future__ import annotations

import asyncio

import pytest

from smslocker.routing.group_commit import GroupCommit, SinkClosed


class FakeStore:
    """Records each batch; can be told to fail a batch or to hold commits until released."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.fail_when: str | None = None
        self.gate: asyncio.Event | None = None

    async def commit(self, batch: list[str]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)
        if self.fail_when is not None and self.fail_when in batch:
            raise RuntimeError(f"cannot store {self.fail_when}")
        self.batches.append(list(batch))


def group(store: FakeStore, batch_max: int = 100, batch_ms: float = 1000.0) -> GroupCommit[str]:
    return GroupCommit(store.commit, batch_max=batch_max, batch_ms=batch_ms)


async def test_calls_of_one_moment_share_one_transaction() -> None:
    store = FakeStore()
    committer = group(store)
    await asyncio.gather(*(committer.submit([f"m{i}"]) for i in range(10)))
    assert store.batches == [[f"m{i}" for i in range(10)]]


async def test_a_caller_returns_only_after_its_commit() -> None:
    store = FakeStore()
    store.gate = asyncio.Event()
    committer = group(store)
    caller = asyncio.create_task(committer.submit(["a"]))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not caller.done()
    store.gate.set()
    await caller
    assert store.batches == [["a"]]


async def test_batch_max_bounds_a_transaction_and_big_callers_are_split() -> None:
    store = FakeStore()
    committer = group(store, batch_max=5)
    await asyncio.gather(
        committer.submit(["a1", "a2", "a3", "a4"]),
        committer.submit(["b1", "b2", "b3", "b4"]),
        committer.submit([f"c{i}" for i in range(12)]),
    )
    assert all(len(batch) <= 5 for batch in store.batches)
    assert sorted(item for batch in store.batches for item in batch) == sorted(
        ["a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4", *(f"c{i}" for i in range(12))]
    )


async def test_while_a_transaction_runs_the_next_batch_gathers() -> None:
    store = FakeStore()
    store.gate = asyncio.Event()
    committer = group(store)
    first = asyncio.create_task(committer.submit(["first"]))
    for _ in range(5):
        await asyncio.sleep(0)  # "first" is being committed (held at the gate)
    later = [asyncio.create_task(committer.submit([f"later{i}"])) for i in range(5)]
    for _ in range(5):
        await asyncio.sleep(0)
    store.gate.set()
    await asyncio.gather(first, *later)
    assert store.batches == [["first"], [f"later{i}" for i in range(5)]]


async def test_batch_ms_closes_a_batch_when_input_never_pauses() -> None:
    store = FakeStore()
    committer = group(store, batch_ms=5.0)
    stop = asyncio.Event()
    callers: list[asyncio.Task[None]] = []

    async def producer() -> None:
        # A new submission on every turn of the loop: the input is never quiet.
        index = 0
        while not stop.is_set():
            callers.append(asyncio.create_task(committer.submit([f"m{index}"])))
            index += 1
            await asyncio.sleep(0)

    running = asyncio.create_task(producer())
    async with asyncio.timeout(5):
        while True:  # each turn of the loop lets the producer submit once more
            await asyncio.sleep(0)
            if store.batches:
                break
    stop.set()
    await running
    await asyncio.gather(*callers)
    assert len(store.batches) >= 2  # the first batch did not wait for the producer to stop


async def test_a_failed_commit_fails_its_callers_only() -> None:
    store = FakeStore()
    store.fail_when = "bad"
    committer = group(store)
    outcome = await asyncio.gather(
        committer.submit(["good1"]), committer.submit(["bad"]), return_exceptions=True
    )
    assert all(isinstance(result, RuntimeError) for result in outcome)  # one transaction
    store.fail_when = None
    await committer.submit(["good2"])
    assert store.batches == [["good2"]]


async def test_a_cancelled_caller_does_not_break_the_committer() -> None:
    store = FakeStore()
    store.gate = asyncio.Event()
    committer = group(store)
    caller = asyncio.create_task(committer.submit(["gone"]))
    await asyncio.sleep(0)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    store.gate.set()
    await committer.submit(["next"])
    assert store.batches == [["next"]]  # the cancelled caller's items were dropped


async def test_close_commits_what_is_queued_then_refuses() -> None:
    store = FakeStore()
    store.gate = asyncio.Event()
    committer = group(store)
    caller = asyncio.create_task(committer.submit(["queued"]))
    await asyncio.sleep(0)
    closing = asyncio.create_task(committer.close())
    await asyncio.sleep(0)
    store.gate.set()
    await asyncio.gather(caller, closing)
    assert store.batches == [["queued"]]
    with pytest.raises(SinkClosed):
        await committer.submit(["late"])


async def test_close_with_a_stuck_commit_fails_the_callers_after_the_timeout() -> None:
    store = FakeStore()
    store.gate = asyncio.Event()  # never set
    committer = group(store)
    caller = asyncio.create_task(committer.submit(["stuck"]))
    await asyncio.sleep(0)
    await committer.close(timeout=0.05)
    with pytest.raises(SinkClosed):
        await caller


async def test_an_empty_submission_returns_at_once() -> None:
    store = FakeStore()
    await group(store).submit([])
    assert store.batches == []
