"""Azure Resource Manager resource events as an Event Grid system topic publishes them.

Shapes follow Microsoft's "Azure resource group as an Event Grid source" examples
(``tests/fixtures/EventGrid*.json``): ``Microsoft.Resources.Resource{Write,Delete,Action}{Success,Failure}``
with ``data`` = authorization (scope, action, evidence), claims (string values), correlationId,
httpRequest, resourceProvider, resourceUri, operationName, status, subscriptionId, tenantId.

Who made the change comes from the caller's bearer token (verified by ``hybridnet_dev.armsim.auth``) or,
for out-of-band edits through the control API, from a fixed "portal user" (:data:`PORTAL_USER_OBJECT_ID`,
also the operator whose token ``GET /_sim/tokens/operator`` gives).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

TENANT_ID = "00000000-0000-0000-0000-000000000000"
PORTAL_USER_OBJECT_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
PORTAL_APP_ID = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"  # the Azure Portal's well-known application id
CONTRIBUTOR_ROLE_ID = "b24988ac-6180-42a0-ab88-20f7382dd24c"
OWNER_ROLE_ID = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
OID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"
TENANT_CLAIM = "http://schemas.microsoft.com/identity/claims/tenantid"
NAMEID_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
IDP_CLAIM = "http://schemas.microsoft.com/identity/claims/identityprovider"

WRITE = "Write"
DELETE = "Delete"
ACTION = "Action"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Caller:
    """The principal behind one ARM request: what the event's claims and evidence say."""

    object_id: str
    app_id: str
    tenant_id: str = TENANT_ID
    principal_type: str = "ServicePrincipal"
    role: str = "Contributor"
    extra_claims: dict[str, str] = field(default_factory=dict)

    def claims(self) -> dict[str, str]:
        now = int(dt.datetime.now(dt.UTC).timestamp())
        issuer = f"https://sts.windows.net/{self.tenant_id}/"
        claims = {
            "aud": "https://management.azure.com",
            "iss": issuer,
            "iat": str(now),
            "nbf": str(now),
            "exp": str(now + 86400),
            "aio": "sim",
            "appid": self.app_id,
            "appidacr": "2" if self.principal_type == "ServicePrincipal" else "0",
            IDP_CLAIM: issuer,
            OID_CLAIM: self.object_id,
            NAMEID_CLAIM: self.object_id,
            TENANT_CLAIM: self.tenant_id,
            "uti": uuid.uuid4().hex[:22],
            "ver": "1.0",
        }
        claims.update(self.extra_claims)
        return claims

    def evidence(self, subscription_id: str) -> dict[str, str]:
        return {
            "role": self.role,
            "roleAssignmentScope": f"/subscriptions/{subscription_id}",
            "roleAssignmentId": uuid.uuid5(uuid.NAMESPACE_OID, self.object_id).hex,
            "roleDefinitionId": OWNER_ROLE_ID if self.role == "Owner" else CONTRIBUTOR_ROLE_ID,
            "principalId": self.object_id,
            "principalType": self.principal_type,
        }


PORTAL_USER = Caller(
    object_id=PORTAL_USER_OBJECT_ID,
    app_id=PORTAL_APP_ID,
    principal_type="User",
    role="Owner",
    extra_claims={
        "name": "Portal User",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "portal.user@contoso.example",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name": "portal.user@contoso.example",
        "http://schemas.microsoft.com/claims/authnmethodsreferences": "pwd,mfa",
        "http://schemas.microsoft.com/identity/claims/scope": "user_impersonation",
    },
)
UNKNOWN_CALLER = Caller(object_id="", app_id="")


@dataclass(frozen=True)
class Change:
    """One completed ARM operation, before it becomes an event.

    ``early`` marks the extra ResourceWriteSuccess raised when a write is accepted (before its
    long-running operation completes): delivered only to subscriptions with ``doubleWrites``.
    """

    kind: str  # Write | Delete | Action
    resource_uri: str
    operation_name: str
    caller: Caller
    subscription_id: str
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    http_request: dict[str, str] | None = None
    succeeded: bool = True
    early: bool = False

    @property
    def event_type(self) -> str:
        return f"Microsoft.Resources.Resource{self.kind}{'Success' if self.succeeded else 'Failure'}"

    @property
    def resource_group(self) -> str | None:
        parts = [p for p in self.resource_uri.split("/") if p]
        low = [p.lower() for p in parts]
        if "resourcegroups" in low and low.index("resourcegroups") + 1 < len(parts):
            return parts[low.index("resourcegroups") + 1]
        return None

    @property
    def topic(self) -> str:
        rg = self.resource_group
        base = f"/subscriptions/{self.subscription_id}"
        return f"{base}/resourceGroups/{rg}" if rg else base

    def finished(self, succeeded: bool) -> Change:
        return replace(self, succeeded=succeeded, early=False)


def resource_provider(resource_uri: str) -> str:
    parts = [p for p in resource_uri.split("/") if p]
    low = [p.lower() for p in parts]
    if "providers" in low and low.index("providers") + 1 < len(parts):
        return parts[low.index("providers") + 1]
    return "Microsoft.Resources"


def event_grid_event(change: Change) -> dict[str, Any]:
    """The change in the Event Grid schema (one element of the delivered array)."""
    data: dict[str, Any] = {
        "authorization": {
            "scope": change.resource_uri,
            "action": change.operation_name,
            "evidence": change.caller.evidence(change.subscription_id),
        },
        "claims": change.caller.claims(),
        "correlationId": change.correlation_id,
    }
    if change.http_request is not None:
        data["httpRequest"] = dict(change.http_request)
    data.update(
        {
            "resourceProvider": resource_provider(change.resource_uri),
            "resourceUri": change.resource_uri,
            "operationName": change.operation_name,
            "status": "Succeeded" if change.succeeded else "Failed",
            "subscriptionId": change.subscription_id,
            "tenantId": change.caller.tenant_id or TENANT_ID,
        }
    )
    return {
        "subject": change.resource_uri,
        "eventType": change.event_type,
        "eventTime": now_iso(),
        "id": str(uuid.uuid4()),
        "data": data,
        "dataVersion": "2",
        "metadataVersion": "1",
        "topic": change.topic,
    }


def cloud_event(event: dict[str, Any]) -> dict[str, Any]:
    """An Event Grid schema event in the CloudEvents 1.0 schema, as Event Grid converts it."""
    return {
        "id": event["id"],
        "source": event["topic"],
        "specversion": "1.0",
        "type": event["eventType"],
        "subject": event["subject"],
        "time": event["eventTime"],
        "data": event["data"],
    }


def validation_event(topic: str, code: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "topic": topic,
        "subject": "",
        "data": {"validationCode": code, "validationUrl": ""},
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "eventTime": now_iso(),
        "metadataVersion": "1",
        "dataVersion": "2",
    }
