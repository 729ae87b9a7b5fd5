"""A TensorFlow-Serving-compatible REST (and gRPC) server for SavedModels.

`create_app(model_base_path, model_name)` serves the versions under
`model_base_path` (`model_base_path/<int version>/saved_model.pb`, the
layout `export_saved_model` writes and `tensorflow_model_server
--model_base_path` reads) with TF Serving's REST API, so a client moves to
`tensorflow_model_server --rest_api_port=8501` by changing only the host:

* `GET /v1/models/NAME[/versions/N | /labels/L]`: version status.
* `GET /v1/models/NAME[/versions/N | /labels/L]/metadata`: signature defs.
* `POST /v1/models/NAME[/versions/N | /labels/L]:predict`: `{"instances":
  ...}` (row format) or `{"inputs": ...}` (columnar), optional
  `"signature_name"` (default `serving_default`); answers
  `{"predictions": ...}` or `{"outputs": ...}` shaped as TF Serving shapes
  them. Without a version the highest one answers.

With `grpc_port`, the same app also serves TF Serving's gRPC API
(`PredictionService.Predict`, `PredictionService.GetModelMetadata`,
`ModelService.GetModelStatus`; see `grpc_server.py`) from the same loaded
versions, started and stopped with the app. TF Serving's own client
(`tensorflow_serving.apis.prediction_service_pb2_grpc
.PredictionServiceStub`) then works unchanged.

Errors are `{"error": "..."}` with TF Serving's status codes (400 invalid
argument or failed precondition, 404 not found, 500 internal, 501
unimplemented); over gRPC the same message comes with the gRPC code TF
Serving uses. Unlike TF Serving, inputs are checked against the signature
(dtype, value range, shape) before the model runs, so a bad request gets a
400 (`INVALID_ARGUMENT`) that names what was expected rather than a
TensorFlow graph error.

Requests of both APIs are parsed, checked and run on one thread pool
(`max_workers`); TensorFlow functions are safe to call concurrently, so
the pool bounds how many requests compute at once while the event loop
(and gRPC's poller) keep accepting connections.
"""

import asyncio
import concurrent.futures
import contextlib
import json
import os
import re

import numpy as np

from keras_resvariants import _validation as v
from keras_resvariants.serving import tensors as t
from keras_resvariants.serving.tensors import ServingError

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
VERSION_POLICIES = ("all", "latest")

# TF Serving's request path grammar (model_servers/http_rest_api_util.cc).
_PREDICT_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
    r":(classify|regress|predict)", re.IGNORECASE)
_STATUS_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
    r"(?:/(metadata))?", re.IGNORECASE)


class Signature:
    """One callable signature of a loaded version."""

    def __init__(self, name, function, signature_def):
        self.name = name
        self.function = function
        self.inputs = {
            key: t.TensorSpec.from_tensor_info(key, info)
            for key, info in sorted(signature_def.inputs.items())
        }
        self.output_names = sorted(signature_def.outputs)


class ServedVersion:
    """A loaded SavedModel version: its signatures and metadata JSON."""

    def __init__(self, version, path):
        import tensorflow as tf
        from google.protobuf import json_format
        from tensorflow.core.protobuf import saved_model_pb2

        self.version = version
        self.path = path
        # The loaded object owns the variables the signatures read; keep it.
        self.loaded = tf.saved_model.load(path, tags=["serve"])
        proto = saved_model_pb2.SavedModel()
        with open(os.path.join(path, "saved_model.pb"), "rb") as f:
            proto.ParseFromString(f.read())
        meta_graph = next(
            (m for m in proto.meta_graphs if "serve" in m.meta_info_def.tags),
            proto.meta_graphs[0])
        # What TF Serving answers GetModelMetadata with: every signature def
        # (including __saved_model_init_op); as JSON, with proto field
        # names and defaults printed.
        self.signature_defs = dict(sorted(meta_graph.signature_def.items()))
        self.signature_defs_json = {
            key: json_format.MessageToDict(
                sig, preserving_proto_field_name=True,
                always_print_fields_with_no_presence=True)
            for key, sig in self.signature_defs.items()
        }
        self.signatures = {
            key: Signature(key, self.loaded.signatures[key],
                           meta_graph.signature_def[key])
            for key in self.loaded.signatures
            if key in meta_graph.signature_def
        }

    def warm_up(self):
        """Runs each signature once on a batch of zeros, so TensorFlow
        instantiates and optimises the functions now rather than in the
        first client's request (what TF Serving's warmup records do)."""
        for signature in self.signatures.values():
            specs = signature.inputs.values()
            if any(s.dtype is None or s.dims is None or any(
                    d < 0 for d in s.dims[1:]) for s in specs):
                continue  # no fully known example shape to feed
            run_signature(signature, {
                s.name: np.zeros((1,) + s.dims[1:], s.dtype) for s in specs})


class ModelServer:
    """The loaded versions and the REST API without the web framework:
    `handle(method, path, body)` returns `(http_status, json_bytes)`.
    `create_app` puts it behind FastAPI (its arguments are documented
    there), `grpc_server.GrpcServer` behind gRPC; other frameworks can
    call it directly. Thread-safe: requests share only read-only state and
    TensorFlow functions."""

    def __init__(self, model_base_path, model_name=None, *,
                 version_policy="all", version_labels=None, warm_up=True):
        import tensorflow as tf  # noqa: F401  (fail early without TF)

        base = os.path.abspath(os.fspath(model_base_path))
        if not os.path.isdir(base):
            raise ValueError(
                "`model_base_path` must be a directory of numbered version "
                "directories (MODEL_BASE_PATH/1/saved_model.pb, ...). "
                f"Received: model_base_path={model_base_path!r}"
            )
        if model_name is None:
            model_name = os.path.basename(base)
        if not isinstance(model_name, str) or not model_name or re.search(
                r"[/:]", model_name):
            raise ValueError(
                "`model_name` must be a non-empty string without '/' or ':'. "
                f"Received: model_name={model_name!r}"
            )
        v.check_choice("version_policy", version_policy, VERSION_POLICIES)
        versions = sorted(
            int(entry) for entry in os.listdir(base)
            if entry.isdigit() and os.path.isfile(
                os.path.join(base, entry, "saved_model.pb"))
        )
        if not versions:
            raise ValueError(
                "`model_base_path` holds no SavedModel versions (numbered "
                "directories with a saved_model.pb, as `resvariants export` "
                f"writes them). Received: model_base_path={model_base_path!r}"
            )
        if version_policy == "latest":
            versions = versions[-1:]
        labels = {}
        for label, number in dict(version_labels or {}).items():
            if number not in versions:
                raise ValueError(
                    "`version_labels` must map labels to served versions "
                    f"{versions}. Received: version_labels={version_labels!r}"
                )
            labels[str(label)] = int(number)
        self.model_name = model_name
        self.model_base_path = base
        self.version_labels = labels
        self.versions = {
            n: ServedVersion(n, os.path.join(base, str(n))) for n in versions
        }
        if warm_up:
            for served in self.versions.values():
                served.warm_up()

    # -- dispatch --------------------------------------------------------

    def handle(self, method, path, body=b""):
        """Answers one request: `(http_status, json_bytes)`."""
        try:
            status, payload = self._dispatch(method.upper(), path, body)
        except ServingError as e:
            status, payload = e.status, {"error": e.message}
        except Exception as e:  # noqa: BLE001  (a server must answer)
            status, payload = 500, {"error": f"{type(e).__name__}: {e}"}
        return status, json.dumps(payload).encode("utf-8")

    def _dispatch(self, method, path, body):
        malformed = ServingError(f"Malformed request: {method} {path}")
        if method == "POST":
            match = _PREDICT_PATH.fullmatch(path)
            if not match:
                raise malformed
            name, version, label, verb = match.groups()
            if verb.lower() != "predict":
                raise unimplemented(verb.lower())
            served = self.servable(name, version, label)
            return 200, self.predict(served, body)
        if method == "GET":
            match = _STATUS_PATH.fullmatch(path)
            if not match:
                raise malformed
            name, version, label, metadata = match.groups()
            if not name:
                raise ServingError("Missing model name in request.")
            if metadata:
                served = self.servable(name, version, label)
                return 200, self.metadata(served)
            return 200, self.status(name, version, label)
        raise malformed

    def _resolve_version(self, version, label):
        if label is not None:
            if label not in self.version_labels:
                raise ServingError(
                    f"Unrecognized servable version label: {label}")
            return self.version_labels[label]
        return None if version is None else int(version)

    # -- what both APIs share --------------------------------------------

    def servable(self, name, version=None, label=None):
        """The `ServedVersion` a predict/metadata request addresses (TF
        Serving's `ServerCore::GetServableHandle` errors). `version` (int
        or digits) and `label` are optional, never both."""
        number = self._resolve_version(version, label)
        if name != self.model_name or (
                number is not None and number not in self.versions):
            request = (f"Latest({name})" if number is None
                       else f"Specific({name}, {number})")
            raise ServingError(
                f"Servable not found for request: {request}",
                code="NOT_FOUND")
        return self.versions[number if number is not None
                             else max(self.versions)]

    def version_numbers(self, name, version=None, label=None):
        """The versions a status request addresses, highest first (TF
        Serving's `GetModelStatusImpl` errors)."""
        number = self._resolve_version(version, label)
        if name != self.model_name and number is None:
            raise ServingError(
                f"Could not find any versions of model {name}",
                code="NOT_FOUND")
        if name != self.model_name or (
                number is not None and number not in self.versions):
            raise ServingError(
                f"Could not find version {number} of model {name}",
                code="NOT_FOUND")
        return [number] if number is not None else sorted(
            self.versions, reverse=True)

    @staticmethod
    def signature(served, signature_name):
        """`served`'s `Signature` called `signature_name` (empty: the
        default one)."""
        signature_name = signature_name or DEFAULT_SIGNATURE
        signature = served.signatures.get(signature_name)
        if signature is None:
            # TF Serving's REST wording; its gRPC API answers the same
            # error with FAILED_PRECONDITION (`predict_util.cc`).
            raise ServingError(
                f'Serving signature name: "{signature_name}" not found in '
                "signature def", code="FAILED_PRECONDITION")
        return signature

    # -- endpoints -------------------------------------------------------

    def status(self, name, version=None, label=None):
        return {"model_version_status": [
            {"version": str(n), "state": "AVAILABLE",
             "status": {"error_code": "OK", "error_message": ""}}
            for n in self.version_numbers(name, version, label)
        ]}

    def metadata(self, served):
        return {
            "model_spec": {"name": self.model_name, "signature_name": "",
                           "version": str(served.version)},
            "metadata": {"signature_def": {
                "signature_def": served.signature_defs_json}},
        }

    def predict(self, served, body):
        request = _parse_body(body)
        signature_name = request.get("signature_name", "")
        if not isinstance(signature_name, str):
            raise ServingError(
                f"JSON Value: {t.echo(request)} not formatted correctly. "
                "'signature_name' key must be a string value.")
        signature = self.signature(served, signature_name)
        has_instances = "instances" in request
        has_inputs = "inputs" in request
        if has_instances and has_inputs:
            raise ServingError(
                f"JSON Value: {t.echo(request)} Not formatted correctly "
                "expecting only one of 'inputs' or 'instances' keys to exist ")
        # TF Serving would silently read JSON booleans as 0/1 in a numeric
        # block were they mixed in; such bodies take the checked path.
        strict = b"true" in body or b"false" in body
        if has_instances:
            arrays = _rows_to_arrays(request, signature, strict)
            row = True
        elif has_inputs:
            arrays = _columns_to_arrays(request["inputs"], signature, strict)
            row = False
        else:
            raise ServingError("Missing 'inputs' or 'instances' key")
        check_batch_sizes(arrays)
        outputs = run_signature(signature, arrays)
        return _format_outputs(outputs, row)


def unimplemented(verb):
    """The error for an API method this server does not implement."""
    return ServingError(
        f"{verb} is not implemented by this server (predict only)",
        code="UNIMPLEMENTED")


def named_input(inputs, name):
    """`inputs[name]` (a request's named inputs), or TF Serving's error."""
    if name not in inputs:
        raise ServingError(
            f"Missing named input: {name} in 'inputs' object.")
    return inputs[name]


def check_batch_sizes(arrays):
    """Raises `ServingError` unless every input has the same batch size."""
    sizes = {a.shape[0] if a.ndim else None for a in arrays.values()}
    if len(sizes) > 1:
        raise ServingError(
            "Input tensors must have equal 0th-dimension size; received "
            + ", ".join(f"{k}: {t.shape_text(a.shape)}"
                        for k, a in arrays.items()))


def _parse_body(body):
    if not body or not body.strip():
        raise ServingError("JSON Parse error: The document is empty")
    try:
        request = json.loads(body)
    except UnicodeDecodeError as e:
        raise ServingError(f"JSON Parse error: {e}") from None
    except json.JSONDecodeError as e:
        raise ServingError(
            f"JSON Parse error: {e.msg} at offset: {e.pos}") from None
    if not isinstance(request, dict):
        raise ServingError(f"JSON Value: {t.echo(request)} Is not object")
    return request


def _rows_to_arrays(request, signature, strict):
    instances = request["instances"]
    if not isinstance(instances, list):
        raise ServingError(
            f"JSON Value: {t.echo(request)} Excepting 'instances' to be an "
            "list/array")
    if not instances:
        raise ServingError(
            f"JSON Value: {t.echo(request)} No values in 'instances' array")
    names = list(signature.inputs)

    def is_object(item):
        return isinstance(item, dict) and set(item) != {"b64"}

    objects = is_object(instances[0])
    if not objects and len(names) > 1:
        raise ServingError(
            "instances is a plain list, but expecting list of objects as "
            "multiple input tensors required as per tensorinfo_map")
    columns = {name: [] for name in names}
    for i, item in enumerate(instances):
        if objects and not is_object(item):
            raise ServingError(
                f"Expecting object but got list at item {i} of input list")
        if not objects and is_object(item):
            raise ServingError(
                f"Expecting value/list but got object at item {i} of input "
                "list")
        if objects:
            if set(item) != set(names):
                raise ServingError(
                    f"Failed to process element: {i} of 'instances' list. "
                    f"JSON object: {t.echo(item)} keys must be equal to: "
                    f"{','.join(sorted(names))}")
            for name in names:
                columns[name].append(item[name])
        else:
            columns[names[0]].append(item)
    arrays = {}
    for name, items in columns.items():
        spec = signature.inputs[name]
        arrays[name] = t.to_array(items, spec, strict=strict, row=True)
        t.check_shape(arrays[name], spec, signature.name, row=True)
    return arrays


def _columns_to_arrays(inputs, signature, strict):
    names = list(signature.inputs)
    if not isinstance(inputs, dict) or set(inputs) == {"b64"}:
        if len(names) > 1:
            raise ServingError(
                "inputs is a plain value/list, but expecting an object as "
                "multiple input tensors required as per tensorinfo_map")
        inputs = {names[0]: inputs}
    arrays = {}
    for name in names:
        value = named_input(inputs, name)
        spec = signature.inputs[name]
        arrays[name] = t.to_array(value, spec, strict=strict)
        t.check_shape(arrays[name], spec, signature.name)
    return arrays


def run_signature(signature, arrays):
    """Calls `signature` on checked NumPy inputs; NumPy outputs by name."""
    import tensorflow as tf

    feeds = {name: tf.constant(a) for name, a in arrays.items()}
    try:
        outputs = signature.function(**feeds)
    except tf.errors.OpError as e:
        raise ServingError(e.message, code=t.code_name(e.error_code)) \
            from None
    return {name: outputs[name].numpy() for name in sorted(outputs)}


def _format_outputs(outputs, row):
    """TF Serving's `MakeJsonFromTensors`: row format -> a list with one
    entry per example (a bare value if there is one output, an object of
    outputs otherwise); columnar -> the bare tensor or an object."""
    if not row:
        encoded = {name: t.encode_output(a, name)
                   for name, a in outputs.items()}
        if len(encoded) == 1:
            return {"outputs": next(iter(encoded.values()))}
        return {"outputs": encoded}
    batch = None
    for name, array in outputs.items():
        if np.ndim(array) == 0:
            raise ServingError(
                f"Tensor name: {name} has no shape information ")
        if batch is not None and array.shape[0] != batch:
            raise ServingError(
                f"Tensor name: {name} has inconsistent batch size: "
                f"{array.shape[0]} expecting: {batch}")
        batch = array.shape[0]
    encoded = {name: t.encode_output(a, name) for name, a in outputs.items()}
    if len(encoded) == 1:
        return {"predictions": next(iter(encoded.values()))}
    return {"predictions": [
        {name: values[i] for name, values in encoded.items()}
        for i in range(batch)
    ]}


def create_app(model_base_path, model_name=None, *, version_policy="all",
               version_labels=None, max_workers=None, warm_up=True,
               grpc_port=None, grpc_host="127.0.0.1",
               grpc_tensor_content=False):
    """A FastAPI app serving `model_base_path` with TF Serving's REST API
    (and, with `grpc_port`, its gRPC API).

    Args:
        model_base_path: directory of numbered SavedModel versions
            (`resvariants export --output DIR` writes `DIR/NAME/`).
        model_name: the `NAME` of `/v1/models/NAME`. Defaults to the last
            component of `model_base_path`.
        version_policy: `"all"` (load every version; requests may name
            any) or `"latest"` (only the highest, TF Serving's default
            policy). Defaults to `"all"`.
        version_labels: optional dict label -> version for
            `/v1/models/NAME/labels/LABEL` URLs (and gRPC's
            `model_spec.version_label`).
        max_workers: threads that parse and run requests, of both APIs
            together. Defaults to `min(8, cpu count + 2)`.
        warm_up: run every signature once on zeros at startup, so the
            first request does not pay TensorFlow's function setup.
            Defaults to `True`.
        grpc_port: optional int. Also serve TF Serving's gRPC API on this
            port (`0`: any free one; `app.state.grpc_server.port` says
            which), from the same versions and thread pool. The port is
            bound here; the gRPC server starts and stops with the app's
            lifespan. Needs `grpcio` and `tensorflow-serving-api`.
            Defaults to `None` (REST only).
        grpc_host: the interface gRPC binds. Defaults to `"127.0.0.1"`.
        grpc_tensor_content: answer gRPC predictions with `tensor_content`
            bytes instead of typed value fields (TF Serving's
            `--enable_serialization_as_tensor_content`). Defaults to
            `False`, TF Serving's default.

    Returns:
        A `fastapi.FastAPI` app; `app.state.server` is its `ModelServer`,
        `app.state.pool` the shared thread pool and
        `app.state.grpc_server` the `GrpcServer` (or `None`).
    """
    from fastapi import FastAPI
    from fastapi import Request
    from fastapi import Response

    if grpc_port is not None:
        from keras_resvariants.serving import grpc_server as grpc_lib

        # Before the (slow) loading: a missing package or a bad port
        # fails at once.
        grpc_lib.import_grpc()
        grpc_port = v.check_int("grpc_port", grpc_port, minimum=0,
                                maximum=65535)
    if max_workers is None:
        max_workers = min(8, (os.cpu_count() or 1) + 2)
    max_workers = v.check_positive_int("max_workers", max_workers)
    server = ModelServer(model_base_path, model_name,
                         version_policy=version_policy,
                         version_labels=version_labels, warm_up=warm_up)
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=max_workers, thread_name_prefix="resvariants-serve")
    grpc_server = None
    if grpc_port is not None:
        try:
            grpc_server = grpc_lib.GrpcServer(
                server, host=grpc_host, port=grpc_port, pool=pool,
                tensor_content=grpc_tensor_content)
        except BaseException:
            pool.shutdown(wait=False)
            raise

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if grpc_server is not None:
            grpc_server.start()
        try:
            yield
        finally:
            if grpc_server is not None:
                # In-flight RPCs finish (up to the grace period) before
                # the pool they run on goes away.
                await asyncio.get_running_loop().run_in_executor(
                    None, grpc_server.stop, 5.0)
            pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title=f"keras_resvariants serving: {server.model_name}",
                  docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.server = server
    app.state.pool = pool
    app.state.grpc_server = grpc_server

    # One route for everything under /v1, parsed with TF Serving's own
    # path grammar (model names may not contain ':' while verbs follow one,
    # which a path template cannot say).
    @app.api_route("/{path:path}",
                   methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    async def rest_api(request: Request, path: str):
        url_path = request.url.path
        if not url_path.lower().startswith("/v1/"):
            return Response(
                json.dumps({"error": f"Not found: {url_path}"}),
                status_code=404, media_type="application/json")
        body = await request.body()
        loop = asyncio.get_running_loop()
        status, payload = await loop.run_in_executor(
            pool, server.handle, request.method, url_path, body)
        return Response(payload, status_code=status,
                        media_type="application/json")

    return app
