"""Model passes off the event loop, and micro-batching of concurrent single requests.

A model pass over 16 utterances costs little more than one over a single utterance, so single
requests that arrive together are checked in one ``check_batch`` call. A request never waits more
than ``wait_s`` for company, and only when more requests are known to be on their way (already
received by the server but not yet queued); a lone request goes straight to the model.
"""

from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Deque, Generic, List, Optional, Sequence, Set, Tuple, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Lanes:
    """``slots`` inference threads shared by every endpoint; a model pass runs on one of them.

    Requests beyond the free slots wait here (in the event loop), not in the executor's queue, so
    the micro-batcher can keep gathering while every slot is busy.
    """

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots!r}")
        self.slots = slots
        self._executor = ThreadPoolExecutor(slots, thread_name_prefix="cs-qa-serve")
        self._free: Optional[asyncio.Semaphore] = None

    @property
    def free(self) -> asyncio.Semaphore:
        if self._free is None:  # created inside the running loop
            self._free = asyncio.Semaphore(self.slots)
        return self._free

    def busy(self) -> bool:
        return self.free.locked()

    async def run(self, fn: Callable[..., R], *args: Any) -> R:
        async with self.free:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def run_acquired(self, fn: Callable[..., R], *args: Any) -> R:
        """Run ``fn`` on a slot the caller already acquired; release it when done."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self.free.release()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)


class MicroBatcher(Generic[T, R]):
    """``await submit(item)`` -> ``run_batch([.., item, ..])[i]``, many submits sharing one call.

    ``coming()`` says how many requests the server has received but not yet handed to a batcher;
    while some are and the batch has room, it waits for them, at most ``wait_s``.
    """

    def __init__(
        self,
        run_batch: Callable[[List[T]], Sequence[R]],
        lanes: Lanes,
        max_items: int = 64,
        wait_s: float = 0.002,
        coming: Callable[[], int] = lambda: 0,
        on_batch: Callable[[int], None] = lambda n: None,
    ) -> None:
        self.run_batch, self.lanes, self.max_items, self.wait_s = run_batch, lanes, max_items, wait_s
        self.coming, self.on_batch = coming, on_batch
        self._pending: Deque[Tuple[T, "asyncio.Future[R]"]] = deque()
        self._event: Optional[asyncio.Event] = None
        self._task: "Optional[asyncio.Task[None]]" = None
        self._running: "Set[asyncio.Task[None]]" = set()  # batches in the model now
        self._closed = False

    @property
    def _arrived(self) -> asyncio.Event:
        if self._event is None:  # created inside the running loop (Python 3.9 binds it at creation)
            self._event = asyncio.Event()
        return self._event

    async def submit(self, item: T) -> R:
        if self._closed:
            raise RuntimeError("the server is shutting down")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())
        future: "asyncio.Future[R]" = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._arrived.set()
        return await future

    async def _loop(self) -> None:
        while True:
            if not self._pending:
                if self._closed:
                    return
                self._arrived.clear()
                await self._arrived.wait()
                continue
            was_busy = self.lanes.busy()
            await self.lanes.free.acquire()
            if not was_busy:  # the model was idle: wait (bounded) for requests already received
                await self._gather()
            batch = [self._pending.popleft() for _ in range(min(self.max_items, len(self._pending)))]
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _gather(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        while len(self._pending) < self.max_items and not self._closed:
            left = deadline - loop.time()
            if self.coming() <= 0 or left <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except asyncio.TimeoutError:
                return

    async def _run(self, batch: List[Tuple[T, "asyncio.Future[R]"]]) -> None:
        self.on_batch(len(batch))
        try:
            results = await self.lanes.run_acquired(self.run_batch, [item for item, _ in batch])
        except Exception as exc:  # noqa: BLE001 - handed to every waiting request
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (_, future), result in zip(batch, results):
                if not future.done():  # a client that went away cancelled its future
                    future.set_result(result)

    async def close(self) -> None:
        """Finish every queued and running batch, then stop."""
        self._closed = True
        if self._task is not None:
            self._arrived.set()
            await self._task
        if self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)
