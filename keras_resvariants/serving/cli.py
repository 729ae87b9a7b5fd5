"""`resvariants export` and `resvariants serve`."""

import argparse
import gc
import os
import sys

EXPORT_HELP = ("Export a trained model as a SavedModel in TF Serving's "
               "layout (OUTPUT/NAME/VERSION).")
SERVE_HELP = ("Serve exported SavedModels with TF Serving's REST API (and "
              "its gRPC API with --grpc-port).")

EXPORT_EPILOG = """\
MODEL is a .keras file, a training run directory (its best.keras) or a
registry name (built with --weights). The export's serving_default
signature takes raw uint8 pixels and applies the preprocessing the model
was trained with (the run's dataset, the weights record, or --dataset);
serving_float takes preprocessed float32 inputs. Both return
`probabilities` and `class_id`.

examples:
  resvariants export --model runs/quick --output exported
  resvariants export --model resnet_20 --dataset fashion_mnist \\
      --output exported --name fmnist --version 3
  resvariants serve --model-base-path exported/fmnist --port 8501
"""

SERVE_EPILOG = """\
Endpoints (as tensorflow_model_server --rest_api_port serves them):
  GET  /v1/models/NAME[/versions/N]            version status
  GET  /v1/models/NAME[/versions/N]/metadata   signature defs
  POST /v1/models/NAME[/versions/N]:predict    {"instances": [...]} or
                                               {"inputs": ...}
With --grpc-port (as tensorflow_model_server --port serves them):
  tensorflow.serving.PredictionService  Predict, GetModelMetadata
  tensorflow.serving.ModelService       GetModelStatus
(needs: pip install grpcio tensorflow-serving-api)
"""


def add_subcommand(subparsers):
    """Adds `export` and `serve` to the `resvariants` parser."""
    p = subparsers.add_parser(
        "export", help=EXPORT_HELP, description=EXPORT_HELP,
        epilog=EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, metavar="PATH_OR_NAME",
                   help=".keras file, training run directory or registry "
                        "name")
    p.add_argument("--output", required=True, metavar="DIR",
                   help="base directory; the export goes to "
                        "DIR/NAME/VERSION")
    p.add_argument("--name", help="model name in /v1/models/NAME (default: "
                                  "the Keras model's name)")
    p.add_argument("--version", type=int,
                   help="version number (default: highest existing + 1)")
    p.add_argument("--dataset",
                   help="dataset whose preprocessing to bake in (default: "
                        "the training run's or the weights')")
    p.add_argument("--weights", metavar="TAG_OR_PATH",
                   help="pretrained weights for a registry name")
    p.add_argument("--classifier-activation", default="auto",
                   choices=("auto", "softmax", "linear"),
                   help="what the model outputs: probabilities (softmax) "
                        "or logits (linear); default: read from the final "
                        "layer")
    p.set_defaults(func=run_export)

    s = subparsers.add_parser(
        "serve", help=SERVE_HELP, description=SERVE_HELP,
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--model-base-path", required=True, metavar="DIR",
                   help="directory of numbered versions (an export's "
                        "OUTPUT/NAME)")
    s.add_argument("--model-name",
                   help="NAME in /v1/models/NAME (default: the base path's "
                        "last component)")
    s.add_argument("--port", type=int, default=8501,
                   help="REST port (default: 8501, TF Serving's)")
    s.add_argument("--host", default="127.0.0.1",
                   help="interface to bind, REST and gRPC (default: "
                        "127.0.0.1, loopback only; 0.0.0.0 exposes the "
                        "server to the network)")
    s.add_argument("--grpc-port", type=int, default=None, metavar="PORT",
                   help="also serve TF Serving's gRPC API on this port "
                        "(TF Serving's is 8500; default: off)")
    s.add_argument("--grpc-tensor-content", action="store_true",
                   help="answer gRPC predictions with tensor_content bytes "
                        "rather than typed values (TF Serving's "
                        "--enable_serialization_as_tensor_content)")
    s.add_argument("--version-policy", default="all",
                   choices=("all", "latest"),
                   help="serve every version (default) or only the highest")
    s.add_argument("--version-label", action="append", default=[],
                   metavar="LABEL=VERSION",
                   help="version label for /labels/LABEL URLs, repeatable")
    s.add_argument("--workers", type=int, default=None,
                   help="threads running requests (default: min(8, CPUs+2))")
    s.add_argument("--log-level", default="warning",
                   choices=("critical", "error", "warning", "info", "debug"))
    s.set_defaults(func=run_serve)
    return p


def run_export(args):
    """Runs `resvariants export`; returns the exit code."""
    from keras_resvariants.serving import export as export_lib

    export_lib.check_tensorflow_backend()
    model, prep, source = export_lib.load_model_for_export(
        args.model, weights=args.weights, dataset=args.dataset)
    path = export_lib.export_saved_model(
        model, args.output, name=args.name, version=args.version,
        preprocessing=prep,  # None: export_saved_model asks for --dataset
        classifier_activation=args.classifier_activation,
        metadata={"source": source},
    )
    name = os.path.basename(os.path.dirname(path))
    print(f"exported {name} version {os.path.basename(path)} to {path}")
    print(f"serve it with: resvariants serve --model-base-path "
          f"{os.path.dirname(path)} --model-name {name}")
    return 0


def _labels(pairs):
    labels = {}
    for pair in pairs:
        label, sep, number = pair.partition("=")
        if not sep or not label or not number.isdigit():
            raise ValueError(
                "`--version-label` must be LABEL=VERSION (an integer "
                f"version). Received: {pair!r}"
            )
        labels[label] = int(number)
    return labels


def _check_grpc(args):
    """`None`, or the one-line error for a `--grpc-port` that cannot
    work (a missing package; a bad port raises `ValueError`)."""
    if args.grpc_port is None:
        return None
    from keras_resvariants.serving import grpc_server

    if not 0 <= args.grpc_port <= 65535 or args.grpc_port == args.port:
        raise ValueError(
            "`--grpc-port` must be a TCP port (0-65535) other than "
            f"--port's. Received: --grpc-port={args.grpc_port}, "
            f"--port={args.port}"
        )
    try:
        grpc_server.import_grpc()
    except ImportError as error:
        if getattr(args, "debug", False):
            raise
        return error
    return None


def run_serve(args):
    """Runs `resvariants serve` until interrupted; returns the exit code."""
    import uvicorn

    from keras_resvariants._cli_args import error_line
    from keras_resvariants.serving.server import create_app

    error = _check_grpc(args)
    if error is not None:
        print(error_line("serve", error), file=sys.stderr)
        return 2
    app = create_app(args.model_base_path, args.model_name,
                     version_policy=args.version_policy,
                     version_labels=_labels(args.version_label),
                     max_workers=args.workers, grpc_port=args.grpc_port,
                     grpc_host=args.host,
                     grpc_tensor_content=args.grpc_tensor_content)
    server = app.state.server
    # TensorFlow, Keras and the loaded versions leave millions of
    # long-lived Python objects; a full (generation 2) collection scanning
    # them all stalls every in-flight request for up to seconds. Freezing
    # them after loading keeps collections to what requests allocate.
    gc.collect()
    gc.freeze()
    grpc_text = ("" if app.state.grpc_server is None
                 else f" and gRPC {app.state.grpc_server.address}")
    print(f"serving {server.model_name} versions "
          f"{sorted(server.versions)} from {server.model_base_path} at "
          f"http://{args.host}:{args.port}/v1/models/{server.model_name}"
          f"{grpc_text}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port,
                log_level=args.log_level)
    return 0
