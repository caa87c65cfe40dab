"""Defaults per action kind: the continuous preset, and explicit options winning over it."""

import pytest

from tfa3c import cli
from tfa3c.algorithms.config import A3CConfig, GA3CConfig
from tfa3c.algorithms.presets import CONTINUOUS, PRESETS


@pytest.mark.parametrize("cls", [A3CConfig, GA3CConfig])
def test_discrete_envs_keep_the_design_card_defaults(cls):
    config = cls.for_env("CartPole-v1")
    assert config == cls(env_id="CartPole-v1")
    assert config.encoder == ("lstm" if cls is A3CConfig else "mlp")


@pytest.mark.parametrize("cls", [A3CConfig, GA3CConfig])
def test_continuous_envs_take_the_continuous_preset(cls):
    config = cls.for_env("Pendulum-v1")
    for name, value in PRESETS[(cls.algo, CONTINUOUS)].items():
        assert getattr(config, name) == value
    assert config.hidden_sizes != cls().hidden_sizes  # the preset changes something
    # Explicit options win over the preset.
    assert cls.for_env("Pendulum-v1", hidden_sizes=(8,)).hidden_sizes == (8,)


@pytest.mark.parametrize("algo", ["a3c", "ga3c"])
def test_cli_applies_the_preset_unless_the_option_is_given(algo):
    parser = cli.build_parser()
    args = parser.parse_args(["train", algo, "--env", "Pendulum-v1"])
    assert cli.config_from_args(algo, args).hidden_sizes == (64, 64)
    args = parser.parse_args(["train", algo, "--env", "Pendulum-v1", "--hidden-sizes", "32"])
    assert cli.config_from_args(algo, args).hidden_sizes == (32,)
    args = parser.parse_args(["train", algo, "--env", "CartPole-v1"])
    assert cli.config_from_args(algo, args).hidden_sizes == (16,)


def test_keyword_construction_of_an_algorithm_uses_the_preset():
    from tfa3c.algorithms.a3c import A3C

    config = A3C.resolve_config(None, {"env_id": "Pendulum-v1", "max_seconds": 1.0})
    assert (config.encoder, config.hidden_sizes) == ("mlp", (64, 64))
    assert config.max_seconds == 1.0


def test_a3c_learning_rate_follows_the_action_kind_unless_given():
    parser = cli.build_parser()
    pendulum = parser.parse_args(["train", "a3c", "--env", "Pendulum-v1"])
    assert cli.config_from_args("a3c", pendulum).learning_rate == 5e-4
    cartpole = parser.parse_args(["train", "a3c", "--env", "CartPole-v1"])
    assert cli.config_from_args("a3c", cartpole).learning_rate == A3CConfig().learning_rate
    given = parser.parse_args(["train", "a3c", "--env", "Pendulum-v1", "--learning-rate", "1e-3"])
    assert cli.config_from_args("a3c", given).learning_rate == 1e-3


def test_observations_are_normalized_where_the_presets_say_unless_told():
    parser = cli.build_parser()

    def normalizes(algo, *options):
        args = parser.parse_args(["train", algo, *options])
        return cli.config_from_args(algo, args).normalize_observations

    # A3C: always by default; GA3C: for continuous actions (MuJoCo-like observations).
    assert normalizes("a3c", "--env", "CartPole-v1")
    assert normalizes("a3c", "--env", "Pendulum-v1")
    assert not normalizes("a3c", "--env", "Pendulum-v1", "--no-normalize-observations")
    assert not normalizes("ga3c", "--env", "CartPole-v1")
    assert normalizes("ga3c", "--env", "Pendulum-v1")
    assert not normalizes("ga3c", "--env", "Pendulum-v1", "--no-normalize-observations")
    assert normalizes("ga3c", "--env", "CartPole-v1", "--normalize-observations")
