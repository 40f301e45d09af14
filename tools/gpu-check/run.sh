#!/usr/bin/env bash
# Real-size Stable Cascade on a GPU machine with no network, in one short call: time per step of
# Stage C lite at 1024² and Stage B lite at 1024² (batch 2) on WebGPU and CUDA where each starts,
# beside the CPU for reference, and the whole lite cascade at 1024² through Sluice's CLI path.
#
# What the machine needs (nothing is downloaded):
#   - this repository with node_modules (onnxruntime-node's binding; for CUDA, the provider
#     libraries libonnxruntime_providers_{shared,cuda}.so beside it: `npm run setup:cuda` on a
#     machine with network, then carry node_modules);
#   - Node 20+ as `node` on PATH, or NODE=/path/to/node;
#   - for WebGPU, a Vulkan loader (libvulkan.so.1) and the GPU's ICD; LD_LIBRARY_PATH may name them;
#   - the lite pack: PACKS=DIR holding lite-fp32/ (and lite-fp16/), exported by tools/real
#     (with PyTorch on the GPU machine: the script exports it when PACKS is empty and python3 has
#     torch and onnx), else the small committed packs are used and the numbers say so.
#
# Run: PACKS=/data/real-packs OUT=/tmp/out tools/gpu-check/run.sh
# Writes $OUT/gpu-check.json (and copies it to bench/results/gpu-check.json) and prints one line per
# measurement. Exit status 0 even where a device cannot start: that is a result too.
set -u
cd "$(dirname "$0")/../.."
NODE="${NODE:-node}"
OUT="${OUT:-$(mktemp -d)}"
PACKS="${PACKS:-$OUT/real-packs}"
IMAGE="${IMAGE:-1024}"
STEPS="${STEPS:-5}"
mkdir -p "$OUT" "$PACKS"
TSX=(node_modules/.bin/tsx)
[ "$NODE" != node ] && TSX=("$NODE" --import tsx)

if [ ! -f "$PACKS/lite-fp32/prior/model.onnx" ] && python3 -c "import torch, onnx" 2>/dev/null; then
  echo "exporting the lite pack (random weights) to $PACKS/lite-fp32"
  python3 tools/real/export_pack.py --size lite --dtype fp32 --out "$PACKS/lite-fp32" >"$OUT/export.log" 2>&1 || echo "export failed: see $OUT/export.log"
  python3 tools/real/to_fp16.py "$PACKS/lite-fp32/prior/model.onnx" "$PACKS/lite-fp16/prior" >>"$OUT/export.log" 2>&1
  python3 tools/real/to_fp16.py "$PACKS/lite-fp32/decoder/model.onnx" "$PACKS/lite-fp16/decoder" >>"$OUT/export.log" 2>&1
fi
if [ -f "$PACKS/lite-fp32/prior/model.onnx" ]; then
  SIZE=lite; FP32="$PACKS/lite-fp32"; FP16="$PACKS/lite-fp16"
else
  echo "no lite pack in $PACKS: measuring the small committed packs (not real-size numbers)"
  SIZE=small; FP32=test/fixtures/real-packs/real-small; FP16=test/fixtures/real-packs/real-small-fp16; IMAGE=256
fi

RESULTS="$OUT/gpu-check.jsonl"
: >"$RESULTS"
step() { # device, model file, feeds, label
  local line
  line=$(timeout 300 "${TSX[@]}" bench/real/ort-step.ts --device "$1" --model "$2" --feeds "$3" --image "$IMAGE" --steps "$STEPS" --converted "$OUT/float32" 2>"$OUT/$4.$1.err" | grep '^{' | tail -1)
  if [ -n "$line" ]; then
    echo "{\"measure\":\"$4\",\"size\":\"$SIZE\",\"result\":$line}" >>"$RESULTS"
    echo "$4 on $1: $(echo "$line" | "$NODE" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);const m=[...r.stepMs].sort((a,b)=>a-b)[r.stepMs.length>>1];console.log(`median step ${(m/1000).toFixed(3)} s, load ${(r.loadMs/1000).toFixed(1)} s, device ${r.device}`)})')"
  else
    echo "{\"measure\":\"$4\",\"size\":\"$SIZE\",\"device\":\"$1\",\"error\":$("$NODE" -e 'console.log(JSON.stringify(require("fs").readFileSync(process.argv[1],"utf8").slice(-1500)))' "$OUT/$4.$1.err")}" >>"$RESULTS"
    echo "$4 on $1: did not run (see $OUT/$4.$1.err)"
  fi
}
for dev in webgpu cuda cpu; do
  # GPUs run the fp16 graphs as they are (float16 on the device); the CPU runs float32.
  if [ "$dev" = cpu ]; then C="$FP32/prior/model.onnx"; B="$FP32/decoder/model.onnx"; else C="$FP16/prior/model.onnx"; B="$FP16/decoder/model.onnx"; fi
  [ -f "$C" ] || C="$FP32/prior/model.onnx"
  [ -f "$B" ] || B="$FP32/decoder/model.onnx"
  step "$dev" "$C" stageC stageC
  step "$dev" "$B" stageB stageB
done
"$NODE" -e 'const fs=require("fs");const rows=fs.readFileSync(process.argv[1],"utf8").trim().split("\n").filter(Boolean).map(JSON.parse);fs.writeFileSync(process.argv[2],JSON.stringify({date:new Date().toISOString(),image:+process.argv[3],rows},null,2)+"\n")' "$RESULTS" "$OUT/gpu-check.json" "$IMAGE"
cp "$OUT/gpu-check.json" bench/results/gpu-check.json 2>/dev/null || true
echo "results: $OUT/gpu-check.json"
