"""TensorFlow's process-wide settings: a quiet import, its thread pools, and its devices.

Both act once per process (TensorFlow fixes its pools at its first op), so every
process that runs tfa3c's networks, the run's and each hosted role's, calls them
before its first op.
"""

from __future__ import annotations

import os
import sys

from tfa3c.errors import ConfigError


def quiet_tensorflow(inherited: bool = False) -> None:
    """Imports TensorFlow without its C++ start-up chatter on stderr.

    TF 2.21 prints absl and CUDA-stub lines at import even with
    TF_CPP_MIN_LOG_LEVEL=3, which would bury one-line errors; stderr is pointed at
    /dev/null for the import only (a Python exception still reaches the user). Set
    TF_CPP_MIN_LOG_LEVEL yourself to see them. A role process (`inherited`) takes the
    variable from the run that set it here, so it quiets the import either way.
    """
    if "tensorflow" in sys.modules or ("TF_CPP_MIN_LOG_LEVEL" in os.environ
                                       and not inherited):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def configure_threads(intra_op: int = 1) -> None:
    """Sizes TensorFlow's thread pools (before its first op; later calls change nothing).

    Small graphs run best on one inter-op and one intra-op thread per call: thread-pool
    hand-offs cost more than the ops themselves, and our own threads already use the
    cores. Convolutions over frame batches are real work, which `intra_op` threads
    share.
    """
    import tensorflow as tf

    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
    except RuntimeError:  # already initialized: keep what is set
        pass


def cpu_count() -> int:
    """Cores this process may run on."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))


def role_threads(requested: int | None, roles: int, pixels: bool) -> int:
    """TensorFlow threads per op for a role in a process of its own.

    `requested` if given. Else, vectors: one (per-call overhead is the cost, and the
    roles use the cores); images: the cores shared out among the roles, as
    convolutions are real work.
    """
    if requested is not None:
        return requested
    return max(1, cpu_count() // max(roles, 1)) if pixels else 1


def _device_key(name: str) -> tuple[str, int]:
    import tensorflow as tf

    try:
        spec = tf.DeviceSpec.from_string(name)
    except (ValueError, TypeError):
        spec = None
    if spec is None or spec.device_type is None:
        return ("", -1)
    return (spec.device_type.upper(), 0 if spec.device_index is None else spec.device_index)


def make_strategy(devices: tuple[str, ...] | None):
    """A `tf.distribute` strategy on `devices` if given, else every visible GPU, else the CPU.

    Raises:
        ConfigError: a device name that is not one of this machine's logical devices.
    """
    import tensorflow as tf

    available = {_device_key(device.name): device.name
                 for device in tf.config.list_logical_devices()}
    if devices:
        unknown = [name for name in devices if _device_key(name) not in available]
        if unknown:
            raise ConfigError(
                f"invalid devices={','.join(devices)}: unknown {', '.join(unknown)}; "
                f"available: {', '.join(sorted(available.values()))}")
        names = [available[_device_key(name)] for name in devices]
    else:
        names = [device.name for device in tf.config.list_logical_devices("GPU")]
    if len(names) > 1:
        return tf.distribute.MirroredStrategy(names)
    return tf.distribute.OneDeviceStrategy(names[0] if names else "/cpu:0")
