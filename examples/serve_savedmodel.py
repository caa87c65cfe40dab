"""Play CartPole with a shipped policy, using plain TensorFlow: no tfa3c import.

This is what a serving client does: load the SavedModel, read its signatures, and call
them. The policy tells whether it is recurrent (it then has a `get_initial_state`
signature, and `action` takes and returns `state_h`/`state_c`), which environment it
was trained on (`get_metadata`), and the shapes it expects (the signatures' inputs).

Run:
    python examples/serve_savedmodel.py                              # savedmodels/a3c_cartpole
    python examples/serve_savedmodel.py savedmodels/ga3c_cartpole --episodes 20

PATH is a model folder (its newest numbered version is used) or a version folder. The
last line printed is `mean return <value> over <n> episodes`.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import gymnasium as gym
import numpy as np
import tensorflow as tf


def newest_version(path: str) -> str:
    """`path` itself if it holds a SavedModel, else its highest numbered sub-folder."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = [int(name) for name in os.listdir(path) if name.isdigit()]
    if not versions:
        sys.exit(f"serve_savedmodel.py: error: no SavedModel in {path}")
    return os.path.join(path, str(max(versions)))


def main(argv=None) -> int:
    """Loads the policy, plays the episodes greedily, prints the mean return."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=os.path.join("savedmodels", "a3c_cartpole"))
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    folder = newest_version(args.path)
    policy = tf.saved_model.load(folder)
    signatures = policy.signatures
    metadata = {key: value.numpy().decode() for key, value in signatures["get_metadata"]().items()}
    action_fn = signatures["action"]
    recurrent = "get_initial_state" in signatures
    # The input spec says what to feed: name, dtype and [batch, obs] shape.
    inputs = action_fn.structured_input_signature[1]
    print(f"{folder}: {metadata['algorithm']} policy for {metadata['env_id']}, "
          f"{'recurrent' if recurrent else 'feed-forward'}, inputs "
          + ", ".join(f"{name} {spec.dtype.name}{spec.shape}"
                      for name, spec in sorted(inputs.items())))

    env = gym.make(metadata["env_id"])
    returns = []
    for episode in range(args.episodes):
        observation, _ = env.reset(seed=args.seed + episode)
        state = {}
        if recurrent:  # zero LSTM state for a batch of one
            state = dict(signatures["get_initial_state"](batch_size=tf.constant(1)))
        total, done = 0.0, False
        while not done:
            outputs = action_fn(observation=tf.constant(observation[None], tf.float32), **state)
            if recurrent:  # carry the LSTM state to the next step
                state = {"state_h": outputs["state_h"], "state_c": outputs["state_c"]}
            observation, reward, terminated, truncated, _ = env.step(int(outputs["action"][0]))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
        print(f"episode {episode + 1}: return {total:g}")
    env.close()
    print(f"mean return {np.mean(returns):g} over {len(returns)} episodes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
