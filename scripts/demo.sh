#!/usr/bin/env bash
# Set up (once) and run the demo: four engineers average their raises over
# encrypted TCP on loopback. Extra arguments go to `mpcnet demo`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" ""
exec "$VENV/bin/mpcnet" demo "$@"
