"""Input-party / compute-party roles shared by the honest-majority protocols
(now public in :mod:`mpcnet.mpc.roles`; re-exported for the built-ins that
still import them from here)."""

from __future__ import annotations

from mpcnet.mpc import RESULT_ROUND
from mpcnet.mpc.roles import COMPUTE_PARTIES, check_role, role_links, split_roles

__all__ = ["RESULT_ROUND", "COMPUTE_PARTIES", "role_links", "split_roles", "check_role"]
