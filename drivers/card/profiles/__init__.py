"""Card profiles: one module per card generation, each with ``NAME`` and ``read_card(transmit, trusted_issuers)``."""
