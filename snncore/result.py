"""What `Network.run` returns: decoded outputs at each checkpoint and the
spike and synaptic-operation counters."""

from collections.abc import Mapping

import numpy as np

__all__ = ["RunResult", "Counters"]


class Counters(Mapping):
    """Per-item event counts of a run, keyed by population or projection name.

    As a mapping, ``counters[name]`` is the total over all images at the final
    step (an ``int``). The arrays give the rest.

    Attributes
    ----------
    names : tuple of str
        The keys, in file order.
    raw : ndarray of shape (n_images, n_checkpoints, n_items), dtype int64
        Cumulative counts up to each checkpoint, per image.
    checkpoints : ndarray of shape (n_checkpoints,), dtype int64
    """

    def __init__(self, names, raw, checkpoints):
        self.names = tuple(names)
        self.raw = raw
        self.checkpoints = checkpoints

    def __getitem__(self, name):
        if name not in self.names:
            raise KeyError(name)
        return int(self.raw[:, -1, self.names.index(name)].sum())

    def __iter__(self):
        return iter(self.names)

    def __len__(self):
        return len(self.names)

    @property
    def per_image(self):
        """ndarray of shape (n_images, n_items), int64: counts at the final step."""
        return self.raw[:, -1, :]

    @property
    def mean_per_image(self):
        """dict name -> mean count per image at the final step (float)."""
        means = self.raw[:, -1, :].mean(axis=0)
        return {n: float(m) for n, m in zip(self.names, means)}

    def at_checkpoints(self):
        """ndarray of shape (n_checkpoints, n_items), float64: mean per image
        up to each checkpoint."""
        return self.raw.mean(axis=0)

    def total_per_image(self):
        """ndarray of shape (n_checkpoints,), float64: all items summed, mean
        per image, up to each checkpoint."""
        return self.raw.sum(axis=2).mean(axis=0)

    def __repr__(self):
        inner = ", ".join(f"{n!r}: {self[n]}" for n in self.names)
        return f"Counters({{{inner}}})"


class RunResult:
    """The result of `Network.run` on a batch.

    Attributes
    ----------
    checkpoints : ndarray of shape (n_checkpoints,), dtype int64
        Steps at which results were recorded, increasing; the last is T.
    outputs : ndarray of shape (n_images, n_checkpoints, K), dtype float32
        Decoded output of the output population at each checkpoint
        (``V(t)/t`` for an accumulating read-out, net spike count ``/t`` for a
        spiking one), flattened in CHW order.
    spikes : Counters
        Events emitted per population (spikes; graded events for relays).
    synaptic_ops : Counters
        Synaptic operations per projection (one per event and target synapse).
    readout_start : int
        The output counted steps readout_start..t (1: every step).
    profile : dict or None
        With ``run(..., profile=True)``: seconds the engine spent, summed over
        the images and threads, as ``{"populations": {name: s}, "projections":
        {name: s}}`` (a population's threshold or relay pass, the input's
        encoding; a projection's synaptic updates). None otherwise.
    """

    def __init__(self, checkpoints, outputs, spikes, synaptic_ops, timesteps, encoding,
                 readout_start=1, profile=None):
        self.checkpoints = checkpoints
        self.readout_start = readout_start
        self.profile = profile
        self.outputs = outputs
        self.spikes = spikes
        self.synaptic_ops = synaptic_ops
        self.timesteps = timesteps
        self.encoding = encoding

    @property
    def output(self):
        """ndarray of shape (n_images, K), float32: decoded output at step T."""
        return self.outputs[:, -1, :]

    @property
    def predictions(self):
        """ndarray of shape (n_images,), int64: argmax of `output`."""
        return self.output.argmax(axis=1)

    def predictions_at(self):
        """ndarray of shape (n_images, n_checkpoints), int64: argmax at each checkpoint."""
        return self.outputs.argmax(axis=2)

    def curve(self, y):
        """Accuracy at each checkpoint.

        Parameters
        ----------
        y : array-like of shape (n_images,), integer class labels

        Returns
        -------
        ndarray of shape (n_checkpoints,), float64
            Fraction of images whose argmax equals the label, in [0, 1], in
            checkpoint order.
        """
        y = np.asarray(y)
        if y.shape != (self.outputs.shape[0],):
            raise ValueError(f"y has shape {y.shape}, expected ({self.outputs.shape[0]},): "
                             "one label per image")
        if not np.issubdtype(y.dtype, np.integer):
            raise TypeError(f"y must hold integer class labels, not {y.dtype}")
        return (self.predictions_at() == y[:, None]).mean(axis=0)

    def accuracy(self, y):
        """Accuracy at the final step, a float in [0, 1]."""
        return float(self.curve(y)[-1])

    def __repr__(self):
        n, c, k = self.outputs.shape
        return (f"RunResult(images={n}, timesteps={self.timesteps}, encoding={self.encoding!r}, "
                f"checkpoints={c}, outputs={k})")
