"""Group commit: many callers' items written in one transaction, each caller told when.

Theory of operation: :meth:`GroupCommit.submit` queues a caller's items and
waits. One committer task takes queued items into a batch and hands it to the
``commit`` function (one transaction); when that returns, every caller whose
items were in the batch returns too, and when it raises, every such caller
raises the same error (for the connector: answer those PDUs with a temporary
error, the SMSC redelivers). A caller's items are never acknowledged before
the transaction holding them committed.

A batch closes at the first of:

* ``batch_max`` items;
* ``batch_ms`` after its first item was queued;
* the input going quiet: the committer is free and two turns of the event
  loop brought nothing new. With an SMSC's window, nothing more can arrive
  until we answer what we have, so waiting out ``batch_ms`` then would only
  add latency: at window 100 it capped a connector at 100 messages per
  ``batch_ms``.

While a transaction runs, new items queue up and form the next batch, so
batches grow by themselves when the database is the slow part. There is one
committer, so transactions of one sink never overlap: a redelivery in the
next batch always sees the rows of the previous one, which is what makes the
per-batch duplicate query enough.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

#: Event-loop turns with no new submission after which the input counts as quiet:
#: one for the read that produced a batch, one for the task that hands it on.
_QUIET_TURNS = 2


class SinkClosed(ConnectionError):
    """The sink is shut down: nothing is stored, the SMSC will redeliver."""


class GroupCommit(Generic[T]):
    """Coalesces concurrent :meth:`submit` calls into transactions. See the module docstring."""

    def __init__(
        self,
        commit: Callable[[list[T]], Awaitable[None]],
        *,
        batch_max: int,
        batch_ms: float,
        name: str = "group-commit",
    ) -> None:
        if batch_max < 1:
            raise ValueError("batch_max must be at least 1")
        self._commit = commit
        self.batch_max = batch_max
        self.batch_wait = max(batch_ms, 0.0) / 1000.0
        self.name = name
        self._queue: deque[tuple[Sequence[T], asyncio.Future[None], float]] = deque()
        self._queued = 0
        self._submissions = 0
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0
        self.items = 0

    async def submit(self, items: Sequence[T]) -> None:
        """Return once ``items`` are committed; raise what the commit raised otherwise."""
        if self._closed:
            raise SinkClosed(f"{self.name} is closed")
        if not items:
            return
        loop = asyncio.get_running_loop()
        futures = []
        now = loop.time()
        # A caller with more than one batch's worth is split; it returns when all are in.
        for start in range(0, len(items), self.batch_max):
            chunk = items[start : start + self.batch_max]
            future: asyncio.Future[None] = loop.create_future()
            self._queue.append((chunk, future, now))
            self._queued += len(chunk)
            futures.append(future)
        self._submissions += 1
        self._ensure_committer(loop)
        if len(futures) == 1:
            await futures[0]
        else:
            await asyncio.gather(*futures)

    def _ensure_committer(self, loop: asyncio.AbstractEventLoop) -> None:
        # The committer lives while there is work and ends when the queue is empty, so an
        # idle sink leaves no task behind.
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        try:
            while self._queue:
                await self._gather()
                await self._commit_one()
        finally:
            self._fail_queued(SinkClosed(f"{self.name} stopped"))

    async def _gather(self) -> None:
        """Wait until the batch at the head of the queue should close."""
        loop = asyncio.get_running_loop()
        deadline = self._queue[0][2] + self.batch_wait
        while self._queued < self.batch_max and not self._closed:
            if loop.time() >= deadline:
                return
            seen = self._submissions
            for _ in range(_QUIET_TURNS):
                await asyncio.sleep(0)
            if self._submissions == seen:
                return

    async def _commit_one(self) -> None:
        batch: list[T] = []
        waiters: list[asyncio.Future[None]] = []
        while self._queue and len(batch) + len(self._queue[0][0]) <= self.batch_max:
            chunk, future, _queued_at = self._queue.popleft()
            self._queued -= len(chunk)
            if future.cancelled():
                continue  # its caller is gone and will not ack: the SMSC redelivers anyway
            batch.extend(chunk)
            waiters.append(future)
        if not batch:
            return
        try:
            await self._commit(batch)
        except asyncio.CancelledError:
            for future in waiters:
                if not future.done():
                    future.set_exception(SinkClosed(f"{self.name} stopped mid-commit"))
            raise
        except Exception as error:  # the callers decide; the committer goes on
            for future in waiters:
                if not future.done():
                    future.set_exception(error)
        else:
            self.batches += 1
            self.items += len(batch)
            for future in waiters:
                if not future.done():
                    future.set_result(None)

    def _fail_queued(self, error: BaseException) -> None:
        while self._queue:
            _chunk, future, _queued_at = self._queue.popleft()
            if not future.done():
                future.set_exception(error)
        self._queued = 0

    async def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued (up to ``timeout`` seconds), then refuse new items."""
        self._closed = True
        task = self._task
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
