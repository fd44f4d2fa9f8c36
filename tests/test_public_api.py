"""The declared public surface: ``mpcnet``, ``mpcnet.mpc``, ``mpcnet.dp`` and ``mpcnet.aggregate.service``.

Each ``__all__`` is pinned here as a literal set, so that adding or removing
a public name is a deliberate change to this file too (as trio's
``_tests/test_exports.py`` does). Every declared name must exist and every
class, function and module among them must have a docstring; so must every
public method of the classes they define.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import types

import pytest

import mpcnet
import mpcnet.aggregate.service
import mpcnet.dp
import mpcnet.mpc

PUBLIC: dict[str, set[str]] = {
    "mpcnet": {
        # modules
        "arith", "dp", "mpc", "wire",
        # running protocols
        "Context", "Party", "PartyResult", "SimulationResult", "simulate", "simulate_async", "run_party",
        "run_party_async", "open_party", "SessionStats", "derive_session_id", "new_session_id",
        # registering protocols
        "Param", "ProtocolSpec", "protocol", "get_protocol", "all_protocols",
        # randomness
        "Randomness", "OSRandomness", "KeyedRandomness", "SeededRandomness",
        # identities
        "Roster", "SecretKey", "generate_key", "load_key_file", "load_roster",
        # errors
        "MPCError", "ConfigError", "InputError", "WireError", "HandshakeError", "ChannelBroken", "PeerTimeout",
        "ProtocolViolation", "LocalProtocolViolation", "RemoteProtocolViolation", "SessionAborted",
    },
    "mpcnet.mpc": {
        "Runtime", "SecretInt", "SecretBits", "SecretRing", "concatenate", "stack", "Expect", "exchange",
        "RESULT_ROUND", "Shape", "int_bounds", "ShamirEngine", "SlicedBits", "argmax_first", "concat_sliced",
        "ENGINES", "choose_engine", "engine_problem", "XorBits", "SecretFixed",
        "arith", "binary", "convert", "fields", "fixed", "fixed2p", "fixedfield", "fixedrep", "inputs", "laplace", "roles",
        "shamir", "twoparty",
    },
    "mpcnet.dp": {
        "BudgetExceeded", "Charge", "PrivacyAccountant", "PrivacyBudget", "Rational", "as_rational", "bernoulli_exp",
        "discrete_gaussian", "discrete_gaussian_pmf", "discrete_gaussian_variance", "discrete_laplace",
        "discrete_laplace_pmf", "discrete_laplace_variance", "exponential_mechanism", "exponential_mechanism_pmf",
        "gaussian_sigma2", "gaussian_sigma2_for_zcdp", "laplace_scale", "permute_and_flip", "randomized_response",
        "rr_epsilon", "rr_estimate", "rr_p_truth", "rr_report_probabilities", "zcdp_epsilon",
    },
    "mpcnet.aggregate.service": {
        "submit", "collect", "make_reports", "reports_from_encoded", "upload", "CollectResult", "DapError",
        "Task", "AggregatorEndpoint", "AggregatorConfig", "Report", "load_task", "load_config", "init_deployment",
        "Leader", "Helper", "run_aggregator", "Storage", "SqliteStorage",
    },
}

PACKAGES = {"mpcnet": mpcnet, "mpcnet.mpc": mpcnet.mpc, "mpcnet.dp": mpcnet.dp,
            "mpcnet.aggregate.service": mpcnet.aggregate.service}


def documented_kind(obj: object) -> bool:
    """Whether ``obj`` is something that carries its own docstring (constants and type aliases do not)."""
    return inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj)


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_the_declared_surface_is_the_pinned_one(package):
    declared = PACKAGES[package].__all__
    assert len(declared) == len(set(declared)), "a name is listed twice"
    assert set(declared) == PUBLIC[package]


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_every_declared_name_exists_and_is_documented(package):
    module = PACKAGES[package]
    assert inspect.getdoc(module)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []
    undocumented = [name for name in module.__all__
                    if documented_kind(getattr(module, name)) and not inspect.getdoc(getattr(module, name))]
    assert undocumented == []


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_public_methods_are_documented(package):
    module = PACKAGES[package]
    undocumented = []
    for name in module.__all__:
        obj = getattr(module, name)
        if not (inspect.isclass(obj) and obj.__module__.startswith("mpcnet")):
            continue
        for attr, member in vars(obj).items():
            function = getattr(member, "__func__", member)
            if not attr.startswith("_") and isinstance(function, types.FunctionType) and not inspect.getdoc(member):
                undocumented.append(f"{name}.{attr}")
    assert undocumented == []


def test_public_names_are_not_private_paths():
    # What users are told to import must not live under a private module path,
    # except through a public re-export (mpcnet.wire is mpcnet._net.wire).
    assert mpcnet.wire.__name__ == "mpcnet._net.wire"
    for package, module in PACKAGES.items():
        for name in module.__all__:
            assert not name.startswith("_"), f"{package}.{name}"


@pytest.mark.parametrize("statement", [
    "from mpcnet import arith, dp, mpc, wire",
    "import mpcnet.aio",
    "from mpcnet.identity import Roster, SecretKey, generate_key",
    "from mpcnet.mpc import roles, inputs, fields, shamir",
    "from mpcnet.dp import PrivacyAccountant, sampling, mechanisms",
    "from mpcnet.randomness import OSRandomness",
])
def test_user_facing_imports_work_in_a_fresh_interpreter(statement):
    subprocess.run([sys.executable, "-c", statement], check=True, timeout=60)
