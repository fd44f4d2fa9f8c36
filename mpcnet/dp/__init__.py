"""Differential privacy: exact noise, randomized response, the exponential
mechanism, and a privacy accountant.

Everything that *draws* noise is exact: it uses only integers and rationals
and a :class:`~mpcnet.randomness.Randomness` (``OSRandomness()`` by default, or
``ctx.random`` inside a protocol), never floating point (see
:mod:`mpcnet.dp.sampling` for why, and for the algorithms of Canonne, Kamath
and Steinke 2020). Real parameters are exact rationals: pass a
:class:`~fractions.Fraction`, an int, a string such as ``"1/3"``, or a float,
which is read as the decimal it prints as (``0.1`` is exactly 1/10).

Samplers (:mod:`mpcnet.dp.sampling`):
    :func:`bernoulli_exp`, :func:`discrete_laplace`, :func:`discrete_gaussian`,
    and their exact ``*_pmf`` / ``*_variance`` for checking.
Mechanisms and parameters (:mod:`mpcnet.dp.mechanisms`):
    :func:`randomized_response`, :func:`rr_estimate`, :func:`rr_epsilon`,
    :func:`exponential_mechanism`, :func:`permute_and_flip`,
    :func:`laplace_scale`, :func:`gaussian_sigma2`, ...
Accounting (this module):
    :class:`PrivacyAccountant`, :class:`Charge`, :class:`PrivacyBudget`,
    :class:`BudgetExceeded`.

Invalid arguments raise :class:`ValueError` or :class:`TypeError` naming the
parameter; a query over budget raises :class:`BudgetExceeded`.

Docs: ``docs/dp.md``.
"""

from __future__ import annotations

import decimal
import threading
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction

import attrs

from ..errors import MPCError
from .mechanisms import (
    exponential_mechanism,
    exponential_mechanism_pmf,
    gaussian_sigma2,
    gaussian_sigma2_for_zcdp,
    laplace_scale,
    permute_and_flip,
    randomized_response,
    rr_epsilon,
    rr_estimate,
    rr_p_truth,
    rr_report_probabilities,
    zcdp_epsilon,
)
from .sampling import (
    Rational,
    as_rational,
    bernoulli_exp,
    discrete_gaussian,
    discrete_gaussian_pmf,
    discrete_gaussian_variance,
    discrete_laplace,
    discrete_laplace_pmf,
    discrete_laplace_variance,
)

__all__ = [
    "BudgetExceeded",
    "Charge",
    "PrivacyAccountant",
    "PrivacyBudget",
    "Rational",
    "as_rational",
    "bernoulli_exp",
    "discrete_gaussian",
    "discrete_gaussian_pmf",
    "discrete_gaussian_variance",
    "discrete_laplace",
    "discrete_laplace_pmf",
    "discrete_laplace_variance",
    "exponential_mechanism",
    "exponential_mechanism_pmf",
    "gaussian_sigma2",
    "gaussian_sigma2_for_zcdp",
    "laplace_scale",
    "permute_and_flip",
    "randomized_response",
    "rr_epsilon",
    "rr_estimate",
    "rr_p_truth",
    "rr_report_probabilities",
    "zcdp_epsilon",
]


def _epsilon(value: Rational, *, allow_zero: bool) -> Fraction:
    eps = as_rational(value, "epsilon")
    if eps < 0 or (eps == 0 and not allow_zero):
        raise ValueError("epsilon must be positive" if not allow_zero else "epsilon must be non-negative")
    return eps


def _delta(value: Rational) -> Fraction:
    d = as_rational(value, "delta")
    if not 0 <= d < 1:
        raise ValueError("delta must satisfy 0 <= delta < 1")
    return d


def _fraction(value: Fraction | int) -> Fraction:
    return value if isinstance(value, Fraction) else Fraction(value)


@attrs.frozen
class PrivacyBudget:
    """An (epsilon, delta) pair, exact. Used for budgets, amounts spent and
    amounts remaining."""

    epsilon: Fraction = attrs.field(converter=_fraction)
    delta: Fraction = attrs.field(default=Fraction(0), converter=_fraction)

    def __str__(self) -> str:
        return f"epsilon={self.epsilon}, delta={self.delta}"


@attrs.frozen
class Charge:
    """One query charged to a dataset's budget (an immutable ledger entry).
    ``sequence`` numbers the charges of one accountant from 1."""

    sequence: int
    dataset: str
    epsilon: Fraction
    delta: Fraction
    label: str = ""


class BudgetExceeded(MPCError):
    """A query would spend more privacy budget than a dataset has left.

    Nothing was charged. ``dataset`` names it; ``requested`` and
    ``remaining`` are :class:`PrivacyBudget` values (budgets are public
    metadata, so the message states them)."""

    def __init__(self, dataset: str, requested: PrivacyBudget, remaining: PrivacyBudget) -> None:
        super().__init__(f"dataset {dataset!r}: the query needs {requested} but only {remaining} remains")
        self.dataset = dataset
        self.requested = requested
        self.remaining = remaining


class PrivacyAccountant:
    """Tracks the privacy budget spent on each dataset, by basic composition.

    Every dataset starts with the default budget ``(epsilon, delta)`` unless
    ``budgets`` gives it its own. :meth:`charge` records a query and refuses,
    with :class:`BudgetExceeded` and without recording anything, one whose
    epsilon or delta would take the dataset's total past its budget. Basic
    composition: running (eps_1, delta_1)-, ..., (eps_k, delta_k)-DP
    mechanisms on the same data is (sum eps_i, sum delta_i)-DP (Dwork and
    Roth 2014, Theorem 3.16). Datasets are independent of each other (a query
    touches the one it names; parallel composition is up to the caller).

    All amounts are exact fractions, so three charges of 0.1 fill a budget of
    0.3 exactly. Charging is atomic (a lock guards check-and-record), so
    threads and trio tasks may share one accountant; nothing awaits.

    :meth:`advanced_composition` reports the tighter bound of Dwork,
    Rothblum and Vadhan for many small charges, for information only: the
    budget is enforced by basic composition.
    """

    def __init__(self, epsilon: Rational, delta: Rational = 0, *,
                 budgets: Mapping[str, PrivacyBudget | tuple[Rational, Rational]] | None = None) -> None:
        self._default = PrivacyBudget(_epsilon(epsilon, allow_zero=False), _delta(delta))
        self._budgets: dict[str, PrivacyBudget] = {}
        self._spent: dict[str, PrivacyBudget] = {}
        self._ledger: list[Charge] = []
        self._lock = threading.Lock()
        for name, budget in (budgets or {}).items():
            eps, dlt = (budget.epsilon, budget.delta) if isinstance(budget, PrivacyBudget) else budget
            self.set_budget(name, eps, dlt)

    @staticmethod
    def _check_name(dataset: str) -> None:
        if not isinstance(dataset, str) or not dataset:
            raise ValueError("dataset must be a non-empty string")

    def set_budget(self, dataset: str, epsilon: Rational, delta: Rational = 0) -> None:
        """Give ``dataset`` its own total budget; :class:`ValueError` if it
        has already spent more than that."""
        self._check_name(dataset)
        budget = PrivacyBudget(_epsilon(epsilon, allow_zero=False), _delta(delta))
        with self._lock:
            spent = self._spent.get(dataset, PrivacyBudget(0, 0))
            if spent.epsilon > budget.epsilon or spent.delta > budget.delta:
                raise ValueError(f"dataset {dataset!r} has already spent {spent}, more than the new budget")
            self._budgets[dataset] = budget

    def budget(self, dataset: str) -> PrivacyBudget:
        """The total budget of ``dataset``."""
        self._check_name(dataset)
        return self._budgets.get(dataset, self._default)

    def spent(self, dataset: str) -> PrivacyBudget:
        """What ``dataset`` has spent so far (basic composition)."""
        self._check_name(dataset)
        with self._lock:
            return self._spent.get(dataset, PrivacyBudget(0, 0))

    def remaining(self, dataset: str) -> PrivacyBudget:
        """The budget ``dataset`` has left."""
        with self._lock:
            return self._remaining(dataset)

    def _remaining(self, dataset: str) -> PrivacyBudget:
        self._check_name(dataset)
        budget = self._budgets.get(dataset, self._default)
        spent = self._spent.get(dataset, PrivacyBudget(0, 0))
        return PrivacyBudget(budget.epsilon - spent.epsilon, budget.delta - spent.delta)

    def can_afford(self, dataset: str, epsilon: Rational, delta: Rational = 0) -> bool:
        """Whether :meth:`charge` would accept this query now."""
        eps, dlt = _epsilon(epsilon, allow_zero=True), _delta(delta)
        left = self.remaining(dataset)
        return eps <= left.epsilon and dlt <= left.delta

    def charge(self, dataset: str, epsilon: Rational, delta: Rational = 0, *, label: str = "") -> Charge:
        """Record an (epsilon, delta)-DP query on ``dataset`` and return its
        :class:`Charge`; :class:`BudgetExceeded` (nothing recorded) if it
        would overspend. Charge *before* releasing the query's answer."""
        eps, dlt = _epsilon(epsilon, allow_zero=True), _delta(delta)
        if eps == 0 and dlt == 0:
            raise ValueError("a charge must have epsilon > 0 or delta > 0")
        if not isinstance(label, str):
            raise TypeError("label must be a string")
        with self._lock:
            left = self._remaining(dataset)
            if eps > left.epsilon or dlt > left.delta:
                raise BudgetExceeded(dataset, PrivacyBudget(eps, dlt), left)
            spent = self._spent.get(dataset, PrivacyBudget(0, 0))
            self._spent[dataset] = PrivacyBudget(spent.epsilon + eps, spent.delta + dlt)
            record = Charge(len(self._ledger) + 1, dataset, eps, dlt, label)
            self._ledger.append(record)
            return record

    def charges(self, dataset: str | None = None) -> tuple[Charge, ...]:
        """The ledger, oldest first: every charge, or those of ``dataset``."""
        with self._lock:
            return tuple(c for c in self._ledger if dataset is None or c.dataset == dataset)

    def datasets(self) -> tuple[str, ...]:
        """The datasets that have a budget of their own or have been charged."""
        with self._lock:
            return tuple(sorted(set(self._budgets) | set(self._spent)))

    def advanced_composition(self, dataset: str, delta_slack: Rational) -> tuple[float, float]:
        """A reported (not enforced) bound on what ``dataset``'s charges add
        up to: ``(epsilon, delta)`` with ``delta = sum delta_i + delta_slack``
        and ``epsilon`` the smaller of the basic sum and the advanced
        composition bound ``sqrt(2 ln(1/delta_slack) sum eps_i^2) + sum
        eps_i (exp(eps_i) - 1)`` (Dwork, Rothblum and Vadhan 2010; for unequal
        epsilons by the same Azuma argument as Dwork and Roth 2014, Theorem
        3.20). Epsilon is rounded up to 12 significant digits."""
        slack = as_rational(delta_slack, "delta_slack")
        if not 0 < slack < 1:
            raise ValueError("delta_slack must satisfy 0 < delta_slack < 1")
        records = self.charges(dataset)
        basic = sum((c.epsilon for c in records), Fraction(0))
        delta = sum((c.delta for c in records), Fraction(0)) + slack
        with decimal.localcontext(decimal.Context(prec=50, rounding=decimal.ROUND_CEILING)):
            eps = [Decimal(c.epsilon.numerator) / c.epsilon.denominator for c in records]
            squares = sum((e * e for e in eps), Decimal(0))
            advanced = (2 * (Decimal(slack.denominator) / slack.numerator).ln() * squares).sqrt() \
                + sum((e * (e.exp() - 1) for e in eps), Decimal(0))
            best = min(advanced, Decimal(basic.numerator) / basic.denominator)
            total_delta = Decimal(delta.numerator) / delta.denominator
        with decimal.localcontext(decimal.Context(prec=12, rounding=decimal.ROUND_CEILING)):
            return float(+best), float(+total_delta)
