#!/usr/bin/env bash
# Fills .whl/ (ignored by git) with what tools/gpu_session.sh needs on the
# GPU machine and cannot fetch there: the wheels of Keras and of its two
# dependencies that machine's image lacks (namex, optree; built for its
# Python 3.12 on x86_64 Linux), and the four Fashion-MNIST IDX files.
# Run it here, on a machine that reaches PyPI; then `carry` .whl:
#
#     bash tools/gpu_carry.sh
#     # device run: command "bash tools/gpu_session.sh", carry [".whl"]
#
# Usage: tools/gpu_carry.sh [PYTHON_VERSION]   (default 3.12)
set -euo pipefail
cd "$(dirname "$0")/.."
python_version="${1:-3.12}"
abi="cp${python_version/./}"
default_data=/usr/share/datasets/fashion-mnist
data="${KERAS_RESVARIANTS_FASHION_MNIST_DIR:-$default_data}"
keras_version="$(python3 -c 'import keras; print(keras.__version__)')"

rm -rf .whl
mkdir -p .whl/wheels .whl/fashion-mnist
python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: --python-version "$python_version" \
    --implementation cp --abi "$abi" --abi abi3 --abi none \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 --platform any \
    -d .whl/wheels "keras==$keras_version" namex optree
for name in train-images-idx3-ubyte train-labels-idx1-ubyte \
            t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [ ! -f "$data/$name.gz" ]; then
        echo "gpu_carry.sh: $data/$name.gz is missing (set" \
             "KERAS_RESVARIANTS_FASHION_MNIST_DIR or install Debian's" \
             "dataset-fashion-mnist)" >&2
        exit 2
    fi
    cp "$data/$name.gz" .whl/fashion-mnist/
done
echo "keras $keras_version for Python $python_version:"
ls -1 .whl/wheels
du -sh .whl
