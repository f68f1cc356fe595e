"""`python -m flows.cli`: the same as the `syndicate` command."""

from flows.cli import main

raise SystemExit(main())
