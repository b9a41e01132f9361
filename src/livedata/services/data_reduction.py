"""The ``data_reduction`` service.

Run: ``python -m livedata.services.data_reduction --instrument dummy --dev``.
"""

import sys

from livedata.services.runner import main

if __name__ == "__main__":
    sys.exit(main(service_name="data_reduction"))
