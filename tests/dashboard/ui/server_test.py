"""Where the dashboard may listen, and who may open its websocket."""

from __future__ import annotations

import pytest

from livedata.cli.dashboard import main
from livedata.dashboard.ui.server import (
    NotLoopbackError,
    check_address,
    is_loopback,
    websocket_origins,
)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_addresses_are_served(address: str) -> None:
    assert is_loopback(address)
    check_address(address)


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.5", "::", "example.org", ""])
def test_other_addresses_are_refused_until_there_is_authentication(address: str) -> None:
    with pytest.raises(NotLoopbackError, match="authentication"):
        check_address(address)


def test_the_websocket_accepts_only_the_served_origin() -> None:
    assert websocket_origins("127.0.0.1", 5009) == ["127.0.0.1:5009", "localhost:5009"]
    assert websocket_origins("::1", 5009) == ["[::1]:5009"]


def test_the_cli_refuses_a_public_address_with_a_clear_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--instrument", "dummy", "--address", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "no authentication yet" in err
    assert "issue 7" in err
