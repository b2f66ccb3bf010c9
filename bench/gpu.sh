#!/usr/bin/env bash
# The GPU checks in one unattended run: rotation throughput (kornia on CUDA), attributions on CUDA,
# AMP training throughput, then the paper profile (five variants at 224, fit, compare) and the
# default model's accuracy on clean pages.  Every step has its own time limit and log, so one
# failure does not stop the rest; results are tarred into OUT/results.tgz after every step.
#
#   bash bench/gpu.sh OUT [CORPUS_DIR]        # CORPUS_DIR: folder of PDFs (default: built-in corpus)
#   PACK_TO=DIR puts results.tgz and the exported model there instead of OUT.
#
# Scale knobs (environment): SIZE=224 EPOCHS=12 BATCH=128 WORKERS=8 DEVICE=cuda N=96 PAGES=120
set -uo pipefail
OUT=${1:?usage: bash bench/gpu.sh OUT [CORPUS_DIR]}
CORPUS=${2:-}
SIZE=${SIZE:-224}; EPOCHS=${EPOCHS:-12}; BATCH=${BATCH:-128}; WORKERS=${WORKERS:-8}; DEVICE=${DEVICE:-cuda}
N=${N:-96}; PAGES=${PAGES:-100}; RENDER_WORKERS=${RENDER_WORKERS:-$(nproc)}
SHARDS=${SHARDS:-shards-paper}; RUNS=${RUNS:-runs-paper}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT/logs"
T0=$(date +%s)
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi";
  python -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')";
  nproc; } > "$OUT/logs/machine.txt" 2>&1

PACK_TO=${PACK_TO:-$OUT}  # where results.tgz and the model parts go (a folder that must stay small)
mkdir -p "$PACK_TO"
pack() { tar -czf "$PACK_TO/.results.tgz.tmp" -C "$OUT" logs $(cd "$OUT" && ls -d *.json paper 2>/dev/null) 2>/dev/null \
         && mv "$PACK_TO/.results.tgz.tmp" "$PACK_TO/results.tgz"; }
TOTAL=${TOTAL:-100000}  # overall deadline in seconds: each step's limit is cut to what is left
step() {  # step NAME SECONDS command...
  local name=$1 limit=$2; shift 2
  local start=$(date +%s)
  local left=$(( T0 + TOTAL - start - 15 ))
  if [ "$left" -lt 10 ]; then echo "$name skipped: deadline" | tee -a "$OUT/logs/steps.txt"; return; fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (limit ${limit}s, at +$((start - T0))s)"
  timeout "$limit" "$@" > "$OUT/logs/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc $(( $(date +%s) - start ))s" | tee -a "$OUT/logs/steps.txt"
  tail -n 3 "$OUT/logs/$name.log"
  pack
}

step bench_rotation 60 python -m bench.bench_datagen --rotation-only --device "$DEVICE" --json "$OUT/bench_rotation.json"
step bench_interpret 60 python -m bench.bench_interpret --device "$DEVICE" --json "$OUT/bench_interpret.json"
for s in kornia-zeros kornia-border kornia-reflect kornia-fill exact; do
  step "build_$s" 60 python -m datagen build $CORPUS --rotation="$s" --out "$SHARDS/$s" --size "$SIZE" \
       --device "$DEVICE" --workers "$RENDER_WORKERS" -q
done
step bench_train 75 python -m bench.train "$SHARDS/exact" --device "$DEVICE" --size "$SIZE" --workers "$WORKERS" \
     --json "$OUT/bench_train.json"
step fit 240 python -m trainer fit "$SHARDS/" --out "$RUNS" --epochs "$EPOCHS" --batch-size "$BATCH" \
     --workers "$WORKERS" --augment scan --device "$DEVICE" -q
for r in "$RUNS"/*/; do
  n=$(basename "$r")
  cp "$r/metrics.jsonl" "$OUT/logs/metrics-$n.jsonl" 2>/dev/null
  cp "$r/summary.json" "$OUT/logs/summary-$n.json" 2>/dev/null
done
step eval_exact 40 python -m trainer eval "$RUNS/exact/model.pt" "$SHARDS/exact" --json --device "$DEVICE"
step eval_exact_tta 40 python -m trainer eval "$RUNS/exact/model.pt" "$SHARDS/exact" --json --tta --device "$DEVICE"
# the default model, weights only in fp16, in two parts under 16 MiB (for CPU benchmarks elsewhere)
step export 30 python - "$RUNS/exact/model.pt" "$PACK_TO" <<'EOF'
import sys, torch
from trainer.models import load_checkpoint
ck = load_checkpoint(sys.argv[1])
slim = {k: v for k, v in ck.items() if k not in ("optimizer", "scheduler")}
slim["model"] = {k: (v.half() if v.is_floating_point() else v) for k, v in ck["model"].items()}
torch.save(slim, "/tmp/model-fp16.pt")
data = open("/tmp/model-fp16.pt", "rb").read()
half = (len(data) + 1) // 2
open(sys.argv[2] + "/model-fp16.part1", "wb").write(data[:half])
open(sys.argv[2] + "/model-fp16.part2", "wb").write(data[half:])
print("exported", len(data), "bytes")
EOF
step compare 200 python -m interpret compare $(ls -d "$RUNS"/*/) --probe "$SHARDS/kornia-zeros" --out "$OUT/paper" \
     --n "$N" --shortcut-pages "$PAGES" --device "$DEVICE"
echo "total $(( $(date +%s) - T0 ))s" | tee -a "$OUT/logs/steps.txt"
pack
