"""Environment creation with seeding and space checks; the group that steps them together.

What an environment id resolves to (its spaces, action distribution and kind) is read
once, by `tfa3c.env_spec.resolve_env`, on top of this module.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from tfa3c import atari
from tfa3c.errors import EnvironmentSpecError, first_line
from tfa3c.numerics import NON_FINITE_MODES, EnvironmentOutputError, non_finite_entries
from tfa3c.spaces import action_spec, clip
from tfa3c.stepping import SteppedTogether, Transition


def is_pixels(observation_space: gym.Space) -> bool:
    """Whether observations are images: a uint8 Box of rank 3 (a frame stack, or HxWxC)."""
    return (isinstance(observation_space, gym.spaces.Box) and len(observation_space.shape) == 3
            and observation_space.dtype == np.uint8)


def check_spaces(env_id: str, observation_space: gym.Space, action_space: gym.Space) -> None:
    """Raises EnvironmentSpecError unless the spaces are ones tfa3c supports.

    Supported: Discrete, MultiDiscrete or bounded 1-D Box actions
    (`tfa3c.spaces.action_spec`); flat (1-D) Box observations, or uint8
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
    if atari.is_atari(name):  # ale-py registers its games when asked to
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


def make_group(env_id: str, num_envs: int, seed: int, env_kwargs: dict[str, Any] | None = None,
               *, name: str = "", non_finite: str = "error") -> SteppedTogether:
    """`num_envs` seeded environments stepped together.

    An `EnvironmentGroup`, or for an Atari game a `tfa3c.atari.AtariGroup` on ale-py's
    C++ vector environment.

    Args:
        env_id: the environment id.
        num_envs: how many environments.
        seed: the first environment's seed (the others count up from it).
        env_kwargs: the environment's keyword arguments.
        name: the role that steps them, for error messages (e.g. `a3c-worker-0`).
        non_finite: what a non-finite observation or reward does: "error" stops with
            `EnvironmentOutputError`; "skip" ends that episode and drops the transition.
    """
    if non_finite not in NON_FINITE_MODES:
        raise ValueError(f"invalid non_finite={non_finite!r}: must be one of "
                         f"{', '.join(NON_FINITE_MODES)}")
    if atari.is_atari(env_id):
        group = atari.AtariGroup(env_id, num_envs, seed, env_kwargs)
    else:
        group = EnvironmentGroup(env_id, num_envs, seed, env_kwargs)
    group.name, group.non_finite = name or "environments", non_finite
    return group


def reward_threshold(env_id: str) -> float | None:
    """The return at which the environment counts as solved, if gymnasium defines one.

    Atari games define none; Pong counts as solved at 18, the score the A3C tutorial
    uses.
    """
    if env_id.startswith("ALE/Pong-"):
        return 18.0
    return gym.spec(registered_id(env_id)).reward_threshold


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
        self._shape = tuple(self.observation_space.shape)
        self._no_finals = np.empty((0, *self._shape), dtype=self.dtype)
        self._start_counting(num_envs)
        self.observations = self._stacked(
            [env.reset(seed=seed + index)[0] for index, env in enumerate(self.envs)])
        for index, observation in enumerate(self.observations):
            self._check_reset(index, observation)

    @property
    def num_envs(self) -> int:
        """Number of environments in the group."""
        return len(self.envs)

    def _stacked(self, observations: Sequence) -> np.ndarray:
        """The environments' observations as one array, checked against the declared space.

        Raises:
            EnvironmentOutputError: an observation of another shape or kind than the space
                declares, naming the environment, what it returned and what is allowed.
        """
        try:
            stacked = np.asarray(observations, dtype=self.dtype)
        except (ValueError, TypeError):
            stacked = None
        if (stacked is None or stacked.shape[1:] != self._shape
                # images must be uint8 already: no silent wrap-around
                or (self.dtype == np.uint8
                    and any(np.asarray(o).dtype != np.uint8 for o in observations))):
            for index, observation in enumerate(observations):
                self._check_fits(index, observation)
            raise EnvironmentOutputError(f"{self._where(0)}: the observations do not stack "
                                         f"into arrays of shape {self.observation_shape}")
        return stacked

    def _check_fits(self, index: int, observation) -> None:
        """Raises EnvironmentOutputError unless `observation` has the space's shape and kind."""
        array = np.asarray(observation)
        kind_ok = (array.dtype == np.uint8 if self.dtype == np.uint8
                   else array.dtype.kind in "biuf")
        if array.shape != self.observation_shape or not kind_ok:
            raise EnvironmentOutputError(
                f"{self._where(index)} returned an observation of shape {array.shape} and "
                f"dtype {array.dtype}; its observation space declares shape "
                f"{self.observation_shape} and dtype {self.observation_space.dtype}")

    def _check_reset(self, index: int, observation: np.ndarray) -> None:
        """A reset's observation must be finite even when transitions may be skipped."""
        # A sum is the cheap test (as in `_non_finite`); isfinite the exact one.
        if (observation.dtype.kind == "f"
                and not math.isfinite(float(np.add.reduce(observation.reshape(-1))))
                and not np.isfinite(observation).all()):
            raise EnvironmentOutputError(
                f"{self._where(index)} returned a non-finite observation "
                f"({non_finite_entries(observation)}) from reset")

    def step(self, actions: np.ndarray) -> Transition:
        """Steps every environment with its action; resets those whose episode ended.

        Raises:
            EnvironmentOutputError: an observation that does not fit the space, or (with
                `non_finite="error"`) a non-finite observation or reward.
        """
        # One pass over the environments, everything else on whole arrays: per
        # environment, only the step itself is Python (NumPy integer actions also skip
        # a conversion inside gymnasium's action check).
        if self.action_spec.discrete:
            actions = np.asarray(actions, dtype=np.int64)
        else:  # Gaussian samples are trained on as drawn; the environment gets them clipped
            actions = clip(self.action_spec, np.asarray(actions, dtype=np.float32))
        results = [env.step(action) for env, action in zip(self.envs, actions, strict=True)]
        self.steps_taken += 1
        raw_observations, raw_rewards, raw_terminated, raw_truncated, _ = zip(*results,
                                                                              strict=True)
        observations = self._stacked(raw_observations)
        rewards = np.array(raw_rewards, dtype=np.float32)
        terminated = np.array(raw_terminated, dtype=bool)
        # A time limit hit on a terminal state is a termination.
        truncated = np.array(raw_truncated, dtype=bool) & ~terminated
        bad = self._non_finite(observations, rewards)
        if bad is not None:  # non_finite="skip": cut there, as a time limit would
            self._skip(bad)
            rewards[bad] = 0.0
            terminated[bad] = False
            truncated[bad] = True
            # Bootstrapped from the observation the action was taken on, the last finite one.
            observations[bad] = self.observations[bad]
        done = terminated | truncated
        episode_returns, episode_lengths = self._count(rewards, done, bad)
        # A copy (resets overwrite the rows below); most steps truncate nothing.
        final_observations = observations[truncated] if truncated.any() else self._no_finals
        for index in np.flatnonzero(done):
            observation = self.envs[index].reset()[0]
            if getattr(observation, "shape", None) != self._shape or self.dtype == np.uint8:
                self._check_fits(index, observation)  # raises unless it fits after all
            observations[index] = observation
            self._check_reset(index, observations[index])
        self.observations = observations
        return Transition(self.observations, rewards, terminated, truncated, final_observations,
                          episode_returns, episode_lengths, 0 if bad is None else int(bad.sum()))

    def close(self) -> None:
        """Closes every environment."""
        for env in self.envs:
            env.close()
