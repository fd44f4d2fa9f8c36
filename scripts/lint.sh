#!/usr/bin/env bash
# Set up (once) and run the static checks: ruff (lint) and mypy (strict on mpcnet/).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" "[test]"
cd "$ROOT"
"$VENV/bin/ruff" check mpcnet protocols tests examples benchmarks scripts
"$VENV/bin/mypy"
