"""Pixel observations: convolutional encoders, uint8 frames end to end, Atari on ALE."""

import dataclasses
import json

import gymnasium as gym
import numpy as np
import pytest
import tensorflow as tf

from tfa3c.algorithms.a3c import A3C, A3CWorker
from tfa3c.algorithms.config import A3CConfig, GA3CConfig
from tfa3c.algorithms.ga3c import GA3C, GA3CAgent
from tfa3c.atari import AtariGame, AtariGroup, game_name
from tfa3c.checkpoints import network_description, network_differences
from tfa3c.export import export_policy
from tfa3c.play import load_policy, play_episodes
from tfa3c.policies.actor_critic import build_policy
from tfa3c.policies.distributions import action_spec
from tfa3c.policies.normalization import reward_scaler

from .conftest import run_command
from .test_serving import assert_loaders_match_keras

PIXEL_ENV = "tests.pixel_env:BrightSide-v0"
PONG = "ALE/Pong-v5"


def frames(shape, seed=0, batch=3):
    return np.random.default_rng(seed).integers(0, 256, (batch, *shape), dtype=np.uint8)


@pytest.mark.parametrize("encoder", ["cnn", "nature-cnn", "cnn-lstm"])
def test_both_image_layouts_run_the_same_network(encoder):
    """Frames first (ALE) or channels last (rendered images): the same weights, by name."""
    spec = action_spec("test", gym.spaces.Discrete(6))
    options = GA3CConfig(encoder=encoder, lstm_units=8).network_options()
    first = build_policy((4, 84, 84), spec, options)
    last = build_policy((84, 84, 4), spec, options)
    assert (first.data_format, last.data_format) == ("channels_first", "channels_last")
    weights = {v.path.split("/", 1)[1]: v for v in first.trainable_variables}
    for variable in last.trainable_variables:
        variable.assign(weights[variable.path.split("/", 1)[1]])
    observations = frames((4, 84, 84))
    state = first.initial_state(3)
    params, values, _ = first.step(observations, state)
    params_last, values_last, _ = last.step(np.ascontiguousarray(
        observations.transpose(0, 2, 3, 1)), state)
    np.testing.assert_allclose(params_last, params, atol=1e-5)
    np.testing.assert_allclose(values_last, values, atol=1e-5)
    # The network scales the frames itself: uint8 and the same values as float agree.
    params_float, _, _ = first.step(observations.astype(np.float32), state)
    np.testing.assert_allclose(params_float, params, atol=1e-5)
    # A paper's layer sizes: the A3C paper's dense 256, the Nature CNN's 512.
    dense = first.torso.cnn.dense if encoder == "cnn-lstm" else first.torso.dense
    assert dense.units == (512 if encoder == "nature-cnn" else 256)


@pytest.mark.parametrize("algo,options", [
    ("ga3c", dict(agents=2, envs_per_agent=8, min_batch=32)),
    ("a3c", dict(workers=2, envs_per_worker=8)),
    ("ga3c", dict(agents=2, envs_per_agent=8, min_batch=32, precision="mixed_bfloat16")),
], ids=["ga3c", "a3c", "ga3c-bfloat16"])
def test_a_cnn_policy_learns_a_pixel_task(tmp_path, algo, options):
    cls, config_class = (GA3C, GA3CConfig) if algo == "ga3c" else (A3C, A3CConfig)
    config = config_class.for_env(PIXEL_ENV, progress_bar="none", max_seconds=120,
                                  logdir=str(tmp_path / "run"), **options)
    assert (config.encoder, config.clip_rewards) == ("cnn", True)  # the pixels preset
    algorithm = cls(config)
    summary = algorithm.learn()
    # A uniform policy earns 4 an episode, one that reads the frame 8.
    assert summary["solved"], summary
    # Frames stayed uint8 on the way: the traced training step takes them as they are.
    if algo == "ga3c":
        agent = GA3CAgent(0, algorithm.config, algorithm.model.state_size)
        assert agent.rollout.observations.dtype == np.uint8
        agent.close()
        signature = algorithm.learner._train.structured_input_signature[0][0]
    else:
        worker = A3CWorker(0, algorithm.config)
        worker.pull(algorithm.learner.weights())
        assert worker.collect().observations.dtype == np.uint8
        worker.close()
        signature = worker.gradients._function.structured_input_signature[0][1]
    assert signature.dtype == tf.uint8
    # The greedy exported policy presses the lit side.
    path = algorithm.export(str(tmp_path / "models"))
    action = tf.saved_model.load(path).signatures["action"]
    lit = np.zeros((2, 1, 84, 84), np.uint8)
    lit[0, :, :, :42] = 255
    lit[1, :, :, 42:] = 255
    np.testing.assert_array_equal(action(observation=tf.constant(lit))["action"], [0, 1])


def test_pong_runs_on_the_vector_environment_with_game_scores():
    assert game_name("ALE/SpaceInvaders-v5") == "space_invaders"
    # 100 agent steps (400 frames) per game: games end by truncation within the test.
    group = AtariGroup(PONG, 2, seed=0, env_kwargs={"max_num_frames_per_episode": 400})
    try:
        assert group.observations.shape == (2, 4, 84, 84)
        assert group.observations.dtype == np.uint8
        rng = np.random.default_rng(0)
        totals, returns, lengths, seen_truncation = np.zeros(2), [], [], False
        for _ in range(250):
            before = group.observations.copy()
            step = group.step(rng.integers(6, size=2))
            assert step.observations.dtype == np.uint8 and step.rewards.dtype == np.float32
            totals += step.rewards
            assert set(np.unique(step.rewards)) <= {-1.0, 0.0, 1.0}  # Pong's points
            done = step.terminated | step.truncated
            if step.truncated.any():
                seen_truncation = True
                # The last frames of the cut game, not the new game's first.
                assert step.final_observations.shape == (int(step.truncated.sum()), 4, 84, 84)
                assert step.final_observations.dtype == np.uint8
                assert not np.array_equal(step.final_observations[0],
                                          step.observations[np.flatnonzero(step.truncated)[0]])
            # An episode's return is the sum of its unclipped rewards, counted per game.
            np.testing.assert_allclose(step.episode_returns, totals[done])
            returns += step.episode_returns
            lengths += step.episode_lengths
            totals[done] = 0.0
            assert not np.array_equal(before, step.observations)
        assert seen_truncation and len(returns) >= 4
        assert set(lengths) == {100}  # 400 frames at 4 frames per step
        assert all(-21 <= value <= 21 for value in returns)
    finally:
        group.close()


def pong_frames(steps: int, games: int, seed: int) -> np.ndarray:
    """Real preprocessed Pong frame stacks, `[steps, games, 4, 84, 84]` uint8."""
    group = AtariGroup(PONG, games, seed=seed)
    rng = np.random.default_rng(seed)
    observations = []
    try:
        for _ in range(steps):
            observations.append(group.observations.copy())
            group.step(rng.integers(6, size=games))
    finally:
        group.close()
    return np.stack(observations)


def _assert_atari_export(algorithm, tmp_path):
    model = algorithm.model
    path = algorithm.export(str(tmp_path / "models"))
    policy = load_policy(path)
    metadata = policy.metadata
    assert (metadata["observation_dtype"], json.loads(metadata["observation_shape"]),
            metadata["observation_layout"]) == ("uint8", [4, 84, 84], "channels_first")
    preprocessing = json.loads(metadata["preprocessing"])
    assert (preprocessing["frameskip"], preprocessing["stack_num"], preprocessing["noop_max"],
            preprocessing["grayscale"]) == (4, 4, 30, True)
    # Real frames through the TF2 loader, the session-based loader and TFSMLayer.
    inputs = {"observations": pong_frames(steps=3, games=3, seed=5)}
    if model.recurrent:
        inputs.update(state_h=np.zeros((3, model.state_size), np.float32),
                      state_c=np.zeros((3, model.state_size), np.float32))
    inputs["bad/observation/width"] = np.zeros((3, 4, 84, 83), np.uint8)
    errors = assert_loaders_match_keras(model, path, inputs, tmp_path)
    assert "(None, 4, 84, 84)" in errors["bad/observation/width"]
    # `play` applies the same preprocessing and counts game scores.
    game = AtariGame(PONG, {"max_num_frames_per_episode": 800})
    try:
        scores = play_episodes(policy, game, episodes=1, seed=3)
    finally:
        game.close()
    assert len(scores) == 1 and -21 <= scores[0] <= 0 and scores[0] == int(scores[0])


def test_a_mixed_bfloat16_policy_computes_its_convolutions_in_bfloat16_and_exports_float32(
        tmp_path):
    spec = action_spec("test", gym.spaces.Discrete(6))
    options = GA3CConfig(encoder="cnn", precision="mixed_bfloat16").network_options()
    model = build_policy((4, 84, 84), spec, options)
    assert model.torso.conv_0.compute_dtype == "bfloat16"
    assert model.heads.compute_dtype == "float32"
    assert {variable.dtype for variable in model.weights} == {"float32"}
    # Its checkpoint resumes a float32 run and back: only the compute dtype differs.
    float32 = build_policy((4, 84, 84), spec, dataclasses.replace(options, precision="float32"))
    assert network_differences(network_description(model), float32) == []
    assert network_differences(network_description(float32), model) == []
    path = export_policy(model, str(tmp_path / "models"), "bf16", algo="ga3c", env_id=PONG)
    float32.set_weights(model.get_weights())  # same layers, same order: the same network
    observations = frames((4, 84, 84), batch=8)
    served = tf.saved_model.load(path).signatures["action"](
        observation=tf.constant(observations))
    _, values, _ = float32.step(observations, float32.initial_state(8))
    _, rounded, _ = model.step(observations, model.initial_state(8))
    np.testing.assert_allclose(served["value"], values, rtol=1e-5, atol=1e-6)
    assert not np.allclose(rounded, values, rtol=1e-5, atol=1e-6)  # bfloat16 rounds
    np.testing.assert_allclose(rounded, values, atol=0.05)


@pytest.mark.parametrize("algo,options", [
    ("ga3c", dict(agents=1, envs_per_agent=4, min_batch=20)),
    ("a3c", dict(workers=1, envs_per_worker=4, encoder="cnn-lstm", lstm_units=16)),
], ids=["ga3c-cnn", "a3c-cnn-lstm"])
def test_pong_trains_exports_and_plays(tmp_path, algo, options):
    cls, config_class = (GA3C, GA3CConfig) if algo == "ga3c" else (A3C, A3CConfig)
    algorithm = cls(config_class.for_env(PONG, progress_bar="none", max_seconds=8,
                                         logdir=str(tmp_path / "run"), **options))
    assert algorithm.config.clip_rewards and not algorithm.config.normalize_rewards
    # Clipped rewards for the loss; the episode statistics keep the game's own.
    config = algorithm.config
    scaled = reward_scaler(config.reward_scale, config.clip_rewards, None, 3)(
        np.array([3.0, -2.0, 0.0], np.float32), np.zeros(3, bool))
    np.testing.assert_array_equal(scaled, [1.0, -1.0, 0.0])
    before = [v.numpy().copy() for v in algorithm.model.trainable_variables]
    summary = algorithm.learn()
    assert summary["env_steps"] > 0 and summary["stop_reason"] == "max_seconds"
    assert any(not np.array_equal(b, v.numpy())
               for b, v in zip(before, algorithm.model.trainable_variables, strict=True))
    _assert_atari_export(algorithm, tmp_path)


@pytest.mark.parametrize("args,expected", [
    (["--env", PONG, "--encoder", "mlp"], "allowed: cnn, nature-cnn, cnn-lstm"),
    (["--env", "CartPole-v1", "--encoder", "cnn"], "allowed: mlp, lstm, mlp-lstm"),
    (["--env", "ALE/NoSuchGame-v5"], "unknown environment id"),
    (["--env", PONG, "--env-kwargs", "reward_clipping=true"], "allowed: noop_max"),
    (["--env", "CartPole-v1", "--precision", "mixed_bfloat16"],
     "mixed_bfloat16 is for cnn, nature-cnn, cnn-lstm"),
])
def test_bad_pixel_options_fail_in_one_line(tmp_path, args, expected):
    result = run_command(["-m", "tfa3c.cli", "train", "ga3c", *args, "--max-seconds", "1",
                          "--logdir", str(tmp_path / "run")])
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert expected in result.stderr
    assert not (tmp_path / "run").exists()


# The first, from a 75-minute run, and issue 26's, from a 61-minute run of 2x64 games.
SHIPPED_PONGS = ["ga3c_pong", "ga3c_pong_fast"]


@pytest.mark.parametrize("name", SHIPPED_PONGS)
def test_the_shipped_pong_policy_runs_under_every_loader(tmp_path, name):
    from .test_serving import shipped_model

    path, model = shipped_model(name)
    assert_loaders_match_keras(model, str(path),
                               {"observations": pong_frames(steps=2, games=4, seed=11)},
                               tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED_PONGS)
def test_the_shipped_pong_policy_wins_ten_greedy_games(name):
    """Issues 10's and 26's bar: a mean score of at least 18 over 10 greedy games."""
    from .test_serving import shipped_model

    path, _ = shipped_model(name)
    policy = load_policy(str(path))
    game = AtariGame(PONG, json.loads(policy.metadata["env_kwargs"]))
    try:
        scores = play_episodes(policy, game, episodes=10, seed=0)
    finally:
        game.close()
    assert np.mean(scores) >= 18, scores
