"""An instrument team's own package: a small SANS instrument called ``example``."""

from livedata.config.fake_models import FakeBeam, SmallAngleSample
from livedata.config.geometry import FlatBank
from livedata.config.instrument import DetectorBank, Instrument, LogSignal, Monitor
from livedata.core.workflow import WorkflowRegistry


def instrument() -> Instrument:
    """The ``livedata.instruments`` entry point: build the instrument, nothing else."""
    return Instrument(
        name="example",
        detectors=(
            DetectorBank(
                name="panel",
                shape=(64, 64),
                dims=("y", "x"),
                first_pixel_id=1,
                # 64 x 64 pixels of 8 mm, 4 m behind the sample, across the beam.
                geometry=FlatBank(
                    center=(0.0, 0.0, 4.0), roles=("y", "x"), pitch=(0.008, 0.008, 0.0)
                ),
            ),
        ),
        monitors=(Monitor(name="incident_monitor", position=(0.0, 0.0, -1.0)),),
        logs=(LogSignal(name="sample_temperature", unit="K", valid_range=(2.0, 350.0)),),
        build_workflows=_build_workflows,
        source_position=(0.0, 0.0, -10.0),
        fake_beam=FakeBeam(wavelength_band=(2.0, 10.0)),
        fake_sample=SmallAngleSample(correlation_length=30.0),
    )


def _build_workflows(inst: Instrument) -> WorkflowRegistry:
    from livedata_example.factories import build_workflows  # deferred: no work on import

    return build_workflows(inst)
