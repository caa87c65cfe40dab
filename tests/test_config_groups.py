"""Configuration grouped by concern, each default stated once, one registration each."""

import argparse
import dataclasses
import json

import pytest

from tfa3c import cli
from tfa3c.algorithms.config import A3CConfig, GA3CConfig, TrainConfig, field_default
from tfa3c.algorithms.presets import PRESETS, presets_of
from tfa3c.algorithms.registry import ALGORITHMS, registration
from tfa3c.env_spec import PRESET_KINDS
from tfa3c.errors import UserInputError

from .conftest import ROOT

CONFIGS = [entry.config_class() for entry in ALGORITHMS.values()]


@pytest.mark.parametrize("config_class", CONFIGS)
def test_every_field_is_in_exactly_one_group(config_class):
    groups = config_class.groups()
    names = [name for fields in groups.values() for name in fields]
    assert sorted(names) == sorted(f.name for f in dataclasses.fields(config_class))
    assert len(names) == len(set(names))
    assert {"environment", "network", "loss and optimizer", "run", "hosting"} <= set(groups)
    assert "encoder" in groups["network"] and "learning_rate" in groups["loss and optimizer"]
    assert "seed" in groups["run"] and "hosting" in groups["hosting"]


def test_algorithm_overrides_stay_in_the_shared_group():
    assert "encoder" in A3CConfig.groups()["network"]
    assert "clip_norm" in GA3CConfig.groups()["loss and optimizer"]
    assert (A3CConfig().encoder, GA3CConfig().encoder) == ("lstm", "mlp")


def test_flat_access_keywords_and_asdict_round_trip():
    config = A3CConfig(env_id="Acrobot-v1", workers=2, encoder="mlp", hosting="processes")
    assert (config.env_id, config.workers, config.encoder) == ("Acrobot-v1", 2, "mlp")
    # A run's config.json: a flat dict, read back as keywords.
    written = json.loads(json.dumps(dataclasses.asdict(config)))
    assert A3CConfig(**{**written, "hidden_sizes": tuple(written["hidden_sizes"])}) == config
    assert config.replace(workers=3).workers == 3


@pytest.mark.parametrize("entry", ALGORITHMS.values(), ids=list(ALGORITHMS))
def test_every_registered_algorithm_is_complete(entry):
    config_class = entry.config_class()
    assert issubclass(config_class, TrainConfig)
    assert config_class.algo == entry.name
    assert entry.roles in {f.name for f in dataclasses.fields(config_class)}
    assert set(presets_of(entry.name)) == set(PRESET_KINDS)
    parser = cli.build_parser()
    args = parser.parse_args(["train", entry.name, "--env", "CartPole-v1"])
    assert isinstance(cli.config_from_args(entry.name, args), config_class)


def test_unknown_algorithm_names_the_allowed_ones():
    with pytest.raises(UserInputError, match="allowed: a3c, ga3c"):
        registration("ppo")


@pytest.mark.parametrize("key, values", PRESETS.items(), ids=map(str, PRESETS))
def test_presets_hold_overrides_only(key, values):
    algo, kind = key
    config_class = registration(algo).config_class()
    for name, value in values.items():
        assert value != field_default(config_class, name), (algo, kind, name)


def _parser(algo, run_choices=None):
    parser = argparse.ArgumentParser()
    cli.add_training_arguments(parser, algo, run_choices)
    return parser


@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_cli_groups_are_the_config_groups_and_state_no_defaults(algo):
    parser = _parser(algo)
    config_class = registration(algo).config_class()
    titles = [group.title for group in parser._action_groups]
    for title, names in config_class.groups().items():
        assert title in titles
        group = parser._action_groups[titles.index(title)]
        assert {action.dest for action in group._group_actions} == set(names)
    defaults = {name: parser.get_default(name) for names in config_class.groups().values()
                for name in names}
    assert set(defaults.values()) == {None}  # the config (or the preset) decides


def test_cli_help_shows_the_config_defaults():
    help_text = " ".join(_parser("a3c").format_help().split())
    assert f"Adam learning rate (default {A3CConfig().learning_rate:g};" in help_text
    help_text = " ".join(_parser("ga3c").format_help().split())
    assert f"RMSprop learning rate (default {GA3CConfig().learning_rate:g};" in help_text


def test_run_choices_cannot_set_hyperparameters():
    parser = _parser("a3c", {"env_id": "CartPole-v1", "max_seconds": 300.0})
    args = parser.parse_args([])
    assert (args.env_id, args.max_seconds, args.learning_rate) == ("CartPole-v1", 300.0, None)
    with pytest.raises(ValueError, match="learning_rate"):
        _parser("a3c", {"learning_rate": 5e-4})


@pytest.mark.parametrize("example", ["a3c_cartpole.py", "ga3c_cartpole.py"])
def test_examples_state_no_defaults_of_their_own(example):
    source = (ROOT / "examples" / example).read_text()
    assert "set_defaults" not in source
    assert "learning_rate" not in source and "5e-4" not in source and "1e-2" not in source
