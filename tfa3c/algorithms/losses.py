"""The actor-critic loss shared by A3C and GA3C."""

from __future__ import annotations

import tensorflow as tf

from tfa3c.policies import distributions
from tfa3c.policies.distributions import CATEGORICAL, ActionSpec


def actor_critic_terms(
    logits: tf.Tensor,
    values: tf.Tensor,
    actions: tf.Tensor,
    advantages: tf.Tensor,
    returns: tf.Tensor,
    log_epsilon: float = 0.0,
    kind: ActionSpec | str = CATEGORICAL,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Per-entry policy loss, squared value error and entropy, each shaped like `values`.

    policy = -log pi(a|s) * A, value = (G - V(s))^2, entropy = the distribution's
    (`tfa3c.policies.distributions`). Advantages and returns are treated as constants. See
    `actor_critic_loss` for the arguments; `logits` are the distribution's parameters
    for `kind` (an `ActionSpec`, or `categorical` / `gaussian`).
    """
    dtype = logits.dtype
    advantages = tf.stop_gradient(tf.cast(advantages, dtype))
    returns = tf.stop_gradient(tf.cast(returns, dtype))
    taken = distributions.log_prob(kind, logits, actions, log_epsilon)
    entropies = distributions.entropy(kind, logits)
    return -taken * advantages, tf.square(returns - values), entropies


def total_loss(policy_loss, value_loss, entropy, value_coef: float, entropy_coef: float):
    """policy_loss + value_coef * value_loss - entropy_coef * entropy (any shapes alike)."""
    return policy_loss + value_coef * value_loss - entropy_coef * entropy


def actor_critic_loss(
    logits: tf.Tensor,
    values: tf.Tensor,
    actions: tf.Tensor,
    advantages: tf.Tensor,
    returns: tf.Tensor,
    mask: tf.Tensor | None = None,
    value_coef: float = 0.5,
    entropy_coef: float = 0.01,
    log_epsilon: float = 0.0,
    kind: ActionSpec | str = CATEGORICAL,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Policy gradient on advantages, squared value error and an entropy bonus.

    total = policy_loss + value_coef * value_loss - entropy_coef * entropy, where
    policy_loss = -mean(log pi(a|s) * A), value_loss = mean((G - V(s))^2) and
    entropy = mean of the distribution's entropy. Every mean is over the unmasked entries.

    Args:
        logits: `[..., params]` the distribution's parameters: logits (categorical) or
            `[mean, log_std]` (Gaussian).
        values: `[...]` predicted values V(s).
        actions: `[...]` integer actions taken (categorical), or `[..., dims]`
            (multi-categorical, Gaussian).
        advantages: `[...]` advantages (treated as constants).
        returns: `[...]` value targets (treated as constants).
        mask: optional `[...]` 1 for real entries, 0 for padding.
        value_coef: weight of the value loss.
        entropy_coef: weight of the entropy bonus.
        log_epsilon: see `tfa3c.policies.distributions.log_probabilities`.
        kind: the action distribution (`logits` are its parameters): its `ActionSpec`,
            or the name of a kind that needs no sizes (`categorical`, `gaussian`).

    Returns:
        The total loss and a dict with `policy_loss`, `value_loss`, `entropy`.
    """
    policy, value, entropies = actor_critic_terms(logits, values, actions, advantages,
                                                  returns, log_epsilon, kind)
    if mask is None:
        mask = tf.ones_like(values)
    mask = tf.cast(mask, logits.dtype)
    count = tf.maximum(tf.reduce_sum(mask), 1.0)

    def mean(x):
        return tf.reduce_sum(x * mask) / count

    policy_loss, value_loss, entropy = mean(policy), mean(value), mean(entropies)
    total = total_loss(policy_loss, value_loss, entropy, value_coef, entropy_coef)
    return total, {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
