"""Runs one comparison group in this process and writes its JSON result.

    python -m keras_resvariants.bench.worker --group ror --profile quick \
        --out ror.json

The suite (`runner.run_suite`) starts one such process per group.
"""

import argparse
import json
import os
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m keras_resvariants.bench.worker",
        description="Time one benchmark group and write its JSON result.",
    )
    parser.add_argument("--group", required=True)
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jit-compile", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from keras_resvariants.bench.groups import get_group
    from keras_resvariants.bench.harness import run_group

    group = get_group(args.group, args.profile)
    result = run_group(
        group, args.profile, seed=args.seed, jit_compile=args.jit_compile,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
