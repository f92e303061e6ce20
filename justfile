# Conveniences; every recipe is a plain command that also works without `just`.
export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", env_var("HOME") + "/.cache/lettuce-target")

# Run Lettuce on embedded defaults (SQLite, local blobs) at http://127.0.0.1:8080
run:
    cargo run --release

# Run every test (same as scripts/test)
test *ARGS:
    scripts/test {{ARGS}}

# Format check and clippy with warnings as errors
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --all-features -- -D warnings

# Prove what each build group pulls in
feature-matrix:
    scripts/feature-matrix.sh

# Check the hexagon's dependency rules
invariants:
    python3 scripts/check-invariants.py

# Everything CI runs
ci:
    bash .ci/run

# Code index benchmark vs universal-ctags and ripgrep on the CPython stdlib and pinned crate sources,
# plus the agent-task benchmark (~15 min); see docs/PERFORMANCE.md. Plain commands:
#   scripts/bench-tools.sh && cargo build --release -p lettuce -p lettuce-index-bench \
#     && target/release/lettuce-index-bench [ARGS]   (target/ = $CARGO_TARGET_DIR)
bench *ARGS:
    scripts/bench-tools.sh
    cargo build --release -p lettuce -p lettuce-index-bench
    "$CARGO_TARGET_DIR/release/lettuce-index-bench" {{ARGS}}

# Question benchmark (issue 9): `lettuce eval` (search_code, locate, grep baseline) over flask, ripgrep and cobra at
# pinned commits, 100 commit subjects each; see docs/PERFORMANCE.md. Plain commands:
#   cargo build --release -p lettuce && scripts/bench-questions.sh [N]
bench-questions *ARGS:
    cargo build --release -p lettuce
    scripts/bench-questions.sh {{ARGS}}

# Criterion micro-benchmarks of the index: extraction throughput on fixtures/code/src, warm query latency
bench-criterion *ARGS:
    cargo bench -p lettuce-index-tantivy --bench index -- {{ARGS}}

# Job-queue benchmark on local PostgreSQL (vs sqlxmq; ~10 min incl. a 60 s kill-recovery wait); see docs/PERFORMANCE.md
bench-queue *ARGS:
    cargo run --release -p lettuce-queue-bench -- {{ARGS}}

# What the `otel` feature costs with tracing off: binary size and start-up time with and without it
bench-observability *ARGS:
    scripts/bench-observability.sh {{ARGS}}
