#!/usr/bin/env bash
# Record paper-profile results on a GPU machine (ssh, a cluster job; no Jupyter needed): docs/GPU.md.
#
#   scripts/record_gpu.sh pack              here, once: gzip the data into data/gpu/ (ignored, ~42 MB)
#                                           for a machine without internet access, plus the lapx wheel
#                                           for Python 3.12 (PACK_WHEELS=0: data only)
#   scripts/record_gpu.sh unpack            there: unpack the data (and lapx, if missing) only
#   scripts/record_gpu.sh [record args...]  there: unpack, print the plan, record, pack the results
#
# Default record arguments: --profile paper --chapters 02 04 --datasets mnist fashion_mnist;
# extra arguments are appended (the last value of an option wins), e.g. --widths 0.25 1 4 --n-pairs 2.
# Environment: RECORD_PLAN (default 1; 0 skips the --plan pass), RECORD_BUDGET_S (default 0: no
# limit; else seconds for the whole script, e.g. a job's time limit: the record is stopped with
# SIGINT in time to pack what is finished, and a second run goes on from there),
# RECORD_ROOT (default results: the repo's records, so records already there are skipped),
# LMC_COMMIT (the commit, when the tree there is not a git checkout), OUT (default
# /tmp/record_out), RECORD_LOG (default record.log: the log's name in $OUT).
# $OUT receives plan.txt, record.log, train.log and results.tgz (`tar xzf results.tgz` at the repo
# root); stdout gets only a short summary.
set -uo pipefail
cd "$(dirname "$0")/.."
PACK=data/gpu
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

if [ "${1:-}" = pack ]; then
  SRC=${LMC_DATA:-data}
  for ds in mnist fashion_mnist; do
    mkdir -p "$PACK/$ds"
    for f in "$SRC/$ds"/*; do
      case "$f" in
        *.gz) cp "$f" "$PACK/$ds/" ;;
        *) gzip -n -c "$f" > "$PACK/$ds/$(basename "$f").gz" ;;
      esac
    done
  done
  if [ "${PACK_WHEELS:-1}" != 0 ]; then  # no registry there; lapx is the fast CPU assignment solver
    mkdir -p "$PACK/wheels"
    "$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux_2_28_x86_64 -d "$PACK/wheels" "lapx==${LAPX_VERSION:-0.11.1}" >/dev/null \
      || echo "lapx wheel not downloaded: the GPU machine will use scipy and the auction"
  fi
  du -sh "$PACK"
  exit 0
fi

OUT=${OUT:-/tmp/record_out}
BUDGET=${RECORD_BUDGET_S:-0}
export LMC_DATA=${LMC_DATA:-$PWD/data} LMC_CACHE=${LMC_CACHE:-$PWD/.cache/models}  # the library's defaults
export LMC_COMMIT=${LMC_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
export LMC_TRAIN_LOG="$OUT/train.log"  # one line per trained model (no progress bars)
mkdir -p "$OUT" "$LMC_DATA" "$LMC_CACHE"
[ -d "$PACK" ] || { echo "no $PACK: run 'scripts/record_gpu.sh pack' where the data is and copy data/gpu here"; exit 2; }

# lmc_lib.core.data checks the files it was fetched as: MNIST raw (unzip it), Fashion-MNIST .gz (copy it).
"$PY" - "$PACK" <<'PYEOF' || exit 2
import gzip, shutil, sys
from pathlib import Path
from lmc_lib.core import data
pack, root = Path(sys.argv[1]), data.data_root()
for ds_dir in sorted(p for p in pack.iterdir() if p.is_dir()):
    (root / ds_dir.name).mkdir(parents=True, exist_ok=True)
    for f in ds_dir.glob("*.gz"):
        raw = f.name[:-3] in data.FILES.get(ds_dir.name, ())
        with (gzip.open(f) if raw else open(f, "rb")) as src, \
                open(root / ds_dir.name / (f.name[:-3] if raw else f.name), "wb") as dst:
            shutil.copyfileobj(src, dst)
PYEOF
# lapx from the packed wheel (a wheel is a zip) when the machine's Python lacks it
if ! "$PY" -c "import lap" 2>/dev/null && ls "$PACK"/wheels/lapx-*.whl >/dev/null 2>&1; then
  mkdir -p /tmp/lmc_pylib && "$PY" -m zipfile -e "$(ls "$PACK"/wheels/lapx-*.whl | head -1)" /tmp/lmc_pylib
fi
export PYTHONPATH="$PYTHONPATH:/tmp/lmc_pylib"
[ "${1:-}" = unpack ] && exit 0

ROOT=${RECORD_ROOT:-results}
ARGS=(--profile paper --chapters 02 04 --datasets mnist fashion_mnist --root "$ROOT" "$@")
echo "GPU: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"
if [ "${RECORD_PLAN:-1}" != 0 ]; then
  timeout $(( BUDGET > 0 ? BUDGET / 3 : 0 )) "$PY" -m lmc_lib.chapters.record "${ARGS[@]}" --plan > "$OUT/plan.txt" 2>&1
  rc=$?
  grep -E "models, .* to train" "$OUT/plan.txt" | cut -d'(' -f1
  [ $rc -eq 2 ] && { tail -3 "$OUT/plan.txt"; exit 2; }  # a bad argument: nothing to run
  [ $rc -eq 0 ] || echo "plan unfinished (exit $rc; see plan.txt): recording anyway"
fi

start=$(date +%s)
LIMIT=$(( BUDGET > 0 ? BUDGET - SECONDS - 15 : 0 ))  # timeout 0: no limit
LOG="$OUT/${RECORD_LOG:-record.log}"
timeout -s INT -k 10 "$LIMIT" "$PY" -m lmc_lib.chapters.record "${ARGS[@]}" > "$LOG" 2>&1
rc=$?
grep -E "^(recorded|skipped|trained .* planned|re-recording|error)" "$LOG"
[ $rc -eq 0 ] || [ $rc -eq 124 ] || tail -5 "$LOG"
tar czf "$OUT/results.tgz" -C "$(dirname "$ROOT")" "$(basename "$ROOT")" 2>/dev/null
echo "record exit $rc$([ $rc -eq 124 ] && echo " (stopped at ${LIMIT} s; finished records kept)")," \
     "$(( $(date +%s) - start )) s, $(grep -c "^trained" "$LMC_TRAIN_LOG" 2>/dev/null) models trained," \
     "$(tar tzf "$OUT/results.tgz" | grep -c '/ch.*\.json$') chapter records in results.tgz"
exit $rc
