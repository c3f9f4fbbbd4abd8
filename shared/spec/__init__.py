"""The desired state of the hybrid network (the architecture as data). Pure: no Azure SDK imports."""

from shared.spec.load import SpecError, dump_spec, load_spec_file, parse_data, parse_spec, validate_spec
from shared.spec.model import (
    ExpressRoute,
    LoadBalancer,
    NetworkSpec,
    OnPremises,
    Site,
    Subnet,
    UnknownSite,
    VirtualNetwork,
    Vpn,
)

__all__ = [
    "ExpressRoute",
    "LoadBalancer",
    "NetworkSpec",
    "OnPremises",
    "Site",
    "SpecError",
    "Subnet",
    "UnknownSite",
    "VirtualNetwork",
    "Vpn",
    "dump_spec",
    "load_spec_file",
    "parse_data",
    "parse_spec",
    "validate_spec",
]
