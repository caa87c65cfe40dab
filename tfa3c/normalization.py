"""Running observation statistics inside the network, so checkpoints and exports carry them."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

_PACKAGE = "tfa3c"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ObservationNormalizer(keras.layers.Layer):
    """Observations standardized by a running mean and variance, then clipped.

    The statistics are a non-trainable weight of the model, so checkpoints restore them
    and an exported policy applies them: a served policy takes raw observations. They
    are updated from the observations the actors see (`update`, NumPy, by the parallel
    variance formula), never by gradients.

    Weight: `statistics` `[2 obs + 1]`: mean, variance and count in one variable, so
    that one assignment replaces all three (a forward pass on another thread never
    reads a new mean with an old variance). The arithmetic runs on a float64 copy.
    """

    def __init__(self, clip: float = 10.0, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.clip = float(clip)
        self.epsilon = float(epsilon)
        self._shadow: np.ndarray | None = None  # float64 copy of `statistics`

    def build(self, observations_shape) -> None:  # noqa: D102
        self.size = int(observations_shape[-1])
        size = self.size
        # Variance 1 and a count of epsilon: a prior of one standard pseudo-sample of
        # negligible weight, so the first batch's statistics take over at once.
        initial = np.concatenate([np.zeros(size), np.ones(size), [self.epsilon]])
        self.statistics = self.add_weight(
            name="statistics", shape=(2 * size + 1,), trainable=False,
            initializer=keras.initializers.Constant(initial.astype(np.float32)))

    @property
    def mean(self) -> np.ndarray:
        """The running mean."""
        return self.statistics.numpy()[:self.size]

    @property
    def variance(self) -> np.ndarray:
        """The running variance."""
        return self.statistics.numpy()[self.size:2 * self.size]

    @property
    def count(self) -> float:
        """Observations merged so far (plus epsilon)."""
        return float(self.statistics.numpy()[-1])

    def call(self, observations):  # noqa: D102
        size = self.size
        mean = self.statistics[:size]
        variance = self.statistics[size:2 * size]
        scaled = (observations - mean) * ops.rsqrt(variance + self.epsilon)
        return ops.clip(scaled, -self.clip, self.clip)

    def update(self, observations: np.ndarray) -> None:
        """Merges a batch `[rows, obs]` into the running statistics (one assignment)."""
        rows = observations.shape[0]
        if rows == 0:
            return
        # The first update copies the variable: a resume restores the checkpoint before
        # training starts, so before any update.
        if self._shadow is None:
            self._shadow = self.statistics.numpy().astype(np.float64)
        size = self.size
        old_mean, old_variance = self._shadow[:size], self._shadow[size:2 * size]
        count = self._shadow[-1]
        mean = observations.mean(axis=0, dtype=np.float64)
        variance = observations.var(axis=0, dtype=np.float64)
        total = count + rows
        delta = mean - old_mean
        self._shadow = np.concatenate([
            old_mean + delta * (rows / total),
            (old_variance * count + variance * rows + np.square(delta) * count * rows / total)
            / total,
            [total]])
        self.statistics.assign(self._shadow.astype(np.float32))

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "clip": self.clip, "epsilon": self.epsilon}
