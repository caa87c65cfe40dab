"""Soak benchmark: `python benchmarks/soak.py [--minutes 30] [--sequential]`.

Trains A3C and GA3C on CartPole-v1 for 30 minutes each with a checkpoint every minute
and records the training process's RSS once a minute; see `tfa3c/benchmarking/soak.py`.
"""

import sys

from measuring import soak

if __name__ == "__main__":
    sys.exit(soak.main())
