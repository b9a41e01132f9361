"""Finding instruments through the ``livedata.instruments`` entry-point group."""

from __future__ import annotations

from importlib.metadata import entry_points

from livedata.config.instrument import Instrument

ENTRY_POINT_GROUP = "livedata.instruments"


class UnknownInstrumentError(LookupError):
    pass


def available_instruments() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def load_instrument(name: str) -> Instrument:
    """Build an instrument by its entry-point name (each entry point is a builder function)."""
    matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not matches:
        raise UnknownInstrumentError(
            f"unknown instrument {name!r}; installed: {available_instruments()}"
        )
    instrument = matches[0].load()()
    if not isinstance(instrument, Instrument) or instrument.name != name:
        raise TypeError(f"entry point {name!r} did not build an Instrument named {name!r}")
    return instrument
