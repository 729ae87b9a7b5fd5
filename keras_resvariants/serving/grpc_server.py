"""TensorFlow Serving's gRPC API over the REST server's loaded versions.

`GrpcServer(model_server, host=..., port=8500)` answers
`tensorflow.serving.PredictionService.Predict`,
`PredictionService.GetModelMetadata` and `ModelService.GetModelStatus`
with the messages of the official `tensorflow-serving-api` package, so TF
Serving's own client (`prediction_service_pb2_grpc.PredictionServiceStub`)
works unchanged. `create_app(..., grpc_port=...)` (what `resvariants serve
--grpc-port` runs) builds one beside the REST app, on the same
`ModelServer` and thread pool.

What it follows from TF Serving (`model_servers/server_core.cc`,
`servables/tensorflow/predict_util.cc`, `get_model_metadata_impl.cc`,
`model_servers/get_model_status_impl.cc`):

* `model_spec`: `name`, `version` or `version_label`, `signature_name`
  (empty: `serving_default`); the response's `model_spec` names the
  version and signature that answered.
* Inputs are `TensorProto`s with typed values (`float_val`, `int_val`,
  ...; fewer values than elements repeat the last one) or
  `tensor_content`. `output_filter` picks outputs.
* Outputs are written as typed values, TF Serving's default, or with
  `tensor_content=True` (its `--enable_serialization_as_tensor_content`)
  as `tf.make_tensor_proto` writes them: `tensor_content` bytes for
  numbers.
* GetModelMetadata answers a `SignatureDefMap` packed in an `Any` under
  `"signature_def"`; GetModelStatus every served version, highest first.
* Status codes: NOT_FOUND for an unknown model or version,
  INVALID_ARGUMENT for bad requests and labels, FAILED_PRECONDITION for an
  unknown signature, UNIMPLEMENTED for Classify, Regress and
  MultiInference; details are cut at 1024 characters as TF Serving cuts
  them.

An error that both APIs can meet (unknown model, version, label or
signature, a missing input, a wrong shape, ...) is raised by the code the
REST API uses, so it has the same message there and here. Inputs are
checked against the signature before the model runs: a tensor of the wrong
dtype or shape gets an INVALID_ARGUMENT that names what was expected,
where TF Serving passes it to TensorFlow and answers with the graph's
error.
"""

import concurrent.futures
import functools
import os
import types

import numpy as np

from keras_resvariants import _validation as v
from keras_resvariants.serving import server as server_lib
from keras_resvariants.serving import tensors as t
from keras_resvariants.serving.tensors import ServingError

INSTALL_HINT = "pip install grpcio tensorflow-serving-api"
# TF Serving accepts and sends messages up to 2 GiB (server.cc) and cuts
# error details at 1024 characters (grpc_status_util.cc).
MAX_MESSAGE_BYTES = 2**31 - 1
MAX_DETAILS = 1024
SIGNATURE_DEF_FIELD = "signature_def"

# The TensorProto field TF's `Tensor::AsProtoField` writes each dtype to.
_VALUE_FIELDS = {
    "float32": "float_val", "float64": "double_val", "int32": "int_val",
    "int16": "int_val", "int8": "int_val", "uint8": "int_val",
    "uint16": "int_val", "int64": "int64_val", "uint32": "uint32_val",
    "uint64": "uint64_val", "bool": "bool_val", "float16": "half_val",
    "bfloat16": "half_val", "string": "string_val",
}


def import_grpc():
    """The gRPC modules as a namespace (`grpc`, `predict_pb2`, ...).

    Raises:
        ImportError: with one line naming the packages to install, when
            `grpcio` or `tensorflow-serving-api` is missing.
    """
    try:
        import grpc
        from tensorflow_serving.apis import get_model_metadata_pb2
        from tensorflow_serving.apis import get_model_status_pb2
        from tensorflow_serving.apis import model_service_pb2_grpc
        from tensorflow_serving.apis import predict_pb2
        from tensorflow_serving.apis import prediction_service_pb2_grpc
    except ImportError as e:
        raise ImportError(
            "the gRPC API needs the packages grpcio and "
            f"tensorflow-serving-api ({e}); install them with: "
            f"{INSTALL_HINT}"
        ) from None
    return types.SimpleNamespace(
        grpc=grpc, predict_pb2=predict_pb2,
        get_model_metadata_pb2=get_model_metadata_pb2,
        get_model_status_pb2=get_model_status_pb2,
        prediction_service_pb2_grpc=prediction_service_pb2_grpc,
        model_service_pb2_grpc=model_service_pb2_grpc)


class GrpcServer:
    """TF Serving's gRPC API over a `ModelServer`'s loaded versions.

    The port is bound when the object is made; `start()` begins serving
    and `stop()` ends it.

    Args:
        model_server: the `server.ModelServer` whose versions to serve
            (`create_app(...).state.server` shares the REST app's).
        host: str. Interface to bind. Defaults to `"127.0.0.1"` (loopback
            only).
        port: int. TCP port; `0` picks a free one (see `port`). Defaults
            to `8500`, TF Serving's.
        pool: optional `concurrent.futures.ThreadPoolExecutor` that runs
            the RPCs (the REST app's, so both APIs share one bound).
            Defaults to a pool of its own with `max_workers` threads.
        max_workers: threads of the own pool. Defaults to
            `min(8, cpu count + 2)`.
        tensor_content: write outputs as `tensor_content` bytes instead
            of typed value fields. Defaults to `False` (TF Serving's
            default).

    Raises:
        ImportError: `grpcio` or `tensorflow-serving-api` is missing.
        ValueError: a bad `port` or `max_workers`, or a port that cannot
            be bound.
    """

    def __init__(self, model_server, *, host="127.0.0.1", port=8500,
                 pool=None, max_workers=None, tensor_content=False):
        api = import_grpc()
        port = v.check_int("port", port, minimum=0, maximum=65535)
        if not isinstance(host, str) or not host:
            raise ValueError(
                "`host` must be an interface address such as '127.0.0.1'. "
                f"Received: host={host!r}"
            )
        self._own_pool = pool is None
        if pool is None:
            if max_workers is None:
                max_workers = min(8, (os.cpu_count() or 1) + 2)
            pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=v.check_positive_int("max_workers",
                                                 max_workers),
                thread_name_prefix="resvariants-grpc")
        self.pool = pool
        self.host = host
        self.api = _Api(model_server, api, bool(tensor_content))
        self.server = api.grpc.server(pool, options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            # Without this a second server could bind a port in use.
            ("grpc.so_reuseport", 0),
        ])
        # tensorflow.serving.PredictionService and ModelService, every
        # method of each (those not served answer UNIMPLEMENTED).
        predictions = api.prediction_service_pb2_grpc
        predictions.add_PredictionServiceServicer_to_server(_servicer(
            self.api, {
                "Predict": self.api.predict,
                "GetModelMetadata": self.api.get_model_metadata,
                "Classify": _refuse("classify"),
                "Regress": _refuse("regress"),
                "MultiInference": _refuse("multi_inference"),
            }), self.server)
        api.model_service_pb2_grpc.add_ModelServiceServicer_to_server(
            _servicer(self.api, {
                "GetModelStatus": self.api.get_model_status,
                "HandleReloadConfigRequest": _refuse(
                    "handle_reload_config_request"),
            }), self.server)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            self.port = self.server.add_insecure_port(address)
        except RuntimeError:
            self.port = 0
        if not self.port:
            self.close_pool()
            raise ValueError(
                f"The gRPC server cannot bind {address} (the port is in "
                "use, or the host is not an address of this machine). "
                f"Received: port={port}, host={host!r}"
            )

    @property
    def address(self):
        """`host:port` as a client dials it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def start(self):
        self.server.start()
        return self

    def stop(self, grace=None):
        """Stops serving; in-flight RPCs get `grace` seconds to finish."""
        self.server.stop(grace).wait()
        self.close_pool()

    def close_pool(self):
        if self._own_pool:
            self.pool.shutdown(wait=False, cancel_futures=True)


class _Api:
    """The three RPCs as `request -> response`, raising `ServingError`."""

    def __init__(self, model_server, modules, tensor_content):
        self.model_server = model_server
        self.modules = modules
        self.tensor_content = tensor_content
        self._metadata = {}  # version -> packed SignatureDefMap

    def answer(self, method, request, context):
        """Runs `method(request)`; an error becomes the RPC's status."""
        try:
            return method(request)
        except ServingError as e:
            code, details = e.code, e.message
        except Exception as e:  # noqa: BLE001  (a server must answer)
            code, details = "INTERNAL", f"{type(e).__name__}: {e}"
        if len(details) > MAX_DETAILS:
            details = details[:MAX_DETAILS] + "...TRUNCATED"
        context.abort(self.modules.grpc.StatusCode[code], details)

    def servable(self, request):
        spec, version, label = _model_spec(request)
        if not spec.name:
            raise ServingError("ModelSpec has no name specified.")
        return self.model_server.servable(spec.name, version, label)

    def predict(self, request):
        served = self.servable(request)
        signature = self.model_server.signature(
            served, request.model_spec.signature_name)
        arrays = {}
        for name, spec in signature.inputs.items():
            proto = server_lib.named_input(request.inputs, name)
            arrays[name] = tensor_proto_to_array(proto, name)
            t.check_dtype(tensor_type_name(proto), spec, signature.name)
            t.check_shape(arrays[name], spec, signature.name)
        _check_no_extra_inputs(request.inputs, signature)
        names = _output_names(request.output_filter, signature)
        server_lib.check_batch_sizes(arrays)
        outputs = server_lib.run_signature(signature, arrays)
        response = self.modules.predict_pb2.PredictResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = served.version
        response.model_spec.signature_name = signature.name
        for name in names:
            response.outputs[name].CopyFrom(
                array_to_tensor_proto(outputs[name], self.tensor_content))
        return response

    def get_model_metadata(self, request):
        _model_spec(request)
        fields = list(request.metadata_field)
        if not fields:
            raise ServingError("GetModelMetadataRequest must specify at "
                               "least one metadata_field")
        for field in fields:
            if field != SIGNATURE_DEF_FIELD:
                raise ServingError(f"Metadata field {field} is not "
                                   "supported")
        served = self.servable(request)
        pb2 = self.modules.get_model_metadata_pb2
        response = pb2.GetModelMetadataResponse()
        response.model_spec.name = self.model_server.model_name
        response.model_spec.version.value = served.version
        response.metadata[SIGNATURE_DEF_FIELD].CopyFrom(
            self._signature_defs(served))
        return response

    def _signature_defs(self, served):
        packed = self._metadata.get(served.version)
        if packed is None:
            from google.protobuf import any_pb2

            pb2 = self.modules.get_model_metadata_pb2
            signature_def_map = pb2.SignatureDefMap()
            for key, signature_def in served.signature_defs.items():
                signature_def_map.signature_def[key].CopyFrom(signature_def)
            packed = any_pb2.Any()
            packed.Pack(signature_def_map)
            self._metadata[served.version] = packed
        return packed

    def get_model_status(self, request):
        spec, version, label = _model_spec(request)
        numbers = self.model_server.version_numbers(spec.name, version,
                                                    label)
        pb2 = self.modules.get_model_status_pb2
        response = pb2.GetModelStatusResponse()
        for number in numbers:
            status = response.model_version_status.add()
            status.version = number
            status.state = pb2.ModelVersionStatus.AVAILABLE
            # status.error_code is OK (0) and error_message empty.
            status.status.SetInParent()
        return response


def _servicer(api, methods):
    """A servicer for a generated `add_*Servicer_to_server`: one gRPC
    method (`(request, context) -> response`) per name."""
    return types.SimpleNamespace(**{
        name: functools.partial(api.answer, method)
        for name, method in methods.items()})


def _refuse(verb):
    def method(request):
        raise server_lib.unimplemented(verb)

    return method


def _model_spec(request):
    """`(model_spec, version or None, label or None)` of a request."""
    if not request.HasField("model_spec"):
        raise ServingError("Missing ModelSpec")
    spec = request.model_spec
    choice = spec.WhichOneof("version_choice")
    version = spec.version.value if choice == "version" else None
    label = spec.version_label if choice == "version_label" else None
    return spec, version, label


def _check_no_extra_inputs(inputs, signature):
    extra = sorted(set(inputs) - set(signature.inputs))
    if extra:
        # TF Serving's VerifyRequestInputsSize message.
        sent = sorted(inputs)
        expected = sorted(signature.inputs)
        raise ServingError(
            f"input size does not match signature: {len(sent)}!="
            f"{len(expected)} len({{{','.join(sent)}}}) != "
            f"len({{{','.join(expected)}}}). Sent extra: "
            f"{{{','.join(extra)}}}. Missing but required: {{}}.")


def _output_names(output_filter, signature):
    """The outputs to answer with (TF Serving's output_filter checks)."""
    names = []
    for name in output_filter:
        if name not in signature.output_names:
            raise ServingError(
                f"output tensor alias not found in signature: {name} "
                "Outputs expected to be in the set "
                f"{{{','.join(signature.output_names)}}}.")
        if name in names:
            raise ServingError(f"duplicate output tensor alias: {name}")
        names.append(name)
    return names or list(signature.output_names)


def tensor_type_name(proto):
    """A TensorProto's dtype as TF names it (`"float32"`, `"uint8"`)."""
    import tensorflow as tf

    try:
        return tf.dtypes.as_dtype(proto.dtype).name
    except TypeError:
        return f"DataType({proto.dtype})"


def tensor_proto_to_array(proto, name):
    """A request's TensorProto as a NumPy array (`tf.make_ndarray`, with
    the checks TF's `Tensor::FromProto` makes); `name` is the input's, for
    the error."""
    import tensorflow as tf

    error = ServingError(f"tensor parsing error: {name}")
    shape = proto.tensor_shape
    dims = [d.size for d in shape.dim]
    if shape.unknown_rank or any(d < 0 for d in dims):
        raise error
    try:
        dtype = tf.dtypes.as_dtype(proto.dtype)
        itemsize = (1 if dtype == tf.string
                    else np.dtype(dtype.as_numpy_dtype).itemsize)
    except TypeError:
        raise error from None
    # Typed values may be fewer than the elements (the last one repeats):
    # bound what a small message can make us allocate.
    if np.prod(dims, dtype=np.float64) * itemsize > MAX_MESSAGE_BYTES:
        raise ServingError(
            f"tensor parsing error: {name} (shape {t.shape_text(dims)} "
            f"holds more than {MAX_MESSAGE_BYTES} bytes)")
    try:
        return tf.make_ndarray(proto)
    except (TypeError, ValueError):
        raise error from None


def array_to_tensor_proto(array, tensor_content=False):
    """A NumPy output as a TensorProto: typed value fields (TF's
    `Tensor::AsProtoField`, TF Serving's default), or what
    `tf.make_tensor_proto` writes (`tensor_content` bytes for numbers)."""
    import tensorflow as tf
    from tensorflow.core.framework import tensor_pb2

    array = np.asarray(array)
    if tensor_content:
        return tf.make_tensor_proto(array)
    dtype = tf.string if array.dtype.kind in "OSU" else tf.dtypes.as_dtype(
        array.dtype)
    field = _VALUE_FIELDS.get(dtype.name)
    if field is None:
        raise ServingError(
            f"Failed to write a TensorProto for tensor type: {dtype.name}",
            code="INTERNAL")
    proto = tensor_pb2.TensorProto(
        dtype=dtype.as_datatype_enum,
        tensor_shape=tf.TensorShape(array.shape).as_proto())
    values = array.ravel()
    if field == "string_val":
        proto.string_val.extend(
            item if isinstance(item, bytes) else str(item).encode("utf-8")
            for item in values.tolist())
    elif field == "half_val":
        proto.half_val.extend(values.view(np.uint16).tolist())
    else:
        getattr(proto, field).extend(values.tolist())
    return proto
