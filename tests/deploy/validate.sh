#!/usr/bin/env bash
# Offline checks of deploy/Dockerfile and deploy/kubernetes/ (what is checked: the top of validate.mjs).
#
#   tests/deploy/validate.sh                               manifests, kustomization, invariants, Dockerfile
#   UG_BINARY=build/uploadgate tests/deploy/validate.sh    also `uploadgate --check` on the ConfigMap's configuration
#                                                          and the image's runtime packages against `ldd` of the
#                                                          binary (use a normal build, not the ASan one)
#
# Needs Node.js >= 20 and npm; the tools come pinned from tests/deploy/package-lock.json. No cluster, no Docker.
# `kubectl kustomize` is used when kubectl is installed, skipped otherwise. Exit 0 only if every check passed.
set -euo pipefail
if [ -n "${UG_BINARY:-}" ]; then
    UG_BINARY=$(realpath -m -- "$UG_BINARY")   # relative to the caller's directory, before the cd below
    export UG_BINARY
fi
cd "$(dirname "$0")/../.."

command -v npm >/dev/null || { echo "tests/deploy/validate.sh: npm (Node.js >= 20) is required" >&2; exit 1; }
npm ci --prefix tests/deploy --no-audit --no-fund --loglevel=error
exec node tests/deploy/validate.mjs
