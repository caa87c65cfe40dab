import json
import os
import pathlib
import subprocess
import sys
import threading

import numpy as np
import pytest

from tfa3c.algorithms.config import GA3CConfig
from tfa3c.algorithms.ga3c import GA3C, GA3CAgent, epsilon_at
from tfa3c.envs import Transition
from tfa3c.policies.acting import softmax
from tfa3c.policies.distributions import ActionSpec

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_command(args, timeout=120):
    """Runs `python ARGS` from the repository root as a user would (no TF log settings)."""
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def small_config(tmp_path, **overrides) -> GA3CConfig:
    options = dict(agents=2, envs_per_agent=2, progress_bar="none", log_interval=0.5,
                   logdir=str(tmp_path / "run"))
    options.update(overrides)
    return GA3CConfig(**options)


def live_ga3c_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate()
            if thread.name.startswith("ga3c-") and thread.is_alive()]


# n-step returns ---------------------------------------------------------------------------
class ScriptedEnvs:
    """Three environments whose observations, rewards and episode ends follow a script.

    The first component of an observation is its value under the fake predictor below:
    100 + 10 t + env for the observation acted on at step t, 7 and 3 for the final
    observations of the two truncated episodes.
    """

    num_envs, num_actions, observation_size = 3, 2, 2
    action_spec = ActionSpec("categorical", 2)

    def __init__(self):
        self.t = 0
        self.observations = self._observations(0)
        # step t: (terminated, truncated) per env
        self.script = {
            0: ([False, False, False], [False, False, True]),  # env 2 cut at its first step
            1: ([True, False, False], [False, False, False]),  # env 0: a 2-step episode
            2: ([False, False, True], [False, True, False]),  # env 1 cut at the last step
            3: ([False, False, False], [False, False, False]),  # the next rollout's first
        }
        self.finals = {0: [[3.0, 0.0]], 2: [[7.0, 0.0]]}

    def _observations(self, t):
        return np.array([[100.0 + 10 * t + env, 1.0] for env in range(3)], np.float32)

    def step(self, actions):
        terminated, truncated = self.script[self.t]
        rewards = np.array([1.0 + self.t + 10 * env for env in range(3)], np.float32)
        finals = np.array(self.finals.get(self.t, np.empty((0, 2))), np.float32)
        self.t += 1
        self.observations = self._observations(self.t)
        return Transition(self.observations, rewards, np.array(terminated), np.array(truncated),
                          finals, [], [])

    def close(self):
        pass


def test_agent_builds_n_step_returns_by_hand(tmp_path):
    gamma, scale = 0.5, 0.5
    config = small_config(tmp_path, n_steps=3, gamma=gamma, reward_scale=scale,
                          normalize_rewards=False)
    agent = GA3CAgent(0, config, envs=ScriptedEnvs())
    requested = []
    experience = None
    for step in range(4):  # the rollout is complete once step 3's values are known
        observations, states = agent.request()
        assert states is None  # a feed-forward policy
        requested.append(observations[:, 0].tolist())
        probabilities = np.full((len(observations), 2), 0.5)
        experience, _ = agent.step(probabilities, observations[:, 0].copy(), policy_version=step)
        assert (experience is None) == (step < 3)
    # Final observations ride along with the next request, after the current ones.
    assert requested[1] == [110.0, 111.0, 112.0, 3.0]
    assert requested[3] == [130.0, 131.0, 132.0, 7.0]

    def reward(t, env):
        return scale * (1.0 + t + 10 * env)

    g = gamma
    expected = np.zeros((3, 3))
    # env 0: terminated at t=1 (an episode shorter than n), then live to the end: V(130).
    expected[1, 0] = reward(1, 0)
    expected[0, 0] = reward(0, 0) + g * reward(1, 0)
    expected[2, 0] = reward(2, 0) + g * 130.0
    # env 1: truncated at the last step: V(final observation) = 7, not V(131).
    expected[2, 1] = reward(2, 1) + g * 7.0
    expected[1, 1] = reward(1, 1) + g * expected[2, 1]
    expected[0, 1] = reward(0, 1) + g * expected[1, 1]
    # env 2: truncated at t=0: V(final observation) = 3; terminated at t=2: 0.
    expected[0, 2] = reward(0, 2) + g * 3.0
    expected[2, 2] = reward(2, 2)
    expected[1, 2] = reward(1, 2) + g * expected[2, 2]
    # One sequence per environment: [envs, time].
    np.testing.assert_allclose(experience.returns(gamma).T, expected, rtol=1e-6)
    np.testing.assert_array_equal(experience.observations[..., 0].T,
                                  [[100, 101, 102], [110, 111, 112], [120, 121, 122]])
    np.testing.assert_array_equal(experience.policy_versions.T,
                                  [[0, 0, 0], [1, 1, 1], [2, 2, 2]])
    assert experience.actions.shape == (3, 3) and len(experience) == 9
    # The behaviour policy's probability of every action taken: one half.
    np.testing.assert_allclose(experience.log_probs, np.full((3, 3), np.log(0.5)), rtol=1e-6)
    # Every environment's first step starts an episode; env 0 ends one at t=1 (so t=2
    # starts one), env 2 at t=0 (truncated).
    np.testing.assert_array_equal(experience.episode_starts.T,
                                  [[1, 1, 1], [0, 0, 1], [1, 0, 0]])


def test_recurrent_agent_carries_resets_and_bootstraps_from_the_right_states(tmp_path):
    # A fake predictor whose next state is the observation's first component (+ 0.5), so
    # that every state names the observation that produced it.
    config = small_config(tmp_path, n_steps=3)
    agent = GA3CAgent(0, config, envs=ScriptedEnvs(), state_size=1)
    sent = []
    experience = None
    for step in range(4):
        observations, states = agent.request()
        assert states.shape == (len(observations), 2)
        sent.append(states[:, 0].tolist())
        following = np.repeat(observations[:, :1] + 0.5, 2, axis=1).astype(np.float32)
        experience, _ = agent.step(np.full((len(observations), 2), 0.5),
                                   observations[:, 0].copy(), step, states=following)
    # Step 0 starts from zeros. Env 2 was truncated at step 0: its state was reset, and its
    # final observation went with the state that produced its last action (100.5 + 2).
    assert sent[0] == [0.0, 0.0, 0.0]
    assert sent[1] == [100.5, 101.5, 0.0, 102.5]
    # Env 0 terminated at step 1: reset, no final observation.
    assert sent[2] == [0.0, 111.5, 112.5]
    # Env 1 truncated at step 2 (its final observation goes with 121.5), env 2 terminated.
    assert sent[3] == [120.5, 0.0, 0.0, 121.5]
    np.testing.assert_array_equal(experience.initial_states, np.zeros((3, 2)))
    # The next rollout starts from the states after step 2.
    assert agent.rollout.initial_states[:, 0].tolist() == sent[3][:3]


def test_epsilon_schedule():
    config = GA3CConfig(exploration=True)
    assert epsilon_at(config, 0) == pytest.approx(0.4)
    assert epsilon_at(config, 37_500) == pytest.approx(0.275)
    assert epsilon_at(config, 10**6) == pytest.approx(0.15)
    assert epsilon_at(config.replace(exploration=False), 0) == 0.0
    assert not GA3CConfig().exploration  # the policy's sampling explores by default


# Predictors -------------------------------------------------------------------------------
def test_one_forward_pass_answers_several_agents(tmp_path):
    algorithm = GA3C(small_config(tmp_path, agents=3))
    sizes = []
    predict = algorithm.predictor.predict

    def counting(observations, states):
        sizes.append(len(observations))
        return predict(observations, states)

    algorithm.predictor.predict = counting
    agents = [GA3CAgent(index, algorithm.config, algorithm.model.state_size)
              for index in range(3)]
    for agent in agents:
        algorithm.prediction_queue.put((agent.index, *agent.request()))
    predictor = threading.Thread(target=algorithm._run_predictor, args=(0,))
    predictor.start()
    try:
        responses = [queue.get(timeout=20) for queue in algorithm.response_queues]
    finally:
        algorithm.stop_event.set()
        predictor.join(10)
        for agent in agents:
            agent.close()
    assert not predictor.is_alive()
    assert sizes == [6]  # three requests of two observations, one forward pass
    for agent, (probabilities, values, _, version) in zip(agents, responses, strict=True):
        logits, expected_values = algorithm.model(agent.envs.observations)
        np.testing.assert_allclose(values, expected_values, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(probabilities, softmax(np.asarray(logits)), rtol=1e-5)
        assert version == 0


def test_sequences_split_into_whole_sequences_in_order():
    from tfa3c.algorithms.rollouts import Sequences

    rows, steps = 7, 3
    grid = np.arange(rows * steps, dtype=np.float32).reshape(rows, steps)
    sequences = Sequences(
        observations=grid[..., None], actions=grid.astype(np.int32), log_probs=grid,
        rewards=grid, next_values=grid, terminated=grid, truncated=grid,
        policy_versions=grid.astype(np.int64), episode_starts=grid,
        initial_states=np.arange(rows * 2, dtype=np.float32).reshape(rows, 2))
    groups = sequences.split(6)
    assert [group.rewards.shape for group in groups] == [(2, 3)] * 3 + [(1, 3)]
    joined = Sequences.concatenate(groups)
    for name in ("observations", "rewards", "initial_states", "policy_versions"):
        np.testing.assert_array_equal(getattr(joined, name), getattr(sequences, name))
    assert [len(group) for group in sequences.split(2)] == [3] * 7  # never cut inside one
    assert sequences.split(21) == [sequences]


def test_a_wide_rollout_trains_in_groups_of_its_sequences(tmp_path):
    # 8 games x 5 steps = 40 experiences per rollout; updates of at most 10 take two
    # whole 5-step sequences each, four updates per rollout.
    algorithm = GA3C(small_config(tmp_path, agents=1, envs_per_agent=8, n_steps=5,
                                  min_batch=10, max_batch=10, max_steps=2_000))
    shapes = []
    train = algorithm.learner.train

    def recording(sequences):
        shapes.append(sequences.rewards.shape)
        return train(sequences)

    algorithm.learner.train = recording
    summary = algorithm.learn()
    assert summary["env_steps"] >= 2_000
    assert len(shapes) >= 40
    assert set(shapes) == {(2, 5)}
    # later groups of one rollout were predicted by an older policy than they train on
    assert algorithm.policy_version == len(shapes)


# A short training run, shared by the tests below ------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("ga3c") / "run"
    # 120k steps: by then the mean return is 270-420 here (at 60k it was 180-250, and
    # once 87 on a loaded CI machine), well clear of the test's 100.
    algorithm = GA3C(GA3CConfig(max_steps=120_000, seed=1, progress_bar="none",
                                logdir=str(logdir)))
    summary = algorithm.learn()
    return algorithm, summary, live_ga3c_threads()


def test_learns_cartpole_well_above_random(trained):
    algorithm, summary, _ = trained
    assert summary["algo"] == "ga3c"
    assert summary["env_steps"] >= 120_000 or summary["solved"]
    # A random policy averages about 22.
    assert summary["mean_return_100"] > 100, summary
    assert algorithm.policy_version > 100


def test_predictors_batch_requests_during_training(trained):
    algorithm, _, _ = trained
    passes = sum(counters.forward_passes for counters in algorithm.predictor_counters)
    requests = sum(counters.requests for counters in algorithm.predictor_counters)
    assert requests / passes > 1.5, (requests, passes)


def test_shutdown_leaves_no_live_thread(trained):
    algorithm, _, alive = trained
    assert alive == []
    assert not any(thread.is_alive() for thread in algorithm.supervisor.threads)
    assert len(algorithm.supervisor.threads) == 4 + 1 + 1


# Distribution -----------------------------------------------------------------------------
REPLICA_CHECK = """
import dataclasses
import json
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import numpy as np
from tfa3c.policies.acting import softmax
from tfa3c.algorithms.config import GA3CConfig
from tfa3c.algorithms.ga3c import Learner
from tfa3c.algorithms.rollouts import Sequences
from tfa3c.tf_runtime import make_strategy
from tfa3c.policies.actor_critic import ActorCritic, build_model

rng = np.random.default_rng(0)
T = 3
# Sequences of 3 steps: uneven shards (37 sequences: 19 and 18), a replica with no
# sequence (1), an even batch; episodes start inside some; recurrent states to start from.
batches = [Sequences(
    observations=rng.normal(size=(rows, T, 4)).astype(np.float32),
    actions=rng.integers(0, 2, (rows, T)).astype(np.int32),
    log_probs=np.log(rng.uniform(0.2, 0.8, (rows, T))).astype(np.float32),
    rewards=rng.normal(size=(rows, T)).astype(np.float32),
    next_values=rng.normal(size=(rows, T)).astype(np.float32),
    terminated=(rng.random((rows, T)) < 0.1).astype(np.float32),
    truncated=(rng.random((rows, T)) < 0.1).astype(np.float32),
    policy_versions=np.zeros((rows, T), np.int64),
    episode_starts=(rng.random((rows, T)) < 0.2).astype(np.float32),
    initial_states=rng.normal(size=(rows, 2 * 5)).astype(np.float32)) for rows in (37, 1, 64)]
networks = {"mlp": lambda: ActorCritic(2, encoder="mlp", hidden_sizes=(16,)),
            "lstm": lambda: ActorCritic(2, encoder="mlp-lstm", hidden_sizes=(6,), lstm_units=5)}
results = {}
# One network shape per process: TensorFlow keys collectives by instance numbers that
# every new MirroredStrategy restarts, so two shapes in one process collide.
cases = {"mlp": (("sgd", None), ("sgd", 0.05), ("rmsprop", None)),
         "lstm": (("sgd", None), ("rmsprop", 0.5))}
encoder = sys.argv[1]
for optimizer_name, clip_norm in cases[encoder]:
    config = GA3CConfig(clip_norm=clip_norm)
    initial = [rng.normal(scale=0.5, size=w.shape).astype(np.float32)
               for w in build_model(networks[encoder](), 4).get_weights()]
    runs = []
    for devices in (("/cpu:0",), ("/cpu:0", "/cpu:1")):
        strategy = make_strategy(devices)
        with strategy.scope():
            model = build_model(networks[encoder](), 4)
            model.set_weights(initial)
            optimizer = (keras.optimizers.SGD(0.5) if optimizer_name == "sgd" else
                         keras.optimizers.RMSprop(1e-2, rho=0.99))
            optimizer.build(model.trainable_variables)
        learner = Learner(model, optimizer, strategy, config, T)
        metrics = [learner.train(batch) for batch in batches]
        # A NaN reward in one replica's share: the step is skipped on every replica.
        state = [v.numpy().copy() for v in [*model.variables, *optimizer.variables]]
        poisoned = batches[0].rewards.copy()
        poisoned[3, 1] = np.nan
        skipped = learner.train(dataclasses.replace(batches[0], rewards=poisoned))["skipped"]
        unchanged = all(np.array_equal(a, v.numpy()) for a, v in
                        zip(state, [*model.variables, *optimizer.variables]))
        runs.append((model.get_weights(), metrics, strategy.num_replicas_in_sync,
                     skipped, unchanged))
    (one, one_metrics, one_replicas, *one_nan), (two, two_metrics, two_replicas, *two_nan) = runs
    results[f"{optimizer_name}_{clip_norm}_{encoder}"] = {
        "nan_batch": [one_nan, two_nan],
        "summed": max(batch.rewards.size for batch in batches),
        "replicas": [one_replicas, two_replicas],
        "weight_diff": max(float(np.abs(a - b).max()) for a, b in zip(one, two)),
        "moved": max(float(np.abs(a - b).max()) for a, b in zip(one, initial)),
        "loss_diff": max(abs(a["loss"] - b["loss"]) for a, b in zip(one_metrics, two_metrics)),
        "grad_norm": one_metrics[0]["grad_norm"],
        "loss_scale": max(abs(a["loss"]) for a in one_metrics),
    }
print(json.dumps(results))
"""


@pytest.mark.parametrize("encoder", ["mlp", "lstm"])
def test_one_and_two_replicas_give_the_same_update(encoder):
    # "lstm" is mlp-lstm over 3-step sequences with resets: replicas split by sequence.
    result = run_command(["-c", REPLICA_CHECK, encoder], timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.strip().splitlines()[-1])
    for name, figures in results.items():
        assert figures["replicas"] == [1, 2], name
        assert figures["moved"] > 1e-2, (name, figures)  # the updates did something
        # The same sums in another order (each replica's part, then across replicas):
        # float32 rounding bounds the difference by (terms summed) x eps x the size of
        # what is summed, whatever order a CPU's kernels choose. A wrong share or a lost
        # replica would differ by the size of the update itself.
        precision = figures["summed"] * np.finfo(np.float32).eps
        assert figures["weight_diff"] < precision * max(1.0, figures["moved"]), (name, figures)
        assert figures["loss_diff"] < precision * max(1.0, figures["loss_scale"]), (name, figures)
        assert figures["nan_batch"] == [[1.0, True], [1.0, True]], (name, figures)
    if encoder == "mlp":
        assert results["sgd_0.05_mlp"]["grad_norm"] > 0.05  # the clipped case really clips


# Bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(("options", "message"), [
    (["--agents", "0"], "agents=0"),
    (["--max-prediction-batch", "0"], "max_prediction_batch=0"),
    (["--devices", "/gpu:7"], "/gpu:7"),
])
def test_bad_input_is_one_line_and_exit_status_2(options, message):
    result = run_command(["examples/ga3c_cartpole.py", "--no-export", *options])
    lines = result.stderr.splitlines()  # the CLI keeps TensorFlow's import chatter off
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ga3c_cartpole.py: error:") and message in lines[0]
    if message == "/gpu:7":
        assert "available:" in lines[0] and "CPU:0" in lines[0]
