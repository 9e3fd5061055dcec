"""Everything simulated: the synthetic roll and its biometrics, the test card issuer and virtual cards, steering
of the simulated devices, the demo and the simulated ID authority. Fenced: only ``station.cli``,
``station.runtime`` and tests import this room; production code never does."""
