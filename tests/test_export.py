"""SavedModel export, its signatures, `tfa3c export`, `tfa3c play` and the shipped policies."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tfa3c import cli
from tfa3c.export import export_policy
from tfa3c.policies.actor_critic import FeedForwardActorCritic, RecurrentActorCritic, build_model

from .conftest import ROOT, randomized, run_command

OBS = 4
ACTIONS = 2
UNITS = 16
STARTUP_NOISE = ("absl::InitializeLog", "cudart_stub", "cuda_")

# Runs with only tensorflow, gymnasium and numpy: each policy folder in argv[1:-1] plays
# argv[-1] greedy episodes of CartPole-v1 (seeds 0, 1, ...); prints a JSON list of results.
PLAIN_PLAYER = textwrap.dedent("""
    import json, os, sys
    import gymnasium as gym, numpy as np, tensorflow as tf

    def play(path, episodes):
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            path = os.path.join(path, str(max(int(n) for n in os.listdir(path) if n.isdigit())))
        signatures = tf.saved_model.load(path).signatures
        env = gym.make("CartPole-v1")
        returns = []
        for episode in range(episodes):
            observation, _ = env.reset(seed=episode)
            state = (dict(signatures["get_initial_state"](batch_size=tf.constant(1)))
                     if "get_initial_state" in signatures else {})
            total, done = 0.0, False
            while not done:
                out = signatures["action"](
                    observation=tf.constant(observation[None], tf.float32), **state)
                if state:
                    state = {"state_h": out["state_h"], "state_c": out["state_c"]}
                observation, reward, terminated, truncated, _ = env.step(int(out["action"][0]))
                total += reward
                done = terminated or truncated
            returns.append(total)
        return {"path": path, "mean_return": float(np.mean(returns)), "returns": returns}

    *paths, episodes = sys.argv[1:]
    results = [play(path, int(episodes)) for path in paths]
    assert not any(name.startswith("tfa3c") for name in sys.modules), "tfa3c was imported"
    print(json.dumps(results))
""")


def softmax(logits):
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def error_lines(stderr):
    """stderr without TensorFlow's C++ start-up lines (not ours to silence)."""
    return [line for line in stderr.splitlines()
            if line.strip() and not any(noise in line for noise in STARTUP_NOISE)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Randomized recurrent and feed-forward models and their loaded exports."""
    export_dir = tmp_path_factory.mktemp("export")
    recurrent = randomized(RecurrentActorCritic(ACTIONS, UNITS), seed=1)
    feed_forward = randomized(FeedForwardActorCritic(ACTIONS, (16, 8)), seed=3)
    paths = {
        "a3c": export_policy(recurrent, str(export_dir), "a3c_cartpole", algo="a3c",
                             env_id="CartPole-v1", env_steps=1234),
        "ga3c": export_policy(feed_forward, str(export_dir), "ga3c_cartpole", algo="ga3c",
                              env_id="CartPole-v1", env_steps=99),
    }
    return {"models": {"a3c": recurrent, "ga3c": feed_forward}, "paths": paths,
            "loaded": {name: tf.saved_model.load(path) for name, path in paths.items()}}


def test_feed_forward_outputs_equal_keras(exported):
    model, loaded = exported["models"]["ga3c"], exported["loaded"]["ga3c"]
    observations = np.random.default_rng(3).normal(size=(64, OBS)).astype(np.float32)
    logits, values = (t.numpy() for t in model(observations))
    for name in ("action", "serving_default"):
        out = loaded.signatures[name](observation=tf.constant(observations))
        np.testing.assert_allclose(out["probabilities"].numpy(), softmax(logits), rtol=3e-5,
                                   atol=1e-5)
        np.testing.assert_allclose(out["value"].numpy(), values, rtol=3e-5, atol=1e-5)
        np.testing.assert_array_equal(out["action"].numpy(), logits.argmax(axis=-1))
    # The weights were randomized, so greedy actions must not be all the same.
    assert len(set(logits.argmax(axis=-1))) == ACTIONS


def test_recurrent_rollout_with_carried_state_equals_keras(exported):
    model, loaded = exported["models"]["a3c"], exported["loaded"]["a3c"]
    rng = np.random.default_rng(4)
    batch = 3
    state = dict(loaded.signatures["get_initial_state"](batch_size=tf.constant(batch)))
    np.testing.assert_array_equal(state["state_h"].numpy(), np.zeros((batch, UNITS)))
    np.testing.assert_array_equal(state["state_c"].numpy(), np.zeros((batch, UNITS)))
    h, c = model.initial_state(batch)
    observations = rng.normal(size=(batch, 50, OBS)).astype(np.float32)
    for t in range(50):
        out = loaded.signatures["action"](observation=tf.constant(observations[:, t]), **state)
        logits, values, (h, c) = model.step(observations[:, t], (h, c))
        np.testing.assert_allclose(out["probabilities"].numpy(), softmax(logits.numpy()),
                                   atol=1e-5, err_msg=f"step {t}")
        np.testing.assert_allclose(out["value"].numpy(), values.numpy(), rtol=3e-5, atol=1e-5)
        np.testing.assert_allclose(out["state_h"].numpy(), h.numpy(), rtol=3e-5, atol=1e-5)
        np.testing.assert_allclose(out["state_c"].numpy(), c.numpy(), rtol=3e-5, atol=1e-5)
        np.testing.assert_array_equal(out["action"].numpy(), logits.numpy().argmax(axis=-1))
        state = {"state_h": out["state_h"], "state_c": out["state_c"]}
    # The carried state matters: the final step differs from one from a zero state.
    fresh = loaded.signatures["action"](observation=tf.constant(observations[:, -1]),
                                        **loaded.signatures["get_initial_state"](
                                            batch_size=tf.constant(batch)))
    assert not np.allclose(fresh["value"].numpy(), out["value"].numpy(), atol=1e-3)


def _inputs(signature):
    return {name: (spec.dtype, spec.shape.as_list())
            for name, spec in signature.structured_input_signature[1].items()}


def _outputs(signature):
    return {name: (spec.dtype, spec.shape.as_list())
            for name, spec in signature.structured_outputs.items()}


def test_signature_and_tensor_names(exported):
    recurrent = exported["loaded"]["a3c"].signatures
    feed_forward = exported["loaded"]["ga3c"].signatures
    assert set(recurrent.keys()) == {"action", "serving_default", "get_initial_state",
                                     "get_metadata"}
    assert set(feed_forward.keys()) == {"action", "serving_default", "get_metadata"}
    state = (tf.float32, [None, UNITS])
    assert _inputs(recurrent["get_initial_state"]) == {"batch_size": (tf.int32, [])}
    assert _outputs(recurrent["get_initial_state"]) == {"state_h": state, "state_c": state}
    for name in ("action", "serving_default"):
        assert _inputs(recurrent[name]) == {"observation": (tf.float32, [None, OBS]),
                                            "state_h": state, "state_c": state}
        assert _outputs(recurrent[name]) == {
            "action": (tf.int64, [None]), "probabilities": (tf.float32, [None, ACTIONS]),
            "value": (tf.float32, [None]), "state_h": state, "state_c": state}
        assert _inputs(feed_forward[name]) == {"observation": (tf.float32, [None, OBS])}
        assert _outputs(feed_forward[name]) == {
            "action": (tf.int64, [None]), "probabilities": (tf.float32, [None, ACTIONS]),
            "value": (tf.float32, [None])}
    metadata = {key: value.numpy().decode()
                for key, value in recurrent["get_metadata"]().items()}
    assert metadata["algorithm"] == "a3c" and metadata["env_id"] == "CartPole-v1"
    assert metadata["env_steps"] == "1234" and metadata["action_space"] == "Discrete(2)"
    assert "(4,)" in metadata["observation_space"] and metadata["tfa3c_version"]
    ga3c = {key: value.numpy().decode()
            for key, value in feed_forward["get_metadata"]().items()}
    assert ga3c["algorithm"] == "ga3c" and ga3c["env_steps"] == "99"


def test_saved_model_cli_lists_the_signatures(exported):
    cli_path = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    command = ([cli_path] if os.path.exists(cli_path)
               else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"])
    result = subprocess.run([*command, "show", "--dir", exported["paths"]["a3c"], "--all"],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr
    for name in ("action", "serving_default", "get_initial_state", "get_metadata"):
        assert f"signature_def['{name}']" in result.stdout
    for tensor in ("inputs['observation']", "inputs['state_h']", "inputs['batch_size']",
                   "outputs['probabilities']", "outputs['value']", "outputs['state_c']"):
        assert tensor in result.stdout


def test_export_is_small_and_holds_no_optimizer_state(exported):
    path = exported["paths"]["a3c"]
    reader = tf.train.load_checkpoint(os.path.join(path, "variables", "variables"))
    names = [name for name in reader.get_variable_to_shape_map() if "VARIABLE_VALUE" in name]
    weights = [v.numpy() for v in exported["models"]["a3c"].variables]
    stored = [reader.get_tensor(name) for name in names]
    # Every stored tensor is one of the model's weights (Keras' ExportArchive keeps two
    # references to each), and every weight is stored: no optimizer state, nothing else.
    assert all(any(s.shape == w.shape and np.array_equal(s, w) for w in weights) for s in stored)
    assert all(any(s.shape == w.shape and np.array_equal(s, w) for s in stored) for w in weights)
    size = sum(os.path.getsize(os.path.join(folder, file))
               for folder, _, files in os.walk(path) for file in files)
    assert size < 512 * 1024


def test_versions_count_up_and_never_overwrite(tmp_path):
    model = build_model(FeedForwardActorCritic(ACTIONS), OBS)
    kwargs = {"algo": "ga3c", "env_id": "CartPole-v1"}
    first = export_policy(model, str(tmp_path), "m", **kwargs)
    marker = os.path.join(first, "marker")
    open(marker, "w").close()
    second = export_policy(model, str(tmp_path), "m", **kwargs)
    assert [os.path.basename(first), os.path.basename(second)] == ["1", "2"]
    assert os.path.exists(marker)  # version 1 untouched
    os.makedirs(tmp_path / "m" / "7")  # a gap: the next version is above the highest
    os.makedirs(tmp_path / "m" / "notes")  # non-numeric folders are ignored
    third = export_policy(model, str(tmp_path), "m", **kwargs)
    assert os.path.basename(third) == "8"
    assert sorted(os.listdir(tmp_path / "m")) == ["1", "2", "7", "8", "notes"]  # no temp left


def test_wrong_observation_shape_or_dtype_is_rejected(exported):
    for name in ("a3c", "ga3c"):
        signatures = exported["loaded"][name].signatures
        state = (dict(signatures["get_initial_state"](batch_size=tf.constant(2)))
                 if name == "a3c" else {})
        for shape in ((2, OBS + 1), (OBS,), (2, 1, OBS)):
            with pytest.raises(tf.errors.InvalidArgumentError,
                               match=r"observation must have shape \[batch, 4\]"):
                signatures["action"](observation=tf.zeros(shape), **state)
        with pytest.raises(tf.errors.InvalidArgumentError, match="float"):
            signatures["action"](observation=tf.zeros((2, OBS), tf.float64), **state)


def test_loads_in_a_process_without_tfa3c(exported):
    result = run_command(["-c", PLAIN_PLAYER, exported["paths"]["a3c"], "1"])
    assert result.returncode == 0, result.stderr
    [summary] = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["mean_return"] > 0 and len(summary["returns"]) == 1


def test_serving_example_runs_on_an_export(exported):
    result = run_command(["examples/serve_savedmodel.py",
                          os.path.dirname(exported["paths"]["ga3c"]), "--episodes", "2"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("mean return ")


def test_shipped_policies_solve_cartpole_with_plain_tensorflow():
    # Fails until the lead trains and commits savedmodels/a3c_cartpole and ga3c_cartpole.
    paths = [ROOT / "savedmodels" / name for name in ("a3c_cartpole", "ga3c_cartpole")]
    missing = [str(path) for path in paths if not path.is_dir()]
    assert not missing, f"not shipped yet: {missing} (train with examples/*_cartpole.py)"
    # One process for both: a TensorFlow start-up costs seconds.
    result = run_command(["-c", PLAIN_PLAYER, *map(str, paths), "5"])
    assert result.returncode == 0, result.stderr
    for summary in json.loads(result.stdout.strip().splitlines()[-1]):
        assert summary["mean_return"] > 475, summary


# The CLI on a real (short) training run --------------------------------------------------
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("run") / "a3c"
    result = run_command(["-m", "tfa3c.cli", "train", "a3c", "--env", "CartPole-v1",
                          "--max-steps", "2000", "--logdir", str(logdir), "--no-export",
                          "--progress", "none", "--workers", "1"], timeout=180)
    assert result.returncode == 0, result.stderr
    return logdir


def test_export_command_and_play_on_a_real_run(run_dir, tmp_path, capsys):
    export_dir = tmp_path / "models"
    # In-process (a TensorFlow start-up less); `play` below runs as a real process.
    assert cli.main(["export", str(run_dir), "--export-dir", str(export_dir)]) == 0
    path = capsys.readouterr().out.strip().splitlines()[-1]
    assert path == str(export_dir / "a3c_cartpole" / "1")
    # The checkpoint's weights, not fresh ones, were exported.
    from tfa3c.export_cli import read_run_config, restore_latest, run_network
    from tfa3c.policies.actor_critic import build_policy

    algo, config = read_run_config(str(run_dir))
    model = build_policy(*run_network(algo, config))
    _, env_steps = restore_latest(model, str(run_dir))
    assert env_steps >= 2000
    loaded = tf.saved_model.load(path)
    metadata = loaded.signatures["get_metadata"]()
    assert metadata["env_steps"].numpy().decode() == str(env_steps)
    observation = np.random.default_rng(5).normal(size=(2, OBS)).astype(np.float32)
    state = dict(loaded.signatures["get_initial_state"](batch_size=tf.constant(2)))
    out = loaded.signatures["action"](observation=tf.constant(observation), **state)
    _, values, _ = model.step(observation, model.initial_state(2))
    np.testing.assert_allclose(out["value"].numpy(), values.numpy(), rtol=3e-5, atol=1e-5)

    result = run_command(["-m", "tfa3c.cli", "play", str(export_dir / "a3c_cartpole"),
                          "--episodes", "3", "--seed", "7"])
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary) == {"mean_return", "std_return", "min_return", "max_return", "episodes"}
    assert summary["episodes"] == 3 and summary["min_return"] <= summary["mean_return"]
    assert summary["mean_return"] <= summary["max_return"] and summary["min_return"] >= 1


def _cli_error(capsys, argv):
    """Runs `tfa3c ARGV` in-process; returns its one stderr line (exit status must be 2)."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1, lines
    assert lines[0].startswith("tfa3c: error: ")
    return lines[0]


def test_export_command_takes_a_kept_checkpoint_by_its_env_steps(run_dir, tmp_path, capsys):
    from tfa3c.export_cli import read_run_config, restore_latest, run_network
    from tfa3c.policies.actor_critic import build_policy

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    algo, config = read_run_config(str(run))
    model = build_policy(*run_network(algo, config, str(run)))
    _, newest = restore_latest(model, str(run))
    # An older checkpoint with other weights, as a run keeps its last few.
    for variable in model.trainable_variables:
        variable.assign(variable + 0.5)
    tf.train.Checkpoint(model=model, env_steps=tf.Variable(40, dtype=tf.int64)).write(
        str(run / "checkpoints" / "ckpt-40"))
    out = tmp_path / "models"
    assert cli.main(["export", str(run), "--export-dir", str(out), "--env-steps", "40"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == f"restored {run / 'checkpoints' / 'ckpt-40'}"
    loaded = tf.saved_model.load(lines[-1])
    assert loaded.signatures["get_metadata"]()["env_steps"].numpy().decode() == "40"
    observation = np.random.default_rng(2).normal(size=(2, OBS)).astype(np.float32)
    state = dict(loaded.signatures["get_initial_state"](batch_size=tf.constant(2)))
    served = loaded.signatures["action"](observation=tf.constant(observation), **state)
    _, values, _ = model.step(observation, model.initial_state(2))
    np.testing.assert_allclose(served["value"].numpy(), values.numpy(), rtol=3e-5, atol=1e-5)
    # Without --env-steps the newest is exported still.
    assert cli.main(["export", str(run), "--export-dir", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"restored {run / 'checkpoints'}/ckpt-{newest}")
    message = _cli_error(capsys, ["export", str(run), "--export-dir", str(tmp_path / "no"),
                                  "--env-steps", "7"])
    assert "--env-steps 7:" in message and f"allowed: 40, {newest}" in message
    assert not (tmp_path / "no").exists()


def test_export_command_bad_inputs(run_dir, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert "does not exist" in _cli_error(capsys, ["export", str(tmp_path / "nope"),
                                                   "--export-dir", out])
    assert "config.json" in _cli_error(capsys, ["export", str(tmp_path), "--export-dir", out])
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(run_dir / "config.json", bare / "config.json")
    assert "no checkpoint" in _cli_error(capsys, ["export", str(bare), "--export-dir", out])
    corrupt = tmp_path / "corrupt"
    shutil.copytree(run_dir, corrupt)
    for name in os.listdir(corrupt / "checkpoints"):
        if ".data-" in name:
            (corrupt / "checkpoints" / name).write_bytes(b"not a checkpoint")
    assert "corrupt" in _cli_error(capsys, ["export", str(corrupt), "--export-dir", out])
    assert not os.path.exists(out)


def test_play_bad_inputs(exported, tmp_path, capsys):
    assert "no SavedModel" in _cli_error(capsys, ["play", str(tmp_path)])
    foreign = tmp_path / "foreign"
    module = tf.Module()
    module.double = tf.function(lambda x: 2 * x, input_signature=[tf.TensorSpec([None])])
    tf.saved_model.save(module, str(foreign), signatures=module.double.get_concrete_function())
    assert "not exported by tfa3c" in _cli_error(capsys, ["play", str(foreign)])
    message = _cli_error(capsys, ["play", exported["paths"]["a3c"], "--env", "Acrobot-v1"])
    assert "Acrobot-v1" in message and "expects 4" in message
    assert "--episodes" in _cli_error(capsys, ["play", exported["paths"]["a3c"],
                                               "--episodes", "0"])


def test_bad_input_in_a_real_process(tmp_path):
    result = run_command(["-m", "tfa3c.cli", "play", str(tmp_path), "--episodes", "1"])
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("tfa3c: error: no SavedModel in"), lines
