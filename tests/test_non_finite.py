"""One NaN from an environment must not destroy a run: it is stopped at the environment,
at the update, at the checkpoint and at the export (tests/nan_env.py holds the buggy
environments a user might bring)."""

import dataclasses
import logging
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tfa3c.algorithms.a3c import A3C, GlobalLearner
from tfa3c.algorithms.config import A3CConfig, GA3CConfig
from tfa3c.algorithms.ga3c import GA3C, Learner
from tfa3c.algorithms.rollouts import Sequences
from tfa3c.checkpoints import Checkpointer
from tfa3c.errors import CheckpointError, TrainingError
from tfa3c.numerics import NonFiniteError, UpdateSkips
from tfa3c.policies.actor_critic import ActorCritic, build_model
from tfa3c.run_logs import RunLogs
from tfa3c.statistics import Counters
from tfa3c.tf_runtime import make_strategy

from .conftest import run_command

NAN_ENV = "tests.nan_env:NaNCartPole-v0"


def build(algo, tmp_path, **changes):
    if algo == "a3c":
        values = dict(workers=2, envs_per_worker=2, n_steps=10)
        cls, config_class = A3C, A3CConfig
    else:
        values = dict(agents=2, envs_per_agent=2)
        cls, config_class = GA3C, GA3CConfig
    values.update(env_id=NAN_ENV, env_kwargs={"nan_at": 300}, stop_when_solved=False,
                  max_seconds=60, logdir=str(tmp_path / "run"), progress_bar="none",
                  log_interval=0.5)
    values.update(changes)
    return cls(config_class(**values))


def non_finite_in_checkpoint(path):
    reader = tf.train.load_checkpoint(path)
    dtypes = reader.get_variable_to_dtype_map()
    return [name for name, dtype in dtypes.items()
            if dtype.is_floating and not np.isfinite(reader.get_tensor(name)).all()]


# At the environment ---------------------------------------------------------------------
@pytest.mark.parametrize(("algo", "hosting"), [("a3c", "threads"), ("ga3c", "threads"),
                                               ("a3c", "processes"), ("ga3c", "processes")])
def test_a_nan_from_the_environment_stops_the_run_naming_where(algo, hosting, tmp_path):
    algorithm = build(algo, tmp_path, hosting=hosting)
    with pytest.raises(TrainingError) as raised:
        algorithm.learn()
    message = str(raised.value)
    role = "a3c-worker-" if algo == "a3c" else "ga3c-agent-"
    assert f"thread {role}" in message, message
    assert "of 2 (tests.nan_env:NaNCartPole-v0) at its step 300 returned a non-finite " \
           "observation (nan at [0, 1, 2, 3]) and reward (nan)" in message, message
    assert f": {role}" in message  # the role is named by the environments themselves too
    # Training stopped there: its final checkpoint is whole and finite, as are all before.
    latest = tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints"))
    assert latest == algorithm.final_checkpoint and f"final checkpoint {latest}" in message
    assert non_finite_in_checkpoint(latest) == []
    assert 0 < algorithm.statistics.env_steps < 2000


def test_skip_mode_ends_the_episode_counts_and_logs_each_skip(tmp_path, caplog):
    algorithm = build("ga3c", tmp_path, non_finite="skip", max_steps=3000, max_seconds=None)
    with caplog.at_level(logging.WARNING, logger="tfa3c"):
        summary = algorithm.learn()
    # Each of the 4 environments returns NaN once, at its step 300.
    assert summary["stop_reason"] == "max_steps"
    assert summary["skipped_transitions"] == 4
    skips = [r.getMessage() for r in caplog.records if "transition skipped" in r.getMessage()]
    assert len(skips) == 4 and all("at its step 300" in line for line in skips)
    # The cut episodes are not counted; every counted return is finite.
    assert all(np.isfinite(algorithm.statistics.recent_returns))
    assert non_finite_in_checkpoint(algorithm.final_checkpoint) == []


def test_an_observation_of_another_shape_is_named(tmp_path):
    algorithm = build("a3c", tmp_path, env_id="tests.nan_env:ShapeShiftCartPole-v0",
                      env_kwargs={"shift_at": 30})
    with pytest.raises(TrainingError) as raised:
        algorithm.learn()
    message = str(raised.value)
    assert "a3c-worker-" in message and "(tests.nan_env:ShapeShiftCartPole-v0) at its " \
           "step 30 returned an observation of shape (5,) and dtype float32; its " \
           "observation space declares shape (4,) and dtype float32" in message, message
    assert non_finite_in_checkpoint(algorithm.final_checkpoint) == []


def test_the_non_finite_option_is_checked():
    with pytest.raises(ValueError, match="invalid non_finite='warn': must be one of error, skip"):
        A3CConfig(non_finite="warn")


# At the update ---------------------------------------------------------------------------
def ga3c_learner(devices=("/cpu:0",)):
    strategy = make_strategy(devices)
    with strategy.scope():
        model = build_model(ActorCritic(2, encoder="mlp", hidden_sizes=(8,), seed=1), 4)
        optimizer = keras.optimizers.RMSprop(1e-2)
        optimizer.build(model.trainable_variables)
    return Learner(model, optimizer, strategy, GA3CConfig(), 3), model, optimizer


def state_of(model, optimizer):
    return [v.numpy().copy() for v in [*model.variables, *optimizer.variables]]


def test_ga3c_skips_a_step_whose_loss_is_not_finite():
    learner, model, optimizer = ga3c_learner()
    rng = np.random.default_rng(0)
    sequences = Sequences(
        observations=rng.normal(size=(5, 3, 4)).astype(np.float32),
        actions=rng.integers(0, 2, (5, 3)).astype(np.int32),
        log_probs=np.full((5, 3), np.log(0.5), np.float32),
        rewards=rng.normal(size=(5, 3)).astype(np.float32),
        next_values=rng.normal(size=(5, 3)).astype(np.float32),
        terminated=np.zeros((5, 3), np.float32), truncated=np.zeros((5, 3), np.float32),
        policy_versions=np.zeros((5, 3), np.int64), episode_starts=np.zeros((5, 3), np.float32),
        initial_states=np.zeros((5, 0), np.float32))
    before = state_of(model, optimizer)
    for poison in (np.nan, np.inf):
        bad = sequences.rewards.copy()
        bad[2, 1] = poison
        metrics = learner.train(dataclasses.replace(sequences, rewards=bad))
        assert metrics["skipped"] == 1.0
        for old, new in zip(before, state_of(model, optimizer), strict=True):
            np.testing.assert_array_equal(old, new)  # weights, slots and step count
    metrics = learner.train(sequences)
    assert metrics["skipped"] == 0.0 and int(optimizer.iterations.numpy()) == 1
    assert any((old != new).any() for old, new in zip(before, state_of(model, optimizer),
                                                      strict=True))


def test_a3c_skips_exactly_the_update_groups_whose_gradient_is_not_finite():
    model = build_model(ActorCritic(2, encoder="mlp", hidden_sizes=(8,), seed=1), 4)
    initial = model.get_weights()
    rng = np.random.default_rng(1)
    good = [rng.normal(size=v.shape).astype(np.float32) for v in model.trainable_variables]
    bad = [g.copy() for g in good]
    bad[0].flat[3] = np.nan

    def applied(gradients, usable=None):
        model.set_weights(initial)
        optimizer = keras.optimizers.Adam(1e-2)
        optimizer.build(model.trainable_variables)
        learner = GlobalLearner(model, optimizer, updates_per_apply=len(gradients))
        stacked = [np.stack(parts) for parts in zip(*gradients, strict=True)]
        weights, mask, _ = learner.apply(stacked, usable)
        return weights, mask, int(optimizer.iterations.numpy())

    reference, mask, steps = applied([good])
    assert mask.tolist() == [True] and steps == 1
    weights, mask, steps = applied([bad, good])  # the NaN group is skipped, the other applied
    assert mask.tolist() == [False, True] and steps == 1
    np.testing.assert_array_equal(weights, reference)
    # A group the caller marks unusable (its loss was not finite) is skipped too.
    weights, mask, steps = applied([good, good], np.array([True, False]))
    assert mask.tolist() == [True, False] and steps == 1
    np.testing.assert_array_equal(weights, reference)


def test_updates_skipped_in_a_row_stop_the_run_saying_when_it_began():
    elapsed = iter([12.5, 99.0])
    skips = UpdateSkips(3, clock=lambda: next(elapsed))
    skips.record(1, 0, env_steps=100)
    skips.record(0, 1, env_steps=200)  # an applied step ends the streak
    skips.record(2, 0, env_steps=300)
    with pytest.raises(NonFiniteError, match=r"3 updates in a row had a non-finite loss or "
                                             r"gradient, the first at env step 300 \(99.0 s"):
        skips.record(1, 0, env_steps=400)
    assert skips.total == 4


@pytest.mark.parametrize("algo", ["a3c", "ga3c"])
def test_a_gradient_that_overflows_never_reaches_the_weights(algo, tmp_path):
    # Rewards of 3e38 are finite, but returns and losses overflow float32.
    algorithm = build(algo, tmp_path, env_id="tests.nan_env:HugeRewardCartPole-v0",
                      env_kwargs={}, normalize_rewards=False)
    with pytest.raises(TrainingError) as raised:
        algorithm.learn()
    message = str(raised.value)
    assert "failed with NonFiniteError:" in message
    assert "updates in a row had a non-finite loss or gradient, the first at env step" in message
    assert algorithm.update_skips.total >= 10
    assert non_finite_in_checkpoint(algorithm.final_checkpoint) == []


def test_scalars_beyond_float32_or_not_finite_are_logged_not_raised(tmp_path):
    # A Python float near the float64 limit is refused by TensorFlow's conversion; a run
    # whose returns overflow must still log them (as infinities) and fail on the update.
    logs = RunLogs(str(tmp_path))
    values = {"huge": sys.float_info.max, "minus": -1e300, "nan": float("nan"), "plain": 2.5}
    logs.write_scalars(values, step=7)
    logs.close()
    accumulator = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    accumulator.Reload()
    written = {name: float(tf.make_ndarray(accumulator.Tensors(name)[0].tensor_proto))
               for name in values}
    assert written["huge"] == np.inf and written["minus"] == -np.inf
    assert np.isnan(written["nan"]) and written["plain"] == 2.5
    assert accumulator.Tensors("plain")[0].step == 7


# Checkpoints, resume and export ----------------------------------------------------------
def test_a_checkpoint_of_non_finite_weights_is_refused_and_the_last_finite_one_kept(tmp_path):
    model = build_model(ActorCritic(2, encoder="mlp", hidden_sizes=(8,)), 4)
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    checkpointer = Checkpointer(str(tmp_path), model, optimizer)
    first = checkpointer.save(Counters(100, 1, (10.0,), 1.0))
    model.trainable_variables[0].assign(tf.fill(model.trainable_variables[0].shape, np.nan))
    with pytest.raises(NonFiniteError, match=rf"refused to write a checkpoint: non-finite "
                                             rf"values in .*; the last finite checkpoint is "
                                             rf"{first}"):
        checkpointer.save(Counters(200, 2, (10.0,), 2.0))
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")) == first


@pytest.fixture(scope="module")
def poisoned_run(tmp_path_factory):
    """A short A3C run whose newest checkpoint holds NaN weights (written past the guard)."""
    logdir = tmp_path_factory.mktemp("poisoned") / "run"
    algorithm = A3C(A3CConfig(workers=1, envs_per_worker=2, n_steps=10, max_steps=200,
                              logdir=str(logdir), progress_bar="none"))
    algorithm.learn()
    variable = algorithm.model.trainable_variables[0]
    variable.assign(tf.fill(variable.shape, np.inf))
    algorithm.checkpointer.manager.save(checkpoint_number=300)
    return logdir


def test_resume_from_a_non_finite_checkpoint_is_refused(poisoned_run):
    with pytest.raises(CheckpointError, match=r"ckpt-300 holds non-finite values in .*; it "
                                              r"cannot be resumed"):
        A3C(A3CConfig(workers=1, envs_per_worker=2, n_steps=10, logdir=str(poisoned_run),
                      resume=True, progress_bar="none"))


def test_export_of_a_non_finite_checkpoint_is_one_line_and_writes_nothing(poisoned_run,
                                                                         tmp_path):
    result = run_command(["-m", "tfa3c.cli", "export", str(poisoned_run), "--export-dir",
                          str(tmp_path / "out")])
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "refused to export: the weights hold non-finite values in" in lines[0]
    assert not (tmp_path / "out").exists()

