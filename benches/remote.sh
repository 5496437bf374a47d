#!/usr/bin/env bash
# Steps/s of the MLP GAN and the conv VAE (bench_side_by_side's reference
# models, batch 64): on local flex, on one remote flex server over loopback,
# and data-parallel over two servers with one thread each, against one
# device with two threads. Every run reads the previous step's losses before
# each step, as gen_core::Trainer does (one round trip per step on a remote
# device). Prints one JSON line per run, then a table.
#
#   cargo build --release --locked -p gen-serve -p generative \
#       --features generative/remote --bin gen-serve --example bench_side_by_side
#   benches/remote.sh                 # MODELS="mlp_gan conv_vae" STEPS=...
#
# Run it on a quiet machine: the servers and the client share its cores.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-target/release/examples/bench_side_by_side}
SERVE=${SERVE:-target/release/gen-serve}
MODELS=${MODELS:-"mlp_gan conv_vae"}
OUT=${OUT:-target/remote-bench}
mkdir -p "$OUT"
export GEN_REMOTE_TOKEN=${GEN_REMOTE_TOKEN:-bench-token-$$}

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# serve THREADS: starts a server; its device name lands in $name
serve() {
    local log
    log=$(mktemp)
    "$SERVE" --listen 127.0.0.1:0 --threads "$1" >"$log" 2>/dev/null &
    pids+=($!)
    until [ -s "$log" ]; do sleep 0.05; done
    name=$(head -n1 "$log")
    rm -f "$log"
}

stop_all() {
    cleanup
    wait 2>/dev/null || true
    pids=()
}

run() { # label, then bench_side_by_side's arguments
    local label=$1
    shift
    "$BIN" "$@" --read-losses 2>"$OUT/last.err" | sed "s/^{/{\"setup\":\"$label\",/" | tee -a "$OUT/results.jsonl"
}

: >"$OUT/results.jsonl"
for model in $MODELS; do
    run "local, 1 thread" --model "$model" --threads 1
    run "local, 2 threads" --model "$model" --threads 2
    serve 1
    run "1 server, 1 thread" --model "$model" --threads 1 --device "$name"
    stop_all
    serve 2
    run "1 server, 2 threads" --model "$model" --threads 1 --device "$name"
    stop_all
    serve 1; a=$name
    serve 1; b=$name
    run "2 servers x 1 thread, data-parallel" --model "$model" --threads 1 --device "$a" --replicas "$b"
    stop_all
done

python3 - "$OUT/results.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| model | setup | steps/s | ms/step | client peak RSS MiB |")
print("|---|---|---|---|---|")
for r in rows:
    print(f"| {r['bench']} | {r['setup']} | {r['steps_per_s']:.2f} | {r['ms_per_step']:.1f} | {r['peak_rss_mib']:.0f} |")
EOF
