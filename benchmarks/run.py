"""Runs the whole benchmark: `python benchmarks/run.py [--peer FILE] [--quick] ...`.

The same as `tfa3c bench`; see benchmarks/README.md and `--help`.
"""

import sys

from measuring import bench

if __name__ == "__main__":
    sys.exit(bench.main(prog="python benchmarks/run.py"))
