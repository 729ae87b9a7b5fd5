"""Choosing how `train()` spreads work over devices and hosts.

* TensorFlow backend, one host: with more than one device (GPUs, else
  logical CPUs) `tf.distribute.MirroredStrategy` over all of them.
* JAX backend, one host: with more than one device
  `keras.distribution.DataParallel`.
* JAX backend, several hosts (or processes): `keras.distribution.initialize`
  (coordinator address, process count, process id; or the
  `KERAS_DISTRIBUTION_*` environment variables), then `DataParallel` over
  the global devices, each process feeding its own slice of every batch.
  On CPU the cross-process collectives use gloo.
* TensorFlow `MultiWorkerMirroredStrategy` (a multi-worker `TF_CONFIG`)
  fails inside Keras 3's `model.fit` (keras-team/keras#20585) and we do not
  patch Keras internals, so it is refused up front with a message pointing
  to the JAX path.
"""

import contextlib
import dataclasses
import json
import os

import keras

from keras_resvariants import _validation as v

DISTRIBUTIONS = ("auto", "none", "mirrored", "data_parallel")

MULTI_WORKER_MESSAGE = (
    "TensorFlow's MultiWorkerMirroredStrategy does not work with Keras 3's "
    "`model.fit` (keras-team/keras#20585: the first `fit` fails with "
    "'Attempt to convert a value (PerReplica...)'), and keras-resvariants "
    "does not patch Keras internals. For training on several hosts or "
    "processes use the JAX backend: `KERAS_BACKEND=jax resvariants train "
    "... --coordinator HOST:PORT --num-processes N --process-id I` (or "
    "`keras_resvariants.training.train(..., coordinator_address=..., "
    "num_processes=..., process_id=...)`), which uses "
    "`keras.distribution.initialize` and `DataParallel`. To train on this "
    "host only, unset TF_CONFIG."
)


@dataclasses.dataclass
class DistributionPlan:
    """How a run is distributed.

    Attributes:
        kind: `"none"`, `"mirrored"` (TF) or `"data_parallel"` (JAX).
        devices: device names used.
        num_replicas: data-parallel replicas (the global batch is split
            into this many parts).
        process_index, process_count: this process and how many take
            part (JAX multi-process; 0 and 1 otherwise).
        strategy: the `tf.distribute.Strategy`, or `None`.
        distribution: the `keras.distribution.Distribution`, or `None`.
    """

    kind: str
    devices: list
    num_replicas: int
    process_index: int = 0
    process_count: int = 1
    strategy: object = None
    distribution: object = None

    @property
    def is_chief(self):
        return self.process_index == 0

    def scope(self):
        """Context in which to build and compile the model."""
        if self.strategy is not None:
            return self.strategy.scope()
        return contextlib.nullcontext()

    def describe(self):
        return {
            "kind": self.kind,
            "devices": list(self.devices),
            "num_replicas": self.num_replicas,
            "process_index": self.process_index,
            "process_count": self.process_count,
        }


def tf_config_is_multi_worker(environ=None):
    """Whether `TF_CONFIG` describes a cluster of more than one task."""
    raw = (environ if environ is not None else os.environ).get("TF_CONFIG")
    if not raw:
        return False
    try:
        cluster = json.loads(raw).get("cluster", {})
    except (ValueError, AttributeError):
        return False
    tasks = sum(
        len(cluster.get(kind, [])) for kind in ("chief", "worker")
    )
    return tasks > 1


def _configure_logical_cpus_tf(count):
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * count
        )
    except RuntimeError as error:
        existing = len(tf.config.list_logical_devices("CPU"))
        if existing != count:
            raise ValueError(
                f"`logical_cpus={count}` must be set before TensorFlow "
                f"initialises its devices (it already has {existing} CPU "
                "device(s)); call `train` first thing in a fresh process."
            ) from error


def _setup_tensorflow(distribution, logical_cpus, multi_process):
    if multi_process or tf_config_is_multi_worker():
        raise NotImplementedError(MULTI_WORKER_MESSAGE)
    if distribution == "data_parallel":
        raise ValueError(
            "`distribution='data_parallel'` needs the JAX backend; on "
            "TensorFlow use 'auto', 'none' or 'mirrored'. Received: "
            "distribution='data_parallel'"
        )
    import tensorflow as tf

    if logical_cpus:
        _configure_logical_cpus_tf(logical_cpus)
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices(
        "CPU"))]
    if distribution == "mirrored" or (
        distribution == "auto" and len(devices) > 1
    ):
        strategy = tf.distribute.MirroredStrategy(devices)
        return DistributionPlan(
            kind="mirrored",
            devices=devices,
            num_replicas=strategy.num_replicas_in_sync,
            strategy=strategy,
        )
    return DistributionPlan(kind="none", devices=devices[:1], num_replicas=1)


def _setup_jax(distribution, logical_cpus, coordinator_address,
               num_processes, process_id):
    if distribution == "mirrored":
        raise ValueError(
            "`distribution='mirrored'` needs the TensorFlow backend; on JAX "
            "use 'auto', 'none' or 'data_parallel'. Received: "
            "distribution='mirrored'"
        )
    if logical_cpus:
        flag = f"--xla_force_host_platform_device_count={logical_cpus}"
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_force_host_platform_device_count" not in flags:
            os.environ["XLA_FLAGS"] = (flags + " " + flag).strip()
    multi = bool(coordinator_address) or (num_processes or 1) > 1
    import jax

    if multi:
        # CPU processes need gloo for cross-process collectives; the flag is
        # ignored by GPU/TPU backends.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        keras.distribution.initialize(
            job_addresses=coordinator_address,
            num_processes=num_processes,
            process_id=process_id,
        )
    devices = keras.distribution.list_devices()
    if logical_cpus and jax.process_count() == 1 and (
        len(devices) != logical_cpus
    ):
        raise ValueError(
            f"`logical_cpus={logical_cpus}` must be set before JAX "
            f"initialises its devices (it has {len(devices)}); set "
            f"XLA_FLAGS=--xla_force_host_platform_device_count="
            f"{logical_cpus} before starting Python."
        )
    if distribution == "data_parallel" or jax.process_count() > 1 or (
        distribution == "auto" and len(devices) > 1
    ):
        dist = keras.distribution.DataParallel(
            devices=devices, auto_shard_dataset=False
        )
        keras.distribution.set_distribution(dist)
        return DistributionPlan(
            kind="data_parallel",
            devices=[str(d) for d in devices],
            num_replicas=len(devices),
            process_index=jax.process_index(),
            process_count=jax.process_count(),
            distribution=dist,
        )
    return DistributionPlan(
        kind="none", devices=[str(d) for d in devices[:1]], num_replicas=1
    )


def setup_distribution(distribution="auto", *, logical_cpus=None,
                       coordinator_address=None, num_processes=None,
                       process_id=None):
    """Chooses and activates the distribution of a training run.

    Args:
        distribution: `"auto"` (data parallel when more than one device or
            process is present), `"none"` (first device only),
            `"mirrored"` (TF `MirroredStrategy`) or `"data_parallel"` (JAX
            `keras.distribution.DataParallel`).
        logical_cpus: optional int. Split the CPU into this many logical
            devices (for testing distribution on one CPU). Must come before
            the backend initialises its devices.
        coordinator_address: `"host:port"` of process 0 for JAX
            multi-process training (`keras.distribution.initialize`'s
            `job_addresses`); also read from
            `KERAS_DISTRIBUTION_JOB_ADDRESSES`.
        num_processes: number of processes (JAX multi-process).
        process_id: this process's id in `[0, num_processes)`.

    Returns:
        A `DistributionPlan`.

    Raises:
        NotImplementedError: multi-worker training on TensorFlow (see
            `MULTI_WORKER_MESSAGE`).

    Example:

    >>> plan = setup_distribution("auto")
    >>> with plan.scope():
    ...     model = keras_resvariants.create_model(
    ...         "resnet_20", input_shape=(32, 32, 3), classes=10)
    """
    v.check_choice("distribution", distribution, DISTRIBUTIONS)
    if logical_cpus is not None:
        logical_cpus = v.check_positive_int("logical_cpus", logical_cpus)
    coordinator_address = coordinator_address or os.environ.get(
        "KERAS_DISTRIBUTION_JOB_ADDRESSES"
    )
    if num_processes is None and os.environ.get(
        "KERAS_DISTRIBUTION_NUM_PROCESSES"
    ):
        num_processes = int(os.environ["KERAS_DISTRIBUTION_NUM_PROCESSES"])
    if process_id is None and os.environ.get(
        "KERAS_DISTRIBUTION_PROCESS_ID"
    ):
        process_id = int(os.environ["KERAS_DISTRIBUTION_PROCESS_ID"])
    if num_processes is not None:
        num_processes = v.check_positive_int("num_processes", num_processes)
    if process_id is not None:
        process_id = v.check_int("process_id", process_id, minimum=0,
                                 maximum=(num_processes or 1) - 1)
    multi = bool(coordinator_address) or (num_processes or 1) > 1
    if multi and (not coordinator_address or num_processes is None
                  or process_id is None):
        raise ValueError(
            "Multi-process training needs `coordinator_address`, "
            "`num_processes` and `process_id` together. Received: "
            f"coordinator_address={coordinator_address!r}, "
            f"num_processes={num_processes!r}, process_id={process_id!r}"
        )
    if multi and distribution == "none":
        raise ValueError(
            "`distribution='none'` cannot be combined with multi-process "
            "training. Received: distribution='none', "
            f"num_processes={num_processes}"
        )
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _setup_tensorflow(distribution, logical_cpus, multi)
    if backend == "jax":
        return _setup_jax(distribution, logical_cpus, coordinator_address,
                          num_processes, process_id)
    if distribution in ("mirrored", "data_parallel") or multi:
        raise ValueError(
            f"Distributed training is supported on the TensorFlow and JAX "
            f"backends. Received: distribution={distribution!r} on the "
            f"{backend!r} backend"
        )
    return DistributionPlan(kind="none", devices=["default"], num_replicas=1)
