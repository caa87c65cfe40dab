"""Environment creation with seeding and space checks; environments stepped together."""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from tfa3c.errors import EnvironmentSpecError


def check_spaces(env_id: str, observation_space: gym.Space, action_space: gym.Space) -> None:
    """Raises EnvironmentSpecError unless the spaces are ones tfa3c supports today.

    Supported: a discrete action space and a flat (1-D) Box observation space.
    """
    if not isinstance(action_space, gym.spaces.Discrete):
        kind = "continuous Box" if isinstance(action_space, gym.spaces.Box) else \
            type(action_space).__name__
        raise EnvironmentSpecError(
            f"{env_id} has a {kind} action space {action_space}; tfa3c supports only "
            "Discrete action spaces (continuous actions are not implemented yet)")
    if not (isinstance(observation_space, gym.spaces.Box) and len(observation_space.shape) == 1):
        raise EnvironmentSpecError(
            f"{env_id} has observation space {observation_space}; tfa3c supports only flat "
            "1-D Box observations (pixel observations are not implemented yet)")


def make_env(env_id: str, seed: int | None = None, **kwargs) -> gym.Env:
    """Makes a gymnasium environment, checks its spaces and seeds its action space.

    The environment itself is seeded by its first `reset(seed=...)`.

    Raises:
        EnvironmentSpecError: unknown id or unsupported spaces.
    """
    if env_id not in gym.registry:
        close = [name for name in gym.registry if name.lower().startswith(env_id.lower()[:4])]
        hint = f" (similar: {', '.join(sorted(close)[:5])})" if close else ""
        raise EnvironmentSpecError(
            f"unknown environment id {env_id!r}{hint}; allowed: any id registered with "
            "gymnasium (see gymnasium.pprint_registry())")
    try:
        env = gym.make(env_id, **kwargs)
    except Exception as error:  # a registered env whose extra dependency is missing
        raise EnvironmentSpecError(
            f"environment {env_id!r} could not be made: {str(error).splitlines()[0]}") from None
    try:
        check_spaces(env_id, env.observation_space, env.action_space)
    except EnvironmentSpecError:
        env.close()
        raise
    if seed is not None:
        env.action_space.seed(seed)
    return env


def reward_threshold(env_id: str) -> float | None:
    """The return at which the environment counts as solved, if gymnasium defines one."""
    spec = gym.spec(env_id)
    return spec.reward_threshold


@dataclass
class Transition:
    """What one lockstep step of an EnvironmentGroup gives back (arrays over environments).

    Attributes:
        observations: Observations to act on next (after automatic resets).
        rewards: Rewards of the step.
        terminated: The episode ended in a terminal state: bootstrap from 0.
        truncated: The episode was cut (time limit): bootstrap from V(final observation).
        final_observations: For each truncated environment, the observation it was cut
            at (rows align with `np.flatnonzero(truncated)`).
        episode_returns: Undiscounted returns of the episodes that ended this step.
        episode_lengths: Lengths of the episodes that ended this step.
    """

    observations: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_observations: np.ndarray
    episode_returns: list[float]
    episode_lengths: list[int]


class EnvironmentGroup:
    """Several environments stepped together, reset automatically when an episode ends.

    A plain loop over environments: for a handful of cheap environments it costs less
    than gymnasium's vector wrappers, and it hands back what returns need (the final
    observation of a truncated episode) without info-dict lookups.
    """

    def __init__(self, env_id: str, num_envs: int, seed: int):
        self.env_id = env_id
        self.envs = [make_env(env_id, seed + index) for index in range(num_envs)]
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        self.observations = np.stack([
            np.asarray(env.reset(seed=seed + index)[0], dtype=np.float32)
            for index, env in enumerate(self.envs)])
        self._returns = np.zeros(num_envs)
        self._lengths = np.zeros(num_envs, dtype=np.int64)

    @property
    def num_envs(self) -> int:
        """Number of environments in the group."""
        return len(self.envs)

    @property
    def observation_size(self) -> int:
        """Length of one flat observation."""
        return int(self.observation_space.shape[0])

    @property
    def num_actions(self) -> int:
        """Number of discrete actions."""
        return int(self.action_space.n)

    def step(self, actions: np.ndarray) -> Transition:
        """Steps every environment with its action; resets those whose episode ended."""
        # One pass over the environments, everything else on whole arrays: per
        # environment, only the step itself is Python (NumPy integer actions also skip
        # a conversion inside gymnasium's action check).
        results = [env.step(action) for env, action in
                   zip(self.envs, np.asarray(actions, dtype=np.int64), strict=True)]
        observations = [result[0] for result in results]
        rewards = np.array([result[1] for result in results], dtype=np.float32)
        terminated = np.array([result[2] for result in results], dtype=bool)
        # A time limit hit on a terminal state is a termination.
        truncated = np.array([result[3] for result in results], dtype=bool) & ~terminated
        self._returns += rewards
        self._lengths += 1
        finals: list[np.ndarray] = []
        episode_returns: list[float] = []
        episode_lengths: list[int] = []
        for index in np.flatnonzero(terminated | truncated):
            if truncated[index]:
                finals.append(observations[index])
            episode_returns.append(float(self._returns[index]))
            episode_lengths.append(int(self._lengths[index]))
            self._returns[index] = 0.0
            self._lengths[index] = 0
            observations[index], _ = self.envs[index].reset()
        self.observations = np.asarray(observations, dtype=np.float32)
        final_observations = (np.asarray(finals, dtype=np.float32) if finals else
                              np.empty((0, self.observations.shape[1]), dtype=np.float32))
        return Transition(self.observations, rewards, terminated, truncated, final_observations,
                          episode_returns, episode_lengths)

    def close(self) -> None:
        """Closes every environment."""
        for env in self.envs:
            env.close()
