"""The protocol author's toolkit: secret values that know their sharing.

A protocol creates one :class:`Runtime` (its compute parties, its
threshold) and works with secret values over numpy arrays of any shape:

* :class:`SecretInt` — integers Shamir-shared over Z_(2^127-1), with a known
  range ``[lo, hi]`` (interval arithmetic keeps it through every operation)
  and a degree (t, or 2t after a local product); with exactly three compute
  parties (``engine="auto"``) its products, wide openings and random values
  use replicated sharing over the same field (:mod:`mpcnet.mpc.repfield`:
  the same values and results, a product costs each party one element to one
  neighbour, random values no message);
* :class:`SecretBits` — k-bit integers held bit by bit in GF(2^8), signed
  (two's complement) or not; comparison results are 1-bit values;
* :class:`SecretRing` — signed integers additively shared mod 2^64 among the
  compute parties: sums private against all but one of them (c - 1
  colluders, not t), linear work only; with exactly two parties, both
  computing, also products, comparisons and conversion to and from
  :class:`XorBits` on the two-party engine;
* :class:`SlicedBits` — k-bit integers among exactly three compute parties,
  bit-sliced replicated shares (:mod:`mpcnet.mpc.replicated`, Araki et al.
  CCS 2016): comparisons at about 11 bytes per 32-bit comparison per party
  (its rounds: :mod:`mpcnet.mpc.secsliced`). What ``Runtime.input_bits``
  makes when there are exactly three compute parties (``Runtime(engine=
  "auto")``, :func:`choose_engine`; ``engine="shamir"`` keeps SecretBits);
  ``Runtime.input_sliced`` asks for it by name;
* :class:`XorBits` — the same between exactly two parties, with no dealer
  (:mod:`mpcnet.mpc.twoparty`: XOR shares, Beaver triples and 1-out-of-16
  OTs from the OT extension of :mod:`mpcnet.mpc.ot`): what ``input_bits``
  makes when the runtime has two parties and no other (``engine="twoparty"``
  by name; ``Runtime.input_xor``).

* :class:`SecretFixed` — reals at a public scale 2^f (16 fractional bits by
  default) on the integers above: SecretRing with two parties, replicated
  shares mod 2^64 with three compute parties (``engine="auto"``:
  :mod:`mpcnet.mpc.fixedrep`), SecretInt with more or with
  ``engine="shamir"`` (:mod:`mpcnet.mpc.fixed`); exact matrix products,
  exact floor truncation, ReLU and argmax (:mod:`mpcnet.mpc.fixed2p`,
  :mod:`mpcnet.mpc.fixedrep`, :mod:`mpcnet.mpc.fixedfield`);
  ``Runtime.input_fixed`` makes them.

Local work is written with operators, and costs no round: ``+ -`` between
secrets and with public values, ``*`` and ``@`` by public values,
``x.mul_wide(y)`` (a degree-2t product), ``^`` and ``~`` on bits, indexing and
slicing (``x[i]``, ``x[mask]``, ``x[:, None]``), :func:`concatenate`,
:func:`stack`, ``.sum(axis)``. Whatever costs rounds is an awaited method,
so it cannot be forgotten: ``<``, ``==`` and friends raise a TypeError
saying to write ``await x.lt(y)``, as a secret's truth value does.

Rounds (one call handles any number of elements in the same rounds; k is
the bit length, t the threshold):

====================================  =============================================
``Runtime.input_int / input_bits``    1 (input parties deal to compute parties)
``SecretInt.mul``, ``reduce``         1 (Gennaro-Rabin-Rabin degree reduction)
``SecretInt.select``                  1 (``b + s (a - b)``)
``SecretInt.open``                    1 (degree t; degree 2t with a mask set aside
                                      by ``Runtime(wide_opens=)``, else 2)
``SecretInt.lt`` ... ``ne``           values input with ``onehot=True``: 1 +
                                      ceil(log2 ceil(k/4)) (4 for 32 bits), eq/ne
                                      excepted; otherwise the top bit of
                                      ``x - y + 2^k`` by bit decomposition, then
                                      moved back into the field:
                                      (1 + ceil(log2(t+1))) + 1 + ceil(log2(k+1))
                                      + (1 + ceil(log2(t+1))) + 1
``SecretInt.onehot``                  ceil(log2(hi - lo)) (powers, then Lagrange)
``SecretInt.to_bits``                 bit decomposition (:mod:`mpcnet.mpc.convert`)
``SecretBits.lt/le/gt/ge``            1 + ceil(log2 k);  ``eq/ne``: ceil(log2 k)
``SecretBits.select``                 1
``SecretBits.max/min/argmax``         ceil(log2 n) x (2 + ceil(log2 k))
                                      (the same for SlicedBits, whose table is in
                                      :mod:`mpcnet.mpc.secsliced`, and XorBits, with
                                      triples made beforehand)
``SecretBits.to_int``                 1 + ceil(log2(t+1)) + 1 (one daBit per bit)
``SecretBits.open``                   1
``Runtime.random_int``                1
``Runtime.input_ring``                1;  ``SecretRing.open``: 1 (the secure-sum pattern)
``SecretRing.mul`` (two parties)     2 (Gilboa's correlated-OT product; the rest of
                                      the two-party table is in :mod:`mpcnet.mpc.secring`)
``SecretRing.to_bits`` (two parties)  1 + ceil(log2 k) (A2B, to :class:`XorBits`)
``SecretRing.lt`` ... (two parties)   lt/le/gt/ge 1 + ceil(log2 k); eq/ne 1 + 2 ceil(log2 k)
``XorBits.to_ring`` (B2A)             2 (0 for a value one party owns)
``XorBits.lt`` ... ``open``           see :mod:`mpcnet.mpc.secxor`
``Runtime.discrete_laplace``          see :mod:`mpcnet.mpc.laplace`
``fixedfield.matmul``                 0 (a wide result: its reduction is folded into
                                      the next function's opening)
``fixedfield.trunc`` (exact floor)    1 + T + 1 + L + 1 + ceil(log2(f + e - 1)) + 1
                                      (11 at t = 1, f = 16), T = ceil(log2(t+1)),
                                      e = bitlen(t+1), L = 1 at t = 1, 2 at t = 2
``fixedfield.relu_trunc`` (exact)     1 + T + 1 + L + 1 + ceil(log2(k + e - 2)) + 2
                                      (13 at t = 1, 35 <= k <= 66)
``fixedfield.argmax``                 1 + 1 + L + 1 + ceil(log2 k) + 1 + ceil(log2 k)
                                      + ceil(log2(n-1)) for n <= 32 (21 at t = 1,
                                      k = 46, n = 10; +1 wide on Shamir)
``fixedrep.matmul`` (three parties)   1 (a reshare)
``fixedrep.trunc`` / ``relu_trunc``   2 + ceil(log2 k) + 2 / + 3 (10 / 11 at k = 49)
``fixedrep.argmax``                   2 + ceil(log2 k) + ceil(log2(n-1)) - 1 for 3 <= n <= 32
                                      (11 at k = 49, n = 10; its last AND round is the opening's)
====================================  =============================================

The values are thin: each operation calls the engines of
:mod:`mpcnet.mpc.shamir`, :mod:`mpcnet.mpc.binary` and :mod:`mpcnet.mpc.convert` exactly
as a hand-written protocol would, so a protocol on the toolkit sends the
same messages (the built-in ``compare``, ``vote``, ``referendum`` and
``dp-sum`` send byte for byte what they sent before they moved onto it).
:class:`ShamirEngine` (re-exported here) stays public as the low tier for
hand-tuned paths (``Runtime.field_engine``, ``Runtime.bit_engine``).

Parties outside the compute parties (input-only parties) run the same code:
they give input, hold *absent* values (no shares) on which every operation
returns at once without a round, and receive openings addressed to them at
an agreed result round (:data:`RESULT_ROUND`), since they do not know how
many rounds the computation took.

:mod:`mpcnet.mpc.roles` splits the parties into input and compute parties
(a protocol's ``compute_parties`` parameter); :mod:`mpcnet.mpc.inputs`
checks integer inputs against a bit length.

The math under the values, public for hand-tuned protocols (the low tier):
:mod:`~mpcnet.mpc.fields` (GF(2^8) and prime fields), :mod:`~mpcnet.mpc.shamir`
(:class:`ShamirEngine`), :mod:`~mpcnet.mpc.binary` (boolean circuits on
shared bits), :mod:`~mpcnet.mpc.convert` (between bits and field elements),
:mod:`~mpcnet.mpc.arith` (additive sharing mod 2^64) and
:mod:`~mpcnet.mpc.laplace` (discrete Laplace noise generated inside MPC);
:mod:`~mpcnet.mpc.fixedfield` has the fixed-point layers over the field
(matrix product, exact truncation and ReLU, argmax) for private inference,
:mod:`~mpcnet.mpc.fixedrep` the same on the three-party replicated ring.

:func:`exchange` with :class:`Expect` is the typed receive for a protocol's
own messages: every incoming value is checked (shape, dtype, range) before
the protocol sees it.

Security: semi-honest, honest majority (Shamir with ``c >= 2t + 1`` compute
parties): any t compute parties together learn nothing but what is opened to
them; a comparison by bit decomposition hides the compared values up to
statistical distance 2^-40 (:data:`mpcnet.mpc.convert.STATISTICAL_SECURITY`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from . import arith, binary, convert, fields, fixed, fixed2p, fixedfield, fixedrep, inputs, laplace, roles, shamir, twoparty
from .fixed import SecretFixed
from .receive import Expect, exchange
from .runtime import ENGINES, RESULT_ROUND, Runtime, Shape, choose_engine, engine_problem, int_bounds
from .secbits import SecretBits, concat_bits, stack_bits
from .secint import SecretInt, concat_ints, stack_ints
from .secring import SecretRing, concat_rings
from .secsliced import SlicedBits, argmax_first, concat_sliced
from .secxor import XorBits
from .shamir import ShamirEngine

__all__ = ["Runtime", "SecretInt", "SecretBits", "SecretRing", "SlicedBits", "XorBits", "SecretFixed", "concatenate", "stack",
           "Expect", "exchange", "RESULT_ROUND", "Shape", "int_bounds", "ENGINES", "choose_engine",
           "engine_problem", "ShamirEngine",
           "argmax_first", "concat_sliced",
           # the toolkit's modules
           "arith", "binary", "convert", "fields", "fixed", "fixed2p", "fixedfield", "fixedrep", "inputs", "laplace", "roles",
           "shamir", "twoparty"]

V = TypeVar("V", SecretInt, SecretBits, SecretRing)


def concatenate(values: Sequence[V], axis: int = 0) -> V:
    """Join secret values of one kind along an existing element axis (local)."""
    if not values:
        raise ValueError("nothing to concatenate")
    if all(isinstance(v, SecretInt) for v in values):
        return concat_ints(values, axis)  # type: ignore[arg-type,return-value]
    if all(isinstance(v, SecretBits) for v in values):
        return concat_bits(values, axis)  # type: ignore[arg-type,return-value]
    if all(isinstance(v, SecretRing) for v in values):
        return concat_rings(values, axis, stack=False)  # type: ignore[arg-type,return-value]
    raise TypeError("concatenate takes values of one kind")


def stack(values: Sequence[V], axis: int = 0) -> V:
    """Stack secret values of one kind along a new element axis (local)."""
    if not values:
        raise ValueError("nothing to stack")
    if all(isinstance(v, SecretInt) for v in values):
        return stack_ints(values, axis)  # type: ignore[arg-type,return-value]
    if all(isinstance(v, SecretBits) for v in values):
        return stack_bits(values, axis)  # type: ignore[arg-type,return-value]
    if all(isinstance(v, SecretRing) for v in values):
        return concat_rings(values, axis, stack=True)  # type: ignore[arg-type,return-value]
    raise TypeError("stack takes values of one kind")
