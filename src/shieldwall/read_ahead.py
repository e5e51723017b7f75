"""Items of an iterator produced a few ahead in a thread while the caller works on the
current one: worth it where the producer mostly waits outside the interpreter lock (a
database server working out the next page, the C JSON scanner) and the caller is busy in
Python. The MISP JSON import and the sensor exports on PostgreSQL use it."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_END = object()


def read_ahead(source: Callable[[], Iterable[T]], *, depth: int, name: str) -> Iterator[T]:
    """The items of `source()`, which runs in a thread of its own (so anything it opens,
    such as a connection, belongs to that thread), at most `depth` ahead of the caller.
    An error in the thread is raised here; closing the iterator stops the thread and
    closes the source's iterator in it."""
    ready: queue.Queue[Any] = queue.Queue(depth)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        """Hand an item over once there is room; False once the caller has gone."""
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        items = iter(source())
        try:
            for item in items:
                if not offer(item):
                    return
            offer(_END)
        except BaseException as exc:  # handed to the caller, which raises it
            offer(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
