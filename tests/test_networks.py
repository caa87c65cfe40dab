import keras
import numpy as np
import tensorflow as tf

from tfa3c.acting import RecurrentPolicyArrays, sample_actions, softmax
from tfa3c.networks import FeedForwardActorCritic, RecurrentActorCritic, build_model


def randomized_recurrent(obs=4, actions=3, units=8, seed=0):
    model = build_model(RecurrentActorCritic(actions, units), obs)
    rng = np.random.default_rng(seed)
    # Larger weights than the initializer's so that differences would show.
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model


def test_recurrent_shapes():
    model = build_model(RecurrentActorCritic(num_actions=3, lstm_units=16), 4)
    logits, values, (h, c) = model(tf.zeros((5, 7, 4)))
    assert logits.shape == (5, 7, 3) and values.shape == (5, 7)
    assert h.shape == (5, 16) and c.shape == (5, 16)
    logits, values, (h, c) = model.step(tf.zeros((5, 4)), model.initial_state(5))
    assert logits.shape == (5, 3) and values.shape == (5,) and h.shape == (5, 16)


def test_step_and_sequence_give_the_same_numbers():
    model = randomized_recurrent()
    rng = np.random.default_rng(1)
    observations = rng.normal(size=(3, 12, 4)).astype(np.float32)
    initial = (rng.normal(size=(3, 8)).astype(np.float32),
               rng.normal(size=(3, 8)).astype(np.float32))
    logits, values, (h, c) = model(observations, initial)
    state = initial
    for t in range(12):
        step_logits, step_values, state = model.step(observations[:, t], state)
        np.testing.assert_allclose(step_logits, logits[:, t], atol=1e-5)
        np.testing.assert_allclose(step_values, values[:, t], atol=1e-5)
    np.testing.assert_allclose(state[0], h, atol=1e-5)
    np.testing.assert_allclose(state[1], c, atol=1e-5)


def test_sequence_gradients_match_finite_differences():
    # TensorFlow's fused BlockLSTMV2 kernel, which the sequence path once used, gives the
    # right outputs but wrong kernel gradients; this is the check that catches it.
    model = randomized_recurrent(units=4)
    rng = np.random.default_rng(2)
    observations = rng.normal(size=(2, 6, 4))
    weights = rng.normal(size=(2, 6, 3))

    def loss():
        logits, values, _ = model(observations.astype(np.float32))
        return tf.reduce_sum(tf.cast(logits, tf.float64) * weights) + tf.reduce_sum(
            tf.cast(values, tf.float64) ** 2)

    with tf.GradientTape() as tape:
        value = loss()
    kernel, bias = model.torso.kernel, model.torso.bias
    gradients = tape.gradient(value, [kernel, bias])
    epsilon = 1e-2
    for variable, gradient in zip([kernel, bias], gradients, strict=True):
        original = variable.numpy()
        for index in [tuple(rng.integers(0, n) for n in original.shape) for _ in range(6)]:
            shifted = []
            for sign in (1, -1):
                changed = original.copy()
                changed[index] += sign * epsilon
                variable.assign(changed)
                shifted.append(float(loss()))
            variable.assign(original)
            numeric = (shifted[0] - shifted[1]) / (2 * epsilon)
            np.testing.assert_allclose(gradient.numpy()[index], numeric, rtol=0.02, atol=2e-3)


def test_initial_state_matters():
    model = randomized_recurrent()
    observations = np.ones((2, 3, 4), np.float32)
    zero = model(observations)[0]
    other = model(observations, (np.ones((2, 8), np.float32), np.ones((2, 8), np.float32)))[0]
    assert np.abs(zero - other).max() > 1e-3


def test_numpy_acting_matches_the_keras_step():
    model = randomized_recurrent()
    policy = RecurrentPolicyArrays([v.numpy() for v in model.trainable_variables])
    rng = np.random.default_rng(2)
    observations = rng.normal(size=(6, 4)).astype(np.float32)
    h = rng.normal(size=(6, 8)).astype(np.float32)
    c = rng.normal(size=(6, 8)).astype(np.float32)
    logits, values, (h1, c1) = model.step(observations, (h, c))
    np_logits, np_values, np_h, np_c = policy.step(observations, h, c)
    np.testing.assert_allclose(np_logits, logits, atol=1e-5)
    np.testing.assert_allclose(np_values, values, atol=1e-5)
    np.testing.assert_allclose(np_h, h1, atol=1e-5)
    np.testing.assert_allclose(np_c, c1, atol=1e-5)


def test_heads_are_initialized_like_the_tutorial():
    model = build_model(RecurrentActorCritic(num_actions=2, lstm_units=16, seed=3), 4)
    policy = model.heads.policy_kernel.numpy()
    value = model.heads.value_kernel.numpy()
    np.testing.assert_allclose(np.linalg.norm(policy, axis=0), [0.01, 0.01], rtol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(value, axis=0), [1.0], rtol=1e-4)
    assert len(model.heads.weights) == 2  # no biases on the heads


def test_keras_round_trip(tmp_path):
    model = randomized_recurrent()
    observations = np.random.default_rng(3).normal(size=(2, 5, 4)).astype(np.float32)
    path = tmp_path / "a3c.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(loaded, RecurrentActorCritic)
    assert loaded.lstm_units == 8 and loaded.num_actions == 3
    np.testing.assert_allclose(loaded(observations)[0], model(observations)[0], atol=1e-6)

    dense = build_model(FeedForwardActorCritic(2, hidden_sizes=(16, 8)), 4)
    dense.save(tmp_path / "ga3c.keras")
    loaded = keras.models.load_model(tmp_path / "ga3c.keras", safe_mode=True)
    assert loaded.hidden_sizes == (16, 8)
    np.testing.assert_allclose(loaded(observations[:, 0])[1], dense(observations[:, 0])[1],
                               atol=1e-6)


def test_feed_forward_shapes():
    model = build_model(FeedForwardActorCritic(num_actions=5), 3)
    logits, values = model(tf.zeros((7, 3)))
    assert logits.shape == (7, 5) and values.shape == (7,)


def test_sampling_follows_probabilities():
    rng = np.random.default_rng(0)
    probabilities = np.tile([[0.2, 0.8, 0.0]], (20000, 1))
    actions = sample_actions(probabilities, rng)
    assert not (actions == 2).any()
    assert abs((actions == 1).mean() - 0.8) < 0.02
    np.testing.assert_allclose(softmax(np.array([[0.0, np.log(3.0)]])), [[0.25, 0.75]])


def test_cell_clip_is_applied_alike_in_sequence_step_and_numpy():
    model = build_model(RecurrentActorCritic(3, 8, cell_clip=0.5), 4)
    rng = np.random.default_rng(4)
    model.set_weights([rng.normal(scale=1.0, size=w.shape).astype(np.float32)
                       for w in model.get_weights()])
    observations = rng.normal(size=(2, 10, 4)).astype(np.float32) * 3
    logits, _, (_, c) = model(observations)
    assert np.abs(c.numpy()).max() <= 0.5 + 1e-6
    policy = RecurrentPolicyArrays([v.numpy() for v in model.trainable_variables], 0.5)
    np_h = np.zeros((2, 8), np.float32)
    np_c = np.zeros((2, 8), np.float32)
    state = model.initial_state(2)
    for t in range(10):
        step_logits, _, state = model.step(observations[:, t], state)
        np_logits, _, np_h, np_c = policy.step(observations[:, t], np_h, np_c)
        np.testing.assert_allclose(step_logits, logits[:, t], atol=1e-5)
        np.testing.assert_allclose(np_logits, logits[:, t], atol=1e-5)
    np.testing.assert_allclose(np_c, c, atol=1e-5)
