"""Entry point of ``python -m hybridnet_dev.armsim`` (see :mod:`hybridnet_dev.armsim.cli`)."""

import sys

from hybridnet_dev.armsim.cli import main

if __name__ == "__main__":
    sys.exit(main())
