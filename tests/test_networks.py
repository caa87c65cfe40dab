import keras
import numpy as np
import pytest
import tensorflow as tf

from tfa3c.policies.acting import (
    NumpyPolicy,
    TensorFlowPolicy,
    acting_policy,
    sample_actions,
    softmax,
    weight_names,
)
from tfa3c.policies.actor_critic import (
    ActorCritic,
    FeedForwardActorCritic,
    RecurrentActorCritic,
    build_model,
)

from .conftest import randomized


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
        np.testing.assert_allclose(step_logits, logits[:, t], rtol=3e-5, atol=1e-5)
        np.testing.assert_allclose(step_values, values[:, t], rtol=3e-5, atol=1e-5)
    np.testing.assert_allclose(state[0], h, rtol=3e-5, atol=1e-5)
    np.testing.assert_allclose(state[1], c, rtol=3e-5, atol=1e-5)


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


def flat_weights(model):
    return np.concatenate([v.numpy().ravel() for v in model.trainable_variables])


GAUSSIAN = dict(action_kind="gaussian", action_low=[-2.0, -1.0], action_high=[2.0, 1.0])
COVERED = [
    dict(encoder="lstm", lstm_units=8),
    dict(encoder="lstm", lstm_units=8, cell_clip=0.3),
    dict(encoder="mlp", hidden_sizes=(8, 6)),
    dict(encoder="mlp", hidden_sizes=(8,), activation="tanh"),
    dict(encoder="mlp-lstm", hidden_sizes=(6,), lstm_units=5),
    dict(encoder="lstm", lstm_units=8, **GAUSSIAN),
    dict(encoder="mlp", hidden_sizes=(8,), **GAUSSIAN),
    dict(encoder="mlp-lstm", hidden_sizes=(6,), lstm_units=5, activation="tanh", **GAUSSIAN),
]


def numpy_and_keras_steps(model, policy, steps=4, seed=2):
    """Both paths over a few steps from a random state; yields their outputs."""
    rng = np.random.default_rng(seed)
    units = model.state_size
    h = rng.normal(size=(6, units)).astype(np.float32)
    c = rng.normal(size=(6, units)).astype(np.float32)
    state = (h, c) if model.recurrent else ()
    for _ in range(steps):
        observations = rng.normal(size=(6, 4)).astype(np.float32)
        params, values, state = model.step(observations, state)
        got_params, got_values, h, c = policy.step(observations, h, c)
        yield (params, values, state), (got_params, got_values, h, c)


@pytest.mark.parametrize("options", COVERED, ids=lambda o: "-".join(
    f"{v}" for k, v in o.items() if k in ("encoder", "cell_clip", "activation", "action_kind")))
def test_numpy_acting_matches_the_keras_step(options):
    # Two action dimensions or actions, so that the Gaussian's bounds have two entries.
    model = randomized(ActorCritic(2, **options))
    assert NumpyPolicy.covers(model)
    policy = acting_policy(model).load(flat_weights(model))
    assert isinstance(policy, NumpyPolicy)
    for (params, values, state), (got_params, got_values, h, c) in numpy_and_keras_steps(
            model, policy):
        np.testing.assert_allclose(got_params, params, rtol=3e-5, atol=1e-5)
        np.testing.assert_allclose(got_values, values, rtol=3e-5, atol=1e-5)
        if model.recurrent:
            np.testing.assert_allclose(h, state[0], rtol=3e-5, atol=1e-5)
            np.testing.assert_allclose(c, state[1], rtol=3e-5, atol=1e-5)


@pytest.mark.parametrize("options", [dict(encoder="mlp", hidden_sizes=(8,)),
                                     dict(encoder="lstm", lstm_units=8, **GAUSSIAN)],
                         ids=["mlp", "lstm-gaussian"])
def test_numpy_acting_applies_the_observation_statistics(options):
    model = randomized(ActorCritic(2, normalize_observations=True, **options))
    model.normalizer.statistics.assign(np.r_[np.zeros(4), np.ones(4), 1e-8])  # fresh
    rng = np.random.default_rng(3)
    # Far from zero mean and unit spread, so that normalizing matters; clip at 10 std.
    model.normalizer.update(rng.normal([5.0, -3.0, 0.0, 20.0], [0.1, 2.0, 1.0, 30.0],
                                       size=(100, 4)).astype(np.float32))
    assert NumpyPolicy.covers(model)
    policy = acting_policy(model).load(flat_weights(model))
    for (params, values, _), (got_params, got_values, _, _) in numpy_and_keras_steps(
            model, policy):
        np.testing.assert_allclose(got_params, params, rtol=3e-5, atol=1e-5)
        np.testing.assert_allclose(got_values, values, rtol=3e-5, atol=1e-5)
    # A snapshot holds the statistics of its moment: later updates need a new load.
    model.normalizer.update(np.full((1000, 4), 100.0, np.float32))
    fresh = acting_policy(model).load(flat_weights(model))
    observations = np.ones((3, 4), np.float32)
    state = [np.zeros((3, model.state_size), np.float32)] * 2
    assert not np.allclose(policy.step(observations, *state)[1],
                           fresh.step(observations, *state)[1])


def test_numpy_acting_looks_weights_up_by_name():
    # The snapshot is in the model's variable order; the NumPy path must not assume it.
    model = randomized(ActorCritic(2, encoder="mlp-lstm", hidden_sizes=(6,), lstm_units=5))
    names = weight_names(model)
    assert names[:2] == ["torso/mlp/dense_0/kernel", "torso/mlp/dense_0/bias"]
    assert "heads/policy_kernel" in names and "torso/lstm/kernel" in names
    policy = NumpyPolicy(model)
    policy.names = list(reversed(policy.names))
    policy.shapes = list(reversed(policy.shapes))
    reordered = np.concatenate([v.numpy().ravel() for v in reversed(model.trainable_variables)])
    policy.load(reordered)
    for (params, _, _), (got_params, _, _, _) in numpy_and_keras_steps(model, policy, steps=2):
        np.testing.assert_allclose(got_params, params, rtol=3e-5, atol=1e-5)


def test_what_numpy_does_not_cover_falls_back_to_the_model():
    model = randomized(ActorCritic(2, encoder="mlp-lstm", hidden_sizes=(6,), lstm_units=5,
                                   activation="elu"))
    assert not NumpyPolicy.covers(model)
    with pytest.raises(ValueError, match="does not cover"):
        NumpyPolicy(model)
    policy = acting_policy(model)
    assert isinstance(policy, TensorFlowPolicy)
    weights = flat_weights(model)
    policy.load(weights)
    for (params, values, state), (got_params, got_values, h, c) in numpy_and_keras_steps(
            model, policy):
        np.testing.assert_allclose(got_params, params, rtol=3e-5, atol=1e-5)
        np.testing.assert_allclose(got_values, values, rtol=3e-5, atol=1e-5)
        np.testing.assert_allclose(h, state[0], rtol=3e-5, atol=1e-5)
        np.testing.assert_allclose(c, state[1], rtol=3e-5, atol=1e-5)
    # The snapshot, not the model's current weights, is what it acts with.
    before = policy.step(np.ones((1, 4), np.float32), np.zeros((1, 5), np.float32),
                         np.zeros((1, 5), np.float32))[0]
    for variable in model.trainable_variables:
        variable.assign(variable.numpy() * 0.0)
    after = policy.copy().load(weights).step(np.ones((1, 4), np.float32),
                                             np.zeros((1, 5), np.float32),
                                             np.zeros((1, 5), np.float32))[0]
    np.testing.assert_allclose(after, before, atol=1e-6)
    assert np.abs(before).max() > 1e-3


@pytest.mark.parametrize("encoder", ["lstm", "mlp-lstm"])
def test_unroll_resets_where_episodes_start(encoder):
    model = randomized(ActorCritic(3, encoder=encoder, hidden_sizes=(6,), lstm_units=5))
    rng = np.random.default_rng(5)
    observations = rng.normal(size=(2, 7, 4)).astype(np.float32)
    initial = (rng.normal(size=(2, 5)).astype(np.float32),
               rng.normal(size=(2, 5)).astype(np.float32))
    starts = np.zeros((2, 7), np.float32)
    starts[0, 3] = 1.0
    starts[1, 0] = 1.0
    params, values, (h, c) = model.unroll(observations, initial, starts)
    assert h.shape == (2, 5)
    state = initial
    for t in range(7):
        keep = 1.0 - starts[:, t:t + 1]
        state = (state[0] * keep, state[1] * keep)
        step_params, step_values, state = model.step(observations[:, t], state)
        np.testing.assert_allclose(step_params, params[:, t], rtol=3e-5, atol=1e-5)
        np.testing.assert_allclose(step_values, values[:, t], rtol=3e-5, atol=1e-5)
    np.testing.assert_allclose(state[1], c, rtol=3e-5, atol=1e-5)
    # Without the resets the numbers differ (so the check above can fail).
    unreset = model.unroll(observations, initial)[0]
    assert np.abs(unreset[:, 3:] - params[:, 3:]).max() > 1e-4


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
    policy = NumpyPolicy(model).load(flat_weights(model))
    np_h = np.zeros((2, 8), np.float32)
    np_c = np.zeros((2, 8), np.float32)
    state = model.initial_state(2)
    for t in range(10):
        step_logits, _, state = model.step(observations[:, t], state)
        np_logits, _, np_h, np_c = policy.step(observations[:, t], np_h, np_c)
        np.testing.assert_allclose(step_logits, logits[:, t], rtol=3e-5, atol=1e-5)
        np.testing.assert_allclose(np_logits, logits[:, t], rtol=3e-5, atol=1e-5)
    np.testing.assert_allclose(np_c, c, rtol=3e-5, atol=1e-5)
