"""Cost of one exported `action` call on a batch of 1 against a Keras `tf.function` call.

Builds both policies (A3C's LSTM, GA3C's dense network; untrained weights cost the same
as trained ones), exports them with `tfa3c.export_policy` to a temporary folder, loads
them back with `tf.saved_model.load`, and times, warm and interleaved in blocks so that
drift on a shared machine hits both alike:

- exported: `loaded.signatures["action"](observation=..., [state_h=..., state_c=...])`,
  the call a serving client makes;
- Keras: `tf.function(model.step)` (A3C) or `tf.function(model.__call__)` (GA3C) on the
  same model and inputs.

Prints one JSON line per model:
`{"model": "a3c", "exported_action_us": ..., "keras_tf_function_us": ..., "ratio": ...}`
(ratio = exported / Keras; medians in microseconds).

Run:
    python benchmarks/serving_latency.py [--calls 3000] [--block 100]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf

from tfa3c.export import export_policy
from tfa3c.policies.actor_critic import FeedForwardActorCritic, RecurrentActorCritic, build_model

OBSERVATION_SIZE = 4  # CartPole-v1
NUM_ACTIONS = 2


def _time_calls(fn, count: int) -> list[float]:
    """Per-call durations of `count` calls of `fn()`, in microseconds."""
    durations = []
    clock = time.perf_counter_ns
    for _ in range(count):
        start = clock()
        fn()
        durations.append((clock() - start) / 1000.0)
    return durations


def measure(exported, keras_fn, calls: int, block: int, warmup: int = 200) -> tuple[float, float]:
    """Median microseconds per call of `exported()` and `keras_fn()`, interleaved in blocks."""
    _time_calls(exported, warmup)
    _time_calls(keras_fn, warmup)
    exported_times: list[float] = []
    keras_times: list[float] = []
    for _ in range(max(1, calls // block)):
        exported_times += _time_calls(exported, block)
        keras_times += _time_calls(keras_fn, block)
    return statistics.median(exported_times), statistics.median(keras_times)


def main(argv=None) -> int:
    """Exports both models, times both call paths, prints one JSON line per model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="timed calls per path")
    parser.add_argument("--block", type=int, default=100, help="calls per interleaved block")
    args = parser.parse_args(argv)

    observation = tf.random.normal((1, OBSERVATION_SIZE), seed=0)
    with tempfile.TemporaryDirectory() as export_dir:
        # A3C: recurrent, state carried in and out.
        model = build_model(RecurrentActorCritic(NUM_ACTIONS, lstm_units=16),
                            OBSERVATION_SIZE)
        path = export_policy(model, export_dir, "a3c", algo="a3c", env_id="CartPole-v1")
        action = tf.saved_model.load(path).signatures["action"]
        h, c = model.initial_state(1)
        step = tf.function(model.step)
        exported_us, keras_us = measure(
            lambda: action(observation=observation, state_h=h, state_c=c),
            lambda: step(observation, (h, c)), args.calls, args.block)
        _report("a3c", exported_us, keras_us)

        # GA3C: feed-forward.
        model = build_model(FeedForwardActorCritic(NUM_ACTIONS, (16,)), OBSERVATION_SIZE)
        path = export_policy(model, export_dir, "ga3c", algo="ga3c", env_id="CartPole-v1")
        action = tf.saved_model.load(path).signatures["action"]
        forward = tf.function(model.__call__)
        exported_us, keras_us = measure(
            lambda: action(observation=observation), lambda: forward(observation),
            args.calls, args.block)
        _report("ga3c", exported_us, keras_us)
    return 0


def _report(name: str, exported_us: float, keras_us: float) -> None:
    print(json.dumps({"model": name, "exported_action_us": round(exported_us, 1),
                      "keras_tf_function_us": round(keras_us, 1),
                      "ratio": round(exported_us / keras_us, 3)}), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
