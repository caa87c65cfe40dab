import numpy as np
import tensorflow as tf

from tfa3c.algorithms.losses import actor_critic_loss
from tfa3c.policies.distributions import log_probabilities


def numpy_loss(logits, values, actions, advantages, returns, mask, value_coef, entropy_coef):
    shifted = logits - logits.max(-1, keepdims=True)
    log_pi = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    taken = np.take_along_axis(log_pi, actions[..., None], -1)[..., 0]
    entropy = -(np.exp(log_pi) * log_pi).sum(-1)
    count = mask.sum()
    policy = -(taken * advantages * mask).sum() / count
    value = (((returns - values) ** 2) * mask).sum() / count
    ent = (entropy * mask).sum() / count
    return policy + value_coef * value - entropy_coef * ent, policy, value, ent


def test_loss_matches_numpy_reference():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5, 4)).astype(np.float32) * 3
    values = rng.normal(size=(3, 5)).astype(np.float32)
    actions = rng.integers(0, 4, size=(3, 5))
    advantages = rng.normal(size=(3, 5)).astype(np.float32)
    returns = rng.normal(size=(3, 5)).astype(np.float32)
    mask = (rng.random((3, 5)) > 0.3).astype(np.float32)
    total, metrics = actor_critic_loss(tf.constant(logits), tf.constant(values),
                                       tf.constant(actions), advantages, returns, mask,
                                       value_coef=0.5, entropy_coef=0.01)
    expected = numpy_loss(logits, values, actions, advantages, returns, mask, 0.5, 0.01)
    np.testing.assert_allclose(float(total), expected[0], rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(float(metrics["policy_loss"]), expected[1], rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(float(metrics["value_loss"]), expected[2], rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(float(metrics["entropy"]), expected[3], rtol=1e-5, atol=2e-5)


def test_padding_does_not_change_the_loss():
    logits = tf.constant([[[0.3, -0.2], [5.0, 1.0]]])
    args = (tf.constant([[0.1, 9.0]]), tf.constant([[1, 0]]), tf.constant([[1.0, 50.0]]),
            tf.constant([[0.5, 70.0]]))
    masked, _ = actor_critic_loss(logits, *args, mask=tf.constant([[1.0, 0.0]]))
    alone, _ = actor_critic_loss(logits[:, :1], *(a[:, :1] for a in args))
    np.testing.assert_allclose(float(masked), float(alone), rtol=1e-6)


def test_log_probabilities_stay_finite_for_vanishing_probabilities():
    logits = tf.constant([[0.0, -1e4]])
    exact = log_probabilities(logits)
    guarded = log_probabilities(logits, log_epsilon=1e-6)
    assert np.isfinite(exact.numpy()).all()
    np.testing.assert_allclose(guarded.numpy()[0, 1], np.log(1e-6), rtol=1e-4)
    np.testing.assert_allclose(guarded.numpy()[0, 0], np.log(1 + 1e-6), atol=1e-6)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss, _ = actor_critic_loss(logits, tf.constant([0.0]), tf.constant([1]),
                                    tf.constant([1.0]), tf.constant([0.0]), log_epsilon=1e-6)
    assert np.isfinite(tape.gradient(loss, logits).numpy()).all()
