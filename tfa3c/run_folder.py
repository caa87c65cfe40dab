"""A run's folder and the files that describe it: where it goes, whether it may, what ran.

`runs/<algo>_<env>_<seed>_<timestamp>/` by default. A run claims its folder before it
builds anything (`claim`): the folder must be writable, and one that already holds a
run's checkpoints is taken only to resume that run. The configuration the run used is
written there (`write_run_config`) for `tfa3c export` and `--resume` to read.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
from typing import Any

from tfa3c.errors import UserInputError
from tfa3c.layout import CHECKPOINT_FOLDER, RUN_CONFIG


def default_model_name(algo: str, env_id: str) -> str:
    """Export name of a policy: `a3c_cartpole` for A3C on CartPole-v1.

    A user's `module:EnvId-v0` is named by its id alone (`ga3c_envid`).
    """
    base = env_id.rpartition(":")[2].split("/")[-1].rsplit("-v", 1)[0]
    return re.sub(r"[^a-z0-9_.]", "_", f"{algo}_{base}".lower())


def default_logdir(algo: str, env_id: str, seed: int) -> str:
    """`runs/<algo>_<env>_<seed>_<timestamp>/` (the env id without module or namespace)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    env = re.sub(r"[^A-Za-z0-9_.-]", "_", env_id.rpartition(":")[2].split("/")[-1])
    return os.path.join("runs", f"{algo}_{env}_{seed}_{stamp}")


def has_checkpoints(logdir: str) -> bool:
    """Whether `logdir` holds a run's checkpoints already."""
    folder = os.path.join(logdir, CHECKPOINT_FOLDER)
    return os.path.isdir(folder) and any(name.startswith("ckpt-") or name == "checkpoint"
                                         for name in os.listdir(folder))


def check_writable(logdir: str) -> None:
    """Makes sure a run can write its folder and checkpoints, leaving no trace of the check.

    Raises:
        UserInputError: a folder cannot be made or a file cannot be written there.
    """
    folder = os.path.join(logdir, CHECKPOINT_FOLDER)
    made = []  # folders this check creates, removed again afterwards
    path = os.path.abspath(folder)
    while not os.path.exists(path):
        made.append(path)
        path = os.path.dirname(path)
    probe = os.path.join(folder, f".write-check-{os.getpid()}")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(probe, "w") as file:
            file.write("ok")
        os.remove(probe)
    except OSError as error:
        raise UserInputError(
            f"cannot write the run folder --logdir {logdir!r}: {error.strerror or error} "
            f"({error.filename or folder}); give a folder you can write to") from None
    finally:
        for path in made:  # innermost first
            with contextlib.suppress(OSError):
                os.rmdir(path)


def claim(logdir: str, resume: bool) -> None:
    """Checks, before anything is built or written, that a run may use `logdir`.

    Raises:
        UserInputError: the folder is not writable, or it holds a run's checkpoints and
            `resume` is not set.
    """
    check_writable(logdir)
    if not resume and has_checkpoints(logdir):
        raise UserInputError(
            f"--logdir {logdir!r} already holds a run's checkpoints: add --resume to "
            "continue that run, or give a new folder")


def write_run_config(logdir: str, algo: str, config: dict[str, Any]) -> str:
    """Writes the algorithm and its configuration's fields to `logdir`; returns the path."""
    os.makedirs(logdir, exist_ok=True)
    path = os.path.join(logdir, RUN_CONFIG)
    with open(path, "w") as file:
        json.dump({"algo": algo, "config": config}, file, indent=2)
    return path
