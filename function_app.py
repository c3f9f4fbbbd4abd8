"""Composition root of the hybridnet Function App: one blueprint per capability, nothing else.

Keep this module thin and cheap to import: Azure SDKs are imported lazily by `shared.azure`.
"""

import azure.functions as func

from shared.errors import install_log_redaction
from shared.telemetry import configure_telemetry
from shared.triggers.drift import bp as drift_blueprint
from shared.triggers.drill import bp as drill_blueprint
from shared.triggers.failover import bp as failover_blueprint
from shared.triggers.health import bp as health_blueprint
from shared.triggers.rotation import bp as rotation_blueprint

install_log_redaction()  # every log record is redacted (shared.errors), whatever writes it
configure_telemetry()  # Application Insights via OpenTelemetry, only when its connection string is set

app = func.FunctionApp()
app.register_functions(health_blueprint)
app.register_functions(drift_blueprint)
app.register_functions(failover_blueprint)
app.register_functions(rotation_blueprint)
app.register_functions(drill_blueprint)
