"""The rollout buffer both algorithms' actors fill, and the sequences GA3C trains on.

An actor (an A3C worker, a GA3C agent) writes `n_steps` steps of its environments
into a `Rollout`, one step at a time, whether it runs the network itself (A3C) or is
handed predictions (GA3C). A learner reads it back as `[time, envs]` arrays (A3C's
per-group gradients) or as one sequence per environment (`Sequences`, GA3C's
trainers). A3C's returns and advantages are computed from it by `Rollout.targets`;
GA3C's learner computes its own from the sequences (`tfa3c.algorithms.vtrace`), with
the values of its current weights.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from tfa3c.algorithms.returns import discounted_returns, returns_and_advantages
from tfa3c.spaces import ActionSpec


@dataclass
class Rollout:
    """`n_steps` steps of one actor's environments: `[time, envs, ...]` arrays.

    Attributes:
        observations: `[T, N, *obs]` what each action was chosen on: float32 vectors, or
            uint8 frames (kept as they come).
        actions: `[T, N]` integers, or `[T, N, dims]` (multi-discrete integers, or
            continuous float32 actions as sampled, before clipping).
        log_probs: `[T, N]` the behaviour policy's log-probability of each action (the
            policy that acted, exploration included).
        rewards: `[T, N]` scaled rewards.
        values: `[T, N]` V(s_t) as the acting policy saw it.
        next_values: `[T, N]` V(s_{t+1}), read where step t was truncated (the final
            observation's value) and at the last step (the next observation's).
        terminated: `[T, N]` step t ended its episode in a terminal state.
        truncated: `[T, N]` step t's episode was cut (time limit, or a skipped step).
        episode_starts: `[T, N]` s_t is the first observation of an episode.
        policy_versions: `[T]` training updates the acting weights had seen.
        initial_states: `[N, 2 * units]` the recurrent `(h, c)` the rollout started from
            (no columns for a feed-forward policy).
    """

    observations: np.ndarray
    actions: np.ndarray
    log_probs: np.ndarray
    rewards: np.ndarray
    values: np.ndarray
    next_values: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    episode_starts: np.ndarray
    policy_versions: np.ndarray
    initial_states: np.ndarray

    @classmethod
    def empty(cls, steps: int, observations: np.ndarray, spec: ActionSpec,
              initial_states: np.ndarray) -> Rollout:
        """A rollout to fill: `steps` steps of environments whose observations look like these.

        Args:
            steps: the rollout's length.
            observations: `[N, *obs]` the environments' current observations (their shape
                and dtype are kept).
            spec: the action distribution (the actions' shape and dtype).
            initial_states: `[N, 2 * units]` the recurrent state at the rollout's start.
        """
        num_envs = observations.shape[0]
        shape = (steps, num_envs)
        return cls(
            observations=np.empty((*shape, *observations.shape[1:]), observations.dtype),
            actions=np.empty((*shape, *spec.action_shape),
                             np.int32 if spec.discrete else np.float32),
            log_probs=np.empty(shape, np.float32),
            rewards=np.empty(shape, np.float32),
            values=np.empty(shape, np.float32),
            next_values=np.zeros(shape, np.float32),
            terminated=np.zeros(shape, bool),
            truncated=np.zeros(shape, bool),
            episode_starts=np.empty(shape, bool),
            policy_versions=np.empty(steps, np.int64),
            initial_states=np.asarray(initial_states, np.float32),
        )

    @property
    def steps(self) -> int:
        """Steps per environment (T)."""
        return self.rewards.shape[0]

    @property
    def num_envs(self) -> int:
        """Environments (N)."""
        return self.rewards.shape[1]

    def targets(self, gamma: float, gae_lambda: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Value targets and advantages `[T, N]` (n-step returns, or GAE when lambda < 1).

        Episodes are cut where they end: nothing is bootstrapped past a termination, and
        a truncated episode bootstraps from its final observation's value.
        """
        return returns_and_advantages(self.rewards, self.values, self.terminated,
                                      self.truncated, self.next_values, gamma, gae_lambda)

    def sequences(self) -> Sequences:
        """The rollout as one sequence per environment (the learner computes the targets)."""
        steps, num_envs = self.steps, self.num_envs
        return Sequences(
            observations=np.swapaxes(self.observations, 0, 1),
            actions=np.swapaxes(self.actions, 0, 1),
            log_probs=self.log_probs.T,
            rewards=self.rewards.T,
            next_values=self.next_values.T,
            terminated=self.terminated.T.astype(np.float32),
            truncated=self.truncated.T.astype(np.float32),
            policy_versions=np.broadcast_to(self.policy_versions, (num_envs, steps)),
            episode_starts=self.episode_starts.T.astype(np.float32),
            initial_states=self.initial_states,
        )


@dataclass
class Sequences:
    """Rollouts as one sequence per environment: `[sequences, time, ...]` arrays.

    Sequences, not single steps, so that a recurrent policy trains from the state each
    rollout started with; a feed-forward one sees the same rows. The fields are those
    of `Rollout` but for the values the agent saw (the learner has its own), with the
    flags (`terminated`, `truncated`, `episode_starts`) as float32, 1 where true.
    """

    observations: np.ndarray
    actions: np.ndarray
    log_probs: np.ndarray
    rewards: np.ndarray
    next_values: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    policy_versions: np.ndarray
    episode_starts: np.ndarray
    initial_states: np.ndarray

    def __len__(self) -> int:
        return self.rewards.size

    def returns(self, gamma: float) -> np.ndarray:
        """`[sequences, time]` n-step returns of the rewards, cut where episodes end."""
        return discounted_returns(self.rewards.T, self.terminated.T > 0, self.truncated.T > 0,
                                  self.next_values.T, gamma).T

    def split(self, max_samples: int) -> list[Sequences]:
        """These sequences in groups of whole sequences, each of at most `max_samples` steps.

        A group holds at least one sequence, so a sequence longer than `max_samples`
        stays whole. Splitting a wide rollout lets a trainer keep its update size when
        agents step many environments at once.
        """
        rows, length = self.rewards.shape[:2]
        per_group = max(1, max_samples // max(length, 1))
        if rows <= per_group:
            return [self]
        return [type(self)(**{field.name: getattr(self, field.name)[start:start + per_group]
                              for field in fields(self)})
                for start in range(0, rows, per_group)]

    @classmethod
    def concatenate(cls, batch: list[Sequences]) -> Sequences:
        """One batch of the sequences of several rollouts."""
        if len(batch) == 1:
            return batch[0]
        return cls(**{field.name: np.concatenate([getattr(item, field.name) for item in batch])
                      for field in fields(cls)})
