"""MultiDiscrete actions: one categorical per dimension, through the math, both
algorithms' training, export and play (on tests/dials_env.py, a task built for them)."""

import json

import gymnasium as gym
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from tfa3c.algorithms.a3c import A3C
from tfa3c.algorithms.config import A3CConfig, GA3CConfig
from tfa3c.algorithms.ga3c import GA3C
from tfa3c.errors import EnvironmentSpecError
from tfa3c.export import export_policy
from tfa3c.policies import distributions
from tfa3c.policies.actor_critic import ActorCritic, build_model

from .conftest import run_command

ENV = "tests.dials_env:Dials-v0"
SPEC = distributions.ActionSpec(distributions.MULTI_CATEGORICAL, 2, nvec=(3, 4))


def test_the_space_gives_one_categorical_per_dimension():
    spec = distributions.action_spec("Some-v0", gym.spaces.MultiDiscrete([3, 4]))
    assert spec == SPEC
    assert (spec.params_size, spec.action_shape, spec.discrete) == (7, (2,), True)
    with pytest.raises(EnvironmentSpecError, match="starting at 0"):
        distributions.action_spec("Some-v0", gym.spaces.MultiDiscrete([3, 4], start=[1, 0]))
    with pytest.raises(EnvironmentSpecError, match="1-D MultiDiscrete"):
        distributions.action_spec("Some-v0", gym.spaces.MultiDiscrete([[2, 2], [2, 2]]))


def test_log_prob_and_entropy_are_sums_over_the_dimensions():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 7))
    actions = np.stack([rng.integers(3, size=5), rng.integers(4, size=5)], axis=-1)
    first, second = (np.exp(x) / np.exp(x).sum(-1, keepdims=True)
                     for x in (logits[:, :3], logits[:, 3:]))
    rows = np.arange(5)
    expected = np.log(first[rows, actions[:, 0]]) + np.log(second[rows, actions[:, 1]])
    np.testing.assert_allclose(
        distributions.log_prob(SPEC, tf.constant(logits), tf.constant(actions)), expected,
        rtol=1e-10)
    np.testing.assert_allclose(distributions.entropy(SPEC, tf.constant(logits)),
                               stats.entropy(first, axis=-1) + stats.entropy(second, axis=-1),
                               rtol=1e-10)
    # Batched over time as the trainers use it: [batch, time, dims] actions.
    batched = distributions.log_prob(SPEC, tf.constant(logits[None]), tf.constant(actions[None]))
    np.testing.assert_allclose(batched[0], expected, rtol=1e-10)
    greedy = distributions.greedy(SPEC, tf.constant(logits)).numpy()
    np.testing.assert_array_equal(greedy, np.stack([logits[:, :3].argmax(-1),
                                                    logits[:, 3:].argmax(-1)], axis=-1))
    with pytest.raises(ValueError, match="needs its ActionSpec"):
        distributions.entropy(distributions.MULTI_CATEGORICAL, tf.constant(logits))


def test_samples_follow_each_dimensions_probabilities():
    rng = np.random.default_rng(1)
    logits = np.log(np.array([[0.2, 0.3, 0.5, 0.1, 0.1, 0.1, 0.7]]))
    params = np.tile(logits, (20_000, 1))
    for actions in (distributions.sample_params(SPEC, params, rng),
                    distributions.sample(SPEC, distributions.probabilities(SPEC, params).numpy(),
                                         rng)):
        assert actions.shape == (20_000, 2) and actions.dtype.kind == "i"
        np.testing.assert_allclose(np.bincount(actions[:, 0], minlength=3) / 20_000,
                                   [0.2, 0.3, 0.5], atol=0.02)
        np.testing.assert_allclose(np.bincount(actions[:, 1], minlength=4) / 20_000,
                                   [0.1, 0.1, 0.1, 0.7], atol=0.02)


@pytest.mark.parametrize("algo, options", [
    # GA3C's epsilon schedule (the tutorial's, 15% random actions in the end) caps the
    # mean return near 7 and slows the climb to 6: 5.4 after 30 s; 0.8 s without it.
    ("ga3c", dict(agents=2, envs_per_agent=8, exploration=False)),
    ("a3c", dict(workers=2, envs_per_worker=8, encoder="mlp")),
    ("a3c", dict(workers=2, envs_per_worker=8)),  # the LSTM
], ids=["ga3c", "a3c-mlp", "a3c-lstm"])
def test_both_algorithms_learn_a_multi_discrete_task(tmp_path, algo, options):
    cls, config_class = (GA3C, GA3CConfig) if algo == "ga3c" else (A3C, A3CConfig)
    algorithm = cls(config_class(env_id=ENV, progress_bar="none", max_seconds=60,
                                 target_return=7.5, logdir=str(tmp_path / "run"), **options))
    assert algorithm.model.heads.policy_kernel.shape[-1] == 7  # 3 + 4 logits
    summary = algorithm.learn()
    # A uniform policy earns 2.33 an episode, a perfect one 8.
    assert summary["solved"], summary
    path = algorithm.export(str(tmp_path / "models"))
    loaded = tf.saved_model.load(path)
    signature = loaded.signatures["action"]
    env = gym.make(ENV)
    observations, targets = [], []
    for seed in range(50):
        observations.append(env.reset(seed=seed)[0])
        targets.append(env.unwrapped.targets)
    inputs = {"observation": tf.constant(np.stack(observations))}
    if algorithm.model.recurrent:
        inputs.update(loaded.signatures["get_initial_state"](batch_size=tf.constant(50)))
    out = signature(**inputs)
    assert out["action"].dtype == tf.int64 and out["action"].shape == (50, 2)
    probabilities = out["probabilities"].numpy()
    np.testing.assert_allclose(probabilities[:, :3].sum(1), 1, rtol=1e-5)
    np.testing.assert_allclose(probabilities[:, 3:].sum(1), 1, rtol=1e-5)
    # The trained policy's greedy actions set the dials the observations mark (a
    # uniform policy would set 1/3 and 1/4 of them right).
    right = (out["action"].numpy() == np.stack(targets)).mean(axis=0)
    assert (right > 0.8).all(), right
    metadata = {k: v.numpy().decode() for k, v in loaded.signatures["get_metadata"]().items()}
    assert (metadata["action_kind"], json.loads(metadata["action_nvec"])) == (
        "multi_categorical", [3, 4])
    assert metadata["action_space"] == "MultiDiscrete([3 4])"


def test_numpy_acting_matches_the_keras_step_for_multi_discrete_heads():
    from tfa3c.policies.acting import NumpyPolicy, acting_policy

    for encoder in ("mlp", "lstm"):
        model = build_model(ActorCritic(2, encoder=encoder, hidden_sizes=(8,), lstm_units=6,
                                        action_kind="multi_categorical", action_nvec=[3, 4]), 5)
        for variable in model.trainable_variables:  # beyond the near-uniform start
            variable.assign(np.random.default_rng(2).normal(size=variable.shape))
        policy = acting_policy(model).load(
            np.concatenate([v.numpy().ravel() for v in model.trainable_variables]))
        assert isinstance(policy, NumpyPolicy)
        observations = np.random.default_rng(3).normal(size=(4, 5)).astype(np.float32)
        zeros = np.zeros((4, model.state_size), np.float32)
        params, values, _ = model.step(observations, model.initial_state(4))
        got_params, got_values, _, _ = policy.step(observations, zeros, zeros)
        np.testing.assert_allclose(got_params, params, rtol=3e-5, atol=1e-5)
        np.testing.assert_allclose(got_values, values, rtol=3e-5, atol=1e-5)


def test_play_and_the_session_loader_run_a_multi_discrete_export(tmp_path):
    model = build_model(ActorCritic(2, hidden_sizes=(8,), action_kind="multi_categorical",
                                    action_nvec=[3, 4]), 7)
    path = export_policy(model, str(tmp_path), "ga3c_dials", algo="ga3c", env_id=ENV)
    for extra in ([], ["--stochastic"]):
        result = run_command(["-m", "tfa3c.cli", "play", path, "--episodes", "3", *extra])
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        assert summary["episodes"] == 3 and 0 <= summary["min_return"] <= 8
    # Another MultiDiscrete shape is refused by name.
    result = run_command(["-m", "tfa3c.cli", "play", path, "--env", ENV,
                          "--env-kwargs", "nvec=[3,5]"])
    assert result.returncode == 2
    assert "MultiDiscrete([3, 4])" in result.stderr and len(result.stderr.splitlines()) == 1
    # The session-based loader (saved_model_cli run, TF Serving) runs it too.
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
        signature = meta.signature_def["action"]
        feed = {signature.inputs["observation"].name: np.eye(7, dtype=np.float32)[:2]}
        action = session.run(signature.outputs["action"].name, feed)
    assert action.shape == (2, 2) and (action[:, 0] < 3).all() and (action[:, 1] < 4).all()
