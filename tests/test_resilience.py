"""Nothing lost when a run fails: thread failures, kill -9 and --resume, signals, bad
checkpoints and folders, and exports that rebuild exactly the trained network."""

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from tfa3c import cli
from tfa3c.algorithms.a3c import A3C, A3CWorker
from tfa3c.algorithms.config import A3CConfig, GA3CConfig
from tfa3c.algorithms.ga3c import GA3C, GA3CAgent
from tfa3c.errors import TrainingError
from tfa3c.signals import StopSignals

from .conftest import ROOT, run_command


def a3c_config(tmp_path, **changes):
    values = dict(env_id="CartPole-v1", workers=2, envs_per_worker=2, n_steps=10,
                  logdir=str(tmp_path / "run"), progress_bar="none", log_interval=0.5)
    return A3CConfig(**{**values, **changes})


def ga3c_config(tmp_path, **changes):
    values = dict(agents=2, envs_per_agent=2, progress_bar="none", log_interval=0.5,
                  logdir=str(tmp_path / "run"))
    return GA3CConfig(**{**values, **changes})


def checkpoint_counters(path):
    reader = tf.train.load_checkpoint(path)
    return (int(reader.get_tensor("env_steps/.ATTRIBUTES/VARIABLE_VALUE")),
            int(reader.get_tensor("episodes/.ATTRIBUTES/VARIABLE_VALUE")))


def read_csv(path):
    with open(path, newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["wall_time", "env_steps", "return", "length"]
    return [(float(w), int(s), float(r), int(n)) for w, s, r, n in rows[1:]]


# Thread failures --------------------------------------------------------------------------
def fail_after(calls, function, failed_at):
    count = 0

    def wrapper(*args, **kwargs):
        nonlocal count
        count += 1
        if count > calls:
            failed_at.append(time.perf_counter())
            raise RuntimeError("injected failure")
        return function(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize("role", ["a3c-worker", "ga3c-agent", "ga3c-predictor", "ga3c-trainer"])
def test_a_failing_thread_stops_within_5_s_with_a_final_checkpoint(role, tmp_path, monkeypatch):
    failed_at = []
    if role == "a3c-worker":
        monkeypatch.setattr(A3CWorker, "collect", fail_after(6, A3CWorker.collect, failed_at))
        algorithm = A3C(a3c_config(tmp_path, stop_when_solved=False, max_seconds=60))
    else:
        if role == "ga3c-agent":
            monkeypatch.setattr(GA3CAgent, "act", fail_after(200, GA3CAgent.act, failed_at))
        algorithm = GA3C(ga3c_config(tmp_path, stop_when_solved=False, max_seconds=60))
        if role == "ga3c-predictor":
            algorithm.predictor.predict = fail_after(100, algorithm.predictor.predict, failed_at)
        elif role == "ga3c-trainer":
            algorithm.learner.train = fail_after(5, algorithm.learner.train, failed_at)
    joined_at = []
    join = algorithm.supervisor.join

    def timed_join(*args):
        alive = join(*args)
        joined_at.append(time.perf_counter())
        return alive

    algorithm.supervisor.join = timed_join
    with pytest.raises(TrainingError) as raised:
        algorithm.learn()
    # Every thread has stopped within 5 s of the failure (the final checkpoint follows).
    assert joined_at[0] - failed_at[0] < 5.0
    assert not [t.name for t in threading.enumerate() if t.name.startswith(("a3c-", "ga3c-"))]
    message = str(raised.value)
    assert f"thread {role}-" in message and "RuntimeError: injected failure" in message
    assert isinstance(raised.value.__cause__, RuntimeError)
    # The final checkpoint was written after the failure, at the run's last step count.
    checkpoints = str(tmp_path / "run" / "checkpoints")
    latest = tf.train.latest_checkpoint(checkpoints)
    assert latest is not None and f"final checkpoint {latest}" in message
    env_steps, episodes = checkpoint_counters(latest)
    assert env_steps == algorithm.statistics.env_steps > 0
    assert episodes == algorithm.statistics.episodes
    assert len(read_csv(tmp_path / "run" / "episodes.csv")) == episodes


# kill -9, then --resume ---------------------------------------------------------------------
def wait_for_checkpoints(checkpoints, count, process, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        state = tf.train.get_checkpoint_state(checkpoints)
        if state is not None and len(state.all_model_checkpoint_paths) >= count:
            return state.model_checkpoint_path
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} checkpoints in {timeout} s")


@pytest.mark.parametrize("algo", ["a3c", "ga3c"])
def test_kill_9_then_resume_continues_from_the_newest_checkpoint(algo, tmp_path):
    logdir = tmp_path / "run"
    checkpoints = str(logdir / "checkpoints")
    process = subprocess.Popen(
        [sys.executable, "-m", "tfa3c.cli", "train", algo, "--env", "CartPole-v1",
         "--logdir", str(logdir), "--no-export", "--progress", "lines", "--log-interval", "0.1",
         "--checkpoint-interval", "2", "--no-stop-when-solved", "--max-seconds", "120"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        wait_for_checkpoints(checkpoints, 2, process)
        time.sleep(0.6)  # episodes after the newest checkpoint reach the CSV
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    newest = tf.train.latest_checkpoint(checkpoints)
    env_steps, episodes = checkpoint_counters(newest)
    rows_before = read_csv(logdir / "episodes.csv")
    assert len(rows_before) >= episodes > 0

    # Enough steps that every environment finishes an episode even if the policy
    # already balances for the full 500 steps (GA3C: 64 environments).
    config_class = A3CConfig if algo == "a3c" else GA3CConfig
    algorithm = (A3C if algo == "a3c" else GA3C)(config_class(
        logdir=str(logdir), resume=True, progress_bar="none", log_interval=0.3,
        stop_when_solved=False, max_steps=env_steps + 80_000))
    assert algorithm.resumed_from == newest
    assert (algorithm.statistics.env_steps, algorithm.statistics.episodes) == (env_steps,
                                                                               episodes)
    # Every weight and optimizer slot holds the value the checkpoint stored.
    reader = tf.train.load_checkpoint(newest)
    stored = [reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
              if name.startswith(("model/", "optimizer/"))]
    restored = [v.numpy() for v in (*algorithm.model.variables, *algorithm.optimizer.variables)]
    assert len(stored) == len(restored)
    for value in restored:
        assert any(s.shape == value.shape and np.array_equal(s, value) for s in stored)
    assert int(algorithm.optimizer.iterations.numpy()) > 0  # real slots, not fresh ones

    summary = algorithm.learn()
    assert summary["stop_reason"] == "max_steps"
    rows = read_csv(logdir / "episodes.csv")
    # The episodes up to the checkpoint are kept as they were; those after it (lost
    # training) are gone; the resumed run's episodes follow without going backwards.
    assert rows[:episodes] == rows_before[:episodes]
    assert len(rows) == algorithm.statistics.episodes > episodes
    wall_times, steps = [r[0] for r in rows], [r[1] for r in rows]
    assert wall_times == sorted(wall_times) and steps == sorted(steps)
    assert steps[episodes] >= env_steps


# Signals ----------------------------------------------------------------------------------
@pytest.mark.parametrize("algo", ["a3c", "ga3c"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly_with_checkpoint_and_summary(tmp_path, algo, sig):
    logdir = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, f"examples/{algo}_cartpole.py", "--logdir", str(logdir), "--no-export",
         "--progress", "lines", "--log-interval", "0.5", "--no-stop-when-solved",
         "--max-seconds", "120"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        first_line = read_line(process, timeout=90)
        assert first_line.startswith("env_steps"), first_line
        process.send_signal(sig)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:  # never leave a child behind, whatever failed
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    lines = out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["stop_reason"] == sig.name and summary["env_steps"] > 0
    latest = tf.train.latest_checkpoint(str(logdir / "checkpoints"))
    assert latest is not None and f"final checkpoint: {latest}" in lines
    assert checkpoint_counters(latest)[0] >= summary["env_steps"]


def read_line(process, timeout):
    """The child's next stdout line, or an AssertionError after `timeout` seconds."""
    lines = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()),
                              daemon=True)
    reader.start()
    reader.join(timeout)
    assert lines, f"no output within {timeout} s"
    return lines[0]


def test_a_second_ctrl_c_forces_the_exit():
    # A Python program's own Ctrl-C handler is what the run replaces (whatever an
    # earlier test in this process left installed).
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    signals = StopSignals().install()
    try:
        handler = signal.getsignal(signal.SIGINT)
        handler(signal.SIGINT, None)  # the first asks for a clean stop
        assert signals.pending == "SIGINT"
        with pytest.raises(KeyboardInterrupt):  # the second goes to Python's own handler
            handler(signal.SIGINT, None)
    finally:
        signals.restore()
        signal.signal(signal.SIGINT, outer)


# Bad checkpoints and folders ----------------------------------------------------------------
def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A short A3C run with an LSTM of 8 cells."""
    logdir = tmp_path_factory.mktemp("small") / "run"
    result = run_command(["-m", "tfa3c.cli", "train", "a3c", "--env", "CartPole-v1",
                          "--logdir", str(logdir), "--max-steps", "500", "--no-export",
                          "--progress", "none", "--lstm-units", "8", "--workers", "1"])
    assert result.returncode == 0, result.stderr
    return logdir


def copy_run(source, target):
    import shutil

    shutil.copytree(source, target)
    return target


def test_resume_with_a_different_network_size_names_the_difference(small_run, tmp_path):
    logdir = copy_run(small_run, tmp_path / "run")
    result = run_command(["-m", "tfa3c.cli", "train", "a3c", "--env", "CartPole-v1",
                          "--logdir", str(logdir), "--resume", "--no-export"])
    assert_one_line_error(result, "different network", "lstm_units 8→16")
    # Without network.json (an older run), the checkpoint itself does not fit.
    os.remove(logdir / "checkpoints" / "network.json")
    result = run_command(["-m", "tfa3c.cli", "train", "a3c", "--env", "CartPole-v1",
                          "--logdir", str(logdir), "--resume", "--no-export"])
    assert_one_line_error(result, "is corrupt or does not fit")


@pytest.mark.parametrize("algo", ["a3c", "ga3c"])
def test_resume_from_a_corrupt_checkpoint_is_one_line(algo, tmp_path):
    logdir = tmp_path / "run"
    first = run_command(["-m", "tfa3c.cli", "train", algo, "--env", "CartPole-v1",
                         "--logdir", str(logdir), "--max-steps", "500", "--no-export",
                         "--progress", "none"])
    assert first.returncode == 0, first.stderr
    for name in os.listdir(logdir / "checkpoints"):
        if ".data-" in name:
            (logdir / "checkpoints" / name).write_bytes(b"not a checkpoint")
    result = run_command(["-m", "tfa3c.cli", "train", algo, "--env", "CartPole-v1",
                          "--logdir", str(logdir), "--resume", "--no-export"])
    assert_one_line_error(result, "is corrupt or does not fit")


def test_export_of_a_checkpoint_that_does_not_fit_its_network_is_one_line(small_run, tmp_path):
    logdir = copy_run(small_run, tmp_path / "run")
    description = json.loads((logdir / "checkpoints" / "network.json").read_text())
    description["keras"]["config"]["lstm_units"] = 12
    (logdir / "checkpoints" / "network.json").write_text(json.dumps(description))
    result = run_command(["-m", "tfa3c.cli", "export", str(logdir), "--export-dir",
                          str(tmp_path / "out")])
    assert_one_line_error(result, "does not fit")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_unwritable_logdir_is_one_line_and_writes_nothing(tmp_path, where):
    if where == "under-a-file":
        (tmp_path / "file").write_text("a file, not a folder")
        logdir = tmp_path / "file" / "run"
    else:  # /proc refuses new entries even to root
        logdir = "/proc/tfa3c-test-run"
    before = sorted(os.listdir(tmp_path))
    exports = ROOT / "savedmodels" / "ga3c_cartpole"
    versions = sorted(os.listdir(exports))
    result = run_command(["examples/ga3c_cartpole.py", "--logdir", str(logdir)])
    assert_one_line_error(result, "cannot write the run folder --logdir", str(logdir))
    assert sorted(os.listdir(tmp_path)) == before
    assert sorted(os.listdir(exports)) == versions  # no export either


# Export rebuilds the trained network ----------------------------------------------------
@pytest.mark.parametrize("algo", ["a3c", "ga3c"])
def test_export_rebuilds_exactly_the_trained_network(algo, tmp_path, capsys):
    if algo == "a3c":
        config = a3c_config(tmp_path, lstm_units=8, lstm_cell_clip=0.5, max_steps=1500,
                            workers=1)
        algorithm = A3C(config)
    else:
        algorithm = GA3C(ga3c_config(tmp_path, hidden_sizes=(32, 8), max_steps=1500))
    algorithm.learn()
    assert cli.main(["export", config_logdir(algorithm), "--export-dir",
                     str(tmp_path / "models")]) == 0
    path = capsys.readouterr().out.strip().splitlines()[-1]
    action = tf.saved_model.load(path).signatures["action"]
    model = algorithm.model
    # Large observations drive the LSTM's cell state past the clip within a few steps.
    observations = np.random.default_rng(0).normal(scale=5.0, size=(6, 4, 4)).astype(np.float32)
    if algo == "a3c":
        state = model.initial_state(4)
        unclipped = type(model)(model.num_actions, encoder="lstm", lstm_units=model.lstm_units,
                                normalize_observations=model.normalize_observations)
        unclipped.build((None, None, 4))
        unclipped.set_weights(model.get_weights())
        free_state = unclipped.initial_state(4)
        served = {"state_h": state[0], "state_c": state[1]}
        differs = False
        for step in observations:
            out = action(observation=tf.constant(step), **served)
            _, values, state = model.step(step, state)
            _, free_values, free_state = unclipped.step(step, free_state)
            np.testing.assert_allclose(out["value"].numpy(), values.numpy(), rtol=3e-5, atol=1e-5)
            np.testing.assert_allclose(out["state_c"].numpy(), state[1].numpy(), rtol=3e-5,
                                       atol=1e-5)
            differs |= not np.allclose(free_values.numpy(), values.numpy(), atol=1e-4)
            served = {"state_h": out["state_h"], "state_c": out["state_c"]}
        assert np.abs(state[1].numpy()).max() == pytest.approx(0.5)
        assert differs, "the clip made no difference: this test could not catch its loss"
    else:
        out = action(observation=tf.constant(observations[0]))
        logits, values = model(observations[0])
        np.testing.assert_allclose(out["value"].numpy(), values.numpy(), rtol=3e-5, atol=1e-5)
        np.testing.assert_allclose(out["probabilities"].numpy(),
                                   tf.nn.softmax(logits).numpy(), atol=1e-5)
        assert [layer.units for layer in model.torso.dense_layers] == [32, 8]


def config_logdir(algorithm):
    return algorithm.logdir


def test_csv_is_cut_back_to_the_checkpoint_by_steps_and_count(tmp_path):
    from tfa3c.run_logs import trim_to_checkpoint

    path = tmp_path / "episodes.csv"
    header = "wall_time,env_steps,return,length\n"
    rows = [f"{i}.000,{100 * i},{i}.0,{i}\n" for i in range(1, 8)]
    path.write_text(header + "".join(rows) + "7.5,75")  # a last line cut short by kill -9
    assert trim_to_checkpoint(str(path), episodes=5, env_steps=400) == 4
    assert path.read_text() == header + "".join(rows[:4])  # the 5th row is after step 400
    # Fewer rows than the checkpoint counted (an older run): nothing more is cut.
    assert trim_to_checkpoint(str(path), episodes=9, env_steps=10_000) == 0
    assert path.read_text() == header + "".join(rows[:4])


def test_the_writability_check_leaves_no_folder_behind(tmp_path, monkeypatch):
    import builtins

    from tfa3c.errors import UserInputError
    from tfa3c.run_folder import check_writable

    real_open = builtins.open

    def refusing_open(path, *args, **kwargs):
        if ".write-check-" in str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    with pytest.raises(UserInputError, match="cannot write the run folder --logdir"):
        check_writable(str(tmp_path / "a" / "b" / "run"))
    assert list(tmp_path.iterdir()) == []  # a/b/run/checkpoints made, then removed


def test_a_folder_with_checkpoints_needs_resume(small_run):
    result = run_command(["-m", "tfa3c.cli", "train", "a3c", "--env", "CartPole-v1",
                          "--logdir", str(small_run), "--lstm-units", "8"])
    assert_one_line_error(result, "already holds a run's checkpoints", "--resume")


def test_a_failing_final_checkpoint_does_not_hide_the_thread_failure(tmp_path, monkeypatch):
    failed_at = []
    monkeypatch.setattr(A3CWorker, "collect", fail_after(3, A3CWorker.collect, failed_at))
    algorithm = A3C(a3c_config(tmp_path, stop_when_solved=False, max_seconds=60))

    def full_disk(counters):
        raise OSError(28, "No space left on device")

    algorithm.checkpointer.save = full_disk
    with pytest.raises(TrainingError) as raised:
        algorithm.learn()
    message = str(raised.value)
    assert "thread a3c-worker-" in message and "injected failure" in message
    assert "the final checkpoint failed: OSError" in message and "\n" not in message


def test_target_return_decides_when_a_run_is_solved(tmp_path):
    summary = GA3C(ga3c_config(tmp_path, target_return=15.0, max_seconds=60)).learn()
    assert summary["solved"] and summary["stop_reason"] == "solved"
    assert 15.0 <= summary["mean_return_100"] < 475.0
