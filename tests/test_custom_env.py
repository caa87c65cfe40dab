"""A user's own environment: `--env module:EnvId` and `--env-kwargs`, through train,
export and play (examples/corridor.py is the user's module)."""

import json

import pytest

from tfa3c.envs import make_env, parse_env_kwargs
from tfa3c.errors import EnvironmentSpecError

from .conftest import run_command

ENV = "examples.corridor:Corridor-v0"


def run_with_path(args, timeout=240):
    # `python -m` from the repository root puts it on sys.path, as PYTHONPATH=. does
    # for the `tfa3c` script: the user's module `examples.corridor` is importable.
    return run_command(args, timeout=timeout)


def test_env_kwargs_are_parsed_as_json_where_they_are_json():
    assert parse_env_kwargs(["length=5", "scale=0.5", "flag=true", "mode=rgb_array",
                             "sizes=[1, 2]", "name=\"x\"", "none=null"]) == {
        "length": 5, "scale": 0.5, "flag": True, "mode": "rgb_array", "sizes": [1, 2],
        "name": "x", "none": None}
    with pytest.raises(EnvironmentSpecError, match="expected KEY=VALUE"):
        parse_env_kwargs(["length"])


def test_module_env_id_is_imported_and_made_with_its_kwargs():
    env = make_env(ENV, env_kwargs={"length": 5})
    assert env.observation_space.shape == (5,)
    env.close()
    with pytest.raises(EnvironmentSpecError, match="cannot import module 'no_such_module'"):
        make_env("no_such_module:Corridor-v0")
    with pytest.raises(EnvironmentSpecError, match=r"unknown environment id 'Nope-v0' after "
                                                   r"importing 'examples\.corridor'"):
        make_env("examples.corridor:Nope-v0")


def test_train_export_and_play_a_users_environment(tmp_path):
    run, models = tmp_path / "run", tmp_path / "models"
    result = run_with_path(["-m", "tfa3c.cli", "train", "ga3c", "--env", ENV,
                            "--env-kwargs", "length=5", "--logdir", str(run),
                            "--export-dir", str(models), "--progress", "none",
                            "--max-seconds", "180"])
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["solved"] and summary["env"] == ENV
    assert json.loads((run / "config.json").read_text())["config"]["env_kwargs"] == {"length": 5}
    # play makes the same 5-cell corridor from the export's metadata: the best return
    # is 4 steps, 3 of them at -0.01, then 1.
    played = run_with_path(["-m", "tfa3c.cli", "play", str(models / "ga3c_corridor"),
                            "--episodes", "3"])
    assert played.returncode == 0, played.stderr
    assert json.loads(played.stdout.strip().splitlines()[-1])["mean_return"] == pytest.approx(0.97)
    # Another length does not fit the policy: refused in one line.
    other = run_with_path(["-m", "tfa3c.cli", "play", str(models / "ga3c_corridor"),
                           "--env", ENV, "--env-kwargs", "length=7"])
    assert other.returncode == 2 and "expects 5" in other.stderr


@pytest.mark.parametrize(("args", "fragment"), [
    (["--env", "no_such_module:X-v0"], "cannot import module 'no_such_module'"),
    (["--env", ENV, "--env-kwargs", "length=1"], "could not be made with {\"length\": 1}"),
    (["--env", ENV, "--env-kwargs", "colour=red"], "unexpected keyword argument 'colour'"),
    (["--env", ENV, "--env-kwargs", "length"], "expected KEY=VALUE"),
])
def test_bad_environment_input_is_one_line(args, fragment, tmp_path):
    result = run_with_path(["-m", "tfa3c.cli", "train", "a3c", *args, "--logdir",
                            str(tmp_path / "run")])
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], lines
    assert not (tmp_path / "run").exists()
