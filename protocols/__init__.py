"""mpcnet's built-in protocols.

Each module registers its protocols with :func:`mpcnet.protocol` when it is
imported, using only mpcnet's public API, exactly as a third-party package
would. Importing this package registers them all.
"""

from . import secure_sum  # noqa: F401  (registers secure-sum, secure-average)
