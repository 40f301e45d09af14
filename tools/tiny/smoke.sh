#!/bin/sh
# Smoke test of the tiny-pack tooling: a few training steps on a tiny config, then an export; then a
# few fine-tuning steps of the image prompt path and the ControlNets, started from that export's ONNX
# files, and an export of them beside it; then a few steps of the prior's image spatial path against
# that pack, read back from its files, and the final export.
# usage: tools/tiny/smoke.sh [outdir]    (default: a fresh temp dir; prints the pack path last)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$(mktemp -d "${TMPDIR:-/tmp}/tiny-smoke.XXXXXX")}
PY=${PYTHON:-/usr/bin/python3}
mkdir -p "$OUT"
rm -f "$OUT/ckpt.pt" "$OUT/extras.pt" "$OUT/spatial.pt"
"$PY" "$HERE/train.py" --smoke --ckpt "$OUT/ckpt.pt" --text-min 0.03 --cb-min 0.05 >"$OUT/train.log" 2>&1 || { cat "$OUT/train.log"; exit 1; }
"$PY" "$HERE/export.py" --ckpt "$OUT/ckpt.pt" --out "$OUT/base" >"$OUT/export.log" 2>&1 || { cat "$OUT/export.log"; exit 1; }
"$PY" "$HERE/finetune.py" --smoke --pack "$OUT/base" --ckpt "$OUT/extras.pt" >"$OUT/finetune.log" 2>&1 || { cat "$OUT/finetune.log"; exit 1; }
"$PY" "$HERE/export.py" --from-pack "$OUT/base" --extras "$OUT/extras.pt" --out "$OUT/extras" >"$OUT/export-extras.log" 2>&1 || { cat "$OUT/export-extras.log"; exit 1; }
"$PY" "$HERE/finetune.py" --smoke --pack "$OUT/extras" --ckpt "$OUT/spatial.pt" --freeze-c --image-spatial --task-weights 0,1 >"$OUT/spatial.log" 2>&1 || { cat "$OUT/spatial.log"; exit 1; }
"$PY" "$HERE/export.py" --from-pack "$OUT/extras" --extras "$OUT/spatial.pt" --keep-stage-c --out "$OUT/pack" >"$OUT/export-spatial.log" 2>&1 || { cat "$OUT/export-spatial.log"; exit 1; }
echo "$OUT/pack"
