"""The two aiohttp applications: ARM over HTTPS, and the control API + token endpoint over plain HTTP."""

from __future__ import annotations

from aiohttp import web

from hybridnet_dev.armsim.arm import ArmApi
from hybridnet_dev.armsim.controlapi import ControlApi
from hybridnet_dev.armsim.resourcegraph import register as register_resource_graph
from hybridnet_dev.armsim.resourcegraph import register_control as register_resource_graph_control
from hybridnet_dev.armsim.sim import Simulator


def arm_app(sim: Simulator) -> web.Application:
    api = ArmApi(sim)
    app = web.Application(middlewares=[api.middleware], client_max_size=16 * 1024 * 1024)
    app.router.add_post("/eventgrid/topics/{topic}", sim.topics.handle)
    app.router.add_post("/eventgrid/topics/{topic}/api/events", sim.topics.handle)
    register_resource_graph(app, sim)
    app.router.add_route("*", "/{tail:.*}", api.handle)
    return app


def vault_app(sim: Simulator) -> web.Application:
    """The Key Vault listener: request log and faults (as on ARM), then the vault's own auth."""
    app = web.Application(middlewares=[ArmApi(sim, arm=False).middleware, sim.vault.middleware])
    app.add_routes(sim.vault.routes())
    return app


def control_app(sim: Simulator) -> web.Application:
    api = ControlApi(sim)
    app = web.Application(middlewares=[api.middleware])
    app.add_routes(api.routes())
    register_resource_graph_control(app, sim)
    return app
