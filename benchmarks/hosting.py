"""Hosting benchmark: `python benchmarks/hosting.py [--counts 1,2,4] ...`.

Throughput of threads, processes and Ray, message costs and a projection; see
benchmarks/README.md and `--help`.
"""

import sys

from measuring import hosting

if __name__ == "__main__":
    sys.exit(hosting.main())
