"""mpcnet's built-in protocols.

Each module registers its protocols with :func:`mpcnet.protocol` when it is
imported, using only mpcnet's public API, exactly as a third-party package
would. Importing this package registers them all.
"""

from . import auction, compare, poll, psi, secure_sum, stats, vote  # noqa: F401  (each module registers its protocols)
