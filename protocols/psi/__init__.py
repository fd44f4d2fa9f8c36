"""Private set intersection (``psi``, ``psi-cardinality``): a package.

:mod:`protocols.psi.protocol` registers the protocols and holds their
rounds (and the one statement of the algorithm); :mod:`~protocols.psi.curve`
hashes to and blinds on Curve25519, :mod:`~protocols.psi.compact` encodes the
sender's set, :mod:`~protocols.psi.work` spreads curve work over worker
processes running :mod:`~protocols.psi.worker`. Importing this package alone
registers nothing and imports no more than this docstring, so that a worker
process starts fast.
"""
