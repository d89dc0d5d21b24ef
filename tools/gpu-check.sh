#!/usr/bin/env bash
# One prepared check of handtwin on a machine with an NVIDIA GPU: what the machine has, the parity cases on the
# GPU (f32 and bf16), and a 720×480×49 generation of DWM's real model shapes (random weights, built in memory: no
# weight files, no download) with classifier-free guidance at each --offload setting, beside diffusers' step at
# the same shapes when PyTorch and diffusers are there. Every figure goes into one JSON. Runs start to finish in
# a few minutes on an H100 (it times two steps per setting and extrapolates to 50), and works offline from what
# it is given.
#
# Usage (from the repository root; the parity cases are read from tests/fixtures/parity):
#   tools/gpu-check.sh                          # GPU: finds or builds the cuda binary, writes gpu-check/gpu-check.json
#   HANDTWIN_BIN=path/handtwin[.gz] tools/gpu-check.sh    # a binary built elsewhere (tools/check-cuda-build.sh)
#   GPU_CHECK_DEVICE=cpu tools/gpu-check.sh     # the CPU path: the same steps at the tiny model's shapes
#
# Environment:
#   HANDTWIN_BIN      the handtwin binary built with `cuda` (gzipped is fine). Default: target/cuda-bin/
#                     handtwin-cuda-sm<arch>[.gz] for this GPU's architecture, else any handtwin-cuda-sm*, else
#                     a build with tools/check-cuda-build.sh when nvcc and cargo are at hand.
#   GPU_CHECK_OUT     output folder (default gpu-check/)
#   GPU_CHECK_DEVICE  cuda (default) or cpu
#   HANDTWIN_WHEELS   a folder of wheels to add to Python's path without network (e.g. diffusers-*.whl)
#   BENCH_TIMEOUT     seconds allowed for the whole bench (default 330)
#   WAN_BENCH         0 skips the Wan model's bench; WAN_BENCH_TIMEOUT (default 240), WAN_BENCH_OFFLOAD (default none)
#   BENCH_PYTHON      the Python with PyTorch and diffusers (default /opt/torch/.venv/bin/python3, else python3)
set -uo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
out="${GPU_CHECK_OUT:-gpu-check}"
device="${GPU_CHECK_DEVICE:-cuda}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
log="$out/gpu-check.log"
: > "$log"
start_all=$(date +%s)
say() { printf '%s\n' "$*" | tee -a "$log"; }
step() { say ""; say "== $1 ($(date -u +%H:%M:%S), +$(( $(date +%s) - start_all )) s)"; }

# 1. The machine: driver, GPU, and the CUDA libraries the binary needs.
step "machine"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader \
    | tee "$out/gpu.csv" | tee -a "$log"
else
  say "no nvidia-smi on this machine"
  : > "$out/gpu.csv"
fi
lib_dirs=()
for dir in "${CUDA_HOME:-/nonexistent}/lib64" /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
           /usr/local/nvidia/lib64; do
  [ -d "$dir" ] && lib_dirs+=("$dir")
done
# PyTorch's CUDA wheels carry the same libraries (nvidia/cu13/lib, nvidia/*/lib).
for py in python3 /opt/torch/.venv/bin/python3; do
  command -v "$py" >/dev/null 2>&1 || continue
  while IFS= read -r dir; do [ -d "$dir" ] && lib_dirs+=("$dir"); done < <("$py" - <<'EOF' 2>/dev/null
import glob, os
try:
    import nvidia
    for root in nvidia.__path__:
        for d in sorted(glob.glob(os.path.join(root, "*", "lib"))):
            print(d)
except Exception:
    pass
EOF
)
done
: > "$out/libraries.txt"
for lib in libcuda.so.1 libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libnvrtc.so.13; do
  found="$(ldconfig -p 2>/dev/null | awk -v l="$lib" '$1 == l { print $NF; exit }')"
  if [ -z "$found" ]; then
    for dir in "${lib_dirs[@]}"; do
      [ -e "$dir/$lib" ] && { found="$dir/$lib"; break; }
    done
  fi
  printf '%s\t%s\n' "$lib" "${found:-MISSING}" | tee -a "$out/libraries.txt" | tee -a "$log" >/dev/null
done
cat "$out/libraries.txt"
ld_path=""
for dir in "${lib_dirs[@]}"; do ld_path="${ld_path:+$ld_path:}$dir"; done
# Only handtwin runs with these folders on its library path (they would shadow Python's own libraries).
hb() { LD_LIBRARY_PATH="${ld_path}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$bin" "$@"; }

# 2. The binary.
step "handtwin binary"
arch="$(head -1 "$out/gpu.csv" 2>/dev/null | awk -F', ' '{ gsub(/\./, "", $4); print $4 }')"
bin="${HANDTWIN_BIN:-}"
if [ -z "$bin" ] && [ "$device" = cpu ]; then
  bin="$(ls -t "${CARGO_TARGET_DIR:-$HOME/.cache/handtwin-target}"/{release,debug}/handtwin 2>/dev/null | head -1)"
fi
if [ -z "$bin" ]; then
  for candidate in "target/cuda-bin/handtwin-cuda-sm$arch" "target/cuda-bin/handtwin-cuda-sm$arch.gz" \
                   target/cuda-bin/handtwin-cuda-sm*; do
    [ -f "$candidate" ] && { bin="$candidate"; break; }
  done
fi
if [ -z "$bin" ] && command -v cargo >/dev/null 2>&1; then
  say "no cuda binary given; building one for sm_${arch:-90} with tools/check-cuda-build.sh"
  CUDA_ARCHS="${arch:-90}" tools/check-cuda-build.sh >> "$log" 2>&1 && bin="target/cuda-bin/handtwin-cuda-sm${arch:-90}"
fi
if [ -z "$bin" ] || [ ! -f "$bin" ]; then
  say "gpu-check: no handtwin binary (set HANDTWIN_BIN, or build one with tools/check-cuda-build.sh)"
  exit 1
fi
case "$bin" in
  *.gz) gunzip -c "$bin" > "$out/handtwin"; chmod +x "$out/handtwin"; bin="$out/handtwin" ;;
esac
say "binary: $bin"
LD_LIBRARY_PATH="${ld_path}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$bin" 2>&1 \
  | grep -E "cuda|cublas|curand|nvrtc|not found" | tee -a "$log"
if ! hb --version >> "$log" 2>&1; then
  say "gpu-check: $bin does not start here (a library above is missing?)"
  tail -2 "$log"
  exit 1
fi

if [ "$device" = cpu ]; then
  dtypes=(f32)
  bench_args=(--shapes tests/fixtures/tiny_model/model --size 96x64 --frames 9 --device cpu --dtype f32)
  diffusers_args=(--device cpu --dtype f32 --small --runs 1)
else
  dtypes=(f32 bf16)
  bench_args=(--shapes cogvideox-5b --size 720x480 --frames 49 --device cuda --dtype bf16)
  diffusers_args=(--device cuda --dtype bf16 --runs 3)
fi

# 3. Parity on the device: f32 within 1e-3 (the GPU's kernels sum in another order than the CPU's), bf16 within
#    `handtwin parity`'s --half-rtol (5%; its help says why).
for dtype in "${dtypes[@]}"; do
  step "parity cases on $device in $dtype"
  rtol_args=()
  [ "$dtype" = f32 ] && [ "$device" != cpu ] && rtol_args=(--rtol 1e-3)
  timeout 240 env LD_LIBRARY_PATH="${ld_path}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$bin" parity tests/fixtures/parity --device "$device" --dtype "$dtype" "${rtol_args[@]}" \
    --json "$out/parity_$dtype.json" 2>&1 | tee -a "$log" | tail -4
done

# 4. Our generation at each offload setting, with the driver's view of memory sampled every 100 ms beside it.
step "handtwin bench (${bench_args[*]})"
sampler=""
if [ "$device" != cpu ] && command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=timestamp,memory.used --format=csv,noheader,nounits -lms 100 > "$out/smi_memory.csv" 2>/dev/null &
  sampler=$!
fi
timeout "${BENCH_TIMEOUT:-330}" env LD_LIBRARY_PATH="${ld_path}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$bin" bench "${bench_args[@]}" --steps 2 --guidance 6 \
  --offload none,model,sequential --json "$out/bench.json" 2>&1 | tee -a "$log"
[ -n "$sampler" ] && kill "$sampler" 2>/dev/null

# 4b. The Wan model's shapes (DWM-Wan2.1-Fun-14B: 44.5 GiB in bf16 with every weight on the device), without
#     offload unless WAN_BENCH_OFFLOAD says otherwise; WAN_BENCH=0 skips it.
if [ "${WAN_BENCH:-1}" != 0 ]; then
  if [ "$device" = cpu ]; then
    wan_args=(--shapes tests/fixtures/tiny_wan_model/model --size 96x64 --frames 17 --device cpu --dtype f32)
  else
    wan_args=(--shapes wan2.1-fun-14b --size 720x480 --frames 49 --device cuda --dtype bf16)
  fi
  step "handtwin bench (${wan_args[*]})"
  timeout "${WAN_BENCH_TIMEOUT:-240}" env LD_LIBRARY_PATH="${ld_path}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$bin" bench "${wan_args[@]}" --steps 2 --guidance 6 \
    --offload "${WAN_BENCH_OFFLOAD:-none}" --json "$out/wan_bench.json" 2>&1 | tee -a "$log"
fi

# 5. diffusers' step at the same shapes and dtype, when PyTorch and diffusers are here.
step "diffusers transformer step"
python="${BENCH_PYTHON:-python3}"
[ -z "${BENCH_PYTHON:-}" ] && [ -x /opt/torch/.venv/bin/python3 ] && python=/opt/torch/.venv/bin/python3
if [ -n "${HANDTWIN_WHEELS:-}" ] && ls "$HANDTWIN_WHEELS"/*.whl >/dev/null 2>&1; then
  "$python" -m pip install -q --no-index --no-deps --target "$out/pylib" "$HANDTWIN_WHEELS"/*.whl >> "$log" 2>&1
  export PYTHONPATH="$out/pylib${PYTHONPATH:+:$PYTHONPATH}"
fi
timeout 150 "$python" tools/bench_diffusers_step.py "${diffusers_args[@]}" --json "$out/diffusers.json" \
  >> "$log" 2>&1
case $? in
  0) say "diffusers: $(grep -E '"step_s"' "$out/diffusers.json")" ;;
  3) say "diffusers: not installed here (set HANDTWIN_WHEELS to a folder with its wheel)"; rm -f "$out/diffusers.json" ;;
  *) say "diffusers: failed (see $log)"; rm -f "$out/diffusers.json" ;;
esac

# 6. One JSON with every figure.
step "gpu-check.json"
python3 - "$out" "$(( $(date +%s) - start_all ))" <<'EOF' | tee -a "$log"
import csv, json, os, sys
out, seconds = sys.argv[1], int(sys.argv[2])
def load(name):
    path = os.path.join(out, name)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
gpu = None
try:
    row = next(csv.reader(open(os.path.join(out, "gpu.csv"))), None)
    if row:
        gpu = dict(zip(["name", "memory_total", "driver", "compute_cap"], [c.strip() for c in row]))
except OSError:
    pass
libraries = {}
for line in open(os.path.join(out, "libraries.txt")):
    name, _, where = line.rstrip("\n").partition("\t")
    libraries[name] = where
smi_peak = None
try:
    values = [int(r[1]) for r in csv.reader(open(os.path.join(out, "smi_memory.csv"))) if len(r) > 1]
    smi_peak = max(values) * 2**20 if values else None
except (OSError, ValueError):
    pass
report = {
    "gpu": gpu,
    "libraries": libraries,
    "parity": {d: load(f"parity_{d}.json") for d in ("f32", "bf16") if load(f"parity_{d}.json") is not None},
    "bench": load("bench.json"),
    "wan_bench": load("wan_bench.json"),
    "nvidia_smi_peak_used_bytes": smi_peak,
    "diffusers": load("diffusers.json"),
    "seconds": seconds,
}
bench, diffusers = report["bench"], report["diffusers"]
if bench and diffusers:
    ours = {r["offload"]: r["step_s"] for r in bench["runs"]}
    report["step_ratio_ours_over_diffusers"] = {k: v / diffusers["step_s"] for k, v in ours.items()}
with open(os.path.join(out, "gpu-check.json"), "w") as f:
    json.dump(report, f, indent=2)
passed = {d: all(c["passed"] for c in cases) for d, cases in report["parity"].items()}
print(f"parity passed: {passed}")
def size(n):
    if n is None:
        return "n/a"
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"
for name, figures in (("cogvideox", bench), ("wan", report["wan_bench"])):
    for r in (figures or {}).get("runs", []):
        print(f"{name:<9} offload {r['offload']:<10} step {r['step_s']:.3f} s  50 steps ≈ {r['clip_50_steps_s']:.1f} s  "
              f"device peak {size(r['device_peak_bytes'])} (estimate {size(r['estimated_peak_bytes'])})")
print(f"wrote {os.path.join(out, 'gpu-check.json')} in {seconds} s")
EOF
