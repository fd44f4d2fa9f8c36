#!/usr/bin/env bash
# Set up (once) and run the test suite. Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" "[test]"
cd "$ROOT"
exec "$VENV/bin/python" -m pytest "$@"
