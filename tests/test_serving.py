"""Exports under every standard loader: TF2, the session-based loader (TF Serving,
`saved_model_cli run`), and Keras' `TFSMLayer`, each compared with the Keras model.

The loaders run in a subprocess that never imports tfa3c, as a serving client would.
"""

import json
import os
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfa3c.checkpoints import described_policy
from tfa3c.export import export_policy
from tfa3c.policies.actor_critic import (
    ActorCritic,
    FeedForwardActorCritic,
    RecurrentActorCritic,
    build_model,
)

from .conftest import ROOT, run_command

OBS = 4
STEPS = 5  # recurrent rollouts carry the state through this many steps
LOADERS = ("tf2", "session", "tfsm_layer")

# argv: SavedModel folder, inputs .npz, outputs .npz. Runs `action` on the inputs through
# each loader and saves every output as "<loader>/<step>/<name>"; for recurrent policies
# the state returned by one step is fed to the next. Bad inputs (the .npz's "bad/..."
# entries) go through the session loader and their error messages are saved too.
LOADER_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    import keras

    path, inputs_path, outputs_path = sys.argv[1:]
    inputs = dict(np.load(inputs_path))
    recurrent = "state_h" in inputs
    outputs, errors = {}, {}

    def rollout(loader, call):
        state = {k: inputs[k] for k in ("state_h", "state_c") if k in inputs}
        for step in range(inputs["observations"].shape[0]):
            out = {k: np.asarray(v) for k, v in call(inputs["observations"][step], state).items()}
            for name, value in out.items():
                outputs[f"{loader}/{step}/{name}"] = value
            if recurrent:
                state = {"state_h": out["state_h"], "state_c": out["state_c"]}
        # Non-finite inputs ("nonfinite/<input>") must be refused by every loader.
        for key in [k for k in inputs if k.startswith("nonfinite/")]:
            state = {k: inputs[k] for k in ("state_h", "state_c") if k in inputs}
            observation = inputs["observations"][0]
            name = key.split("/")[1]
            if name == "observation":
                observation = inputs[key]
            else:
                state[name] = inputs[key]
            try:
                call(observation, state)
                errors[f"{loader}/{key}"] = "no error"
            except Exception as error:
                errors[f"{loader}/{key}"] = f"{type(error).__name__}: {error}"

    # 1. TF2 object loader, through the signature.
    action = tf.saved_model.load(path).signatures["action"]
    rollout("tf2", lambda obs, state: action(
        observation=tf.constant(obs), **{k: tf.constant(v) for k, v in state.items()}))

    # 2. The session-based loader: what saved_model_cli run and TF Serving do.
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
        signature = meta_graph.signature_def["action"]
        feeds = {name: info.name for name, info in signature.inputs.items()}
        fetches = {name: info.name for name, info in signature.outputs.items()}
        rollout("session", lambda obs, state: session.run(
            fetches, {feeds["observation"]: obs, **{feeds[k]: v for k, v in state.items()}}))
        for key in [k for k in inputs if k.startswith("bad/")]:
            _, bad_name, _ = key.split("/")
            feed = {feeds["observation"]: inputs["observations"][0],
                    **{feeds[k]: inputs[k] for k in ("state_h", "state_c") if k in inputs}}
            feed[feeds[bad_name]] = inputs[key]
            try:
                session.run(fetches, feed)
                errors[key] = "no error"
            except tf.errors.InvalidArgumentError as error:  # the graph's own check
                errors[key] = error.message
            except ValueError as error:  # Python's client checks static widths itself
                errors[key] = str(error)

    # 3. Keras' TFSMLayer on the same endpoint.
    layer = keras.layers.TFSMLayer(path, call_endpoint="action")
    rollout("tfsm_layer", lambda obs, state: layer(
        tf.constant(obs), **{k: tf.constant(v) for k, v in state.items()}))

    np.savez(outputs_path, **outputs)
    assert not any(name.startswith("tfa3c") for name in sys.modules), "tfa3c was imported"
    print(json.dumps(errors))
""")


def keras_rollout(model, inputs):
    """The Keras model's outputs on the loader script's inputs: one dict per step."""
    results = []
    state = (inputs["state_h"], inputs["state_c"]) if "state_h" in inputs else None
    for observations in inputs["observations"]:
        if state is None:
            logits, values = model(observations)
            extra = {}
        else:
            logits, values, state = model.step(observations, state)
            extra = {"state_h": state[0].numpy(), "state_c": state[1].numpy()}
        logits = logits.numpy()
        if model.action_spec.kind == "gaussian":
            mean, log_std = np.split(logits, 2, axis=-1)
            spec = model.action_spec
            results.append({"action": np.clip(mean, spec.low, spec.high), "mean": mean,
                            "log_std": log_std, "value": values.numpy(), **extra})
            continue
        results.append({"action": logits.argmax(axis=-1),
                        "probabilities": tf.nn.softmax(logits).numpy(),
                        "value": values.numpy(), **extra})
    return results


def loader_outputs(path, inputs, tmp_path):
    """Runs LOADER_SCRIPT on `path`; returns its outputs and the bad-input errors."""
    inputs_path, outputs_path = tmp_path / "inputs.npz", tmp_path / "outputs.npz"
    np.savez(inputs_path, **inputs)
    result = run_command(["-c", LOADER_SCRIPT, str(path), str(inputs_path), str(outputs_path)],
                         timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    errors = json.loads(result.stdout.strip().splitlines()[-1])
    return dict(np.load(outputs_path)), errors


def assert_loaders_match_keras(model, path, inputs, tmp_path):
    outputs, errors = loader_outputs(path, inputs, tmp_path)
    expected = keras_rollout(model, inputs)
    for loader in LOADERS:
        for step, reference in enumerate(expected):
            for name, value in reference.items():
                key = f"{loader}/{step}/{name}"
                assert key in outputs, f"{key} missing; got {sorted(outputs)[:8]}"
                if name == "action" and value.dtype.kind == "i":
                    np.testing.assert_array_equal(outputs[key], value, err_msg=key)
                else:
                    np.testing.assert_allclose(outputs[key], value, rtol=3e-5, atol=1e-5,
                                               err_msg=key)
    return errors


def random_inputs(model, rng, batch=3):
    """Observations for STEPS steps (one step for feed-forward) and a non-zero state."""
    recurrent = model.recurrent
    steps = STEPS if recurrent else 1
    inputs = {"observations": rng.normal(size=(steps, batch, OBS)).astype(np.float32)}
    if recurrent:
        for name in ("state_h", "state_c"):
            inputs[name] = rng.normal(scale=0.5, size=(batch, model.state_size)).astype(
                np.float32)
    return inputs


def randomized(model, seed):
    build_model(model, OBS)
    rng = np.random.default_rng(seed)
    for variable in model.variables:
        variable.assign(rng.normal(scale=0.5, size=variable.shape).astype(np.float32))
    return model


@pytest.mark.parametrize("algo", ["a3c", "ga3c", "ga3c-continuous", "ga3c-mlp-lstm-continuous"])
def test_fresh_export_runs_under_every_loader_and_matches_keras(algo, tmp_path):
    if algo == "a3c":
        model = randomized(RecurrentActorCritic(2, 8, cell_clip=0.7), seed=1)
    elif algo == "ga3c-mlp-lstm-continuous":  # a recurrent GA3C with a Gaussian head
        model = randomized(ActorCritic(2, encoder="mlp-lstm", hidden_sizes=(16,), lstm_units=6,
                                       action_kind="gaussian", action_low=[-0.5, -1.0],
                                       action_high=[0.5, 2.0]), seed=7)
        algo = "ga3c"
    elif algo == "ga3c":
        model = randomized(FeedForwardActorCritic(2, (16, 8)), seed=2)
    else:  # two action dimensions, the mean clipped to [-0.5, 0.5] x [-1, 2]
        model = randomized(FeedForwardActorCritic(2, (16, 8), action_kind="gaussian",
                                                  action_low=[-0.5, -1.0],
                                                  action_high=[0.5, 2.0]), seed=5)
        algo = "ga3c"
    path = export_policy(model, str(tmp_path / "models"), f"{algo}_cartpole", algo=algo,
                         env_id="CartPole-v1")
    inputs = random_inputs(model, np.random.default_rng(3))
    width = model.state_size
    # Bad inputs through the session loader: wrong width, rank, batch size.
    inputs["bad/observation/width"] = np.zeros((3, OBS + 1), np.float32)
    inputs["bad/observation/rank"] = np.zeros((3, 1, OBS), np.float32)
    if model.recurrent:
        inputs["bad/state_h/width"] = np.zeros((3, width + 1), np.float32)
        inputs["bad/state_c/batch"] = np.zeros((2, width), np.float32)
    # NaN and infinity, in one row of a batch of 3.
    inputs["nonfinite/observation"] = inputs["observations"][0].copy()
    inputs["nonfinite/observation"][1, 2] = np.nan
    if model.recurrent:
        inputs["nonfinite/state_c"] = inputs["state_c"].copy()
        inputs["nonfinite/state_c"][2, 0] = np.inf
    errors = assert_loaders_match_keras(model, path, inputs, tmp_path)
    for loader in LOADERS:
        refused = errors[f"{loader}/nonfinite/observation"]
        assert "observation must be finite; got NaN or infinity in rows" in refused, refused
        assert "InvalidArgumentError" in refused, refused
        if model.recurrent:
            refused = errors[f"{loader}/nonfinite/state_c"]
            assert "state_c must be finite" in refused, refused
    # The Python session client refuses a wrong static width or rank itself, naming the
    # tensor and its shape; a C++ client (TF Serving) reaches the graph's own check.
    assert "observation" in errors["bad/observation/width"]
    assert f"(None, {OBS})" in errors["bad/observation/width"]
    assert "observation" in errors["bad/observation/rank"]
    if model.recurrent:
        assert "state_h" in errors["bad/state_h/width"]
        assert f"(None, {width})" in errors["bad/state_h/width"]
        # Rows that do not match the observation's pass the client: the graph says so.
        assert (f"state_c must have shape [batch, {width}] with the same batch as observation"
                in errors["bad/state_c/batch"])


def shipped_model(name):
    """The shipped policy's newest version and a Keras model holding its weights.

    The Keras model is rebuilt from the export's own `network` metadata and its
    weights are looked up by name among the SavedModel's variables.
    """
    folder = ROOT / "savedmodels" / name
    version = max(int(entry) for entry in os.listdir(folder) if entry.isdigit())
    path = folder / str(version)
    loaded = tf.saved_model.load(str(path))
    metadata = {k: v.numpy().decode() for k, v in loaded.signatures["get_metadata"]().items()}
    model = described_policy(json.loads(metadata["network"]))
    saved = {variable.name.split(":")[0]: variable for variable in loaded.variables}
    for variable in model.variables:
        # Names are `<model name>/<layer>/<weight>`; the model's own name may differ.
        suffix = variable.path.split("/", 1)[1]
        [match] = [v for name, v in saved.items() if name.split("/", 1)[1] == suffix]
        variable.assign(match.numpy())
    return path, model


@pytest.mark.parametrize("name", ["a3c_cartpole", "ga3c_cartpole"])
def test_shipped_policy_runs_under_every_loader_and_matches_keras(name, tmp_path):
    path, model = shipped_model(name)
    inputs = random_inputs(model, np.random.default_rng(4), batch=5)
    assert_loaders_match_keras(model, path, inputs, tmp_path)


def saved_model_cli(*args):
    cli_path = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    command = ([cli_path] if os.path.exists(cli_path)
               else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"])
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=180,
                          cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def parse_cli_outputs(stdout):
    """`Result for output key NAME:` blocks of `saved_model_cli run` → arrays."""
    outputs = {}
    for name, text in re.findall(r"Result for output key (\w+):\n(.*?)(?=\nResult for|\Z)",
                                 stdout, flags=re.S):
        outputs[name] = np.array(json.loads(re.sub(r"(?<=[\d.])\s+(?=[-\d\[])", ", ",
                                                   text.strip().replace("\n", " "))))
    return outputs


@pytest.mark.parametrize("name", ["a3c_cartpole", "ga3c_cartpole"])
def test_saved_model_cli_run_on_the_shipped_policy(name):
    path, model = shipped_model(name)
    observation = [[0.01, -0.02, 0.03, 0.04]]
    expressions = [f"observation={observation}"]
    if model.recurrent:
        state = [[0.1] * model.state_size]
        expressions += [f"state_h={state}", f"state_c={state}"]
    result = saved_model_cli("run", "--dir", str(path), "--tag_set", "serve",
                             "--signature_def", "action", "--input_exprs", ";".join(expressions))
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = parse_cli_outputs(result.stdout)
    inputs = {"observations": np.array([observation], np.float32)}
    if model.recurrent:
        inputs.update(state_h=np.array(state, np.float32), state_c=np.array(state, np.float32))
    [expected] = keras_rollout(model, inputs)
    assert set(outputs) == set(expected), result.stdout
    for key, value in expected.items():
        np.testing.assert_allclose(outputs[key], value, rtol=3e-5, atol=1e-5, err_msg=key)


def test_saved_model_cli_names_a_bad_state():
    path, model = shipped_model("a3c_cartpole")
    good = [[0.0] * model.state_size]
    result = saved_model_cli("run", "--dir", str(path), "--tag_set", "serve",
                             "--signature_def", "action", "--input_exprs",
                             f"observation=[[0.0,0.0,0.0,0.0]];state_h={good};"
                             f"state_c={good * 2}")  # two rows for one observation
    assert result.returncode != 0
    assert (f"state_c must have shape [batch, {model.state_size}] with the same batch as "
            "observation" in result.stderr), result.stderr[-2000:]


@pytest.mark.parametrize("algo", ["a3c", "ga3c"])
def test_every_signature_input_is_checked_in_tf2(algo, tmp_path):
    model = (RecurrentActorCritic(2, 8) if algo == "a3c" else FeedForwardActorCritic(2))
    build_model(model, OBS)
    path = export_policy(model, str(tmp_path), "m", algo=algo, env_id="CartPole-v1")
    loaded = tf.saved_model.load(path)
    action = loaded.signatures["action"]
    good = {"observation": tf.zeros((2, OBS))}
    if algo == "a3c":
        good.update(state_h=tf.zeros((2, 8)), state_c=tf.zeros((2, 8)))
    action(**good)  # the good inputs pass
    for name, width in [("observation", OBS), ("state_h", 8), ("state_c", 8)][:len(good)]:
        for shape in ((2, width + 1), (width,), (2, 1, width), ()):
            with pytest.raises(tf.errors.InvalidArgumentError,
                               match=rf"{name} must have shape \[batch, {width}\]"):
                action(**{**good, name: tf.zeros(shape)})
        wrong_dtype = {**good, name: tf.zeros((2, width), tf.float64)}
        # The endpoint function (what TFSMLayer calls) names the input and its spec.
        with pytest.raises(TypeError, match=rf"{name}.*TensorSpec\(shape=\(None, {width}\), "
                                            rf"dtype=tf.float32, name='{name}'\)"):
            loaded.action(**wrong_dtype)
        # The signature wrapper refuses it before our graph runs, in TensorFlow's words,
        # by position among the inputs sorted by name.
        position = sorted(good).index(name)
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=rf"input #{position}\(zero-based\) was expected to be a float"):
            action(**wrong_dtype)


def test_keras_model_with_tfsm_layer_composes(tmp_path):
    # A feed-forward export used as a layer of a new Keras model: the serving policy
    # inside a user's own pipeline.
    model = randomized(FeedForwardActorCritic(2, (8,)), seed=6)
    path = export_policy(model, str(tmp_path), "m", algo="ga3c", env_id="CartPole-v1")
    inputs = keras.Input((OBS,))
    outputs = keras.layers.TFSMLayer(path, call_endpoint="action")(inputs)
    wrapper = keras.Model(inputs, outputs["probabilities"])
    observations = np.random.default_rng(7).normal(size=(6, OBS)).astype(np.float32)
    logits, _ = model(observations)
    np.testing.assert_allclose(wrapper(observations).numpy(), tf.nn.softmax(logits).numpy(),
                               atol=1e-5)
