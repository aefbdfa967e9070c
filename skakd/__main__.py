"""``python -m skakd``: the ``skakd`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
