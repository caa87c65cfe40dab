import os
import pathlib
import subprocess
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The project's own measuring tooling (benchmarks/measuring) is not part of the package:
# its tests import it from where `python benchmarks/run.py` does.
sys.path.insert(0, str(ROOT / "benchmarks"))


def run_command(args, timeout=120, **kwargs):
    """Runs a Python command line (list after the interpreter) from the repository root."""
    # Without TF_CPP_MIN_LOG_LEVEL the CLI silences TensorFlow's import chatter itself,
    # which is what a user sees.
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                           timeout=timeout, env=env, **kwargs)


@pytest.fixture
def root():
    return ROOT


def randomized(model, observation_size=4, seed=0):
    """`model` built for `observation_size` with weights larger than the initializer's,
    so that any mismatch between two computations of it would show."""
    import numpy as np

    from tfa3c.policies.actor_critic import build_model

    build_model(model, observation_size)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model
