#!/usr/bin/env python3
"""Architecture invariants (docs/ARCHITECTURE.md), checked from `cargo metadata`
and `cargo tree`. Exits non-zero listing every violation.

- domain: no async runtime, HTTP, SQL, or any other workspace crate.
- ports: no vendor SDK, SQL/ORM, HTTP client/server (with default features).
- engine: no adapter or inbound crate, transitively; never reads std::env.
- adapters/*: depend on no other workspace crate than ports, domain and the
  support libraries under libs/.
- libs/*: support libraries (no port implemented): depend on no workspace
  crate other than ports and domain.
- inbound/*: depend on no outbound adapter.
"""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ASYNC_RUNTIMES = {"tokio", "async-std", "smol", "async-executor"}
HTTP = {"hyper", "reqwest", "axum", "actix-web", "warp", "ureq", "http-body", "tower", "isahc", "surf"}
SQL = {"sqlx", "sqlx-core", "sea-orm", "sea-query", "diesel", "rusqlite", "libsqlite3-sys", "tokio-postgres", "postgres", "mysql_async"}
VENDOR_PREFIXES = ("aws-", "google-", "gcp", "azure")
VENDOR = {"vaultrs", "octocrab", "gitlab", "stripe", "object_store", "gix", "tantivy", "jsonwebtoken", "argon2", "rmcp", "opentelemetry"}


def run(*args):
    return subprocess.run(args, cwd=ROOT, check=True, capture_output=True, text=True).stdout


def tree(package, features=None):
    """Names of the normal (non-dev, non-build) transitive dependencies."""
    cmd = ["cargo", "tree", "-q", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}"]
    if features is not None:
        cmd += ["--no-default-features"] + (["--features", features] if features else [])
    names = set()
    for line in run(*cmd).splitlines():
        line = line.strip()
        if not line:
            continue
        names.add(line.split(" ")[0])
    names.discard(package)
    return names


def main():
    meta = json.loads(run("cargo", "metadata", "--format-version", "1", "--no-deps"))
    members = {p["name"]: p for p in meta["packages"]}
    rel = {name: os.path.relpath(os.path.dirname(p["manifest_path"]), ROOT) for name, p in members.items()}
    adapters = {n for n, d in rel.items() if d.startswith("adapters" + os.sep)}
    inbound = {n for n, d in rel.items() if d.startswith("inbound" + os.sep)}
    libs = {n for n, d in rel.items() if d.startswith("libs" + os.sep)}
    errors = []

    def direct_workspace_deps(name):
        return {d["name"] for d in members[name]["dependencies"] if d["name"] in members and d.get("kind") is None}

    # domain
    dom = tree("lettuce-domain")
    for bad in sorted(dom & (ASYNC_RUNTIMES | HTTP | SQL)):
        errors.append(f"domain depends on {bad} (domain must do no I/O: no async runtime, HTTP or SQL)")
    for bad in sorted(dom & set(members)):
        errors.append(f"domain depends on workspace crate {bad}")

    # ports (default features: what adapters and the engine see)
    ports = tree("lettuce-ports")
    for bad in sorted(ports & (HTTP | SQL | VENDOR | ASYNC_RUNTIMES)):
        errors.append(f"ports depends on {bad} (ports must name no vendor SDK, SQL/ORM or HTTP crate)")
    for bad in sorted(n for n in ports if n.startswith(VENDOR_PREFIXES)):
        errors.append(f"ports depends on vendor SDK {bad}")

    # engine
    eng = tree("lettuce-engine")
    for bad in sorted(eng & (adapters | inbound)):
        errors.append(f"engine depends on adapter {bad} (only apps/ pick adapters)")
    for bad in sorted(eng & (HTTP | SQL | VENDOR)):
        errors.append(f"engine depends on {bad} (talk to it through a port)")
    env_re = re.compile(r"\bstd::env\b|\benv::var|\benv::vars|\bdotenv")
    for dirpath, _, files in os.walk(os.path.join(ROOT, "engine", "src")):
        for f in files:
            path = os.path.join(dirpath, f)
            with open(path, encoding="utf-8") as fh:
                for i, line in enumerate(fh, 1):
                    if env_re.search(line) and not line.strip().startswith("//"):
                        errors.append(f"engine reads the environment: {os.path.relpath(path, ROOT)}:{i}: {line.strip()}")

    # adapters
    for a in sorted(adapters):
        for dep in sorted(direct_workspace_deps(a) - {"lettuce-ports", "lettuce-domain"} - libs):
            errors.append(f"adapter {a} depends on {dep} (adapters depend only on ports, domain and libs/)")
        for dep in sorted(tree(a) & ((adapters - {a}) | inbound | {"lettuce-engine"})):
            errors.append(f"adapter {a} depends (transitively) on {dep}")

    # support libraries
    for lib in sorted(libs):
        for dep in sorted(direct_workspace_deps(lib) - {"lettuce-ports", "lettuce-domain"}):
            errors.append(f"support library {lib} depends on {dep} (libs/ depend only on ports and domain)")

    # inbound adapters
    for i in sorted(inbound):
        for dep in sorted(tree(i) & adapters):
            errors.append(f"inbound adapter {i} depends on outbound adapter {dep}")

    if errors:
        print("architecture invariants violated:")
        for e in errors:
            print("  -", e)
        return 1
    print(f"architecture invariants hold ({len(adapters)} adapters, {len(inbound)} inbound adapters checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
