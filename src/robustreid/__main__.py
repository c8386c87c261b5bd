"""``python -m robustreid``: the command line, also as torchrun starts it (``torchrun ... -m robustreid train``)."""

import sys

from robustreid.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
