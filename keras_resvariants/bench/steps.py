"""Compiled train and inference calls, one implementation per backend.

A *model* candidate is timed on a full training step: forward pass in
training mode, sparse categorical cross-entropy on logits, gradients of
every trainable weight and an SGD (momentum 0.9) update, exactly the step
docs/benchmarks.md used. A *layer* candidate (a small functional model
around one layer) is timed on forward + backward: the gradient of a fixed
random projection of its outputs with respect to its inputs and its
trainable weights (no optimizer), the layer microbenchmark of docs/benchmarks.md
§2. The loss is quadratic in the outputs (sum(out² · P) / 2) so that the
backward pass needs the forward values: with a loss linear in the output,
TensorFlow prunes the forward pass of a bare linear layer (a plain
`Conv2D` baseline) and the baseline would look cheaper than it is.
Inference is the forward pass with `training=False`.

Inputs are synthetic and already on the device (no input pipeline in the
timed region). Every call blocks until its result is computed, so that a
timer around it measures the computation.

TensorFlow: `tf.function(jit_compile=...)`; `jit_compile=False` is what
Keras 3 uses on a CPU-only machine and the suite's primary mode. JAX:
`jax.jit` of a stateless step (JAX has no graph mode without XLA), with the
variables carried from call to call.
"""

import keras
import numpy as np


class CompiledCandidate:
    """One model with its synthetic batch and its two compiled calls.

    `train()` runs one training step (model) or one forward + backward
    (layer); `infer()` one inference pass. Both block until done.
    """

    def __init__(self, model, *, kind, batch, classes=10, seed=0,
                 jit_compile=False):
        if kind not in ("model", "layer"):
            raise ValueError(
                "`kind` must be 'model' or 'layer'. Received: "
                f"kind={kind!r}"
            )
        self.model = model
        self.kind = kind
        self.batch = int(batch)
        rng = np.random.default_rng(seed)
        inputs = [
            rng.standard_normal((self.batch,) + tuple(t.shape[1:]))
            .astype("float32")
            for t in model.inputs
        ]
        self._inputs_np = inputs
        self._labels_np = rng.integers(0, classes, (self.batch,)).astype(
            "int32"
        )
        outputs = model.outputs
        self._projections_np = [
            rng.standard_normal((self.batch,) + tuple(o.shape[1:]))
            .astype("float32")
            for o in outputs
        ]
        backend = keras.backend.backend()
        if backend == "tensorflow":
            self._build_tf(jit_compile)
        elif backend == "jax":
            self._build_jax()
        else:
            raise NotImplementedError(
                f"The benchmark supports the TensorFlow and JAX backends, "
                f"not {backend!r}."
            )

    # ------------------------------------------------------------------
    # TensorFlow

    def _build_tf(self, jit_compile):
        import tensorflow as tf

        model = self.model
        xs = [tf.constant(x) for x in self._inputs_np]
        xs_arg = xs[0] if len(xs) == 1 else xs
        labels = tf.constant(self._labels_np)
        projections = [tf.constant(p) for p in self._projections_np]
        if self.kind == "model":
            optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
            optimizer.build(model.trainable_variables)
            loss_fn = keras.losses.SparseCategoricalCrossentropy(
                from_logits=True
            )

            @tf.function(jit_compile=jit_compile)
            def train(x, y):
                with tf.GradientTape() as tape:
                    logits = model(x, training=True)
                    loss = loss_fn(y, logits)
                grads = tape.gradient(loss, model.trainable_variables)
                optimizer.apply(grads, model.trainable_variables)
                return loss

            self.train = lambda: train(xs_arg, labels).numpy()
        else:
            variables = model.trainable_variables

            @tf.function(jit_compile=jit_compile)
            def train(x):
                x_list = x if isinstance(x, (list, tuple)) else [x]
                with tf.GradientTape() as tape:
                    tape.watch(x_list)
                    loss = _projected_sum(model(x, training=True),
                                          projections)
                grads = tape.gradient(loss, list(x_list) + variables)
                # Returned so that no part of the backward pass is pruned.
                return loss, grads

            self.train = lambda: train(xs_arg)[0].numpy()

        @tf.function(jit_compile=jit_compile)
        def infer(x):
            return model(x, training=False)

        def run_infer():
            out = infer(xs_arg)
            out = out if isinstance(out, (list, tuple)) else [out]
            return out[0].numpy()

        self.infer = run_infer

    # ------------------------------------------------------------------
    # JAX

    def _build_jax(self):
        import jax

        model = self.model
        xs = [jax.numpy.asarray(x) for x in self._inputs_np]
        xs_arg = xs[0] if len(xs) == 1 else xs
        labels = jax.numpy.asarray(self._labels_np)
        projections = [jax.numpy.asarray(p) for p in self._projections_np]
        state = {
            "trainable": [v.value for v in model.trainable_variables],
            "non_trainable": [v.value for v in model.non_trainable_variables],
        }
        if self.kind == "model":
            optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
            optimizer.build(model.trainable_variables)
            state["optimizer"] = [v.value for v in optimizer.variables]
            loss_fn = keras.losses.SparseCategoricalCrossentropy(
                from_logits=True
            )

            def step(trainable, non_trainable, opt_vars, x, y):
                def loss_of(tv):
                    logits, ntv = model.stateless_call(
                        tv, non_trainable, x, training=True
                    )
                    return loss_fn(y, logits), ntv

                (loss, ntv), grads = jax.value_and_grad(
                    loss_of, has_aux=True
                )(trainable)
                tv, opt_vars = optimizer.stateless_apply(
                    opt_vars, grads, trainable
                )
                return loss, tv, ntv, opt_vars

            jitted = jax.jit(step)

            def train():
                out = jitted(state["trainable"], state["non_trainable"],
                             state["optimizer"], xs_arg, labels)
                jax.block_until_ready(out)
                (_, state["trainable"], state["non_trainable"],
                 state["optimizer"]) = out
                return out[0]
        else:

            def step(trainable, non_trainable, x):
                def loss_of(tv, x):
                    outs, ntv = model.stateless_call(
                        tv, non_trainable, x, training=True
                    )
                    return _projected_sum(outs, projections), ntv

                (loss, ntv), grads = jax.value_and_grad(
                    loss_of, argnums=(0, 1), has_aux=True
                )(trainable, x)
                return loss, grads, ntv

            jitted = jax.jit(step)

            def train():
                out = jitted(state["trainable"], state["non_trainable"],
                             xs_arg)
                jax.block_until_ready(out)
                state["non_trainable"] = out[2]
                return out[0]

        def forward(trainable, non_trainable, x):
            return model.stateless_call(
                trainable, non_trainable, x, training=False
            )[0]

        jitted_infer = jax.jit(forward)

        def infer():
            out = jitted_infer(state["trainable"], state["non_trainable"],
                               xs_arg)
            return jax.block_until_ready(out)

        self.train = train
        self.infer = infer


def _projected_sum(outputs, projections):
    # Quadratic, not linear, in the outputs: d/d(out) = out * P keeps the
    # forward pass of a linear layer in the gradient's graph.
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    total = 0.0
    for out, proj in zip(outputs, projections):
        out = keras.ops.cast(out, "float32")
        total = total + 0.5 * keras.ops.sum(keras.ops.square(out) * proj)
    return total
