"""Run-time choice of how a layer computes: not a model property.

Three layers have several formulations of one function, with the same
weights and the same outputs up to float rounding; they differ only in
speed, per backend and device:

- `GroupedConv2D`: `"auto"` (the default: `"split"` on a CPU, `"native"`
  on a GPU or TPU), `"split"` (per-slice ordinary convolutions) or
  `"native"` (Keras' own grouped convolution).
- `RGShortcut`: `"fast"` (the default: per-channel moments pooled per
  group) or `"keras"` (`keras.layers.GroupNormalization`).
- `SeqConv2D`: `"auto"` (the default: `"dense"` on a CPU, `"grouped"`
  on a GPU or TPU), `"grouped"` (training with dropout as grouped
  convolutions over per-group masked copies, and the bottleneck's
  subgroups as grouped convolutions) or `"dense"` (a per-group loop for
  training with dropout, and block-diagonal dense kernels for the
  subgroups).

The `"auto"` rule follows one measurement: grouped convolutions run at
their own MACs on GPUs and TPUs, but on a CPU every backend computes them
far slower than the dense formulations (forward + backward of one
`SeqConv2D(64, k=16, bottleneck, c=4)` on a 32 x 16 x 16 x 64 batch, 2
cores: 489 ms grouped vs 40 ms dense on TensorFlow, 440 vs 27 ms on JAX;
torch about equal). On TensorFlow the slow part is Keras' route, not
TensorFlow: Keras compiles every grouped `ops.conv` with XLA
(keras-team/keras#18180), and XLA's CPU kernels are the slow ones.
TensorFlow's own grouped kernel, which `keras.ops` does not reach, would
not change the `SeqConv2D` choice either
(`benchmarks/seqconv_native_grouped.py`, 2-core Xeon, training steps):
dropout as grouped convolutions over masked copies 1.65x the no-dropout
step against the loop's 1.24x; SeqResNeXt-24 with grouped subgroups
0.47x ResNet-50's MACs/s against 0.43x with block-diagonal ones.

The choice is made at run time and never saved: it is in no layer config,
`.keras` file or weight fingerprint, so a model saved under one choice
loads and runs under another (configs saved when it was a constructor
argument still load; the value they hold is ignored).

What a layer uses: its own `implementation` attribute if not `None` (set
on the instance, in memory only: a clone or a reloaded model does not have
it), else the process-wide choice for its class: the default above unless
`set_implementation()` or an active `implementation_scope()` changed it.

The layers read it when they are called, not when they are built, so one
model can be run both ways. Called eagerly, each call reads it; inside a
compiled function (`fit`, `predict`, `tf.function`, `jax.jit`) it is read
when the function is traced, and a function already traced keeps its
choice: call `model.compile(...)` again (or trace a new function) after
changing it. (Keras' torch backend runs `fit` and `predict` eagerly by
default: each call reads it.) Like the `keras.config` setters, the choice
is process-wide, not per thread.

Example:

>>> from keras_resvariants.layers import implementation as impl
>>> layer = keras_resvariants.layers.RGShortcut(groups=4)
>>> x = np.random.default_rng(0).standard_normal((2, 4, 4, 8))
>>> fast = layer(x)
>>> with impl.implementation_scope("RGShortcut", "keras"):
...     slow = layer(x)
>>> np.testing.assert_allclose(keras.ops.convert_to_numpy(fast),
...                            keras.ops.convert_to_numpy(slow), atol=1e-5)
>>> impl.get_implementation(keras_resvariants.layers.RGShortcut)
'fast'
"""

import contextlib
import functools
import warnings

import keras

# The layers with a run-time choice: accepted values, the default first.
_CHOICES = {
    "GroupedConv2D": ("auto", "split", "native"),
    "RGShortcut": ("fast", "keras"),
    "SeqConv2D": ("auto", "grouped", "dense"),
}
_PACKAGE = "keras_resvariants"
_current = {name: choices[0] for name, choices in _CHOICES.items()}


def _layer_name(layer):
    """The `_CHOICES` key of `layer`: a name, or a class (or subclass) of
    one of the package's layers."""
    if isinstance(layer, str) and layer in _CHOICES:
        return layer
    if isinstance(layer, type):
        for klass in layer.__mro__:
            name = keras.saving.get_registered_name(klass)
            prefix, _, short = name.partition(">")
            if prefix == _PACKAGE and short in _CHOICES:
                return short
    accepted = ", ".join(repr(name) for name in _CHOICES)
    raise ValueError(
        f"`layer` must be one of {accepted} or the layer class (or a "
        f"subclass). Received: layer={layer!r}"
    )


def check_implementation(layer, value, allow_none=False):
    """Returns `value` if it is an implementation of `layer`.

    Args:
        layer: a layer name (`"GroupedConv2D"`, `"RGShortcut"`,
            `"SeqConv2D"`) or class.
        value: the implementation to check.
        allow_none: whether `None` (no per-instance override) is accepted.

    Raises:
        ValueError: naming the argument, the value and the accepted ones.
    """
    name = _layer_name(layer)
    choices = _CHOICES[name]
    if (value is None and allow_none) or (
        isinstance(value, str) and value in choices
    ):
        return value
    accepted = ", ".join(repr(c) for c in choices)
    if allow_none:
        accepted = f"None, {accepted}"
    raise ValueError(
        f"`implementation` must be one of {accepted} for {name}. "
        f"Received: implementation={value!r}"
    )


def get_implementation(layer):
    """The process-wide implementation of a layer class.

    A layer instance whose `implementation` attribute is set uses that
    instead.

    Args:
        layer: `"GroupedConv2D"`, `"RGShortcut"`, `"SeqConv2D"`, or one of
            these classes (or a subclass).

    Returns:
        The current choice, e.g. `"auto"` or `"fast"`.
    """
    return _current[_layer_name(layer)]


def set_implementation(layer, value):
    """Sets the process-wide implementation of a layer class.

    Every instance of the class (and of its subclasses) without its own
    `implementation` override uses `value` from its next call (inside a
    compiled function: from its next trace).

    Args:
        layer: `"GroupedConv2D"`, `"RGShortcut"`, `"SeqConv2D"`, or one of
            these classes (or a subclass).
        value: one of the layer's implementations: `"auto"`, `"split"`,
            `"native"` (`GroupedConv2D`); `"fast"`, `"keras"`
            (`RGShortcut`); `"auto"`, `"grouped"`, `"dense"`
            (`SeqConv2D`).

    Raises:
        ValueError: for an unknown layer or implementation.
    """
    name = _layer_name(layer)
    _current[name] = check_implementation(name, value)


@contextlib.contextmanager
def implementation_scope(layer, value):
    """Context manager: `set_implementation(layer, value)` inside, the
    previous choice restored on exit (also on an exception).

    Args:
        layer: `"GroupedConv2D"`, `"RGShortcut"`, `"SeqConv2D"`, or one of
            these classes (or a subclass).
        value: one of the layer's implementations.

    Raises:
        ValueError: for an unknown layer or implementation (on entry).
    """
    name = _layer_name(layer)
    previous = _current[name]
    set_implementation(name, value)
    try:
        yield
    finally:
        _current[name] = previous


@functools.cache
def on_accelerator():
    """Whether the active backend computes on a GPU or TPU (where grouped
    convolutions are native and fast) rather than a CPU."""
    if keras.backend.backend() == "torch":
        import torch

        return torch.cuda.is_available()  # Keras then places tensors there
    try:
        devices = keras.distribution.list_devices()  # "cpu:0", "gpu:0", ...
    except (AttributeError, NotImplementedError):
        return False
    return any(not str(d).lower().startswith("cpu") for d in devices)


def instance_property():
    """The `implementation` property of a layer with a run-time choice:
    the instance's own override (one of its class's implementations), or
    `None` to follow the process-wide choice. Validated when set; read at
    each call; in memory only, never saved."""

    def get(self):
        return getattr(self, "_implementation", None)

    def set_(self, value):
        self._implementation = check_implementation(type(self), value,
                                                    allow_none=True)

    return property(get, set_, doc=instance_property.__doc__)


def resolve(layer):
    """What a layer instance computes with now: its own `implementation`
    attribute if set, else the process-wide choice for its class."""
    own = getattr(layer, "implementation", None)
    return own if own is not None else get_implementation(type(layer))


def deprecated_argument(layer, value):
    """Checks the deprecated constructor argument `implementation=` and
    warns that it is a per-instance override, not saved."""
    check_implementation(layer, value)
    name = _layer_name(layer)
    warnings.warn(
        f"The `implementation` argument of {name} is deprecated: it is "
        "not saved in the layer's config (a clone or a reloaded model "
        "ignores it). Choose at run time with "
        "`keras_resvariants.layers.set_implementation("
        f"{name!r}, {value!r})`, `implementation_scope(...)`, or "
        f"`layer.implementation = {value!r}` on one instance.",
        DeprecationWarning,
        stacklevel=3,
    )
    return value


def drop_legacy_argument(config):
    """A copy of a layer config without `implementation`.

    Configs saved while it was a constructor argument hold it; it no
    longer belongs to the model, so its value is ignored on loading.
    """
    config = dict(config)
    config.pop("implementation", None)
    return config
