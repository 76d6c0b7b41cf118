"""Thread-friendly wrapper: consume a :class:`~.stream.BarStream` from ordinary (non-async) code.

The stream runs on its own event loop in a daemon thread and hands bars over through a bounded
``queue.Queue``; when the consumer falls behind, the producer blocks (backpressure), so memory stays
bounded by ``maxsize`` bars plus the stream's own socket-level bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Any

from tradingmodel.data.polygon.stream import BarStream, StreamBar

_END = object()


class ThreadedBarStream:
    """``for bar in ThreadedBarStream(stream): ...`` — blocking iteration, errors re-raised here.

    Use as a context manager (or call :meth:`close`) to stop the background thread.
    """

    def __init__(self, stream: BarStream, *, maxsize: int = 1000) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.stream = stream
        self.queue: queue.Queue[Any] = queue.Queue(maxsize)
        self.max_seen = 0  # largest queue length observed (for monitoring)
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._main, name="polygon-stream", daemon=True)
        self._started = False

    def start(self) -> ThreadedBarStream:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._task = loop.create_task(self._pump())
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except BaseException as e:  # handed to the consumer
            self._error = e
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._put_end()

    def _put_end(self) -> None:
        while True:
            try:
                self.queue.put(_END, timeout=0.1)
                return
            except queue.Full:
                if self._stop.is_set():
                    return

    async def _pump(self) -> None:
        agen = self.stream.__aiter__()
        try:
            async for bar in agen:
                while True:
                    if self._stop.is_set():
                        return
                    try:
                        self.queue.put_nowait(bar)
                        break
                    except queue.Full:  # backpressure: wait in a worker thread, the loop stays free
                        if await asyncio.to_thread(self._put_wait, bar):
                            break
                self.max_seen = max(self.max_seen, self.queue.qsize())
        finally:
            await agen.aclose()  # type: ignore[attr-defined]
            await self.stream.aclose()

    def _put_wait(self, bar: StreamBar) -> bool:
        try:
            self.queue.put(bar, timeout=0.05)
            return True
        except queue.Full:
            return False

    def get(self, timeout: float | None = None) -> StreamBar | None:
        """Next bar; ``None`` when the stream ended. Raises the stream's error; ``queue.Empty`` on timeout."""
        self.start()
        item = self.queue.get(timeout=timeout)
        if item is _END:
            self.queue.put(_END)  # later calls see the end too
            if self._error is not None:
                raise self._error
            return None
        return item

    def __iter__(self) -> Iterator[StreamBar]:
        while (bar := self.get()) is not None:
            yield bar

    def close(self, timeout: float = 5.0) -> None:
        """Stop the stream and join the thread."""
        self._stop.set()
        if self._loop is not None and self._task is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._task.cancel)
        if self._started:
            self._thread.join(timeout)

    def __enter__(self) -> ThreadedBarStream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
