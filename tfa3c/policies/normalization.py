"""Running statistics: observations (inside the network, so exports carry them) and returns."""

from __future__ import annotations

import threading

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
    reads a new mean with an old variance). The arithmetic runs on a float64 copy;
    `update` takes a lock, so actors on several threads may call it.
    """

    def __init__(self, clip: float = 10.0, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.clip = float(clip)
        self.epsilon = float(epsilon)
        self._shadow: np.ndarray | None = None  # float64 copy of `statistics`
        self._update_lock = threading.Lock()
        self._unsent: list = [0, 0.0, 0.0]  # rows, sum, sum of squares since take_moments

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
        if rows:
            mean = observations.mean(axis=0, dtype=np.float64)
            variance = observations.var(axis=0, dtype=np.float64)
            self.merge(rows, mean, variance)
            with self._update_lock:  # what a hosted worker sends on (`take_moments`)
                unsent = self._unsent
                unsent[0] += rows
                unsent[1] = unsent[1] + mean * rows
                unsent[2] = unsent[2] + (variance + np.square(mean)) * rows

    def merge(self, rows: float, mean: np.ndarray, variance: np.ndarray) -> None:
        """Merges `rows` observations, given by their mean and variance (one assignment)."""
        with self._update_lock:
            # The first merge copies the variable: a resume restores the checkpoint
            # before training starts, so before any merge.
            if self._shadow is None:
                self._shadow = self.statistics.numpy().astype(np.float64)
            size = self.size
            old_mean, old_variance = self._shadow[:size], self._shadow[size:2 * size]
            count = self._shadow[-1]
            total = count + rows
            delta = mean - old_mean
            self._shadow = np.concatenate([
                old_mean + delta * (rows / total),
                (old_variance * count + variance * rows
                 + np.square(delta) * count * rows / total) / total,
                [total]])
            self.statistics.assign(self._shadow.astype(np.float32))

    def take_moments(self) -> tuple[float, np.ndarray, np.ndarray] | None:
        """Rows, mean and variance of the observations `update` saw since the last call.

        A worker in another process sends these to the learner, which `merge`s them
        into the global statistics; None if there were none.
        """
        with self._update_lock:
            rows, sums, squares = self._unsent
            self._unsent = [0, 0.0, 0.0]
        if not rows:
            return None
        mean = sums / rows
        return float(rows), mean, np.maximum(squares / rows - np.square(mean), 0.0)

    def load(self, statistics: np.ndarray) -> None:
        """Replaces the statistics by `statistics` (the learner's, `[2 obs + 1]`)."""
        with self._update_lock:
            self._shadow = np.asarray(statistics, np.float64).copy()
            self.statistics.assign(self._shadow.astype(np.float32))

    def snapshot(self) -> np.ndarray:
        """The current statistics, `[2 obs + 1]` float64 (for a worker to `load`)."""
        with self._update_lock:
            if self._shadow is None:
                return self.statistics.numpy().astype(np.float64)
            return self._shadow.copy()

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "clip": self.clip, "epsilon": self.epsilon}


class RewardNormalizer:
    """Rewards divided by a running estimate of the discounted return's standard deviation.

    What Stable-Baselines3's `VecNormalize(norm_reward=True)` does, and what replaces a
    hand-picked reward factor per environment: every environment's discounted return
    `R = gamma R + r` (reset at episode ends) feeds one running variance, and rewards
    are divided by its standard deviation, then clipped. Returns then have roughly unit
    spread whatever the environment's reward scale, so one learning rate and one
    value-loss weight serve CartPole (+1 a step) and Pendulum (down to -16 a step).

    The statistics (mean, variance and count of R) are shared by every actor; each
    actor keeps its own running returns (`stream`). Updates take a lock: actors run on
    several threads. They run on a NumPy copy, written to the variable `statistics`
    (which checkpoints save) by `sync`: assigning a variable every step would cost
    more than the step itself.

    Args:
        gamma: the discount of the running return (the algorithm's).
        clip: scaled rewards are clipped to [-clip, clip].
        epsilon: added to the variance before the square root.
    """

    def __init__(self, gamma: float, clip: float = 10.0, epsilon: float = 1e-8):
        import tensorflow as tf  # the layer above needs only Keras

        self.gamma = float(gamma)
        self.clip = float(clip)
        self.epsilon = float(epsilon)
        # mean, variance, count: a prior of variance 1 with negligible weight.
        self.statistics = tf.Variable(np.array([0.0, 1.0, 1e-4]), trainable=False,
                                      name="reward_statistics")
        self._shadow: np.ndarray | None = None
        self._lock = threading.Lock()
        self._unsent = np.zeros(3)  # rows, sum, sum of squares since take_sums

    @property
    def std(self) -> float:
        """The current standard deviation rewards are divided by."""
        with self._lock:
            statistics = self.statistics.numpy() if self._shadow is None else self._shadow
        return float(np.sqrt(statistics[1] + self.epsilon))

    def stream(self, num_envs: int, **options) -> RewardStream:
        """One actor's view: running returns for its `num_envs` environments.

        `options` go to `RewardStream` (`merge_every`, `warmup`).
        """
        return RewardStream(self, num_envs, **options)

    def _merge(self, rows: float, total: float, total_squares: float) -> tuple[float, float]:
        """Merges `rows` returns given by their sum and sum of squares; returns std and count."""
        mean = total / rows
        variance = max(total_squares / rows - mean * mean, 0.0)
        with self._lock:
            if self._shadow is None:  # after any restore: restores happen before training
                self._shadow = self.statistics.numpy().astype(np.float64)
            old_mean, old_variance, count = self._shadow
            merged = count + rows
            delta = mean - old_mean
            self._unsent += (rows, total, total_squares)
            self._shadow = np.array([
                old_mean + delta * rows / merged,
                (old_variance * count + variance * rows + delta**2 * count * rows / merged)
                / merged,
                merged])
            return float(np.sqrt(self._shadow[1] + self.epsilon)), float(merged)

    def merge(self, sums: np.ndarray) -> None:
        """Merges returns given as `[rows, sum, sum of squares]` (from `take_sums`)."""
        if sums[0]:
            self._merge(*(float(value) for value in sums))

    def take_sums(self) -> np.ndarray:
        """`[rows, sum, sum of squares]` of the returns merged since the last call.

        A worker or agent in another process sends these to the learner, which
        `merge`s them into the global statistics and sends those back (`load`).
        """
        with self._lock:
            sums, self._unsent = self._unsent, np.zeros(3)
        return sums

    def load(self, statistics: np.ndarray) -> None:
        """Replaces the statistics by `statistics` (`[mean, variance, count]`, the learner's)."""
        with self._lock:
            self._shadow = np.asarray(statistics, np.float64).copy()

    def snapshot(self) -> np.ndarray:
        """The current `[mean, variance, count]` (for another process to `load`)."""
        with self._lock:
            if self._shadow is None:
                return self.statistics.numpy().astype(np.float64)
            return self._shadow.copy()

    def sync(self) -> None:
        """Writes the running statistics to `statistics` (before a checkpoint)."""
        with self._lock:
            if self._shadow is not None:
                self.statistics.assign(self._shadow)


class RewardStream:
    """One actor's running discounted returns; scales its rewards (see `RewardNormalizer`).

    The stream sums its returns and their squares and merges them into the shared
    statistics every `merge_every` steps, reading the new standard deviation then: one
    lock and one merge per `merge_every` steps, not per step. Until the statistics hold
    `warmup` returns it merges every step: a first merge of a constant reward (CartPole's
    +1 everywhere) has no spread, and its tiny standard deviation must not scale the
    steps that follow.
    """

    def __init__(self, normalizer: RewardNormalizer, num_envs: int, merge_every: int = 8,
                 warmup: int = 1000):
        self.normalizer = normalizer
        self.returns = np.zeros(num_envs, np.float64)
        self.merge_every = merge_every
        self.warmup = warmup
        self._merged = 0.0  # the shared count at this stream's last merge
        self._pending = [0.0, 0.0, 0.0]  # rows, sum, sum of squares
        self._steps = 0
        self.std = normalizer.std

    def __call__(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        """Scales one step's `rewards` `[envs]`; `dones` ends episodes after this step."""
        returns = self.returns * self.normalizer.gamma + rewards
        pending = self._pending
        pending[0] += returns.shape[0]
        pending[1] += float(returns.sum())
        pending[2] += float(np.dot(returns, returns))
        self._steps += 1
        if self._merged < self.warmup or self._steps % self.merge_every == 0:
            self.std, self._merged = self.normalizer._merge(*pending)
            self._pending = [0.0, 0.0, 0.0]
        returns[dones] = 0.0
        self.returns = returns
        clip = self.normalizer.clip
        return np.clip(rewards / self.std, -clip, clip).astype(np.float32)


def reward_scaler(scale: float, clip: bool, normalizer: RewardNormalizer | None, num_envs: int):
    """A function scaling one actor's rewards `(rewards, dones) -> scaled`.

    With `clip`, rewards are first clipped to their sign; then multiplied by `scale`;
    then (with a `normalizer`) divided by the running spread of the discounted return
    (`RewardNormalizer`). Episode returns are counted before any of these, from the
    environment's own rewards.
    """

    def prepared(rewards):
        return (np.sign(rewards) if clip else rewards) * scale

    if normalizer is None:
        return lambda rewards, dones: prepared(rewards)
    stream = normalizer.stream(num_envs)
    return lambda rewards, dones: stream(prepared(rewards), dones)
