#!/usr/bin/env bash
# One call on a lent GPU machine (JAX, no TensorFlow, no network): the paired
# Fashion-MNIST study (`resvariants study`, issue "evidence") for at most
# STUDY_S seconds, then the GPU benchmark (`python -m
# keras_resvariants.bench.gpu`, issue "speed") for at most BENCH_S seconds,
# packed into $OUT in at most 8 files, whatever finished.
#
# A session gets 15 minutes of device time, the machine's start included,
# and one command runs at most 600 s, so the defaults (400 + 130 s, plus
# installing and packing) fit one call with no second try. On this machine
# first (the whole tree that travels must stay under 64 MiB, and the
# published weights alone are 41 MB, none of which the call needs):
#
#     bash tools/gpu_carry.sh                  # .whl/: wheels + data
#     SMOKE=1 OUT=/tmp/gpu_out bash tools/gpu_session.sh   # rehearsal, CPU
#     mkdir -p .git/info && echo /saved_models/ >> .git/info/exclude
#     git rm -r -q --cached saved_models      # untracked and ignored: stays
#     # device run: command "bash tools/gpu_session.sh", carry [".whl"],
#     # timeout_s 600
#     git reset -q saved_models
#     sed -i '\#^/saved_models/$#d' .git/info/exclude
#
# Then unpack $OUT/study.tgz in the repository root (result files, the
# regenerated report, every run's log and metrics), check the report and
# commit; $OUT/weights.tgz* (`cat` the parts) holds the selected weights of
# each network's best seed on validation, to publish with
# `python -m keras_resvariants.publishing runs/study/<run> --tag
# fashion_mnist` (the test set is not read to choose them).
#
# Settings (environment): STUDY_S (400), BENCH_S (130), EPOCHS (30),
# SEEDS ("0 1 2"), PARALLEL (9), FAMILIES (all five), BATCH (the recipe's);
# SMOKE=1 runs both at tiny scale (two pairs, one seed, one short epoch on
# a subset, the benchmark's smoke profile) into SMOKE_DIR (runs/gpu_smoke),
# never into results/.
set -uo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
OUT="${OUT:-$root/runs/gpu_out}"
mkdir -p "$OUT"
log="$OUT/session.log"
exec > >(tee -a "$log") 2>&1

STUDY_S="${STUDY_S:-400}"
BENCH_S="${BENCH_S:-130}"
EPOCHS="${EPOCHS:-30}"
SEEDS="${SEEDS:-0 1 2}"
PARALLEL="${PARALLEL:-9}"
FAMILIES="${FAMILIES:-}"
BATCH="${BATCH:-}"
SMOKE="${SMOKE:-0}"
stamp() { echo "[$(date -u +%H:%M:%S) +$SECONDS s] $*"; }

export KERAS_BACKEND=jax
# What the image lacks (Keras, namex, optree), from the carried wheels;
# nothing when this Python already has them (the rehearsal).
if ! python3 -c "import keras, namex, optree" 2>/dev/null; then
    stamp "installing the carried wheels"
    python3 -m pip install --quiet --disable-pip-version-check --no-index \
        --no-deps --target .whl/site .whl/wheels/*.whl || exit 2
    export PYTHONPATH="$root/.whl/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
default_data=/usr/share/datasets/fashion-mnist
data="$root/.whl/fashion-mnist"
[ -d "$data" ] || data="${KERAS_RESVARIANTS_FASHION_MNIST_DIR:-$default_data}"

stamp "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv \
    2>/dev/null || echo "no nvidia-smi"
nproc
python3 -c "import sys, jax, keras; print(sys.version.split()[0], 'jax',
jax.__version__, 'keras', keras.__version__, jax.devices())"

study=(--backend jax --epochs "$EPOCHS" --seeds $SEEDS
       --parallel "$PARALLEL" --data-dir "$data" --stop-after "$STUDY_S")
bench=()
if [ "$SMOKE" = 1 ]; then
    smoke="${SMOKE_DIR:-runs/gpu_smoke}"
    results="$smoke/results"
    report="$smoke/accuracy.md"
    scratch="$smoke/study"
    study=(--backend jax --epochs 1 --seeds 0 --parallel 2
           --families res_se rir --train-subset 256 --test-subset 128
           --steps-per-epoch 2 --data-dir "$data" --stop-after "$STUDY_S")
    bench=(--profile smoke --groups bridge_se --dtypes float32)
else
    results=results/fashion_mnist
    report=docs/accuracy_fashion_mnist.md
    scratch=runs/study
    [ -n "$FAMILIES" ] && study+=(--families $FAMILIES)
    [ -n "$BATCH" ] && study+=(--batch-size "$BATCH")
fi

stamp "study: ${study[*]}"
timeout --signal=TERM --kill-after=15 $((STUDY_S + 45)) \
    python3 -m keras_resvariants.cli study "${study[@]}" \
    --results "$results" --scratch "$scratch" --report "$report"
stamp "study exit $?"

# The result files, the report and each run's small files; then each
# network's run with the best validation accuracy, with its weights.
python3 - "$results" "$scratch" "$OUT/runs.txt" "$OUT/best.txt" <<'EOF'
import glob, os, sys
from keras_resvariants.bench import study
results, scratch, runs_txt, best_txt = sys.argv[1:]
small = []
for run in sorted(glob.glob(os.path.join(scratch, "*", "run_config.json"))):
    folder = os.path.dirname(run)
    small += [p for p in (os.path.join(folder, n) for n in
              ("run_config.json", "metrics.json", "log.csv"))
              if os.path.exists(p)]
best = {}  # among the runs trained here (results/ also holds older ones)
for r in study.load_results(results):
    if not os.path.exists(os.path.join(scratch, r["run_name"], "best.keras")):
        continue
    key = study._network_id(r)
    val = r["selection"]["validation_accuracy"] or 0.0
    if key not in best or val > best[key][0]:
        best[key] = (val, r["run_name"])
weights = [os.path.join(scratch, name, "best.keras")
           for _, name in sorted(best.values(), key=lambda b: b[1])]
with open(runs_txt, "w") as f:
    f.write("\n".join(small) + "\n")
with open(best_txt, "w") as f:
    for path in weights:
        f.write(path + "\n")
        for name in ("run_config.json", "metrics.json", "log.csv"):
            f.write(os.path.join(os.path.dirname(path), name) + "\n")
EOF
logs=$(ls -d "$scratch/logs" 2>/dev/null)
tar czf "$OUT/study.tgz" "$results" "$report" $logs -T "$OUT/runs.txt" \
    2>/dev/null
tar czf "$OUT/weights.tgz" -T "$OUT/best.txt" 2>/dev/null
if [ "$(stat -c %s "$OUT/weights.tgz")" -gt 15000000 ]; then
    split -b 15000000 -d "$OUT/weights.tgz" "$OUT/weights.tgz.part-"
    rm "$OUT/weights.tgz"
fi
rm -f "$OUT/runs.txt" "$OUT/best.txt"
stamp "packed: $(ls "$OUT" | tr '\n' ' ')"

stamp "benchmark"
timeout --signal=TERM --kill-after=20 "$BENCH_S" \
    python3 -m keras_resvariants.bench.gpu --output "$OUT/bench" "${bench[@]}"
stamp "benchmark exit $?"
ls -la "$OUT" "$OUT/bench" 2>/dev/null
