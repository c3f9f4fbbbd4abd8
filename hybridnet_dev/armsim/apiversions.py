"""The api-versions Microsoft.Network publishes, per resource type, and ARM's answer to any other.

Sources: the stable version folders of Azure/azure-rest-api-specs
``specification/network/resource-manager/Microsoft.Network/(Network/)stable/`` (2015-06-15 ... 2025-09-01;
its readme's default tag is package-2025-09-01 and mentions the 2025-07-01 update), and the version
azure-mgmt-network 33.1 sends for every Microsoft.Network operation group (``"api-version", "2026-03-01"``
in its ``operations/_operations.py``; only the VMSS network interface calls pin 2018-10-01).

ARM's answers (texts as ARM sends them, e.g. Azure/azure-cli#28496, Azure/acs-engine#4037):
- a request on a resource whose location is known (a PUT body's location, an existing resource):
  400 ``NoRegisteredProviderFound`` "No registered resource provider found for location '{loc}' and API
  version '{v}' for type '{type}'. The supported api-versions are '{a, b}'. The supported locations are
  '{l1, l2}'."
- anything else (collections, unknown resources): 400 ``InvalidResourceType`` "The resource type '{type}'
  could not be found in the namespace 'Microsoft.Network' for api version '{v}'. The supported
  api-versions are '{a,b}'."
"""

from __future__ import annotations

from hybridnet_dev.armsim.ids import PROVIDER, ArmError

SDK_VERSION = "2026-03-01"  # what azure-mgmt-network 33.1 sends

_STABLE = (
    "2015-06-15 2016-03-30 2016-06-01 2016-07-01 2016-08-01 2016-09-01 2016-10-01 2016-11-01 2016-12-01 "
    "2017-03-01 2017-04-01 2017-06-01 2017-08-01 2017-09-01 2017-10-01 2017-11-01 2018-01-01 2018-02-01 "
    "2018-04-01 2018-06-01 2018-07-01 2018-08-01 2018-10-01 2018-11-01 2018-12-01 2019-02-01 2019-04-01 "
    "2019-06-01 2019-07-01 2019-08-01 2019-09-01 2019-11-01 2019-12-01 2020-03-01 2020-04-01 2020-05-01 "
    "2020-06-01 2020-07-01 2020-08-01 2020-11-01 2021-02-01 2021-03-01 2021-05-01 2021-08-01 2022-01-01 "
    "2022-05-01 2022-07-01 2022-09-01 2022-11-01 2023-02-01 2023-04-01 2023-05-01 2023-06-01 2023-09-01 "
    "2023-11-01 2024-01-01 2024-03-01 2024-05-01 2024-07-01 2024-10-01 2025-01-01 2025-03-01 2025-05-01 "
    "2025-07-01 2025-09-01"
).split()
ALL_VERSIONS: tuple[str, ...] = ("2014-12-01-preview", "2015-05-01-preview", *_STABLE, SDK_VERSION)


def _since(first: str) -> tuple[str, ...]:
    return tuple(v for v in ALL_VERSIONS if v[:10] >= first[:10])


# resource type (as in the URL, canonical casing) -> the versions that serve it. Types older than the
# first stable version take every version; later ones from the version that introduced them.
VERSIONS: dict[str, tuple[str, ...]] = {
    "virtualNetworks": ALL_VERSIONS,
    "virtualNetworks/subnets": ALL_VERSIONS,
    "publicIPAddresses": ALL_VERSIONS,
    "virtualNetworkGateways": ALL_VERSIONS,
    "localNetworkGateways": ALL_VERSIONS,
    "connections": ALL_VERSIONS,
    "expressRouteCircuits": ALL_VERSIONS,
    "loadBalancers": ALL_VERSIONS,
    "networkSecurityGroups": ALL_VERSIONS,
    "locations/operations": ALL_VERSIONS,
    "locations/operationResults": ALL_VERSIONS,
}

# The regions this simulator's provider answers for (ARM lists them after the versions).
LOCATIONS = (
    "West US, East US, North Europe, West Europe, East Asia, Southeast Asia, North Central US, "
    "South Central US, Central US, East US 2, Japan East, Japan West, Brazil South, Australia East, "
    "Australia Southeast, Central India, South India, West India, Canada Central, Canada East, West "
    "Central US, West US 2, UK West, UK South, Korea Central, Korea South, France Central, Australia "
    "Central, South Africa North, UAE North, Switzerland North, Germany West Central, Norway East, "
    "West US 3, Jio India West, Sweden Central, Qatar Central, Poland Central, Italy North, Israel Central, "
    "Spain Central, Mexico Central"
)


def check(rtype: str, version: str, *, location: str | None) -> None:
    """Raise ARM's 400 when ``version`` does not serve ``rtype`` (e.g. ``virtualNetworks/subnets``)."""
    supported = VERSIONS.get(rtype)
    if supported is None:
        return  # unknown types get their own 404 from the router
    if version in supported:
        return
    leaf = rtype
    if location:
        raise ArmError(
            400,
            "NoRegisteredProviderFound",
            f"No registered resource provider found for location '{location}' and API version '{version}' "
            f"for type '{leaf}'. The supported api-versions are '{', '.join(supported)}'. The supported "
            f"locations are '{LOCATIONS.lower().replace(' ', '').replace(',', ', ')}'.",
        )
    raise ArmError(
        400,
        "InvalidResourceType",
        f"The resource type '{leaf}' could not be found in the namespace '{PROVIDER}' for api version "
        f"'{version}'. The supported api-versions are '{','.join(supported)}'.",
    )
