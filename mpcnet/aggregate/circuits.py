"""The validity circuits of the five Prio3 variants, draft-irtf-cfrg-vdaf-20 §7.4.

* :class:`Count` (§7.4.1): ``x * x - x == 0`` with one :class:`~.flp.Mul` call.
* :class:`Sum` (§7.4.2): the measurement in ``[0, max_measurement]`` as ``bits`` weighted 0/1
  elements (powers of two, the last weight ``max_measurement - (2**(bits-1) - 1)``); each checked by
  ``PolyEval(x**2 - x)``; one output per bit.
* :class:`SumVec` (§7.4.3): ``length`` such encodings; every element checked at once by
  ``ParallelSum(Mul, chunk_length)`` calls on ``(r**j * x, x - 1/shares)`` with one joint-randomness
  element ``r`` per call.
* :class:`Histogram` (§7.4.4): a one-hot vector: the same range check, and ``sum(x) - 1 == 0``.
* :class:`MultihotCountVec` (§7.4.5): a 0/1 vector and its claimed weight (encoded as in Sum);
  range check over both, and ``sum(x) - weight == 0``.

Constants added inside a circuit are scaled by ``1 / num_shares`` so that each aggregator computes
a share of the output (§7.3.2).
"""

from __future__ import annotations

from collections.abc import Sequence

from .field import NttField
from .flp import GadgetCall, Mul, ParallelSum, PolyEval, ValidityCircuit

__all__ = [
    "Count", "Sum", "SumVec", "Histogram", "MultihotCountVec",
    "encode_range_checked_int", "decode_range_checked_int",
]


def encode_range_checked_int(field: NttField, value: int, max_measurement: int) -> list[int]:
    """``value`` in ``[0, max_measurement]`` as 0/1 elements of a weighted sum (draft §7.4.2)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"measurement must be an int, got {type(value).__name__}")
    if not 0 <= value <= max_measurement:
        raise ValueError(f"measurement {value} is outside [0, {max_measurement}]")
    bits = max_measurement.bit_length()
    rest_max = 2 ** (bits - 1) - 1
    if value <= rest_max:
        rest, last = value, 0
    else:
        rest, last = value - (max_measurement - rest_max), 1
    return [(rest >> i) & 1 for i in range(bits - 1)] + [last]


def decode_range_checked_int(field: NttField, encoded: Sequence[int], max_measurement: int) -> int:
    """The weighted sum of an encoding (linear, so it also maps shares to shares)."""
    bits = max_measurement.bit_length()
    last_weight = max_measurement - (2 ** (bits - 1) - 1)
    acc: int = sum(b << i for i, b in enumerate(encoded[: bits - 1])) + last_weight * encoded[bits - 1]
    return acc % field.MODULUS


def _range_check(field: NttField, meas: list[int], joint_rand: list[int], calls: int, chunk: int,
                 num_shares: int, call: GadgetCall) -> int:
    """``sum_i sum_j r_i**(j+1) * x * (x - 1)`` over chunks of ``meas`` (draft §7.4.3–7.4.5)."""
    p = field.MODULUS
    shares_inv = field.inv_int(num_shares)
    out = 0
    for i in range(calls):
        r = joint_rand[i]
        r_power = r
        inputs = [0] * (2 * chunk)
        for j in range(chunk):
            index = i * chunk + j
            x = meas[index] if index < len(meas) else 0
            inputs[2 * j] = r_power * x % p
            inputs[2 * j + 1] = (x - shares_inv) % p
            r_power = r_power * r % p
        out += call(0, inputs)
    return out % p


def _check_chunk_length(chunk_length: int) -> None:
    if chunk_length < 1:
        raise ValueError("chunk_length must be >= 1")


class Count(ValidityCircuit[int, int]):
    """Prio3Count's circuit: the measurement is 0 or 1 (draft §7.4.1)."""

    MEAS_LEN = 1
    JOINT_RAND_LEN = 0
    OUTPUT_LEN = 1
    EVAL_OUTPUT_LEN = 1

    def __init__(self, field: NttField) -> None:
        self.field = field
        self.GADGETS = [Mul()]
        self.GADGET_CALLS = [1]

    def encode(self, measurement: int) -> list[int]:
        if measurement not in (0, 1) or not isinstance(measurement, int):
            raise ValueError(f"a count is 0 or 1, got {measurement!r}")
        return [int(measurement)]

    def eval(self, meas: list[int], joint_rand: list[int], num_shares: int, call: GadgetCall) -> list[int]:
        return [(call(0, [meas[0], meas[0]]) - meas[0]) % self.field.MODULUS]

    def truncate(self, meas: list[int]) -> list[int]:
        return list(meas)

    def decode(self, output: list[int], num_measurements: int) -> int:
        return output[0]


class Sum(ValidityCircuit[int, int]):
    """Prio3Sum's circuit: an integer in ``[0, max_measurement]`` (draft §7.4.2)."""

    JOINT_RAND_LEN = 0
    OUTPUT_LEN = 1

    def __init__(self, field: NttField, max_measurement: int) -> None:
        if max_measurement < 1 or max_measurement >= field.MODULUS:
            raise ValueError("max_measurement must be in [1, MODULUS)")
        self.field = field
        self.max_measurement = max_measurement
        self.bits = max_measurement.bit_length()
        self.GADGETS = [PolyEval([0, -1 % field.MODULUS, 1])]
        self.GADGET_CALLS = [self.bits]
        self.MEAS_LEN = self.bits
        self.EVAL_OUTPUT_LEN = self.bits

    def encode(self, measurement: int) -> list[int]:
        return encode_range_checked_int(self.field, measurement, self.max_measurement)

    def eval(self, meas: list[int], joint_rand: list[int], num_shares: int, call: GadgetCall) -> list[int]:
        return [call(0, [b]) for b in meas]

    def truncate(self, meas: list[int]) -> list[int]:
        return [decode_range_checked_int(self.field, meas, self.max_measurement)]

    def decode(self, output: list[int], num_measurements: int) -> int:
        return output[0]


class SumVec(ValidityCircuit[list[int], list[int]]):
    """Prio3SumVec's circuit: ``length`` integers, each in ``[0, max_measurement]`` (draft §7.4.3)."""

    EVAL_OUTPUT_LEN = 1

    def __init__(self, field: NttField, length: int, max_measurement: int, chunk_length: int) -> None:
        _check_chunk_length(chunk_length)
        if length < 1 or max_measurement < 1 or max_measurement >= field.MODULUS:
            raise ValueError("SumVec needs length >= 1 and max_measurement in [1, MODULUS)")
        self.field = field
        self.length = length
        self.max_measurement = max_measurement
        self.bits = max_measurement.bit_length()
        self.chunk_length = chunk_length
        self.GADGETS = [ParallelSum(Mul(), chunk_length)]
        self.GADGET_CALLS = [(length * self.bits + chunk_length - 1) // chunk_length]
        self.MEAS_LEN = length * self.bits
        self.OUTPUT_LEN = length
        self.JOINT_RAND_LEN = self.GADGET_CALLS[0]

    def encode(self, measurement: list[int]) -> list[int]:
        if not isinstance(measurement, list | tuple) or len(measurement) != self.length:
            raise ValueError(f"a SumVec measurement is a list of {self.length} integers")
        out: list[int] = []
        for v in measurement:
            out += encode_range_checked_int(self.field, v, self.max_measurement)
        return out

    def eval(self, meas: list[int], joint_rand: list[int], num_shares: int, call: GadgetCall) -> list[int]:
        return [_range_check(self.field, meas, joint_rand, self.GADGET_CALLS[0], self.chunk_length, num_shares, call)]

    def truncate(self, meas: list[int]) -> list[int]:
        b = self.bits
        return [decode_range_checked_int(self.field, meas[i * b : (i + 1) * b], self.max_measurement) for i in range(self.length)]

    def decode(self, output: list[int], num_measurements: int) -> list[int]:
        return list(output)


class Histogram(ValidityCircuit[int, list[int]]):
    """Prio3Histogram's circuit: a bucket index in ``[0, length)`` as a one-hot vector (draft §7.4.4)."""

    EVAL_OUTPUT_LEN = 2

    def __init__(self, field: NttField, length: int, chunk_length: int) -> None:
        _check_chunk_length(chunk_length)
        if length < 1:
            raise ValueError("Histogram needs length >= 1")
        self.field = field
        self.length = length
        self.chunk_length = chunk_length
        self.GADGETS = [ParallelSum(Mul(), chunk_length)]
        self.GADGET_CALLS = [(length + chunk_length - 1) // chunk_length]
        self.MEAS_LEN = length
        self.OUTPUT_LEN = length
        self.JOINT_RAND_LEN = self.GADGET_CALLS[0]

    def encode(self, measurement: int) -> list[int]:
        if isinstance(measurement, bool) or not isinstance(measurement, int) or not 0 <= measurement < self.length:
            raise ValueError(f"a Histogram measurement is a bucket index in [0, {self.length}), got {measurement!r}")
        out = [0] * self.length
        out[measurement] = 1
        return out

    def eval(self, meas: list[int], joint_rand: list[int], num_shares: int, call: GadgetCall) -> list[int]:
        f = self.field
        range_check = _range_check(f, meas, joint_rand, self.GADGET_CALLS[0], self.chunk_length, num_shares, call)
        sum_check = (sum(meas) - f.inv_int(num_shares)) % f.MODULUS
        return [range_check, sum_check]

    def truncate(self, meas: list[int]) -> list[int]:
        return list(meas)

    def decode(self, output: list[int], num_measurements: int) -> list[int]:
        return list(output)


class MultihotCountVec(ValidityCircuit[list[bool], list[int]]):
    """Prio3MultihotCountVec's circuit: a 0/1 vector with at most ``max_weight`` ones (draft §7.4.5)."""

    EVAL_OUTPUT_LEN = 2

    def __init__(self, field: NttField, length: int, max_weight: int, chunk_length: int) -> None:
        _check_chunk_length(chunk_length)
        if not (0 < length < field.MODULUS and 0 < max_weight <= length):
            raise ValueError("MultihotCountVec needs length >= 1 and 1 <= max_weight <= length")
        self.field = field
        self.length = length
        self.max_weight = max_weight
        self.chunk_length = chunk_length
        self.bits_for_weight = max_weight.bit_length()
        self.GADGETS = [ParallelSum(Mul(), chunk_length)]
        self.GADGET_CALLS = [(length + self.bits_for_weight + chunk_length - 1) // chunk_length]
        self.MEAS_LEN = length + self.bits_for_weight
        self.OUTPUT_LEN = length
        self.JOINT_RAND_LEN = self.GADGET_CALLS[0]

    def encode(self, measurement: list[bool]) -> list[int]:
        if not isinstance(measurement, list | tuple) or len(measurement) != self.length:
            raise ValueError(f"a MultihotCountVec measurement is a list of {self.length} booleans")
        if any(x not in (0, 1) for x in measurement):
            raise ValueError("a MultihotCountVec measurement holds only booleans (or 0/1)")
        count_vec = [int(x) for x in measurement]
        weight = sum(count_vec)
        if weight > self.max_weight:
            raise ValueError(f"measurement has weight {weight} > max_weight {self.max_weight}")
        return count_vec + encode_range_checked_int(self.field, weight, self.max_weight)

    def eval(self, meas: list[int], joint_rand: list[int], num_shares: int, call: GadgetCall) -> list[int]:
        f = self.field
        range_check = _range_check(f, meas, joint_rand, self.GADGET_CALLS[0], self.chunk_length, num_shares, call)
        weight = sum(meas[: self.length])
        reported = decode_range_checked_int(f, meas[self.length :], self.max_weight)
        return [range_check, (weight - reported) % f.MODULUS]

    def truncate(self, meas: list[int]) -> list[int]:
        return meas[: self.length]

    def decode(self, output: list[int], num_measurements: int) -> list[int]:
        return list(output)
