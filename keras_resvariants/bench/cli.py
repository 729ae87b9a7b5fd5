"""`resvariants bench`: the speed (default) and accuracy benchmarks."""

import os

from keras_resvariants.bench import stats

HELP = "Time every variant against its baseline (or compare accuracy)."


def add_subcommand(subparsers):
    from keras_resvariants.bench.groups import GROUP_NAMES

    parser = subparsers.add_parser(
        "bench", help=HELP, description=(
            HELP + " Speed: one process per comparison group, interleaved "
            "rounds, median paired ratios with their spread and a "
            "plain-vs-plain control; writes benchmarks.md, benchmarks.png "
            "and results.json. Accuracy (--accuracy): each family's small "
            "network and its baseline trained with the same budget on "
            "Fashion-MNIST, scored on the full test set."),
    )
    parser.add_argument("--quick", action="store_true",
                        help="small batches, 7 rounds (under 5 minutes "
                             "on 2 CPU cores); default is the full profile")
    parser.add_argument("--profile", choices=("quick", "full", "smoke"),
                        default=None,
                        help="explicit profile (overrides --quick)")
    parser.add_argument("--output", default="bench_out",
                        help="output directory (default: bench_out)")
    parser.add_argument("--groups", nargs="+", choices=GROUP_NAMES,
                        metavar="GROUP",
                        help="only these groups: " + ", ".join(GROUP_NAMES))
    parser.add_argument("--retries", type=int, default=None,
                        help="re-runs of a group whose control is off "
                             "(default: 1 quick, 2 full)")
    parser.add_argument("--tolerance", type=float,
                        default=stats.DEFAULT_TOLERANCE,
                        help="control tolerance (default 0.03 = ±3%%)")
    parser.add_argument("--jit-compile", action="store_true",
                        help="TensorFlow: XLA-compile the timed calls "
                             "(secondary mode; Keras' CPU default is off)")
    parser.add_argument("--docs", default=None, metavar="PAGE",
                        help="also write the run as the docs page PAGE "
                             "(docs/benchmarks.md) and its raw results "
                             "beside it (PAGE with .json)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds allowed per group process")
    acc = parser.add_argument_group("accuracy (--accuracy)")
    acc.add_argument("--accuracy", action="store_true",
                     help="run the Fashion-MNIST accuracy comparison")
    acc.add_argument("--families", nargs="+", default=None,
                     help="accuracy pairs to run (default: all)")
    acc.add_argument("--epochs", type=int, default=3)
    acc.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    acc.add_argument("--recipe", default="quick",
                     help="training recipe of every run (default: quick)")
    acc.add_argument("--batch-size", type=int, default=None,
                     help="global batch (default: the recipe's)")
    acc.add_argument("--train-limit", type=int, default=None,
                     help="use only the first N training images")
    acc.add_argument("--test-limit", type=int, default=None,
                     help="score on the first N test images (default: all "
                          "10,000)")
    acc.add_argument("--data-dir", default=None,
                     help="directory of the Fashion-MNIST IDX files")
    parser.set_defaults(func=run)
    return parser


def run(args):
    if args.accuracy:
        from keras_resvariants.bench import accuracy

        accuracy.run_accuracy(
            families=args.families, epochs=args.epochs, seeds=args.seeds,
            recipe=args.recipe, batch_size=args.batch_size,
            train_limit=args.train_limit,
            test_limit=args.test_limit, data_dir=args.data_dir,
            output_dir=args.output, log=print,
        )
        return 0
    from keras_resvariants.bench.runner import run_suite

    profile = args.profile or ("quick" if args.quick else "full")
    suite = run_suite(
        args.groups, profile=profile, output_dir=args.output,
        retries=args.retries, tolerance=args.tolerance, seed=args.seed,
        jit_compile=args.jit_compile, timeout=args.timeout, log=print,
    )
    print(os.path.join(args.output, "benchmarks.md"))
    if args.docs:
        from keras_resvariants.bench import report

        for path in report.write_docs(suite, args.docs,
                                      report.docs_json_path(args.docs)):
            print(path)
    return 1 if suite["errors"] else 0
