"""The network stack (private): everything below a session.

``wire`` (the msgpack codec), ``noise_kk`` (the Noise_KK handshake and
cipher), ``channel`` (the sans-IO channel state machine), ``securelink``
(the channel over a trio stream), ``resumable`` (a link that survives a
broken connection), ``tcp`` (the TCP mesh) and ``transport`` (the
:class:`PeerLink` interface and the in-memory mesh for simulations).
Nothing here knows about sessions, protocols or secret sharing; only
``mpcnet``'s runtime imports it (``mpcnet.wire`` is its one public module).
"""
