#!/usr/bin/env bash
# The Python client's CI: a fresh venv; the wheel built by maturin (the
# `runledger` binary, dev profile, plus the pure-Python package); installed
# into the venv; `mypy --strict` on the installed package; pytest against
# the `runledger` the wheel put on the venv's PATH, on SQLite and on the
# PostgreSQL at 127.0.0.1:5432 (or RUNLEDGER_TEST_PG).
#
# The binary is built in the dev profile on purpose: the tests need the
# protocol, not the speed, and after `cargo test` most of the dependency
# graph is already compiled in target/. A release wheel is
# `maturin build --release` (see clients/python/README.md).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

need() { command -v "$1" >/dev/null 2>&1 || { echo "python-ci: $1 is not installed" >&2; exit 1; }; }
need python3
need cargo
need psql

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
started=$SECONDS
phase() { echo "python-ci: $1 (+$((SECONDS - started)) s)"; }

phase "fresh venv in $work/venv"
python3 -m venv "$work/venv"
# shellcheck disable=SC1091
source "$work/venv/bin/activate"
python -m pip install --quiet --disable-pip-version-check -r "$here/ci-requirements.txt"

phase "maturin build (dev profile)"
(cd "$here" && maturin build --quiet --out "$work/wheels")
python -m pip install --quiet --disable-pip-version-check "$work"/wheels/runledger-*.whl

installed="$(command -v runledger)"
[ "$installed" = "$work/venv/bin/runledger" ] || {
  echo "python-ci: runledger on PATH is $installed, not the wheel's" >&2
  exit 1
}
runledger --help >/dev/null

phase "mypy --strict on the installed package, the examples and the tests"
(cd "$work" && mypy --strict --cache-dir "$work/mypy-cache" -p runledger)
(cd "$here/examples" && mypy --strict --cache-dir "$work/mypy-cache" app.py worker.py)
(cd "$here/tests" && mypy --strict --cache-dir "$work/mypy-cache" .)

phase "pytest"
cd "$here"
python - <<'PY'
import runledger, sys
assert runledger.__file__.startswith(sys.prefix), f"runledger imported from {runledger.__file__}, not the venv"
PY
python -m pytest -p no:cacheprovider -q tests
phase "done"
