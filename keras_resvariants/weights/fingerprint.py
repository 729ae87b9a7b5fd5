"""Fingerprints of a network's weight structure.

Keras 3 `.weights.h5` files address a layer's variables by the layer's
class and its position among the model's layers, not by name (see
`keras/src/saving/saving_lib.py`). A refactor that reorders, renames,
reshapes or retypes weighted layers can therefore silently break
published weights, or load them into the wrong variables. The fingerprint
pins what loading depends on, plus the names users depend on: for every
layer of `model.layers` that has weights, in order, its class and each
variable's path (relative to the layer), shape and dtype. Layers without
weights (pooling, activations, inputs) are left out, since adding or
removing one does not affect the weights.
"""

import hashlib
import json

from keras_resvariants import _catalog as catalog


def weight_structure(model):
    """The ordered weight structure of `model`.

    Returns:
        A list of `[layer class, [[variable path, shape, dtype], ...]]`,
        one entry per weighted layer of `model.layers`, in order.
    """
    structure = []
    for layer in model.layers:
        variables = layer.weights
        if not variables:
            continue
        structure.append([
            type(layer).__name__,
            [[_relative_path(layer, w), [int(d) for d in w.shape],
              str(w.dtype)] for w in variables],
        ])
    return structure


def fingerprint(model_or_structure):
    """sha256 (hex) of the weight structure of a model.

    Args:
        model_or_structure: a `keras.Model`, or the list returned by
            `weight_structure`.
    """
    structure = model_or_structure
    if not isinstance(structure, list):
        structure = weight_structure(structure)
    text = json.dumps(structure, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def architecture_fingerprints(arch, *, hyperparameters, classes,
                              input_shape):
    """`(top, notop)` fingerprints of `arch` built from its builder.

    Builds the network twice, with and without the head, for `classes`
    classes at `input_shape`, with `hyperparameters` over the builder's
    defaults: the two structures a record's files hold.
    """
    builder = catalog.arch_entry(arch).builder
    top = builder(include_top=True, weights=None, input_shape=input_shape,
                  classes=classes, **hyperparameters)
    notop = builder(include_top=False, weights=None,
                    input_shape=input_shape, **hyperparameters)
    return fingerprint(top), fingerprint(notop)


def _relative_path(layer, variable):
    # Relative to the layer, so an enclosing name scope (a model built
    # inside another) does not change the fingerprint.
    path = variable.path
    marker = f"{layer.name}/"
    index = path.find(marker)
    return path[index:] if index >= 0 else f"{layer.name}/{variable.name}"
