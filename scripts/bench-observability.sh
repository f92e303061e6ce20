#!/usr/bin/env bash
# What the `otel` feature costs while tracing is off: release binary size
# and start-up time (spawn → first 200 from /healthz, fresh data dir) of the
# default build against the same build without `otel`. Prints both.
#   scripts/bench-observability.sh [RUNS]     (default 9 runs each)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lettuce-target}"
runs=${1:-9}
out=$(mktemp -d)
cargo build --release -q -p lettuce
cp "$CARGO_TARGET_DIR/release/lettuce" "$out/with-otel"
cargo build --release -q -p lettuce --no-default-features --features \
  store-sqlite,queue-sqlite,blob-fs,secrets-env,auth-local,git-generic,index-tantivy,tokens-bpe,source-local,license-ed25519,telemetry-http
cp "$CARGO_TARGET_DIR/release/lettuce" "$out/without-otel"

startup() { # binary -> sorted ms per run
  for _ in $(seq 1 "$runs"); do
    local d port start end pid
    d=$(mktemp -d); port=$((20000 + RANDOM % 20000))
    start=$(date +%s%N)
    CODEWAZE_DATA_DIR=$d LETTUCE_BIND=127.0.0.1:$port LETTUCE_TELEMETRY_ENABLED=false "$1" >/dev/null 2>&1 &
    pid=$!
    until curl -fs -o /dev/null "http://127.0.0.1:$port/healthz"; do sleep 0.005; done
    end=$(date +%s%N)
    echo $(( (end - start) / 1000000 ))
    kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$d"
  done | sort -n | tr '\n' ' '
}
for b in with-otel without-otel; do
  strip -o "$out/$b.stripped" "$out/$b"
  printf '%-13s size %s bytes (stripped %s); start-up ms (sorted, %s runs): %s\n' \
    "$b" "$(stat -c %s "$out/$b")" "$(stat -c %s "$out/$b.stripped")" "$runs" "$(startup "$out/$b")"
done
rm -rf "$out"
