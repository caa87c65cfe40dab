"""V-trace (tfa3c.algorithms.vtrace) against the paper's equations, and in GA3C's learner."""

import dataclasses

import keras
import numpy as np
import pytest

from tfa3c.algorithms.config import GA3CConfig
from tfa3c.algorithms.ga3c import Learner
from tfa3c.algorithms.returns import discounted_returns
from tfa3c.algorithms.rollouts import Sequences
from tfa3c.algorithms.vtrace import vtrace
from tfa3c.policies import distributions
from tfa3c.policies.actor_critic import build_policy, split_state
from tfa3c.policies.network_options import NetworkOptions
from tfa3c.spaces import ActionSpec
from tfa3c.tf_runtime import make_strategy


def reference(log_rhos, rewards, values, next_values, terminated, truncated, gamma,
              rho_bar=1.0, c_bar=1.0, trace_lambda=1.0):
    """IMPALA's equation (1), summed term by term, with episodes cut as GA3C cuts them.

    v_s = V(x_s) + sum_{t=s}^{e} gamma^(t-s) (prod_{i=s}^{t-1} c_i) delta_t, where e is
    the last step of s's segment (a termination, a truncation or the sequence's end),
    delta_t = rho_t (r_t + gamma V(x_{t+1}) - V(x_t)) with V(x_{e+1}) the recorded
    bootstrap (0 after a termination); the policy gradient's advantage is
    rho_s (r_s + gamma v_{s+1} - V(x_s)), v_{e+1} being that bootstrap too.
    """
    rhos = np.exp(np.asarray(log_rhos, np.float64))
    clipped = np.minimum(rho_bar, rhos)
    cs = trace_lambda * np.minimum(c_bar, rhos)
    batch, steps = rewards.shape
    targets = np.zeros((batch, steps))
    advantages = np.zeros((batch, steps))
    for b in range(batch):
        def segment_end(s, b=b):
            e = s
            while not (terminated[b, e] or truncated[b, e] or e == steps - 1):
                e += 1
            return e

        def after(t, per_step, b=b):  # the value following step t in its segment
            if terminated[b, t]:
                return 0.0
            if t == segment_end(t):
                return next_values[b, t]
            return per_step[b, t + 1]

        for s in range(steps):
            total = 0.0
            for t in range(s, segment_end(s) + 1):
                trace = np.prod(cs[b, s:t])
                delta = clipped[b, t] * (rewards[b, t] + gamma * after(t, values) - values[b, t])
                total += gamma ** (t - s) * trace * delta
            targets[b, s] = values[b, s] + total
        for s in range(steps):
            advantages[b, s] = clipped[b, s] * (rewards[b, s] + gamma * after(s, targets)
                                                - values[b, s])
    return targets, advantages


def random_batch(rng, batch=6, steps=7, spread=1.0):
    return dict(
        log_rhos=rng.normal(scale=spread, size=(batch, steps)),
        rewards=rng.normal(size=(batch, steps)),
        values=rng.normal(size=(batch, steps)),
        next_values=rng.normal(size=(batch, steps)),
        terminated=rng.random((batch, steps)) < 0.15,
        truncated=rng.random((batch, steps)) < 0.15,
    )


def computed(inputs, gamma, **truncation):
    trace = vtrace(inputs["log_rhos"], inputs["rewards"], inputs["values"],
                   inputs["next_values"], inputs["terminated"].astype(np.float32),
                   inputs["truncated"].astype(np.float32), gamma, **truncation)
    return trace.targets.numpy(), trace.advantages.numpy(), trace.importance_weights.numpy()


def test_on_policy_targets_are_the_n_step_returns_the_learner_used_before():
    rng = np.random.default_rng(0)
    inputs = random_batch(rng)
    inputs["log_rhos"] = np.zeros_like(inputs["log_rhos"])  # behaviour = target
    targets, advantages, weights = computed(inputs, 0.9)
    # What GA3C trained on without a correction: n-step returns cut at episode ends.
    returns = discounted_returns(inputs["rewards"].T, inputs["terminated"].T,
                                 inputs["truncated"].T, inputs["next_values"].T, 0.9).T
    assert inputs["terminated"].any() and inputs["truncated"].any()
    np.testing.assert_allclose(targets, returns, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(advantages, returns - inputs["values"], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(weights, 1.0)


@pytest.mark.parametrize(("rho_bar", "c_bar", "trace_lambda"),
                         [(1.0, 1.0, 1.0), (2.0, 0.5, 1.0), (0.8, 1.2, 0.9)])
def test_matches_the_papers_equations_on_random_inputs(rho_bar, c_bar, trace_lambda):
    rng = np.random.default_rng(1)
    inputs = random_batch(rng, batch=8, steps=9)
    targets, advantages, weights = computed(inputs, 0.95, rho_bar=rho_bar, c_bar=c_bar,
                                            trace_lambda=trace_lambda)
    expected_targets, expected_advantages = reference(
        **inputs, gamma=0.95, rho_bar=rho_bar, c_bar=c_bar, trace_lambda=trace_lambda)
    np.testing.assert_allclose(targets, expected_targets, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(advantages, expected_advantages, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(weights, np.exp(inputs["log_rhos"]), rtol=1e-5)
    # Some weights are truncated and some are not, so both branches were checked.
    assert (np.exp(inputs["log_rhos"]) > min(rho_bar, c_bar)).any()
    assert (np.exp(inputs["log_rhos"]) < min(rho_bar, c_bar)).any()


def test_truncation_takes_effect_at_rho_bar():
    rng = np.random.default_rng(2)
    inputs = random_batch(rng, batch=1, steps=5)
    inputs["terminated"][:] = False
    inputs["truncated"][:] = False
    inputs["log_rhos"] = np.zeros((1, 5))

    def at(weight):
        changed = dict(inputs, log_rhos=inputs["log_rhos"].copy())
        changed["log_rhos"][0, 2] = np.log(weight)
        return computed(changed, 0.9, rho_bar=1.5, c_bar=1.5)

    below, at_bar, above, far_above = at(1.2), at(1.5), at(2.0), at(50.0)
    # Above rho_bar the weight no longer changes anything, below it does.
    for result in (above, far_above):
        np.testing.assert_allclose(result[0], at_bar[0], rtol=1e-6)
        np.testing.assert_allclose(result[1], at_bar[1], rtol=1e-6)
    assert np.abs(below[1][0, 2] - at_bar[1][0, 2]) > 1e-3
    # The advantage of the step carries the truncated weight: 1.5 x its on-policy one.
    on_policy = computed(inputs, 0.9, rho_bar=1.5, c_bar=1.5)
    own_difference = inputs["rewards"][0, 2] + 0.9 * at_bar[0][0, 3] - inputs["values"][0, 2]
    np.testing.assert_allclose(at_bar[1][0, 2], 1.5 * own_difference, rtol=1e-5)
    assert not np.allclose(on_policy[1][0, 2], at_bar[1][0, 2])
    # The reported weights are the untruncated ones.
    assert far_above[2][0, 2] == pytest.approx(50.0, rel=1e-5)


def test_a_terminated_step_cuts_the_trace_and_a_truncated_one_bootstraps():
    rng = np.random.default_rng(3)
    inputs = random_batch(rng, batch=2, steps=6)
    inputs["log_rhos"] = np.zeros_like(inputs["log_rhos"])
    for flags in ("terminated", "truncated"):
        inputs[flags][:] = False
    inputs["terminated"][0, 2] = True  # sequence 0: an episode ends at step 2
    inputs["truncated"][1, 2] = True  # sequence 1: it is cut at step 2
    base = computed(inputs, 0.9)

    # What comes after step 2 never reaches steps 0-2, on either sequence.
    later = dict(inputs, rewards=inputs["rewards"].copy(), values=inputs["values"].copy())
    later["rewards"][:, 3:] += 10.0
    later["values"][:, 3:] -= 5.0
    changed = computed(later, 0.9)
    np.testing.assert_allclose(changed[0][:, :3], base[0][:, :3], rtol=1e-6)
    np.testing.assert_allclose(changed[1][:, :3], base[1][:, :3], rtol=1e-6)

    # The recorded next value at step 2 bootstraps the truncated episode, not the
    # terminated one.
    bootstrapped = dict(inputs, next_values=inputs["next_values"].copy())
    bootstrapped["next_values"][:, 2] += 1.0
    moved = computed(bootstrapped, 0.9)
    np.testing.assert_allclose(moved[0][0], base[0][0], rtol=1e-6)
    np.testing.assert_allclose(moved[0][1, 2], base[0][1, 2] + 0.9, rtol=1e-5)
    np.testing.assert_allclose(moved[0][1, 0], base[0][1, 0] + 0.9 ** 3, rtol=1e-5)
    # A terminated step's target is its reward alone (on-policy).
    assert base[0][0, 2] == pytest.approx(inputs["rewards"][0, 2], rel=1e-6)


SPECS = {
    "categorical": ActionSpec("categorical", 3),
    "multi_categorical": ActionSpec("multi_categorical", 2, nvec=(3, 2)),
    "gaussian": ActionSpec("gaussian", 2, low=(-1.0, -1.0), high=(1.0, 1.0)),
}


def learner_and_batch(correction, kind, encoder, rng):
    """A learner, and sequences whose behaviour log-probabilities are its own policy's."""
    spec = SPECS[kind]
    options = NetworkOptions(encoder=encoder, hidden_sizes=(8,), lstm_units=4)
    strategy = make_strategy(("/cpu:0",))
    with strategy.scope():
        model = build_policy(4, spec, options)
        initial = np.random.default_rng(7)
        model.set_weights([initial.normal(scale=0.5, size=w.shape).astype(np.float32)
                           for w in model.get_weights()])
        optimizer = keras.optimizers.SGD(0.1)
        optimizer.build(model.trainable_variables)
    config = GA3CConfig(correction=correction, gamma=0.9)
    learner = Learner(model, optimizer, strategy, config, 5)
    rows, steps = 6, 5
    observations = rng.normal(size=(rows, steps, 4)).astype(np.float32)
    episode_starts = (rng.random((rows, steps)) < 0.2).astype(np.float32)
    initial_states = rng.normal(size=(rows, 2 * model.state_size)).astype(np.float32)
    state = split_state(initial_states) if model.recurrent else None
    params, _, _ = model.unroll(observations, state, episode_starts)
    if spec.kind == "gaussian":
        actions = np.clip(rng.normal(size=(rows, steps, 2)), -1, 1).astype(np.float32)
    elif spec.kind == "categorical":
        actions = rng.integers(0, 3, (rows, steps)).astype(np.int32)
    else:
        actions = np.stack([rng.integers(0, 3, (rows, steps)), rng.integers(0, 2, (rows, steps))],
                           axis=-1).astype(np.int32)
    on_policy = distributions.log_prob(spec, params, actions).numpy()
    sequences = Sequences(
        observations=observations, actions=actions, log_probs=on_policy,
        rewards=rng.normal(size=(rows, steps)).astype(np.float32),
        next_values=rng.normal(size=(rows, steps)).astype(np.float32),
        terminated=(rng.random((rows, steps)) < 0.2).astype(np.float32),
        truncated=(rng.random((rows, steps)) < 0.2).astype(np.float32),
        policy_versions=np.zeros((rows, steps), np.int64),
        episode_starts=episode_starts, initial_states=initial_states)
    return learner, model, sequences


@pytest.mark.parametrize(("kind", "encoder"), [
    ("categorical", "mlp"), ("multi_categorical", "mlp"), ("gaussian", "mlp"),
    ("categorical", "mlp-lstm"), ("gaussian", "mlp-lstm")])
def test_the_learners_correction_changes_nothing_on_policy_and_corrects_off_policy(
        kind, encoder):
    weights = {}
    metrics = {}
    for correction in ("vtrace", "none"):
        for lag in ("on", "off"):
            learner, model, sequences = learner_and_batch(correction, kind, encoder,
                                                          np.random.default_rng(5))
            if lag == "off":  # the agents' policy favoured other actions than the current one
                shift = np.random.default_rng(6).normal(scale=1.0, size=sequences.rewards.shape)
                sequences = dataclasses.replace(
                    sequences, log_probs=(sequences.log_probs + shift).astype(np.float32))
            metrics[correction, lag] = learner.train(sequences)
            weights[correction, lag] = model.get_weights()
    for old, new in zip(weights["vtrace", "on"], weights["none", "on"], strict=True):
        np.testing.assert_allclose(old, new, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(old, new, rtol=1e-4, atol=1e-5) for old, new in
               zip(weights["vtrace", "off"], weights["none", "off"], strict=True))
    # The weights are measured whichever correction trains, and are 1 on-policy.
    for correction in ("vtrace", "none"):
        assert metrics[correction, "on"]["importance_weight"] == pytest.approx(1.0, rel=1e-4)
        assert metrics[correction, "off"]["truncated"] > 0.0
        assert metrics[correction, "off"]["importance_weight"] == pytest.approx(
            metrics["vtrace", "off"]["importance_weight"], rel=1e-6)


def test_a_bad_correction_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"correction='retrace'.*vtrace or none"):
        GA3CConfig(correction="retrace")
