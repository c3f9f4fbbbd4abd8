"""The published JSON Schema (draft 2020-12) of the health report, served at GET /api/health/schema.

Versioning: `SCHEMA_VERSION` is "MAJOR.MINOR" and every report carries it as `schemaVersion`. A field
added is a minor bump; a field removed, renamed or changed in meaning is a major bump (and a new `$id`).
"""

from __future__ import annotations

from typing import Any

# 1.1: findings[].status; 1.2: keyRotation (enabled, mode, notice, adoptedAt; report-level);
# 1.3: route truth: routes.prefixes / redundancy / withdrawn / checkedAt, the route-fact event kinds,
#      event subject, detectedBy route-check; 1.4: page (paging and filters);
# 1.5: drill (the last failover drill, its result and timings, days since the last passing drill)
SCHEMA_VERSION = "1.5"
SCHEMA_ID = "https://hybridnet.example/schemas/health-report/1.json"


def _nullable(kind: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(kind, str):
        return {"type": [kind, "null"]}
    return {"anyOf": [kind, {"type": "null"}]}


def _object(properties: dict[str, Any], *, required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


TIME = {"type": "string", "format": "date-time"}
PATH = {"enum": ["expressroute", "vpn", "none"]}
STATUS = {"enum": ["healthy", "degraded", "failover", "outage"]}
SEVERITY_COUNTS = {
    "type": "object",
    "propertyNames": {"enum": ["critical", "high", "medium", "low"]},
    "additionalProperties": {"type": "integer", "minimum": 0},
}

HEALTH_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "hybridnet health report",
    "description": (
        "GET /api/health: the state of every site's ExpressRoute (primary) and VPN (failover) paths, "
        "served from the snapshot the failover poll persists in Table Storage."
    ),
    "$defs": {
        "gateway": _object(
            {
                "name": _nullable("string"),
                "exists": {"type": "boolean"},
                "sku": _nullable("string"),
                "provisioningState": _nullable("string"),
                "error": _nullable("string"),
            }
        ),
        "connection": _object(
            {
                "name": _nullable("string"),
                "exists": {"type": "boolean"},
                "connectionStatus": _nullable("string"),
                "provisioningState": _nullable("string"),
                "ingressBytes": _nullable("integer"),
                "egressBytes": _nullable("integer"),
                "statusSince": _nullable(TIME),
                "error": _nullable("string"),
            }
        ),
        "event": _object(
            {
                "eventId": {"type": "string"},
                "kind": {
                    "enum": [
                        "failover",
                        "failback",
                        "outage",
                        "recovery",
                        "backup-lost",
                        "backup-restored",
                        "backup-preferred",
                        "backup-preferred-cleared",
                        "redundancy-lost",
                        "redundancy-restored",
                        "prefix-unreachable",
                        "prefix-restored",
                    ]
                },
                "fromPath": PATH,
                "toPath": PATH,
                "backupUp": {"type": "boolean"},
                "startedAt": _nullable(TIME),
                "detectedAt": TIME,
                "detectedBy": {"enum": ["poll", "alert", "manual", "route-check"]},
                "expressRouteStatus": _nullable("string"),
                "vpnStatus": _nullable("string"),
                "durationSeconds": _nullable("number"),
                "subject": _nullable("string"),  # 1.3: the prefix or gateway of a route fact
            }
        ),
        "carrier": _object(
            {
                "prefix": {"type": "string"},
                "path": {"enum": ["expressroute", "vpn"]},
                "connection": {"type": "string"},
                "origin": {"type": "string"},
            }
        ),
        "prefixRow": _object(
            {
                "prefix": {"type": "string"},
                "declared": {"type": "boolean"},
                "state": {"enum": ["primary", "backup", "backup-preferred", "unreachable"]},
                "carriedBy": _nullable({"$ref": "#/$defs/carrier"}),
                "alternative": _nullable({"$ref": "#/$defs/carrier"}),
                "since": _nullable(TIME),
            }
        ),
        "redundancy": _object(
            {
                "gateway": {"type": "string"},
                "state": {"enum": ["redundant", "not-redundant", "down", "unknown"]},
                "connected": {"type": "integer", "minimum": 0},
                "total": {"type": "integer", "minimum": 0},
                "sessions": {
                    "type": "array",
                    "items": _object({"neighbor": {"type": "string"}, "state": {"type": "string"}}),
                },
            }
        ),
        "site": _object(
            {
                "name": {"type": "string"},
                "status": STATUS,
                "reason": {"type": "string"},
                "reasons": {"type": "array", "items": {"type": "string"}},
                "condition": _nullable({"enum": ["healthy", "backup-down", "failed-over", "outage"]}),
                "activePath": {"enum": ["expressroute", "vpn", "none", "unknown"]},
                "observedAt": _nullable(TIME),
                "observedBy": _nullable({"enum": ["poll", "refresh"]}),
                "ageSeconds": _nullable("number"),
                "stale": {"type": "boolean"},
                "error": _nullable("string"),
                "gateways": _nullable(
                    _object({"expressRoute": {"$ref": "#/$defs/gateway"}, "vpn": {"$ref": "#/$defs/gateway"}})
                ),
                "connections": _nullable(
                    _object(
                        {
                            "expressRoute": {"$ref": "#/$defs/connection"},
                            "vpn": {"$ref": "#/$defs/connection"},
                        }
                    )
                ),
                "routes": _object(
                    {
                        "onPremPrefixes": {"type": "array", "items": {"type": "string"}},
                        "carrierByConnectionStatus": {"enum": ["expressroute", "vpn", "none", "unknown"]},
                        "learnedRoutes": _nullable(
                            _object(
                                {
                                    "at": TIME,
                                    "eventId": _nullable("string"),
                                    "onPremRoutesViaExpressRoute": _nullable("integer"),
                                    "onPremRoutesViaVpn": _nullable("integer"),
                                    "carrier": PATH,
                                    "matchesActivePath": {"type": "boolean"},
                                }
                            )
                        ),
                        # 1.3: the latest route check (learned routes + BGP peers), when there was one
                        "checkedAt": _nullable(TIME),
                        "withdrawn": {"type": "array", "items": {"enum": ["expressroute", "vpn"]}},
                        "prefixes": {"type": "array", "items": {"$ref": "#/$defs/prefixRow"}},
                        "redundancy": {"type": "array", "items": {"$ref": "#/$defs/redundancy"}},
                        "errors": {"type": "object", "additionalProperties": {"type": "string"}},
                    }
                ),
                "drift": _object(
                    {
                        "latestRun": _nullable(
                            _object(
                                {
                                    "runId": {"type": "string"},
                                    "trigger": {"type": "string"},
                                    "mode": {"type": "string"},
                                    "outcome": {"type": "string"},
                                    "startedAt": TIME,
                                    "finishedAt": TIME,
                                    "error": _nullable("string"),
                                }
                            )
                        ),
                        "openFindings": _object(
                            {"total": {"type": "integer", "minimum": 0}, "bySeverity": SEVERITY_COUNTS}
                        ),
                        "findings": {
                            "type": "array",
                            "maxItems": 50,
                            "items": _object(
                                {
                                    "severity": {"enum": ["critical", "high", "medium", "low"]},
                                    "kind": _nullable("string"),
                                    "fix": _nullable("string"),
                                    "resourceId": _nullable("string"),
                                    "field": _nullable("string"),
                                    "message": _nullable("string"),
                                    # 1.1: fixed by the latest run (it observed again), or still open
                                    "status": {"enum": ["open", "fixed"]},
                                }
                            ),
                        },
                    }
                ),
                "failovers": _object(
                    {
                        "lastEventAt": _nullable(TIME),
                        "lastEventKind": _nullable("string"),
                        "secondsSinceLast": _nullable("number"),
                        "countLast30Days": {"type": "integer", "minimum": 0},
                        "recent": {"type": "array", "items": {"$ref": "#/$defs/event"}},
                        "timeline": _object(
                            {
                                "from": TIME,
                                "to": TIME,
                                "events": {
                                    "type": "array",
                                    "items": _object(
                                        {
                                            "at": TIME,
                                            "kind": {"type": "string"},
                                            "fromPath": PATH,
                                            "toPath": PATH,
                                            "durationSeconds": _nullable("number"),
                                        }
                                    ),
                                },
                            }
                        ),
                    }
                ),
                "drill": _object(
                    {
                        "last": _nullable(
                            _object(
                                {
                                    "id": {"type": "string"},
                                    "phase": {"type": "string"},
                                    "result": _nullable("string"),
                                    "reason": {"type": "string"},
                                    "at": TIME,
                                    "failoverSeconds": _nullable("number"),
                                    "failbackSeconds": _nullable("number"),
                                    "notMoved": {"type": "array", "items": {"type": "string"}},
                                }
                            )
                        ),
                        "lastPassAt": _nullable(TIME),
                        "daysSincePass": _nullable("number"),
                        "maxAgeDays": _nullable("number"),
                        "degraded": {"type": "boolean"},
                    }
                ),
                "keyRotation": _object(
                    {
                        "state": {"type": "string"},
                        "keyAgeDays": _nullable("number"),
                        "lastRotatedAt": _nullable(TIME),
                        "adoptedAt": _nullable(TIME),
                        "nextDueAt": _nullable(TIME),
                        "keyMatchesVault": _nullable("boolean"),
                        "detail": _nullable("string"),
                        "overdue": {"type": "boolean"},
                        "enabled": {"type": "boolean"},
                        "mode": _nullable({"enum": ["report", "enforce"]}),
                        "notice": _nullable("string"),
                    }
                ),
            }
        ),
    },
    **_object(
        {
            "schemaVersion": {"const": SCHEMA_VERSION},
            "generatedAt": TIME,
            "status": STATUS,
            "reason": {"type": "string"},
            "stale": {"type": "boolean"},
            "snapshot": _object(
                {
                    "takenAt": _nullable(TIME),
                    "source": _nullable({"enum": ["poll", "refresh"]}),
                    "ageSeconds": _nullable("number"),
                    "staleAfterSeconds": {"type": "number", "exclusiveMinimum": 0},
                }
            ),
            "refresh": _object(
                {
                    "requested": {"type": "boolean"},
                    "performed": {"type": "boolean"},
                    "detail": {"type": "string"},
                }
            ),
            "keyRotation": _object(
                {
                    "notEnabled": {"type": "array", "items": {"type": "string"}},
                    "detail": {"type": "string"},
                }
            ),
            "sites": {"type": "array", "items": {"$ref": "#/$defs/site"}},
        }
    ),
}


# 1.3: `page`, which sites GET /api/health lists (paging and the status and name filters at scale).
HEALTH_SCHEMA["properties"]["page"] = _object(
    {
        "number": {"type": "integer", "minimum": 1},
        "size": {"type": "integer", "minimum": 1},
        "pages": {"type": "integer", "minimum": 1},
        "totalSites": {"type": "integer", "minimum": 0},
        "matchingSites": {"type": "integer", "minimum": 0},
        "shownSites": {"type": "integer", "minimum": 0},
        "status": {"type": "array", "items": STATUS},
        "name": _nullable("string"),
    }
)
