#!/usr/bin/env bash
# One call on a lent GPU machine: check, measure, record -- each phase time-boxed, logs in $OUT.
#
#   (here)  scripts/record_gpu.sh pack; git commit ...            # data/gpu: data + lapx wheel
#   (there) LMC_COMMIT=<hash> SESSION_BUDGET_S=570 scripts/gpu_session.sh [record args...]
#           device call: carry ["data/gpu"], timeout_s 600
#   What fits one call (measured on an H100, docs/BENCHMARKS.md): PHASES="graphs record"
#   RECORD_WIDTHS="0.25 0.5 1 2 4 8" with the record argument --matchings none (weight matching of
#   trained pairs took 56 s per pair at w = 4 and more at w = 8: it does not fit).
#
# Phases (a phase that fails does not stop the next; a check that fails switches its feature off):
#   graphs   the CUDA-graph step equals the eager step (pytest); if not: LMC_CUDA_GRAPHS=0
#   lap      one assignment per solver at n = 4096, 8192 (benchmarks/assignment_speed.py)
#   train    benchmarks/gpu_train.py (step times of the four training loops, MFU, profiler table)
#   record   scripts/record_gpu.sh with the remaining time (default args: paper profile, ch02 ch04,
#            mnist fashion_mnist, plus [record args...]); widths: $RECORD_WIDTHS, or chosen from
#            the train phase's projection so that both datasets fit
#   wm       weight matching of one random-init w = 16 pair (benchmarks/merge_speed.py)
#   warm     weight matching of trained pairs (the record's models), every solve cold vs
#            warm-started (benchmarks/warm_assignment.py $WARM_ARGS, default paper, MNIST, w 2 4)
# (lap, wm and warm only when named in $PHASES; the record logs each weight matching of trained
# pairs, with its seconds, in train.log)
# $OUT receives <phase>.log for each phase, record_run.log (lmc_lib.chapters.record's own log),
# gpu_train.json, profile_w16.txt, lap.json, results.tgz (the records: `tar xzf results.tgz` at
# the repo root) and train.log.
set -uo pipefail
cd "$(dirname "$0")/.."
export OUT=${OUT:-/tmp/gpu_out} PYTHONUNBUFFERED=1
export LMC_DATA=${LMC_DATA:-/tmp/lmc_data} LMC_CACHE=${LMC_CACHE:-/tmp/lmc_cache}
export PYTHONPATH="$PWD:/tmp/lmc_pylib"
BUDGET=${SESSION_BUDGET_S:-570}
PHASES=${PHASES:-graphs train record}  # lap and wm: measured separately, or when time allows
PY=${PYTHON:-python3}
mkdir -p "$OUT"

left() { echo $(( BUDGET - SECONDS )); }

# run NAME LIMIT CMD...: the command's output to $OUT/NAME.log, a status line and its last lines here
run() {
  local name=$1 limit=$2 t0=$SECONDS rc
  shift 2
  if [ "$limit" -lt 10 ]; then echo "== $name: skipped (${limit} s left)"; return 99; fi
  timeout -k 5 "$limit" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  echo "== $name: exit $rc in $(( SECONDS - t0 )) s (limit $limit s)"
  tail -n "${TAIL:-12}" "$OUT/$name.log" | cut -c1-220
  return $rc
}
want() { [[ " $PHASES " == *" $1 "* ]]; }
WM_KEEP=$(want wm && echo "${WM_RESERVE_S:-60}" || echo 0)  # seconds kept for the wm phase
WARM_KEEP=$(want warm && echo "${WARM_RESERVE_S:-120}" || echo 0)  # and for the warm phase
RESERVE=$(( WM_KEEP + WARM_KEEP ))

echo "== device: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)," \
     "commit ${LMC_COMMIT:-unknown}, budget $BUDGET s"
scripts/record_gpu.sh unpack > "$OUT/unpack.log" 2>&1 || { cat "$OUT/unpack.log"; exit 2; }
"$PY" -c "import torch, numpy, scipy; print('torch', torch.__version__, 'numpy', numpy.__version__,
'scipy', scipy.__version__); from lmc_lib.matching import assignment; print('solvers', assignment.available_methods())"

if want graphs; then
  run graphs 90 "$PY" -m pytest -q -p no:cacheprovider tests/test_train_group.py -k cuda_graph \
    || { export LMC_CUDA_GRAPHS=0; echo "   -> CUDA graphs off (LMC_CUDA_GRAPHS=0)"; }
fi
if want lap; then
  run lap 90 "$PY" benchmarks/assignment_speed.py --sizes 4096 8192 --methods auction lapjvr \
      --json "$OUT/lap.json"
fi
if want train; then
  run train 150 "$PY" benchmarks/gpu_train.py --widths 0.25 1 4 16 --steps 10 30 --out "$OUT"
fi
if want record; then
  # widths: RECORD_WIDTHS, or (auto) as many of the paper's as the train phase's projection fits
  widths=${RECORD_WIDTHS:-auto}
  if [ "$widths" = auto ]; then
    widths=$("$PY" scripts/gpu_choose.py widths "$OUT/gpu_train.json" \
        $(( $(left) - RESERVE )) 2>>"$OUT/choices.log") || widths="0.25 0.5 1 2 4 8"
    cat "$OUT/choices.log" 2>/dev/null
  fi
  echo "   record widths: $widths"
  RECORD_PLAN=0 RECORD_LOG=record_run.log RECORD_BUDGET_S=$(( $(left) - RESERVE )) \
    TAIL=20 run record $(( $(left) - RESERVE + 10 )) scripts/record_gpu.sh --widths $widths "$@"
  grep -E "^matched" "$OUT/train.log" | tail -6
fi
if want warm; then
  run warm $(( $(left) - WM_KEEP - 5 )) \
    "$PY" benchmarks/warm_assignment.py ${WARM_ARGS:---profile paper --dataset mnist --widths 2 4}
fi
if want wm; then
  run wm $(( $(left) - 5 )) "$PY" benchmarks/merge_speed.py --widths 16 --sizes --methods auto \
      --reference none --no-curve
fi
echo "== done in $SECONDS s; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
