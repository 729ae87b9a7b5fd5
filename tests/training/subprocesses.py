"""Running training scripts in fresh interpreters (device configuration and
multi-process runs need their own processes), with timeouts and cleanup."""

import os
import socket
import subprocess
import sys
import textwrap

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def script_env(backend, **extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["KERAS_BACKEND"] = backend
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env.pop("TF_CONFIG", None)
    for key in ("XLA_FLAGS", "KERAS_DISTRIBUTION_JOB_ADDRESSES",
                "KERAS_DISTRIBUTION_NUM_PROCESSES",
                "KERAS_DISTRIBUTION_PROCESS_ID"):
        env.pop(key, None)
    env.update(extra)
    return env


def run_script(source, *args, backend, timeout=240, **env):
    """Runs `source` with `args`; returns the `CompletedProcess`."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source), *map(str, args)],
        env=script_env(backend, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )


def run_parallel(commands, *, backend, timeout=240, **env):
    """Starts every `(source, args)` at once and waits for all of them.

    Every process is killed if any fails to finish within `timeout`.
    Returns `[(returncode, stdout, stderr)]`.
    """
    procs = []
    try:
        for source, args in commands:
            procs.append(subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(source),
                 *map(str, args)],
                env=script_env(backend, **env),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=REPO_ROOT,
            ))
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            results.append((proc.returncode, out, err))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def describe(result):
    """Tail of a process's output, for assertion messages."""
    if isinstance(result, tuple):
        code, out, err = result
    else:
        code, out, err = result.returncode, result.stdout, result.stderr
    return f"exit {code}\n--- stdout\n{out[-3000:]}\n--- stderr\n{err[-5000:]}"
