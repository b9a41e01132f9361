"""The ``monitor_data`` service.

Run: ``python -m livedata.services.monitor_data --instrument dummy --dev``.
"""

import sys

from livedata.services.runner import main

if __name__ == "__main__":
    sys.exit(main(service_name="monitor_data"))
