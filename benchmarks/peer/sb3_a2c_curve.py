"""The peer's own script, unchanged, that also writes the episodes it saw as a CSV.

Run with the peer's Python (`$SB3_PEER_VENV/bin/python`, made by `../shared/peers/sb3_a2c.sh`):

    python benchmarks/peer/sb3_a2c_curve.py CSV [sb3_a2c.py's options]

`../shared/peers/sb3_a2c.py` prints one summary per run. The suite's learning curves put
the peer on the same axes as tfa3c's runs, so this wraps the script's episode watcher
to also write each finished episode (`wall_time`, `env_steps`, `return`, `length`: the
columns of a tfa3c run's `episodes.csv`, seconds counted from the start of learning) and
then runs the script's `main` with the remaining options. Its settings, its stop rule and
its summary line stay the script's.
"""

import csv
import pathlib
import sys
import time

PEERS = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "peers"


def main() -> None:
    curve_path, options = pathlib.Path(sys.argv[1]), sys.argv[2:]
    sys.path.insert(0, str(PEERS))
    import sb3_a2c  # the peer's script, imported from ../shared/peers

    class RecordingWatch(sb3_a2c.SolveWatch):
        """The script's watcher, writing each finished episode as it goes."""

        def _on_training_start(self):
            super()._on_training_start()
            curve_path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(curve_path, "w", newline="")  # noqa: SIM115 (closed at the end)
            self._csv = csv.writer(self._file)
            self._csv.writerow(["wall_time", "env_steps", "return", "length"])

        def _on_step(self):
            seconds = time.perf_counter() - self.start
            for info in self.locals["infos"]:
                if "episode" in info:
                    self._csv.writerow([f"{seconds:.3f}", self.num_timesteps,
                                        float(info["episode"]["r"]), int(info["episode"]["l"])])
            return super()._on_step()

        def _on_training_end(self):
            self._file.close()

    sb3_a2c.SolveWatch = RecordingWatch
    sys.argv = [str(PEERS / "sb3_a2c.py"), *options]
    sb3_a2c.main()


if __name__ == "__main__":
    main()
