"""The README's animation: a policy's game recorded by `tfa3c play --video`, cut to a GIF.

    python benchmarks/animation.py savedmodels/ga3c_pong --out benchmarks/results/pong.gif

It runs `tfa3c play PATH --episodes 1 --video DIR --seed SEED` (the command a user runs to
watch a policy), then keeps `--seconds` of the episode's MP4 from `--start` on, scaled by
`--scale`, as an animated GIF with moviepy (the `video` extra). The GIF plays at the
video's own rate: for Atari, the game's speed.
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import tempfile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/animation.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="an exported SavedModel (model or version folder)")
    parser.add_argument("--out", required=True, help="the GIF file to write")
    parser.add_argument("--seed", type=int, default=0, help="the episode's seed (default 0)")
    parser.add_argument("--start", type=float, default=0.0,
                        help="seconds into the episode where the GIF starts (default 0)")
    parser.add_argument("--seconds", type=float, default=12.0,
                        help="length of the GIF in seconds (default 12)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="size relative to the game's screen (default 1)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.start < 0 or args.scale <= 0:
        print("animation: error: --seconds and --scale must be positive and --start at least "
              f"0, got {args.seconds}, {args.scale} and {args.start}", file=sys.stderr)
        return 2
    try:
        from moviepy import VideoFileClip
    except ImportError:
        print('animation: error: moviepy is missing; pip install -e ".[video]"', file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        command = ["tfa3c", "play", args.model, "--episodes", "1", "--video", folder,
                   "--seed", str(args.seed)]
        played = subprocess.run(command, capture_output=True, text=True)
        print(played.stdout.strip(), flush=True)
        if played.returncode != 0:
            print(played.stderr.strip().splitlines()[-1] if played.stderr.strip() else
                  f"animation: {' '.join(command)} exited {played.returncode}",
                  file=sys.stderr)
            return played.returncode
        [video] = sorted(pathlib.Path(folder).glob("*.mp4"))
        with VideoFileClip(str(video)) as clip:
            end = min(clip.duration, args.start + args.seconds)
            if args.start >= end:
                print(f"animation: error: --start {args.start} is past the episode's "
                      f"{clip.duration:.1f} s", file=sys.stderr)
                return 2
            part = clip.subclipped(args.start, end)
            if args.scale != 1.0:
                part = part.resized(args.scale)
            out = pathlib.Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            part.write_gif(str(out), fps=clip.fps, logger=None)
    print(f"animation: {out} ({end - args.start:.1f} s of {' '.join(command[:5])} ...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
