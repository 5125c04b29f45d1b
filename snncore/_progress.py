"""A dependency-free progress bar for long runs, written to stderr."""

import sys
import time

__all__ = ["Progress"]

# Below this much work (images x steps x input size) a run is short enough not
# to need a bar.
_AUTO_WORK = 2e8


class Progress:
    """Counts finished images; draws ``[#####     ] 512/1000 images, 85.3/s, 6 s left``.

    Parameters
    ----------
    total : int
        Images in the run.
    enabled : bool or None
        None: only when stderr is a terminal and the run is long.
    work : float
        Size of the run, for the automatic choice.
    """

    def __init__(self, total, enabled=None, work=0.0, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", lambda: False)
            enabled = bool(isatty()) and work >= _AUTO_WORK
        self.enabled = bool(enabled) and total > 0
        self.total = total
        self.start = time.perf_counter()
        self._last = ""

    def update(self, done):
        if not self.enabled:
            return
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        rate = done / elapsed
        left = (self.total - done) / rate if rate > 0 else 0.0
        filled = int(30 * done / self.total)
        line = (f"\r[{'#' * filled}{' ' * (30 - filled)}] {done}/{self.total} images, "
                f"{rate:.1f}/s, {left:.0f} s left ")
        if line != self._last:
            self.stream.write(line)
            self.stream.flush()
            self._last = line

    def close(self):
        if self.enabled:
            elapsed = time.perf_counter() - self.start
            self.stream.write(f"\r{' ' * len(self._last)}\r{self.total} images in {elapsed:.1f} s\n")
            self.stream.flush()
