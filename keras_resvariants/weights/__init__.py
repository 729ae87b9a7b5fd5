"""Pretrained weights: the `arch.tag` registry, checked loading, publishing.

* `list_weights()`, `weights_info("resnet_20.fashion_mnist")`: the
  published weights and their records (`WeightsRecord`: files, sha256,
  fingerprint, classes, input shape, preprocessing, hyperparameters,
  measured accuracy, provenance).
* `weights="fashion_mnist"` on a builder, or `load_pretrained(model,
  "resnet_20.fashion_mnist")` on a built model, loads them after checking
  the input shape, the weight-structure fingerprint and the file's sha256.
* `python -m keras_resvariants.weights.publish RUN_DIR --tag TAG` turns a
  `resvariants train` run into published weights, a record and a model
  card.
"""

from keras_resvariants.weights.fingerprint import architecture_fingerprints
from keras_resvariants.weights.fingerprint import fingerprint
from keras_resvariants.weights.fingerprint import weight_structure
from keras_resvariants.weights.loading import load_pretrained
from keras_resvariants.weights.loading import resolve_weights_file
from keras_resvariants.weights.loading import sha256_file
from keras_resvariants.weights.registry import WeightsFile
from keras_resvariants.weights.registry import WeightsRecord
from keras_resvariants.weights.registry import list_weights
from keras_resvariants.weights.registry import records_path
from keras_resvariants.weights.registry import weights_info

__all__ = [
    "WeightsFile",
    "WeightsRecord",
    "architecture_fingerprints",
    "fingerprint",
    "list_weights",
    "load_pretrained",
    "records_path",
    "resolve_weights_file",
    "sha256_file",
    "weight_structure",
    "weights_info",
]
