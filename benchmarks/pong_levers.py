"""The speed levers of GA3C's pixel network, each measured on its own.

    python benchmarks/pong_levers.py [--repeats 3] [--threads 1,2] [--frame-size 84] [--out FILE]

For the network of the pixels preset (the A3C paper's CNN on 4 stacked uint8 frames of
`--frame-size` pixels square, 6 actions) it times the predictor's batched forward pass
(microseconds per observation, at a batch of 64) and the trainer's step (microseconds
per sample, on batches of 80: 16 sequences of 5 steps), under each variant:

- `base`: what training runs today: frames first (`channels_first`, ALE's layout);
- `xla`: both functions compiled with XLA (`jit_compile=True`);
- `bf16`: Keras' `mixed_bfloat16` policy (bfloat16 matmuls and convolutions, where the
  CPU has `avx512_bf16`);
- `channels_last`: the same network built for frames last, fed frames transposed once
  in NumPy (the transpose is timed with it);
- `xla+channels_last`, `bf16+channels_last`.

Each variant and thread count runs in a fresh process (TensorFlow's thread pools and
Keras' dtype policy are set once per process), `--repeats` times; the medians are
printed as a table and written to `--out` as JSON. Only the network is timed: the game's
own cost is `python benchmarks/run.py --env ALE/Pong-v5`'s "environment alone".
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

VARIANTS = ("base", "xla", "bf16", "channels_last", "xla+channels_last", "bf16+channels_last")
PREDICT_BATCH = 64
SEQUENCES, STEPS = 16, 5
ACTIONS = 6


def measure(variant: str, threads: int, side: int = 84, seconds: float = 3.0
            ) -> dict[str, float]:
    """Times the predictor and the trainer under `variant` in this process."""
    from tfa3c.tf_runtime import configure_threads

    configure_threads(threads)
    import keras
    import numpy as np

    parts = set(variant.split("+"))
    if "bf16" in parts:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    from tfa3c.algorithms.config import GA3CConfig
    from tfa3c.algorithms.ga3c import Learner, Predictor
    from tfa3c.algorithms.presets import preset
    from tfa3c.algorithms.rollouts import Sequences
    from tfa3c.spaces import ActionSpec
    from tfa3c.tf_runtime import make_strategy

    last = "channels_last" in parts
    shape = (side, side, 4) if last else (4, side, side)
    config = GA3CConfig(**preset("ga3c", "pixels"))
    strategy = make_strategy(None)
    from tfa3c.policies.actor_critic import build_policy

    with strategy.scope():
        model = build_policy(shape, ActionSpec("categorical", ACTIONS), config.network_options())
        optimizer = keras.optimizers.RMSprop(config.learning_rate, rho=config.rho,
                                             epsilon=config.rms_epsilon)
        optimizer.build(model.trainable_variables)
    xla = "xla" in parts
    predictor = Predictor(model, jit_compile=xla)
    learner = Learner(model, optimizer, strategy, config, STEPS, jit_compile=xla)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (PREDICT_BATCH, 4, side, side), dtype=np.uint8)

    def predict():
        batch = np.ascontiguousarray(frames.transpose(0, 2, 3, 1)) if last else frames
        predictor.predict(batch)

    size = SEQUENCES
    observations = rng.integers(0, 256, (size, STEPS, 4, side, side), dtype=np.uint8)
    if last:
        observations = np.ascontiguousarray(observations.transpose(0, 1, 3, 4, 2))
    sequences = Sequences(
        observations=observations,
        actions=rng.integers(ACTIONS, size=(size, STEPS)).astype(np.int32),
        log_probs=np.full((size, STEPS), -np.log(ACTIONS), np.float32),
        rewards=rng.choice([-1.0, 0.0, 1.0], (size, STEPS)).astype(np.float32),
        next_values=np.zeros((size, STEPS), np.float32),
        terminated=np.zeros((size, STEPS), np.float32),
        truncated=np.zeros((size, STEPS), np.float32),
        policy_versions=np.zeros((size, STEPS), np.int64),
        episode_starts=np.zeros((size, STEPS), np.float32),
        initial_states=np.zeros((size, 0), np.float32))

    def train():
        learner.train(sequences)

    return {"predict_us_per_observation": _time(predict, seconds) / PREDICT_BATCH * 1e6,
            "train_us_per_sample": _time(train, seconds) / (SEQUENCES * STEPS) * 1e6}


def _time(call, seconds: float) -> float:
    """Seconds per call, after a warm-up (tracing, XLA compilation)."""
    for _ in range(3):
        call()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        call()
        count += 1
    return (time.perf_counter() - start) / count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/pong_levers.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="processes per variant")
    parser.add_argument("--threads", default="1,2",
                        help="TensorFlow intra-op threads to measure, comma separated")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--frame-size", type=int, default=84,
                        help="side of the square frames in pixels (84, or 42 for half size)")
    parser.add_argument("--out", default=None, help="JSON file for the figures")
    parser.add_argument("--child", nargs=3, metavar=("VARIANT", "THREADS", "SIDE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]), int(args.child[2]))),
              flush=True)
        return 0
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in variants if name not in VARIANTS]
    if unknown or args.repeats < 1 or args.frame_size < 20:
        print(f"pong_levers: error: unknown variants {unknown}, --repeats < 1 or "
              f"--frame-size < 20; allowed variants: {', '.join(VARIANTS)}, frames of at "
              "least 20 pixels (the network's smallest input)", file=sys.stderr)
        return 2
    threads = [int(value) for value in args.threads.split(",")]
    rows = []
    root = pathlib.Path(__file__).resolve().parents[1]
    for count in threads:
        for variant in variants:
            runs = []
            for _ in range(args.repeats):
                result = subprocess.run(
                    [sys.executable, __file__, "--child", variant, str(count),
                     str(args.frame_size)],
                    capture_output=True, text=True, cwd=root,
                    env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
                if result.returncode != 0:
                    runs = None
                    print(f"{variant}, {count} thread(s): failed: "
                          f"{result.stderr.strip().splitlines()[-1:]}", flush=True)
                    break
                runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
            if runs is None:
                rows.append({"variant": variant, "threads": count, "failed": True})
                continue
            row = {"variant": variant, "threads": count,
                   **{key: round(statistics.median(run[key] for run in runs), 1)
                      for key in runs[0]}}
            rows.append(row)
            print(f"{variant}, {count} thread(s): predict {row['predict_us_per_observation']} "
                  f"µs/observation, train {row['train_us_per_sample']} µs/sample", flush=True)
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(
            {"command": " ".join(sys.argv), "repeats": args.repeats,
             "frame_size": args.frame_size, "rows": rows},
            indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
