#!/usr/bin/env bash
# Proves with `cargo tree -e normal` what each build group pulls in:
#   embedded (default): no Postgres driver, no AWS/GCP/Vault crates
#   self-hosted:        no AWS/GCP/Vault crates
#   secrets-vault|aws|gcp: each pulls its own SDK and none of the other two
# and that every adapter feature on its own resolves.
set -euo pipefail
cd "$(dirname "$0")/.."

deps() { # package, feature args...
  cargo tree -q -p "$1" -e normal --prefix none --format '{p}' "${@:2}" | awk '{print $1}' | sort -u
}

fail=0
forbid() { # label, regex, deps...
  local label=$1 re=$2; shift 2
  local hits
  hits=$(printf '%s\n' "$@" | grep -E "$re" || true)
  if [ -n "$hits" ]; then
    echo "FAIL [$label] pulls forbidden crates:"; printf '    %s\n' $hits; fail=1
  else
    echo "ok   [$label] pulls none of /$re/"
  fi
}

POSTGRES='^(sqlx-postgres|tokio-postgres|postgres|postgres-protocol|pq-sys)$'
CLOUD='^(aws-sdk-[a-z0-9-]+|aws-config|aws-smithy-[a-z0-9-]+|aws-types|aws-credential-types|aws-sigv4|google-cloud-[a-z0-9-]+|gcp-auth|gcloud-sdk|vaultrs|azure_[a-z0-9_]+)$'

mapfile -t embedded < <(deps lettuce)
forbid "embedded (default)" "$POSTGRES" "${embedded[@]}"
forbid "embedded (default)" "$CLOUD" "${embedded[@]}"

# One TLS provider in the default build: rustls' ring (aws-lc's C build
# cost ~30 s of a cold release build; cloud SDKs bring it back in saas).
forbid "embedded (default)" '^(aws-lc-rs|aws-lc-sys)$' "${embedded[@]}"

mapfile -t selfhosted < <(deps lettuce --no-default-features --features self-hosted)
forbid "self-hosted" "$CLOUD" "${selfhosted[@]}"

# Each secret manager's SDK appears only with its own feature.
require() { # label, regex, deps...
  local label=$1 re=$2; shift 2
  if printf '%s\n' "$@" | grep -Eq "$re"; then echo "ok   [$label] pulls /$re/"; else echo "FAIL [$label] lacks /$re/"; fail=1; fi
}
VAULT='^(vaultrs|rustify)$'
AWS='^(aws-sdk-[a-z0-9-]+|aws-config|aws-smithy-[a-z0-9-]+|aws-types|aws-credential-types|aws-sigv4)$'
GCP='^(google-cloud-[a-z0-9-]+)$'
mapfile -t vault < <(deps lettuce --no-default-features --features embedded,secrets-vault)
require "secrets-vault" "$VAULT" "${vault[@]}"; forbid "secrets-vault" "$AWS" "${vault[@]}"; forbid "secrets-vault" "$GCP" "${vault[@]}"
mapfile -t aws < <(deps lettuce --no-default-features --features embedded,secrets-aws)
require "secrets-aws" "$AWS" "${aws[@]}"; forbid "secrets-aws" "$VAULT" "${aws[@]}"; forbid "secrets-aws" "$GCP" "${aws[@]}"
mapfile -t gcp < <(deps lettuce --no-default-features --features embedded,secrets-gcp)
require "secrets-gcp" "$GCP" "${gcp[@]}"; forbid "secrets-gcp" "$VAULT" "${gcp[@]}"; forbid "secrets-gcp" "$AWS" "${gcp[@]}"

# The OIDC client stack only with auth-oidc (in `saas`); the light IdP
# verifiers (auth-jwks, auth-supabase: jsonwebtoken + the shared HTTP client)
# are in `self-hosted`.
OIDC='^(openidconnect|oauth2)$'
forbid "embedded (default)" "$OIDC" "${embedded[@]}"
forbid "self-hosted" "$OIDC" "${selfhosted[@]}"
mapfile -t oidc < <(deps lettuce --no-default-features --features embedded,auth-oidc)
require "auth-oidc" "$OIDC" "${oidc[@]}"

# Every adapter feature resolves on its own (catches typos in feature wiring).
features=$(cargo metadata --format-version 1 --no-deps | python3 -c '
import json,sys
m=json.load(sys.stdin)
p=[x for x in m["packages"] if x["name"]=="lettuce"][0]
print(" ".join(sorted(f for f in p["features"] if "-" in f and f not in ("self-hosted",))))')
for f in $features; do
  if cargo tree -q -p lettuce -e normal --no-default-features --features "$f" >/dev/null 2>&1; then
    echo "ok   [--features $f] resolves"
  else
    echo "FAIL [--features $f] does not resolve"; fail=1
  fi
done

exit $fail
