"""Every app setting hybridnet reads, typed and validated in one place.

App settings reach a Function App as environment variables. Each one is documented in
`local.settings.sample.json`; a bad value raises `SettingsError` naming the setting.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

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


_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})")
_SCHEDULE_REFERENCE = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday in a leap year: deterministic answers
_MAX_DAYS_SCANNED = 1500


def schedule_interval(schedule: str) -> float | None:
    """The longest time in seconds between two consecutive runs of a timer schedule: an NCRONTAB
    expression (6 fields, seconds first, as Azure Functions writes them, or 5 without seconds) or a
    TimeSpan (`hh:mm:ss`, `d.hh:mm:ss`). `0 * * * * *` is 60, `0 0-59/5 * * * *` and `0 */5 * * * *`
    are 300, `5,10 * * * * *` is 55; None when `schedule` is not a valid schedule. Evaluated with
    croniter (in UTC), so every form NCRONTAB accepts (ranges with steps, lists, names) is understood."""
    return _longest_gap(" ".join(schedule.split()))


@lru_cache(maxsize=32)
def _longest_gap(schedule: str) -> float | None:
    from croniter import croniter

    span = _TIMESPAN.fullmatch(schedule)
    if span:
        days, hours, minutes, seconds = (int(g) if g else 0 for g in span.groups())
        total = float(days * 86400 + hours * 3600 + minutes * 60 + seconds)
        return total if total > 0 else None
    fields = schedule.split(" ")
    if len(fields) == 6:
        second, minute, hour, dom, month, dow = fields
    elif len(fields) == 5:
        second, (minute, hour, dom, month, dow) = "0", fields
    else:
        return None
    try:
        # croniter's optional seconds field comes last; NCRONTAB's comes first.
        expanded = croniter(f"{minute} {hour} {dom} {month} {dow} {second}", _SCHEDULE_REFERENCE).expanded
        days = croniter(f"0 0 {dom} {month} {dow}", _SCHEDULE_REFERENCE - timedelta(days=1))
    except (ValueError, KeyError, TypeError):  # croniter's errors are ValueErrors
        return None

    def values(field: list[int | str], size: int) -> list[int]:
        return list(range(size)) if field == ["*"] else sorted({int(v) for v in field})

    minutes, hours, seconds = values(expanded[0], 60), values(expanded[1], 24), values(expanded[5], 60)
    times = sorted(h * 3600 + m * 60 + s for h in hours for m in minutes for s in seconds)  # seconds of day
    longest = max((b - a for a, b in itertools.pairwise(times)), default=0)
    if (dom, month, dow) == ("*", "*", "*"):
        day_gap = 1
    else:
        window = (
            15 if (dom, month) == ("*", "*") else 366 * 8
        )  # weekdays repeat weekly; dates by the leap cycle
        run_days: list[int] = []
        try:
            while len(run_days) < _MAX_DAYS_SCANNED:
                day = (days.get_next(datetime) - _SCHEDULE_REFERENCE).days
                if day > window:
                    break
                run_days.append(day)
        except (ValueError, KeyError, TypeError):  # croniter: no further run (e.g. 31 February)
            pass
        if len(run_days) < 2:
            return None if not run_days else float(window * 86400)
        day_gap = max(b - a for a, b in itertools.pairwise(run_days))
    return float(max(longest, day_gap * 86400 - (times[-1] - times[0])))


def _health_stale_seconds(env: Mapping[str, str]) -> float:
    schedule = _text(env, "HYBRIDNET_FAILOVER_SCHEDULE", "0 * * * * *")
    interval = schedule_interval(schedule)
    if interval is None:
        raise SettingsError(
            f"HYBRIDNET_FAILOVER_SCHEDULE={schedule!r} is not a timer schedule (NCRONTAB with 6 fields, "
            "seconds first, e.g. '0 */5 * * * *' for every 5 minutes)"
        )
    default = 2 * interval
    return _number(env, "HYBRIDNET_HEALTH_STALE_SECONDS", default, minimum=1, maximum=86400 * 7)


def _routes_schedule(env: Mapping[str, str]) -> float:
    """Seconds between route checks (HYBRIDNET_ROUTES_SCHEDULE, the timer's NCRONTAB)."""
    schedule = _text(env, "HYBRIDNET_ROUTES_SCHEDULE", "0 */5 * * * *")
    interval = schedule_interval(schedule)
    if interval is None:
        raise SettingsError(
            f"HYBRIDNET_ROUTES_SCHEDULE={schedule!r} is not a timer schedule (NCRONTAB with 6 fields, "
            "seconds first, e.g. '0 */5 * * * *' for every 5 minutes)"
        )
    return interval


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
    routes_interval: float = 300  # seconds between scheduled route checks (HYBRIDNET_ROUTES_SCHEDULE)
    routes_min_seconds: float = 60  # route checks of one site start at least this far apart
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
    drill_mode: str = "report"  # HYBRIDNET_DRILL_MODE: report plans and records only; enforce runs drills
    drill_failover_deadline: float = 300  # seconds for every declared prefix to move to the VPN
    drill_hold: float = 120  # seconds the drill holds traffic on the VPN
    drill_failback_deadline: float = 300  # seconds for ExpressRoute to carry every prefix again
    drill_poll_seconds: float = 10  # between route-truth reads while a drill runs
    drill_max_age_days: float | None = None  # report degraded past this many days without a passing drill

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
            routes_interval=_routes_schedule(env),
            routes_min_seconds=_number(env, "HYBRIDNET_ROUTES_MIN_SECONDS", 60, minimum=0, maximum=3600),
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
            drill_mode=_choice(env, "HYBRIDNET_DRILL_MODE", ROTATION_MODES),
            drill_failover_deadline=_number(
                env, "HYBRIDNET_DRILL_FAILOVER_DEADLINE_SECONDS", 300, minimum=1, maximum=3600
            ),
            drill_hold=_number(env, "HYBRIDNET_DRILL_HOLD_SECONDS", 120, minimum=0, maximum=3600),
            drill_failback_deadline=_number(
                env, "HYBRIDNET_DRILL_FAILBACK_DEADLINE_SECONDS", 300, minimum=1, maximum=3600
            ),
            drill_poll_seconds=_number(env, "HYBRIDNET_DRILL_POLL_SECONDS", 10, minimum=0, maximum=300),
            drill_max_age_days=(
                _number(env, "HYBRIDNET_DRILL_MAX_AGE_DAYS", 0, minimum=1, maximum=3650)
                if _text(env, "HYBRIDNET_DRILL_MAX_AGE_DAYS")
                else None
            ),
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
