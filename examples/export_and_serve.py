"""Export a model for TF Serving, serve it, and query it over HTTP.

1. Builds a Fashion-MNIST classifier: published pretrained weights if any
   are installed (`keras_resvariants.list_weights()`), else a freshly built
   ResNet-20 (random weights: the round trip is the point, not accuracy).
2. Exports it with `export_saved_model` to `OUTPUT/NAME/1/` (TF Serving's
   layout; preprocessing inside the `serving_default` graph).
3. Starts `resvariants serve` as a subprocess on a free loopback port.
4. Queries status, metadata and `:predict` (row and columnar) with plain
   `urllib`, and checks the answers against `model.predict`.
5. With `--bench`, sends `--requests` requests from `--concurrency`
   client threads and reports requests/s and p50/p90/p99 latency.

Offline; on 2 CPU cores about a minute (plus the benchmark):

    python examples/export_and_serve.py
    python examples/export_and_serve.py --bench --requests 1000 \\
        --concurrency 16 --batch 1

The same client code works against `tensorflow_model_server
--rest_api_port=PORT --model_name=NAME --model_base_path=OUTPUT/NAME`.
"""

import argparse
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import numpy as np

import keras_resvariants as kr
from keras_resvariants import data
from keras_resvariants.preprocessing import get_preprocessing
from keras_resvariants.serving import export_saved_model


def build_model():
    """`(model, preprocessing, description)`: pretrained if available."""
    for name in kr.list_weights():
        record = kr.weights_info(name)
        if record.dataset == "fashion_mnist":
            model = kr.create_model(record.arch, weights=record.tag)
            return model, record.preprocessing, (
                f"pretrained {name} (test accuracy "
                f"{record.test_accuracy})")
    model = kr.ResNet20(input_shape=(28, 28, 1), classes=10)
    return model, get_preprocessing("fashion_mnist"), (
        "freshly built resnet_20 (random weights; no published Fashion-MNIST "
        "weights installed)")


def test_images(shape, count=256):
    """`(images, labels)`: the first Fashion-MNIST test images if the local
    IDX files are there and fit, else random pixels (labels `None`)."""
    if tuple(shape) == (28, 28, 1):
        try:
            _, (x_test, y_test) = data.load_fashion_mnist()
            return np.asarray(x_test[:count]), np.asarray(y_test[:count])
        except FileNotFoundError:
            pass
    rng = np.random.default_rng(0)
    shape = (count,) + tuple(shape)
    return rng.integers(0, 256, shape).astype("uint8"), None


def http(method, url, payload=None, timeout=120):
    """`(status, JSON body)`; HTTP error statuses are answers too."""
    body = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        url, data=body, method=method,
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_base_path, name, port, workers):
    command = [sys.executable, "-m", "keras_resvariants.cli", "serve",
               "--model-base-path", model_base_path, "--model-name", name,
               "--port", str(port)]
    if workers:
        command += ["--workers", str(workers)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if http("GET", f"{url}/v1/models/{name}", timeout=5)[0] == 200:
                return process, url
        except OSError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError("server did not start within 300 s")


def bench(url, images, expected_ids, *, requests, concurrency, batch):
    """Sends `requests` row-format requests of `batch` images from
    `concurrency` threads (one connection per request, as urllib does)."""
    n = len(images)

    def one(i):
        start = (i * batch) % n
        idx = [(start + j) % n for j in range(batch)]
        t0 = time.perf_counter()
        status, body = http("POST", url, {"instances": images[idx].tolist()})
        latency = time.perf_counter() - t0
        ok = status == 200 and [p["class_id"] for p in body[
            "predictions"]] == [int(expected_ids[k]) for k in idx]
        return latency, ok

    # Warm up every worker thread of the server before timing.
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(2 * concurrency)))
        t0 = time.perf_counter()
        results = list(pool.map(one, range(requests)))
        wall = time.perf_counter() - t0
    latencies = np.array([r[0] for r in results]) * 1000
    errors = sum(not r[1] for r in results)
    return {
        "requests": requests, "concurrency": concurrency, "batch": batch,
        "errors_or_wrong": errors, "wall_s": round(wall, 2),
        "requests_per_s": round(requests / wall, 1),
        "images_per_s": round(requests * batch / wall, 1),
        "latency_ms": {q: round(float(np.percentile(latencies, p)), 1)
                       for q, p in (("p50", 50), ("p90", 90), ("p99", 99),
                                    ("max", 100))},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", help="export directory (default: a "
                                         "temporary one)")
    parser.add_argument("--port", type=int, default=0,
                        help="server port (default: a free one)")
    parser.add_argument("--workers", type=int,
                        help="server threads (default: its own)")
    parser.add_argument("--bench", action="store_true")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args(argv)

    model, prep, what = build_model()
    print(f"model: {what}")
    output = args.output or tempfile.mkdtemp(prefix="resvariants-export-")
    path = export_saved_model(model, output, preprocessing=prep)
    name = model.name
    base = os.path.dirname(path)
    print(f"exported to {path}")

    images, labels = test_images(model.inputs[0].shape[1:])
    expected = np.asarray(model.predict(prep.numpy(images), verbose=0))
    process, url = start_server(base, name, args.port or free_port(),
                                args.workers)
    try:
        status, body = http("GET", f"{url}/v1/models/{name}")
        print(f"GET /v1/models/{name} -> {status} {json.dumps(body)}")
        status, body = http("GET", f"{url}/v1/models/{name}/metadata")
        signatures = body["metadata"]["signature_def"]["signature_def"]
        for sig_name in ("serving_default", "serving_float"):
            sig = signatures[sig_name]
            inputs = {k: (i["dtype"], [int(d["size"]) for d in
                                       i["tensor_shape"]["dim"]])
                      for k, i in sig["inputs"].items()}
            print(f"  {sig_name}: inputs {inputs}, outputs "
                  f"{sorted(sig['outputs'])}")

        predict = f"{url}/v1/models/{name}:predict"
        x = images[:8]
        status, body = http("POST", predict, {"instances": x.tolist()})
        rows = body["predictions"]
        probabilities = np.array([r["probabilities"] for r in rows])
        diff = np.abs(probabilities - expected[:8]).max()
        same = [r["class_id"] for r in rows] == expected[:8].argmax(
            -1).tolist()
        print(f"row predict -> {status}; max |server - model.predict| = "
              f"{diff:.2e}; class ids equal: {same}")
        status, body = http("POST", predict, {"inputs": x.tolist()})
        diff_col = np.abs(np.array(body["outputs"]["probabilities"])
                          - expected[:8]).max()
        print(f"columnar predict -> {status}; max diff {diff_col:.2e}")
        if labels is not None:
            status, body = http("POST", predict, {"inputs": images.tolist()})
            served = np.array(body["outputs"]["class_id"])
            print(f"served accuracy on the first {len(images)} Fashion-MNIST "
                  f"test images: {np.mean(served == labels):.4f}")
        status, body = http("POST", predict, {"instances": (x / 2).tolist()})
        print(f"float pixels -> {status} {body['error']}")
        if diff > 1e-5 or not same:
            raise SystemExit("the server's answers differ from the model's")

        if args.bench:
            result = bench(predict, images, expected.argmax(-1),
                           requests=args.requests,
                           concurrency=args.concurrency, batch=args.batch)
            print("bench: " + json.dumps(result))
    finally:
        process.terminate()
        process.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
