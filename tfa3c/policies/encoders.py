"""Encoders: observations → features for the policy and value heads.

Three encoders, chosen with `--encoder` independently of the algorithm:

- `mlp`: fully connected layers (`MLPEncoder`), feed-forward.
- `lstm`: one LSTM over the observations (`LSTMEncoder`), the A3C paper's recurrence.
- `mlp-lstm`: fully connected layers, then the LSTM (`MLPLSTMEncoder`).

Every encoder has `recurrent`, `output_size` and `state_size` (0 when feed-forward).
A recurrent encoder runs a whole sequence (`call`, with resets where episodes start,
for training) or one step (`step`, for acting); both run the same `lstm_step`. A
convolutional encoder for pixels fits the same interface.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from tfa3c.algorithms.config import ENCODERS

_PACKAGE = "tfa3c"
MLP, LSTM, MLP_LSTM = ENCODERS


def lstm_step(observations, state, kernel, bias, cell_clip: float | None = None):
    """One LSTM step: gates (input, forget, cell, output) from `[observations, h] @ kernel`.

    Args:
        observations: `[batch, inputs]`.
        state: `(h, c)`, each `[batch, units]`.
        kernel: `[inputs + units, 4 * units]`.
        bias: `[4 * units]`.
        cell_clip: bound on the cell state (None: unbounded).

    Returns:
        The new `(h, c)`.
    """
    h, c = state
    gates = ops.matmul(ops.concatenate([observations, h], axis=-1), kernel) + bias
    i, f, g, o = ops.split(gates, 4, axis=-1)
    c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
    if cell_clip:
        c = ops.clip(c, -cell_clip, cell_clip)
    return ops.sigmoid(o) * ops.tanh(c), c


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MLPEncoder(keras.layers.Layer):
    """Fully connected layers: `[..., obs]` → features `[..., hidden_sizes[-1]]`."""

    recurrent = False
    state_size = 0

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
    def output_size(self) -> int:
        """Features per observation."""
        return self.hidden_sizes[-1]

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
class LSTMEncoder(keras.layers.Layer):
    """An LSTM over observation sequences, with a single-step path for acting.

    Gates are input, forget, cell, output (`lstm_step`); the bias starts at 1 for the
    forget gate as Keras' `unit_forget_bias` does. The sequence path runs the step in a
    `tf.scan`, so both paths give the same numbers. (TensorFlow's fused `BlockLSTMV2`
    kernel gives the same forward pass but, measured against finite differences, wrong
    kernel gradients, so it is not used.)

    Weights: `kernel` `[inputs + units, 4 * units]` acting on `[inputs, h]`, `bias`
    `[4 * units]`.
    """

    recurrent = True

    def __init__(self, units: int = 16, cell_clip: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.cell_clip = cell_clip

    @property
    def output_size(self) -> int:
        """Features per observation: the LSTM's units."""
        return self.units

    @property
    def state_size(self) -> int:
        """Units of each of `h` and `c`."""
        return self.units

    def build(self, inputs_shape) -> None:  # noqa: D102
        inputs = int(inputs_shape[-1])
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

    def step(self, inputs, state):
        """One time step: `[batch, inputs]` and `(h, c)` → features `[batch, units]`, `(h, c)`."""
        h, c = lstm_step(inputs, state, self.kernel, self.bias, self.cell_clip)
        return h, (h, c)

    def call(self, inputs, initial_state=None, episode_starts=None):
        """A sequence `[batch, time, inputs]` → features `[batch, time, units]`, final `(h, c)`.

        Args:
            inputs: the sequence.
            initial_state: `(h, c)` before the first step (None: zeros).
            episode_starts: optional `[batch, time]`, 1 where an episode starts: the
                state is reset to zeros before that step, so nothing carries across
                episodes (and no gradient crosses their boundary).
        """
        batch = tf.shape(inputs)[0]
        if initial_state is None:
            initial_state = self.initial_state(batch)
        h0, c0 = initial_state
        if episode_starts is None:
            episode_starts = tf.zeros(tf.shape(inputs)[:2], inputs.dtype)
        keeps = 1.0 - tf.cast(tf.transpose(episode_starts, [1, 0]), inputs.dtype)[..., None]

        def advance(state, step_inputs):
            step_observations, keep = step_inputs
            return lstm_step(step_observations, (state[0] * keep, state[1] * keep),
                             self.kernel, self.bias, self.cell_clip)

        hs, cs = tf.scan(advance, (tf.transpose(inputs, [1, 0, 2]), keeps),
                         initializer=(h0, c0))
        features = tf.transpose(hs, [1, 0, 2])
        # An empty sequence keeps the initial state.
        final = tf.cond(tf.shape(hs)[0] > 0, lambda: (hs[-1], cs[-1]), lambda: (h0, c0))
        return features, final

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "units": self.units, "cell_clip": self.cell_clip}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MLPLSTMEncoder(keras.layers.Layer):
    """Fully connected layers, then an LSTM over their features (`mlp`, then `lstm`)."""

    recurrent = True

    def __init__(self, hidden_sizes=(16,), units: int = 16, activation: str = "relu",
                 cell_clip: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.mlp = MLPEncoder(hidden_sizes, activation, name="mlp")
        self.lstm = LSTMEncoder(units, cell_clip, name="lstm")

    @property
    def output_size(self) -> int:
        """Features per observation: the LSTM's units."""
        return self.lstm.units

    @property
    def state_size(self) -> int:
        """Units of each of `h` and `c`."""
        return self.lstm.units

    def build(self, observations_shape) -> None:  # noqa: D102
        self.mlp.build(observations_shape)
        self.lstm.build((*tuple(observations_shape)[:-1], self.mlp.output_size))

    def initial_state(self, batch_size):
        """Zero `(h, c)` for `batch_size` sequences."""
        return self.lstm.initial_state(batch_size)

    def step(self, observations, state):
        """One time step (see `LSTMEncoder.step`)."""
        return self.lstm.step(self.mlp(observations), state)

    def call(self, observations, initial_state=None, episode_starts=None):
        """A sequence (see `LSTMEncoder.call`)."""
        return self.lstm(self.mlp(observations), initial_state, episode_starts)

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "hidden_sizes": list(self.mlp.hidden_sizes),
                "units": self.lstm.units, "activation": self.mlp.activation,
                "cell_clip": self.lstm.cell_clip}


def make_encoder(kind: str, hidden_sizes=(16,), lstm_units: int = 16,
                 activation: str = "relu", cell_clip: float | None = None,
                 name: str = "torso") -> keras.layers.Layer:
    """The encoder `kind` (one of `ENCODERS`)."""
    if kind == MLP:
        return MLPEncoder(hidden_sizes, activation, name=name)
    if kind == LSTM:
        return LSTMEncoder(lstm_units, cell_clip, name=name)
    if kind == MLP_LSTM:
        return MLPLSTMEncoder(hidden_sizes, lstm_units, activation, cell_clip, name=name)
    raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}; got {kind!r}")
