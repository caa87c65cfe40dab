"""V-trace: value targets and policy-gradient advantages for actions of a stale policy.

GA3C's agents act on the weights a predictor had when they asked; by the time their
rollout is trained on, the learner has moved on (the policy lag). V-trace (Espeholt
et al., 2018, IMPALA, section 4) corrects for it with truncated importance weights
rho_t = pi(a_t|x_t) / mu(a_t|x_t) of the learner's policy pi against the behaviour
policy mu that acted:

    v_s = V(x_s) + sum_{t>=s} gamma^(t-s) (prod_{i=s}^{t-1} c_i) delta_t,
    delta_t = min(rho_bar, rho_t) (r_t + gamma V(x_{t+1}) - V(x_t)),
    c_i = lambda min(c_bar, rho_i),

and the policy gradient takes the advantage min(rho_bar, rho_s) (r_s + gamma v_{s+1}
- V(x_s)). With the behaviour equal to the target and rho_bar = c_bar = lambda = 1, v_s
is the n-step return and the advantage the n-step return minus V(x_s): what the learner
uses without a correction. With lambda < 1 and no lag, they are GAE's.

Episodes are cut as `tfa3c.algorithms.returns` cuts them: nothing follows a
terminated step, and a truncated step, or the last step of a rollout, bootstraps from
the value of the observation that followed it, recorded by the agent when it acted.
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

# Importance weights beyond e^20 are counted as e^20 in the reported mean: far beyond
# any truncation level, and a mean that stays finite for a Gaussian whose behaviour
# standard deviation was tiny.
_LOG_RHO_REPORTED_MAX = 20.0


class VTrace(NamedTuple):
    """V-trace's outputs, each `[sequences, time]`.

    Attributes:
        targets: v_s, the value targets.
        advantages: the policy gradient's advantages, truncated weights included.
        importance_weights: rho_s, untruncated (capped at e^20 for reporting).
    """

    targets: tf.Tensor
    advantages: tf.Tensor
    importance_weights: tf.Tensor


def vtrace(log_rhos: tf.Tensor, rewards: tf.Tensor, values: tf.Tensor,
           next_values: tf.Tensor, terminated: tf.Tensor, truncated: tf.Tensor,
           gamma: float, rho_bar: float = 1.0, c_bar: float = 1.0,
           trace_lambda: float = 1.0, correct: bool = True) -> VTrace:
    """V-trace targets and advantages of a batch of sequences (batch-major).

    Nothing here is differentiated: the results are constants of the loss.

    Args:
        log_rhos: `[B, T]` log pi(a_t|x_t) - log mu(a_t|x_t); zeros for no correction.
        rewards: `[B, T]` the (scaled) rewards.
        values: `[B, T]` V(x_t) under the learner's current weights.
        next_values: `[B, T]` V(x_{t+1}), read where step t was truncated and at the
            last step of each sequence; ignored elsewhere.
        terminated: `[B, T]` 1 where step t ended its episode in a terminal state.
        truncated: `[B, T]` 1 where step t's episode was cut (its next value bootstraps).
        gamma: the discount.
        rho_bar: truncation of the weights in the temporal differences and the policy
            gradient (the fixed point's policy; IMPALA's rho-bar).
        c_bar: truncation of the trace (how far corrections reach; IMPALA's c-bar).
        trace_lambda: lambda, a further discount of the trace (1: none).
        correct: False computes the targets with weights of 1, untruncated (no
            correction: n-step returns, or GAE's with lambda < 1), and still reports
            the measured weights.
    """
    log_rhos, rewards, values, next_values = (
        tf.stop_gradient(tf.cast(x, tf.float32))
        for x in (log_rhos, rewards, values, next_values))
    terminated = tf.cast(terminated, tf.bool)
    steps = tf.shape(rewards)[1]
    last = tf.equal(tf.range(steps), steps - 1)[None, :]
    ends = terminated | tf.cast(truncated, tf.bool) | last
    # The value each step's difference looks ahead to: the next step's inside a
    # segment, the recorded bootstrap at a cut, nothing after a termination.
    zeros = tf.zeros_like(values)
    bootstraps = tf.where(terminated, zeros, next_values)

    def ahead(per_step):  # x_{t+1} within a segment, the bootstrap where it ends
        shifted = tf.concat([per_step[:, 1:], zeros[:, :1]], axis=1)
        return tf.where(ends, bootstraps, shifted)

    if correct:
        rhos = tf.exp(log_rhos)
        clipped_rhos, cs = tf.minimum(rho_bar, rhos), trace_lambda * tf.minimum(c_bar, rhos)
    else:  # no truncation level applies either
        clipped_rhos = tf.ones_like(log_rhos)
        cs = trace_lambda * clipped_rhos
    deltas = clipped_rhos * (rewards + gamma * ahead(values) - values)
    decays = tf.where(ends, zeros, gamma * cs)

    def backward(following, step):  # (v_s - V(x_s)) from (v_{s+1} - V(x_{s+1}))
        delta, decay = step
        return delta + decay * following

    corrections = tf.scan(backward, (tf.transpose(deltas), tf.transpose(decays)),
                          initializer=tf.zeros_like(values[:, 0]), reverse=True)
    targets = values + tf.transpose(corrections)
    advantages = clipped_rhos * (rewards + gamma * ahead(targets) - values)
    reported = tf.exp(tf.minimum(log_rhos, _LOG_RHO_REPORTED_MAX))
    return VTrace(tf.stop_gradient(targets), tf.stop_gradient(advantages), reported)
