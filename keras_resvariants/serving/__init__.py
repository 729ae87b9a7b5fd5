"""Export to TensorFlow Serving's SavedModel layout, and a compatible server.

* `export_saved_model(model, output_dir)`: `output_dir/NAME/VERSION/` with
  a `serving_default` signature on raw `uint8` pixels (preprocessing in the
  graph) and a `serving_float` one on preprocessed inputs, both returning
  `probabilities` and `class_id`. TensorFlow backend only.
* `create_app(model_base_path, model_name)`: a FastAPI app speaking TF
  Serving's REST API (status, metadata, predict) over those versions;
  `resvariants serve` runs it with uvicorn on 127.0.0.1.
* `GrpcServer(model_server, port=8500)`: TF Serving's gRPC API
  (`PredictionService.Predict`, `GetModelMetadata`,
  `ModelService.GetModelStatus`) over the same versions; `create_app(...,
  grpc_port=8500)` and `resvariants serve --grpc-port 8500` run it beside
  the REST API on the same thread pool (needs `grpcio` and
  `tensorflow-serving-api`).

Needs TensorFlow, FastAPI and uvicorn: `pip install
'keras-resvariants[serve]'`. Without them, importing this package raises an
`ImportError` that names the extra. The gRPC server's own packages
(`grpcio`, `tensorflow-serving-api`, in the same extra) are checked when it
starts.
"""

from keras_resvariants import _extras

_extras.require_package(__name__)

from keras_resvariants.serving.export import export_saved_model
from keras_resvariants.serving.export import load_model_for_export
from keras_resvariants.serving.export import resolve_preprocessing
from keras_resvariants.serving.grpc_server import GrpcServer
from keras_resvariants.serving.server import ModelServer
from keras_resvariants.serving.server import create_app
from keras_resvariants.serving.tensors import ServingError

__all__ = [
    "GrpcServer",
    "ModelServer",
    "ServingError",
    "create_app",
    "export_saved_model",
    "load_model_for_export",
    "resolve_preprocessing",
]
