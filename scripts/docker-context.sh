#!/usr/bin/env bash
# Builds handoff from a directory that holds exactly what the Dockerfile's
# build stage copies (its COPY lines without --from), with the Dockerfile's own
# steps: npm ci, then a locked cargo build. A file the code embeds or the build
# reads but the Dockerfile forgets to copy fails here, in CI, rather than in
# someone's `docker build` (no container engine runs on the CI machine).
#
# It checks rather than links (`cargo check`), in the dev profile and the
# repository's own target directory, so that it reuses the dependencies the
# tests build: what it proves is that the context is complete.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT

sources=$(awk '/^COPY / && !/--from/ { for (i = 2; i < NF; i++) print $i }' Dockerfile)
for path in $sources; do
  cp -a "$path" "$context/"
done
echo "== the Dockerfile's build context: $(echo $sources)"
cd "$context"
npm ci --no-audit --no-fund --silent
CARGO_TARGET_DIR="$repo/target" cargo check --locked --quiet
echo "== the Dockerfile's build context builds"
