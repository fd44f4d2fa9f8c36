# Shared by scripts/demo.sh and scripts/test.sh: make .venv with a Python
# 3.11+ and install mpcnet into it (with the extras given as $1).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MPCNET_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "mpcnet needs Python 3.11 or newer; '$PY' is $("$PY" --version 2>&1 || echo missing). Set PYTHON=/path/to/python3.11." >&2
    exit 2
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "setting up $VENV ..." >&2
    "$PY" -m venv "$VENV"
fi
extras="${1:-}"
stamp="$VENV/.mpcnet-installed$extras"
# Reinstall only when pyproject.toml changed since the last install.
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT$extras" >&2
    touch "$stamp"
fi
