"""Checkpoints of a run: model, optimizer and counters, and the network they belong to.

`tf.train.CheckpointManager` writes each checkpoint's shards under temporary names,
renames them into place and then atomically rewrites the `checkpoint` index, so an
interrupted save never leaves a half-written checkpoint as the newest one.

Beside the checkpoints, `network.json` holds the network's Keras configuration
(`keras.saving.serialize_keras_object`) and its observation size: `tfa3c export`
rebuilds exactly the trained network from it (cell clip, layer sizes and all), and
`--resume` refuses a run whose options would build a different one.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import tensorflow as tf

from tfa3c.errors import CheckpointError, first_line
from tfa3c.layout import CHECKPOINT_FOLDER, NETWORK_FILE
from tfa3c.numerics import NonFiniteError, describe_names, non_finite_variables
from tfa3c.policies.network_options import FLOAT32, NetworkOptions, from_keras_config
from tfa3c.spaces import ActionSpec
from tfa3c.statistics import WINDOW, Counters


def network_description(model: keras.Model) -> dict:
    """What `network.json` holds for a built model: its Keras config and observation shape.

    `observation_size` (values per observation) is kept beside the shape for the
    descriptions of runs written before images were supported.
    """
    return {"observation_size": int(model.observation_size),
            "observation_shape": [int(d) for d in model.observation_shape],
            "keras": keras.saving.serialize_keras_object(model)}


def observation_shape(description: dict) -> tuple[int, ...]:
    """The observation shape a network description was built for."""
    if "observation_shape" in description:
        return tuple(int(d) for d in description["observation_shape"])
    return (int(description["observation_size"]),)


def write_network(directory: str, model: keras.Model) -> str:
    """Writes `directory/network.json` for `model` (atomically: temporary file, rename)."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, NETWORK_FILE)
    temporary = f"{path}.tmp"
    with open(temporary, "w") as file:
        json.dump(network_description(model), file, indent=2)
    os.replace(temporary, path)
    return path


def read_network_description(directory: str) -> dict | None:
    """`network.json`'s content, or None if the run has none (runs of tfa3c 0.1).

    Raises:
        CheckpointError: the file exists but is not a network description.
    """
    path = os.path.join(directory, NETWORK_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as file:
            description = json.load(file)
        int(description["observation_size"])
        dict(description["keras"]["config"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{path} is not a tfa3c network description "
                              f"({type(error).__name__}: {first_line(error)})") from None
    return description


def described_network(description: dict) -> tuple[tuple[int, ...], ActionSpec, NetworkOptions]:
    """The observation shape, action distribution and options `description` was built with.

    What `tfa3c.policies.build_policy` takes: a saved network is rebuilt by the function
    that built it for training. Only tfa3c's actor-critic is read (no code, no other
    class), as Keras' `safe_mode` would.

    Raises:
        CheckpointError: the description names a class or option tfa3c cannot build.
    """
    try:
        keras_object = description["keras"]
        action, options = from_keras_config(keras_object["class_name"],
                                            dict(keras_object["config"]))
        return observation_shape(description), action, options
    except (ValueError, TypeError, KeyError) as error:
        raise CheckpointError(f"cannot rebuild the run's network from its {NETWORK_FILE}: "
                              f"{first_line(error)}") from None


def described_policy(description: dict) -> keras.Model:
    """The (untrained, built) network that `description` describes (`described_network`).

    Raises:
        CheckpointError: the description names a class or option tfa3c cannot build.
    """
    from tfa3c.policies.actor_critic import build_policy

    shape, action, options = described_network(description)
    try:
        return build_policy(shape, action, options)
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"cannot rebuild the run's network from its {NETWORK_FILE}: "
                              f"{first_line(error)}") from None


# Keys of the networks' configs that may change on resume: `precision` is the convolutions'
# compute dtype, over the same float32 variables.
_NOT_COMPARED = ("name", "trainable", "dtype", "seed", "precision")


def float32_policy(model: keras.Model) -> keras.Model:
    """`model` itself if it computes in float32, else a float32 copy of its weights.

    A policy trained under `mixed_bfloat16` is served in float32: the same variables,
    no bfloat16 rounding, and no slow bfloat16 emulation on CPUs without it. Weights
    are copied by their names within the model.
    """
    if getattr(model, "precision", FLOAT32) == FLOAT32:
        return model
    twin = described_policy(network_description(model))

    def by_name(variables):
        return {variable.path.split("/", 1)[-1]: variable for variable in variables}

    sources, targets = by_name(model.weights), by_name(twin.weights)
    if sources.keys() != targets.keys():
        raise CheckpointError(f"the float32 copy of {model.name} has other weights: "
                              f"{sorted(sources.keys() ^ targets.keys())}")
    for name, target in targets.items():
        target.assign(sources[name])
    return twin


def network_differences(saved: dict, model: keras.Model) -> list[str]:
    """`option saved→current` for each network option where `model` differs from `saved`.

    The saved network is rebuilt first, so options it does not name (written before
    the option existed) compare as their defaults, and a network saved under one of
    `ActorCritic`'s older class names compares by its options alone.
    """
    from tfa3c.policies.actor_critic import ActorCritic

    current = network_description(model)
    differences = []
    if observation_shape(saved) != observation_shape(current):
        differences.append(f"observation_shape {list(observation_shape(saved))}→"
                           f"{list(observation_shape(current))}")
        return differences
    old_model = described_policy(saved)
    if not (isinstance(old_model, ActorCritic) and isinstance(model, ActorCritic)) and (
            type(old_model) is not type(model)):
        differences.append(f"network {type(old_model).__name__}→{type(model).__name__}")
    # JSON round trip: tuples become lists in both.
    old, new = (json.loads(json.dumps(m.get_config(), default=list))
                for m in (old_model, model))
    for key in sorted(set(old) | set(new)):
        if key not in _NOT_COMPARED and old.get(key) != new.get(key):
            differences.append(f"{key} {old.get(key)}→{new.get(key)}")
    return differences


class Checkpointer:
    """Saves and restores a model, its optimizer and the run's counters.

    Args:
        logdir: the run folder; checkpoints go to `logdir/checkpoints/`.
        model: the global model (built).
        optimizer: its optimizer (built, so that its slots exist before a restore).
        keep: how many checkpoints to keep.
        extras: further state to save and restore by name, e.g. the reward
            normalizer's statistics.
    """

    def __init__(self, logdir: str, model: keras.Model, optimizer: keras.optimizers.Optimizer,
                 keep: int = 3, extras: dict[str, tf.Variable] | None = None):
        self.directory = os.path.join(logdir, CHECKPOINT_FOLDER)
        self.model = model
        self.optimizer = optimizer
        self.extras = dict(extras or {})
        self._env_steps = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._episodes = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._recent_returns = tf.Variable(np.zeros(WINDOW, np.float64), trainable=False)
        self._recent_count = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._training_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self.checkpoint = tf.train.Checkpoint(
            model=model, optimizer=optimizer, env_steps=self._env_steps,
            episodes=self._episodes, recent_returns=self._recent_returns,
            recent_count=self._recent_count, training_seconds=self._training_seconds,
            **(extras or {}))
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=keep)

    def write_network(self) -> str:
        """Writes `network.json` beside the checkpoints."""
        return write_network(self.directory, self.model)

    def non_finite(self) -> list[str]:
        """The saved variables (model, optimizer, extras) that hold a NaN or an infinity."""
        return non_finite_variables([*self.model.variables, *self.optimizer.variables,
                                     *self.extras.values()])

    def save(self, counters: Counters) -> str:
        """Writes a checkpoint with `counters`, numbered by the env step count; returns its path.

        Raises:
            NonFiniteError: a variable holds a NaN or an infinity. Nothing is written,
                so the checkpoints already there (the last finite one) stay.
        """
        bad = self.non_finite()
        if bad:
            raise NonFiniteError(
                f"refused to write a checkpoint: non-finite values in {describe_names(bad)}; "
                f"the last finite checkpoint is {self.manager.latest_checkpoint}")
        padded = np.zeros(WINDOW)
        padded[:len(counters.recent_returns)] = counters.recent_returns
        self._env_steps.assign(counters.env_steps)
        self._episodes.assign(counters.episodes)
        self._recent_returns.assign(padded)
        self._recent_count.assign(len(counters.recent_returns))
        self._training_seconds.assign(counters.training_seconds)
        return self.manager.save(checkpoint_number=counters.env_steps)

    def _check_extras(self, path: str) -> None:
        """The run's extra state (the reward statistics) must be in the checkpoint, and only then.

        Raises:
            CheckpointError: naming the option the run was trained with.
        """
        try:
            names = {name.split("/", 1)[0] for name, _ in tf.train.list_variables(path)}
        except Exception:  # an unreadable checkpoint: `read` says so below
            return
        if "reward_statistics" in self.extras and "reward_statistics" not in names:
            raise CheckpointError(f"checkpoint {path} was trained without reward normalization; "
                                  "resume with --no-normalize-rewards (normalize_rewards=False)")
        if "reward_statistics" in names and "reward_statistics" not in self.extras:
            raise CheckpointError(f"checkpoint {path} was trained with reward normalization; "
                                  "resume without --no-normalize-rewards")

    def restore_latest(self) -> tuple[str, Counters]:
        """Restores the newest checkpoint into the model and optimizer; returns its counters.

        Raises:
            CheckpointError: no checkpoint; one written by a different network; or one
                that cannot be read or does not fit.
        """
        path = self.manager.latest_checkpoint
        if path is None:
            raise CheckpointError(
                f"no checkpoint to resume from in {self.directory}; --resume needs the "
                "--logdir of an earlier run of the same algorithm and network")
        saved = read_network_description(self.directory)
        if saved is not None:
            differences = network_differences(saved, self.model)
            if differences:
                raise CheckpointError(
                    f"checkpoint {path} belongs to a different network ("
                    f"{', '.join(differences)}); resume with the options it was trained with")
        self._check_extras(path)
        try:
            status = self.checkpoint.read(path)
            status.assert_existing_objects_matched()
        except Exception as error:  # OpError, ValueError, AssertionError, IndexError, ...
            raise CheckpointError(f"checkpoint {path} is corrupt or does not fit this model: "
                                  f"{first_line(error)}") from None
        bad = self.non_finite()
        if bad:
            raise CheckpointError(
                f"checkpoint {path} holds non-finite values in {describe_names(bad)}; it "
                "cannot be resumed: resume from an earlier, finite checkpoint (edit the "
                "`checkpoint` file beside it) or start a new run")
        count = int(self._recent_count.numpy())
        counters = Counters(int(self._env_steps.numpy()), int(self._episodes.numpy()),
                            tuple(self._recent_returns.numpy()[:count].tolist()),
                            float(self._training_seconds.numpy()))
        return path, counters
