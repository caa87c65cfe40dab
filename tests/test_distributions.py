"""Action distributions: the math against SciPy, spaces covered and refused, and GA3C with
continuous actions through training, export and play."""

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
from tfa3c.policies import distributions
from tfa3c.policies.actor_critic import FeedForwardActorCritic, build_model
from tfa3c.spaces import ActionSpec

from .conftest import run_command


def test_gaussian_log_prob_and_entropy_match_scipy():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(5, 3))
    log_std = rng.normal(scale=0.5, size=(5, 3))
    actions = rng.normal(size=(5, 3))
    params = tf.constant(np.concatenate([mean, log_std], -1), tf.float64)
    expected = stats.norm(mean, np.exp(log_std)).logpdf(actions).sum(-1)
    np.testing.assert_allclose(distributions.log_prob("gaussian", params, tf.constant(actions)),
                               expected, rtol=1e-10)
    np.testing.assert_allclose(distributions.entropy("gaussian", params),
                               stats.norm(mean, np.exp(log_std)).entropy().sum(-1), rtol=1e-10)


def test_categorical_log_prob_and_entropy_match_scipy():
    logits = np.random.default_rng(1).normal(size=(4, 3))
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    actions = np.array([0, 2, 1, 2])
    np.testing.assert_allclose(
        distributions.log_prob("categorical", tf.constant(logits), tf.constant(actions)),
        np.log(probabilities[np.arange(4), actions]), rtol=1e-10)
    np.testing.assert_allclose(distributions.entropy("categorical", tf.constant(logits)),
                               stats.entropy(probabilities, axis=-1), rtol=1e-10)


def test_samples_follow_the_distribution_and_clip_only_for_the_environment():
    rng = np.random.default_rng(2)
    params = np.tile(np.array([[0.5, -1.0, np.log(0.1), np.log(2.0)]], np.float32), (20_000, 1))
    samples = distributions.sample("gaussian", params, rng)
    np.testing.assert_allclose(samples.mean(0), [0.5, -1.0], atol=0.05)
    np.testing.assert_allclose(samples.std(0), [0.1, 2.0], rtol=0.05)
    spec = distributions.ActionSpec("gaussian", 2, (-1.0, -1.0), (1.0, 1.0))
    clipped = distributions.clip(spec, samples)
    assert clipped.min() == -1.0 and clipped.max() == 1.0
    assert samples.min() < -1.0  # the sample itself is kept as drawn
    counts = np.bincount(distributions.sample(
        "categorical", np.tile([[0.2, 0.8]], (20_000, 1)), rng), minlength=2)
    assert abs(counts[1] / 20_000 - 0.8) < 0.02


@pytest.mark.parametrize(("space", "message"), [
    (gym.spaces.MultiBinary(3), "supports Discrete"),
    (gym.spaces.Box(-np.inf, np.inf, (2,)), "unbounded"),
    (gym.spaces.Box(-1, 1, (2, 2)), "supports Discrete"),
    (gym.spaces.Discrete(3, start=1), "starting at 0"),
])
def test_spaces_neither_distribution_covers_are_refused(space, message):
    with pytest.raises(EnvironmentSpecError, match=message):
        distributions.action_spec("Some-v0", space)


def test_gaussian_head_parameters_and_greedy_action():
    model = build_model(FeedForwardActorCritic(2, (8,), action_kind="gaussian",
                                               action_low=[-1.0, -2.0], action_high=[1.0, 2.0]),
                        3)
    assert [v.path.split("/")[-1] for v in model.heads.variables] == [
        "policy_kernel", "value_kernel", "log_std"]
    model.heads.log_std.assign([0.3, -0.7])
    model.heads.policy_kernel.assign(np.full((8, 2), 5.0, np.float32))
    params, values = model(np.ones((4, 3), np.float32))
    assert params.shape == (4, 4) and values.shape == (4,)
    np.testing.assert_allclose(params.numpy()[:, 2:], [[0.3, -0.7]] * 4, rtol=1e-6)
    greedy = distributions.greedy(model.action_spec, params).numpy()
    assert (np.abs(greedy) <= [1.0, 2.0]).all()


@pytest.mark.parametrize("algo, options", [
    ("ga3c", dict(agents=2, envs_per_agent=4)),
    ("a3c", dict(workers=2, envs_per_worker=4, encoder="mlp")),
    ("a3c", dict(workers=2, envs_per_worker=4)),  # the LSTM
])
def test_both_algorithms_train_a_continuous_policy(tmp_path, algo, options):
    cls, config_class = (GA3C, GA3CConfig) if algo == "ga3c" else (A3C, A3CConfig)
    algorithm = cls(config_class(env_id="Pendulum-v1", progress_bar="none", max_steps=6000,
                                 logdir=str(tmp_path / "run"), **options))
    before = [v.numpy().copy() for v in algorithm.model.trainable_variables]
    summary = algorithm.learn()
    assert summary["stop_reason"] == "max_steps"
    after = [v.numpy() for v in algorithm.model.trainable_variables]
    assert all(np.isfinite(a).all() for a in after)
    moved = [float(np.abs(a - b).max()) for a, b in zip(after, before, strict=True)]
    assert all(m > 0 for m in moved), moved  # log_std too
    assert algorithm.model.heads.log_std.shape == (1,)


def test_continuous_policy_export_and_play(tmp_path):
    from tfa3c.export import export_policy

    model = build_model(FeedForwardActorCritic(1, (8,), action_kind="gaussian",
                                               action_low=[-2.0], action_high=[2.0]), 3)
    model.heads.policy_kernel.assign(np.random.default_rng(3).normal(size=(8, 1)) * 3)
    path = export_policy(model, str(tmp_path), "ga3c_pendulum", algo="ga3c",
                         env_id="Pendulum-v1")
    loaded = tf.saved_model.load(path)
    observations = np.random.default_rng(4).normal(size=(6, 3)).astype(np.float32)
    out = loaded.signatures["action"](observation=tf.constant(observations))
    params, values = model(observations)
    mean = params.numpy()[:, :1]
    np.testing.assert_allclose(out["mean"].numpy(), mean, rtol=3e-5, atol=1e-5)
    np.testing.assert_allclose(out["action"].numpy(), np.clip(mean, -2, 2), rtol=3e-5, atol=1e-5)
    np.testing.assert_allclose(out["log_std"].numpy(), params.numpy()[:, 1:], rtol=3e-5, atol=1e-5)
    np.testing.assert_allclose(out["value"].numpy(), values.numpy(), rtol=3e-5, atol=1e-5)
    assert out["action"].dtype == tf.float32 and out["action"].shape == (6, 1)
    metadata = {k: v.numpy().decode() for k, v in loaded.signatures["get_metadata"]().items()}
    assert metadata["action_kind"] == "gaussian" and metadata["num_actions"] == "1"
    for extra in ([], ["--stochastic"]):
        result = run_command(["-m", "tfa3c.cli", "play", path, "--episodes", "2", *extra])
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        assert summary["episodes"] == 2 and summary["max_return"] < 0  # Pendulum's costs


# Observation normalization ------------------------------------------------------------------
def test_running_statistics_equal_those_of_all_batches_together():
    from tfa3c.policies.actor_critic import ObservationNormalizer

    normalizer = ObservationNormalizer()
    normalizer.build((None, 3))
    rng = np.random.default_rng(5)
    batches = [rng.normal(loc=[1.0, -2.0, 50.0], scale=[0.5, 3.0, 10.0], size=(n, 3))
               for n in (7, 64, 1, 200)]
    for batch in batches:
        normalizer.update(batch.astype(np.float32))
    everything = np.concatenate(batches)
    np.testing.assert_allclose(normalizer.mean, everything.mean(0), rtol=1e-5)
    np.testing.assert_allclose(normalizer.variance, everything.var(0), rtol=1e-4)
    scaled = normalizer(everything.astype(np.float32)).numpy()
    np.testing.assert_allclose(scaled.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(scaled.std(0), 1.0, atol=1e-3)


@pytest.mark.parametrize("algo", ["a3c", "ga3c"])
def test_observations_are_normalized_and_exported_with_the_statistics(tmp_path, algo):
    from tfa3c.export_cli import read_run_config, restore_latest, run_network
    from tfa3c.policies.actor_critic import build_policy

    options = dict(env_id="Acrobot-v1", progress_bar="none", max_steps=4000,
                   normalize_observations=True, logdir=str(tmp_path / "run"))
    algorithm = (A3C(A3CConfig(workers=2, envs_per_worker=4, n_steps=10, encoder="mlp",
                               **options))
                 if algo == "a3c" else
                 GA3C(GA3CConfig(agents=2, envs_per_agent=4, **options)))
    algorithm.learn()
    normalizer = algorithm.model.normalizer
    assert normalizer.count >= 4000  # every observation acted on (GA3C: and finals)
    # Acrobot's angular velocities reach several rad/s; cosines and sines stay in [-1, 1].
    assert normalizer.variance[4:].max() > normalizer.variance[:4].max()
    # The checkpoint and the export carry the statistics: a served policy takes raw
    # observations and answers as the trained model does.
    algo, config = read_run_config(str(tmp_path / "run"))
    rebuilt = build_policy(*run_network(algo, config, str(tmp_path / "run")))
    restore_latest(rebuilt, str(tmp_path / "run"))
    np.testing.assert_array_equal(rebuilt.normalizer.mean, normalizer.mean)
    path = algorithm.export(str(tmp_path / "models"))
    raw = np.random.default_rng(6).normal(scale=3.0, size=(5, 6)).astype(np.float32)
    out = tf.saved_model.load(path).signatures["action"](observation=tf.constant(raw))
    _, values = algorithm.model(raw)
    np.testing.assert_allclose(out["value"].numpy(), values.numpy(), rtol=3e-5, atol=1e-5)


def test_the_continuous_control_example_runs_top_to_bottom(tmp_path):
    result = run_command(["examples/ga3c_pendulum.py", "--max-seconds", "3", "--out",
                          str(tmp_path)], timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "greedy episode return -" in result.stdout.strip().splitlines()[-1]
    assert (tmp_path / "models" / "ga3c_pendulum" / "1" / "saved_model.pb").is_file()


def test_resume_accepts_a_network_file_written_before_the_newest_options():
    from tfa3c.checkpoints import network_description, network_differences

    model = build_model(FeedForwardActorCritic(2, (16,)), 4)
    saved = network_description(model)
    for key in ("action_kind", "action_low", "action_high", "normalize_observations"):
        del saved["keras"]["config"][key]
    assert network_differences(saved, model) == []
    other = build_model(FeedForwardActorCritic(2, (16,), normalize_observations=True), 4)
    assert network_differences(saved, other) == ["normalize_observations False→True"]


def test_gaussian_log_std_is_bounded_and_needs_bounds():
    from tfa3c.policies.actor_critic import LOG_STD_MAX, LOG_STD_MIN

    model = build_model(FeedForwardActorCritic(1, (4,), action_kind="gaussian",
                                               action_low=[-1.0], action_high=[1.0]), 2)
    for value, bounded in ((-40.0, LOG_STD_MIN), (40.0, LOG_STD_MAX)):
        model.heads.log_std.assign([value])
        params, _ = model(np.zeros((1, 2), np.float32))
        assert params.numpy()[0, 1] == pytest.approx(bounded)
    with pytest.raises(ValueError, match="needs action_low and action_high"):
        FeedForwardActorCritic(2, action_kind="gaussian")


@pytest.mark.parametrize("spec", [ActionSpec("categorical", 3),
                                  ActionSpec("multi_categorical", 2, nvec=(2, 3)),
                                  ActionSpec("gaussian", 2, low=(-1.0, -1.0), high=(1.0, 1.0))],
                         ids=["categorical", "multi-categorical", "gaussian"])
def test_the_behaviour_log_probability_matches_the_losses_log_probability(spec):
    # What an actor records (NumPy, from the outputs it samples from) is what the
    # learner's log pi(a) (TensorFlow, from the head's parameters) gives at those weights.
    rng = np.random.default_rng(0)
    params = rng.normal(size=(5, spec.params_size)).astype(np.float32)
    outputs = distributions.outputs_from_params(spec, params)
    actions = distributions.sample(spec, outputs, rng)
    recorded = distributions.behaviour_log_prob(spec, outputs, actions)
    expected = distributions.log_prob(spec, tf.constant(params), tf.constant(actions)).numpy()
    np.testing.assert_allclose(recorded, expected, rtol=1e-5, atol=1e-5)
    if spec.discrete:  # a uniformly random action with probability epsilon
        uniform = 1.0 / np.prod(spec.nvec if spec.kind == "multi_categorical" else [3])
        mixed = distributions.behaviour_log_prob(spec, outputs, actions, epsilon=0.25)
        np.testing.assert_allclose(
            mixed, np.log(0.75 * np.exp(expected) + 0.25 * uniform), rtol=1e-5, atol=1e-6)
