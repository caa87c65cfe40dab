"""`tfa3c export RUN_DIR --export-dir DIR`: a run's policy as a SavedModel.

`--model-name NAME` names the model folder and `--env-steps N` the checkpoint. Reads the
run's `config.json` (algorithm and config), rebuilds its network with
`tfa3c.policies.build_policy` from the `checkpoints/network.json` the run wrote (the
exact layers it trained), restores the newest checkpoint's model weights, or those of
the checkpoint saved at `N` env steps (the optimizer's are not needed), and writes
`DIR/<model_name>/<version>/` with `tfa3c.export.export_policy`.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING

from tfa3c.algorithms.registry import ALGORITHMS
from tfa3c.errors import CheckpointError, UserInputError
from tfa3c.layout import CHECKPOINT_FOLDER, RUN_CONFIG

if TYPE_CHECKING:  # at run time these load lazily: `tfa3c --help` imports this module
    from tfa3c.policies.network_options import NetworkOptions
    from tfa3c.spaces import ActionSpec

# The networks of runs written before their config.json recorded the network options
# (`run_network`); algorithms registered since always record them.
_FIXED_NETWORKS = {"a3c": {"encoder": "lstm", "hidden_sizes": (16,), "lstm_units": 16},
                   "ga3c": {"encoder": "mlp", "hidden_sizes": (16,), "lstm_units": 16}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `tfa3c export`."""
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help="a training run folder (its --logdir): config.json and checkpoints/")
    parser.add_argument("--export-dir", required=True,
                        help="write the SavedModel under DIR/<model_name>/<version>/")
    parser.add_argument("--model-name", default=None,
                        help="model folder name (default <algo>_<env>, e.g. a3c_cartpole)")
    parser.add_argument("--env-steps", type=int, default=None, metavar="N",
                        help="export the checkpoint saved at N env steps, one of those the "
                             "run kept (`checkpoints/ckpt-N`; default: the newest)")


def read_run_config(run_dir: str) -> tuple[str, dict]:
    """The algorithm and config fields of a run folder.

    Raises:
        UserInputError: no such folder, no config.json, or one that is not a run's.
    """
    if not os.path.isdir(run_dir):
        raise UserInputError(f"run folder {run_dir!r} does not exist; give the --logdir of a "
                             "training run")
    path = os.path.join(run_dir, RUN_CONFIG)
    if not os.path.isfile(path):
        raise UserInputError(f"{run_dir!r} has no {RUN_CONFIG}; give the --logdir of a "
                             "training run (tfa3c train writes it when training starts)")
    try:
        with open(path) as file:
            content = json.load(file)
        algo, config = content["algo"], dict(content["config"])
        if not isinstance(config.get("env_id"), str):
            raise KeyError("env_id")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserInputError(f"{path} is not a tfa3c run config ({type(error).__name__}: "
                             f"{error})") from None
    if algo not in ALGORITHMS:
        raise UserInputError(f"{path} names algorithm {algo!r}; allowed: "
                             f"{', '.join(ALGORITHMS)}")
    return algo, config


def run_network(algo: str, config: dict, run_dir: str | None = None
                ) -> tuple[tuple[int, ...], ActionSpec, NetworkOptions]:
    """What the run's network was built with: observation shape, actions and options.

    Read from the `network.json` the run wrote beside its checkpoints; runs made before
    tfa3c wrote that file are described by their config and environment instead.
    `tfa3c.policies.build_policy(*run_network(...))` rebuilds the network exactly as
    it was trained (untrained weights).

    Raises:
        CheckpointError: `network.json` exists but cannot be read or built.
        UserInputError: (an older run) its environment cannot be made.
    """
    from tfa3c.checkpoints import described_network, read_network_description

    description = (read_network_description(os.path.join(run_dir, CHECKPOINT_FOLDER))
                   if run_dir is not None else None)
    if description is not None:
        return described_network(description)

    from tfa3c.env_spec import resolve_env
    from tfa3c.policies.network_options import NetworkOptions

    env = resolve_env(config["env_id"], config.get("env_kwargs") or {})
    # Runs from before the network options recorded none: each algorithm then had a
    # fixed network (history, not today's defaults, which may change).
    fixed = _FIXED_NETWORKS.get(algo, {})
    options = NetworkOptions(
        encoder=config.get("encoder", fixed.get("encoder")),
        hidden_sizes=tuple(config.get("hidden_sizes", fixed.get("hidden_sizes", ()))),
        lstm_units=int(config.get("lstm_units", fixed.get("lstm_units", 0))),
        cell_clip=config.get("lstm_cell_clip"), seed=config.get("seed"),
        normalize_observations=bool(config.get("normalize_observations", False)))
    return env.observation_shape, env.action, options


def restore_latest(model, run_dir: str, env_steps: int | None = None) -> tuple[str, int]:
    """Restores the newest checkpoint's model weights; returns its path and env steps.

    Args:
        model: the run's network (`run_network`).
        run_dir: the run folder.
        env_steps: restore the checkpoint saved at this many env steps instead (a run
            keeps its last `--keep-checkpoints`, named `ckpt-<env steps>`).

    Raises:
        CheckpointError: no checkpoint, or one that cannot be read or does not fit.
        UserInputError: no checkpoint at `env_steps` (the message lists those kept).
    """
    import tensorflow as tf

    from tfa3c.errors import first_line

    directory = os.path.join(run_dir, CHECKPOINT_FOLDER)
    path = tf.train.latest_checkpoint(directory) if os.path.isdir(directory) else None
    if path is None:
        raise CheckpointError(f"no checkpoint in {directory}; the run saves one when it stops "
                              "(and every --checkpoint-interval seconds)")
    if env_steps is not None:
        kept = sorted(int(name[len("ckpt-"):-len(".index")]) for name in os.listdir(directory)
                      if name.startswith("ckpt-") and name.endswith(".index")
                      and name[len("ckpt-"):-len(".index")].isdigit())
        if env_steps not in kept:
            raise UserInputError(f"--env-steps {env_steps}: {directory} has no checkpoint "
                                 f"there; allowed: {', '.join(map(str, kept))}")
        path = os.path.join(directory, f"ckpt-{env_steps}")
    saved_steps = tf.Variable(0, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(model=model, env_steps=saved_steps)
    try:
        status = checkpoint.read(path)
        # The model's own weights must all be there; the optimizer's may be ignored.
        status.expect_partial()
        status.assert_existing_objects_matched()
    except Exception as error:  # OpError, ValueError, IndexError (truncated file), ...
        raise CheckpointError(f"checkpoint {path} is corrupt or does not fit the run's "
                              f"network: {first_line(error)}") from None
    return path, int(saved_steps.numpy())


def run(args: argparse.Namespace) -> int:
    """Rebuilds the run's network, restores its checkpoint, exports, prints the path."""
    from tfa3c.policies.actor_critic import build_policy

    algo, config = read_run_config(args.run_dir)
    model = build_policy(*run_network(algo, config, args.run_dir))
    checkpoint, env_steps = restore_latest(model, args.run_dir, args.env_steps)

    from tfa3c.export import export_policy
    from tfa3c.run_folder import default_model_name

    path = export_policy(model, args.export_dir,
                         model_name=args.model_name or default_model_name(algo, config["env_id"]),
                         algo=algo, env_id=config["env_id"], env_steps=env_steps,
                         env_kwargs=config.get("env_kwargs") or {})
    print(f"restored {checkpoint}", flush=True)
    print(path, flush=True)
    return 0
