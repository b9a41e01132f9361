"""The ``livedata`` command line: broker, services, fakes, the demo stack, result tailing."""
