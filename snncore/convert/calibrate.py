"""Calibration data and activation statistics with bounded memory.

Percentiles come from histograms, never from stored activations: a first pass
over the calibration data finds each activation's maximum (per layer and per
channel), a second fills fixed-size histograms on [0, max]. The percentile
returned is the upper edge of the bin that holds it, so it is at most
max / bins above the exact value (LAYER_BINS = 16384 bins per layer: 0.006 %
of the maximum; CHANNEL_BINS = 2048 per channel: 0.05 %) and never below it.
"""

import math

import numpy as np

from .._images import DEFAULT_UINT8_SCALE
from .._progress import Progress
from .errors import ConversionError

__all__ = ["Calibration", "ActivationStats", "collect_stats", "LAYER_BINS", "CHANNEL_BINS"]

LAYER_BINS = 16384
CHANNEL_BINS = 2048


class Calibration:
    """Re-iterable batches of calibration images as torch float32 tensors.

    Parameters
    ----------
    data : ndarray or torch.Tensor of shape (N, ...), or an iterable of batches
        An iterable (a DataLoader, a list) yields tensors or arrays, or
        (images, labels) pairs whose first item is used. It must be
        re-iterable: calibration makes several passes. uint8 images are
        scaled by 1/255, as `Network.run` scales them.
    batch_size : int
        Batch size for array/tensor data.
    limit : int, optional
        Use at most this many images.
    """

    def __init__(self, data, batch_size=128, limit=None):
        import torch
        self.torch = torch
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.limit = limit
        if isinstance(data, np.ndarray) or torch.is_tensor(data):
            if isinstance(data, np.ndarray) and not data.flags.writeable:
                data = data.copy()      # torch warns about (and cannot share) read-only memory
            tensor = torch.as_tensor(data)
            if tensor.dim() < 2 or tensor.shape[0] == 0:
                raise ValueError(f"calibration data must be (N, ...) with N >= 1, got shape "
                                 f"{tuple(tensor.shape)}")
            self._tensor = tensor
            self._iterable = None
        else:
            if iter(data) is data:
                raise TypeError("calibration must be re-iterable (an array, a tensor, a list of "
                                "batches or a DataLoader), not a one-shot iterator or generator: "
                                "calibration makes several passes over it")
            self._tensor = None
            self._iterable = data

    def _as_tensor(self, batch):
        torch = self.torch
        if isinstance(batch, (tuple, list)):
            batch = batch[0]
        t = torch.as_tensor(batch)
        if not (t.is_floating_point() or t.dtype == torch.uint8):
            raise TypeError(f"calibration images must be float or uint8, not {t.dtype}")
        if t.dtype == torch.uint8:      # scaled as Network.run scales uint8 images
            t = t.to(torch.float32) * np.float32(DEFAULT_UINT8_SCALE)
        t = t.to(torch.float32)
        if not torch.isfinite(t).all():
            raise ValueError("calibration images hold NaN or infinity")
        return t

    def __iter__(self):
        seen = 0
        if self._tensor is not None:
            n = self._tensor.shape[0] if self.limit is None else min(self.limit,
                                                                      self._tensor.shape[0])
            for lo in range(0, n, self.batch_size):
                yield self._as_tensor(self._tensor[lo:min(n, lo + self.batch_size)])
            return
        for batch in self._iterable:
            t = self._as_tensor(batch)
            if self.limit is not None:
                t = t[: self.limit - seen]
            if t.shape[0] == 0:
                return
            seen += t.shape[0]
            yield t
            if self.limit is not None and seen >= self.limit:
                return

    def first(self):
        for batch in self:
            return batch
        raise ValueError("the calibration data is empty")

    def count(self):
        return sum(int(b.shape[0]) for b in self)

    def images(self, n):
        """The first n images as one float32 numpy array."""
        out, seen = [], 0
        for batch in self:
            out.append(batch[: n - seen].numpy())
            seen += out[-1].shape[0]
            if seen >= n:
                break
        return np.concatenate(out).astype(np.float32)


def _channels_last(t):
    """(N, C, ...) -> (C, N*...) view as float32."""
    c = t.shape[1]
    return t.transpose(0, 1).reshape(c, -1)


class ActivationStats:
    """Statistics of one activation tensor (per layer and per channel)."""

    def __init__(self, channels):
        self.channels = channels
        self.count = 0            # values seen
        self.nonzero = 0          # values > 0
        self.layer_max = 0.0
        self.channel_max = np.zeros(channels, np.float64)
        self.channel_sum = np.zeros(channels, np.float64)
        self.channel_count = 0
        self.layer_hist = None
        self.channel_hist = None

    def first_pass(self, t):
        v = _channels_last(t.detach())
        self.count += v.numel()
        self.channel_count += v.shape[1]
        self.nonzero += int((v > 0).sum())
        cmax = v.max(dim=1).values.double().clamp(min=0).numpy()
        self.channel_max = np.maximum(self.channel_max, cmax)
        self.layer_max = float(self.channel_max.max())
        self.channel_sum += v.clamp(min=0).double().sum(dim=1).numpy()

    def second_pass(self, t):
        torch = __import__("torch")
        v = _channels_last(t.detach())
        c = v.shape[0]
        if self.layer_hist is None:
            self.layer_hist = np.zeros(LAYER_BINS, np.int64)
            self.channel_hist = np.zeros((c, CHANNEL_BINS), np.int64)
        positive = v > 0
        if self.layer_max > 0:
            vals = v[positive].double()
            idx = (vals * (LAYER_BINS / self.layer_max)).long().clamp_(0, LAYER_BINS - 1)
            self.layer_hist += torch.bincount(idx, minlength=LAYER_BINS).numpy()
        cmax = torch.from_numpy(np.where(self.channel_max > 0, self.channel_max, 1.0))
        scaled = (v.double() * (CHANNEL_BINS / cmax)[:, None]).long().clamp_(0, CHANNEL_BINS - 1)
        offsets = (torch.arange(c) * CHANNEL_BINS)[:, None].expand_as(scaled)
        flat = (scaled + offsets)[positive]
        self.channel_hist += torch.bincount(flat, minlength=c * CHANNEL_BINS).numpy().reshape(
            c, CHANNEL_BINS)

    @staticmethod
    def _from_hist(hist, top, p):
        total = int(hist.sum())
        if total == 0 or top <= 0:
            return 0.0
        if p >= 100:
            return float(top)
        rank = max(1, math.ceil(p / 100.0 * total))
        k = int(np.searchsorted(np.cumsum(hist), rank))
        return float(top) * (k + 1) / hist.shape[0]

    def percentile(self, p):
        """p-th percentile of the layer's non-zero activations (upper bin edge)."""
        return self._from_hist(self.layer_hist, self.layer_max, p)

    def channel_percentile(self, p):
        """(C,) p-th percentile of each channel's non-zero activations (0 where a
        channel never fired)."""
        return np.array([self._from_hist(self.channel_hist[c], self.channel_max[c], p)
                         for c in range(self.channels)])

    def channel_mean(self):
        """(C,) mean activation per channel (zeros included)."""
        per = max(1, self.channel_count)
        return self.channel_sum / per


def collect_stats(runner, calibration, names, need_histograms, progress=None):
    """ActivationStats for each node in `names`, from one or two passes."""
    stats = {}
    shapes = {n: runner.graph.nodes[n].shape for n in names}
    for n in names:
        stats[n] = ActivationStats(shapes[n][0])
    passes = [("first_pass", "maximum")]
    if need_histograms:
        passes.append(("second_pass", "histograms"))
    n_images = calibration.count()
    for method, label in passes:
        bar = Progress(n_images, enabled=progress, work=n_images * 2e5,
                       label=f"calibration ({label}):")
        done = 0
        for batch in calibration:
            def hook(name, t):
                getattr(stats[name], method)(t)
            runner.forward(batch, hook=hook, watch=names)
            done += batch.shape[0]
            bar.update(done)
        bar.close()
    for n, s in stats.items():
        if s.count == 0:
            raise ConversionError(f"no calibration data reached {n}")
    return stats
