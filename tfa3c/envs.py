"""Environment creation with seeding and space checks; environments stepped together."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from tfa3c.errors import EnvironmentSpecError, first_line
from tfa3c.policies.distributions import action_spec, clip


def check_spaces(env_id: str, observation_space: gym.Space, action_space: gym.Space) -> None:
    """Raises EnvironmentSpecError unless the spaces are ones tfa3c supports today.

    Supported: Discrete or bounded 1-D Box actions (`tfa3c.policies.distributions.action_spec`)
    and a flat (1-D) Box observation space.
    """
    action_spec(env_id, action_space)
    if not (isinstance(observation_space, gym.spaces.Box) and len(observation_space.shape) == 1):
        raise EnvironmentSpecError(
            f"{env_id} has observation space {observation_space}; tfa3c supports only flat "
            "1-D Box observations (pixel observations are not implemented yet)")


def registered_id(env_id: str) -> str:
    """The registry id of `env_id`, importing its module first for `module:EnvId`.

    A user's own environment is named as gymnasium's `make` names it:
    `package.module:EnvId-v0` imports `package.module` (which registers `EnvId-v0`
    with `gymnasium.register`) and then looks the id up.

    Raises:
        EnvironmentSpecError: the module cannot be imported, or the id is not registered.
    """
    module, _, name = env_id.rpartition(":")
    if module:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise EnvironmentSpecError(
                f"cannot import module {module!r} of environment {env_id!r} ({error}); it must "
                "be importable: installed, or its folder on PYTHONPATH") from None
        except Exception as error:  # the user's module itself fails: say where, in one line
            message = (str(error).splitlines() or [""])[0]
            raise EnvironmentSpecError(
                f"importing module {module!r} of environment {env_id!r} failed: "
                f"{type(error).__name__}: {message}") from None
    if name not in gym.registry:
        close = [known for known in gym.registry if known.lower().startswith(name.lower()[:4])]
        hint = f" (similar: {', '.join(sorted(close)[:5])})" if close else ""
        where = f" after importing {module!r}" if module else ""
        raise EnvironmentSpecError(
            f"unknown environment id {name!r}{where}{hint}; allowed: any id registered with "
            "gymnasium (see gymnasium.pprint_registry()), or module:EnvId for your own")
    return name


def parse_env_kwargs(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`KEY=VALUE` strings → keyword arguments for `gymnasium.make`.

    A value is read as JSON where it is one (`8`, `0.5`, `true`, `null`, `[1, 2]`,
    `"text"`) and taken as a plain string otherwise (`render_mode=rgb_array`).

    Raises:
        EnvironmentSpecError: an item without `=` or with an empty key.
    """
    kwargs: dict[str, Any] = {}
    for item in items:
        key, separator, text = item.partition("=")
        if not separator or not key.strip():
            raise EnvironmentSpecError(
                f"invalid --env-kwargs item {item!r}: expected KEY=VALUE, e.g. length=8")
        try:
            kwargs[key.strip()] = json.loads(text)
        except ValueError:
            kwargs[key.strip()] = text
    return kwargs


def make_env(env_id: str, seed: int | None = None, env_kwargs: dict[str, Any] | None = None,
             **kwargs) -> gym.Env:
    """Makes a gymnasium environment, checks its spaces and seeds its action space.

    The environment itself is seeded by its first `reset(seed=...)`.

    Args:
        env_id: a registered id, or `module:EnvId` for one registered by `module`.
        seed: seeds the action space.
        env_kwargs: keyword arguments for the environment (`--env-kwargs`).
        **kwargs: more keyword arguments for `gymnasium.make` (e.g. `render_mode`).

    Raises:
        EnvironmentSpecError: unknown id, arguments it does not take, or unsupported spaces.
    """
    name = registered_id(env_id)
    try:
        env = gym.make(name, **(env_kwargs or {}), **kwargs)
    except Exception as error:  # bad keyword arguments, a missing extra dependency, ...
        arguments = f" with {json.dumps(env_kwargs)}" if env_kwargs else ""
        raise EnvironmentSpecError(
            f"environment {env_id!r} could not be made{arguments}: "
            f"{first_line(error)}") from None
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
    return gym.spec(registered_id(env_id)).reward_threshold


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

    def __init__(self, env_id: str, num_envs: int, seed: int,
                 env_kwargs: dict[str, Any] | None = None):
        self.env_id = env_id
        self.envs = [make_env(env_id, seed + index, env_kwargs) for index in range(num_envs)]
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        self.action_spec = action_spec(env_id, self.action_space)
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
        """Number of discrete actions, or of action dimensions for a Box."""
        return self.action_spec.size

    def step(self, actions: np.ndarray) -> Transition:
        """Steps every environment with its action; resets those whose episode ended."""
        # One pass over the environments, everything else on whole arrays: per
        # environment, only the step itself is Python (NumPy integer actions also skip
        # a conversion inside gymnasium's action check).
        if self.action_spec.discrete:
            actions = np.asarray(actions, dtype=np.int64)
        else:  # Gaussian samples are trained on as drawn; the environment gets them clipped
            actions = clip(self.action_spec, np.asarray(actions, dtype=np.float32))
        results = [env.step(action) for env, action in zip(self.envs, actions, strict=True)]
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
