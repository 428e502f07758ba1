#!/usr/bin/env bash
# The benchmarks on the GPU machine (one H100 or H200, 16 CPU cores), in one go:
#
#     bash benchmarks/device_run.sh [OUT_DIR]        # default OUT_DIR: benchmarks/results/device
#
# 1. prints the machine (nproc, lscpu, nvidia-smi -L) and the Python packages that matter;
# 2. builds and installs flatcore from this checkout (pip, no build isolation: the machine has no network),
#    then runs the test suite once (the AVX-512 kernels and 16 threads run nowhere else);
# 3. core_check.py: one-thread GEMM and flatcore speed on core 0, the last core, core 0 again (~15 s);
# 4. bench_train.py at 1 2 4 8 16 threads, all sizes, flatcore / JAX / PyTorch eager (both) / PyTorch
#    float64 with CUDA graphs on the GPU; the slow PyTorch eager peers only at 1, 2 and 16 threads;
# 5. if the time budget allows, bench_sharpness.py at large, 1 and 16 threads, flatcore and torch_power.
#
# Results land in OUT_DIR: train.md, train.json, and sharpness.md / sharpness.json when step 5 ran.
# Everything printed also goes to OUT_DIR/device_run.log, which git ignores (a log is not a result).
# Expected wall time: about 5 minutes; BUDGET_S (default 420 s) bounds step 5. The exit code is that
# of the first step that failed (1: a sanity check failed; step 5 stopped for lack of time does not count).
set -euo pipefail

BUDGET_S=${BUDGET_S:-420}     # the whole script should end within this many seconds
SHARPNESS_MIN_S=90            # run step 5 only when at least this many seconds of the budget are left

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT_DIR=${1:-$REPO/benchmarks/results/device}
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
cd "$REPO"
export PYTHONUNBUFFERED=1

section() {
    printf '\n===== %s (%d s) =====\n' "$1" "$SECONDS"
}

build() {
    section "build and install flatcore"
    export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
    local pip=(python3 -m pip install --no-build-isolation --no-index --disable-pip-version-check -q)
    local log
    log=$(mktemp)
    if ! "${pip[@]}" . >"$log" 2>&1; then
        if grep -q "externally-managed-environment" "$log"; then
            echo "(this Python's packages are managed by the system: installing with --break-system-packages)"
            "${pip[@]}" --break-system-packages . >"$log" 2>&1 || { cat "$log"; return 1; }
        else
            cat "$log"
            return 1
        fi
    fi
    cat "$log"
    rm -f "$log"
    python3 -c 'import flatcore; from flatcore.provenance import provenance; print("installed flatcore from", flatcore.__file__, provenance())'
}

machine() {
    section "machine"
    echo "nproc: $(nproc)"
    lscpu | head -20 || true
    nvidia-smi -L 2>/dev/null || echo "nvidia-smi: not available"
    python3 --version
    python3 -m pip list --disable-pip-version-check 2>/dev/null \
        | grep -i -E '^(numpy|scipy|torch|jax|jaxlib|jax-cuda[0-9]*-plugin|pybind11|scikit-build-core) ' || true
}

main() {
    local rc=0 step_rc left
    echo "device_run.sh: results in $OUT_DIR; time budget $BUDGET_S s"
    machine
    build

    # The test suite once on this machine: its native build is the only place the AVX-512 kernels
    # run (this development machine has AVX2), and results must not depend on 16 threads either.
    section "test suite (native build, all cores)"
    step_rc=0
    HYPOTHESIS_PROFILE=ci timeout --kill-after=10 150 python3 -m pytest -q -x -p no:cacheprovider tests \
        2>&1 | tail -15 || step_rc=$?
    echo "pytest: exit code $step_rc"
    [ "$rc" -ne 0 ] || rc=$step_rc

    section "core_check.py (1 thread: core 0, the last core, core 0)"
    python3 benchmarks/core_check.py || echo "core_check.py failed (not counted)"

    section "bench_train.py"
    step_rc=0
    python3 benchmarks/bench_train.py --threads 1 2 4 8 16 --sizes small mid large \
        --tools flatcore jax torch_manual torch_autograd torch_cuda_graph --eager-threads 1 2 16 \
        --seconds 0.3 --repeats 3 --rounds 1 --timeout 150 --out "$OUT_DIR" || step_rc=$?
    echo "bench_train.py: exit code $step_rc"
    [ "$rc" -ne 0 ] || rc=$step_rc

    left=$((BUDGET_S - SECONDS))
    if [ "$left" -ge "$SHARPNESS_MIN_S" ]; then
        section "bench_sharpness.py (${left} s of the budget left)"
        step_rc=0
        timeout --signal=INT --kill-after=10 $((left - 15)) \
            python3 benchmarks/bench_sharpness.py --sizes large --threads 1 16 --tools flatcore torch_power \
            --repeats 3 --min-seconds 0.2 --budget 20 --timeout 120 --out "$OUT_DIR" || step_rc=$?
        if [ "$step_rc" -eq 124 ]; then      # optional step, out of time: said, but not a failure
            echo "bench_sharpness.py: stopped, out of time (no sharpness results)"
        else
            echo "bench_sharpness.py: exit code $step_rc"
            [ "$rc" -ne 0 ] || rc=$step_rc
        fi
    else
        section "bench_sharpness.py skipped: only ${left} s of the ${BUDGET_S} s budget left (needs ${SHARPNESS_MIN_S})"
    fi

    section "done"
    ls -l "$OUT_DIR"
    return "$rc"
}

main 2>&1 | tee "$OUT_DIR/device_run.log"
