"""Action distributions, chosen from the action space: their math lives here once.

- `Discrete(n)` → categorical over `n` actions. The policy head's parameters are the
  `n` logits.
- `MultiDiscrete(nvec)` → one independent categorical per dimension. The parameters
  are the dimensions' logits side by side (`sum(nvec)` values); an action is one
  integer per dimension, and its log-probability and entropy are the sums over the
  dimensions (as SB3's `MultiCategoricalDistribution`).
- `Box` of shape `(d,)` with finite bounds → diagonal Gaussian with a learned,
  state-independent log standard deviation. The parameters are `[mean, log_std]`
  (`2 d` values). Actions are sampled and trained on as drawn; they are clipped to the
  bounds only when the environment is stepped (and in the exported greedy action).

The TensorFlow functions (`log_prob`, `entropy`, `greedy`) serve the losses and the
export; `sample` (NumPy) serves actors that act on predictions they are handed.
Categorical actors get probabilities (softmax of the logits) rather than logits, which
is what their inverse-CDF sampling needs (`probabilities`; per dimension for
MultiDiscrete).

The functions take the `ActionSpec`; the categorical and the Gaussian, which need no
sizes, also take their kind's name.
"""

from __future__ import annotations

import math

import numpy as np

# The action space's description lives in `tfa3c.spaces` (no TensorFlow, read by the
# environments too); the policies read it here, beside the distributions' math.
from tfa3c.spaces import CATEGORICAL as CATEGORICAL
from tfa3c.spaces import DISCRETE_KINDS as DISCRETE_KINDS
from tfa3c.spaces import GAUSSIAN as GAUSSIAN
from tfa3c.spaces import KINDS as KINDS
from tfa3c.spaces import MULTI_CATEGORICAL as MULTI_CATEGORICAL
from tfa3c.spaces import ActionSpec as ActionSpec
from tfa3c.spaces import action_spec as action_spec
from tfa3c.spaces import clip as clip

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_TINY = float(np.finfo(np.float32).tiny)  # log of a probability never sees 0


def _as_spec(spec: ActionSpec | str) -> ActionSpec:
    if isinstance(spec, ActionSpec):
        return spec
    if spec == MULTI_CATEGORICAL:
        raise ValueError("a multi-categorical distribution needs its ActionSpec (nvec)")
    return ActionSpec(spec, 0)


# TensorFlow ------------------------------------------------------------------------------
def _tf():
    # Imported on first use: `tfa3c.envs` checks action spaces with this module, and the
    # CLI answers bad input before TensorFlow loads.
    import tensorflow as tf

    return tf


def log_probabilities(logits, log_epsilon: float = 0.0):
    """log(pi) from log-softmax, or log(pi + log_epsilon) when `log_epsilon` > 0.

    Computed as logaddexp(log_softmax, log(epsilon)), so it never takes log of 0 and
    stays finite for stale actions whose probability has collapsed (GA3C's policy lag).
    """
    tf = _tf()
    log_pi = tf.nn.log_softmax(logits)
    if log_epsilon <= 0.0:
        return log_pi
    floor = tf.cast(math.log(log_epsilon), log_pi.dtype)
    high = tf.maximum(log_pi, floor)
    return high + tf.math.log1p(tf.exp(-tf.abs(log_pi - floor)))


def split_gaussian(params):
    """`[..., 2 d]` parameters → mean `[..., d]`, log-std `[..., d]`."""
    tf = _tf()
    return tf.split(params, 2, axis=-1)


def _segments(spec: ActionSpec, params):
    """A multi-categorical's parameters `[..., sum(nvec)]` → one logits tensor per dimension."""
    return _tf().split(params, list(spec.nvec), axis=-1)


def log_prob(spec: ActionSpec | str, params, actions, log_epsilon: float = 0.0):
    """Log pi(action) under the distribution with `params` (`[...]`, one per row).

    For the categoricals, `log_epsilon` > 0 gives log(pi + epsilon) per dimension (see
    `log_probabilities`); the Gaussian's density needs no floor.
    """
    tf = _tf()
    spec = _as_spec(spec)
    if spec.kind == CATEGORICAL:
        log_pi = log_probabilities(params, log_epsilon)
        return tf.gather(log_pi, tf.cast(actions, tf.int32), axis=-1,
                         batch_dims=len(actions.shape))
    if spec.kind == MULTI_CATEGORICAL:
        actions = tf.cast(actions, tf.int32)
        batch_dims = len(actions.shape) - 1
        return tf.add_n([
            tf.gather(log_probabilities(logits, log_epsilon), actions[..., index], axis=-1,
                      batch_dims=batch_dims)
            for index, logits in enumerate(_segments(spec, params))])
    mean, log_std = split_gaussian(params)
    actions = tf.cast(actions, mean.dtype)
    z = (actions - mean) * tf.exp(-log_std)
    return tf.reduce_sum(-0.5 * tf.square(z) - log_std - _LOG_SQRT_2PI, axis=-1)


def _categorical_entropy(logits):
    tf = _tf()
    log_pi = tf.nn.log_softmax(logits)
    return -tf.reduce_sum(tf.exp(log_pi) * log_pi, axis=-1)


def entropy(spec: ActionSpec | str, params):
    """The distribution's entropy, one per row."""
    tf = _tf()
    spec = _as_spec(spec)
    if spec.kind == CATEGORICAL:
        return _categorical_entropy(params)
    if spec.kind == MULTI_CATEGORICAL:
        return tf.add_n([_categorical_entropy(logits) for logits in _segments(spec, params)])
    _, log_std = split_gaussian(params)
    return tf.reduce_sum(log_std + 0.5 + _LOG_SQRT_2PI, axis=-1)


def greedy(spec: ActionSpec, params):
    """The most probable action.

    An int64 argmax (one per dimension for MultiDiscrete), or the Gaussian's mean clipped
    to the bounds.
    """
    tf = _tf()
    if spec.kind == CATEGORICAL:
        return tf.argmax(params, axis=-1, output_type=tf.int64)
    if spec.kind == MULTI_CATEGORICAL:
        return tf.stack([tf.argmax(logits, axis=-1, output_type=tf.int64)
                         for logits in _segments(spec, params)], axis=-1)
    mean, _ = split_gaussian(params)
    return tf.clip_by_value(mean, tf.constant(spec.low, mean.dtype),
                            tf.constant(spec.high, mean.dtype))


def probabilities(spec: ActionSpec, params):
    """What actors sample from: softmax of the logits (per dimension), or the parameters."""
    tf = _tf()
    if spec.kind == CATEGORICAL:
        return tf.nn.softmax(params, axis=-1)
    if spec.kind == MULTI_CATEGORICAL:
        return tf.concat([tf.nn.softmax(logits, axis=-1) for logits in _segments(spec, params)],
                         axis=-1)
    return params


# NumPy -----------------------------------------------------------------------------------
def sample_categorical(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of `probabilities` (inverse-CDF sampling)."""
    cumulative = np.cumsum(probabilities, axis=-1)
    draws = rng.random((probabilities.shape[0], 1)) * cumulative[:, -1:]
    return (draws < cumulative).argmax(axis=-1)


def sample_gaussian(params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of `[mean, log_std]` (unclipped: trained on as drawn)."""
    mean, log_std = np.split(params, 2, axis=-1)
    return (mean + np.exp(log_std) * rng.standard_normal(mean.shape)).astype(np.float32)


def _bounds(spec: ActionSpec) -> list[tuple[int, int]]:
    """Column ranges of a multi-categorical's dimensions in its parameters."""
    ends = np.cumsum(spec.nvec)
    return list(zip(ends - np.asarray(spec.nvec), ends, strict=True))


def sample(spec: ActionSpec | str, outputs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of what actors are handed (see `probabilities`).

    `outputs` are probabilities (each dimension's side by side for MultiDiscrete) or
    `[mean, log_std]`.
    """
    spec = _as_spec(spec)
    if spec.kind == CATEGORICAL:
        return sample_categorical(outputs, rng)
    if spec.kind == MULTI_CATEGORICAL:
        return np.stack([sample_categorical(outputs[:, start:end], rng)
                         for start, end in _bounds(spec)], axis=-1)
    return sample_gaussian(outputs, rng)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (NumPy)."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def sample_params(spec: ActionSpec, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of the distribution's parameters (logits or `[mean, log_std]`)."""
    if spec.kind == CATEGORICAL:
        return sample_categorical(softmax(params), rng)
    if spec.kind == MULTI_CATEGORICAL:  # each dimension's logits straight to its sampler
        return np.stack([sample_categorical(softmax(params[:, start:end]), rng)
                         for start, end in _bounds(spec)], axis=-1)
    return sample_gaussian(params, rng)


def outputs_from_params(spec: ActionSpec, params: np.ndarray) -> np.ndarray:
    """What actors sample from (see `probabilities`), from the head's parameters (NumPy)."""
    if spec.kind == CATEGORICAL:
        return softmax(params)
    if spec.kind == MULTI_CATEGORICAL:
        return np.concatenate([softmax(params[:, start:end]) for start, end in _bounds(spec)],
                              axis=-1)
    return params


def _picked(probabilities: np.ndarray, actions: np.ndarray) -> np.ndarray:
    # One fancy index: `take_along_axis` costs several microseconds of Python per call.
    return probabilities[np.arange(len(actions)), actions]


def behaviour_log_prob(spec: ActionSpec | str, outputs: np.ndarray, actions: np.ndarray,
                       epsilon: float = 0.0) -> np.ndarray:
    """Log-probability `[rows]` of the actions an actor took, under the policy it acted with.

    An off-policy correction (importance weights, V-trace) divides the learner's
    probability of an action by this one.

    Args:
        spec: the action distribution.
        outputs: what the actor sampled from (see `probabilities`): probabilities, or
            `[mean, log_std]`.
        actions: the actions taken, `[rows]` or `[rows, dims]`.
        epsilon: the probability that the actor took a uniformly random action instead
            (discrete actions), which the behaviour policy's probability includes.
    """
    spec = _as_spec(spec)
    if spec.kind == GAUSSIAN:
        mean, log_std = np.split(np.asarray(outputs, np.float64), 2, axis=-1)
        z = (actions - mean) * np.exp(-log_std)
        return np.sum(-0.5 * np.square(z) - log_std - _LOG_SQRT_2PI, axis=-1).astype(np.float32)
    if spec.kind == CATEGORICAL:
        probability = _picked(outputs, actions).astype(np.float64)
        uniform = 1.0 / outputs.shape[-1]
    else:
        probability = np.prod([_picked(outputs[:, start:end], actions[:, index])
                               for index, (start, end) in enumerate(_bounds(spec))],
                              axis=0, dtype=np.float64)
        uniform = float(np.prod(1.0 / np.asarray(spec.nvec, np.float64)))
    if epsilon > 0.0:
        probability = (1.0 - epsilon) * probability + epsilon * uniform
    return np.log(np.maximum(probability, _TINY)).astype(np.float32)
