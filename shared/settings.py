"""Every app setting hybridnet reads, typed and validated in one place.

App settings reach a Function App as environment variables. Each one is documented in
`local.settings.sample.json`; a bad value raises `SettingsError` naming the setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.errors import ConfigurationError

DEFAULT_ARM_ENDPOINT = "https://management.azure.com"


class SettingsError(ConfigurationError, ValueError):
    """An app setting is missing or malformed. The message names the setting."""


def _text(env: Mapping[str, str], name: str, default: str = "") -> str:
    return env.get(name, default).strip()


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float, maximum: float) -> float:
    raw = _text(env, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name}={raw!r} must be between {minimum:g} and {maximum:g}")
    return value


DRIFT_MODES = ("report", "enforce", "enforce-disruptive")
# report: the rotation timer adopts and checks keys and records which are due, but starts no rotation
# (nothing is written to Azure unless an operator forces one); enforce: due keys of sites with
# `rotation.enabled` are rotated.
ROTATION_MODES = ("report", "enforce")


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = _text(env, name, choices[0])
    if raw not in choices:
        raise SettingsError(f"{name}={raw!r} must be one of: {', '.join(choices)}")
    return raw


def _topic_endpoint(env: Mapping[str, str]) -> str | None:
    endpoint = _text(env, "HYBRIDNET_EVENTS_TOPIC_ENDPOINT") or None
    if endpoint and not endpoint.startswith("https://"):
        raise SettingsError(f"HYBRIDNET_EVENTS_TOPIC_ENDPOINT={endpoint!r} must be an https:// URL")
    if endpoint and not _text(env, "HYBRIDNET_EVENTS_TOPIC_KEY"):
        raise SettingsError("HYBRIDNET_EVENTS_TOPIC_ENDPOINT is set but HYBRIDNET_EVENTS_TOPIC_KEY is empty")
    return endpoint


def _vault_url(env: Mapping[str, str]) -> str | None:
    url = _text(env, "HYBRIDNET_KEYVAULT_URL").rstrip("/") or None
    if url and not url.startswith("https://"):
        raise SettingsError(
            f"HYBRIDNET_KEYVAULT_URL={url!r} must be an https:// URL (https://NAME.vault.azure.net)"
        )
    return url


HEALTH_503_CONDITIONS = ("outage", "stale")


def _health_503_on(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = _text(env, "HYBRIDNET_HEALTH_503_ON", ",".join(HEALTH_503_CONDITIONS))
    if raw == "never":
        return ()
    values = tuple(v.strip() for v in raw.split(",") if v.strip())
    unknown = [v for v in values if v not in HEALTH_503_CONDITIONS]
    if unknown or not values:
        raise SettingsError(
            f"HYBRIDNET_HEALTH_503_ON={raw!r} must be 'never' or a comma-separated list of: "
            f"{', '.join(HEALTH_503_CONDITIONS)}"
        )
    return values


def schedule_interval(schedule: str) -> float | None:
    """Seconds between runs of a fixed-interval NCRONTAB (6 fields, seconds first) such as
    `0 * * * * *` (60), `*/2 * * * * *` (2) or `0 */5 * * * *` (300); None for any other shape."""
    fields = schedule.split()
    if len(fields) != 6 or any(f != "*" for f in fields[3:]):
        return None
    unit = 1.0
    for i, value in enumerate(fields[:3]):
        rest = fields[i + 1 : 3]
        if value == "*" and all(r == "*" for r in rest):
            return unit
        if value.startswith("*/") and value[2:].isdigit() and all(r == "*" for r in rest):
            return unit * int(value[2:])
        if not value.isdigit():
            return None
        unit *= 60
    return 86400.0


def _health_stale_seconds(env: Mapping[str, str]) -> float:
    interval = schedule_interval(_text(env, "HYBRIDNET_FAILOVER_SCHEDULE", "0 * * * * *"))
    default = 2 * interval if interval else 120.0
    return _number(env, "HYBRIDNET_HEALTH_STALE_SECONDS", default, minimum=1, maximum=86400 * 7)


@dataclass(frozen=True)
class Settings:
    """Typed view of the app settings."""

    subscription_id: str
    spec_path: str
    arm_endpoint: str
    arm_ca_bundle: str | None
    arm_polling_interval: float
    arm_call_timeout: float
    arm_retry_total: int
    tables_connection_string: str | None = field(repr=False)  # may hold the storage account key
    tables_account_url: str | None
    drift_mode: str
    own_principal_ids: tuple[str, ...]
    lease_seconds: float
    lro_timeout: float
    apply_budget: float
    failover_hold_count: int = 1
    failover_retention_days: float = 365
    failover_evidence_timeout: float = 30
    failover_alert_min_seconds: float = 5
    events_topic_endpoint: str | None = None
    events_topic_key: str | None = field(default=None, repr=False)  # a secret: never in repr/logs
    health_stale_seconds: float = 120
    health_503_on: tuple[str, ...] = HEALTH_503_CONDITIONS
    health_refresh_min_seconds: float = 10
    health_cache_seconds: float = 2
    keyvault_url: str | None = None
    rotation_key_length: int = 48
    rotation_key_symbols: bool = False
    rotation_peer_deadline_hours: float = 24
    rotation_mode: str = "report"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        arm_endpoint = _text(env, "HYBRIDNET_ARM_ENDPOINT", DEFAULT_ARM_ENDPOINT).rstrip("/")
        if not arm_endpoint.startswith("https://"):
            raise SettingsError(
                f"HYBRIDNET_ARM_ENDPOINT={arm_endpoint!r} must be an https:// URL "
                "(Azure SDKs refuse to send bearer tokens over plain http)"
            )
        ca_bundle = _text(env, "HYBRIDNET_ARM_CA_BUNDLE") or None
        if ca_bundle and not os.path.isfile(ca_bundle):
            raise SettingsError(f"HYBRIDNET_ARM_CA_BUNDLE={ca_bundle!r}: no such file")
        connection_string = _text(env, "HYBRIDNET_TABLES_CONNECTION_STRING") or _text(
            env, "AzureWebJobsStorage"
        )
        account_url = _text(env, "HYBRIDNET_TABLES_ACCOUNT_URL") or _text(
            env, "AzureWebJobsStorage__tableServiceUri"
        )
        return cls(
            subscription_id=_text(env, "AZURE_SUBSCRIPTION_ID"),
            spec_path=_text(env, "HYBRIDNET_SPEC_PATH", "network.yaml"),
            arm_endpoint=arm_endpoint,
            arm_ca_bundle=ca_bundle,
            arm_polling_interval=_number(
                env, "HYBRIDNET_ARM_POLLING_INTERVAL", 30.0, minimum=0.01, maximum=300
            ),
            arm_call_timeout=_number(env, "HYBRIDNET_ARM_CALL_TIMEOUT", 60.0, minimum=1, maximum=600),
            arm_retry_total=int(_number(env, "HYBRIDNET_ARM_RETRY_TOTAL", 3, minimum=0, maximum=10)),
            tables_connection_string=connection_string or None,
            tables_account_url=account_url or None,
            drift_mode=_choice(env, "HYBRIDNET_DRIFT_MODE", DRIFT_MODES),
            own_principal_ids=tuple(
                p.strip().lower() for p in _text(env, "HYBRIDNET_APP_PRINCIPAL_IDS").split(",") if p.strip()
            ),
            lease_seconds=_number(env, "HYBRIDNET_LEASE_SECONDS", 90, minimum=10, maximum=7200),
            apply_budget=_number(env, "HYBRIDNET_APPLY_BUDGET_SECONDS", 1200, minimum=10, maximum=7200),
            lro_timeout=_number(env, "HYBRIDNET_LRO_TIMEOUT", 240, minimum=1, maximum=3600),
            failover_hold_count=int(_number(env, "HYBRIDNET_FAILOVER_HOLD_COUNT", 1, minimum=1, maximum=10)),
            failover_retention_days=_number(
                env, "HYBRIDNET_FAILOVER_RETENTION_DAYS", 365, minimum=1, maximum=3650
            ),
            failover_evidence_timeout=_number(
                env, "HYBRIDNET_FAILOVER_EVIDENCE_TIMEOUT", 30, minimum=1, maximum=300
            ),
            failover_alert_min_seconds=_number(
                env, "HYBRIDNET_FAILOVER_ALERT_MIN_SECONDS", 5, minimum=0, maximum=300
            ),
            events_topic_endpoint=_topic_endpoint(env),
            events_topic_key=_text(env, "HYBRIDNET_EVENTS_TOPIC_KEY") or None,
            health_stale_seconds=_health_stale_seconds(env),
            health_503_on=_health_503_on(env),
            health_refresh_min_seconds=_number(
                env, "HYBRIDNET_HEALTH_REFRESH_MIN_SECONDS", 10, minimum=0, maximum=3600
            ),
            health_cache_seconds=_number(env, "HYBRIDNET_HEALTH_CACHE_SECONDS", 2, minimum=0, maximum=60),
            keyvault_url=_vault_url(env),
            rotation_key_length=int(
                _number(env, "HYBRIDNET_ROTATION_KEY_LENGTH", 48, minimum=16, maximum=128)
            ),
            rotation_key_symbols=_choice(env, "HYBRIDNET_ROTATION_KEY_SYMBOLS", ("false", "true")) == "true",
            rotation_peer_deadline_hours=_number(
                env, "HYBRIDNET_ROTATION_PEER_DEADLINE_HOURS", 24, minimum=0, maximum=24 * 30
            ),
            rotation_mode=_choice(env, "HYBRIDNET_ROTATION_MODE", ROTATION_MODES),
        )

    def require_vault(self) -> str:
        if not self.keyvault_url:
            raise SettingsError(
                "HYBRIDNET_KEYVAULT_URL is not set: shared keys are escrowed in Key Vault before Azure is changed"
            )
        return self.keyvault_url

    def require_subscription(self) -> str:
        if not self.subscription_id:
            raise SettingsError("AZURE_SUBSCRIPTION_ID is not set (the subscription holding the sites)")
        return self.subscription_id
