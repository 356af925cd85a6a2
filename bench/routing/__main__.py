"""``python -m bench.routing``: see bench/routing/README.md."""

from bench.routing.cli import main

raise SystemExit(main())
