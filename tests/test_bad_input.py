
import numpy as np
import pytest

from tfa3c.algorithms.config import A3CConfig, GA3CConfig
from tfa3c.envs import check_spaces
from tfa3c.errors import ConfigError, EnvironmentSpecError

from .conftest import run_command


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("args, fragments", [
    (["--env", "NoSuchEnv-v0"], ["unknown environment id 'NoSuchEnv-v0'", "gymnasium"]),
    (["--encoder", "cnn"], ["invalid encoder='cnn'", "flat vectors", "allowed: mlp, lstm, "
                                                                     "mlp-lstm"]),
    (["--encoder", "rnn"], ["--encoder", "invalid choice: 'rnn'", "mlp", "cnn-lstm"]),
    (["--hidden-sizes", "16,0"], ["hidden_sizes=(16, 0)", "sizes >= 1"]),
    (["--env", "FrozenLake-v1"], ["observation space", "flat 1-D Box"]),
    (["--n-steps", "0"], ["n_steps=0", ">= 1"]),
    (["--learning-rate", "-0.1"], ["learning_rate=-0.1", "> 0"]),
    (["--workers", "0"], ["workers=0", ">= 1"]),
    (["--gamma", "1.5"], ["gamma=1.5", "(0, 1]"]),
    (["--gamma", "0"], ["gamma=0.0", "(0, 1]"]),
    (["--workers", "two"], ["--workers", "invalid integer"]),
])
def test_example_rejects_bad_input_in_one_line(args, fragments, tmp_path):
    logdir = tmp_path / "run"
    result = run_command(["examples/a3c_cartpole.py", "--logdir", str(logdir), *args])
    assert_one_line_error(result, *fragments)
    assert not logdir.exists()  # nothing half-written


def test_cli_rejects_unknown_env_in_one_line():
    result = run_command(["-m", "tfa3c.cli", "train", "a3c", "--env", "CartPol-v1"])
    assert_one_line_error(result, "unknown environment id 'CartPol-v1'", "CartPole-v1")


def test_resume_without_checkpoint(tmp_path):
    logdir = tmp_path / "empty"
    logdir.mkdir()
    result = run_command(["examples/a3c_cartpole.py", "--logdir", str(logdir), "--resume"])
    assert_one_line_error(result, "no checkpoint to resume from", "--logdir")
    assert list(logdir.iterdir()) == []


def test_resume_needs_logdir():
    result = run_command(["examples/a3c_cartpole.py", "--resume"])
    assert_one_line_error(result, "resume", "logdir")


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match=r"invalid n_steps=0: must be >= 1"):
        A3CConfig(n_steps=0)
    with pytest.raises(ConfigError, match="gae_lambda"):
        A3CConfig(gae_lambda=1.5)
    with pytest.raises(ConfigError, match="agents"):
        GA3CConfig(agents=0)


def test_images_must_be_uint8_of_rank_3():
    import gymnasium as gym

    # uint8 images of rank 3 are pixels; float images, or other ranks, are refused by name.
    check_spaces("Pixels-v0", gym.spaces.Box(0, 255, (84, 84, 3), np.uint8),
                 gym.spaces.Discrete(4))
    for space in (gym.spaces.Box(0, 255, (84, 84, 3)), gym.spaces.Box(0, 255, (84, 84),
                                                                       np.uint8)):
        with pytest.raises(EnvironmentSpecError, match="uint8 images of rank 3"):
            check_spaces("Pixels-v0", space, gym.spaces.Discrete(4))
