#!/usr/bin/env bash
# Build handtwin with the `cuda` feature on a machine without a GPU or a system CUDA toolkit, and check that it
# compiles and links. Everything comes from the package registries: NVIDIA's CUDA 13.0 wheels on PyPI hold nvcc,
# its headers and the libraries candle links (cuBLAS, cuBLASLt, cuRAND, NVRTC, the CUDA runtime). The driver
# library itself (libcuda.so.1) ships only with the NVIDIA driver, so this script links against a stub made here
# from the driver functions cudarc declares — as the CUDA toolkit's own `lib64/stubs/libcuda.so` is used on build
# machines without a GPU. At run time the real driver's libcuda.so.1 is loaded in its place.
#
# Usage:
#   tools/check-cuda-build.sh                 # release build, core only (no viewer), for sm_80 and sm_90
#   CUDA_ARCHS="89" tools/check-cuda-build.sh # one architecture (8.9: RTX 40xx, L4, L40)
#   CUDA_FEATURES=full tools/check-cuda-build.sh  # `cargo build --release --features cuda`: the viewer too
#
# Environment:
#   CUDA_ARCHS       compute capabilities to build, space-separated (default "80 90"). Each gets its own target
#                    dir and binary: candle compiles its kernels to PTX for one architecture, which the driver
#                    JIT-compiles for newer GPUs (a sm_80 build runs on sm_90 after a one-off JIT at start-up).
#   CUDA_HOME_DIR    where the wheels and stub live (default ~/.cache/handtwin-cuda)
#   CUDA_TARGET_ROOT target dirs root (default ~/.cache/handtwin-cuda/target)
#   CUDA_FEATURES    "core" (default: `--no-default-features --features cuda`, the CLI, as the GPU check uses)
#                    or "full" (`--features cuda`, the viewer included)
#   CUDA_OUT         where the binaries are copied (default target/cuda-bin in the repository), stripped and also
#                    gzipped (handtwin-cuda-sm<NN>[-full][.gz]; the gzipped core build is what fits a 64 MiB carry)
#
# Why 13.0: cudarc 0.19 (candle 0.11's CUDA bindings) knows toolkits up to 13.0 by `nvcc --version` (13.5, the
# newest wheel, panics its build script with "Unsupported cuda toolkit version"), and every nvcc wheel must be the
# same release (a mix fails in ptxas). A 13.0 build needs an NVIDIA driver of the 580 series or newer.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

archs="${CUDA_ARCHS:-80 90}"
home="${CUDA_HOME_DIR:-$HOME/.cache/handtwin-cuda}"
target_root="${CUDA_TARGET_ROOT:-$home/target}"
features="${CUDA_FEATURES:-core}"
out="${CUDA_OUT:-$repo/target/cuda-bin}"
mkdir -p "$home" "$out"

step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

# 1. The toolkit from PyPI, pinned to one CUDA release.
step "CUDA 13.0 wheels into $home/venv"
if [ ! -x "$home/venv/bin/pip" ]; then
  python3 -m venv "$home/venv"
fi
"$home/venv/bin/pip" install -q --disable-pip-version-check \
  "nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-cccl==13.0.*" \
  "nvidia-cuda-crt==13.0.*" "nvidia-nvvm==13.0.*" "nvidia-cuda-nvrtc==13.0.*" \
  "nvidia-cublas==13.0.*" "nvidia-curand==10.4.0.*"
cu="$("$home/venv/bin/python" -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13"))')"
[ -x "$cu/bin/nvcc" ] || { echo "check-cuda-build: no nvcc at $cu/bin/nvcc after installing the wheels" >&2; exit 1; }

# 2. A toolkit-shaped folder: the wheels ship versioned sonames only (libcublas.so.13); the linker wants
#    libcublas.so. nvcc finds its own headers, nvvm and crt relative to its bin folder.
step "link folder and driver stub"
link="$home/lib"
rm -rf "$link"; mkdir -p "$link"
for lib in cublas cublasLt curand nvrtc cudart; do
  so="$(ls "$cu/lib/lib$lib.so."* 2>/dev/null | grep -v -E 'builtins|alt' | head -1 || true)"
  [ -n "$so" ] || { echo "check-cuda-build: lib$lib.so.* missing from $cu/lib" >&2; exit 1; }
  ln -s "$so" "$link/lib$lib.so"
done

# The driver stub: every driver function cudarc's bindings declare, as empty functions, under the driver's
# soname, so the binary records a dependency on libcuda.so.1 and the real driver satisfies it at run time.
cudarc_src="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.* 2>/dev/null | sort -V | tail -1 || true)"
if [ -z "$cudarc_src" ]; then
  cargo fetch --locked >/dev/null
  cudarc_src="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.* | sort -V | tail -1)"
fi
grep -oE '^pub unsafe fn cu[A-Za-z0-9_]+' "$cudarc_src/src/driver/sys/mod.rs" \
  | sed 's/^pub unsafe fn //' | sort -u > "$link/libcuda.symbols"
n_sym=$(wc -l < "$link/libcuda.symbols")
[ "$n_sym" -gt 100 ] || { echo "check-cuda-build: found only $n_sym driver functions in $cudarc_src" >&2; exit 1; }
sed 's/.*/int &(void) { return 999; }/' "$link/libcuda.symbols" > "$link/libcuda_stub.c"
cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$link/libcuda.so" "$link/libcuda_stub.c"
echo "stub libcuda.so with $n_sym driver functions (from $(basename "$cudarc_src"))"

export PATH="$cu/bin:$PATH"
export CUDA_PATH="$cu" CUDA_ROOT="$cu" CUDA_HOME="$cu"
export LIBRARY_PATH="$link${LIBRARY_PATH:+:$LIBRARY_PATH}"
export RUSTFLAGS="${RUSTFLAGS:-} -L native=$link"
nvcc --version | tail -2

case "$features" in
  core) feature_args=(--no-default-features --features cuda); suffix="" ;;
  full) feature_args=(--features cuda); suffix="-full" ;;
  *) echo "check-cuda-build: CUDA_FEATURES must be core or full, not '$features'" >&2; exit 2 ;;
esac

# 3. One release build per architecture.
for arch in $archs; do
  step "cargo build --release ${feature_args[*]} for sm_$arch"
  start=$(date +%s)
  CUDA_COMPUTE_CAP="$arch" CARGO_TARGET_DIR="$target_root/sm$arch" \
    cargo build --locked --release "${feature_args[@]}" --bin handtwin
  took=$(( $(date +%s) - start ))
  bin="$target_root/sm$arch/release/handtwin"
  name="handtwin-cuda-sm$arch$suffix"
  cp "$bin" "$out/$name"
  strip "$out/$name"
  gzip -9 -c "$out/$name" > "$out/$name.gz"
  echo "built sm_$arch in ${took} s: $out/$name ($(du -h "$out/$name" | cut -f1) stripped, $(du -h "$out/$name.gz" | cut -f1) gzipped)"
  echo "it needs, at run time:"
  readelf -d "$out/$name" | grep NEEDED | sed 's/.*\[\(.*\)\]/  \1/'
done

cat <<EOF

check-cuda-build: done. To run a binary on a GPU machine, its NVIDIA driver (580 or newer) provides libcuda.so.1;
the other libraries above come from a CUDA 13 toolkit or from these wheels — point LD_LIBRARY_PATH at them:
  LD_LIBRARY_PATH=$cu/lib $out/handtwin-cuda-sm${archs##* }$suffix model-info
EOF
