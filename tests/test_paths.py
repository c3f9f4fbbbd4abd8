import pytest

from shared.failover.paths import ActivePath, active_path


@pytest.mark.parametrize(
    ("expressroute", "vpn", "expected"),
    [
        ("Connected", "Connected", ActivePath.EXPRESSROUTE),
        ("Connected", "NotConnected", ActivePath.EXPRESSROUTE),
        ("NotConnected", "Connected", ActivePath.VPN),
        (None, "Connected", ActivePath.VPN),
        ("Connecting", "Connecting", ActivePath.NONE),
        ("NotConnected", None, ActivePath.NONE),
        (None, None, ActivePath.NONE),
    ],
)
def test_active_path(expressroute, vpn, expected):
    assert active_path(expressroute, vpn) is expected
