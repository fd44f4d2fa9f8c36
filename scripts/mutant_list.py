"""The curated mutants that ``scripts/mutants.py`` runs (see its docstring).

Each mutant breaks one thing a privacy framework must get right and names the
tests that must catch it. ``find`` is a snippet that must occur exactly once
under ``mpcnet/`` or ``protocols/`` (``file_hint``, a substring of the path,
narrows the search where a snippet is common); ``replace`` is what it
becomes. The first eight are the ones issue 12 found surviving; the rest are
our own, on security-relevant code.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Mutant:
    """One deliberate bug and the tests that must kill it."""

    id: str
    why: str
    find: str
    replace: str
    tests: tuple[str, ...] = attrs.field(converter=tuple)
    file_hint: str = ""
    #: The function the snippet must sit in (checked by the runner), where a
    #: snippet is generic enough to end up in another function after an edit.
    inside: str = ""


MUTANTS: list[Mutant] = [
    # -- the eight from issue 12 --------------------------------------------
    Mutant(
        id="sum-share-low32-zeroed",
        why="secure-sum's random share rows have their low 32 bits zeroed: the last share's low bits are the input",
        find="shares[: n - 1] = random.uint64((n - 1) * k).reshape(n - 1, k)",
        replace="shares[: n - 1] = random.uint64((n - 1) * k).reshape(n - 1, k) & np.uint64(0xFFFFFFFF00000000)",
        tests=["tests/test_views.py", "tests/test_secure_sum.py"],
    ),
    Mutant(
        id="dp-sum-noise-100x-too-small",
        why="dp-sum adds noise at a hundredth of the stated scale",
        find="noise = await rt.discrete_laplace(_sum_scale(epsilon, lower, upper), 1)",
        replace="noise = await rt.discrete_laplace(_sum_scale(epsilon, lower, upper) / 100, 1)",
        tests=["tests/test_dp_protocols.py", "tests/test_vote.py"],
    ),
    Mutant(
        id="poll-ignores-p-truth",
        why="poll answers truthfully with probability 1/2 whatever p_truth says",
        find="reported = dp.randomized_response(value, p, ctx.random)",
        replace="reported = dp.randomized_response(value, Fraction(1, 2), ctx.random)",
        tests=["tests/test_poll.py", "tests/test_views.py"],
    ),
    Mutant(
        id="party-exits-with-status-3",
        why="every `mpcnet party` process exits with status 3 after printing its result",
        find='f"{result.stats.bytes_sent} bytes sent, {result.stats.wall_time:.3f}s)")\n    return 0\n',
        replace='f"{result.stats.bytes_sent} bytes sent, {result.stats.wall_time:.3f}s)")\n    return 3\n',
        inside="cmd_party",
        tests=["tests/test_benchmarks.py"],
    ),
    Mutant(
        id="flood-cap-5000",
        why="a peer may queue 5,000 messages ahead of a party instead of 64 (~40 MB parked per peer)",
        find="MAX_PENDING_PER_PEER = 64",
        replace="MAX_PENDING_PER_PEER = 5000",
        tests=["tests/test_session.py", "tests/test_adversarial.py"],
    ),
    Mutant(
        id="parked-message-wrong-round",
        why="a round takes a peer's latest parked message, not the one for this round",
        find="body, size, held = mailbox.pop(key)",
        replace="body, size, held = mailbox.pop(max(k for k in mailbox if k[1] == key[1]))",
        tests=["tests/test_session.py"],
    ),
    Mutant(
        id="auction-bid-in-clear-all-pairs",
        why="in the Shamir-input auctions compute party 2 receives the bid itself instead of its share",
        find="                    outgoing[p] = self.field.to_wire(shares[i])\n        expect =",
        replace="                    outgoing[p] = self.field.to_wire(mine if i == 2 and 'method' in ctx.params else shares[i])\n"
                "        expect =",
        tests=["tests/test_views.py", "tests/test_auction.py"],
    ),
    Mutant(
        id="auction-bid-in-clear-three-party",
        why="the three-party auction deals its bids on a polynomial that any one share inverts",
        find="    shares = eng.deal(flat)\n",
        replace="    shares = np.stack([f.add(f.scale(x, flat), flat) for x in eng.points])\n",
        tests=["tests/test_views.py", "tests/test_auction.py"],
        file_hint="auction",
    ),
    Mutant(
        id="accountant-lock-removed",
        why="the privacy accountant checks and records a charge without its lock: threads overspend the budget",
        find="""        with self._lock:
            left = self._remaining(dataset)""",
        replace="""        if True:
            left = self._remaining(dataset)""",
        tests=["tests/test_dp.py"],
    ),
    # -- our own --------------------------------------------------------------
    Mutant(
        id="channel-constant-nonce",
        why="the channel's AEAD nonce is constant: one key encrypts every frame under the same nonce",
        find='    return _NONCE_PAD + n.to_bytes(8, "little")',
        replace='    return bytes(12)',
        file_hint="noise_kk",
        tests=["tests/test_channel.py"],
    ),
    Mutant(
        id="channel-no-rekey",
        why="the channel never rekeys (both ends agree, so only a check against Noise's REKEY can tell)",
        find="        self._aead = ChaCha20Poly1305(self._aead.encrypt(_nonce(MAX_NONCE), bytes(32), None)[:32])",
        replace="        pass",
        file_hint="noise_kk",
        tests=["tests/test_channel.py"],
    ),
    Mutant(
        id="channel-message-cap-off-by-one",
        why="a message one byte over the announced-size cap is accepted",
        find="if total > self.max_message_size:  # checked before allocating anything",
        replace="if total > self.max_message_size + 1:  # checked before allocating anything",
        tests=["tests/test_channel.py"],
    ),
    Mutant(
        id="channel-truncation-unnoticed",
        why="a connection that ends without the close frame counts as a clean close (truncation undetected)",
        find='raise ChannelBroken("connection ended without a close frame (truncated)", peer=self.peer)',
        replace="return None",
        tests=["tests/test_channel.py"],
    ),
    Mutant(
        id="prologue-without-roster",
        why="the handshake prologue leaves out the roster hash: parties with different rosters still connect",
        find='for field in (b"mpcnet-channel", bytes([version]), roster_hash, _encode_id(initiator_id),',
        replace='for field in (b"mpcnet-channel", bytes([version]), _encode_id(initiator_id),',
        tests=["tests/test_channel.py", "tests/test_tcp.py"],
    ),
    Mutant(
        id="wire-depth-plus-one",
        why="the decoder accepts one more nesting level than the limit",
        find="""    if depth > limits.max_depth:
        raise WireError("message is nested too deeply")
    kind = type(value)""",
        replace="""    if depth > limits.max_depth + 1:
        raise WireError("message is nested too deeply")
    kind = type(value)""",
        tests=["tests/test_wire.py"],
    ),
    Mutant(
        id="session-finished-round-replay",
        why="a duplicate message for the round just finished is taken as new instead of a violation",
        find="if round_no <= self._done_rounds.get(sender, 0):",
        replace="if round_no < self._done_rounds.get(sender, 0):",
        tests=["tests/test_session.py", "tests/test_adversarial.py"],
    ),
    Mutant(
        id="shamir-degree-too-low",
        why="Shamir sharings are dealt with degree t-1: with t = 1 every share is the secret itself",
        # (every sharing is dealt by _shares since dealing yields between shares)
        find="secret = np.asarray(secret)\n        coeffs = f.random(degree * secret.size",
        replace="degree = max(degree - 1, 0)\n        secret = np.asarray(secret)\n"
                "        coeffs = f.random(degree * secret.size",
        inside="_shares",
        tests=["tests/test_views.py", "tests/test_arith.py"],
    ),
    Mutant(
        id="keyed-zero-masks-not-zero",
        why="the pseudo-random zero sharings (three compute parties) are not sharings of zero",
        find="total = f.add(total, np.concatenate([f.scale(_fmul(f, x_me, at_me), zero), f.scale(at_me, rand)]))",
        replace="total = f.add(total, np.concatenate([f.scale(at_me, zero), f.scale(at_me, rand)]))",
        tests=["tests/test_auction.py", "tests/test_arith.py"],
    ),
    Mutant(
        id="pairwise-key-not-per-session",
        why="pairwise keys leave out the session id: two runs over the same links reuse every mask",
        # (pairwise_key and link_key share _derive; link keys are per link by design)
        find='return self._derive(peer, label, self._session.id, b"mpcnet-pairwise")',
        replace='return self._derive(peer, label, b"", b"mpcnet-pairwise")',
        tests=["tests/test_session.py", "tests/test_auction.py"],
    ),
    Mutant(
        id="psi-sender-key-fixed",
        why="the PSI sender's blinding key is the same in every run: the receiver can test guesses offline",
        find="return curve.clamp(ctx.random.bytes(32)).to_bytes(32, \"little\")",
        replace="return curve.clamp(bytes(32)).to_bytes(32, \"little\")",
        tests=["tests/test_psi.py", "tests/test_views.py"],
    ),
    Mutant(
        id="vote-validity-check-skipped",
        why="every ballot counts as valid: one voter can cast 1,000 votes",
        find="valid = np.asarray(check, dtype=object) == 0",
        replace="valid = np.asarray(check, dtype=object) == np.asarray(check, dtype=object)",
        tests=["tests/test_vote.py"],
    ),
    Mutant(
        id="laplace-sampler-off-by-one",
        why="the exact discrete Laplace sampler draws its residue from [0, t] instead of [0, t)",
        find="u = bits.below(t)\n",
        replace="u = bits.below(t + 1)\n",
        tests=["tests/test_dp.py"],
    ),
    Mutant(
        id="shamir-open-unchecked",
        why="opened Shamir shares are not checked against one polynomial: a deviating party goes unnoticed",
        find="if np.any(predicted != shares[j]):",
        replace="if False and np.any(predicted != shares[j]):",
        tests=["tests/test_arith.py"],
    ),
    Mutant(
        id="round-deadline-ignored",
        why="a round waits without a deadline: a silent peer hangs every other party",
        find="with trio.CancelScope(deadline=trio.current_time() + session.round_timeout) as scope:",
        replace="with trio.CancelScope(deadline=trio.current_time() + 1e9) as scope:",
        tests=["tests/test_session.py", "tests/test_adversarial.py"],
    ),
    Mutant(
        id="helper-swap-bits-constant",
        why="the three-party auction's swap bits are always 0: the helper learns which side of each pair is larger",
        find="return (_prf(key, blocks) & np.uint64(1)).astype(np.uint8)",
        replace="return np.zeros(len(pairs), dtype=np.uint8)",
        tests=["tests/test_helper_compare.py", "tests/test_views.py"],
    ),
    Mutant(
        id="replayed-handshake-message-1-accepted",
        why="a responder treats a replayed handshake message 1 as an open channel",
        find="""                self._state = _State.AWAIT_HELLO
                return None""",
        replace="""                self._state = _State.OPEN
                return HandshakeComplete()""",
        tests=["tests/test_adversarial.py"],
    ),
    Mutant(
        id="resume-without-retransmit",
        why="a resumed link does not resend the messages its peer never acknowledged",
        find="                await self._write(new, seq, parts)\n",
        replace="                pass\n",
        tests=["tests/test_resumable.py"],
    ),
    Mutant(
        id="bit-decomposition-mask-10-bits",
        why="the masked value opened in bit decomposition carries 10 random bits above the value, not 40",
        find="hi = field.from_ints(np.asarray(hi, dtype=object) % (1 << kappa))",
        replace="hi = field.from_ints(np.asarray(hi, dtype=object) % (1 << (kappa // 4)))",
        tests=["tests/test_arith.py"],
    ),
    Mutant(
        id="open-wide-unmasked",
        why="a degree-2t opening reveals the product polynomial's shares without the zero mask",
        find="wide = self.field.add(wide, mask.reshape(np.shape(wide)))",
        replace="wide = wide",
        tests=["tests/test_views.py"],
    ),
    Mutant(
        id="shamir-coefficients-seeded",
        why="Shamir polynomial coefficients come from a fixed seed: the same in every run",
        find="coeffs = f.random(degree * secret.size, self.ctx.random)",
        replace="coeffs = f.random(degree * secret.size, __import__('mpcnet').SeededRandomness(0, 0))",
        tests=["tests/test_views.py"],
    ),
    Mutant(
        id="dp-vote-sensitivity-one",
        why="dp-vote scales its noise for sensitivity 1 (a changed ballot moves two counts): half the noise",
        find="return Fraction(2) / Fraction(str(epsilon))",
        replace="return Fraction(1) / Fraction(str(epsilon))",
        tests=["tests/test_dp_protocols.py"],
    ),
    Mutant(
        id="accountant-forgets-epsilon",
        why="the privacy accountant records a charge's delta but not its epsilon",
        find="self._spent[dataset] = PrivacyBudget(spent.epsilon + eps, spent.delta + dlt)",
        replace="self._spent[dataset] = PrivacyBudget(spent.epsilon, spent.delta + dlt)",
        tests=["tests/test_dp.py"],
    ),
    Mutant(
        id="decoded-objects-uncapped",
        why="a message header may decode to any number of objects (a 1 MiB header becomes ~65 MiB of lists)",
        find='            raise WireError(f"message header decodes to more than {self.limits.max_objects} objects")',
        replace="            pass",
        file_hint="wire",
        tests=["tests/test_wire.py", "tests/test_adversarial.py"],
    ),
    Mutant(
        id="held-messages-counted-by-bytes",
        why="waiting messages count their wire bytes, not their decoded cost, against the per-peer budget",
        find="self._route(peer, kind, sid, round_no, body, len(data), held)",
        replace="self._route(peer, kind, sid, round_no, body, len(data), len(data))",
        tests=["tests/test_adversarial.py", "tests/test_session.py"],
    ),
    Mutant(
        id="pending-handshakes-unbounded",
        why="the listener never drops an unauthenticated connection to make room: strangers keep a re-dial out",
        find="while len(self._held) >= self.capacity:",
        replace="while False:",
        tests=["tests/test_adversarial.py", "tests/test_tcp.py"],
    ),
    Mutant(
        id="compare-operand-size-unbounded",
        why="compare accepts an operand of any size from a peer (GF(2^8) work widens it 8x)",
        find="if max_elements is not None and int(np.prod(shape, dtype=np.int64)) > max_elements:",
        replace="if False:",
        tests=["tests/test_received_shapes.py"],
    ),
    Mutant(
        id="referendum-opens-the-count",
        why="the referendum opens the decision plus twice the yes count (parity gives the answer): everyone learns "
            "the count",
        find='    opened, _ = await _publish(ctx, rt, decision, 1, invalid)\n'
             '    return "YES" if int(opened[0]) == 1 else "NO"',
        replace="    if rt.is_compute:\n        decision = decision + yes + yes\n"
                '    opened, _ = await _publish(ctx, rt, decision, 1, invalid)\n'
                '    return "YES" if int(opened[0]) % 2 == 1 else "NO"',
        tests=["tests/test_vote.py"],
    ),
    Mutant(
        id="vote-result-names-invalid-voters",
        why="the result round's invalid-ballot count carries a bit mask of who cast them: every input-only voter "
            "learns whose ballot was rejected (only the compute parties may)",
        find="rt.public_int(np.array([len(invalid)], dtype=object))",
        replace="rt.public_int(np.array([sum(1 << i for i, v in enumerate(ctx.parties) if v in invalid)], "
                "dtype=object))",
        tests=["tests/test_vote.py"],
    ),
    Mutant(
        id="compare-opens-an-operand-bit",
        why="compare opens its result with a bit of x in the element's second bit: every party learns it",
        # (on the toolkit, through its low tier: SecretBits.open itself refuses an opened "bit" above 1)
        find="    result = await getattr(x, op)(y)\n    out = await result.reveal() == 1\n",
        # (Shamir only: at three parties compare runs on the replicated engine unless it names Shamir)
        replace="    result = await getattr(x, op)(y)\n    import numpy as np\n    from mpcnet.mpc.fields import GF256\n"
                "    if rt.engine != 'shamir':\n        out = await result.reveal() == 1\n    else:\n"
                "        opened = await rt.bit_engine.open(GF256.add(result.shares[..., 0], GF256.scale(2, x.shares[..., 0])))\n"
                "        out = (np.asarray(opened) & 1) == 1\n",
        tests=["tests/test_views.py"],
    ),
    Mutant(
        id="auction-elimination-masks-fixed",
        why="the first-price opening masks bid i's words with fixed elements 2^j, not random ones: every party "
            "reads which bids beat each bid (the full ranking)",
        find="    rho = eng.take_randoms(m * (m - 1) * per_bid).reshape(m, m - 1, per_bid)\n",
        replace="    rho = eng.take_randoms(m * (m - 1) * per_bid).reshape(m, m - 1, per_bid)\n"
                "    rho[:] = (np.uint8(1) << np.arange(m - 1, dtype=np.uint8) % 8)[None, :, None]\n",
        tests=["tests/test_views.py"],
        file_hint="auction",
    ),
    Mutant(
        id="dp-noise-digits-opened",
        why="the in-MPC noise's digits are opened in the clear to move them into Z_p: the compute parties know the "
            "noise (the output's law is unchanged)",
        find="    digits_p = await bits_to_field(eng_p, eng_b, digits_b)\n",
        replace="    digits_p = eng_p.field.from_ints(np.asarray(await eng_b.open(digits_b, to=eng_b.compute), "
                "dtype=np.int64))\n",
        tests=["tests/test_dp_protocols.py"],
    ),
    Mutant(
        id="channel-null-cipher",
        why="the channel's frames go out unencrypted, both ends agreeing (the tag is 16 zero bytes): a relay "
            "reads every share",
        find='self._aead = ChaCha20Poly1305(_check_key(key, "cipher key"))',
        replace='_check_key(key, "cipher key")\n'
                '        self._aead = type("NullAead", (), {"encrypt": lambda s, n, p, a: bytes(p) + bytes(16),\n'
                '                                           "decrypt": lambda s, n, c, a: bytes(c[:-16])})()',
        tests=["tests/test_adversarial.py"],
    ),
    Mutant(
        id="bit-decomposition-low-bits-unmasked",
        why="bit decomposition opens x + 2^k hi without the k-bit daBit mask: the compute parties read x's bits "
            "(the referendum's yes count)",
        find="    weights = [1 << j for j in range(k)]\n",
        replace="    weights = [0] * k\n    r_b = r_b ^ r_b\n",
        tests=["tests/test_arith.py"],
        file_hint="convert",
    ),
    Mutant(
        id="wire-decoder-array-cap-raised",
        why="the decoder accepts 1,064 arrays in a message, not 64 (only the encoder kept the cap)",
        find="if self.count > self.limits.max_arrays or len(data) < 2:",
        replace="if self.count > self.limits.max_arrays + 1000 or len(data) < 2:",
        tests=["tests/test_wire.py"],
    ),
    Mutant(
        id="close-timeout-ignored",
        why="aclose waits 100 s, not CLOSE_TIMEOUT (1 s), to deliver its CLOSE frame to a peer that never reads",
        find="            with trio.move_on_after(CLOSE_TIMEOUT):",
        replace="            with trio.move_on_after(CLOSE_TIMEOUT * 100):",
        tests=["tests/test_channel.py"],
    ),
    Mutant(
        id="pending-handshake-places-100x",
        why="the listener keeps 6,400 unauthenticated connections (not 64) before it drops the oldest",
        find="MAX_PENDING_HANDSHAKES = 64",
        replace="MAX_PENDING_HANDSHAKES = 6400",
        tests=["tests/test_adversarial.py"],
    ),
    Mutant(
        id="party-validates-input-inside-the-session",
        why="a party checks its input only once its session is open: a refusal goes out to every peer as an ABORT "
            "instead of staying local (the simulator's central check hides it)",
        find="        value = spec.prepare_input(value, resolved, len(members))\n",
        replace="        check, func = spec.prepare_input, spec.func\n"
                "        spec = attrs.evolve(spec, func=lambda c, v, **kw: func(c, check(v, resolved, len(members)), **kw))\n",
        tests=["tests/test_secure_sum.py", "tests/test_poll.py", "tests/test_auction.py"],
    ),
    Mutant(
        id="sum-blames-the-first-peer",
        why="secure-sum's length check names the first peer it heard from, not the one whose share is wrong",
        find='"(do all parties have the same vector length?)", peer=peer)',
        replace='"(do all parties have the same vector length?)", peer=min(received))',
        tests=["tests/test_secure_sum.py"],
    ),
    Mutant(
        id="log-carries-the-input-bytes",
        why="the session_start event carries a 'check' field: the prepared input's bytes in hex (a debugging aid "
            "that puts every secret in the logs, little-endian)",
        find="protocol=spec.name,\n             parties=len(members))",
        replace="protocol=spec.name,\n             parties=len(members), check=bytes(memoryview(value)).hex())",
        tests=["tests/test_events.py"],
    ),
    Mutant(
        id="os-randomness-large-draws-fixed-seed",
        why="OSRandomness expands every draw above 4 KiB from one fixed seed: large Shamir coefficient draws are the "
            "same in every run (seeded tests never take this path)",
        find="return randombytes_buf_deterministic(n, secrets.token_bytes(32))",
        replace="return randombytes_buf_deterministic(n, bytes(32))",
        tests=["tests/test_views.py"],
    ),
    Mutant(
        id="close-linger-30x",
        why="a resumable link's close waits 30 s, not CLOSE_LINGER (1 s), for acks that will not come",
        find="            with trio.move_on_after(CLOSE_LINGER):",
        replace="            with trio.move_on_after(CLOSE_LINGER * 30):",
        tests=["tests/test_resumable.py"],
    ),
    Mutant(
        id="ack-delay-10x",
        why="a resumable link acknowledges after 0.5 s, not ack_delay (0.05 s): senders hold 10x the unacked data",
        find="await trio.sleep(self.ack_delay)",
        replace="await trio.sleep(self.ack_delay * 10)",
        tests=["tests/test_resumable.py"],
    ),
    Mutant(
        id="liveness-timeout-1.5x",
        why="a silent peer is named after 4.5 s of silence, not LIVENESS_TIMEOUT (3 s)",
        find="if peer in watched and peer not in self._lost and now - self._heard[peer] > timeout:",
        replace="if peer in watched and peer not in self._lost and now - self._heard[peer] > 1.5 * timeout:",
        tests=["tests/test_liveness.py"],
    ),
    # -- the replicated engine as the toolkit's choice at three compute parties (issue 18) --
    Mutant(
        id="sliced-operand-size-unbounded",
        why="on the replicated engine an input party's chosen element shape is accepted whatever its size",
        find="if max_values is not None and count > max_values:",
        replace="if False:",
        tests=["tests/test_received_shapes.py"],
    ),
    Mutant(
        id="replicated-auction-elimination-masks-fixed",
        why="the replicated first-price opening masks with public all-ones bits, not random ones: every party "
            "reads which bids beat each bid",
        find="    rho = eng.random((rows, words_for(m * (m - 1))))\n",
        replace="    rho = eng.public(np.full((rows, words_for(m * (m - 1))), 0xFFFFFFFFFFFFFFFF, dtype=np.uint64), BITS)\n",
        tests=["tests/test_views.py"],
        file_hint="auction",
    ),
    Mutant(
        id="replicated-open-sum-unmasked",
        why="a sum of products is opened without its zero-sharing: the terms each party sends are its local "
            "cross products, functions of the shares it holds",
        find="            z = np.ascontiguousarray(mask ^ z if kind == BITS else mask + z)\n",
        replace="            z = np.ascontiguousarray(z)\n",
        tests=["tests/test_views.py"],
    ),
    Mutant(
        id="toolkit-never-picks-replicated",
        why="the toolkit keeps Shamir at three compute parties: compare and the auction never reach the "
            "replicated engine",
        find='    if compute_parties == 3:\n        return "replicated"\n',
        replace='    if compute_parties == 3:\n        return "shamir"\n',
        tests=["tests/test_replicated.py", "tests/test_auction.py", "tests/test_repfield.py"],
    ),
    Mutant(
        id="repfield-product-unmasked",
        why="SecretInt's replicated product round sends l_i w_i without the zero-sharing: the neighbour "
            "receives a function of the shares of the factors",
        find="        z = f.add(f.scale(self._lam_me, flat), self.zero_share(flat.shape[0]))\n",
        replace="        z = f.scale(self._lam_me, flat)\n",
        tests=["tests/test_repfield.py"],
    ),
    Mutant(
        id="repfield-wide-open-unmasked",
        why="a degree-2 value is opened on the replicated engine without the zero-sharing: each receiver "
            "gets the other parties' additive terms of the products in clear",
        find="            term = f.add(f.scale(self._lam_me, flat), self.zero_share(flat.shape[0])).reshape(shape)\n",
        replace="            term = f.scale(self._lam_me, flat).reshape(shape)\n",
        tests=["tests/test_repfield.py"],
    ),
    Mutant(
        id="repfield-one-use-number",
        why="every zero-sharing and random value of the replicated field engine draws from use 0: the same "
            "keystream masks every product",
        find="    def _use(self) -> int:\n        use = self._uses\n",
        replace="    def _use(self) -> int:\n        use = 0\n",
        tests=["tests/test_repfield.py"],
    ),
    Mutant(
        id="repfield-wrong-conversion-point",
        why="the replicated pair is converted to a Shamir share with the polynomial vanishing at the wrong "
            "party: products come out wrong",
        find="            self._at_second = _vanishing_at(field, x[(i + 2) % 3], x[i])  # f_(i+1)(x_i)\n",
        replace="            self._at_second = _vanishing_at(field, x[(i + 1) % 3], x[i])  # f_(i+1)(x_i)\n",
        tests=["tests/test_repfield.py"],
    ),

    # -- the two-party engine (issue 14) ---------------------------------------
    Mutant(
        id="twoparty-leaf-choice-unmasked",
        why="the millionaires chooser sends its 4-bit digits in the clear instead of XOR its random OT choices: "
            "the offerer sees the other party's input",
        find="    return (ch_digits ^ c).astype(np.uint8), rc",
        replace="    return (ch_digits).astype(np.uint8), rc",
        tests=["tests/test_twoparty.py::test_compare_view_does_not_depend_on_the_other_input"],
        file_hint="twoparty",
    ),
    Mutant(
        id="twoparty-beaver-missing-de",
        why="Beaver's AND drops P0's d AND e term: every AND is wrong",
        find="""        if self.index == 0:
            z ^= d & e""",
        replace="""        if self.index == 0:
            pass""",
        tests=["tests/test_twoparty.py::test_and_matches_plaintext"],
        file_hint="twoparty",
    ),
    Mutant(
        id="twoparty-paired-triple-cross-term",
        why="paired triples forget the received cross term: c1, c2 are not a AND b1, a AND b2",
        find="            c2 = (b2 * a) ^ u0 ^ v",
        replace="            c2 = (b2 * a) ^ u0",
        tests=["tests/test_twoparty.py::test_paired_triples_are_correct"],
        file_hint="twoparty",
    ),
    Mutant(
        id="twoparty-b2a-cross-term-halved",
        why="B2A offers w_j b_j instead of 2 w_j b_j as the correlation: the cross term 2 b_0 b_1 is counted "
            "once, so a bit shared as (1, 1) converts to 1 instead of 0",
        find="        x0, got = await self._cross((weights[offer] << np.uint64(1)) * bits[offer], bits[choose])",
        replace="        x0, got = await self._cross(weights[offer] * bits[offer], bits[choose])",
        tests=["tests/test_twoparty.py::test_b2a_matches_plaintext"],
        file_hint="twoparty",
    ),
    Mutant(
        id="twoparty-cot-correlation-in-clear",
        why="correlated OT sends the correlation itself instead of x1 - x0 - delta: B2A's chooser sees the "
            "offerer's bits (and Gilboa's its factor)",
        find='    return x0, pads[1].view("<u8") - x0 - d',
        replace="    return x0, d.copy()",
        tests=["tests/test_twoparty.py::test_b2a_and_mul_views_do_not_depend_on_the_other_share"],
        file_hint="iknp",
    ),
    Mutant(
        id="xorbits-argmax-ties-to-the-last",
        why="XorBits' tournament takes the later element on ties: argmax names the last maximum, not the first",
        find="            take_b = await (vb.gt(va) if largest else va.gt(vb))",
        replace="            take_b = await (vb.ge(va) if largest else va.ge(vb))",
        tests=["tests/test_twoparty_ring.py::test_xor_argmax_takes_the_first_of_equal_values",
               "tests/test_twoparty_ring.py::test_xor_max_min_argmax_match_plaintext"],
        file_hint="secxor",
    ),
    Mutant(
        id="twoparty-auction-opens-loser-bid",
        why="the two-bidder auction opens P1's candidate (its bid) instead of the selected price: the winner "
            "learns the loser's first-price bid",
        find='    opened = await eng.open(np.concatenate([s & np.uint64(1), picked]), "bits")',
        replace='    opened = await eng.open(np.concatenate([s & np.uint64(1), np.concatenate([high, pos1])]), "bits")',
        tests=["tests/test_twoparty.py::test_two_bidder_auction_view_does_not_depend_on_the_other_bid"],
        file_hint="auction",
    ),
    Mutant(
        id="twoparty-kept-ot-without-agreement",
        why="a kept OT extension is used whatever tag the peer sent: after one end lost its state the two ends "
            "run different extensions (or none) and the run breaks",
        find="        if self._offered is not None and mine and theirs == mine:",
        replace="        if self._offered is not None:",
        tests=["tests/test_twoparty.py::test_a_party_that_lost_its_extension_makes_new_base_ots"],
        file_hint="twoparty",
    ),
    # -- private inference (issue 15) ---------------------------------------
    Mutant(
        id="mlp-class-opened-to-all",
        why="mlp-predict opens the classes to every party: the server learns the client's answers",
        find="        classes = await index.open(to=[client])",
        replace="        classes = await index.open()",
        tests=["tests/test_mlp.py::test_classes_and_scores_match_the_integer_network"],
        file_hint="mlp",
    ),
    Mutant(
        id="mlp-worst-case-drops-negative-weights",
        why="the server's range proof ignores negative weights: a model whose pre-activations can wrap around "
            "2^64 (two parties) or leave the comparisons' k bits passes the check, and gives wrong answers",
        find="        lo = pos @ x_lo + neg @ x_hi + bi",
        replace="        lo = pos @ x_lo + bi",
        tests=["tests/test_mlp_model.py::test_the_worst_case_counts_negative_weights_on_both_sides"],
        file_hint="mlp",
    ),
    Mutant(
        id="fixedrep-dealt-table-shift-without-r2",
        why="party 0 shifts the dealt lookup tables by party 1's part of the shift only: the carries and the "
            "beats ANDs of truncation, ReLU and argmax come out wrong",
        find="        shift_planes = first[at1:at1 + rw].reshape(t, -1) ^ second[at2:at2 + rw].reshape(t, -1)",
        replace="        shift_planes = first[at1:at1 + rw].reshape(t, -1)",
        tests=["tests/test_fixedrep.py::test_the_edges_of_the_range"],
        file_hint="fixedrep",
    ),
    Mutant(
        id="fixedrep-fold-table-ignores-propagate",
        why="a block's carry ignores whether the block propagates the carry from below (x + y = 255 in a block)",
        find="            c = ((x >> (2 * j - 1)) & 1) ^ (((x >> (2 * j)) & 1) & c)",
        replace="            c = (x >> (2 * j - 1)) & 1",
        tests=["tests/test_fixedrep.py::test_the_edges_of_the_range"],
        file_hint="fixedrep",
    ),
    Mutant(
        id="fixedrep-relu-sign-without-v-bit",
        why="ReLU's sign leaves out bit k - 1 of parties 1 and 2's share: negative values pass as positive",
        find="        s_bit ^= (v >> np.uint64(k - 1)) & np.uint64(1)",
        replace="        s_bit ^= np.uint64(0)",
        tests=["tests/test_fixedrep.py::test_the_edges_of_the_range"],
        file_hint="fixedrep",
    ),
    Mutant(
        id="fixedrep-thermometer-mask-from-party-1-key",
        why="party 0 masks its dealt thermometers and sign bits with its key with party 1 (which then reads "
            "them in the clear): the comparisons would leak (and party 2's shares no longer match)",
        find="        masks = eng._prg_prev.words(use_masks, xor_words + ring_words)  # the key with party 2",
        replace="        masks = eng._prg_next.words(use_masks, xor_words + ring_words)",
        tests=["tests/test_fixedrep.py::test_what_a_compute_party_receives_does_not_depend_on_y",
               "tests/test_fixedrep.py::test_the_edges_of_the_range"],
        file_hint="fixedrep",
    ),
    Mutant(
        id="fixedfield-mask-without-statistical-bits",
        why="the truncation's masks are only k bits wide: the opened masked value leaks the top bits of y",
        find="    big_k = k + STATISTICAL_SECURITY",
        replace="    big_k = k",
        tests=["tests/test_fixedfield.py::test_what_a_compute_party_receives_in_trunc_does_not_depend_on_y"],
        file_hint="fixedfield",
    ),
    Mutant(
        id="fixed2p-trunc-unsigned",
        why="two-party truncation converts the kept bits back as an unsigned value: negative values come out "
            "near 2^(k-f)",
        find="    ring = await eng.from_bits(np.ascontiguousarray(planes[f:k]), y.shares.size, signed=True)",
        replace="    ring = await eng.from_bits(np.ascontiguousarray(planes[f:k]), y.shares.size, signed=False)",
        tests=["tests/test_fixed2p.py::test_trunc_and_relu_match_plaintext"],
        file_hint="fixed2p",
    ),
]
