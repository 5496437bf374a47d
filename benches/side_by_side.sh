#!/usr/bin/env bash
# PyTorch and burn on the same five reference models, at 1 and 2 threads,
# in one session, then one table (make_report.py).
#
# Usage (from anywhere):
#   PY=../venv-torch/bin/python benches/side_by_side.sh
# Environment:
#   PY       python with torch (default python3)
#   REF      the PyTorch scripts (default ../shared/bench/pytorch)
#   OUT      JSON lines written here (default target/side_by_side/results.jsonl;
#            appended to, so REPEAT or several calls accumulate)
#   THREADS  thread counts (default "1 2")
#   DEVICES  burn backends (default "flex"; "flex ndarray" adds ndarray)
#   MODELS   subset of "mlp_gan dcgan conv_vae ddpm_train ddpm_sample gpt_train
#            gpt_sample"
#   REPEAT   rounds (default 1)
#   BIN      the burn runner to use (default: built here, target/release)
#   BURN_ARGS  extra arguments for every burn run, e.g. "--impl-suffix +x86-v4"
#              with BIN pointing at a build with --features burn/x86-v4
#   QUIET_MAX  seconds to wait for other load to fall under 15% of a CPU
#              before each run (default 60); the table's last column says
#              how busy other processes kept the CPUs anyway.
#   AUTOGROUP_NICE  if set (e.g. -10, needs root), each run starts in a new
#              session whose scheduler autogroup gets this nice value. With
#              sched_autogroup on, `nice` only ranks processes inside one
#              session, so other sessions' niced jobs otherwise still take
#              an equal share of the CPUs; this restores the priority that
#              nice was meant to give the benchmark.
# Each model runs PyTorch then burn back to back, so both see the same
# machine state; steps and warm-ups are run_all.sh's.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# Paths given relative to where the script is called from (the PyTorch
# runs change directory), a bare command name left to PATH. Symlinks are
# kept (-s): a virtualenv's bin/python is a link to the base interpreter,
# and only called by its own path does it see the venv's packages.
absolute() { case "$1" in */*) realpath -ms -- "$1" ;; *) printf '%s' "$1" ;; esac; }
PY="$(absolute "${PY:-python3}")"
if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "error: $PY cannot import torch; set PY to a python that has it (a venv's bin/python)" >&2
  exit 2
fi
REF="$(absolute "${REF:-"$ROOT/../shared/bench/pytorch"}")"
OUT="$(absolute "${OUT:-"$ROOT/target/side_by_side/results.jsonl"}")"
THREADS=${THREADS:-"1 2"}
DEVICES=${DEVICES:-flex}
MODELS=${MODELS:-"mlp_gan dcgan conv_vae ddpm_train ddpm_sample gpt_train gpt_sample"}
REPEAT=${REPEAT:-1}
QUIET_MAX=${QUIET_MAX:-60}
LOG="${OUT%.jsonl}.log"
mkdir -p "$(dirname "$OUT")"

if [ -z "${BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release --example bench_side_by_side)
  BIN="$ROOT/target/release/examples/bench_side_by_side"
fi
BIN="$(absolute "$BIN")"
read -r -a BURN_EXTRA <<< "${BURN_ARGS:-}"

# Same gate as run_all.sh: wait until other processes use < 15% of a CPU.
wait_quiet() {
  local waited=0 a b c d e f g h busy0 tot0 busy1 tot1 pct ncpu
  ncpu=$(nproc)
  while :; do
    read -r _ a b c d e f g h _ < /proc/stat; busy0=$((a+b+c+f+g+h)); tot0=$((a+b+c+d+e+f+g+h))
    sleep 1
    read -r _ a b c d e f g h _ < /proc/stat; busy1=$((a+b+c+f+g+h)); tot1=$((a+b+c+d+e+f+g+h))
    pct=$(( 100 * (busy1-busy0) * ncpu / (tot1-tot0 > 0 ? tot1-tot0 : 1) ))
    if [ "$pct" -lt 15 ] || [ "$waited" -ge "$QUIET_MAX" ]; then
      echo "# quiet-gate: other load ${pct}% of a CPU after ${waited}s" >&2; return
    fi
    waited=$((waited+1))
  done
}

# run TIMEOUT CMD...: one benchmark, its last stdout line appended to $OUT.
run() {
  local limit=$1; shift
  wait_quiet
  local line
  if [ -n "${AUTOGROUP_NICE:-}" ]; then
    set -- setsid bash -c 'echo "$0" > /proc/self/autogroup && exec "$@"' "$AUTOGROUP_NICE" "$@"
  fi
  line=$(timeout "$limit" "$@" 2>>"$LOG" | tail -n 1) || true
  if [[ "$line" == "{"* ]]; then
    echo "$line" >> "$OUT"; echo "${line:0:150}"
  else
    echo "# failed or timed out: $* (its stderr is in $LOG)" | tee -a "$LOG" >&2
  fi
}

torch_run() { (cd "$REF" && run "${RUN_TIMEOUT:-300}" "$PY" "$@"); }
burn_run() {
  local t=$1; shift
  for dev in $DEVICES; do
    RAYON_NUM_THREADS=$t MATMUL_NUM_THREADS=$t \
      run "${RUN_TIMEOUT:-300}" "$BIN" --device "$dev" --threads "$t" "${BURN_EXTRA[@]}" "$@"
  done
}

for _ in $(seq "$REPEAT"); do
  for t in $THREADS; do
    for m in $MODELS; do
      case $m in
        mlp_gan)
          torch_run bench_mlp_gan.py --threads "$t" --steps 500 --warmup 20
          burn_run "$t" --model mlp_gan --steps 500 --warmup 20 ;;
        dcgan)
          torch_run bench_dcgan.py --threads "$t" --steps 50 --warmup 5
          burn_run "$t" --model dcgan --steps 50 --warmup 5 ;;
        conv_vae)
          torch_run bench_vae.py --threads "$t" --steps 300 --warmup 10
          burn_run "$t" --model conv_vae --steps 300 --warmup 10 ;;
        ddpm_train)
          torch_run bench_ddpm.py --threads "$t" --steps 12 --warmup 2
          burn_run "$t" --model ddpm_unet --steps 12 --warmup 2 ;;
        ddpm_sample)
          torch_run bench_ddpm.py --threads "$t" --mode sample --steps 1 --warmup 3 --ddim-steps 50
          burn_run "$t" --model ddpm_unet --mode sample --steps 1 --warmup 3 --ddim-steps 50 ;;
        gpt_train)
          torch_run bench_gpt.py --threads "$t" --steps 100 --warmup 10
          burn_run "$t" --model gpt --steps 100 --warmup 10 ;;
        gpt_sample)
          torch_run bench_gpt.py --threads "$t" --mode sample --steps 5 --warmup 1
          burn_run "$t" --model gpt --mode sample --steps 5 --warmup 1 ;;
        *) echo "unknown model $m" >&2; exit 2 ;;
      esac
    done
  done
done

# make_report.py reads a `sample` row as a DDIM run: with gpt_sample rows
# it stops at the first one, after printing the rows before it.
"$PY" "$REF/make_report.py" "$OUT" ||
  echo "# make_report.py stopped (gpt_sample rows have no DDIM fields); every run is in $OUT" >&2
