"""Test tooling that ships with mpcnet: a fault-injecting TCP proxy
(:mod:`mpcnet.testing.faultproxy`) and a network-namespace test bed
(:mod:`mpcnet.testing.netns`). Nothing here is used by a normal run."""
