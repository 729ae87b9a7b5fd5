"""`resvariants serve` as a real uvicorn process on a loopback port."""

import concurrent.futures
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.serving.serving_helpers import free_port
from tests.serving.serving_helpers import http
from tests.serving.serving_helpers import mixed_batches

pytestmark = pytest.mark.tf_only

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
STARTUP_TIMEOUT = 240  # seconds; importing TensorFlow on a busy 2-core box


@pytest.fixture(scope="module")
def server_url(model_base_path, tmp_path_factory):
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve") / "server.log"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (REPO_ROOT, env.get("PYTHONPATH")) if p)
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "keras_resvariants.cli", "serve",
             "--model-base-path", model_base_path, "--model-name", "tiny",
             "--port", str(port), "--workers", "4"],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode}:\n"
                            + log_path.read_text()[-3000:])
            try:
                if http("GET", f"{url}/v1/models/tiny", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("server did not answer within "
                            f"{STARTUP_TIMEOUT} s:\n"
                            + log_path.read_text()[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def signatures(model_base_path):
    import tensorflow as tf

    return {n: tf.saved_model.load(os.path.join(model_base_path, str(n)))
            .signatures["serving_default"] for n in (1, 2)}


def test_status_and_metadata(server_url):
    status, body = http("GET", f"{server_url}/v1/models/tiny")
    assert status == 200
    assert [s["version"] for s in body["model_version_status"]] == ["2", "1"]
    status, body = http("GET", f"{server_url}/v1/models/tiny/metadata")
    assert status == 200
    assert body["model_spec"]["version"] == "2"


def test_predict_and_keep_serving_after_errors(server_url, images,
                                               signatures):
    url = f"{server_url}/v1/models/tiny:predict"
    first = float(images.flat[0]) + 0.5
    assert http("POST", url, {"instances": (images + 0.5).tolist()}) == (
        400, {"error": "Failed to process element: 0 of 'instances' list. "
                       f"Error: JSON Value: {first} Type: Number is not of "
                       "expected type: uint8"})
    assert http("POST", url, {"inputs": images[:, :4].tolist()})[0] == 400
    status, body = http("POST", url, {"instances": images.tolist()})
    assert status == 200
    expected = signatures[2](image=images)
    np.testing.assert_allclose(
        [p["probabilities"] for p in body["predictions"]],
        expected["probabilities"].numpy(), rtol=0, atol=1e-6)
    assert [p["class_id"] for p in body["predictions"]] == \
        expected["class_id"].numpy().tolist()


def test_concurrent_requests(server_url, images, signatures):
    """500 requests from 16 client threads: every one answered 200 with
    its own correct result (row and columnar, both versions, batches of
    1 to 3 images)."""
    cases = []
    for i, (version, rows) in enumerate(mixed_batches()):
        batch = images[rows]
        row = i % 4 < 2
        path = (f"/v1/models/tiny/versions/{version}:predict" if i % 3
                else "/v1/models/tiny:predict")
        if not i % 3:
            version = 2  # the default version
        out = signatures[version](image=batch)
        cases.append((f"{server_url}{path}",
                      {"instances" if row else "inputs": batch.tolist()},
                      row, out["probabilities"].numpy(),
                      out["class_id"].numpy().tolist()))

    def check(n):
        url, payload, row, probabilities, class_id = cases[n % len(cases)]
        status, body = http("POST", url, payload)
        if status != 200:
            return f"request {n}: HTTP {status} {body}"
        if row:
            got_p = [p["probabilities"] for p in body["predictions"]]
            got_c = [p["class_id"] for p in body["predictions"]]
        else:
            got_p = body["outputs"]["probabilities"]
            got_c = body["outputs"]["class_id"]
        if got_c != class_id or not np.allclose(got_p, probabilities,
                                                rtol=0, atol=1e-6):
            return f"request {n}: wrong answer {body}"
        return None

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        problems = [p for p in pool.map(check, range(500)) if p]
    assert problems == []
