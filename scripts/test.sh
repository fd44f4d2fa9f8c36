#!/usr/bin/env bash
# Set up (once) and run the test suite. Extra arguments go to pytest.
set -euo pipefail
# The ml extra (scikit-learn) too: the private-inference example and its tests train a model.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" "[test,ml]"
cd "$ROOT"
exec "$VENV/bin/python" -m pytest "$@"
