"""A simulated clock: real time plus an offset that the control endpoint can advance."""

from __future__ import annotations

import threading
import time

__all__ = ["Clock"]


class Clock:
    """Wall-clock time shifted by an adjustable offset. Thread-safe."""

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = offset
        self._lock = threading.Lock()

    def now(self) -> float:
        """Return the simulated POSIX time in seconds."""
        with self._lock:
            return time.time() + self._offset

    @property
    def offset(self) -> float:
        """Seconds the simulated clock is ahead of real time."""
        with self._lock:
            return self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()
