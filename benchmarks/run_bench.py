"""Thin wrapper: `python benchmarks/run_bench.py [ARGS]` is
`resvariants bench [ARGS]`, e.g.

    python benchmarks/run_bench.py --quick --output bench_out
    python benchmarks/run_bench.py --groups ror rg --output /tmp/b
    python benchmarks/run_bench.py --accuracy --epochs 1 --seeds 0
    KERAS_BACKEND=jax python benchmarks/run_bench.py --quick

Each comparison group runs in its own process; see docs/benchmarks.md for
the method and the latest table.
"""

import sys

from keras_resvariants.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
