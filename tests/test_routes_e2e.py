"""Route truth end to end: the simulator's BGP knobs, the real SDKs, records in a real Azurite.

Each scenario of issue 14 ends in exactly one new failover-history row of the right kind (read back
with `hybridnet failovers --json`), the matching health status, and its reversal in the paired row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared import cli
from shared.report.html import render_html
from shared.report.schema import SCHEMA_VERSION
from shared.services.failover import check_site
from shared.services.health import health_report, poll_sites
from shared.services.reconciler import reconcile
from shared.settings import Settings
from tests.e2e_support import SECOND_PREFIX, Clock, SiteNet, net_fixtures, site_on_simulator, site_spec
from tests.stack import APPLIANCE, CIRCUIT


class Net(SiteNet):
    def check(self, routes: str = "now") -> Any:
        self.clock.advance()
        return check_site(self.settings, self.site, "poll", now=self.clock, routes=routes)

    def history(self, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
        capsys.readouterr()
        assert cli.main(["failovers", "--site", self.site.name, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    def health(self) -> dict[str, Any]:
        poll_sites(self.settings, [self.site], now=self.clock)
        report, _status = health_report(self.settings, site=self.site.name, now=self.clock)
        (site,) = report["sites"]
        return site

    def enable_vpn_bgp(self) -> None:
        """BGP over the site-to-site VPN (gateway, connection, local network gateway), set out of band
        as an operator would: the appliance's announcements then reach the VPN gateway."""
        self.control.patch_resource(
            self.rid("virtualNetworkGateways", self.site.vpn.gateway.name), {"enableBgp": True}
        )
        self.control.patch_resource(
            self.rid("connections", self.site.vpn.connection.name), {"enableBgp": True}
        )
        self.control.patch_resource(
            self.rid("localNetworkGateways", self.site.vpn.local_network_gateway.name),
            {"bgpSettings": {"asn": 65010, "bgpPeeringAddress": "192.168.255.1", "peerWeight": 0}},
        )


def _net(azurite: Any, tmp_path: Path, prefixes: list[str]) -> Iterator[Net]:
    path, spec = site_spec(tmp_path, name="routes", prefixes=prefixes)
    with site_on_simulator(
        azurite,
        path,
        spec,
        HYBRIDNET_ROUTES_MIN_SECONDS="0",
        HYBRIDNET_FAILOVER_EVIDENCE_TIMEOUT="20",
    ) as (settings, site, control, info):
        net = Net(settings, site, control, info, Clock())
        assert net.check().outcome == "baseline"
        yield net


net, net2 = net_fixtures(_net)


def _new(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen = {e["eventId"] for e in before}
    return [e for e in after if e["eventId"] not in seen]


def test_bgp_withdrawn_while_connected_is_a_failover_and_its_return_a_failback(net, capsys):
    assert net.health()["status"] == "healthy"
    net.control.set_circuit(CIRCUIT, advertise=[])  # on-premises announces nothing over ExpressRoute
    before = net.history(capsys)
    result = net.check()
    assert result.outcome == "recorded"
    (row,) = _new(before, net.history(capsys))
    assert (row["kind"], row["fromPath"], row["toPath"]) == ("failover", "expressroute", "vpn")
    assert row["expressRouteStatus"] == "Connected"  # the connection never said a word
    assert row["evidence"]["cause"] == "routes-withdrawn"
    assert row["evidence"]["withdrawnPaths"] == ["expressroute"]
    prefix_rows = {r["prefix"]: r for r in row["evidence"]["routes"]["prefixes"]}
    assert prefix_rows["10.10.0.0/16"]["carriedBy"]["path"] == "vpn"
    assert net.check().outcome == "routes-updated"  # steady: nothing new is recorded
    site = net.health()
    assert (site["status"], site["activePath"]) == ("failover", "vpn")
    assert "routes are withdrawn" in site["reason"]
    assert site["routes"]["withdrawn"] == ["expressroute"]

    net.control.set_circuit(CIRCUIT, advertise=["10.10.0.0/16"])
    before = net.history(capsys)
    assert net.check().outcome == "recorded"
    (back,) = _new(before, net.history(capsys))
    assert (back["kind"], back["toPath"]) == ("failback", "expressroute")
    assert back["durationSeconds"] == 120.0  # failover check -> steady check -> this one
    assert net.health()["status"] == "healthy"


def test_status_poll_keeps_the_route_verdict_until_the_next_route_check(net, capsys):
    net.control.set_circuit(CIRCUIT, advertise=[])
    assert net.check().outcome == "recorded"
    # a status-only poll sees both connections Connected, yet must not record a failback
    assert net.check(routes="never").outcome == "unchanged"
    assert [e["kind"] for e in net.history(capsys)] == ["failover"]


def test_more_specific_vpn_prefix_is_backup_preferred_and_its_withdrawal_clears_it(net, capsys):
    net.enable_vpn_bgp()
    net.control.set_appliance(APPLIANCE, advertise=["10.10.1.0/24"])
    before = net.history(capsys)
    assert net.check().outcome == "recorded"
    (row,) = _new(before, net.history(capsys))
    assert (row["kind"], row["subject"]) == ("backup-preferred", "10.10.1.0/24")
    assert (row["fromPath"], row["toPath"]) == ("expressroute", "expressroute")
    assert row["evidence"]["prefixes"][0]["carriedBy"]["path"] == "vpn"
    site = net.health()
    assert site["status"] == "degraded"
    assert "backup preferred for 10.10.1.0/24" in site["reason"]
    table = {r["prefix"]: r for r in site["routes"]["prefixes"]}
    assert table["10.10.1.0/24"]["state"] == "backup-preferred"
    assert table["10.10.1.0/24"]["alternative"]["path"] == "expressroute"
    assert table["10.10.0.0/16"]["carriedBy"]["path"] == "expressroute"
    assert table["10.10.1.0/24"]["since"] == net.clock.now.isoformat()
    report, _ = health_report(net.settings, site=net.site.name, now=net.clock)
    page = render_html(report)
    assert (
        "Routes per on-premises prefix" in page
        and "10.10.1.0/24" in page
        and f"report schema {SCHEMA_VERSION}" in page
    )
    # the same mistake the spec rules refuse, now observed live: a drift finding of the reconcile run
    result = reconcile(net.settings, net.site.name, trigger="manual")
    (live,) = [f for f in result.findings if f.kind.value == "live-route"]
    assert live.severity.value == "high" and "10.10.1.0/24 is carried by the VPN" in live.message
    assert "longest prefix wins" in live.message

    net.control.set_appliance(APPLIANCE, advertise=["10.10.0.0/16"])
    before = net.history(capsys)
    assert net.check().outcome == "recorded"
    (cleared,) = _new(before, net.history(capsys))
    assert (cleared["kind"], cleared["subject"]) == ("backup-preferred-cleared", "10.10.1.0/24")
    result = reconcile(net.settings, net.site.name, trigger="manual")  # the live finding is gone too
    assert [f for f in result.findings if f.kind.value == "live-route"] == []
    assert net.health()["status"] == "healthy"


def test_secondary_session_down_is_redundancy_lost_then_restored(net, capsys):
    net.control.set_circuit(CIRCUIT, bgp={"secondary": "down"})
    before = net.history(capsys)
    assert net.check().outcome == "recorded"
    (row,) = _new(before, net.history(capsys))
    assert (row["kind"], row["subject"]) == ("redundancy-lost", net.site.express_route.gateway.name)
    (red,) = row["evidence"]["redundancy"]
    assert (red["state"], red["connected"], red["total"]) == ("not-redundant", 1, 2)
    site = net.health()
    assert (site["status"], site["activePath"]) == ("degraded", "expressroute")
    assert "not redundant: 1 of 2 BGP sessions up" in site["reason"]

    net.control.set_circuit(CIRCUIT, bgp={"secondary": "up"})
    before = net.history(capsys)
    assert net.check().outcome == "recorded"
    (restored,) = _new(before, net.history(capsys))
    assert restored["kind"] == "redundancy-restored" and restored["durationSeconds"] == 60.0
    assert net.health()["status"] == "healthy"


def test_one_prefix_on_no_path_is_prefix_unreachable_then_restored(net2, capsys):
    net = net2
    lng = net.rid("localNetworkGateways", net.site.vpn.local_network_gateway.name)
    # the VPN's static prefixes edited by hand (10.30/16 dropped) and ExpressRoute no longer carrying it
    net.control.patch_resource(lng, {"localNetworkAddressSpace": {"addressPrefixes": ["10.10.0.0/16"]}})
    net.control.set_circuit(CIRCUIT, advertise=["10.10.0.0/16"])
    before = net.history(capsys)
    assert net.check().outcome == "recorded"
    (row,) = _new(before, net.history(capsys))
    assert (row["kind"], row["subject"]) == ("prefix-unreachable", SECOND_PREFIX)
    site = net.health()
    assert (site["status"], site["activePath"]) == ("degraded", "expressroute")
    assert f"on-premises prefix {SECOND_PREFIX} is carried by no path" in site["reason"]

    net.control.set_circuit(CIRCUIT, advertise=["10.10.0.0/16", SECOND_PREFIX])
    before = net.history(capsys)
    assert net.check().outcome == "recorded"
    (restored,) = _new(before, net.history(capsys))
    assert (restored["kind"], restored["subject"]) == ("prefix-restored", SECOND_PREFIX)
    assert net.health()["status"] == "healthy"


def test_hold_count_applies_to_route_facts(net, capsys, monkeypatch):
    monkeypatch.setenv("HYBRIDNET_FAILOVER_HOLD_COUNT", "2")
    net.settings = Settings.from_env()
    net.control.set_circuit(CIRCUIT, bgp={"secondary": "down"})
    assert net.check().outcome == "pending"
    assert net.history(capsys) == []
    assert net.check().outcome == "recorded"
    assert [e["kind"] for e in net.history(capsys)] == ["redundancy-lost"]
    assert net.check().outcome == "routes-updated"


def test_an_unreadable_local_network_gateway_is_never_a_withdrawn_vpn(net, capsys):
    """Without its local network gateway the VPN's routes cannot be attributed: an ARM error, not a lost
    backup (regression: the VPN looked withdrawn and a backup-lost row was recorded)."""
    net.control.add_fault("error", method="GET", path="localNetworkGateways", status=500)
    try:
        result = net.check()
    finally:
        net.control.clear_faults()
    assert result.outcome == "routes-updated" and net.history(capsys) == []
    assert "hybrid-onprem-lng" in " ".join(result.routes["errors"])
    assert result.routes["withdrawn"] == []
