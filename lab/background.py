"""A sample taken at a steady pace in a thread while a `with` block runs:
memory during a bench or a load run, a user's probe during a fault."""
from __future__ import annotations

import threading


class Every:
    """Subclasses give `sample()` and `interval` (seconds); the last sample
    is taken before the block's end is waited on, never after the block."""

    interval = 1.0

    def __init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> None:
        raise NotImplementedError

    def _loop(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
