"""SavedModel export of a trained policy, in TF Serving's layout and TF-Agents' signature names.

`export_policy` writes `export_dir/<model_name>/<version>/`, one version above the
highest already there, and never overwrites one: the SavedModel is written to a hidden
temporary folder beside the versions (TF Serving ignores non-numeric names) and renamed
into place, so a server watching the folder never sees half a model.

Signatures (listed by `saved_model_cli show --dir PATH --all`):

- feed-forward encoder (`mlp`, GA3C's default): `action` and `serving_default`:
  `observation` float32 `[batch, obs]` → `action` int64 `[batch]` (greedy), `probabilities` float32
  `[batch, actions]`, `value` float32 `[batch]`; for continuous (Box) actions,
  `action` float32 `[batch, dims]` (the mean, clipped to the bounds), `mean` and
  `log_std` float32 `[batch, dims]`, `value`; for MultiDiscrete actions, `action` int64
  `[batch, dims]` (the greedy action of each dimension) and `probabilities`
  `[batch, sum(nvec)]` (each dimension's probabilities side by side, as `action_nvec`
  in the metadata splits them).
- recurrent encoder (`lstm`, `mlp-lstm`; A3C's default): `get_initial_state`:
  `batch_size` int32 scalar → `state_h`, `state_c` float32 `[batch, units]`; `action`
  and `serving_default`: `observation`, `state_h`, `state_c` → the feed-forward
  outputs (`action`, `probabilities` or `mean` and `log_std`, `value`), `state_h`,
  `state_c`.
- pixel encoders (`cnn`, `nature-cnn`, `cnn-lstm`): the same, with `observation` uint8
  `[batch, frames, 84, 84]`: the preprocessed frame stack (frames first, as
  `observation_layout` says), which the network scales itself; `preprocessing` in the
  metadata names what makes it from the game's screens (`tfa3c.atari`).
- both: `get_metadata` → string scalars (see `METADATA_KEYS`).

The SavedModel holds only the model's weights and these graphs, written by Keras'
`ExportArchive`: it runs under `tf.saved_model.load(path)` in a process that never
imports tfa3c or Keras, under the session-based loader that `saved_model_cli run`, TF
Serving and the C API use, and in `keras.layers.TFSMLayer`. Every input is checked:
a wrong rank or width is an error that names the input and the shape it must have, and
so is a NaN or an infinity (which would give NaN actions and values).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid

import keras
import tensorflow as tf

from tfa3c.checkpoints import float32_policy, network_description
from tfa3c.errors import UserInputError
from tfa3c.layout import existing_versions
from tfa3c.numerics import describe_names, non_finite_variables
from tfa3c.policies import distributions
from tfa3c.policies.distributions import ActionSpec

ACTION = "action"
SERVING_DEFAULT = "serving_default"
GET_INITIAL_STATE = "get_initial_state"
GET_METADATA = "get_metadata"

# Keys of `get_metadata`'s outputs, all string scalars.
METADATA_KEYS = ("algorithm", "env_id", "observation_space", "action_space", "observation_size",
                 "num_actions", "policy", "lstm_units", "tfa3c_version", "env_steps",
                 "network", "env_kwargs", "action_kind", "action_nvec", "observation_shape",
                 "observation_dtype", "observation_layout", "preprocessing")

_MODEL_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _space_descriptions(env_id: str, observation_shape: tuple[int, ...], dtype: str,
                        spec: ActionSpec, env_kwargs: dict | None = None) -> tuple[str, str]:
    """The environment's spaces as text; falls back to their shapes if it cannot be made."""
    from tfa3c.env_spec import resolve_env

    try:
        env = resolve_env(env_id, env_kwargs)
    except UserInputError:
        return f"Box(shape={tuple(observation_shape)}, {dtype})", spec.describe()
    return str(env.observation_space), str(env.action_space)


def _checked(tensor: tf.Tensor, name: str, width: int | tuple[int, ...],
             batch: tf.Tensor | None = None, dtype: str = "float32") -> tf.Tensor:
    """`tensor`, run only once it is known to be `[batch, *width]`; else an error naming it.

    Signature calls (TF Serving, `saved_model_cli run`, the C API, `loaded.signatures`)
    do not enforce the placeholders' shapes: without this, a wrong width or rank fails
    deep inside a matmul with a message that names no input. The rank is counted
    through a boolean mask because tf.rank, and Grappler once the graph is loaded,
    would fold it to the declared rank 2.
    """
    tail = (width,) if isinstance(width, int) else tuple(width)
    rank = len(tail) + 1
    shape = tf.raw_ops.Shape(input=tensor)
    # Padded in front, so that indexing works on a scalar too (whose rank check fails).
    padded = tf.concat([[-1] * (rank + 1), shape], axis=0)
    ok = tf.logical_and(tf.equal(tf.size(tf.boolean_mask(shape, shape >= 0)), rank),
                        tf.reduce_all(tf.equal(padded[-len(tail):], tail)))
    expected = f"[batch, {', '.join(str(d) for d in tail)}]"
    if batch is not None:  # the recurrent state goes with the observation's rows
        ok = tf.logical_and(ok, tf.equal(padded[-rank], batch))
        expected = f"{expected} with the same batch as observation"
    checks = [tf.debugging.Assert(
        ok, [f"{name} must have shape {expected} ({dtype}); got shape", shape])]
    if tensor.dtype.is_floating:  # a NaN in gives NaN actions and values out
        with tf.control_dependencies(checks):  # the shape first: its message is clearer
            rows = tf.reduce_all(tf.math.is_finite(
                tf.reshape(tensor, [tf.shape(tensor)[0], -1])), axis=1)
            checks.append(tf.debugging.Assert(
                tf.reduce_all(rows), [f"{name} must be finite; got NaN or infinity in rows",
                                      tf.where(tf.logical_not(rows))[:, 0]]))
    with tf.control_dependencies(checks):
        return tf.identity(tensor)


def _policy_outputs(spec: ActionSpec, params: tf.Tensor,
                    values: tf.Tensor) -> dict[str, tf.Tensor]:
    """Greedy action and value, with the distribution's parameters.

    Categorical: `probabilities` (per dimension, side by side, for MultiDiscrete);
    Gaussian: `mean` and `log_std`, so that a client can sample, as
    `tfa3c play --stochastic` does.
    """
    outputs = {"action": distributions.greedy(spec, params), "value": tf.reshape(values, [-1])}
    if spec.discrete:
        outputs["probabilities"] = distributions.probabilities(spec, params)
    else:
        outputs["mean"], outputs["log_std"] = distributions.split_gaussian(params)
    return outputs


def policy_archive(model: keras.Model, metadata: dict[str, str]) -> keras.export.ExportArchive:
    """The model's serving endpoints in a Keras `ExportArchive` (see the module docstring).

    The archive tracks the Keras model itself, so its variables are saved the way
    every loader expects: the TF2 object loader, the session-based loader of
    `saved_model_cli run` and TF Serving, and Keras' `TFSMLayer`. (A `tf.Module` that
    held the variables in a list, as earlier versions did, loaded only in TF2.)
    """
    size = tuple(int(d) for d in model.observation_shape)
    dtype = model.observation_dtype
    spec = model.action_spec
    observation = tf.TensorSpec([None, *size], dtype, name="observation")
    archive = keras.export.ExportArchive()
    archive.track(model)
    if model.recurrent:
        units = int(model.state_size)
        state = [tf.TensorSpec([None, units], tf.float32, name="state_h"),
                 tf.TensorSpec([None, units], tf.float32, name="state_c")]

        def action(observation, state_h, state_c):
            observation = _checked(observation, "observation", size, dtype=dtype)
            batch = tf.shape(observation)[0]
            state = (_checked(state_h, "state_h", units, batch),
                     _checked(state_c, "state_c", units, batch))
            logits, values, (h, c) = model.step(observation, state)
            return {**_policy_outputs(spec, logits, values), "state_h": h, "state_c": c}

        def get_initial_state(batch_size):
            zeros = tf.zeros(tf.stack([batch_size, units]), dtype=tf.float32)
            return {"state_h": zeros, "state_c": tf.identity(zeros)}

        # The first endpoint is also `serving_default`.
        archive.add_endpoint(ACTION, action, input_signature=[observation, *state])
        archive.add_endpoint(GET_INITIAL_STATE, get_initial_state,
                             input_signature=[tf.TensorSpec([], tf.int32, name="batch_size")])
    else:

        def action(observation):
            return _policy_outputs(spec, *model(_checked(observation, "observation", size,
                                                         dtype=dtype)))

        archive.add_endpoint(ACTION, action, input_signature=[observation])

    def get_metadata():
        return {key: tf.constant(value, dtype=tf.string) for key, value in metadata.items()}

    archive.add_endpoint(GET_METADATA, get_metadata, input_signature=[])
    return archive


def export_policy(model: keras.Model, export_dir: str, model_name: str, *, algo: str,
                  env_id: str, env_steps: int = 0, env_kwargs: dict | None = None) -> str:
    """Exports `model`'s policy as a SavedModel under `export_dir/<model_name>/<version>/`.

    Args:
        model: a built `tfa3c.policies.actor_critic.ActorCritic` (one trained in
            `mixed_bfloat16` is exported as its float32 copy): recurrent signatures for a
            recurrent encoder, feed-forward ones otherwise.
        export_dir: the folder that holds one folder per model (e.g. `savedmodels`).
        model_name: the model's folder name, e.g. `a3c_cartpole`.
        algo: the algorithm that trained it, "a3c" or "ga3c" (metadata).
        env_id: the gymnasium environment id it was trained on (metadata).
        env_steps: environment steps it was trained for (metadata).
        env_kwargs: the environment's keyword arguments (metadata, JSON): `tfa3c play`
            makes the environment with them.

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
        raise UserInputError("the model has no weights yet: build it (tfa3c.policies.build_policy) "
                             "or train it before exporting")
    model = float32_policy(model)  # served in float32 whatever the training precision
    bad = non_finite_variables(model.variables)
    if bad:  # a server would act on NaN
        raise UserInputError(f"refused to export: the weights hold non-finite values in "
                             f"{describe_names(bad)}; export a checkpoint from before they "
                             "went bad")
    lstm_units = int(model.state_size)
    from tfa3c import atari

    observation_size = int(model.observation_size)
    num_actions = int(model.num_actions)
    observation_space, action_space = _space_descriptions(
        env_id, model.observation_shape, model.observation_dtype, model.action_spec,
        env_kwargs)
    if atari.is_atari(env_id):
        preprocessing = {"vector_env": "ale_py.vector_env.AtariVectorEnv",
                         **atari.preprocessing(env_kwargs)}
    else:
        preprocessing = {}
    metadata = {
        "algorithm": algo,
        "env_id": env_id,
        "observation_space": observation_space,
        "action_space": action_space,
        "observation_size": str(observation_size),
        "observation_shape": json.dumps(list(model.observation_shape)),
        "observation_dtype": model.observation_dtype,
        # How an image's axes are laid out (frames first, as ALE's vector environment
        # gives them), or "vector".
        "observation_layout": model.data_format if model.pixels else "vector",
        # What turns the environment's raw frames into `observation` (JSON; {} if nothing).
        "preprocessing": json.dumps(preprocessing),
        "num_actions": str(num_actions),
        "action_kind": model.action_spec.kind,
        "action_nvec": json.dumps(list(model.action_spec.nvec)),
        "policy": "recurrent" if lstm_units else "feed_forward",
        "lstm_units": str(lstm_units),
        "tfa3c_version": __version__,
        "env_steps": str(int(env_steps)),
        "env_kwargs": json.dumps(env_kwargs or {}),
        # The Keras config of the exported network (JSON), as `network.json` holds it:
        # enough to rebuild the same Keras model and compare it with the export.
        "network": json.dumps(network_description(model)),
    }
    archive = policy_archive(model, metadata)

    model_dir = os.path.join(export_dir, model_name)
    os.makedirs(model_dir, exist_ok=True)
    temporary = os.path.join(model_dir, f".tmp-{uuid.uuid4().hex}")
    try:
        archive.write_out(temporary, verbose=False)
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
