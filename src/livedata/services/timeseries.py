"""The ``timeseries`` service.

Run: ``python -m livedata.services.timeseries --instrument dummy --dev``.
"""

import sys

from livedata.services.runner import main

if __name__ == "__main__":
    sys.exit(main(service_name="timeseries"))
