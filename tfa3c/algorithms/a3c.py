"""A3C: workers act with the actor-critic (LSTM by default) and update one global model.

Two roles (Mnih et al., 2016):

- `A3CWorker` acts in its own environments at a snapshot of the global weights and
  computes the gradients of its rollout there. It is hosted anywhere (a thread of
  the learner's process, a process, a Ray actor: `tfa3c.hosting`), unchanged.
- `GlobalLearner` applies every worker's gradients to the global model with one
  optimizer, and answers with the weights to act with next.

`A3C` says how they connect: a thread of the learner's process drives each worker,
sending weights and statistics and applying what comes back.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from tfa3c.algorithms.config import A3CConfig
from tfa3c.algorithms.losses import actor_critic_loss
from tfa3c.algorithms.returns import standardize
from tfa3c.algorithms.rollouts import Rollout
from tfa3c.algorithms.training import AsyncAlgorithm
from tfa3c.env_spec import resolve_env
from tfa3c.envs import make_group
from tfa3c.hosting.roles import Role, RoleSpec, shared_in_process
from tfa3c.policies import distributions
from tfa3c.policies.acting import acting_policy, unflatten
from tfa3c.policies.actor_critic import build_policy, split_state
from tfa3c.policies.distributions import CATEGORICAL
from tfa3c.policies.normalization import RewardNormalizer, reward_scaler
from tfa3c.statistics import EpisodeTally
from tfa3c.tf_runtime import role_threads

METRICS = ("loss", "policy_loss", "value_loss", "entropy", "grad_norm")


class WorkerNetwork:
    """What the workers of one process share: a copy of the network and its traced functions.

    The copy's trainable weights are never used: workers act and differentiate at the
    weights they are sent. Its observation statistics are loaded from the learner's.
    """

    def __init__(self, config: A3CConfig):
        self.config = config  # kept alive with this object (see `shared_in_process`)
        env = resolve_env(config.env_id, config.env_kwargs)
        self.model = build_policy(env.observation_shape, env.action, config.network_options())
        self.policy = acting_policy(self.model)
        self.groups = update_groups(config.envs_per_worker, config.envs_per_update)
        self.gradients = GroupGradients(config, self.model, self.groups)


@dataclass
class WorkerReport:
    """What a worker sends back per rollout: arrays and numbers.

    The gradients stay tensors while the worker lives in the learner's process (a
    Pong network's would cost two copies per rollout otherwise); a report sent to
    another process is pickled, and travels as plain arrays.
    """

    gradients: list  # per variable, [update groups, *shape]
    metrics: np.ndarray  # [update groups, len(METRICS)]
    tally: EpisodeTally  # the rollout's steps and finished episodes
    observation_moments: tuple | None  # what the observation statistics saw
    reward_sums: np.ndarray | None  # what the reward statistics saw

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["gradients"] = [np.asarray(gradient) for gradient in self.gradients]
        return state


class A3CWorker:
    """Acts in its own seeded environments and computes gradients at the weights it is sent.

    One call, `rollout`, is the role's whole job: act `n_steps` steps at the given
    weights, and return the gradients of that rollout at the same weights with the
    steps and episodes counted. The running observation and reward statistics
    travel both ways: the learner's come with the weights, and what this worker's
    environments showed goes back with the gradients, for the learner to merge.

    Args:
        index: worker number (seeds its environments and sampling).
        config: the run's configuration.
    """

    def __init__(self, index: int, config: A3CConfig):
        self.index = index
        self.config = config
        network = shared_in_process(config, lambda: WorkerNetwork(config))
        self.network = network  # held: the workers of a process share it while they live
        base_seed = config.seed * 10_000 + index * config.envs_per_worker
        self.envs = make_group(config.env_id, config.envs_per_worker, base_seed,
                               config.env_kwargs, name=f"a3c-worker-{index}",
                               non_finite=config.non_finite)
        self.spec = self.envs.action_spec
        self.rng = np.random.default_rng([config.seed, index])
        self.rewards = RewardNormalizer(config.gamma) if config.normalize_rewards else None
        self.scale_rewards = reward_scaler(config.reward_scale, config.clip_rewards,
                                           self.rewards, config.envs_per_worker)
        units = network.model.state_size  # 0 for a feed-forward encoder
        self.h = np.zeros((self.envs.num_envs, units), np.float32)
        self.c = np.zeros((self.envs.num_envs, units), np.float32)
        self.episode_starts = np.ones(self.envs.num_envs, bool)
        self.policy = acting_policy(network.model, network.policy)
        self.normalizer = network.model.normalizer  # None without observation normalization
        self.groups = network.groups
        self.gradients = network.gradients
        self.rollouts = 0  # rollouts collected, for statistics and tests
        self.weights = np.zeros(sum(int(np.prod(v.shape))
                                    for v in network.model.trainable_variables), np.float32)
        self.version = 0

    def rollout(self, weights: np.ndarray, version: int,
                observation_statistics: np.ndarray | None = None,
                reward_statistics: np.ndarray | None = None) -> WorkerReport:
        """Acts one rollout at `weights` (flat) and returns its gradients and counts.

        Args:
            weights: the global weights, flat.
            version: the updates the global model had when `weights` were taken.
            observation_statistics: the learner's running observation statistics.
            reward_statistics: the learner's running reward statistics.
        """
        if observation_statistics is not None:
            self.normalizer.load(observation_statistics)
        if reward_statistics is not None:
            self.rewards.load(reward_statistics)
        self.pull(weights, version)
        tally = EpisodeTally()
        gradients, metrics = self.compute_gradients(self.collect(tally))
        return WorkerReport(
            list(gradients), metrics.numpy(), tally,
            None if self.normalizer is None else self.normalizer.take_moments(),
            None if self.rewards is None else self.rewards.take_sums())

    def pull(self, weights: np.ndarray, version: int = 0) -> None:
        """Takes a snapshot of the global weights (flat) to act with and to train at."""
        self.weights = weights
        self.version = version
        self.policy.load(weights)

    def collect(self, tally: EpisodeTally | None = None) -> Rollout:
        """Acts for `n_steps` steps in every environment, carrying the recurrent state.

        Steps and finished episodes are counted in `tally`.
        """
        config, envs, policy, spec = self.config, self.envs, self.policy, self.spec
        num_envs = envs.num_envs
        h, c = self.h, self.c
        rollout = Rollout.empty(config.n_steps, envs.observations, spec,
                                np.concatenate([h, c], axis=1))
        rollout.policy_versions[:] = self.version
        current = envs.observations
        for t in range(config.n_steps):
            params, rollout.values[t], h, c = policy.step(current, h, c)
            outputs = distributions.outputs_from_params(spec, params)
            actions = distributions.sample(spec, outputs, self.rng)
            rollout.actions[t] = actions
            rollout.log_probs[t] = distributions.behaviour_log_prob(spec, outputs, actions)
            rollout.observations[t] = current
            rollout.episode_starts[t] = self.episode_starts
            step = envs.step(actions)
            done = step.terminated | step.truncated
            rollout.rewards[t] = self.scale_rewards(step.rewards, done)
            rollout.terminated[t], rollout.truncated[t] = step.terminated, step.truncated
            if step.final_observations.shape[0]:
                cut = step.truncated
                # V(s') continues the recurrent state from the one that produced a_t.
                rollout.next_values[t, cut] = policy.step(step.final_observations,
                                                          h[cut], c[cut])[1]
            if done.any():
                h, c = h.copy(), c.copy()
                h[done] = 0.0
                c[done] = 0.0
            self.episode_starts = done
            current = step.observations
            if tally is not None:
                tally.add_steps(num_envs)
                tally.add_episodes(step.episode_returns, step.episode_lengths)
                tally.add_skipped(step.skipped)
        live = ~(rollout.terminated[-1] | rollout.truncated[-1])
        if live.any():
            rollout.next_values[-1, live] = policy.step(current[live], h[live], c[live])[1]
        self.h, self.c = h, c
        self.rollouts += 1
        return rollout

    def compute_gradients(self, rollout: Rollout) -> tuple[list[tf.Tensor], tf.Tensor]:
        """One gradient of the actor-critic loss per update group, each clipped by global norm.

        The worker's environments are split into groups of `envs_per_update` (see
        `update_groups`); each group's part of the rollout gives its own gradient, as
        the rollout of one of the tutorial's single-environment workers did. Training
        replays the rollout from the recurrent state it started with; a new episode
        starts from zeros.

        Returns:
            One tensor per variable, `[groups, *variable.shape]`, and the metrics named
            by `METRICS`, `[groups, len(METRICS)]`.
        """
        returns, advantages = rollout.targets(self.config.gamma, self.config.gae_lambda)
        if self.config.normalize_advantages:
            advantages = np.concatenate([standardize(advantages[:, group])
                                         for group in self.groups], axis=1)
        steps, num_envs = rollout.rewards.shape
        actions = rollout.actions.reshape(steps, num_envs, -1)
        per_step = np.concatenate(
            [actions, np.stack([advantages, returns, rollout.episode_starts], axis=-1)],
            axis=-1).astype(np.float32)
        gradients = self.gradients(self.weights, rollout.observations, per_step,
                                   rollout.initial_states)
        if self.normalizer is not None:
            # What the actors saw moves the observation statistics, after the gradient:
            # it is taken under the statistics the rollout was acted with.
            observations = rollout.observations
            self.normalizer.update(observations.reshape(-1, observations.shape[-1]))
        return gradients

    def close(self) -> None:
        """Closes the worker's environments."""
        self.envs.close()


class GroupGradients:
    """Per-group gradients of the actor-critic loss on a rollout, through the Keras model.

    Every group of environments gets its own copy of the weights, and
    `tf.vectorized_map` runs the model's own `unroll` once per group, each inside a
    Keras `StatelessScope` that substitutes the group's copy for the model's
    variables. The loss is the sum of the groups' losses, so its gradient with respect
    to a group's copy is that group's gradient: one backward pass gives them all, and
    no line of the network's math is written here. Recurrent encoders replay the
    rollout from the state it started with and reset where episodes start.

    Measured for 16 groups of one environment, 40 steps, LSTM 16 on CartPole: 12 ms
    per call (the hand-unrolled copy of the LSTM this replaced: 7 ms; unrolling the 40
    steps in Python instead of the encoder's `tf.scan`: 10 ms but 3 s of tracing
    against 1.8 s; XLA: 5.5 ms but 13 s of compilation).

    Args:
        config: the run's configuration (rollout length, loss coefficients, clip norm).
        model: the global model (built); its variables are never written here.
        groups: the environments of each group (see `update_groups`).
    """

    def __init__(self, config: A3CConfig, model: keras.Model, groups: list[np.ndarray]):
        self.config = config
        self.model = model
        self.spec = model.action_spec
        self.action_width = int(np.prod(model.action_spec.action_shape))  # 1 if discrete
        self.shapes = [tuple(v.shape) for v in model.trainable_variables]
        self.num_groups = len(groups)
        # Groups as rows of an index table, padded to the largest group with environment
        # 0 under a zero mask (vectorized_map needs equal shapes).
        largest = max(len(group) for group in groups)
        self.members = np.zeros((len(groups), largest), np.int32)
        self.mask = np.zeros((len(groups), largest), np.float32)
        for row, group in enumerate(groups):
            self.members[row, :len(group)] = group
            self.mask[row, :len(group)] = 1.0
        num_envs = sum(len(group) for group in groups)
        size = sum(int(np.prod(shape)) for shape in self.shapes)
        # Inputs are packed into four arrays and the traced concrete function is called
        # directly: here each NumPy-to-tensor conversion costs ~0.1 ms and tf.function's
        # argument binding ~1 ms. Observations travel apart, in their own dtype (uint8
        # frames are scaled inside the model).
        self._function = tf.function(self._gradients, input_signature=[
            tf.TensorSpec((size,), tf.float32, name="weights"),
            tf.TensorSpec((config.n_steps, num_envs, *model.observation_shape),
                          model.observation_dtype, name="observations"),
            tf.TensorSpec((config.n_steps, num_envs, self.action_width + 3),
                          tf.float32, name="steps"),
            tf.TensorSpec((num_envs, 2 * model.state_size), tf.float32, name="initial_state"),
        ]).get_concrete_function()  # traced now, not on the clock
        # A function's first run also optimizes its graph (about a second here): that
        # too happens now. The function is pure, so zeros do no harm.
        self._function(*(tf.zeros(spec.shape, spec.dtype)
                         for spec in self._function.structured_input_signature[0]))

    def __call__(self, weights: np.ndarray, observations: np.ndarray, steps: np.ndarray,
                 initial_state: np.ndarray) -> tuple[list[tf.Tensor], tf.Tensor]:
        """Gradients `[groups, *shape]` per variable and metrics `[groups, 5]`.

        Args:
            weights: the flat weights to differentiate at.
            observations: `[n_steps, envs, *obs]`.
            steps: `[n_steps, envs, action width + 3]`: action (one column, or one per
                dimension for continuous and MultiDiscrete actions), advantage, return,
                and 1 where an episode starts.
            initial_state: `[envs, 2 * units]`: the `(h, c)` the rollout started from.
        """
        return self._function(weights, observations, steps, initial_state)

    def _group_loss(self, weights, observations, actions, advantages, returns, starts,
                    initial_state, mask):
        """One group's loss terms; every array is the group's, `[envs, time, ...]`."""
        model, config = self.model, self.config
        mapping = list(zip(model.trainable_variables, weights, strict=True))
        with keras.StatelessScope(state_mapping=mapping):
            state = split_state(initial_state) if model.recurrent else None
            params, values, _ = model.unroll(observations, state, starts)
        # Means over the group's real environments (padding is masked out) and all steps.
        loss, metrics = actor_critic_loss(
            params, values, actions, advantages, returns,
            mask=tf.broadcast_to(mask[:, None], tf.shape(values)),
            value_coef=config.value_coef, entropy_coef=config.entropy_coef, kind=self.spec)
        return tf.stack([loss, metrics["policy_loss"], metrics["value_loss"],
                         metrics["entropy"]])

    def _gradients(self, weights, observations, steps, initial_state):
        config, groups = self.config, self.num_groups
        width = self.action_width
        # [time, envs, ...] → [groups, envs in group, time, ...]
        by_group = tf.gather(tf.transpose(steps, [1, 0, 2]), self.members)
        rank = len(observations.shape)
        observations = tf.gather(tf.transpose(observations, [1, 0, *range(2, rank)]),
                                 self.members)
        actions, advantages, returns, starts = tf.split(by_group, [width, 1, 1, 1], axis=-1)
        if self.spec.kind == CATEGORICAL:
            actions = tf.cast(actions[..., 0], tf.int32)
        elif self.spec.discrete:  # one integer per dimension
            actions = tf.cast(actions, tf.int32)
        advantages, returns, starts = (x[..., 0] for x in (advantages, returns, starts))
        states = tf.gather(initial_state, self.members)
        mask = tf.constant(self.mask)
        parts = unflatten(weights, self.shapes)
        if groups == 1:  # one update per rollout (pixels): no per-group copies to map over
            with tf.GradientTape() as tape:
                tape.watch(parts)
                terms = self._group_loss(parts, observations[0], actions[0], advantages[0],
                                         returns[0], starts[0], states[0], mask[0])
                total = terms[0]
            gradients = [g[None] for g in tape.gradient(total, parts)]
            terms = terms[None]
        else:
            copies = [tf.tile(part[None], [groups] + [1] * len(part.shape)) for part in parts]
            with tf.GradientTape() as tape:
                tape.watch(copies)
                terms = tf.vectorized_map(
                    lambda args: self._group_loss(*args),
                    (copies, observations, actions, advantages, returns, starts, states,
                     mask))  # [groups, 4]
                total = tf.reduce_sum(terms[:, 0])
            gradients = tape.gradient(total, copies)
        norms = tf.sqrt(tf.add_n([tf.reduce_sum(tf.reshape(g, [groups, -1]) ** 2, axis=1)
                                  for g in gradients]))
        if config.clip_norm is not None:  # each group's gradient by its own global norm
            scales = config.clip_norm / tf.maximum(norms, config.clip_norm)
            gradients = [g * tf.reshape(scales, [groups] + [1] * (len(g.shape) - 1))
                         for g in gradients]
        metrics = tf.concat([terms, norms[:, None]], axis=1)
        return gradients, metrics


class GlobalLearner:
    """Applies gradients from any worker to the global model with one shared optimizer.

    Weights travel as one flat float32 vector (see `unflatten`): one tensor to convert
    instead of one per variable. Workers compute gradients concurrently, but applying
    them is serialized: the optimizer's slot updates are read-modify-write sequences
    that Keras does not make safe for concurrent calls, and an apply takes ~0.5 ms
    against ~20 ms of acting per rollout, so the lock costs next to nothing.

    Args:
        model: the global model.
        optimizer: the shared optimizer, built on the model's variables.
        updates_per_apply: how many gradients (a worker's update groups) one `apply`
            call receives, stacked on a leading axis, and applies one after another.
        jit_compile: compile the apply with XLA. For small networks the apply is many
            tiny ops, and XLA fuses them: 16 Adam steps of CartPole's LSTM 16 took
            0.54 ms instead of 1.69 (the same weights to 3e-8), for 2.5 s more
            start-up. The Pong network's apply (4.5 ms) gained nothing.
    """

    def __init__(self, model: keras.Model, optimizer: keras.optimizers.Optimizer,
                 updates_per_apply: int = 1, jit_compile: bool = False):
        self.model = model
        self.optimizer = optimizer
        self.updates_per_apply = updates_per_apply
        self.version = 0  # apply calls so far: the policy version of the weights they return
        self._lock = threading.Lock()
        specs = [tf.TensorSpec((updates_per_apply, *v.shape), v.dtype)
                 for v in model.trainable_variables]
        self._usable_spec = tf.TensorSpec((updates_per_apply,), tf.bool)
        # Traced before any thread calls them; concrete functions skip argument binding.
        self._apply = tf.function(self._apply_gradients, input_signature=[specs],
                                  jit_compile=jit_compile).get_concrete_function()
        # Steps to skip are rare: that function is traced when first needed.
        self._specs = specs
        self._apply_some = None
        self._snapshot = tf.function(self._flat_weights).get_concrete_function()
        if int(optimizer.iterations.numpy()) == 0:
            # A function's first run also optimizes its graph (~0.6 s): done now, off the
            # clock. Zero gradients leave the weights and a fresh Adam's zero moments as
            # they are; the step count is set back to 0.
            self._apply([tf.zeros(spec.shape, spec.dtype) for spec in specs])
            optimizer.iterations.assign(0)

    def _flat_weights(self):
        return tf.concat([tf.reshape(v, [-1]) for v in self.model.trainable_variables], 0)

    def _apply_gradients(self, gradients):
        # One optimizer step per group, in order (tf.function keeps the program order
        # of these stateful updates).
        for update in range(self.updates_per_apply):
            self.optimizer.apply([g[update] for g in gradients], self.model.trainable_variables)
        return self._flat_weights()

    def _apply_finite_gradients(self, gradients, usable):
        # As `_apply_gradients`, but a step that is not `usable` or whose gradient is not
        # finite is skipped whole: the weights, the optimizer's moments and step count
        # stay as they were.
        finite = usable
        for g in gradients:  # one reduction per variable covers every group
            finite = tf.logical_and(finite, tf.reduce_all(tf.math.is_finite(g),
                                                          axis=list(range(1, len(g.shape)))))
        variables = self.model.trainable_variables
        for update in range(self.updates_per_apply):
            step = [g[update] for g in gradients]
            tf.cond(finite[update], lambda step=step: self.optimizer.apply(step, variables),
                    lambda: None)
        return self._flat_weights(), finite

    def apply(self, gradients: list[tf.Tensor], usable: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, int]:
        """Optimizer steps on the global variables; returns the weights after them.

        Args:
            gradients: one tensor per variable, `[updates_per_apply, *variable.shape]`.
            usable: `[updates_per_apply]` bool: whether each step's loss and gradient are
                known to be finite (e.g. from its finite gradient norm). Where all are,
                the steps are applied as they come; otherwise each step is applied only
                if it is usable and its gradient is finite. Default: not known.

        Returns:
            The weights, which steps were applied, and the weights' version (apply calls
            so far). The snapshot (which includes other workers' updates so far) is what
            the worker acts with next: pulling and applying are one call.
        """
        if usable is not None and usable.all():  # the usual case: no check in the graph
            with self._lock:
                weights = self._apply(gradients)
                self.version += 1
                version = self.version
            return weights.numpy(), usable, version
        if usable is None:
            usable = np.ones(self.updates_per_apply, bool)
        with self._lock:
            if self._apply_some is None:
                self._apply_some = tf.function(
                    self._apply_finite_gradients,
                    input_signature=[self._specs, self._usable_spec]).get_concrete_function()
            weights, applied = self._apply_some(gradients, usable)
            applied = applied.numpy()
            self.version += int(applied.any())
            version = self.version
        return weights.numpy(), applied, version

    def weights(self) -> np.ndarray:
        """A snapshot of the global weights, flat."""
        with self._lock:
            weights = self._snapshot()
        return weights.numpy()


def update_groups(num_envs: int, envs_per_update: int) -> list[np.ndarray]:
    """Splits a worker's environments into consecutive groups of `envs_per_update`.

    The last group is smaller when `envs_per_update` does not divide `num_envs`.
    """
    return [np.arange(start, min(start + envs_per_update, num_envs))
            for start in range(0, num_envs, envs_per_update)]


class A3C(AsyncAlgorithm):
    """Asynchronous advantage actor-critic (Mnih et al., 2016); LSTM 16 by default.

    Example:
        >>> summary = A3C(A3CConfig(env_id="CartPole-v1", max_seconds=30)).learn()
    """

    algo = "a3c"
    config_class = A3CConfig

    def _build(self):
        config: A3CConfig = self.config
        model = build_policy(self.observation_shape, self.action_spec, config.network_options())
        optimizer = keras.optimizers.Adam(config.learning_rate, epsilon=config.adam_epsilon)
        optimizer.build(model.trainable_variables)  # before any thread starts
        groups = update_groups(config.envs_per_worker, config.envs_per_update)
        # The learner applies every worker's gradients in turn: its apply is what the
        # workers wait for. XLA fuses a small network's many tiny ops; convolutions
        # gain nothing from it.
        self.learner = GlobalLearner(model, optimizer, len(groups),
                                     jit_compile=not model.pixels)
        return model, optimizer

    def _role_specs(self) -> list[RoleSpec]:
        config = self.config
        threads = role_threads(config.tf_threads, config.workers, self.pixels)
        return [RoleSpec(f"a3c-worker-{index}", "tfa3c.algorithms.a3c:A3CWorker",
                         (index, config), threads) for index in range(config.workers)]

    def _start_threads(self) -> None:
        for role in self.roles:
            # Bind the role now: the tutorial's lambda bound the loop variable late.
            self.supervisor.start(role.name, lambda role=role: self._drive_worker(role))

    def _drive_worker(self, role: Role) -> None:
        """The learner's side of a worker: weights out, gradients in, applied."""
        weights, version = self.learner.weights(), self.learner.version
        while not self.stop_event.is_set():
            report: WorkerReport = role.call("rollout", weights, version,
                                             *self.shared_statistics())
            report.tally.report_to(self.statistics)
            weights, version = self._apply(report.gradients, report.metrics)
            self.absorb_statistics(report.observation_moments, report.reward_sums)

    def _apply(self, gradients, metrics: np.ndarray) -> tuple[np.ndarray, int]:
        """Applies a rollout's update groups whose loss and gradient are finite.

        Skipped groups are counted (`UpdateSkips`, which stops a long run of them);
        the metrics are averaged over the applied groups. Returns the new weights and
        their version.
        """
        usable = np.isfinite(metrics).all(axis=1)  # losses and the gradient's norm
        weights, applied, version = self.learner.apply(gradients, usable)
        count = int(applied.sum())
        self.update_skips.record(len(applied) - count, count, self.statistics.env_steps)
        if count:
            means = metrics[applied].mean(axis=0)
            self.metrics.add(dict(zip(METRICS, means.tolist(), strict=True)))
        return weights, version
