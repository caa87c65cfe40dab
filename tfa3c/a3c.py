"""A3C: worker threads act with the LSTM actor-critic and update one global model.

What a worker does (`A3CWorker`: act, build returns, compute gradients on its local
model) is kept apart from how it is hosted (a thread loop in `A3C`), so a worker can
later live in another process or host and send its gradients over the wire.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from tfa3c.acting import RecurrentPolicyArrays, sample_actions, softmax
from tfa3c.config import A3CConfig
from tfa3c.distributions import CATEGORICAL
from tfa3c.envs import EnvironmentGroup
from tfa3c.errors import EnvironmentSpecError
from tfa3c.losses import actor_critic_terms, total_loss
from tfa3c.networks import RecurrentActorCritic, build_model, lstm_step
from tfa3c.returns import returns_and_advantages, standardize
from tfa3c.statistics import EpisodeStatistics
from tfa3c.training import AsyncAlgorithm


@dataclass
class Rollout:
    """`n_steps` steps of a worker's environments, `[time, envs]` arrays."""

    observations: np.ndarray  # [T, N, obs]
    actions: np.ndarray  # [T, N]
    rewards: np.ndarray  # [T, N], scaled
    values: np.ndarray  # [T, N], V(s_t) from the acting weights
    next_values: np.ndarray  # [T, N], V(s_{t+1}) where truncated and at t = T-1
    terminated: np.ndarray  # [T, N]
    truncated: np.ndarray  # [T, N]
    episode_starts: np.ndarray  # [T, N], s_t is an episode's first observation
    initial_h: np.ndarray  # [N, units], LSTM state the rollout started from
    initial_c: np.ndarray


METRICS = ("loss", "policy_loss", "value_loss", "entropy", "grad_norm")


class A3CWorker:
    """Acts in its own seeded environments and computes gradients at its local weights.

    The worker's local model is a snapshot of the global weights (`pull`): it acts with
    them in NumPy and computes its gradients at them, while the global model moves on.

    Args:
        index: worker number (seeds its environments and sampling).
        config: the run's configuration.
        shapes: shapes of the model's trainable variables, in order.
        gradients: the traced gradient function to use; workers of one run share one
            (tracing it takes a second or two). Built here when not given.
    """

    def __init__(self, index: int, config: A3CConfig, shapes: list[tuple[int, ...]],
                 gradients: GroupGradients | None = None):
        self.index = index
        self.config = config
        base_seed = config.seed * 10_000 + index * config.envs_per_worker
        self.envs = EnvironmentGroup(config.env_id, config.envs_per_worker, base_seed,
                                     config.env_kwargs)
        self.rng = np.random.default_rng([config.seed, index])
        units = config.lstm_units
        self.h = np.zeros((self.envs.num_envs, units), np.float32)
        self.c = np.zeros((self.envs.num_envs, units), np.float32)
        self.episode_starts = np.ones(self.envs.num_envs, bool)
        self.policy: RecurrentPolicyArrays | None = None
        self.rollouts = 0  # rollouts collected, for statistics and tests
        self.shapes = shapes
        self.weights = np.zeros(sum(int(np.prod(shape)) for shape in shapes), np.float32)
        self.groups = update_groups(self.envs.num_envs, config.envs_per_update)
        self.gradients = gradients or GroupGradients(config, shapes, self.groups,
                                                     self.envs.observation_size)

    def pull(self, weights: np.ndarray) -> None:
        """Takes a snapshot of the global weights (flat) to act with and to train at."""
        self.weights = weights
        self.policy = RecurrentPolicyArrays(unflatten(weights, self.shapes),
                                            self.config.lstm_cell_clip)

    def collect(self, statistics: EpisodeStatistics | None = None) -> Rollout:
        """Acts for `n_steps` steps in every environment, carrying the LSTM state.

        Steps and finished episodes are reported to `statistics` as they happen.
        """
        config, envs, policy = self.config, self.envs, self.policy
        steps, num_envs = config.n_steps, envs.num_envs
        observations = np.empty((steps, num_envs, envs.observation_size), np.float32)
        actions = np.empty((steps, num_envs), np.int64)
        rewards = np.empty((steps, num_envs), np.float32)
        values = np.empty((steps, num_envs), np.float32)
        next_values = np.zeros((steps, num_envs), np.float32)
        terminated = np.zeros((steps, num_envs), bool)
        truncated = np.zeros((steps, num_envs), bool)
        episode_starts = np.empty((steps, num_envs), bool)
        initial_h, initial_c = self.h.copy(), self.c.copy()
        h, c = self.h, self.c
        current = envs.observations
        for t in range(steps):
            logits, values[t], h, c = policy.step(current, h, c)
            actions[t] = sample_actions(softmax(logits), self.rng)
            observations[t] = current
            episode_starts[t] = self.episode_starts
            step = envs.step(actions[t])
            rewards[t] = step.rewards * config.reward_scale
            terminated[t], truncated[t] = step.terminated, step.truncated
            if step.final_observations.shape[0]:
                cut = step.truncated
                # V(s') continues the LSTM from the state that produced a_t.
                next_values[t, cut] = policy.values(step.final_observations, h[cut], c[cut])
            done = step.terminated | step.truncated
            if done.any():
                h, c = h.copy(), c.copy()
                h[done] = 0.0
                c[done] = 0.0
            self.episode_starts = done
            current = step.observations
            if statistics is not None:
                statistics.add_steps(num_envs)
                statistics.add_episodes(step.episode_returns, step.episode_lengths)
        live = ~(terminated[-1] | truncated[-1])
        if live.any():
            next_values[-1, live] = policy.values(current[live], h[live], c[live])
        self.h, self.c = h, c
        self.rollouts += 1
        return Rollout(observations, actions, rewards, values, next_values, terminated,
                       truncated, episode_starts, initial_h, initial_c)

    def compute_gradients(self, rollout: Rollout) -> tuple[list[tf.Tensor], tf.Tensor]:
        """One gradient of the actor-critic loss per update group, each clipped by global norm.

        The worker's environments are split into groups of `envs_per_update` (see
        `update_groups`); each group's part of the rollout gives its own gradient, as
        the rollout of one of the tutorial's single-environment workers did. Training
        replays the rollout from the LSTM state it started with; a new episode starts
        from zeros.

        Returns:
            One tensor per variable, `[groups, *variable.shape]`, and the metrics named
            by `METRICS`, `[groups, len(METRICS)]`.
        """
        returns, advantages = returns_and_advantages(
            rollout.rewards, rollout.values, rollout.terminated, rollout.truncated,
            rollout.next_values, self.config.gamma, self.config.gae_lambda)
        if self.config.normalize_advantages:
            advantages = np.concatenate([standardize(advantages[:, group])
                                         for group in self.groups], axis=1)
        per_step = np.stack([rollout.actions, advantages, returns, rollout.episode_starts],
                            axis=-1).astype(np.float32)
        steps = np.concatenate([rollout.observations, per_step], axis=-1)
        initial_state = np.concatenate([rollout.initial_h, rollout.initial_c], axis=1)
        return self.gradients(self.weights, steps, initial_state)

    def close(self) -> None:
        """Closes the worker's environments."""
        self.envs.close()


class GroupGradients:
    """Per-group gradients of the LSTM actor-critic's loss on a rollout, in one pass.

    Every group of environments gets its own copy of the weights; the loss is the sum
    of the groups' losses, each on its own environments' steps, so its gradient with
    respect to a group's copy is that group's gradient. The LSTM is unrolled over the
    rollout (`[n_steps, envs]`, shapes fixed, so it is traced once) and reset to zeros
    where an episode starts, so no gradient crosses an episode boundary. Measured: 7 ms
    for 16 groups of one environment and 40 steps, against 22 ms for 16 backward passes
    through TensorFlow's fused LSTM kernel (which has one kernel for all rows).

    Args:
        config: the run's configuration (rollout length, loss coefficients, clip norm).
        shapes: shapes of the model's trainable variables: LSTM kernel, LSTM bias,
            policy kernel, value kernel (`RecurrentActorCritic`'s order).
        groups: the environments of each group (see `update_groups`).
        observation_size: length of one flat observation.
    """

    def __init__(self, config: A3CConfig, shapes: list[tuple[int, ...]],
                 groups: list[np.ndarray], observation_size: int):
        self.config = config
        self.shapes = shapes
        self.num_groups = len(groups)
        # The group of each environment (groups are consecutive runs of environments).
        self.env_groups = np.repeat(np.arange(len(groups)), [len(group) for group in groups])
        num_envs = len(self.env_groups)
        size = sum(int(np.prod(shape)) for shape in shapes)
        # Inputs are packed into three arrays and the traced concrete function is called
        # directly: here each NumPy-to-tensor conversion costs ~0.1 ms and tf.function's
        # argument binding ~1 ms, a tenth of the whole forward and backward pass.
        self._function = tf.function(self._gradients, input_signature=[
            tf.TensorSpec((size,), tf.float32, name="weights"),
            tf.TensorSpec((config.n_steps, num_envs, observation_size + 4), tf.float32,
                          name="steps"),
            tf.TensorSpec((num_envs, 2 * config.lstm_units), tf.float32,
                          name="initial_state"),
        ]).get_concrete_function()  # traced now, not on the clock
        # A function's first run also optimizes its graph (about a second here): that
        # too happens now. The function is pure, so zeros do no harm.
        self._function(*(tf.zeros(spec.shape, spec.dtype)
                         for spec in self._function.structured_input_signature[0]))

    def __call__(self, weights: np.ndarray, steps: np.ndarray,
                 initial_state: np.ndarray) -> tuple[list[tf.Tensor], tf.Tensor]:
        """Gradients `[groups, *shape]` per variable and metrics `[groups, 5]`.

        Args:
            weights: the flat weights to differentiate at.
            steps: `[n_steps, envs, obs + 4]`: observation, action, advantage, return,
                and 1 where an episode starts.
            initial_state: `[envs, 2 * units]`: the `(h, c)` the rollout started from.
        """
        return self._function(weights, steps, initial_state)

    def _gradients(self, weights, steps, initial_state):
        config, groups = self.config, self.num_groups
        observations, actions, advantages, returns, starts = tf.split(
            steps, [steps.shape[-1] - 4, 1, 1, 1, 1], axis=-1)
        actions, advantages, returns = (tf.squeeze(x, -1)
                                        for x in (actions, advantages, returns))
        env_groups = tf.constant(self.env_groups)
        copies = [tf.tile(part[None], [groups] + [1] * len(part.shape))
                  for part in unflatten(weights, self.shapes)]
        masks = tf.one_hot(env_groups, groups)  # [envs, groups]
        with tf.GradientTape() as tape:
            tape.watch(copies)
            kernel, bias, policy_kernel, value_kernel = (tf.gather(copy, env_groups)
                                                         for copy in copies)
            h, c = tf.split(initial_state, 2, axis=-1)
            features = []
            for t in range(config.n_steps):
                keep = 1.0 - starts[t]
                h, c = lstm_step(observations[t], (h * keep, c * keep), kernel, bias,
                                 config.lstm_cell_clip)
                features.append(h)
            features = tf.stack(features)  # [time, envs, units]
            logits = tf.einsum("tnu,nua->tna", features, policy_kernel)
            values = tf.einsum("tnu,nu->tn", features, value_kernel[..., 0])
            # Each group's means over its own steps: [time, envs] terms → [groups].
            terms = actor_critic_terms(logits, values, actions, advantages, returns)
            counts = config.n_steps * tf.reduce_sum(masks, axis=0)
            policy_loss, value_loss, entropy = (
                tf.linalg.matvec(masks, tf.reduce_sum(term, axis=0), transpose_a=True) / counts
                for term in terms)
            losses = total_loss(policy_loss, value_loss, entropy, config.value_coef,
                                config.entropy_coef)
            total = tf.reduce_sum(losses)
        gradients = tape.gradient(total, copies)
        norms = tf.sqrt(tf.add_n([tf.reduce_sum(tf.reshape(g, [groups, -1]) ** 2, axis=1)
                                  for g in gradients]))
        if config.clip_norm is not None:  # each group's gradient by its own global norm
            scales = config.clip_norm / tf.maximum(norms, config.clip_norm)
            gradients = [g * tf.reshape(scales, [groups] + [1] * (len(g.shape) - 1))
                         for g in gradients]
        metrics = tf.stack([losses, policy_loss, value_loss, entropy, norms], axis=1)
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
    """

    def __init__(self, model: keras.Model, optimizer: keras.optimizers.Optimizer,
                 updates_per_apply: int = 1):
        self.model = model
        self.optimizer = optimizer
        self.updates_per_apply = updates_per_apply
        self._lock = threading.Lock()
        specs = [tf.TensorSpec((updates_per_apply, *v.shape), v.dtype)
                 for v in model.trainable_variables]
        # Traced before any thread calls them; concrete functions skip argument binding.
        self._apply = tf.function(self._apply_gradients,
                                  input_signature=[specs]).get_concrete_function()
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

    def apply(self, gradients: list[tf.Tensor]) -> np.ndarray:
        """Optimizer steps on the global variables; returns the weights after them.

        Args:
            gradients: one tensor per variable, `[updates_per_apply, *variable.shape]`.

        The returned snapshot (which includes other workers' updates so far) is what
        the worker acts with next: pulling and applying are one call.
        """
        with self._lock:
            weights = self._apply(gradients)
        return weights.numpy()

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


def unflatten(weights, shapes: list[tuple[int, ...]]) -> list:
    """A flat weight vector (NumPy or tensor) → one array per variable of `shapes`."""
    sizes = [int(np.prod(shape)) for shape in shapes]
    if isinstance(weights, np.ndarray):
        parts = np.split(weights, np.cumsum(sizes)[:-1])
        return [part.reshape(shape) for part, shape in zip(parts, shapes, strict=True)]
    parts = tf.split(weights, sizes)
    return [tf.reshape(part, shape) for part, shape in zip(parts, shapes, strict=True)]


class A3C(AsyncAlgorithm):
    """Asynchronous advantage actor-critic with an LSTM network (Mnih et al., 2016).

    Example:
        >>> summary = A3C(A3CConfig(env_id="CartPole-v1", max_seconds=30)).learn()
    """

    algo = "a3c"
    config_class = A3CConfig

    def _build(self):
        config: A3CConfig = self.config
        if self.action_spec.kind != CATEGORICAL:
            raise EnvironmentSpecError(
                f"{config.env_id} has continuous actions; A3C supports Discrete action spaces "
                "so far (its LSTM gradient is categorical): train it with GA3C (tfa3c train "
                "ga3c), whose policy is Gaussian for Box actions")
        model = build_model(
            RecurrentActorCritic(self.num_actions, config.lstm_units, seed=config.seed,
                                 cell_clip=config.lstm_cell_clip, name="global_model"),
            self.observation_size)
        optimizer = keras.optimizers.Adam(config.learning_rate, epsilon=config.adam_epsilon)
        optimizer.build(model.trainable_variables)  # before any thread starts
        shapes = [tuple(v.shape) for v in model.trainable_variables]
        first = A3CWorker(0, config, shapes)
        self.workers = [first, *(A3CWorker(index, config, shapes, first.gradients)
                                 for index in range(1, config.workers))]
        self.learner = GlobalLearner(model, optimizer, len(first.groups))
        return model, optimizer

    def _start_threads(self) -> None:
        for worker in self.workers:
            # Bind the worker now: the tutorial's lambda bound the loop variable late.
            self.supervisor.start(f"a3c-worker-{worker.index}",
                                  lambda worker=worker: self._run_worker(worker))

    def _run_worker(self, worker: A3CWorker) -> None:
        weights = self.learner.weights()
        while not self.stop_event.is_set():
            worker.pull(weights)
            rollout = worker.collect(self.statistics)
            gradients, metrics = worker.compute_gradients(rollout)
            weights = self.learner.apply(gradients)
            means = metrics.numpy().mean(axis=0)  # over the update groups
            self.metrics.add(dict(zip(METRICS, means.tolist(), strict=True)))

    def _close(self) -> None:
        for worker in self.workers:
            worker.close()
