"""The actor-critic policy: an encoder, an action distribution's parameters and a value.

The encoder comes from `tfa3c.policies.encoders` (MLP, LSTM or MLP then LSTM), the
distribution from the action space (`tfa3c.policies.distributions`), and the running
observation statistics, when asked for, from `tfa3c.policies.normalization`. The heads
(`ActorCriticHeads`) turn the encoder's features into the distribution's parameters
and the state value.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfa3c.policies.distributions import CATEGORICAL, GAUSSIAN, KINDS, MULTI_CATEGORICAL, ActionSpec
from tfa3c.policies.encoders import (
    CHANNELS_FIRST,
    LSTM,
    MLP,
    PIXEL_ENCODERS,
    image_layout,
    make_encoder,
)
from tfa3c.policies.network_options import FLOAT32, PRECISIONS, NetworkOptions
from tfa3c.policies.normalization import ObservationNormalizer

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


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ActorCriticHeads(keras.layers.Layer):
    """The action distribution's parameters and the state value from torso features.

    Categorical (`num_actions` actions): logits = features @ `policy_kernel`; a
    multi-categorical head is the same with `num_actions` = the sum of its dimensions'
    action counts (the logits side by side). Gaussian
    (`num_actions` action dimensions): mean = features @ `policy_kernel`, and a learned
    state-independent `log_std` per dimension; the parameters are `[mean, log_std]`
    (see `tfa3c.policies.distributions`). No biases, as the tutorial's heads.
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
class ActorCritic(keras.Model):
    """A policy: (observation normalizer →) encoder → action distribution and value.

    The encoder (`tfa3c.policies.encoders`) and the distribution
    (`tfa3c.policies.distributions`, chosen from the action space) are independent
    choices; A3C and GA3C, acting and training, export and `play` all run this one model.

    Two entry points serve every algorithm alike:

    - `step(observations [b, obs], state)` → params `[b, P]`, values `[b]`, state: one
      time step (acting). A feed-forward encoder passes `state` through unchanged.
    - `unroll(observations [b, t, obs], initial_state, episode_starts)` → params
      `[b, t, P]`, values `[b, t]`, final state: a rollout (training), with the
      recurrent state reset to zeros where episodes start.

    `call` is `unroll` for a recurrent encoder and, for a feed-forward one, params and
    values of observations of any leading shape (`[b, obs]` → `[b, P]`, `[b]`).

    Example:
        >>> model = build_policy(4, ActionSpec("categorical", 2),
        ...                      NetworkOptions(encoder="mlp-lstm"))
        >>> params, values, state = model.step(tf.zeros((3, 4)), model.initial_state(3))
    """

    def __init__(self, num_actions: int, encoder: str = MLP, hidden_sizes=(16,),
                 lstm_units: int = 16, activation: str = "relu",
                 cell_clip: float | None = None, seed: int | None = None,
                 action_kind: str = CATEGORICAL, action_low=None, action_high=None,
                 normalize_observations: bool = False, action_nvec=None,
                 data_format: str = CHANNELS_FIRST, precision: str = FLOAT32, **kwargs):
        super().__init__(**kwargs)
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, "
                             f"got {precision!r}")
        if normalize_observations and encoder in PIXEL_ENCODERS:
            raise ValueError(f"encoder {encoder} scales its uint8 frames itself; "
                             "normalize_observations must be off")
        if action_kind not in KINDS:
            raise ValueError(f"action_kind must be one of {KINDS}, got {action_kind!r}")
        if action_kind == MULTI_CATEGORICAL and not (
                action_nvec is not None and len(action_nvec) == int(num_actions)):
            raise ValueError(f"a multi-categorical policy needs action_nvec with "
                             f"{num_actions} action counts (one per dimension)")
        if action_kind == GAUSSIAN and not (
                action_low is not None and action_high is not None
                and len(action_low) == len(action_high) == int(num_actions)):
            raise ValueError(f"a Gaussian policy needs action_low and action_high with "
                             f"{num_actions} bounds each (actions are clipped to them)")
        self.num_actions = int(num_actions)
        self.encoder = encoder
        self.hidden_sizes = tuple(int(size) for size in hidden_sizes)
        self.lstm_units = int(lstm_units)
        self.activation = activation
        self.cell_clip = cell_clip
        self.seed = seed
        self.action_kind = action_kind
        self.action_low = None if action_low is None else [float(v) for v in action_low]
        self.action_high = None if action_high is None else [float(v) for v in action_high]
        self.action_nvec = None if action_nvec is None else [int(n) for n in action_nvec]
        self.normalize_observations = bool(normalize_observations)
        self.data_format = data_format
        self.precision = precision
        self.normalizer = (ObservationNormalizer(name="normalizer")
                           if self.normalize_observations else None)
        self.torso = make_encoder(encoder, self.hidden_sizes, self.lstm_units, activation,
                                  cell_clip, name="torso", data_format=data_format,
                                  precision=precision)
        self.heads = ActorCriticHeads(self.action_spec.params_size if action_kind ==
                                      MULTI_CATEGORICAL else num_actions,
                                      seed=seed, action_kind=action_kind, name="heads",
                                      # float32 under a mixed precision policy too: the
                                      # log-probabilities and values need its range
                                      dtype="float32")

    @property
    def recurrent(self) -> bool:
        """Whether the encoder carries a state `(h, c)` from step to step."""
        return self.torso.recurrent

    @property
    def state_size(self) -> int:
        """Units of each of `h` and `c` (0 for a feed-forward encoder)."""
        return self.torso.state_size

    @property
    def action_spec(self) -> ActionSpec:
        """The action distribution this network's head parameterizes."""
        return ActionSpec(self.action_kind, self.num_actions, tuple(self.action_low or ()),
                          tuple(self.action_high or ()), tuple(self.action_nvec or ()))

    @property
    def pixels(self) -> bool:
        """Whether the policy takes image stacks (uint8) rather than flat vectors."""
        return self.torso.observation_rank == 3

    @property
    def observation_dtype(self) -> str:
        """What one observation is fed as: `uint8` frames, or `float32` vectors."""
        return "uint8" if self.pixels else "float32"

    def build(self, observations_shape) -> None:
        """Builds for observations `[..., obs]` (or `[..., *image]` for a pixel encoder)."""
        rank = self.torso.observation_rank
        self.observation_shape = tuple(int(d) for d in tuple(observations_shape)[-rank:])
        # Values per observation (its length, for flat observations).
        self.observation_size = int(np.prod(self.observation_shape))
        shape = (None, *self.observation_shape)
        if self.normalizer is not None:
            self.normalizer.build(shape)
        self.torso.build(shape)
        self.heads.build((None, self.torso.output_size))
        self.built = True

    def initial_state(self, batch_size) -> tuple:
        """Zero `(h, c)` for `batch_size` sequences; `()` for a feed-forward encoder."""
        return self.torso.initial_state(batch_size) if self.recurrent else ()

    def _normalized(self, observations):
        return observations if self.normalizer is None else self.normalizer(observations)

    def step(self, observations, state=()):
        """One step `[b, obs]`, state → params `[b, P]`, values `[b]`, state."""
        observations = self._normalized(observations)
        if self.recurrent:
            features, state = self.torso.step(observations, state)
        else:
            features = self.torso(observations)
        params, values = self.heads(features)
        return params, values, state

    def unroll(self, observations, initial_state=None, episode_starts=None):
        """Rollouts `[b, t, obs]` → params `[b, t, P]`, values `[b, t]`, final state."""
        observations = self._normalized(observations)
        if self.recurrent:
            features, state = self.torso(observations, initial_state, episode_starts)
        else:
            features, state = self.torso(observations), ()
        params, values = self.heads(features)
        return params, values, state

    def call(self, observations, initial_state=None, episode_starts=None):
        """`unroll` (recurrent), or params and values of `[..., obs]` (feed-forward)."""
        if self.recurrent:
            return self.unroll(observations, initial_state, episode_starts)
        return self.heads(self.torso(self._normalized(observations)))

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "num_actions": self.num_actions,
                "encoder": self.encoder, "hidden_sizes": list(self.hidden_sizes),
                "lstm_units": self.lstm_units, "activation": self.activation,
                "cell_clip": self.cell_clip, "seed": self.seed,
                "action_kind": self.action_kind, "action_low": self.action_low,
                "action_high": self.action_high,
                "normalize_observations": self.normalize_observations,
                "action_nvec": self.action_nvec, "data_format": self.data_format,
                "precision": self.precision}

    @classmethod
    def from_config(cls, config: dict):  # noqa: D102
        return cls(**config)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RecurrentActorCritic(ActorCritic):
    """An `ActorCritic` with the LSTM encoder: A3C's network (the design card's LSTM 16).

    Kept as a name of its own so that exports and run folders from tfa3c 0.2 rebuild.
    """

    def __init__(self, num_actions: int, lstm_units: int = 16, seed: int | None = None,
                 cell_clip: float | None = None, **kwargs):
        kwargs.setdefault("encoder", LSTM)
        super().__init__(num_actions, lstm_units=lstm_units, seed=seed, cell_clip=cell_clip,
                         **kwargs)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FeedForwardActorCritic(ActorCritic):
    """An `ActorCritic` with the MLP encoder: GA3C's brain (the design card's dense 16).

    Kept as a name of its own so that exports and run folders from tfa3c 0.2 rebuild.
    """

    def __init__(self, num_actions: int, hidden_sizes=(16,), activation: str = "relu",
                 seed: int | None = None, **kwargs):
        kwargs.setdefault("encoder", MLP)
        super().__init__(num_actions, hidden_sizes=hidden_sizes, activation=activation,
                         seed=seed, **kwargs)


def build_model(model: keras.Model, observation_shape: int | tuple[int, ...]) -> keras.Model:
    """Builds `model`'s weights for observations of `observation_shape` and returns it.

    The last step of `build_policy`; on its own, for a network constructed by hand.

    An int is the length of a flat observation. A recurrent model is built for
    sequences `[batch, time, *observation]`, the shape its `call` takes (Keras traces
    `call` with the build shape when exporting).
    """
    shape = ((int(observation_shape),) if isinstance(observation_shape, int | np.integer)
             else tuple(int(d) for d in observation_shape))
    recurrent = getattr(model, "recurrent", False)
    model.build((None, None, *shape) if recurrent else (None, *shape))
    return model


def build_policy(observation_shape: int | tuple[int, ...], action: ActionSpec,
                 options: NetworkOptions | None = None, *,
                 name: str = "actor_critic") -> ActorCritic:
    """The built actor-critic for observations of `observation_shape` and actions `action`.

    The one way tfa3c makes a policy network: training (from its configuration's
    `network_options()`), its hosted roles, `--resume`, and `tfa3c export` (from the
    run's saved description, `tfa3c.checkpoints.described_policy`) all call it, so they
    build the same layers, weight names and shapes.

    Args:
        observation_shape: one observation's shape (an int: a flat observation's length);
            it also decides a pixel encoder's image layout (`image_layout`).
        action: the action distribution (`tfa3c.spaces.action_spec`), e.g. `EnvSpec.action`.
        options: the encoder and its sizes (default: `NetworkOptions()`).
        name: the Keras model's name.

    Raises:
        ValueError: options that do not fit the observations or actions.
    """
    shape = ((int(observation_shape),) if isinstance(observation_shape, int | np.integer)
             else tuple(int(d) for d in observation_shape))
    options = options or NetworkOptions()
    gaussian = action.kind == GAUSSIAN
    pixels = options.encoder in PIXEL_ENCODERS
    model = ActorCritic(
        action.size, encoder=options.encoder, hidden_sizes=options.hidden_sizes,
        lstm_units=options.lstm_units, activation=options.activation,
        cell_clip=options.cell_clip, seed=options.seed, action_kind=action.kind,
        action_low=list(action.low) if gaussian else None,
        action_high=list(action.high) if gaussian else None,
        action_nvec=list(action.nvec) if action.kind == MULTI_CATEGORICAL else None,
        # Pixel encoders scale their uint8 frames themselves.
        normalize_observations=options.normalize_observations and not pixels, name=name,
        data_format=image_layout(shape) if pixels else CHANNELS_FIRST,
        precision=options.precision)
    return build_model(model, shape)


def split_state(states):
    """`[batch, 2 * units]` → `(h, c)`: recurrent states travel as one array, side by side."""
    return tuple(ops.split(states, 2, axis=-1))
