"""A small local Azure Functions host (dev only; stands in for Core Tools): HTTP, timer, Event Grid and
Storage queue triggers (and queue output bindings) driven through the azure-functions programming
model. See `LocalHost` and `main`."""

from __future__ import annotations

from hybridnet_dev.funchost.cli import main
from hybridnet_dev.funchost.errors import FunctionHostError
from hybridnet_dev.funchost.invoke import OutputRecord, OutputSink
from hybridnet_dev.funchost.server import HostCore, HostInfo, LocalHost

__all__ = ["FunctionHostError", "HostCore", "HostInfo", "LocalHost", "OutputRecord", "OutputSink", "main"]
