"""livedata: live reduction and display of neutron-instrument data streamed through Kafka."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("livedata")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
