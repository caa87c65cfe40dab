"""Actor-critic networks: a torso (LSTM or dense) under shared policy and value heads.

Torso and heads are separate layers so that new observation kinds (pixels) swap the
torso and new action kinds (continuous) swap the heads, without touching the rest.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfa3c.distributions import CATEGORICAL, GAUSSIAN, KINDS, ActionSpec

_PACKAGE = "tfa3c"
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0  # a Gaussian policy's standard deviation: 0.007 to 7.4


@keras.saving.register_keras_serializable(package=_PACKAGE)
class NormalizedColumns(keras.initializers.Initializer):
    """Gaussian weights whose every column (output unit) has L2 norm `stddev`.

    The tutorial's initializer for the heads: a small policy scale keeps the first
    policy close to uniform; the value head starts at unit scale.
    """

    def __init__(self, stddev: float = 1.0, seed: int | None = None):
        self.stddev = stddev
        self.seed = seed

    def __call__(self, shape, dtype=None):  # noqa: D102
        values = keras.random.normal(shape, seed=self.seed, dtype=dtype)
        norms = ops.sqrt(ops.sum(ops.square(values), axis=0, keepdims=True))
        return values * (self.stddev / norms)

    def get_config(self) -> dict:  # noqa: D102
        return {"stddev": self.stddev, "seed": self.seed}


def lstm_step(observations, state, kernel, bias, cell_clip: float | None = None):
    """One LSTM step: gates (input, forget, cell, output) from `[observations, h] @ kernel`.

    Args:
        observations: `[batch, obs]`.
        state: `(h, c)`, each `[batch, units]`.
        kernel: `[obs + units, 4 * units]`, or `[batch, obs + units, 4 * units]` for a
            separate kernel per row (A3C takes one gradient per group of environments
            in a single backward pass that way).
        bias: `[4 * units]`, or `[batch, 4 * units]` with per-row kernels.
        cell_clip: bound on the cell state (None: unbounded).

    Returns:
        The new `(h, c)`.
    """
    h, c = state
    inputs = tf.concat([observations, h], axis=-1)
    if len(kernel.shape) == 3:
        gates = tf.einsum("bi,big->bg", inputs, kernel) + bias
    else:
        gates = tf.matmul(inputs, kernel) + bias
    i, f, g, o = tf.split(gates, 4, axis=-1)
    c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
    if cell_clip:
        c = tf.clip_by_value(c, -cell_clip, cell_clip)
    return tf.sigmoid(o) * tf.tanh(c), c


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LSTMTorso(keras.layers.Layer):
    """An LSTM over observation sequences, with a single-step path for acting.

    Gates are input, forget, cell, output (`lstm_step`); there is no forget bias inside
    the kernel, so the bias starts at 1 for the forget gate as Keras'
    `unit_forget_bias` does. The sequence path runs the step in a `tf.scan`, so both
    give the same numbers. (TensorFlow's fused `BlockLSTMV2` kernel gives the same
    forward pass but, measured against finite differences, wrong kernel gradients, so
    it is not used.)

    Weights: `kernel` `[obs + units, 4 * units]` acting on `[observation, h]`, `bias`
    `[4 * units]`.
    """

    def __init__(self, units: int = 16, cell_clip: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.cell_clip = cell_clip

    def build(self, observations_shape) -> None:  # noqa: D102
        inputs = int(observations_shape[-1])
        units = self.units
        self.kernel = self.add_weight(name="kernel", shape=(inputs + units, 4 * units),
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(4 * units,), initializer="zeros")
        self.bias.assign(ops.concatenate([ops.zeros((units,)), ops.ones((units,)),
                                          ops.zeros((2 * units,))]))

    def initial_state(self, batch_size) -> tuple[tf.Tensor, tf.Tensor]:
        """Zero `(h, c)` for `batch_size` sequences."""
        zeros = tf.zeros((batch_size, self.units), dtype=self.compute_dtype)
        return zeros, zeros

    def step(self, observations, state):
        """One time step: `[batch, obs]` and `(h, c)` → features `[batch, units]`, `(h, c)`."""
        h, c = lstm_step(observations, state, self.kernel, self.bias, self.cell_clip)
        return h, (h, c)

    def call(self, observations, initial_state=None):
        """A sequence: `[batch, time, obs]` → features `[batch, time, units]`, final `(h, c)`."""
        batch = tf.shape(observations)[0]
        if initial_state is None:
            initial_state = self.initial_state(batch)
        h0, c0 = initial_state
        time_major = tf.transpose(observations, [1, 0, 2])
        hs, cs = tf.scan(
            lambda state, inputs: lstm_step(inputs, state, self.kernel, self.bias,
                                            self.cell_clip),
            time_major, initializer=(h0, c0))
        features = tf.transpose(hs, [1, 0, 2])
        # An empty sequence keeps the initial state.
        final = tf.cond(tf.shape(hs)[0] > 0, lambda: (hs[-1], cs[-1]), lambda: (h0, c0))
        return features, final

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "units": self.units, "cell_clip": self.cell_clip}


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
        if self._shadow is None:  # first update, or after a checkpoint restore
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


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DenseTorso(keras.layers.Layer):
    """Fully connected layers: `[batch, obs]` → features `[batch, hidden_sizes[-1]]`."""

    def __init__(self, hidden_sizes=(16,), activation: str = "relu", **kwargs):
        super().__init__(**kwargs)
        self.hidden_sizes = tuple(int(size) for size in hidden_sizes)
        self.activation = activation
        # Each layer is an attribute of its own (`dense_0`, ...): TensorFlow's checkpoint
        # graph follows attributes, not a Keras-tracked list, so weights held only in a
        # list were saved through the optimizer's slot list and nowhere under the
        # model (a model-only restore, as `tfa3c export` does, missed them).
        for index, size in enumerate(self.hidden_sizes):
            setattr(self, f"dense_{index}",
                    keras.layers.Dense(size, activation=activation, name=f"dense_{index}"))

    @property
    def dense_layers(self) -> list[keras.layers.Dense]:
        """The dense layers, input first."""
        return [getattr(self, f"dense_{index}") for index in range(len(self.hidden_sizes))]

    def build(self, observations_shape) -> None:  # noqa: D102
        shape = tuple(observations_shape)
        for layer in self.dense_layers:
            layer.build(shape)
            shape = (*shape[:-1], layer.units)

    def call(self, observations):  # noqa: D102
        features = observations
        for layer in self.dense_layers:
            features = layer(features)
        return features

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "hidden_sizes": list(self.hidden_sizes),
                "activation": self.activation}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ActorCriticHeads(keras.layers.Layer):
    """The action distribution's parameters and the state value from torso features.

    Categorical (`num_actions` actions): logits = features @ `policy_kernel`. Gaussian
    (`num_actions` action dimensions): mean = features @ `policy_kernel`, and a learned
    state-independent `log_std` per dimension; the parameters are `[mean, log_std]`
    (see `tfa3c.distributions`). No biases, as the tutorial's heads.
    """

    def __init__(self, num_actions: int, policy_stddev: float = 0.01,
                 value_stddev: float = 1.0, seed: int | None = None,
                 action_kind: str = CATEGORICAL, **kwargs):
        super().__init__(**kwargs)
        self.num_actions = int(num_actions)
        self.policy_stddev = policy_stddev
        self.value_stddev = value_stddev
        self.seed = seed
        self.action_kind = action_kind

    def build(self, features_shape) -> None:  # noqa: D102
        features = int(features_shape[-1])
        seed = self.seed
        self.policy_kernel = self.add_weight(
            name="policy_kernel", shape=(features, self.num_actions),
            initializer=NormalizedColumns(self.policy_stddev, seed))
        self.value_kernel = self.add_weight(
            name="value_kernel", shape=(features, 1),
            initializer=NormalizedColumns(self.value_stddev, None if seed is None else seed + 1))
        if self.action_kind == GAUSSIAN:
            self.log_std = self.add_weight(name="log_std", shape=(self.num_actions,),
                                           initializer="zeros")

    def call(self, features):
        """`[..., features]` → distribution parameters `[..., params]`, values `[...]`."""
        params = ops.matmul(features, self.policy_kernel)
        if self.action_kind == GAUSSIAN:
            # Bounded, so that neither the entropy bonus (up) nor a collapsing policy
            # (down) can take the density to overflow; the loss, the export and the
            # samplers all see the bounded value.
            log_std = ops.broadcast_to(ops.clip(self.log_std, LOG_STD_MIN, LOG_STD_MAX),
                                       ops.shape(params))
            params = ops.concatenate([params, log_std], axis=-1)
        values = ops.squeeze(ops.matmul(features, self.value_kernel), axis=-1)
        return params, values

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "num_actions": self.num_actions,
                "policy_stddev": self.policy_stddev, "value_stddev": self.value_stddev,
                "seed": self.seed, "action_kind": self.action_kind}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RecurrentActorCritic(keras.Model):
    """A3C's network: LSTM torso → policy logits and value.

    `call` runs whole sequences; `step` runs one time step (acting). Both
    give the same numbers for the same inputs.

    Example:
        >>> model = RecurrentActorCritic(num_actions=2)
        >>> model.build((None, None, 4))
        >>> logits, values, (h, c) = model(tf.zeros((3, 10, 4)))
    """

    def __init__(self, num_actions: int, lstm_units: int = 16, seed: int | None = None,
                 cell_clip: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.num_actions = int(num_actions)
        self.lstm_units = int(lstm_units)
        self.seed = seed
        self.cell_clip = cell_clip
        self.torso = LSTMTorso(lstm_units, cell_clip, name="torso")
        self.heads = ActorCriticHeads(num_actions, seed=seed, name="heads")

    def build(self, observations_shape) -> None:
        """Builds for observations of shape `[batch, time, obs]` (or `[batch, obs]`)."""
        self.observation_size = int(observations_shape[-1])
        self.torso.build(observations_shape)
        self.heads.build((None, self.lstm_units))
        self.built = True

    @property
    def action_spec(self) -> ActionSpec:
        """A categorical over `num_actions` (A3C's recurrent network is discrete only)."""
        return ActionSpec(CATEGORICAL, self.num_actions)

    def initial_state(self, batch_size) -> tuple[tf.Tensor, tf.Tensor]:
        """Zero LSTM state `(h, c)` for `batch_size` sequences."""
        return self.torso.initial_state(batch_size)

    def call(self, observations, initial_state=None):
        """Sequences `[batch, time, obs]` → logits `[b, t, actions]`, values `[b, t]`, `(h, c)`."""
        features, state = self.torso(observations, initial_state)
        logits, values = self.heads(features)
        return logits, values, state

    def step(self, observations, state):
        """One step `[batch, obs]`, `(h, c)` → logits `[b, actions]`, values `[b]`, `(h, c)`."""
        features, state = self.torso.step(observations, state)
        logits, values = self.heads(features)
        return logits, values, state

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "num_actions": self.num_actions,
                "lstm_units": self.lstm_units, "seed": self.seed, "cell_clip": self.cell_clip}

    @classmethod
    def from_config(cls, config: dict):  # noqa: D102
        return cls(**config)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FeedForwardActorCritic(keras.Model):
    """GA3C's brain: dense torso (16 relu units by default) → policy logits and value."""

    def __init__(self, num_actions: int, hidden_sizes=(16,), activation: str = "relu",
                 seed: int | None = None, action_kind: str = CATEGORICAL,
                 action_low=None, action_high=None, normalize_observations: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        if action_kind not in KINDS:
            raise ValueError(f"action_kind must be one of {KINDS}, got {action_kind!r}")
        if action_kind == GAUSSIAN and not (
                action_low is not None and action_high is not None
                and len(action_low) == len(action_high) == int(num_actions)):
            raise ValueError(f"a Gaussian policy needs action_low and action_high with "
                             f"{num_actions} bounds each (actions are clipped to them)")
        self.num_actions = int(num_actions)
        self.hidden_sizes = tuple(int(size) for size in hidden_sizes)
        self.activation = activation
        self.seed = seed
        self.action_kind = action_kind
        self.action_low = None if action_low is None else [float(v) for v in action_low]
        self.action_high = None if action_high is None else [float(v) for v in action_high]
        self.normalize_observations = bool(normalize_observations)
        self.normalizer = (ObservationNormalizer(name="normalizer")
                           if self.normalize_observations else None)
        self.torso = DenseTorso(self.hidden_sizes, activation, name="torso")
        self.heads = ActorCriticHeads(num_actions, seed=seed, action_kind=action_kind,
                                      name="heads")

    @property
    def action_spec(self) -> ActionSpec:
        """The action distribution this network's head parameterizes."""
        return ActionSpec(self.action_kind, self.num_actions, tuple(self.action_low or ()),
                          tuple(self.action_high or ()))

    def build(self, observations_shape) -> None:
        """Builds for observations of shape `[batch, obs]`."""
        self.observation_size = int(observations_shape[-1])
        if self.normalizer is not None:
            self.normalizer.build(observations_shape)
        self.torso.build(observations_shape)
        self.heads.build((None, self.hidden_sizes[-1]))
        self.built = True

    def call(self, observations):
        """`[batch, obs]` → distribution parameters `[batch, params]`, values `[batch]`."""
        if self.normalizer is not None:
            observations = self.normalizer(observations)
        return self.heads(self.torso(observations))

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "num_actions": self.num_actions,
                "hidden_sizes": list(self.hidden_sizes), "activation": self.activation,
                "seed": self.seed, "action_kind": self.action_kind,
                "action_low": self.action_low, "action_high": self.action_high,
                "normalize_observations": self.normalize_observations}

    @classmethod
    def from_config(cls, config: dict):  # noqa: D102
        return cls(**config)


def build_model(model: keras.Model, observation_size: int) -> keras.Model:
    """Builds `model`'s weights for flat observations of `observation_size` and returns it."""
    if isinstance(model, RecurrentActorCritic):
        model.build((None, None, observation_size))
    else:
        model.build((None, observation_size))
    return model
