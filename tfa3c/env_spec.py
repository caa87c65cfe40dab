"""An environment id resolved once: its spaces, action distribution, kind and threshold.

`resolve_env` makes the environment (for an Atari game, one preprocessed game on
ale-py's vector environment), checks its spaces and reads everything the rest of the
package asks of it into one immutable `EnvSpec`: the configuration's presets, the
policy's shape and head, TensorFlow's thread settings, the solve threshold and the
hosted roles all read the same object instead of looking the spaces up again.
"""

from __future__ import annotations

import json
import threading
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from tfa3c import atari
from tfa3c.envs import check_spaces, is_pixels, make_env, registered_id, reward_threshold
from tfa3c.spaces import GAUSSIAN, ActionSpec, action_spec

# What a configuration's preset is chosen by (`tfa3c.algorithms.presets`).
DISCRETE = "discrete"
CONTINUOUS = "continuous"
PIXELS = "pixels"  # image observations (Atari), whatever the actions
PRESET_KINDS = (DISCRETE, CONTINUOUS, PIXELS)


@dataclass(frozen=True, eq=False)
class EnvSpec:
    """What tfa3c knows of an environment once its id is resolved (`resolve_env`).

    Attributes:
        env_id: the id as given (`CartPole-v1`, `ALE/Pong-v5`, `module:EnvId-v0`).
        env_kwargs: the environment's keyword arguments (a read-only copy).
        observation_space: the observation space the agents see (after Atari's
            preprocessing), checked to be supported.
        action_space: the action space, checked to be supported.
        observation_shape: one observation's shape.
        observation_dtype: what the network is fed: `uint8` frames or `float32` vectors.
        pixels: whether observations are uint8 images of rank 3.
        atari: whether the id names an Atari game run on ale-py's vector environment.
        action: the action distribution's description.
        preset_kind: `discrete`, `continuous` or `pixels`: which preset applies.
        reward_threshold: the mean return that counts as solved, if one is defined.
    """

    env_id: str
    env_kwargs: Mapping[str, Any]
    observation_space: gym.Space
    action_space: gym.Space
    observation_shape: tuple[int, ...]
    observation_dtype: str
    pixels: bool
    atari: bool
    action: ActionSpec
    preset_kind: str
    reward_threshold: float | None

    @property
    def observation_size(self) -> int:
        """Values per observation."""
        size = 1
        for dimension in self.observation_shape:
            size *= dimension
        return size


# Resolved specs by id and keyword arguments, with the registry entry they were read
# from: making an environment can take a second (an Atari ROM, a user's module), and
# the configuration, the algorithm and each hosted role of one process ask for it.
_RESOLVED: dict[tuple[str, str], tuple[Any, EnvSpec]] = {}
_LOCK = threading.Lock()


def _spaces(env_id: str, env_kwargs: dict[str, Any]) -> tuple[gym.Space, gym.Space]:
    """The checked observation and action spaces the agents see for `env_id`."""
    if atari.is_atari(env_id):
        # The preprocessed spaces come from the vector environment, not gymnasium's `make`.
        observation_space, action_space = atari.spaces(env_id, env_kwargs)
        check_spaces(env_id, observation_space, action_space)
        return observation_space, action_space
    env = make_env(env_id, env_kwargs=env_kwargs)
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


def resolve_env(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> EnvSpec:
    """The `EnvSpec` of `env_id` made with `env_kwargs`: the one place spaces are read.

    A process resolves each id and set of keyword arguments once; later calls return
    the same object unless the id was registered anew in between.

    Raises:
        EnvironmentSpecError: an unknown id, arguments the environment does not take, or
            spaces tfa3c does not support (the same one-line errors as `make_env`).
    """
    kwargs = dict(env_kwargs or {})
    name = registered_id(env_id)  # an unknown id (an unknown game too) fails here
    entry = gym.registry.get(name)
    try:
        key = (env_id, json.dumps(kwargs, sort_keys=True))
    except (TypeError, ValueError):  # arguments that are not JSON: resolved every time
        key = None
    with _LOCK:
        cached = _RESOLVED.get(key) if key is not None else None
    if cached is not None and cached[0] is entry:
        return cached[1]
    observation_space, action_space = _spaces(env_id, kwargs)
    pixels = is_pixels(observation_space)
    action = action_spec(env_id, action_space)
    spec = EnvSpec(
        env_id=env_id, env_kwargs=types.MappingProxyType(kwargs),
        observation_space=observation_space, action_space=action_space,
        observation_shape=tuple(int(d) for d in observation_space.shape),
        observation_dtype="uint8" if pixels else "float32", pixels=pixels,
        atari=atari.is_atari(env_id), action=action,
        preset_kind=PIXELS if pixels else CONTINUOUS if action.kind == GAUSSIAN else DISCRETE,
        reward_threshold=reward_threshold(env_id))
    if key is not None:
        with _LOCK:
            _RESOLVED[key] = (entry, spec)
    return spec
