"""Encoders: observations → features for the policy and value heads.

Chosen with `--encoder` independently of the algorithm:

- `mlp`: fully connected layers (`MLPEncoder`), feed-forward.
- `lstm`: one LSTM over the observations (`LSTMEncoder`), the A3C paper's recurrence.
- `mlp-lstm`: fully connected layers, then the LSTM (`MLPLSTMEncoder`).
- `cnn`: the A3C paper's convolutional network for pixels (`ConvEncoder`).
- `nature-cnn`: the DQN Nature paper's larger one (`ConvEncoder`).
- `cnn-lstm`: the A3C paper's network, then the LSTM: its recurrent Atari agent.

Every encoder has `recurrent`, `output_size`, `state_size` (0 when feed-forward) and
`observation_rank` (1 for flat vectors, 3 for image stacks). A recurrent encoder
runs a whole sequence (`call`, with resets where episodes start, for training) or one
step (`step`, for acting); both run the same `lstm_step`.

Pixel encoders take uint8 frames and scale them inside the network, so frames stay
uint8 (a quarter of float32's bytes) from the environment through rollouts, queues
and batches.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from tfa3c.policies.encoder_names import (
    CNN,
    CNN_LSTM,
    ENCODERS,
    LSTM,
    MLP,
    MLP_LSTM,
    NATURE_CNN,
)
from tfa3c.policies.encoder_names import PIXEL_ENCODERS as PIXEL_ENCODERS  # the layers' users
from tfa3c.policies.network_options import FLOAT32

_PACKAGE = "tfa3c"

# Convolutions (filters, kernel, stride), then one dense layer of `units`.
CONV_ARCHITECTURES = {
    # Mnih et al. 2016 (A3C), after Mnih et al. 2013: 16 8x8/4, 32 4x4/2, dense 256.
    CNN: {"convolutions": ((16, 8, 4), (32, 4, 2)), "units": 256},
    # Mnih et al. 2015 (Nature DQN): 32 8x8/4, 64 4x4/2, 64 3x3/1, dense 512.
    NATURE_CNN: {"convolutions": ((32, 8, 4), (64, 4, 2), (64, 3, 1)), "units": 512},
}
CHANNELS_FIRST, CHANNELS_LAST = "channels_first", "channels_last"


def image_layout(shape) -> str:
    """`channels_last` for `[height, width, channels]` images, else `channels_first`.

    ALE's vector environment and gymnasium's frame stack give `[frames, height, width]`;
    a rendered RGB image is `[height, width, 3]`.
    """
    shape = tuple(int(d) for d in shape)
    return CHANNELS_LAST if shape[-1] <= 4 < shape[0] else CHANNELS_FIRST


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
    observation_rank = 1

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
    observation_rank = 1

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


class _FeaturesThenLSTM(keras.layers.Layer):
    """A feed-forward encoder (`front`), then an LSTM over its features."""

    recurrent = True

    @property
    def observation_rank(self) -> int:
        """Rank of one observation: the front encoder's."""
        return self.front.observation_rank

    @property
    def output_size(self) -> int:
        """Features per observation: the LSTM's units."""
        return self.lstm.units

    @property
    def state_size(self) -> int:
        """Units of each of `h` and `c`."""
        return self.lstm.units

    def build(self, observations_shape) -> None:
        self.front.build(observations_shape)
        rank = self.front.observation_rank
        self.lstm.build((*tuple(observations_shape)[:-rank], self.front.output_size))

    def initial_state(self, batch_size):
        """Zero `(h, c)` for `batch_size` sequences."""
        return self.lstm.initial_state(batch_size)

    def step(self, observations, state):
        """One time step (see `LSTMEncoder.step`)."""
        return self.lstm.step(self.front(observations), state)

    def call(self, observations, initial_state=None, episode_starts=None):
        """A sequence (see `LSTMEncoder.call`)."""
        return self.lstm(self.front(observations), initial_state, episode_starts)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MLPLSTMEncoder(_FeaturesThenLSTM):
    """Fully connected layers, then an LSTM over their features (`mlp`, then `lstm`)."""

    def __init__(self, hidden_sizes=(16,), units: int = 16, activation: str = "relu",
                 cell_clip: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.mlp = MLPEncoder(hidden_sizes, activation, name="mlp")
        self.lstm = LSTMEncoder(units, cell_clip, name="lstm")

    @property
    def front(self) -> MLPEncoder:
        """The layers before the LSTM."""
        return self.mlp

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "hidden_sizes": list(self.mlp.hidden_sizes),
                "units": self.lstm.units, "activation": self.mlp.activation,
                "cell_clip": self.lstm.cell_clip}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConvEncoder(keras.layers.Layer):
    """Convolutions, then one dense layer: uint8 image stacks → features.

    Takes observations `[..., frames, height, width]` (`channels_first`, as ALE's
    vector environment gives them) or `[..., height, width, channels]`
    (`channels_last`), of any leading shape, as uint8 or float 0-255. The frames are
    scaled to [0, 1] and, if need be, moved to channels-last (what TensorFlow's CPU
    convolutions take) inside the network.

    Args:
        architecture: `cnn` (the A3C paper's) or `nature-cnn` (see `CONV_ARCHITECTURES`).
        data_format: `channels_first` or `channels_last` (see `image_layout`).
    """

    recurrent = False
    state_size = 0
    observation_rank = 3

    def __init__(self, architecture: str = CNN, data_format: str = CHANNELS_FIRST, **kwargs):
        super().__init__(**kwargs)
        if architecture not in CONV_ARCHITECTURES:
            raise ValueError(f"architecture must be one of {', '.join(CONV_ARCHITECTURES)}; "
                             f"got {architecture!r}")
        if data_format not in (CHANNELS_FIRST, CHANNELS_LAST):
            raise ValueError(f"data_format must be {CHANNELS_FIRST} or {CHANNELS_LAST}; "
                             f"got {data_format!r}")
        self.architecture = architecture
        self.data_format = data_format
        layout = CONV_ARCHITECTURES[architecture]
        self.num_convolutions = len(layout["convolutions"])
        self.units = int(layout["units"])
        # Orthogonal weights scaled by sqrt(2) for relu layers, as the reference A2C and
        # PPO Atari agents start (OpenAI baselines, SB3).
        def initializer():
            return keras.initializers.Orthogonal(gain=2.0 ** 0.5)

        # Attributes of their own, as MLPEncoder's layers (checkpoints follow attributes).
        for index, (filters, kernel, stride) in enumerate(layout["convolutions"]):
            setattr(self, f"conv_{index}", keras.layers.Conv2D(
                filters, kernel, strides=stride, activation="relu", name=f"conv_{index}",
                kernel_initializer=initializer(), dtype=self.dtype_policy))
        self.dense = keras.layers.Dense(self.units, activation="relu", name="dense",
                                        kernel_initializer=initializer(),
                                        dtype=self.dtype_policy)

    @property
    def output_size(self) -> int:
        """Features per observation."""
        return self.units

    @property
    def convolutions(self) -> list[keras.layers.Conv2D]:
        """The convolutions, input first."""
        return [getattr(self, f"conv_{index}") for index in range(self.num_convolutions)]

    def _channels_last(self, shape) -> tuple[int, int, int]:
        shape = tuple(int(d) for d in shape)
        return shape if self.data_format == CHANNELS_LAST else (shape[1], shape[2], shape[0])

    def build(self, observations_shape) -> None:  # noqa: D102
        shape = (None, *self._channels_last(tuple(observations_shape)[-3:]))
        for layer in self.convolutions:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.dense.build((None, int(shape[1]) * int(shape[2]) * int(shape[3])))

    def call(self, observations):  # noqa: D102
        leading = tf.shape(observations)[:-3]
        images = tf.reshape(observations, tf.concat([[-1], tf.shape(observations)[-3:]], 0))
        features = tf.cast(images, self.compute_dtype) * (1.0 / 255.0)
        if self.data_format == CHANNELS_FIRST:
            features = tf.transpose(features, [0, 2, 3, 1])
        for layer in self.convolutions:
            features = layer(features)
        features = self.dense(tf.reshape(features, [tf.shape(features)[0], -1]))
        return tf.reshape(features, tf.concat([leading, [self.units]], 0))

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "architecture": self.architecture,
                "data_format": self.data_format}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConvLSTMEncoder(_FeaturesThenLSTM):
    """The A3C paper's convolutional network, then an LSTM (its recurrent Atari agent)."""

    def __init__(self, units: int = 256, cell_clip: float | None = None,
                 architecture: str = CNN, data_format: str = CHANNELS_FIRST,
                 precision: str = FLOAT32, **kwargs):
        super().__init__(**kwargs)
        # Only the convolutions take `precision`: the LSTM's state stays float32.
        self.cnn = ConvEncoder(architecture, data_format, name="cnn", dtype=precision)
        self.lstm = LSTMEncoder(units, cell_clip, name="lstm")

    @property
    def front(self) -> ConvEncoder:
        """The layers before the LSTM."""
        return self.cnn

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "units": self.lstm.units,
                "cell_clip": self.lstm.cell_clip, "architecture": self.cnn.architecture,
                "data_format": self.cnn.data_format, "precision": self.cnn.dtype_policy.name}


def make_encoder(kind: str, hidden_sizes=(16,), lstm_units: int = 16,
                 activation: str = "relu", cell_clip: float | None = None,
                 name: str = "torso", data_format: str = CHANNELS_FIRST,
                 precision: str = FLOAT32) -> keras.layers.Layer:
    """The encoder `kind` (one of `ENCODERS`).

    `data_format` and `precision` (`float32` or `mixed_bfloat16`, the convolutions'
    dtype policy) are for pixel encoders.

    Raises:
        ValueError: an unknown kind, or mixed precision for an encoder without images.
    """
    if precision != FLOAT32 and kind not in PIXEL_ENCODERS:
        raise ValueError(f"precision {precision} is for the pixel encoders "
                         f"({', '.join(PIXEL_ENCODERS)}); encoder {kind} computes in float32")
    if kind == MLP:
        return MLPEncoder(hidden_sizes, activation, name=name)
    if kind == LSTM:
        return LSTMEncoder(lstm_units, cell_clip, name=name)
    if kind == MLP_LSTM:
        return MLPLSTMEncoder(hidden_sizes, lstm_units, activation, cell_clip, name=name)
    if kind in (CNN, NATURE_CNN):
        return ConvEncoder(kind, data_format, name=name, dtype=precision)
    if kind == CNN_LSTM:
        return ConvLSTMEncoder(lstm_units, cell_clip, CNN, data_format, name=name,
                               precision=precision)
    raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}; got {kind!r}")
