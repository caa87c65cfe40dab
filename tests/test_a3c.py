import signal
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfa3c.algorithms.a3c import A3C, A3CWorker
from tfa3c.algorithms.config import A3CConfig
from tfa3c.envs import EnvironmentGroup
from tfa3c.signals import StopSignals


def small_config(tmp_path, **changes):
    values = dict(env_id="CartPole-v1", workers=2, envs_per_worker=2, n_steps=10,
                  logdir=str(tmp_path / "run"), progress_bar="none", log_interval=0.5)
    values.update(changes)
    return A3CConfig(**values)


def worker_threads():
    return [t for t in threading.enumerate() if t.name.startswith("a3c-worker")]


def test_short_run_changes_global_weights_stops_at_budget_and_joins(tmp_path, monkeypatch):
    acted = []
    rollout = A3CWorker.rollout

    def recorded(worker, *args):
        acted.append(worker.index)
        return rollout(worker, *args)

    monkeypatch.setattr(A3CWorker, "rollout", recorded)
    algorithm = A3C(small_config(tmp_path, max_steps=3000))
    before = [w.copy() for w in algorithm.learner.weights()]
    summary = algorithm.learn()
    after = algorithm.learner.weights()
    assert any(np.abs(a - b).max() > 0 for a, b in zip(after, before, strict=True))
    assert summary["stop_reason"] == "max_steps"
    assert 3000 <= summary["env_steps"] < 3000 + 2 * 2 * 10 * 2
    assert worker_threads() == []
    # Each thread ran its own worker (the tutorial's late-bound lambda ran one twice).
    assert set(acted) == {0, 1}
    assert set(summary) >= {"algo", "env", "seed", "solved", "seconds", "env_steps",
                            "episodes", "steps_per_second", "mean_return_100"}
    run = tmp_path / "run"
    assert (run / "episodes.csv").read_text().splitlines()[0] == "wall_time,env_steps,return,length"
    assert len((run / "episodes.csv").read_text().splitlines()) > 10
    assert list(run.glob("events.out.tfevents.*"))
    assert tf.train.latest_checkpoint(str(run / "checkpoints")) is not None


def test_max_seconds_stops(tmp_path):
    summary = A3C(small_config(tmp_path, max_seconds=2, stop_when_solved=False)).learn()
    assert summary["stop_reason"] == "max_seconds"
    assert 2 <= summary["seconds"] < 10


def make_worker(tmp_path, **changes):
    config = small_config(tmp_path, **changes)
    algorithm = A3C(config)
    worker = A3CWorker(0, algorithm.config)
    worker.pull(algorithm.learner.weights())
    return algorithm, worker


def test_bootstrap_uses_the_state_after_the_last_step(tmp_path):
    algorithm, worker = make_worker(tmp_path, envs_per_worker=3, n_steps=6)
    rollout = worker.collect()
    # The weights and observation statistics the worker pulled and acted with
    # (computing the gradient moves the statistics).
    model = algorithm.model
    env = 0
    # Value of the observation after the rollout, through the LSTM run over the rollout.
    steps = rollout.observations[:, env]
    starts = np.flatnonzero(rollout.episode_starts[:, env])
    first = starts[-1] if len(starts) else 0
    state = (initial_state(rollout, [env]) if first == 0 else model.initial_state(1))
    for t in range(first, 6):
        _, _, state = model.step(steps[t:t + 1], state)
    if not (rollout.terminated[-1, env] or rollout.truncated[-1, env]):
        _, value, _ = model.step(worker.envs.observations[env:env + 1], state)
        np.testing.assert_allclose(rollout.next_values[-1, env], value.numpy()[0], atol=1e-5)


def initial_state(rollout, envs):
    """The `(h, c)` a rollout started from, for environments `envs`."""
    h, c = np.split(rollout.initial_states[envs], 2, axis=1)
    return h, c


def gradients_under_acting_statistics(worker, rollout):
    """The worker's gradients, then the observation statistics put back as they were.

    Computing a gradient merges the rollout into the running observation statistics; a
    reference computed afterwards must see those the gradient was taken under.
    """
    normalizer = worker.normalizer
    assert normalizer is not None  # A3C's default
    before = normalizer.statistics.numpy()
    result = worker.compute_gradients(rollout)
    assert not np.allclose(normalizer.statistics.numpy(), before)
    normalizer.statistics.assign(before)
    return result


def reference_gradients(model, config, rollout, envs, start_state=None):
    """Clipped gradients of the loss on `envs`' steps, through the Keras model's step path.

    An episode that starts inside the rollout starts from a zero LSTM state; the others
    continue from `start_state` (default: the state the rollout started from).
    """
    from tfa3c.algorithms.losses import actor_critic_loss
    from tfa3c.algorithms.returns import returns_and_advantages, standardize

    returns, advantages = returns_and_advantages(
        rollout.rewards, rollout.values, rollout.terminated, rollout.truncated,
        rollout.next_values, config.gamma, config.gae_lambda)
    if config.normalize_advantages:  # over the update group's steps: these environments'
        advantages = advantages.copy()
        advantages[:, envs] = standardize(advantages[:, envs])
    state = start_state or initial_state(rollout, envs)
    if not model.recurrent:
        state = ()
    with tf.GradientTape() as tape:
        logits, values = [], []
        for t in range(rollout.observations.shape[0]):
            if model.recurrent and rollout.episode_starts[t, envs].any():
                keep = (~rollout.episode_starts[t, envs])[:, None].astype(np.float32)
                state = (state[0] * keep, state[1] * keep)
            step_logits, step_values, state = model.step(rollout.observations[t, envs], state)
            logits.append(step_logits)
            values.append(step_values)
        loss, _ = actor_critic_loss(tf.stack(logits), tf.stack(values),
                                    rollout.actions[:, envs], advantages[:, envs],
                                    returns[:, envs], None, config.value_coef,
                                    config.entropy_coef, kind=model.action_spec.kind)
    gradients = tape.gradient(loss, model.trainable_variables)
    return tf.clip_by_global_norm(gradients, config.clip_norm)[0]


@pytest.mark.parametrize("encoder", ["lstm", "mlp-lstm"])
def test_training_replays_from_the_rollouts_initial_state(tmp_path, encoder):
    algorithm, worker = make_worker(tmp_path, envs_per_worker=1, n_steps=5, encoder=encoder,
                                    hidden_sizes=(8,), lstm_units=6)
    model = algorithm.model  # holds the weights the worker pulled
    worker.collect()
    rollout = worker.collect()  # the second rollout starts mid-episode...
    if rollout.episode_starts[0, 0]:
        rollout = worker.collect()
    assert np.abs(rollout.initial_states).max() > 0  # ...from a non-zero LSTM state
    gradients, _ = gradients_under_acting_statistics(worker, rollout)
    expected = reference_gradients(model, worker.config, rollout, [0])
    zeros = np.zeros_like(initial_state(rollout, [0])[0])
    zero_state = reference_gradients(model, worker.config, rollout, [0], (zeros, zeros))
    for got, want in zip(gradients, expected, strict=True):
        np.testing.assert_allclose(got[0], want, rtol=3e-5, atol=1e-5)  # the only update group
    assert max(np.abs(a - b).max() for a, b in zip(expected, zero_state, strict=True)) > 1e-6


@pytest.mark.parametrize("options", [
    dict(encoder="lstm"),
    dict(encoder="mlp", hidden_sizes=(8, 8)),
    dict(encoder="mlp-lstm", hidden_sizes=(8,), lstm_units=6),
    dict(encoder="mlp", env_id="Pendulum-v1"),  # Gaussian
    dict(encoder="lstm", env_id="Pendulum-v1", reward_scale=1.0),
], ids=["lstm", "mlp", "mlp-lstm", "mlp-gaussian", "lstm-gaussian"])
def test_each_update_group_gets_the_gradient_of_its_own_environments(tmp_path, options):
    algorithm, worker = make_worker(tmp_path, envs_per_worker=5, envs_per_update=2, n_steps=8,
                                    **options)
    assert [group.tolist() for group in worker.groups] == [[0, 1], [2, 3], [4]]
    worker.collect()
    rollout = worker.collect()
    gradients, metrics = gradients_under_acting_statistics(worker, rollout)
    assert metrics.shape == (3, 5)
    model = algorithm.model  # holds the weights the worker pulled
    for index, envs in enumerate(worker.groups):
        expected = reference_gradients(model, worker.config, rollout, envs)
        for got, want in zip(gradients, expected, strict=True):
            np.testing.assert_allclose(got[index], want, rtol=3e-5, atol=1e-5)

    # The learner applies the three gradients one after another, in one call.
    reference = keras.optimizers.Adam(worker.config.learning_rate,
                                      epsilon=worker.config.adam_epsilon)
    variables = [tf.Variable(v) for v in algorithm.learner.model.trainable_variables]
    reference.build(variables)
    for index in range(3):
        reference.apply([g[index] for g in gradients], variables)
    after, applied, version = algorithm.learner.apply(gradients)
    assert version == 1
    assert applied.all()
    np.testing.assert_allclose(after, np.concatenate([v.numpy().ravel() for v in variables]),
                               atol=1e-6)


def test_every_step_is_trained_on_including_short_episode_tails(tmp_path):
    # The tutorial never trained on an episode's last part when it was shorter than the
    # mini-batch. Here an episode starts two steps before the end of the rollout: what
    # the network sees at the very last step must still change the gradient.
    _, worker = make_worker(tmp_path, envs_per_worker=1, n_steps=8)
    rollout = worker.collect()
    rollout.episode_starts[6, 0] = True
    base, _ = worker.compute_gradients(rollout)
    rollout.observations[7, 0] += 0.5
    changed, _ = worker.compute_gradients(rollout)
    differences = [np.abs(a.numpy() - b.numpy()).max() for a, b in zip(base, changed, strict=True)]
    assert max(differences) > 1e-6


def test_truncation_is_not_termination():
    import gymnasium as gym

    group = EnvironmentGroup("CartPole-v1", 2, seed=0)
    group.envs = [gym.make("CartPole-v1", max_episode_steps=3) for _ in range(2)]
    for index, env in enumerate(group.envs):
        group.observations[index] = env.reset(seed=index)[0]
    results = [group.step(np.zeros(2, int)) for _ in range(3)]
    last = results[-1]
    assert last.truncated.all() and not last.terminated.any()
    assert last.final_observations.shape == (2, 4)
    assert last.episode_lengths == [3, 3]
    assert not np.allclose(last.final_observations, last.observations)


def test_resume_continues_counters(tmp_path):
    first = A3C(small_config(tmp_path, max_steps=2000)).learn()
    config = small_config(tmp_path, max_steps=4000, resume=True)
    resumed = A3C(config)
    assert resumed.statistics.env_steps >= first["env_steps"]
    summary = resumed.learn()
    assert summary["stop_reason"] == "max_steps"
    assert resumed.statistics.env_steps >= 4000


def test_signal_handler_takes_no_lock():
    # The handler runs in the main thread between two bytecodes, which can be inside
    # Event.wait while the event's internal (non-reentrant) lock is held. A handler that
    # set the event there deadlocked now and then. Here a thread holds that lock and
    # runs the handler, as the main thread would: it must return at once.
    stop_event = threading.Event()
    with StopSignals() as signals:
        handler = signal.getsignal(signal.SIGTERM)

        def interrupted_wait():
            with stop_event._cond:
                handler(signal.SIGTERM, None)

        thread = threading.Thread(target=interrupted_wait, daemon=True)
        thread.start()
        thread.join(5)
        assert not thread.is_alive(), "the signal handler blocked on the stop event's lock"
        assert signals.pending == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is not handler  # put back
