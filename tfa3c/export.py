"""SavedModel export of a trained policy, in TF Serving's layout and TF-Agents' signature names.

`export_policy` writes `export_dir/<model_name>/<version>/`, one version above the
highest already there, and never overwrites one: the SavedModel is written to a hidden
temporary folder beside the versions (TF Serving ignores non-numeric names) and renamed
into place, so a server watching the folder never sees half a model.

Signatures (listed by `saved_model_cli show --dir PATH --all`):

- feed-forward (GA3C): `action` and `serving_default`: `observation` float32
  `[batch, obs]` → `action` int64 `[batch]` (greedy), `probabilities` float32
  `[batch, actions]`, `value` float32 `[batch]`.
- recurrent (A3C): `get_initial_state`: `batch_size` int32 scalar → `state_h`,
  `state_c` float32 `[batch, units]`; `action` and `serving_default`: `observation`,
  `state_h`, `state_c` → `action`, `probabilities`, `value`, `state_h`, `state_c`.
- both: `get_metadata` → string scalars (see `METADATA_KEYS`).

The SavedModel holds only the model's weights and these graphs: it loads with plain
`tf.saved_model.load(path)` in a process that never imports tfa3c or Keras.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid

import keras
import tensorflow as tf

from tfa3c.errors import UserInputError
from tfa3c.layout import existing_versions

ACTION = "action"
SERVING_DEFAULT = "serving_default"
GET_INITIAL_STATE = "get_initial_state"
GET_METADATA = "get_metadata"

# Keys of `get_metadata`'s outputs, all string scalars.
METADATA_KEYS = ("algorithm", "env_id", "observation_space", "action_space", "observation_size",
                 "num_actions", "policy", "lstm_units", "tfa3c_version", "env_steps")

_MODEL_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _space_descriptions(env_id: str, observation_size: int, num_actions: int) -> tuple[str, str]:
    """The environment's spaces as text; falls back to their sizes if it cannot be made."""
    try:
        from tfa3c.envs import make_env

        env = make_env(env_id)
    except UserInputError:
        return f"Box(shape=({observation_size},), float32)", f"Discrete({num_actions})"
    try:
        return str(env.observation_space), str(env.action_space)
    finally:
        env.close()


class _PolicyModule(tf.Module):
    """The exported object: the model's variables and the signature functions.

    Only the variables are tracked (not the Keras model), so loading needs no Keras
    classes and the SavedModel holds no optimizer state.
    """

    def __init__(self, model: keras.Model, observation_size: int, metadata: dict[str, str]):
        super().__init__(name="tfa3c_policy")
        self._model = model  # used while tracing only; not saved (see _trackable_children)
        self.policy_variables = list(model.variables)
        self._observation_size = observation_size
        self._metadata = dict(metadata)
        self.recurrent = hasattr(model, "lstm_units")
        obs = tf.TensorSpec([None, observation_size], tf.float32, name="observation")
        if self.recurrent:
            units = int(model.lstm_units)
            state = [tf.TensorSpec([None, units], tf.float32, name="state_h"),
                     tf.TensorSpec([None, units], tf.float32, name="state_c")]
            self.action = tf.function(self._recurrent_action, input_signature=[obs, *state])
            self.get_initial_state = tf.function(
                self._initial_state,
                input_signature=[tf.TensorSpec([], tf.int32, name="batch_size")])
        else:
            self.action = tf.function(self._feed_forward_action, input_signature=[obs])
        self.get_metadata = tf.function(self._get_metadata, input_signature=[])

    def _trackable_children(self, save_type="checkpoint", **kwargs):
        # Keep the Keras model out of the object graph: its variables are saved through
        # `policy_variables`, and a loader then needs nothing but TensorFlow.
        children = super()._trackable_children(save_type, **kwargs)
        children.pop("_model", None)
        return children

    def _check_observation(self, observation: tf.Tensor) -> tf.Tensor:
        # Signature calls (TF Serving, C++, `loaded.signatures[...]` in Python) do not
        # enforce the placeholders' shapes: without this, a wrong width or rank fails
        # deep inside a matmul or concat with a message that names neither. The rank is
        # counted through a boolean mask because tf.rank, and Grappler when the graph is
        # loaded, would fold it to the declared rank 2.
        size = self._observation_size
        shape = tf.raw_ops.Shape(input=observation)
        rank_ok = tf.equal(tf.size(tf.boolean_mask(shape, shape >= 0)), 2)
        width_ok = tf.equal(shape[-1], size)
        check = tf.debugging.Assert(
            tf.logical_and(rank_ok, width_ok),
            [f"observation must have shape [batch, {size}] (float32); got shape", shape])
        with tf.control_dependencies([check]):
            return tf.identity(observation)

    def _outputs(self, logits: tf.Tensor, values: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"action": tf.argmax(logits, axis=-1, output_type=tf.int64),
                "probabilities": tf.nn.softmax(logits, axis=-1),
                "value": tf.reshape(values, [-1])}

    def _feed_forward_action(self, observation):
        logits, values = self._model(self._check_observation(observation))
        return self._outputs(logits, values)

    def _recurrent_action(self, observation, state_h, state_c):
        logits, values, (h, c) = self._model.step(self._check_observation(observation),
                                                  (state_h, state_c))
        return {**self._outputs(logits, values), "state_h": h, "state_c": c}

    def _initial_state(self, batch_size):
        units = int(self._model.lstm_units)
        zeros = tf.zeros(tf.stack([batch_size, units]), dtype=tf.float32)
        return {"state_h": zeros, "state_c": tf.identity(zeros)}

    def _get_metadata(self):
        return {key: tf.constant(value, dtype=tf.string) for key, value in self._metadata.items()}

    def signatures(self) -> dict:
        """The signature map for `tf.saved_model.save`."""
        action = self.action.get_concrete_function()
        signatures = {ACTION: action, SERVING_DEFAULT: action,
                      GET_METADATA: self.get_metadata.get_concrete_function()}
        if self.recurrent:
            signatures[GET_INITIAL_STATE] = self.get_initial_state.get_concrete_function()
        return signatures


def export_policy(model: keras.Model, export_dir: str, model_name: str, *, algo: str,
                  env_id: str, env_steps: int = 0) -> str:
    """Exports `model`'s policy as a SavedModel under `export_dir/<model_name>/<version>/`.

    Args:
        model: a built `RecurrentActorCritic` (recurrent signatures) or
            `FeedForwardActorCritic` (feed-forward signatures).
        export_dir: the folder that holds one folder per model (e.g. `savedmodels`).
        model_name: the model's folder name, e.g. `a3c_cartpole`.
        algo: the algorithm that trained it, "a3c" or "ga3c" (metadata).
        env_id: the gymnasium environment id it was trained on (metadata).
        env_steps: environment steps it was trained for (metadata).

    Returns:
        The path of the new version folder.

    Raises:
        UserInputError: the model is not built, or `model_name` is not a plain folder name.
    """
    from tfa3c import __version__

    if not model_name or not _MODEL_NAME.match(model_name):
        raise UserInputError(f"invalid model name {model_name!r}: use letters, digits, "
                             "'_', '-' and '.' only")
    if not model.built or not model.variables:
        raise UserInputError("the model has no weights yet: build it (tfa3c.networks."
                             "build_model) or train it before exporting")
    kernel = model.torso.kernel if hasattr(model, "lstm_units") else model.torso.layers_[0].kernel
    lstm_units = int(getattr(model, "lstm_units", 0))
    observation_size = int(kernel.shape[0]) - lstm_units
    num_actions = int(model.num_actions)
    observation_space, action_space = _space_descriptions(env_id, observation_size, num_actions)
    metadata = {
        "algorithm": algo,
        "env_id": env_id,
        "observation_space": observation_space,
        "action_space": action_space,
        "observation_size": str(observation_size),
        "num_actions": str(num_actions),
        "policy": "recurrent" if lstm_units else "feed_forward",
        "lstm_units": str(lstm_units),
        "tfa3c_version": __version__,
        "env_steps": str(int(env_steps)),
    }
    module = _PolicyModule(model, observation_size, metadata)
    signatures = module.signatures()

    model_dir = os.path.join(export_dir, model_name)
    os.makedirs(model_dir, exist_ok=True)
    temporary = os.path.join(model_dir, f".tmp-{uuid.uuid4().hex}")
    try:
        tf.saved_model.save(module, temporary, signatures=signatures)
        # Another exporter may take a version between listing and renaming: renaming a
        # folder onto an existing non-empty one fails, so try the next number.
        for _ in range(100):
            versions = existing_versions(model_dir)
            target = os.path.join(model_dir, str((versions[-1] if versions else 0) + 1))
            if os.path.exists(target):
                continue
            try:
                os.rename(temporary, target)
            except OSError:
                continue
            return target
        raise UserInputError(f"could not claim a new version folder under {model_dir}")
    finally:
        if os.path.exists(temporary):
            shutil.rmtree(temporary, ignore_errors=True)
