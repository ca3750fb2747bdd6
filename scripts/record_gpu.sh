#!/usr/bin/env bash
# Record paper-profile results on a lent GPU machine (bare, no Jupyter, time-boxed).
#
#   scripts/record_gpu.sh pack              here, once: gzip the data into data/gpu/ (ignored, ~42 MB)
#   scripts/record_gpu.sh [record args...]  there: unpack the data, print the plan, record, copy to $OUT
#
# Default record arguments: --profile paper --chapters 02 04 --datasets mnist fashion_mnist;
# extra arguments are appended (the last value of an option wins), e.g. --widths 0.25 1 4 --n-pairs 2.
# Environment: RECORD_BUDGET_S (default 560, for a device call of timeout_s 600: seconds for the
# whole script; the record run is stopped with SIGINT in time to pack what is finished),
# RECORD_ROOT (default results: the repo's records, so records already there are skipped),
# LMC_COMMIT (the commit the tree was sent from: there is no .git there), OUT (default /tmp/record_out).
# $OUT receives plan.txt, record.log, train.log and results.tgz (`tar xzf results.tgz` at the repo root);
# stdout gets only a short summary.
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
  du -sh "$PACK"
  exit 0
fi

OUT=${OUT:-/tmp/record_out}
BUDGET=${RECORD_BUDGET_S:-560}
export LMC_DATA=${LMC_DATA:-/tmp/lmc_data} LMC_CACHE=${LMC_CACHE:-/tmp/lmc_cache}
export LMC_COMMIT=${LMC_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
export LMC_TRAIN_LOG="$OUT/train.log"  # one line per trained model (no progress bars)
mkdir -p "$OUT" "$LMC_DATA" "$LMC_CACHE"
[ -d "$PACK" ] || { echo "no $PACK: run 'scripts/record_gpu.sh pack' here and carry data/gpu"; exit 2; }

# lmc_lib.data checks the files it was fetched as: MNIST raw (unzip it), Fashion-MNIST .gz (copy it).
"$PY" - "$PACK" <<'PYEOF' || exit 2
import gzip, shutil, sys
from pathlib import Path
from lmc_lib import data
pack, root = Path(sys.argv[1]), data.data_root()
for ds_dir in sorted(p for p in pack.iterdir() if p.is_dir()):
    (root / ds_dir.name).mkdir(parents=True, exist_ok=True)
    for f in ds_dir.glob("*.gz"):
        raw = f.name[:-3] in data.FILES.get(ds_dir.name, ())
        with (gzip.open(f) if raw else open(f, "rb")) as src, \
                open(root / ds_dir.name / (f.name[:-3] if raw else f.name), "wb") as dst:
            shutil.copyfileobj(src, dst)
PYEOF

ROOT=${RECORD_ROOT:-results}
ARGS=(--profile paper --chapters 02 04 --datasets mnist fashion_mnist --root "$ROOT" "$@")
echo "device: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"
timeout $(( BUDGET / 3 )) "$PY" -m lmc_lib.record "${ARGS[@]}" --plan > "$OUT/plan.txt" 2>&1
rc=$?
grep -E "models, .* to train" "$OUT/plan.txt" | cut -d'(' -f1
[ $rc -eq 2 ] && { tail -3 "$OUT/plan.txt"; exit 2; }  # a bad argument: nothing to run
[ $rc -eq 0 ] || echo "plan unfinished (exit $rc; see plan.txt): recording anyway"

start=$(date +%s)
LIMIT=$(( BUDGET - SECONDS - 15 ))
timeout -s INT -k 10 "$LIMIT" "$PY" -m lmc_lib.record "${ARGS[@]}" > "$OUT/record.log" 2>&1
rc=$?
grep -E "^(recorded|skipped|trained .* planned|re-recording|error)" "$OUT/record.log"
[ $rc -eq 0 ] || [ $rc -eq 124 ] || tail -5 "$OUT/record.log"
tar czf "$OUT/results.tgz" -C "$(dirname "$ROOT")" "$(basename "$ROOT")" 2>/dev/null
echo "record exit $rc$([ $rc -eq 124 ] && echo " (stopped at ${LIMIT} s; finished records kept)")," \
     "$(( $(date +%s) - start )) s, $(cat "$LMC_TRAIN_LOG" 2>/dev/null | wc -l) models trained," \
     "$(tar tzf "$OUT/results.tgz" | grep -c '/ch.*\.json$') chapter records in results.tgz"
exit $rc
