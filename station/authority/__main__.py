"""``python -m station.authority simulate|check|flush|queue ...`` (the ``station authority`` commands)."""
from station.cli.authority import main

main()
