"""The four engineers' average raise (the article's first example).

Alice, Bob, Carlos and David learn their average raise without anyone seeing
another's raise. All four parties run here, over Noise-encrypted TCP on
127.0.0.1; in a real deployment each runs `mpcnet party` on its own machine.

    python examples/four_engineers.py
"""

import mpcnet

RAISES = {"alice": 3800, "bob": 2514, "carlos": 2982, "david": 3390}

result = mpcnet.simulate("secure-average", list(RAISES.values()), names=list(RAISES), transport="tcp",
                         record_views=True)
for name, res in zip(RAISES, result.results, strict=True):
    print(f"{name:7} raise {RAISES[name]:5}  vs team average {res.output:8.1f}  "
          f"({'above' if RAISES[name] > res.output else 'below'}); received {len(res.view)} random-looking numbers")
print(f"average raise: {result.outputs[0]}")
