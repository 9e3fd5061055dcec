"""``python -m station.authority simulate|check|flush|queue ...`` (the ``station authority`` commands)."""
from ..cli_authority import main

main()
