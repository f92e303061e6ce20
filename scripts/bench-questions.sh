#!/usr/bin/env bash
# `lettuce eval` over three public repositories of different languages, at pinned commits,
# 100 questions each (see docs/PERFORMANCE.md, "Questions (issue 9)").
#
#   scripts/bench-questions.sh [N]        N questions per repo (default 100)
#   scripts/bench-questions.sh N --misses also list the questions locate missed
#                                         (further arguments go to `lettuce eval`)
#
# Clones go to ${LETTUCE_EVAL_DIR:-$HOME/.cache/lettuce-eval}/<name>. Without network, point
# LETTUCE_EVAL_SOURCES at a directory holding <owner>+<name>/repo git mirrors (or clones);
# they are cloned from there instead of GitHub. Needs git (the grep baseline runs in-process).
set -euo pipefail
N="${1:-100}"
DIR="${LETTUCE_EVAL_DIR:-$HOME/.cache/lettuce-eval}"
BIN="${LETTUCE_BIN:-${CARGO_TARGET_DIR:-target}/release/lettuce}"
# owner/name  pinned commit  language
REPOS=(
  "pallets/flask 2ac89889f4cc330eabd50f295dcef02828522c69 python"
  "BurntSushi/ripgrep 3fce3b5bb0236da2df6d99672afb8a719642eca7 rust"
  "spf13/cobra adbc8813901bba65827259daa8e22ff94ec1f30e go"
)
mkdir -p "$DIR"
for entry in "${REPOS[@]}"; do
  read -r repo commit lang <<<"$entry"
  name="${repo#*/}"
  dest="$DIR/$name"
  if [ ! -d "$dest/.git" ]; then
    src="https://github.com/$repo.git"
    if [ -n "${LETTUCE_EVAL_SOURCES:-}" ] && [ -d "$LETTUCE_EVAL_SOURCES/${repo/\//+}/repo" ]; then
      src="$LETTUCE_EVAL_SOURCES/${repo/\//+}/repo"
    fi
    git clone -q --no-checkout "$src" "$dest"
  fi
  git -C "$dest" checkout -q --detach "$commit"
  echo "== $repo @ ${commit:0:12} ($lang), $N questions"
  LETTUCE_LOCAL_DIR="$DIR/.lettuce" "$BIN" eval --repo "$dest" -n "$N" "${@:2}"
done
