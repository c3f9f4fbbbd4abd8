"""A tiny synchronous client of the simulator's control API (plain HTTP, stdlib only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class SimControlError(RuntimeError):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"control API answered {status}: {body}")
        self.status = status
        self.body = body


class SimControl:
    def __init__(self, control_url: str, timeout: float = 10.0) -> None:
        self.base = control_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> Any:
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise SimControlError(exc.code, exc.read().decode(errors="replace")) from None
        return json.loads(raw) if raw else None

    def set_circuit(self, name: str, up: bool) -> dict[str, Any]:
        return self._call("PUT", f"/_sim/circuits/{urllib.parse.quote(name, safe='')}", {"up": up})

    def set_appliance(self, ip: str, up: bool | None = None, shared_key: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if up is not None:
            body["up"] = up
        if shared_key is not None:
            body["sharedKey"] = shared_key
        return self._call("PUT", f"/_sim/appliances/{urllib.parse.quote(ip, safe='')}", body)

    def put_resource(self, id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("PUT", "/_sim/resources", body, {"id": id})

    def patch_resource(self, id: str, properties_patch: dict[str, Any]) -> dict[str, Any]:
        return self._call("PATCH", "/_sim/resources", properties_patch, {"id": id})

    def delete_resource(self, id: str) -> bool:
        try:
            return bool(self._call("DELETE", "/_sim/resources", None, {"id": id})["deleted"])
        except SimControlError as exc:
            if exc.status == 404:
                return False
            raise

    def add_fault(
        self,
        kind: str,
        *,
        method: str = "*",
        path: str = ".*",
        latency_ms: int | None = None,
        retry_after: int | None = None,
        status: int | None = None,
        count: int | None = None,
    ) -> str:
        body: dict[str, Any] = {"kind": kind, "method": method, "path": path}
        for key, value in (
            ("latencyMs", latency_ms),
            ("retryAfter", retry_after),
            ("status", status),
            ("count", count),
        ):
            if value is not None:
                body[key] = value
        return str(self._call("POST", "/_sim/faults", body)["id"])

    def clear_faults(self) -> None:
        self._call("DELETE", "/_sim/faults")

    def requests(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/_sim/requests"))

    def clear_requests(self) -> None:
        self._call("DELETE", "/_sim/requests")

    def state(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_sim/state"))

    def info(self) -> dict[str, Any]:
        """The simulator's SimulatorInfo as JSON (every key, including those the CLI line omits)."""
        return dict(self._call("GET", "/_sim/info"))

    # --- identity and throttling ------------------------------------------------------------------
    def operator_token(self) -> dict[str, Any]:
        """``{"access_token", "expires_on", ...}`` of the operator (Owner on the subscription): for
        out-of-band edits through ARM, as a person in the portal makes them."""
        return dict(self._call("GET", "/_sim/tokens/operator"))

    def operator_credential(self) -> OperatorCredential:
        """A TokenCredential (azure-core protocol) that gets the operator's tokens from the simulator."""
        return OperatorCredential(self)

    def throttle(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_sim/throttle"))

    def set_throttle(self, **settings: Any) -> dict[str, Any]:
        """``enabled=False``, ``reads={"capacity": 5, "refillPerSecond": 1}``, ``writes=...``."""
        return dict(self._call("PUT", "/_sim/throttle", settings))

    # --- Event Grid ---------------------------------------------------------------------------------
    def subscribe_events(self, endpoint: str, schema: str = "EventGridSchema", **options: Any) -> str:
        """Register a webhook (after its validation handshake); options are the control API's keys
        (``includedEventTypes``, ``subjectBeginsWith``, ``maxEventsPerBatch``, ``duplicate``, ``shuffle``,
        ``doubleWrites``, ``maxDeliveryAttempts``, ``retryDelays``, ``timeoutSeconds`` ...), given as is or
        in snake_case (``max_events_per_batch=10``). Returns the subscription id."""
        body: dict[str, Any] = {"endpoint": endpoint, "schema": schema}
        for key, value in options.items():
            head, *rest = key.split("_")
            body[head + "".join(part[:1].upper() + part[1:] for part in rest)] = value
        return str(self._call("POST", "/_sim/eventgrid/subscriptions", body)["id"])

    def event_subscriptions(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/_sim/eventgrid/subscriptions"))

    def clear_event_subscriptions(self) -> None:
        self._call("DELETE", "/_sim/eventgrid/subscriptions")

    def deliveries(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/_sim/eventgrid/deliveries"))

    def clear_deliveries(self) -> None:
        self._call("DELETE", "/_sim/eventgrid/deliveries")

    # --- Event Grid custom topics -------------------------------------------------------------------
    def topic_events(self, topic: str = "hybridnet") -> list[dict[str, Any]]:
        """The events published to the simulated topic, as received (CloudEvents or Event Grid events)."""
        return list(self._call("GET", f"/_sim/topics/{urllib.parse.quote(topic, safe='')}/events"))

    def clear_topic_events(self, topic: str = "hybridnet") -> None:
        self._call("DELETE", f"/_sim/topics/{urllib.parse.quote(topic, safe='')}/events")

    # --- Key Vault and the appliance's key pickup ---------------------------------------------------
    def vault_secret_versions(self, name: str, reveal: bool = False) -> list[dict[str, Any]]:
        """The versions of a vault secret (tags, attributes; oldest first), without values unless
        ``reveal=True`` — TEST-ONLY: it returns the secret values."""
        query = {"reveal": "true"} if reveal else None
        return list(
            self._call(
                "GET", f"/_sim/vault/secrets/{urllib.parse.quote(name, safe='')}/versions", None, query
            )
        )

    def appliance_follow(self, ip: str, secret: str, delay_seconds: float = 10) -> dict[str, Any]:
        """From now on the appliance takes each new version of `secret`, `delay_seconds` after it is
        written (on-premises automation polling Key Vault)."""
        body = {"secret": secret, "delaySeconds": delay_seconds}
        return self._call("PUT", f"/_sim/appliances/{urllib.parse.quote(ip, safe='')}/follow", body)

    def appliance_pickup(self, ip: str, secret: str, version: str | None = None) -> dict[str, Any]:
        """The appliance at ``ip`` reads ``secret`` (latest or ``version``) from the vault and uses it as key."""
        body: dict[str, Any] = {"secret": secret}
        if version is not None:
            body["version"] = version
        return self._call("POST", f"/_sim/appliances/{urllib.parse.quote(ip, safe='')}/pickup", body)


class OperatorCredential:
    """The operator's credential for azure-mgmt clients: ``get_token(*scopes)`` -> AccessToken."""

    def __init__(self, control: SimControl) -> None:
        self._control = control

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        answer = self._control.operator_token()
        return AccessToken(answer["access_token"], int(answer["expires_on"]))
