"""Environment creation with seeding and space checks; environments stepped together."""

from __future__ import annotations

import contextlib
import importlib
import json
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from tfa3c.errors import EnvironmentSpecError, first_line
from tfa3c.policies.distributions import action_spec, clip


def is_pixels(observation_space: gym.Space) -> bool:
    """Whether observations are images: a uint8 Box of rank 3 (a frame stack, or HxWxC)."""
    return (isinstance(observation_space, gym.spaces.Box) and len(observation_space.shape) == 3
            and observation_space.dtype == np.uint8)


def check_spaces(env_id: str, observation_space: gym.Space, action_space: gym.Space) -> None:
    """Raises EnvironmentSpecError unless the spaces are ones tfa3c supports.

    Supported: Discrete, MultiDiscrete or bounded 1-D Box actions
    (`tfa3c.policies.distributions.action_spec`); flat (1-D) Box observations, or uint8
    images of rank 3 (`[frames, height, width]` or `[height, width, channels]`).
    """
    action_spec(env_id, action_space)
    flat = isinstance(observation_space, gym.spaces.Box) and len(observation_space.shape) == 1
    if not (flat or is_pixels(observation_space)):
        raise EnvironmentSpecError(
            f"{env_id} has observation space {observation_space}; tfa3c supports flat 1-D Box "
            "observations and uint8 images of rank 3 (wrap others with gymnasium's "
            "wrappers, e.g. FlattenObservation, GrayscaleObservation, ResizeObservation, "
            "FrameStackObservation)")


def registered_id(env_id: str) -> str:
    """The registry id of `env_id`, importing its module first for `module:EnvId`.

    A user's own environment is named as gymnasium's `make` names it:
    `package.module:EnvId-v0` imports `package.module` (which registers `EnvId-v0`
    with `gymnasium.register`) and then looks the id up.

    Raises:
        EnvironmentSpecError: the module cannot be imported, or the id is not registered.
    """
    module, _, name = env_id.rpartition(":")
    if name.startswith("ALE/"):  # ale-py registers its games when asked to
        with contextlib.suppress(ImportError):
            import ale_py

            gym.register_envs(ale_py)
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


def env_spaces(env_id: str, env_kwargs: dict[str, Any] | None = None
               ) -> tuple[gym.Space, gym.Space]:
    """The observation and action spaces tfa3c's agents see for `env_id` (checked).

    For an Atari game, those after the standard preprocessing (`tfa3c.atari`).

    Raises:
        EnvironmentSpecError: the environment cannot be made or its spaces are unsupported.
    """
    from tfa3c import atari

    if atari.is_atari(env_id):
        registered_id(env_id)  # an unknown game fails here with gymnasium's list
        observation_space, action_space = atari.spaces(env_id, env_kwargs)
        check_spaces(env_id, observation_space, action_space)
        return observation_space, action_space
    env = make_env(env_id, env_kwargs=env_kwargs)
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


def make_group(env_id: str, num_envs: int, seed: int, env_kwargs: dict[str, Any] | None = None):
    """`num_envs` seeded environments stepped together.

    An `EnvironmentGroup`, or for an Atari game a `tfa3c.atari.AtariGroup` on ale-py's
    C++ vector environment.
    """
    from tfa3c import atari

    if atari.is_atari(env_id):
        return atari.AtariGroup(env_id, num_envs, seed, env_kwargs)
    return EnvironmentGroup(env_id, num_envs, seed, env_kwargs)


def reward_threshold(env_id: str) -> float | None:
    """The return at which the environment counts as solved, if gymnasium defines one.

    Atari games define none; Pong counts as solved at 18, the score the A3C tutorial
    and the peer's benchmark use.
    """
    if env_id.startswith("ALE/Pong-"):
        return 18.0
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


class SteppedTogether:
    """What every group of environments stepped in lockstep shares.

    Its spaces, and the returns and lengths of its running episodes. Subclasses set
    `observation_space`, `action_space`, `action_spec` and `observations` and call
    `_start_counting(num_envs)`; `step` returns a `Transition`.
    """

    observation_space: gym.Space
    action_spec: Any

    @property
    def observation_shape(self) -> tuple[int, ...]:
        """Shape of one observation."""
        return tuple(self.observation_space.shape)

    @property
    def num_actions(self) -> int:
        """Number of discrete actions, or of action dimensions for a Box."""
        return self.action_spec.size

    def _start_counting(self, num_envs: int) -> None:
        self._returns = np.zeros(num_envs)
        self._lengths = np.zeros(num_envs, dtype=np.int64)

    def _count(self, rewards: np.ndarray, done: np.ndarray) -> tuple[list[float], list[int]]:
        """Adds a step's rewards; returns and restarts the episodes that ended (`done`)."""
        self._returns += rewards
        self._lengths += 1
        returns, lengths = self._returns[done].tolist(), self._lengths[done].tolist()
        self._returns[done] = 0.0
        self._lengths[done] = 0
        return returns, lengths


class EnvironmentGroup(SteppedTogether):
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
        # Images stay uint8; vectors become float32, the network's input.
        self.dtype = np.uint8 if is_pixels(self.observation_space) else np.float32
        self.observations = np.stack([
            np.asarray(env.reset(seed=seed + index)[0], dtype=self.dtype)
            for index, env in enumerate(self.envs)])
        self._start_counting(num_envs)

    @property
    def num_envs(self) -> int:
        """Number of environments in the group."""
        return len(self.envs)

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
        done = terminated | truncated
        episode_returns, episode_lengths = self._count(rewards, done)
        finals: list[np.ndarray] = []
        for index in np.flatnonzero(done):
            if truncated[index]:
                finals.append(observations[index])
            observations[index], _ = self.envs[index].reset()
        self.observations = np.asarray(observations, dtype=self.dtype)
        final_observations = (np.asarray(finals, dtype=self.dtype) if finals else
                              np.empty((0, *self.observation_shape), dtype=self.dtype))
        return Transition(self.observations, rewards, terminated, truncated, final_observations,
                          episode_returns, episode_lengths)

    def close(self) -> None:
        """Closes every environment."""
        for env in self.envs:
            env.close()
