"""An environment id resolved once (`resolve_env`), and the one way to build its policy."""

import dataclasses
import json
import re

import gymnasium as gym
import numpy as np
import pytest

from tfa3c.algorithms import presets
from tfa3c.algorithms.config import A3CConfig, GA3CConfig
from tfa3c.env_spec import PRESET_KINDS, resolve_env
from tfa3c.errors import EnvironmentSpecError, UserInputError
from tfa3c.spaces import ActionSpec


def test_a_discrete_environment_resolves_to_its_spaces_action_and_threshold():
    spec = resolve_env("CartPole-v1")
    assert spec.env_id == "CartPole-v1" and dict(spec.env_kwargs) == {}
    assert isinstance(spec.observation_space, gym.spaces.Box)
    assert spec.action_space == gym.spaces.Discrete(2)
    assert (spec.observation_shape, spec.observation_size, spec.observation_dtype) == (
        (4,), 4, "float32")
    assert (spec.pixels, spec.atari) == (False, False)
    assert spec.action == ActionSpec("categorical", 2)
    assert spec.preset_kind == presets.DISCRETE
    assert spec.reward_threshold == 475.0


def test_a_continuous_environment_resolves_to_a_gaussian_with_its_bounds():
    spec = resolve_env("Pendulum-v1", {"g": 9.81})
    assert spec.observation_shape == (3,) and not spec.pixels
    assert spec.action == ActionSpec("gaussian", 1, (-2.0,), (2.0,))
    assert spec.preset_kind == presets.CONTINUOUS
    assert spec.reward_threshold is None
    assert dict(spec.env_kwargs) == {"g": 9.81}


def test_an_atari_game_resolves_to_the_preprocessed_frames():
    spec = resolve_env("ALE/Pong-v5")
    assert (spec.observation_shape, spec.observation_dtype) == ((4, 84, 84), "uint8")
    assert (spec.pixels, spec.atari, spec.preset_kind) == (True, True, presets.PIXELS)
    assert spec.action == ActionSpec("categorical", 6)
    assert spec.reward_threshold == 18.0
    # The preprocessing options change what is resolved.
    assert resolve_env("ALE/Pong-v5", {"stack_num": 2}).observation_shape == (2, 84, 84)


def test_a_spec_is_immutable_and_resolved_once_per_id_and_arguments():
    spec = resolve_env("CartPole-v1", {})
    assert resolve_env("CartPole-v1") is spec
    assert resolve_env("CartPole-v1", {"sutton_barto_reward": True}) is not spec
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.pixels = True
    with pytest.raises(TypeError):
        spec.env_kwargs["x"] = 1


def test_an_id_registered_anew_is_resolved_anew():
    gym.register("SpecTwice-v0", entry_point="gymnasium.envs.classic_control:CartPoleEnv")
    first = resolve_env("SpecTwice-v0")
    gym.registry.pop("SpecTwice-v0")
    gym.register("SpecTwice-v0", entry_point="gymnasium.envs.classic_control:PendulumEnv")
    try:
        assert resolve_env("SpecTwice-v0").action.kind == "gaussian"
        assert first.action.kind == "categorical"
    finally:
        gym.registry.pop("SpecTwice-v0")


@pytest.mark.parametrize(("env_id", "kwargs", "message"), [
    ("NoSuchEnv-v0", None, "unknown environment id 'NoSuchEnv-v0'"),
    ("ALE/NoSuchGame-v5", None, "unknown environment id"),
    ("CartPole-v1", {"length": 1}, 'could not be made with {"length": 1}'),
    ("ALE/Pong-v5", {"render_mode": "human"}, "render_mode not allowed for Atari games"),
    ("Blackjack-v1", None, "tfa3c supports flat 1-D Box observations"),
])
def test_bad_ids_and_spaces_raise_the_one_line_errors_of_before(env_id, kwargs, message):
    with pytest.raises(EnvironmentSpecError, match=re.escape(message)) as error:
        resolve_env(env_id, kwargs)
    assert isinstance(error.value, UserInputError)
    assert "\n" not in str(error.value)


def test_the_preset_kinds_agree_with_the_presets():
    assert set(PRESET_KINDS) == {presets.DISCRETE, presets.CONTINUOUS, presets.PIXELS}
    assert {kind for _, kind in presets.PRESETS} == set(PRESET_KINDS)


# One builder: training, hosted roles, resume, export and play build the same network ----
def _weights(model):
    """Weight name (without the model's own name) → shape."""
    return {v.path.split("/", 1)[1]: tuple(v.shape) for v in model.variables}


@pytest.mark.parametrize(("algo", "env_id", "options"), [
    ("a3c", "CartPole-v1", {"lstm_units": 8, "lstm_cell_clip": 0.5}),
    ("ga3c", "Pendulum-v1", {"normalize_observations": True}),
    ("a3c", "tests.dials_env:Dials-v0", {"encoder": "mlp-lstm"}),
])
def test_training_resume_export_and_play_build_the_same_network(algo, env_id, options,
                                                                 tmp_path, monkeypatch,
                                                                 capsys):
    import tensorflow as tf

    from tfa3c import cli
    from tfa3c.algorithms import a3c
    from tfa3c.algorithms.a3c import A3C
    from tfa3c.algorithms.ga3c import GA3C
    from tfa3c.checkpoints import described_policy, network_description
    from tfa3c.export_cli import read_run_config, run_network
    from tfa3c.play import load_policy, make_matching_env
    from tfa3c.policies.actor_critic import build_policy

    logdir = tmp_path / "run"
    cls, algorithm_class = (A3CConfig, A3C) if algo == "a3c" else (GA3CConfig, GA3C)
    config = cls.for_env(env_id, logdir=str(logdir), max_steps=200, progress_bar="none",
                         **options)
    algorithm = algorithm_class(config)
    trained = algorithm.model
    assert algorithm.env_spec is resolve_env(env_id, config.env_kwargs)
    summary = algorithm.learn()
    assert summary["env_steps"] >= 200

    expected = _weights(trained)
    assert expected  # something to compare
    # --resume: the network.json description, through the same builder.
    rebuilt = described_policy(json.loads((logdir / "checkpoints" / "network.json").read_text()))
    assert _weights(rebuilt) == expected
    assert network_description(rebuilt)["keras"]["config"] == (
        network_description(trained)["keras"]["config"])
    # export: from the run folder, and (an older run) from its config alone.
    algo_name, run_config = read_run_config(str(logdir))
    assert _weights(build_policy(*run_network(algo_name, run_config, str(logdir)))) == expected
    assert _weights(build_policy(*run_network(algo_name, run_config))) == expected
    if algo == "a3c":  # a worker builds its own copy, with the same builder
        built = []
        monkeypatch.setattr(a3c, "build_policy",
                            lambda *args, **kwargs: built.append(build_policy(*args, **kwargs))
                            or built[-1])
        a3c.A3CWorker(0, config).close()
        assert [_weights(model) for model in built] == [expected]
    # play: the exported policy and the environment resolved the same way.
    capsys.readouterr()
    assert cli.main(["export", str(logdir), "--export-dir", str(tmp_path / "models")]) == 0
    policy = load_policy(capsys.readouterr().out.strip().splitlines()[-1])
    env = make_matching_env(policy, None)
    try:
        spec = resolve_env(env_id, config.env_kwargs)
        assert policy.observation_shape == spec.observation_shape
        assert (policy.action_kind, policy.num_actions) == (spec.action.kind, spec.action.size)
    finally:
        env.close()
    served = {v.name.split(":")[0].split("/", 1)[1]: tuple(v.shape)
              for v in tf.saved_model.load(policy.path).variables}
    assert {name: shape for name, shape in expected.items()
            if "normalizer" not in name} == {name: shape for name, shape in served.items()
                                             if "normalizer" not in name}


def test_a_description_names_only_tfa3c_networks():
    from tfa3c.checkpoints import described_network, network_description
    from tfa3c.errors import CheckpointError
    from tfa3c.policies.actor_critic import RecurrentActorCritic, build_model

    description = network_description(build_model(RecurrentActorCritic(3, 8), 5))
    shape, action, options = described_network(description)
    assert (shape, action, options.encoder, options.lstm_units) == (
        (5,), ActionSpec("categorical", 3), "lstm", 8)
    # tfa3c 0.2's class with its encoder implied by its name
    del description["keras"]["config"]["encoder"]
    assert described_network(description)[2].encoder == "lstm"
    for change in ({"class_name": "Sequential"}, {"config": {"num_actions": 2, "depth": 3}}):
        with pytest.raises(CheckpointError, match="cannot rebuild the run's network"):
            described_network({**description, "keras": {**description["keras"], **change}})


def test_a_pixel_policy_is_built_for_either_image_layout():
    from tfa3c.policies.actor_critic import build_policy

    spec = resolve_env("ALE/Pong-v5")
    options = GA3CConfig.for_env("ALE/Pong-v5").network_options()
    assert (options.encoder, options.lstm_units) == ("cnn", 256)
    first = build_policy(spec.observation_shape, spec.action, options)
    last = build_policy((84, 84, 4), spec.action, options)
    assert (first.data_format, last.data_format) == ("channels_first", "channels_last")
    assert _weights(first) == _weights(last)
    params, values, _ = first.step(np.zeros((2, *spec.observation_shape), np.uint8))
    assert tuple(params.shape) == (2, 6) and tuple(values.shape) == (2,)
