"""Run: ``python -m livedata.services.fake_producers --instrument dummy``."""

import sys

from livedata.services.fake_producers.cli import main

if __name__ == "__main__":
    sys.exit(main())
