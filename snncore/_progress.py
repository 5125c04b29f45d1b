"""Progress bars for long work (runs over a data set, calibration passes),
drawn by tqdm on stderr: ``[#####     ] 512/1000 images, 85.3 images/s, 00:06 left``.

A bar is shown only when asked for (``progress=True``) or, by default, when
stderr is a terminal and the work is long, so that pipes and logs stay clean.
Without tqdm (``pip install tqdm``, part of ``snncore[cli]``) there is no bar.
"""

import sys
import time

__all__ = ["Progress"]

# Below this much work (images x steps x input size) a run is short enough not
# to need a bar.
_AUTO_WORK = 2e8

_FORMAT = "[{bar:30}] {n}/{total}{unit}, {rate_fmt}, {remaining} left"


def _tqdm():
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


class Progress:
    """Counts finished images (or other units of work).

    Parameters
    ----------
    total : int
        Images in the run.
    enabled : bool or None
        None: only when stderr is a terminal and the run is long.
    work : float
        Size of the run, for the automatic choice.
    stream : file, optional
        Where to draw (default: sys.stderr).
    unit : str
        What is counted, in the plural.
    label : str, optional
        A line written above the bar (what the work is).
    """

    def __init__(self, total, enabled=None, work=0.0, stream=None, unit="images", label=None):
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", lambda: False)
            enabled = bool(isatty()) and work >= _AUTO_WORK
        tqdm = _tqdm()
        self.enabled = bool(enabled) and total > 0 and tqdm is not None
        self.total = total
        self.unit = unit
        self.start = time.perf_counter()
        if self.enabled and label:
            self.stream.write(label + "\n")
        self._bar = tqdm(total=total, file=self.stream, bar_format=_FORMAT, ascii=" #",
                         unit=" " + unit, leave=False, dynamic_ncols=False) \
            if self.enabled else None

    def update(self, done):
        """`done` images are finished (a running total)."""
        if self._bar is None:
            return
        self._bar.update(done - self._bar.n)
        if done >= self.total:
            self._bar.refresh()     # the last state is drawn even between redraws

    def close(self):
        if self._bar is None:
            return
        self._bar.close()
        elapsed = time.perf_counter() - self.start
        self.stream.write(f"{self.total} {self.unit} in {elapsed:.1f} s\n")
        self.stream.flush()
