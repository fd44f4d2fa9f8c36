"""``python -m mpcnet`` is the ``mpcnet`` command."""

from .cli import run

run()
