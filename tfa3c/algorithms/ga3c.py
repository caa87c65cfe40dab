"""GA3C: agents queue observations, predictors answer them in batches, trainers learn.

Agents never run the network (Babaeizadeh et al., 2017). Each agent steps its own
environments in lockstep and sends all their observations as one prediction request;
predictor threads drain the request queue into one batched forward pass of the
shared model and answer every agent at once; trainer threads gather experience
(sequences of steps) from the training queue and train the model on V-trace targets
(`tfa3c.algorithms.vtrace`) under a `tf.distribute` strategy. What each role does
(`GA3CAgent`, `Predictor`, `Learner`) is kept apart from the thread loops that drive
it (in `GA3C`); agents run no network, so they may be hosted anywhere
(`tfa3c.hosting`), while predictors and trainers stay beside the model, on the
accelerator when there is one.

A batched forward pass costs 1.5-7 µs per observation against 130-430 µs for one
observation, and Python threads share one interpreter lock, so the design keeps the
per-step Python work small: one queue round trip per agent step, NumPy on arrays of
all an agent's environments, and no eager TensorFlow ops outside the two
`tf.function`s (but for the one assignment of `--normalize-observations`' statistics
per forward pass).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from tfa3c.algorithms.adjustment import Adjuster, Change
from tfa3c.algorithms.config import GA3CConfig
from tfa3c.algorithms.losses import actor_critic_loss
from tfa3c.algorithms.rollouts import Rollout, Sequences
from tfa3c.algorithms.training import AsyncAlgorithm
from tfa3c.algorithms.vtrace import vtrace
from tfa3c.envs import EnvironmentGroup, make_group
from tfa3c.hosting.roles import Role, RoleSpec
from tfa3c.layout import ADJUSTMENTS_CSV
from tfa3c.policies import distributions
from tfa3c.policies.actor_critic import build_policy, split_state
from tfa3c.policies.distributions import CATEGORICAL
from tfa3c.policies.normalization import RewardNormalizer, reward_scaler
from tfa3c.statistics import EpisodeTally
from tfa3c.stepping import Transition
from tfa3c.tf_runtime import make_strategy

_WAIT_SECONDS = 0.1  # every blocking queue call wakes this often to check the stop event
_TRAINING_QUEUE_ROLLOUTS = 4  # rollouts waiting per agent before agents wait for trainers
# How long a predictor waits for the other agents' requests once it has one. A forward
# pass costs about the same for 30 observations as for 256, and agents share one
# interpreter lock, so the others are usually about to ask: waiting halved the
# predictor's CPU time per environment step (13-17 µs to 8-10 µs here).
_BATCH_WAIT_SECONDS = 0.001
_PARK_SECONDS = 0.05  # how often a role the dynamic adjustment left out looks again


def epsilon_at(config: GA3CConfig, frames: int) -> float:
    """Exploration probability after `frames` environment steps (linear decay, then flat)."""
    if not config.exploration:
        return 0.0
    fraction = min(frames / config.epsilon_steps, 1.0)
    return config.epsilon_start + (config.epsilon_end - config.epsilon_start) * fraction


# The learner -----------------------------------------------------------------------------
class Learner:
    """Trains the shared model on batches of experience under a `tf.distribute` strategy.

    The batch is sequences (`[sequences, time, ...]`, see
    `tfa3c.algorithms.rollouts.Sequences`). The value targets and advantages come from
    the learner's current values and, with `correction="vtrace"`, from importance
    weights of its current policy against the one the agents acted with
    (`tfa3c.algorithms.vtrace`). Each replica takes every `replicas`-th sequence, never
    part of one, so any batch size works with any number of replicas. Each replica
    scales its loss by its share of the batch and the gradients are summed over
    replicas: the update is that of the mean loss over the whole batch, whatever the
    number of replicas.

    Args:
        model: the shared model, built in `strategy.scope()`.
        optimizer: its optimizer, built in `strategy.scope()`.
        strategy: where the training step runs.
        config: loss coefficients, clipping and the correction.
        sequence_length: steps per sequence (the rollout length).
        jit_compile: compile the training step with XLA.
    """

    # `importance_weight`: the batch's mean importance weight pi/mu (untruncated);
    # `truncated`: the fraction of weights above rho_bar; `skipped`: 1 where the step
    # was skipped for a non-finite loss or gradient.
    METRICS = ("loss", "policy_loss", "value_loss", "entropy", "importance_weight",
               "truncated", "grad_norm", "skipped")

    def __init__(self, model: keras.Model, optimizer: keras.optimizers.Optimizer,
                 strategy: tf.distribute.Strategy, config: GA3CConfig,
                 sequence_length: int | None = None, jit_compile: bool = False):
        self.model = model
        self.optimizer = optimizer
        self.strategy = strategy
        self.config = config
        self.spec = model.action_spec
        action_dtype = tf.int32 if self.spec.discrete else tf.float32
        self.state_width = 2 * model.state_size
        time = sequence_length

        def per_step(name, dtype=tf.float32):
            return tf.TensorSpec((None, time), dtype, name=name)

        self._train = tf.function(self._train_step, input_signature=[
            tf.TensorSpec((None, time, *model.observation_shape), model.observation_dtype,
                          name="observations"),
            tf.TensorSpec((None, time, *model.action_spec.action_shape), action_dtype,
                          name="actions"),
            per_step("behaviour_log_probs"), per_step("rewards"), per_step("next_values"),
            per_step("terminated"), per_step("truncated"), per_step("episode_starts"),
            tf.TensorSpec((None, self.state_width), tf.float32, name="initial_states"),
        ], jit_compile=jit_compile).get_concrete_function()  # traced now, once

    def train(self, sequences: Sequences) -> dict[str, float]:
        """One optimizer step on a batch of sequences; returns its metrics (batch means)."""
        initial_states = sequences.initial_states
        if not self.state_width:  # a feed-forward policy: whatever came, no columns
            initial_states = np.zeros((len(sequences.rewards), 0), np.float32)
        metrics = self._train(
            sequences.observations, sequences.actions, sequences.log_probs,
            sequences.rewards, sequences.next_values, sequences.terminated,
            sequences.truncated, sequences.episode_starts, initial_states).numpy()
        return dict(zip(self.METRICS, metrics.tolist(), strict=True))

    def _train_step(self, *batch):
        per_replica = self.strategy.run(self._replica_step, args=batch)
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    def _targets(self, logits, values, actions, behaviour_log_probs, rewards, next_values,
                 terminated, truncated):
        """V-trace's targets, advantages and weights (uncorrected: weights of one)."""
        config = self.config
        log_rhos = (tf.stop_gradient(distributions.log_prob(self.spec, logits, actions))
                    - behaviour_log_probs)
        # Without the correction the targets are n-step returns as if the agents had
        # acted on the current weights; the weights are still measured, for the log.
        return vtrace(log_rhos, rewards, values, next_values, terminated, truncated,
                      config.gamma, config.rho_bar, config.c_bar, config.gae_lambda,
                      correct=config.correction == "vtrace")

    def _replica_step(self, observations, actions, behaviour_log_probs, rewards, next_values,
                      terminated, truncated, episode_starts, initial_states):
        config = self.config
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync
        total = tf.size(rewards)
        batch = (observations, actions, behaviour_log_probs, rewards, next_values,
                 terminated, truncated, episode_starts, initial_states)
        if replicas > 1:  # whole sequences per replica
            rows = tf.range(context.replica_id_in_sync_group, tf.shape(rewards)[0], replicas)
            batch = tuple(tf.gather(x, rows) for x in batch)
        (observations, actions, behaviour_log_probs, rewards, next_values, terminated,
         truncated, episode_starts, initial_states) = batch
        share = tf.cast(tf.size(rewards), tf.float32) / tf.cast(tf.maximum(total, 1),
                                                                tf.float32)
        variables = self.model.trainable_variables
        state = split_state(initial_states) if self.model.recurrent else None
        with tf.GradientTape() as tape:
            logits, values, _ = self.model.unroll(observations, state, episode_starts)
            # The model has moved on since these actions were chosen: the targets and
            # advantages come from its current values, not from those the agent saw.
            trace = self._targets(logits, values, actions, behaviour_log_probs, rewards,
                                  next_values, terminated, truncated)
            loss, metrics = actor_critic_loss(
                logits, values, actions, trace.advantages, trace.targets,
                value_coef=config.value_coef, entropy_coef=config.entropy_coef,
                log_epsilon=config.log_epsilon, kind=self.spec)
            replica_loss = loss * share  # summed over replicas: the global batch mean
        gradients = tape.gradient(replica_loss, variables)
        # Counted with the gradients, so that every replica decides the same.
        bad_loss = tf.cast(tf.logical_not(tf.math.is_finite(loss)), tf.float32)[None]
        if replicas > 1:
            # Clip the summed gradient, not each replica's part of it.
            *gradients, bad_loss = context.all_reduce(tf.distribute.ReduceOp.SUM,
                                                      [*gradients, bad_loss])
        norm = tf.linalg.global_norm(gradients)
        finite = tf.logical_and(tf.math.is_finite(norm), bad_loss[0] == 0.0)
        if config.clip_norm is not None:
            gradients, _ = tf.clip_by_global_norm(gradients, config.clip_norm, use_norm=norm)
        if replicas > 1:
            # The optimizer sums the replicas' gradients again.
            gradients = [gradient / replicas for gradient in gradients]
        self._apply_if(finite, gradients, variables)
        weights = trace.importance_weights
        count = tf.maximum(tf.cast(tf.size(weights), tf.float32), 1.0)  # a replica may have none
        truncated_fraction = tf.reduce_sum(tf.cast(weights > config.rho_bar, tf.float32)) / count
        means = tf.stack([loss, metrics["policy_loss"], metrics["value_loss"],
                          metrics["entropy"], tf.reduce_sum(weights) / count,
                          truncated_fraction]) * share
        skipped = 1.0 - tf.cast(finite, tf.float32)
        return tf.concat([means, [norm / replicas, skipped / replicas]], axis=0)

    def _apply_if(self, finite, gradients, variables) -> None:
        """The optimizer step, only where `finite` (the same on every replica).

        Skipped whole: the weights, the optimizer's slots and its step count stay as
        they were. Keras' optimizer calls `merge_call` under a mirrored strategy, which
        a `tf.cond` in replica context cannot hold: there the condition is taken in
        cross-replica context, as Keras' `LossScaleOptimizer` does.
        """
        def apply(gradients):
            self.optimizer.apply(gradients, variables)

        if tf.__internal__.distribute.strategy_supports_no_merge_call():
            tf.cond(finite, lambda: apply(gradients), lambda: None)
            return

        def cross_replica(strategy, finite, gradients):
            finite = strategy.experimental_local_results(finite)[0]
            tf.cond(finite, lambda: strategy.extended.call_for_each_replica(
                apply, args=(gradients,)), lambda: None)

        tf.distribute.get_replica_context().merge_call(cross_replica, args=(finite, gradients))


# The predictor ---------------------------------------------------------------------------
class Predictor:
    """Batched forward passes of the shared model: observations → policy outputs, values.

    The policy outputs are what the agents sample from (`tfa3c.policies.distributions.sample`):
    probabilities for a categorical policy (per dimension for a multi-categorical one),
    `[mean, log_std]` for a Gaussian one. A
    recurrent policy's states travel with the observations (`[rows, 2 * units]`,
    `(h, c)` side by side; zero columns for a feed-forward policy) and come back
    advanced by one step. `jit_compile` compiles the forward pass with XLA.
    """

    def __init__(self, model: keras.Model, jit_compile: bool = False):
        self.model = model
        # Every observation an agent acts on passes through here once: the running
        # statistics are updated from these batches (predictor threads take turns).
        self.normalizer = getattr(model, "normalizer", None)
        spec = model.action_spec

        self.recurrent = recurrent = model.recurrent
        self.state_width = 2 * model.state_size
        self.outputs = model.action_spec.params_size
        signature = [tf.TensorSpec((None, *model.observation_shape), model.observation_dtype,
                                   name="observations")]
        if recurrent:
            signature.append(tf.TensorSpec((None, self.state_width), tf.float32, name="states"))

        def outputs_of(observations, state):
            params, values, state = model.step(observations, state)
            outputs = distributions.probabilities(spec, params)
            return tf.concat([outputs, values[:, None], *state], axis=1)

        if recurrent:
            def forward(observations, states):
                return outputs_of(observations, split_state(states))
        else:
            def forward(observations):
                return outputs_of(observations, ())

        # Calling the concrete function skips argument binding.
        self._forward = tf.function(forward, input_signature=signature,
                                    jit_compile=jit_compile).get_concrete_function()

    def predict(self, observations: np.ndarray, states: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Policy outputs `[batch, outputs]`, values `[batch]` and the next states.

        A feed-forward policy takes no states and returns None for them.
        """
        if self.normalizer is not None:
            self.normalizer.update(observations)
        if not self.recurrent:
            outputs = self._forward(observations).numpy()
        else:
            if states is None:
                states = np.zeros((len(observations), self.state_width), np.float32)
            outputs = self._forward(observations, states).numpy()
        width = self.outputs
        next_states = outputs[:, width + 1:] if self.recurrent else None
        return outputs[:, :width], outputs[:, width], next_states


# The agent -------------------------------------------------------------------------------
@dataclass
class AgentReport:
    """What an agent sends back per step: plain arrays and numbers."""

    sequences: Sequences | None  # a finished rollout, if this step finished one
    tally: EpisodeTally  # the step's steps and finished episodes
    observations: np.ndarray  # the next prediction request
    states: np.ndarray | None  # and its recurrent states
    reward_sums: np.ndarray | None  # what the reward statistics saw


class GA3CAgent:
    """Acts in its own seeded environments on predictions it is given; builds experience.

    The agent runs no network, so it may live anywhere (`tfa3c.hosting`); the
    predictors and trainers stay beside the model. It is driven in two halves per
    step: `request()` gives the observations one prediction request must carry, and
    `act(...)` takes the answer, steps every environment and returns the next request
    with the step's counts and, once `n_steps` steps are complete, the rollout as
    sequences to train on. A request carries the environments' current observations
    followed by the final observations of the episodes truncated on the previous step,
    so the values that truncated returns bootstrap from come with the same request. A
    rollout is therefore finished one request after its last step, when V(next
    observation) and V(final observation) of that step are known.

    With a recurrent policy the agent keeps each environment's state `(h, c)`: it
    sends the state with each observation, keeps the state the prediction returns,
    and resets it where an episode ends. A truncated episode's final observation goes
    with the state that produced the episode's last action.

    Args:
        index: agent number (seeds its environments and sampling).
        config: the run's configuration.
        state_size: units of each of `h` and `c` of a recurrent policy (0: feed-forward).
        envs: environments to act in (default: `envs_per_agent` seeded ones).
    """

    def __init__(self, index: int, config: GA3CConfig, state_size: int = 0,
                 envs: EnvironmentGroup | None = None):
        self.index = index
        self.config = config
        base_seed = config.seed * 10_000 + index * config.envs_per_agent
        self.envs = envs or make_group(config.env_id, config.envs_per_agent, base_seed,
                                       config.env_kwargs, name=f"ga3c-agent-{index}",
                                       non_finite=config.non_finite)
        self.num_envs = self.envs.num_envs
        self.num_actions = self.envs.num_actions
        self.action_spec = self.envs.action_spec
        self.rng = np.random.default_rng([config.seed, index])
        self.rewards = RewardNormalizer(config.gamma) if config.normalize_rewards else None
        self.scale_rewards = reward_scaler(config.reward_scale, config.clip_rewards,
                                           self.rewards, self.num_envs)
        self._final_observations = self.envs.observations[:0]
        self.state_width = 2 * state_size
        self.states = np.zeros((self.num_envs, self.state_width), np.float32)
        self._final_states = np.empty((0, self.state_width), np.float32)
        self._starting = np.ones(self.num_envs, bool)  # next observation starts an episode
        self._new_rollout()

    def _new_rollout(self) -> None:
        self._step = 0
        self.rollout = Rollout.empty(self.config.n_steps, self.envs.observations,
                                     self.action_spec, self.states)

    def restart_rollout(self) -> None:
        """Drops the unfinished rollout and starts a new one from the current step.

        For an agent the dynamic adjustment paused: the steps it took before the pause
        are many updates old, too stale to be worth training on.
        """
        self._new_rollout()

    def request(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The observations the next prediction is for, and their recurrent states.

        The current observations, then the final observations of the last step's
        truncated episodes; the states row for row (None for a feed-forward policy).
        """
        observations = self.envs.observations
        if len(self._final_observations):
            observations = np.concatenate([observations, self._final_observations])
        if not self.state_width:
            return observations, None
        if len(self._final_states):
            return observations, np.concatenate([self.states, self._final_states])
        return observations, self.states

    def act(self, probabilities: np.ndarray, values: np.ndarray, policy_version: int,
            epsilon: float = 0.0, states: np.ndarray | None = None,
            reward_statistics: np.ndarray | None = None) -> AgentReport:
        """Steps every environment on the prediction for `request()`; returns the report.

        Args:
            probabilities: `[rows, outputs]` policy outputs for the requested observations:
                probabilities (categorical) or `[mean, log_std]` (Gaussian).
            values: `[rows]` V of the requested observations.
            policy_version: training updates applied when the prediction was made.
            epsilon: probability of a uniformly random action instead of a sample.
            states: `[rows, 2 * units]` recurrent states after the predicted step
                (needed for a recurrent policy).
            reward_statistics: the learner's running reward statistics, if it keeps any.
        """
        if reward_statistics is not None:
            self.rewards.load(reward_statistics)
        sequences, transition = self.step(probabilities, values, policy_version, epsilon,
                                          states)
        tally = EpisodeTally()
        tally.add_steps(self.num_envs)
        tally.add_episodes(transition.episode_returns, transition.episode_lengths)
        tally.add_skipped(transition.skipped)
        return AgentReport(sequences, tally, *self.request(),
                           None if self.rewards is None else self.rewards.take_sums())

    def step(self, probabilities: np.ndarray, values: np.ndarray, policy_version: int,
             epsilon: float = 0.0, states: np.ndarray | None = None
             ) -> tuple[Sequences | None, Transition]:
        """`act`'s work: the finished rollout's sequences (or None) and the step's transition."""
        num_envs, rollout = self.num_envs, self.rollout
        if self._step:  # values of the previous step's truncated final observations
            previous = self._step - 1
            rollout.next_values[previous, rollout.truncated[previous]] = values[num_envs:]
        sequences = None
        if self._step == self.config.n_steps:
            last = self._step - 1
            cut = rollout.truncated[last]
            rollout.next_values[last, ~cut] = values[:num_envs][~cut]
            sequences = rollout.sequences()
            self._new_rollout()
            rollout = self.rollout
        t = self._step
        spec = self.action_spec
        outputs = probabilities[:num_envs]
        actions = distributions.sample(spec, outputs, self.rng)
        explore = epsilon > 0.0 and spec.discrete  # the schedule is for discrete actions
        if explore:
            chosen = self.rng.random(num_envs) < epsilon
            if chosen.any():
                count = int(chosen.sum())
                actions[chosen] = (self.rng.integers(self.num_actions, size=count)
                                   if spec.kind == CATEGORICAL else
                                   self.rng.integers(spec.nvec, size=(count, spec.size)))
        rollout.observations[t] = self.envs.observations
        rollout.actions[t] = actions
        rollout.log_probs[t] = distributions.behaviour_log_prob(
            spec, outputs, actions, epsilon if explore else 0.0)
        rollout.values[t] = values[:num_envs]
        rollout.policy_versions[t] = policy_version
        rollout.episode_starts[t] = self._starting
        transition = self.envs.step(actions)
        done = transition.terminated | transition.truncated
        rollout.rewards[t] = self.scale_rewards(transition.rewards, done)
        rollout.terminated[t] = transition.terminated
        rollout.truncated[t] = transition.truncated
        self._final_observations = transition.final_observations
        self._starting = done
        if self.state_width:
            following = states[:num_envs]
            self._final_states = following[transition.truncated]
            if done.any():
                following = following.copy()
                following[done] = 0.0
            self.states = following
        self._step = t + 1
        return sequences, transition

    def close(self) -> None:
        """Closes the agent's environments."""
        self.envs.close()


# Hosting ---------------------------------------------------------------------------------
class _Counters:
    """Per-thread counters, read as deltas by the logging thread (no lock: one writer)."""

    def __init__(self):
        self.forward_passes = 0
        self.requests = 0
        self.predictions = 0
        self.training_steps = 0
        self.experiences = 0
        self.lag_sum = 0.0
        self.lag_batches = 0
        self.lag_max = 0
        self.importance_sum = 0.0  # batch means of the importance weights, summed
        self.truncated_sum = 0.0  # and of the fraction truncated


def _total(counters: list[_Counters], name: str) -> float:
    return float(sum(getattr(item, name) for item in counters))


class GA3C(AsyncAlgorithm):
    """GPU/batched asynchronous advantage actor-critic (Babaeizadeh et al., 2017).

    Example:
        >>> summary = GA3C(GA3CConfig(env_id="CartPole-v1", max_seconds=30)).learn()
    """

    algo = "ga3c"
    config_class = GA3CConfig
    default_tf_threads = 1

    def __init__(self, config: GA3CConfig | None = None, **overrides):
        config = self.resolve_config(config, overrides)
        self.policy_version = 0  # training updates applied so far
        self._version_lock = threading.Lock()
        # How many of each role work now; the dynamic adjustment replaces the dict whole
        # (one assignment: the roles read it without a lock). The roles beyond these, up
        # to `limits`, are started too and wait.
        self.active = {"agents": config.agents, "predictors": config.predictors,
                       "trainers": config.trainers}
        self.limits = ({"agents": 2 * config.agents,
                        "predictors": max(2, 2 * config.predictors),
                        "trainers": max(2, 2 * config.trainers)}
                       if config.dynamic_adjustment else dict(self.active))
        self.adjuster: Adjuster | None = None
        self.prediction_queue: queue.SimpleQueue = queue.SimpleQueue()
        self.response_queues = [queue.SimpleQueue() for _ in range(self.limits["agents"])]
        self.training_queue: queue.Queue = queue.Queue(
            maxsize=_TRAINING_QUEUE_ROLLOUTS * self.limits["agents"])
        self.predictor_counters = [_Counters() for _ in range(self.limits["predictors"])]
        self.trainer_counters = [_Counters() for _ in range(self.limits["trainers"])]
        self._last_totals: dict[str, float] = {}
        self.batch_wait = _BATCH_WAIT_SECONDS
        super().__init__(config)

    def _build(self):
        config: GA3CConfig = self.config
        self.strategy = make_strategy(config.devices)
        with self.strategy.scope():
            model = build_policy(self.observation_shape, self.action_spec,
                                 config.network_options())
            optimizer = keras.optimizers.RMSprop(
                config.learning_rate, rho=config.rho, epsilon=config.rms_epsilon)
            optimizer.build(model.trainable_variables)
        self.learner = Learner(model, optimizer, self.strategy, config, config.n_steps)
        self.predictor = Predictor(model)
        return model, optimizer

    def _role_specs(self) -> list[RoleSpec]:
        # An agent runs no network: in a process of its own TensorFlow gets one thread.
        return [RoleSpec(f"ga3c-agent-{index}", "tfa3c.algorithms.ga3c:GA3CAgent",
                         (index, self.config, self.model.state_size), tf_threads=1)
                for index in range(self.limits["agents"])]

    def _start_threads(self) -> None:
        for index in range(self.limits["trainers"]):
            self.supervisor.start(f"ga3c-trainer-{index}",
                                  lambda index=index: self._run_trainer(index))
        for index in range(self.limits["predictors"]):
            self.supervisor.start(f"ga3c-predictor-{index}",
                                  lambda index=index: self._run_predictor(index))
        for index, role in enumerate(self.roles):  # a thread here drives each agent
            self.supervisor.start(role.name,
                                  lambda index=index, role=role: self._drive_agent(index, role))
        if self.config.dynamic_adjustment:
            self.supervisor.start("ga3c-adjustment", self._run_adjustment)

    def _parked(self, kind: str, index: int) -> bool:
        """Whether role `index` of `kind` is left out now; if so, waits a moment first."""
        if index < self.active[kind]:
            return False
        self.stop_event.wait(_PARK_SECONDS)
        return True

    def _get(self, source, block: bool = True):
        """The next item of `source`, or None once the stop event is set."""
        while not self.stop_event.is_set():
            try:
                return source.get(timeout=_WAIT_SECONDS) if block else source.get_nowait()
            except queue.Empty:
                if not block:
                    return None
        return None

    # Agents ----------------------------------------------------------------------------
    def _drive_agent(self, index: int, role: Role) -> None:
        """The learner's side of an agent: predictions out, steps and experience in."""
        statistics, config = self.statistics, self.config
        requests, responses = self.prediction_queue, self.response_queues[index]
        observations, states = role.call("request")
        paused = False
        while not self.stop_event.is_set():
            if self._parked("agents", index):
                paused = True
                continue
            if paused:
                role.call("restart_rollout")
                paused = False
            requests.put((index, observations, states))
            response = self._get(responses)
            if response is None:
                return
            probabilities, values, next_states, version = response
            epsilon = epsilon_at(config, statistics.env_steps)
            rewards = (None if self.reward_normalizer is None
                       else self.reward_normalizer.snapshot())
            report: AgentReport = role.call("act", probabilities, values, version, epsilon,
                                            next_states, rewards)
            report.tally.report_to(statistics)
            self.absorb_statistics(None, report.reward_sums)
            if report.sequences is not None:
                # A rollout wider than a training batch goes in batch-sized groups of its
                # sequences: the update size stays `max_batch` however many games an
                # agent steps, and V-trace corrects the later groups' extra policy lag.
                for group in report.sequences.split(config.max_batch):
                    self._put_experience(group)
            observations, states = report.observations, report.states

    def _put_experience(self, experience: Sequences) -> None:
        while not self.stop_event.is_set():
            try:
                self.training_queue.put(experience, timeout=_WAIT_SECONDS)
                return
            except queue.Full:
                continue

    # Predictors ------------------------------------------------------------------------
    def _run_predictor(self, index: int) -> None:
        counters = self.predictor_counters[index]
        limit = self.config.max_prediction_batch
        requests, responses = self.prediction_queue, self.response_queues
        held = None  # a request that did not fit into the previous batch
        while not self.stop_event.is_set():
            if held is None and self._parked("predictors", index):
                continue
            active = self.active
            full = -(-active["agents"] // active["predictors"])  # requests in a full batch
            first = held if held is not None else self._get(requests)
            held = None
            if first is None:
                return
            batch = [first]
            size = len(first[1])
            deadline = time.perf_counter() + self.batch_wait
            while size < limit:
                try:
                    request = requests.get_nowait()
                except queue.Empty:
                    # Agents share one interpreter lock: most are about to ask. Waiting
                    # a moment for them fills the batch and saves whole forward passes.
                    if len(batch) >= full or self.batch_wait <= 0:
                        break
                    remaining = deadline - time.perf_counter()
                    if remaining <= 0:
                        break
                    try:
                        request = requests.get(timeout=remaining)
                    except queue.Empty:
                        break
                if size + len(request[1]) > limit:
                    held = request
                    break
                batch.append(request)
                size += len(request[1])
            if len(batch) == 1:
                observations, states = batch[0][1], batch[0][2]
            else:
                observations = np.concatenate([request[1] for request in batch])
                states = (np.concatenate([request[2] for request in batch])
                          if self.predictor.recurrent else None)
            version = self.policy_version
            probabilities, values, next_states = self.predictor.predict(observations, states)
            start = 0
            for agent_index, agent_observations, _ in batch:
                end = start + len(agent_observations)
                responses[agent_index].put((
                    probabilities[start:end], values[start:end],
                    None if next_states is None else next_states[start:end], version))
                start = end
            counters.forward_passes += 1
            counters.requests += len(batch)
            counters.predictions += size

    # Trainers --------------------------------------------------------------------------
    def _run_trainer(self, index: int) -> None:
        counters = self.trainer_counters[index]
        min_batch, max_batch = self.config.min_batch, self.config.max_batch
        while not self.stop_event.is_set():
            if self._parked("trainers", index):
                continue
            batch: list[Sequences] = []
            size = 0
            while size < min_batch:
                experience = self._get(self.training_queue)
                if experience is None:
                    return
                batch.append(experience)
                size += len(experience)
            # Take what else is waiting: a trainer that fell behind catches up with
            # larger batches instead of training on ever older experience.
            while size < max_batch:
                experience = self._get(self.training_queue, block=False)
                if experience is None:
                    break
                batch.append(experience)
                size += len(experience)
            sequences = Sequences.concatenate(batch)
            lags = self.policy_version - sequences.policy_versions
            metrics = self.learner.train(sequences)
            skipped = metrics.pop("skipped") > 0.5
            self.update_skips.record(int(skipped), int(not skipped), self.statistics.env_steps)
            if skipped:
                continue  # nothing changed: the policy keeps its version
            with self._version_lock:
                self.policy_version += 1
            lag_mean, lag_max = float(lags.mean()), int(lags.max())
            metrics["policy_lag"] = lag_mean
            self.metrics.add(metrics)
            self.metrics.add_max("policy_lag", lag_max)
            counters.training_steps += 1
            counters.experiences += size
            counters.lag_sum += lag_mean
            counters.lag_batches += 1
            counters.lag_max = max(counters.lag_max, lag_max)
            counters.importance_sum += metrics["importance_weight"]
            counters.truncated_sum += metrics["truncated"]

    # Dynamic adjustment ----------------------------------------------------------------
    def _run_adjustment(self) -> None:
        """Measures env steps/s over each window and applies the counts `Adjuster` returns.

        The first window is a warm-up (the functions trace, the queues fill), and the
        first second after each change is not measured, for the same reason.
        """
        window = self.config.adjustment_seconds
        self.adjuster = adjuster = Adjuster(self.active, self.limits)
        if self.stop_event.wait(window):
            return
        while True:
            if self.stop_event.wait(min(1.0, window / 5)):
                return
            steps, start = self.statistics.env_steps, time.perf_counter()
            if self.stop_event.wait(window):
                return
            rate = (self.statistics.env_steps - steps) / (time.perf_counter() - start)
            reported = len(adjuster.changes)
            self.active = adjuster.next(rate)
            for change in adjuster.changes[reported:]:
                self._record_change(change)
            if adjuster.settled:
                counts = ", ".join(f"{name} {count}" for name, count in self.active.items())
                self.recorder.note(f"dynamic adjustment settled: {counts}, "
                                   f"{adjuster.rate:,.0f} env steps/s")
                return

    def _record_change(self, change: Change) -> None:
        """Prints `change` and appends it to the run's `adjustments.csv`."""
        self.recorder.note(f"dynamic adjustment: {change.describe()}")
        path = os.path.join(self.logdir, ADJUSTMENTS_CSV)
        new = not os.path.exists(path)
        with open(path, "a", encoding="utf-8") as csv:
            if new:
                csv.write("seconds,env_steps,knob,before,after,rate_before,rate_after,kept\n")
            csv.write(f"{self.statistics.elapsed():.1f},{self.statistics.env_steps},"
                      f"{change.knob},{change.before},{change.after},"
                      f"{change.rate_before:.1f},{change.rate_after:.1f},{int(change.kept)}\n")

    # Statistics ------------------------------------------------------------------------
    def _summary_extras(self, seconds: float) -> dict[str, float]:
        """Whole-run predictions/s, training steps/s, mean prediction batch, policy lag.

        With the policy lag, the mean importance weight and the fraction truncated.
        """
        seconds = max(seconds, 1e-9)
        passes = max(_total(self.predictor_counters, "forward_passes"), 1.0)
        predictions = _total(self.predictor_counters, "predictions")
        batches = max(_total(self.trainer_counters, "lag_batches"), 1.0)
        counts = self.active if self.config.dynamic_adjustment else {}
        return {
            **counts,
            "pps": round(predictions / seconds, 1),
            "tps": round(_total(self.trainer_counters, "training_steps") / seconds, 1),
            "prediction_batch": round(predictions / passes, 1),
            "policy_lag": round(_total(self.trainer_counters, "lag_sum") / batches, 2),
            "importance_weight": round(
                _total(self.trainer_counters, "importance_sum") / batches, 3),
            "truncated": round(_total(self.trainer_counters, "truncated_sum") / batches, 3),
        }

    def _extra_statistics(self, interval: float) -> dict[str, float]:
        totals = {
            "forward_passes": _total(self.predictor_counters, "forward_passes"),
            "requests": _total(self.predictor_counters, "requests"),
            "predictions": _total(self.predictor_counters, "predictions"),
            "training_steps": _total(self.trainer_counters, "training_steps"),
            "experiences": _total(self.trainer_counters, "experiences"),
            "lag_sum": _total(self.trainer_counters, "lag_sum"),
            "lag_batches": _total(self.trainer_counters, "lag_batches"),
            "importance_sum": _total(self.trainer_counters, "importance_sum"),
            "truncated_sum": _total(self.trainer_counters, "truncated_sum"),
        }
        deltas = {name: value - self._last_totals.get(name, 0.0) for name, value in totals.items()}
        self._last_totals = totals
        passes = max(deltas["forward_passes"], 1.0)
        batches = max(deltas["lag_batches"], 1.0)
        lag_max = 0
        for counters in self.trainer_counters:
            lag_max, counters.lag_max = max(lag_max, counters.lag_max), 0
        return {
            "pps": deltas["predictions"] / interval,
            "tps": deltas["training_steps"] / interval,
            "pred_batch": deltas["predictions"] / passes,
            "requests_per_pass": deltas["requests"] / passes,
            "train_batch": deltas["experiences"] / max(deltas["training_steps"], 1.0),
            "pred_queue": float(self.prediction_queue.qsize()),
            "train_queue": float(self.training_queue.qsize()),
            "policy_lag": deltas["lag_sum"] / batches,
            "policy_lag_max": float(lag_max),
            "importance_weight": deltas["importance_sum"] / batches,
            "truncated": deltas["truncated_sum"] / batches,
            **(self.active if self.config.dynamic_adjustment else {}),
        }
