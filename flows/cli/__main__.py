"""`python -m flows.cli`: the same as the `syndicate` command."""

from flows.cli import main

if __name__ == "__main__":  # importing this module (as a walk over every module does) runs nothing
    raise SystemExit(main())
