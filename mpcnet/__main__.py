"""``python -m mpcnet`` is the ``mpcnet`` command."""

import sys

from .cli import main

sys.exit(main())
