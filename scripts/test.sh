#!/usr/bin/env bash
# Install everything the tests need, start the services they use, and run them all:
# ruff, the flow library's own checks, and pytest (unit, SQLite, PostgreSQL and browser tests).
# Python packages live in .venv/, kept exactly as requirements-dev.lock says (hash-checked), so
# the machine's own packages neither help nor hurt. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

# Debian packages: Chromium for the browser tests, Graphviz for `flask flows graph --format svg`.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The virtual environment: made once with the machine's Python 3 (or $PYTHON), then synced to the
# lock on every run (a no-op when nothing changed). uv, the lock's own installer, comes from the
# lock too, through the venv's pip; the machine's pip configuration is left out of it.
if ! .venv/bin/python -c "import sys; assert sys.version_info >= (3, 11)" 2>/dev/null; then
  echo "Creating .venv with $("${PYTHON:-python3}" --version)"
  rm -rf .venv
  "${PYTHON:-python3}" -m venv .venv
fi
uv_version="$(sed -n 's/^uv==\([^ ]*\).*/\1/p' requirements-dev.lock)"
if [ "$(.venv/bin/uv --version 2>/dev/null | cut -d' ' -f2)" != "$uv_version" ]; then
  awk '/^uv==/ {on = 1} on {print; if (!/\\$/) exit}' requirements-dev.lock > .venv/uv-requirement.txt
  PIP_CONFIG_FILE=/dev/null .venv/bin/python -m pip install -q --disable-pip-version-check \
    --require-hashes --no-deps -r .venv/uv-requirement.txt
fi
echo "== .venv = requirements-dev.lock"
UV_LINK_MODE=copy .venv/bin/uv pip sync -q --python .venv/bin/python --require-hashes requirements-dev.lock
export VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH"

# PostgreSQL and Redis on this machine; start them if they are down.
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if command -v redis-cli >/dev/null 2>&1 && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null || true
fi
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"

echo "== ruff"
ruff check .
echo "== flask flows lint --strict"
flask --app app flows lint --strict
echo "== flask flows test"
flask --app app flows test
echo "== pytest"
python -m pytest "$@"
