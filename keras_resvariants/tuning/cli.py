"""`resvariants tune`: the command-line face of `tuning.search()`."""

import argparse
import json
import sys

from keras_resvariants import recipes as recipes_lib
from keras_resvariants._cli_args import add_data_arguments
from keras_resvariants._cli_args import add_distribution_arguments
from keras_resvariants._cli_args import parse_key_value
from keras_resvariants._cli_args import parse_number
from keras_resvariants._cli_args import parse_value
from keras_resvariants.tuning.space import FAMILIES

HELP = "Search a family's paper hyperparameters with keras-tuner."

EPILOG = """\
examples:
  resvariants tune --family ror --dataset fashion_mnist --tuner random \\
      --max-trials 8 --epochs 2 --train-subset 4096 --validation-split 1000 \\
      --fix depth=56 --fix width=16 --output runs/tune_ror
  resvariants tune --family seqconv --tuner bayesian --max-trials 20 \\
      --space k=8,16 --space learning_rate=0.01:0.1 --output runs/tune_seq
  resvariants tune --family rgs --list-space

--fix NAME=VALUE fixes a hyperparameter (JSON value: 0.2, true, "b" or b).
--space NAME=V1,V2,... narrows it to a list; NAME=LOW:HIGH narrows a float
range. The command exits with status 1, showing the error, when any trial
fails (keras-tuner itself would carry on); 2 for invalid arguments.
"""


def _key_values(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError(
            f"expected NAME=V1,V2,... or NAME=LOW:HIGH, got {text!r}")
    key, value = text.split("=", 1)
    if ":" in value and "," not in value:
        low, high = value.split(":", 1)
        bounds = (parse_value(low), parse_value(high))
        if not all(isinstance(b, (int, float)) for b in bounds):
            raise argparse.ArgumentTypeError(
                f"expected numbers in NAME=LOW:HIGH, got {text!r}")
        return key.strip(), bounds
    return key.strip(), [parse_value(x.strip()) for x in value.split(",")]


def add_subcommand(subparsers):
    """Adds the `tune` subcommand to the `resvariants` parser."""
    p = subparsers.add_parser(
        "tune", help=HELP, description=HELP, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--family", required=True, choices=tuple(FAMILIES),
                   help="model family, as list_models(family=...) groups "
                        "them")
    add_data_arguments(p)
    p.add_argument("--tuner", default="random",
                   choices=("random", "bayesian", "hyperband", "grid"),
                   help="default: random")
    p.add_argument("--max-trials", type=int, default=10,
                   help="trials to run at most (default: 10)")
    p.add_argument("--epochs", type=int, default=1,
                   help="epochs per trial; Hyperband's maximum (default: 1)")
    p.add_argument("--validation-split", type=parse_number, default=0.1,
                   help="fraction (0.1) or count (1000) of training images "
                        "held out for the objective (default: 0.1)")
    p.add_argument("--objective", default="val_accuracy",
                   choices=("val_accuracy", "val_loss", "val_cross_entropy"))
    p.add_argument("--fix", action="append", type=parse_key_value, default=[],
                   metavar="NAME=VALUE", help="fix a hyperparameter "
                                              "(repeatable)")
    p.add_argument("--space", action="append", type=_key_values, default=[],
                   metavar="NAME=V1,V2|LOW:HIGH",
                   help="narrow a hyperparameter (repeatable)")
    p.add_argument("--recipe", default="auto",
                   choices=("auto",) + tuple(recipes_lib.list_recipes()),
                   help="'auto' = the family's paper recipe (default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", required=False,
                   help="output directory (default: runs/tune-FAMILY-DATASET)")
    add_distribution_arguments(p)
    p.add_argument("--executions-per-trial", type=int, default=1)
    p.add_argument("--run-eagerly", action="store_true",
                   help="no graph tracing (faster for tiny smoke searches)")
    p.add_argument("--resume", action="store_true",
                   help="continue the tuner state in OUTPUT/tuner instead "
                        "of starting over")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    p.add_argument("--list-space", action="store_true",
                   help="print the family's search space and exit")
    p.set_defaults(func=run)
    return p


def _print_space(args):
    from keras_resvariants.data import get_dataset_info
    from keras_resvariants.tuning import make_hypermodel

    info = get_dataset_info(args.dataset)
    hypermodel = make_hypermodel(
        args.family, input_shape=tuple(info.image_shape),
        classes=info.num_classes, fixed=dict(args.fix),
        space=dict(args.space), recipe=args.recipe,
    )
    for param in hypermodel.search_space():
        if param["kind"] == "float":
            what = (f"{param['low']:g} to {param['high']:g} "
                    f"({param['sampling']})")
        elif param["kind"] == "fixed":
            what = "fixed"
        else:
            what = "one of " + ", ".join(map(repr, param["values"]))
        condition = ""
        if param.get("condition"):
            (parent, values), = param["condition"].items()
            condition = f" [when {parent} in {values}]"
        print(f"{param['name']}: {what}; default {param['default']!r}"
              f"{condition}")
        print(f"    {param['source']}")


def run(args):
    """Runs `resvariants tune`; returns the exit code."""
    try:
        if args.list_space:
            _print_space(args)
            return 0
        from keras_resvariants.tuning import TrialsFailedError
        from keras_resvariants.tuning import format_table
        from keras_resvariants.tuning import search
    except (ValueError, ImportError) as error:
        print(f"resvariants tune: error: {error}", file=sys.stderr)
        return 2

    output = args.output or f"runs/tune-{args.family}-{args.dataset}"
    try:
        result = search(
            args.family,
            args.dataset,
            tuner=args.tuner,
            max_trials=args.max_trials,
            epochs=args.epochs,
            train_subset=args.train_subset,
            validation_split=args.validation_split,
            objective=args.objective,
            fixed=dict(args.fix),
            space=dict(args.space),
            recipe=args.recipe,
            seed=args.seed,
            output_dir=output,
            data_dir=args.data_dir,
            download=args.download,
            distribution=args.distribution,
            logical_cpus=args.logical_cpus,
            executions_per_trial=args.executions_per_trial,
            run_eagerly=args.run_eagerly,
            overwrite=not args.resume,
            verbose=args.verbose,
        )
    except TrialsFailedError as error:
        print(format_table(error.trials))
        print(f"resvariants tune: error: {error}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, NotImplementedError,
            ImportError) as error:
        print(f"resvariants tune: error: {error}", file=sys.stderr)
        return 2
    print(result.table())
    best = result.best
    print(
        f"best: trial {best.trial_id}, {args.objective} {best.score:.4f} "
        f"(epoch {best.best_step + 1}), {result.model_name} "
        f"{json.dumps(result.model_kwargs, sort_keys=True)}"
    )
    print(f"outputs: {result.paths['best_model']}, "
          f"{result.paths['best_hyperparameters']}, "
          f"{result.paths['results']} ({result.elapsed_s:.0f} s)")
    return 0
