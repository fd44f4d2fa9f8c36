"""The unanimous referendum: counts expose every voter, a threshold decision does not.

With `vote` the tally is exact: if it is 7-0, everyone knows how each of the
seven voted. `referendum` opens only YES/NO ("at least half voted yes"), so
a unanimous YES looks exactly like a 4-3 YES.

    python examples/referendum_unanimity.py
"""

import mpcnet

unanimous = [True] * 7
close_call = [True, True, False, True, False, True, False]

tally = mpcnet.simulate("vote", [1 if b else 0 for b in unanimous], params={"options": 2}).outputs[0]
print(f"vote (exact tally): no={tally[0]} yes={tally[1]}  -> every voter's choice is now known")
for label, ballots in (("unanimous", unanimous), ("4 to 3", close_call)):
    decision = mpcnet.simulate("referendum", ballots).outputs[0]
    print(f"referendum, {label:9}: {decision}")
print("the two referenda print the same thing: the decision reveals nothing more")
