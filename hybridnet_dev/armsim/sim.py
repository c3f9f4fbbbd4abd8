"""The simulator's state in one object, and the out-of-band operations the control API exposes."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
import secrets
import string
import uuid
from typing import Any

from hybridnet_dev.armsim.armevents import DELETE, PORTAL_USER, PORTAL_USER_OBJECT_ID, WRITE, Change
from hybridnet_dev.armsim.auth import TokenIssuer
from hybridnet_dev.armsim.eventgrid import EventGrid
from hybridnet_dev.armsim.faults import Faults
from hybridnet_dev.armsim.ids import ArmError, ResourceId
from hybridnet_dev.armsim.keyvault import Vault
from hybridnet_dev.armsim.lro import Operations
from hybridnet_dev.armsim.physics import Circuit, Physics
from hybridnet_dev.armsim.rbac import Rbac
from hybridnet_dev.armsim.resources import Shaper
from hybridnet_dev.armsim.store import Body, ChangeListener, Store
from hybridnet_dev.armsim.throttle import Throttle
from hybridnet_dev.armsim.topics import Topics

log = logging.getLogger("hybridnet_dev.armsim")

KEY_ALPHABET = string.ascii_letters + string.digits
# Accepted pre-shared keys: printable ASCII without space, '-' and '~'; 1-128 characters.
KEY_CHARS = {chr(c) for c in range(33, 127)} - {"-", "~"}


PRINCIPAL_ID = "11111111-2222-3333-4444-555555555555"  # the simulated managed identity's object id


def generate_key(length: int = 32) -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(length))


def check_key(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or set(value) - KEY_CHARS:
        raise ArmError(
            400,
            "InvalidSharedKey",  # code: sim
            "The shared key must be 1-128 printable ASCII characters without space, '-' or '~'.",
        )
    return value


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class Simulator:
    def __init__(
        self,
        *,
        subscription_id: str,
        page_size: int = 50,
        identity_header: str | None = None,
        time_scale: float = 1.0,
    ) -> None:
        """``time_scale`` multiplies Azure's operation durations (lro.DURATIONS): 1 is real time."""
        self.subscription_id = subscription_id
        self.page_size = max(1, page_size)
        self.identity_header = identity_header or secrets.token_urlsafe(24)
        self.principal_id = PRINCIPAL_ID
        self.store = Store()
        self.physics = Physics(self.store)
        self.shaper = Shaper(self.store, self.physics)
        self.operations = Operations(time_scale=time_scale)
        self.faults = Faults()
        self.requests: list[dict[str, Any]] = []
        self.eventgrid = EventGrid(subscription_id)
        self.topics = Topics()
        # identity and ARM's checks (access.configure fills them from the spec and the app contract)
        self.tokens = TokenIssuer()
        self.vault = Vault(self.tokens)  # accepts this identity's tokens only
        self.info: dict[str, Any] = {}  # SimulatorInfo.to_json() once the listeners are up
        self.rbac = Rbac()
        self.throttle = Throttle()
        self.contract: dict[str, Any] = {}
        self.subscriptions: set[str] = {subscription_id.lower()}
        self.resource_groups: set[tuple[str, str]] = set()

    # --- hooks --------------------------------------------------------------------------------------
    @property
    def change_listeners(self) -> list[ChangeListener]:
        """Called with (resource id, "write"|"delete") after every change; for Event Grid later."""
        return self.store.listeners

    def emit(self, change: Change) -> None:
        """Publish a completed resource operation to the Event Grid subscriptions."""
        self.eventgrid.publish(change)

    def _portal_change(self, kind: str, rid: ResourceId, method: str) -> None:
        operation = f"{rid.arm_type}/{'write' if kind == WRITE else 'delete'}"
        http_request = {
            "clientRequestId": str(uuid.uuid4()),
            "clientIpAddress": "203.0.113.10",
            "method": method,
            "url": f"https://management.azure.com{rid}?api-version=2024-05-01",
        }
        self.emit(Change(kind, str(rid), operation, PORTAL_USER, rid.subscription, http_request=http_request))

    def record_request(self, entry: dict[str, Any]) -> None:
        entry.setdefault("time", dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"))
        self.requests.append(entry)

    # --- physical world -----------------------------------------------------------------------------
    def set_circuit(self, name: str, up: bool) -> Circuit:
        circuit = self.physics.circuit_by_name(name)
        if circuit is None:
            raise ArmError(404, "CircuitNotFound", f"No ExpressRoute circuit named '{name}' is known.")
        circuit.up = bool(up)
        log.info("circuit %s is now %s", circuit.name, "up" if up else "down")
        return circuit

    def set_appliance(
        self, ip: str, *, up: bool | None = None, shared_key: str | None = None
    ) -> dict[str, Any]:
        appliance = self.physics.appliance(ip)
        if up is not None:
            appliance.up = bool(up)
        if shared_key is not None:
            appliance.shared_key = check_key(shared_key) if shared_key != "" else None
        log.info("appliance %s: up=%s, key configured=%s", ip, appliance.up, appliance.shared_key is not None)
        return {"ip": ip, "up": appliance.up, "keyConfigured": appliance.shared_key is not None}

    def appliance_pickup(self, ip: str, secret: str, version: str | None = None) -> dict[str, Any]:
        """The on-prem appliance reads a key from the vault and configures it (as on-prem automation does)."""
        item = self.vault.get(secret, version)
        if not item.enabled:
            raise ArmError(409, "SecretDisabled", f"Secret '{item.name}' version {item.version} is disabled.")
        try:
            result = self.set_appliance(ip, shared_key=item.value)
        except ArmError as err:
            raise ArmError(
                400,
                "InvalidSharedKey",  # code: sim
                f"Secret '{item.name}' version {item.version} is not a usable pre-shared key: {err.message}",
            ) from None
        log.info("appliance %s picked up secret %s version %s", ip, item.name, item.version)
        return {**result, "secret": item.name, "version": item.version}

    def follow_secret(self, ip: str, secret: str, delay: float) -> dict[str, Any]:
        """Simulate on-premises automation that polls Key Vault: `delay` seconds after a new version of
        `secret` is written, the appliance configures the latest version (as `appliance_pickup`)."""
        self.physics.appliance(ip)  # 404-free: appliances exist implicitly

        def on_new_version(name: str) -> None:
            if name.lower() != secret.lower():
                return

            def pick_up() -> None:
                try:
                    self.appliance_pickup(ip, secret)
                except ArmError as err:
                    log.warning("appliance %s could not pick up %s: %s", ip, secret, err.message)

            asyncio.get_running_loop().call_later(delay, pick_up)

        self.vault.on_new_version.append(on_new_version)
        log.info("appliance %s follows secret %s (%.1f s after each new version)", ip, secret, delay)
        return {"ip": ip, "follows": secret, "delaySeconds": delay}

    def state(self) -> dict[str, Any]:
        summary = self.physics.summary()
        summary["resources"] = [str(r.rid) for r in self.store.all()]
        summary["operationsInProgress"] = self.operations.in_progress()
        summary["faults"] = self.faults.list()
        summary["principalId"] = self.principal_id
        summary["vault"] = self.vault.summary()
        summary["portalUserObjectId"] = PORTAL_USER_OBJECT_ID
        summary["eventSubscriptions"] = [s.describe() for s in self.eventgrid.subscriptions.values()]
        return summary

    # --- out-of-band edits (as a person in the portal would) ----------------------------------------
    def _take_key(self, rid: ResourceId, props: Body) -> None:
        key = props.pop("sharedKey", None)
        if rid.type == "connections" and key is not None:
            self.physics.set_key(str(rid), check_key(key))

    def oob_put(self, resource_id: str, body: Body) -> Body:
        rid = ResourceId.parse(resource_id)
        if not isinstance(body, dict):
            raise ArmError(400, "InvalidRequestFormat", "The body must be a JSON object.")
        incoming = copy.deepcopy(body)
        self._take_key(rid, incoming.get("properties") or {})
        if rid.is_child:
            return self._oob_put_subnet(rid, incoming)
        existing = self.store.get(rid)
        shaped = self.shaper.shape(rid, incoming, existing.body if existing else None, validate=False)
        if rid.type == "connections" and existing is None and self.physics.key(str(rid)) is None:
            self.physics.set_key(str(rid), generate_key())
        if rid.type == "expressRouteCircuits" and self.physics.circuit(str(rid)) is None:
            self.physics.add_circuit(Circuit(str(rid)))
        record = self.store.put(rid, shaped)
        log.info("out-of-band PUT %s", rid)
        self._portal_change(WRITE, rid, "PUT")
        return self.shaper.render(record)

    def _oob_put_subnet(self, rid: ResourceId, incoming: Body) -> Body:
        vnet = self.store.get(rid.parent)
        if vnet is None:
            raise rid.parent.not_found()
        subnet = self.shaper.shape_subnet(rid, incoming, vnet.body, validate=False)
        subnets = [
            s
            for s in vnet.body["properties"].get("subnets", [])
            if str(s.get("name", "")).lower() != str(rid.child_name).lower()
        ]
        subnets.append(subnet)
        vnet.body["properties"]["subnets"] = subnets
        self.store.touch(rid)
        log.info("out-of-band PUT %s", rid)
        self._portal_change(WRITE, rid, "PUT")
        return self.shaper.render_subnet(subnet)

    def oob_patch(self, resource_id: str, patch: Body) -> Body:
        rid = ResourceId.parse(resource_id)
        if not isinstance(patch, dict):
            raise ArmError(
                400, "InvalidRequestFormat", "The body must be a JSON merge patch of 'properties'."
            )
        if set(patch) == {"properties"} and isinstance(patch["properties"], dict):
            patch = patch["properties"]
        patch = copy.deepcopy(patch)
        self._take_key(rid, patch)
        current = self.store.body_of(rid)
        if current is None:
            raise rid.not_found()
        merged = copy.deepcopy(current)
        merged["properties"] = merge_patch(current.get("properties") or {}, patch)
        if rid.is_child:
            current["properties"] = merged["properties"]
            self.store.touch(rid)
            log.info("out-of-band PATCH %s", rid)
            self._portal_change(WRITE, rid, "PATCH")
            return self.shaper.render_subnet(current)
        record = self.store.get(rid)
        assert record is not None
        shaped = self.shaper.shape(rid, merged, record.body, validate=False)
        shaped["properties"]["provisioningState"] = merged["properties"].get("provisioningState", "Succeeded")
        record = self.store.put(rid, shaped)
        log.info("out-of-band PATCH %s", rid)
        self._portal_change(WRITE, rid, "PATCH")
        return self.shaper.render(record)

    def oob_delete(self, resource_id: str) -> bool:
        rid = ResourceId.parse(resource_id)
        if rid.is_child:
            vnet = self.store.get(rid.parent)
            if vnet is None or self.store.get_child(rid) is None:
                return False
            vnet.body["properties"]["subnets"] = [
                s
                for s in vnet.body["properties"].get("subnets", [])
                if str(s.get("name", "")).lower() != str(rid.child_name).lower()
            ]
            self.store.touch(rid.parent)
            self._portal_change(DELETE, rid, "DELETE")
            return True
        found = self.store.delete(rid)
        log.info("out-of-band DELETE %s (%s)", rid, "deleted" if found else "not found")
        if found:
            self._portal_change(DELETE, rid, "DELETE")
        return found
