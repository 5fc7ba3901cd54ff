#!/usr/bin/env bash
# The TypeScript client's CI: the `runledger` binary (dev profile, reusing
# $CARGO_TARGET_DIR or target/), `npm ci` from the committed lock file,
# the check that src/generated/openapi.ts equals what openapi-typescript
# makes of the document the built server serves, the build, `tsc --noEmit`
# (strict) over the package and the tests, then `node --test` against
# the binary: every operation and problem code (SQLite and PostgreSQL),
# the shared WebSocket, the Worker, the Chromium cross-origin test, and
# `npm pack` installed into an empty folder running the example.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
export RUNLEDGER_BIN="$CARGO_TARGET_DIR/debug/runledger"

need() { command -v "$1" >/dev/null 2>&1 || { echo "typescript-ci: $1 is not installed" >&2; exit 1; }; }
need node
need npm
need cargo
need psql
need unshare  # insufficient_storage: the server on a tmpfs in its own mount namespace
[ -x "${RUNLEDGER_CHROMIUM:-/usr/bin/chromium}" ] || { echo "typescript-ci: no Chromium at ${RUNLEDGER_CHROMIUM:-/usr/bin/chromium}" >&2; exit 1; }
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
  || { echo "typescript-ci: Node $(node --version) is too old (>= 20)" >&2; exit 1; }

started=$SECONDS
phase() { echo "typescript-ci: $1 (+$((SECONDS - started)) s)"; }

phase "cargo build -p runledger-cli (dev profile)"
(cd "$repo" && cargo build --quiet -p runledger-cli)

cd "$here"
phase "npm ci"
npm ci --no-audit --no-fund --silent

phase "the committed types match the served OpenAPI document"
npm run --silent check-types

# The build first: the tests import the built package (dist/), so their
# type check needs its declarations.
phase "build"
npm run --silent build

phase "tsc --noEmit (strict)"
npm run --silent typecheck

phase "node --test"
npm test --silent
phase "done"
