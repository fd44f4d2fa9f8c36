"""A sealed-bid auction: the winner and the price are public, losing bids are not.

Three compute parties (say, three independent notaries) run the auction;
the bidders only send their sealed bids (secret shares) and get the result.
First-price, then second-price (Vickrey) on the same bids.

    python examples/sealed_bid_auction.py
"""

import mpcnet

BIDDERS = ["acme", "globex", "initech", "umbrella", "hooli"]
BIDS = [1_250_000, 1_310_000, 990_000, 1_310_000, 1_180_000]  # a tie at the top: lower index wins
NOTARIES = ["notary-a", "notary-b", "notary-c"]

names = NOTARIES + BIDDERS
inputs = [None] * len(NOTARIES) + BIDS
for kind in ("first-price", "second-price"):
    result = mpcnet.simulate("auction", inputs, names=names, params={"kind": kind, "compute_parties": 3, "bits": 24})
    out = result.outputs[0]
    print(f"{kind:12}: winner {names[out['winner']]}, pays {out['price']:,} "
          f"({result.stats[0].rounds} rounds; a bidder took part in {result.stats[-1].rounds})")
