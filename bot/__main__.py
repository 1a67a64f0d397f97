"""`python -m bot <command>`: the command line lives in bot/cli."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main())
