"""Shared test helpers: our own, small versions of keras-hub's test case.

Every helper compares against something independent of the code under test:
a JSON round trip, a reload in a fresh interpreter, or a gradient computed by
the backend's own autodiff.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def assert_config_round_trip(layer):
    """`from_config(get_config())` gives a layer with identical JSON config."""
    config = layer.get_config()
    first = json.dumps(config, sort_keys=True)
    clone = layer.__class__.from_config(json.loads(first))
    second = json.dumps(clone.get_config(), sort_keys=True)
    assert first == second
    return clone


def as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def to_numpy_list(outputs):
    return [keras.ops.convert_to_numpy(o) for o in as_list(outputs)]


def predict_outputs(model, inputs):
    """Inference-mode outputs as a list of NumPy arrays."""
    return to_numpy_list(model(inputs, training=False))


def assert_keras_reload_in_fresh_process(model, inputs, tmp_path):
    """Saves `model` as `.keras`, reloads it in a new interpreter that only
    imports `keras_resvariants`, and checks its outputs are bit-identical."""
    assert_models_reload_in_fresh_process([(model, inputs)], tmp_path)


def assert_models_reload_in_fresh_process(cases, tmp_path):
    """`assert_keras_reload_in_fresh_process` for several `(model, inputs)`
    pairs, with one interpreter start for all of them."""
    jobs = []
    for n, (model, inputs) in enumerate(cases):
        path = os.path.join(str(tmp_path), f"model{n}.keras")
        data_path = os.path.join(str(tmp_path), f"io{n}.npz")
        model.save(path)
        expected = predict_outputs(model, inputs)
        arrays = {f"x{i}": np.asarray(x)
                  for i, x in enumerate(as_list(inputs))}
        arrays.update({f"y{i}": y for i, y in enumerate(expected)})
        np.savez(data_path, **arrays)
        single = not isinstance(inputs, (list, tuple))
        jobs.append((path, data_path, single))
    script = textwrap.dedent(
        f"""
        import numpy as np
        import keras_resvariants  # noqa: F401  registers the custom objects
        import keras
        for path, data_path, single in {jobs!r}:
            data = np.load(data_path)
            xs = [data[k] for k in sorted(data) if k.startswith("x")]
            model = keras.saving.load_model(path)
            outs = model(xs[0] if single else xs, training=False)
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            for i, out in enumerate(outs):
                out = keras.ops.convert_to_numpy(out)
                ref = data[f"y{{i}}"]
                assert out.dtype == ref.dtype, (path, out.dtype, ref.dtype)
                assert np.array_equal(out, ref), (
                    path, np.max(np.abs(out - ref)))
            print("RELOAD_OK", path)
        """
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("KERAS_BACKEND", keras.backend.backend())
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (
        result.stdout[-2000:] + result.stderr[-4000:]
    )
    assert result.stdout.count("RELOAD_OK") == len(jobs), result.stdout


def _projection_loss(outputs, seed):
    """`outs -> sum(out_i * P_i)`, `P_i` drawn in output order from
    `np.random.default_rng(seed).standard_normal(output_i.shape)`."""
    rng = np.random.default_rng(seed)
    projections = [
        keras.ops.convert_to_tensor(
            rng.standard_normal(tuple(o.shape)).astype("float32"))
        for o in as_list(outputs)
    ]

    def loss_of(outs):
        total = 0.0
        for out, proj in zip(as_list(outs), projections):
            total = total + keras.ops.sum(
                keras.ops.cast(out, "float32") * proj
            )
        return total

    return loss_of


def _jax_gradients(outputs_of, args, seed):
    """JAX: gradients of `_projection_loss` of `outputs_of(args)` w.r.t.
    `args` (a list of arrays). Output shapes come from tracing only and the
    gradient is compiled once: op-by-op JAX compiles every primitive of a
    deep network on its own, 1.5-4x the time on the CPU backend."""
    import jax

    loss_of = _projection_loss(jax.eval_shape(outputs_of, args), seed)
    grads = jax.jit(jax.grad(lambda a: loss_of(outputs_of(a))))(args)
    return [np.asarray(g) for g in grads]


def trainable_gradients(model, inputs, *, training=True, seed=0):
    """Gradients of a random projection of the outputs w.r.t. every trainable
    weight, using the active backend's own autodiff.

    A random projection (rather than a plain sum) is used because the sum of
    a batch-normalised output has an identically zero gradient.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        return _jax_gradients(
            lambda tv: model.stateless_call(
                tv, non_trainable, inputs, training=training)[0],
            trainable, seed)
    outputs = model(inputs, training=False)
    loss_of = _projection_loss(outputs, seed)

    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_of(model(inputs, training=training))
        grads = tape.gradient(loss, model.trainable_variables)
        return [None if g is None else np.asarray(g) for g in grads]
    if backend == "torch":
        import torch

        trainable = [v.value for v in model.trainable_variables]
        loss = loss_of(model(inputs, training=training))
        grads = torch.autograd.grad(loss, trainable, allow_unused=True)
        return [None if g is None else g.detach().cpu().numpy()
                for g in grads]
    raise NotImplementedError(f"No gradient helper for backend {backend}")


def assert_all_trainable_weights_get_gradients(model, inputs, *,
                                               perturb_zero_weights=False,
                                               **kwargs):
    """Every trainable weight receives a finite, non-zero gradient.

    `perturb_zero_weights` first sets all-zero weights (zero-initialised
    kernels, BN betas, biases) to small random values: a deliberate zero
    init stops the gradient of whatever feeds it at step 0, which is not a
    wiring fault.
    """
    if perturb_zero_weights:
        rng = np.random.default_rng(0)
        for var in model.trainable_variables:
            value = keras.ops.convert_to_numpy(var)
            if not np.any(value):
                var.assign(0.01 * rng.standard_normal(value.shape).astype(
                    value.dtype))
    grads = trainable_gradients(model, inputs, **kwargs)
    assert len(grads) == len(model.trainable_variables) > 0
    for var, grad in zip(model.trainable_variables, grads):
        assert grad is not None, f"no gradient for {var.path}"
        assert np.all(np.isfinite(grad)), f"non-finite gradient: {var.path}"
        assert np.any(grad != 0), f"zero gradient for {var.path}"


def count_trainable(obj):
    """Number of trainable scalars (the papers' parameter counts)."""
    return int(
        sum(np.prod(v.shape) for v in obj.trainable_weights)
    )


def input_gradients(model, inputs, *, training=True, seed=0):
    """Gradients of a random projection of the outputs w.r.t. the model's
    inputs (a list of NumPy arrays, one per input), using the active
    backend's own autodiff. Useful for layers without trainable weights.

    The loss is `sum(output_i * P_i)` with `P_i` drawn in output order from
    `np.random.default_rng(seed).standard_normal(output_i.shape)`.
    """
    backend = keras.backend.backend()
    single = not isinstance(inputs, (list, tuple))
    xs = [np.asarray(x, "float32") for x in as_list(inputs)]
    if backend == "jax":
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        return _jax_gradients(
            lambda arrays: model.stateless_call(
                trainable, non_trainable, arrays[0] if single else arrays,
                training=training)[0],
            xs, seed)
    outputs = model(inputs, training=False)
    loss_of = _projection_loss(outputs, seed)

    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(x) for x in xs]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            outs = model(tensors[0] if single else tensors, training=training)
            loss = loss_of(outs)
        return [np.asarray(g) for g in tape.gradient(loss, tensors)]
    if backend == "torch":
        import torch

        tensors = [torch.tensor(x, requires_grad=True) for x in xs]
        loss = loss_of(model(tensors[0] if single else tensors,
                             training=training))
        return [g.detach().cpu().numpy()
                for g in torch.autograd.grad(loss, tensors)]
    raise NotImplementedError(f"No gradient helper for backend {backend}")


def count_calls(monkeypatch, owner, name):
    """Wraps `owner.name` (a function or method) for the test: returns
    the list that gets one entry per call."""
    calls = []
    original = getattr(owner, name)

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls


def load_script(relative_path, name):
    """The module of a script of the repository that is not in a package
    (`examples/`, `benchmarks/`), imported from its path."""
    path = os.path.join(REPO_ROOT, relative_path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# A `sitecustomize.py` under which `import tensorflow` fails, as on the GPU
# machine (JAX, no TensorFlow).
NO_TENSORFLOW = textwrap.dedent("""
    import sys


    class _NoTensorFlow:
        # `import tensorflow` fails as on a machine without it.
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                raise ModuleNotFoundError(f"No module named {name!r}",
                                          name=name)
            return None


    sys.meta_path.insert(0, _NoTensorFlow())
""")


def jax_env_without_tensorflow(tmp_path, **variables):
    """Environment of a subprocess on the JAX backend that cannot import
    TensorFlow (`NO_TENSORFLOW` as `tmp_path/site/sitecustomize.py`), with
    the repository on `PYTHONPATH` and `variables` set."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(NO_TENSORFLOW)
    env = dict(os.environ, KERAS_BACKEND="jax", **variables)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(site), REPO_ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
    return env
