"""Tailing telemetry files as they grow: new whole lines are handed on as they are written,
a rotated file (a new inode under the name) is read to its end and the new one from its
start, a truncated file from its start again."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

READ = 4 << 20


@dataclass
class _Tail:
    name: str
    handle: IO[bytes] | None = None
    inode: int = -1
    line: int = 1
    partial: bytes = b""

    def open(self, at_start: bool = True) -> None:
        try:
            handle = open(self.name, "rb")  # noqa: SIM115
        except OSError:
            return
        self.handle = handle
        self.inode = os.fstat(handle.fileno()).st_ino
        self.line = 1
        self.partial = b""

    def read(self) -> Iterator[tuple[int, bytes]]:
        """(first line number, chunk of whole lines) of what was written since."""
        if self.handle is None:
            return
        while True:
            block = self.handle.read(READ)
            if not block:
                return
            data = self.partial + block
            cut = data.rfind(b"\n") + 1
            self.partial = data[cut:]
            if cut:
                first = self.line
                self.line += data.count(b"\n", 0, cut)
                yield first, data[:cut]

    def rotated(self) -> bool:
        try:
            st = os.stat(self.name)
        except OSError:
            return False
        if self.handle is None:
            return True
        if st.st_ino != self.inode:
            return True
        if st.st_size < self.handle.tell():
            # Truncated in place: start again from the top.
            self.handle.seek(0)
            self.line = 1
            self.partial = b""
        return False

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def follow_chunks(
    names: list[str], poll_seconds: float, tick: Callable[[], bool]
) -> Iterator[tuple[str, bytes, int]]:
    """(name, chunk of whole lines, its first line number) as the files grow, until `tick`
    (called after every quiet round) answers True."""
    tails = [_Tail(n) for n in names]
    for t in tails:
        t.open()
    try:
        while True:
            quiet = True
            for t in tails:
                for first, chunk in t.read():
                    quiet = False
                    yield t.name, chunk, first
                if t.rotated():
                    # Whatever the old file got before the rotation, then the new file.
                    for first, chunk in t.read():
                        yield t.name, chunk, first
                    t.close()
                    t.open()
                    quiet = False
            if tick():
                return
            if quiet:
                time.sleep(poll_seconds)
    finally:
        for t in tails:
            t.close()
