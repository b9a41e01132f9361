"""Security fixes we rely on from our dependencies are really installed."""

from importlib.metadata import version


def _release(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def test_the_installed_bokeh_has_the_websocket_origin_fix() -> None:
    # CVE-2026-21883: bokeh before 3.8.2 let other origins open the websocket.
    assert _release(version("bokeh")) >= (3, 8, 2)


def test_release_numbers_compare_as_numbers() -> None:
    assert _release("3.10.0") > _release("3.8.2")
    assert _release("3.8.1") < (3, 8, 2)
