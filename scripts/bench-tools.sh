#!/usr/bin/env bash
# Idempotently installs the peers the code-index benchmark measures against
# (ripgrep, universal-ctags) and GNU time (peak RSS). Safe to re-run.
set -euo pipefail

missing=()
command -v rg >/dev/null 2>&1 || missing+=(ripgrep)
ctags --version 2>/dev/null | grep -q "Universal Ctags" || missing+=(universal-ctags)
[ -x /usr/bin/time ] || missing+=(time)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing tools: ${missing[*]} — install them with your package manager" >&2
    exit 1
  fi
fi
echo "bench tools: $(rg --version | head -n1) · $(ctags --version | head -n1 | cut -d, -f1) · GNU time"
