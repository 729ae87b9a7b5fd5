"""The model registry: one entry per network of the papers' tables.

Builders are generated from the registry, so every network has the same
keras.applications signature plus its family's documented keyword-only
hyperparameters, and every registered network is picked up by the tests.
"""

import fnmatch
import inspect

import keras

from keras_resvariants import _catalog as catalog
from keras_resvariants._catalog import ArchEntry
from keras_resvariants.models._builder import build_model
from keras_resvariants.weights import registry as weights_registry

_ARCHS = catalog.ARCHS
_entry = catalog.arch_entry

_APP_PARAMS = [
    inspect.Parameter("include_top", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                      default=True),
    inspect.Parameter("weights", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                      default=None),
    inspect.Parameter("input_tensor", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                      default=None),
    inspect.Parameter("input_shape", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                      default=None),
    inspect.Parameter("pooling", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                      default=None),
    inspect.Parameter("classes", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                      default=None),
    inspect.Parameter("classifier_activation",
                      inspect.Parameter.POSITIONAL_OR_KEYWORD,
                      default="softmax"),
    inspect.Parameter("name", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                      default=None),
]

_DOC = """Builds {title}.

{description}

Reference:
    - {reference}

Args:
    include_top: bool. Whether to include the classifier head. Defaults
        to `True`.
    weights: `None` (random initialization), the tag of published
        weights of this network (e.g. `"fashion_mnist"`; see
        `keras_resvariants.list_weights("{key}")`), or the path to a
        `.weights.h5` file (with the head if `include_top=True`, without
        it otherwise). A tag loads the top file, or the no-top file with
        `include_top=False`; its hyperparameters, `classes` and
        `input_shape` become the defaults. A `classes` different from the
        weights' loads everything but the head and logs a warning. The
        file's sha256 and the network's weight-structure fingerprint are
        checked before any weight is assigned. Defaults to `None`.
    input_tensor: optional Keras tensor (output of `keras.Input()` or of
        a preceding layer) to use as the image input.
    input_shape: optional `(height, width, channels)`, or `(channels,
        height, width)` when `keras.config.image_data_format()` is
        `"channels_first"`. Defaults to `({size}, {size}, 3)` with
        `include_top=True` and `(None, None, 3)` without (in the data
        format), or the weights' shape with a tag.
        Height and width must be None or at least {min_size} (the
        network's total stride); any channel count works. With a tag the
        channels must be the weights', and with `include_top=True` the
        height and width too.
    pooling: `None`, `"avg"` or `"max"`: global pooling of the features
        when `include_top=False`. Defaults to `None` (4D output).
    classes: int. Number of classes when `include_top=True`. Defaults to
        `None`: `1000`, or the weights' class count with a tag.
    classifier_activation: activation of the classifier (`None` for
        logits; `None` or `"softmax"` when a tag's head is loaded).
        Defaults to `"softmax"`.
    name: optional model name. Defaults to `"{key}"`.
{hparams}
Returns:
    A functional `keras.Model`.

Raises:
    ValueError: for any invalid argument; the message names it.

Example:

>>> features = keras_resvariants.{title}(
...     include_top=False, input_shape=({min_size}, {min_size}, 1),
...     pooling="avg")
>>> features.name, len(features.output_shape)
('{key}', 2)
"""


def register_family(family_id, module, **fields):
    """Registers the family `family_id`, declared by `module` (its
    `__name__`, whose last part must be `family_id`), with the
    `keras_resvariants._catalog.Family` `fields`; returns the `Family`.
    Call it before registering the family's networks."""
    return catalog.register_family(catalog.Family(id=family_id, **fields),
                                   module)


def list_families():
    """Family ids, in the order `keras_resvariants.models` registers them."""
    return list(catalog.family_ids())


def get_family(family):
    """The `Family` record of a family id: its paper, recipes, search space
    and study pair."""
    return catalog.get_family(family)


def register_arch(key, public_name, factory, *, family, paper, table,
                  description, default_size, hparams, paper_params=None,
                  expected_params=None, expected_classes=10, paper_macs=None,
                  notes=""):
    """Registers a network and returns its generated builder.

    Args:
        key: registry key (lower snake case).
        public_name: the builder's name, e.g. `"ResSENet56"`.
        factory: callable `(**hparams) -> NetSpec`.
        family: family name (`list_models` groups by it).
        paper, table: where the network comes from.
        description: first paragraph of the builder's docstring.
        default_size: default input height/width.
        hparams: dict name -> (default, doc) of keyword-only arguments.
        paper_params: the paper's printed parameter count.
        expected_params: trainable parameters of the faithful build
            (docs/design.md), with `expected_classes` classes and default
            hparams.
        paper_macs: the paper's printed FLOPs (multiply-accumulates).
        notes: how the build deviates from the paper, if it does.
    """
    defaults = {name: default for name, (default, _) in hparams.items()}
    min_size = factory(**defaults).total_stride

    def builder(include_top=True, weights=None, input_tensor=None,
                input_shape=None, pooling=None, classes=None,
                classifier_activation="softmax", name=None, **kwargs):
        unknown = sorted(set(kwargs) - set(defaults))
        if unknown:
            accepted = ", ".join(sorted(defaults)) or "none"
            raise TypeError(
                f"{public_name}() got unexpected keyword argument(s) "
                f"{', '.join(unknown)}. Accepted hyperparameters: {accepted}."
            )
        record = weights_registry.find_record(key, weights)
        if record is not None:
            # The weights' hyperparameters, classes and input shape are the
            # defaults; explicit arguments win (and are then checked).
            kwargs = {**record.hyperparameters, **kwargs}
            if classes is None:
                classes = record.classes
            if input_shape is None and input_tensor is None:
                height, width, channels = record.input_shape
                if not include_top:
                    height = width = None
                input_shape = (
                    (channels, height, width)
                    if keras.config.image_data_format() == "channels_first"
                    else (height, width, channels))
            weights = record
        if classes is None:
            classes = 1000
        spec = factory(**{**defaults, **kwargs})
        return build_model(
            spec,
            include_top=include_top,
            weights=weights,
            input_tensor=input_tensor,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            name=name or key,
            arch=key,
        )

    builder.__name__ = builder.__qualname__ = public_name
    builder.__signature__ = inspect.Signature(
        _APP_PARAMS
        + [
            inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d)
            for n, d in defaults.items()
        ]
    )
    hparam_doc = "".join(
        f"    {n}: {doc} Defaults to `{d!r}`.\n"
        for n, (d, doc) in hparams.items()
    )
    builder.__doc__ = _DOC.format(
        title=public_name,
        description=description + (f"\n\n{notes}" if notes else ""),
        reference=paper,
        size=default_size,
        min_size=min_size,
        key=key,
        hparams=hparam_doc,
    )
    builder.__module__ = "keras_resvariants"
    catalog.add_arch(ArchEntry(
        key=key,
        public_name=public_name,
        family=family,
        paper=paper,
        table=table,
        defaults=defaults,
        default_size=default_size,
        min_size=min_size,
        paper_params=paper_params,
        expected_params=expected_params,
        expected_classes=expected_classes,
        paper_macs=paper_macs,
        notes=notes,
        builder=builder,
    ))
    return builder


def list_models(pattern=None, *, family=None):
    """Registry keys, sorted, optionally filtered.

    Args:
        pattern: optional shell-style pattern on the key or the builder
            name (case-insensitive), e.g. `"*ror*"`.
        family: optional family: `"resnet"`, `"ror"`, `"rgs"`, `"rir"`,
            `"res_se"` or `"seqconv"`.
    """
    if family is not None:
        families = sorted({entry.family for entry in _ARCHS.values()})
        if family not in families:
            raise ValueError(
                "`family` must be None or one of "
                f"{', '.join(repr(f) for f in families)}. Received: "
                f"family={family!r}"
            )
    if pattern is not None and not isinstance(pattern, str):
        raise ValueError(
            "`pattern` must be None or a shell-style pattern string such as "
            f"'*ror*'. Received: pattern={pattern!r}"
        )
    keys = []
    for key, entry in sorted(_ARCHS.items()):
        if family is not None and entry.family != family:
            continue
        if pattern is not None and not (
            fnmatch.fnmatch(key, pattern.lower())
            or fnmatch.fnmatch(entry.public_name.lower(), pattern.lower())
        ):
            continue
        keys.append(key)
    return keys


def create_model(name, **kwargs):
    """Builds a registered model by key or builder name.

    Example:

    >>> model = keras_resvariants.create_model(
    ...     "res_se_net_20", input_shape=(32, 32, 3), classes=10)
    """
    return _entry(name).builder(**kwargs)


def model_info(name):
    """Registry facts about one model as a dict: paper, table, default
    input size, the paper's parameter count and our faithful count."""
    entry = _entry(name)
    return {
        "key": entry.key,
        "builder": entry.public_name,
        "family": entry.family,
        "paper": entry.paper,
        "table": entry.table,
        "default_input_shape": (entry.default_size, entry.default_size, 3),
        "min_input_size": entry.min_size,
        "paper_params": entry.paper_params,
        "params": entry.expected_params,
        "params_classes": entry.expected_classes,
        "paper_macs": entry.paper_macs,
        "hyperparameters": dict(entry.defaults),
        "notes": entry.notes,
    }


def get_builder(name):
    return _entry(name).builder
