"""The one exception hierarchy (shared.errors), the SDK translation (shared.azure.errors, fed by real
azure-core responses from a loopback server) and the one message policy: resource details may leave
the app, secrets never (HTTP bodies, run records, logs)."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from azure.core import PipelineClient
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from azure.core.rest import HttpRequest
from azure.mgmt.core.exceptions import ARMErrorFormat

from hybridnet_dev.azurite import free_port
from shared.azure.errors import translate
from shared.azure.network_state import describe_error
from shared.drift.events import InvalidEvent, decide
from shared.drift.reconcile import SiteBusy
from shared.errors import (
    REDACTED,
    AppError,
    BadRequest,
    ConfigurationError,
    DependencyFailed,
    DependencyUnavailable,
    as_app_error,
    error_body,
    install_log_redaction,
    redact,
)
from shared.failover.alerts import AlertError
from shared.services.errors import app_error
from shared.services.failover import ObservationFailed
from shared.settings import SettingsError
from shared.spec import UnknownSite
from shared.spec.load import SpecError
from shared.triggers.http_json import error_response, json_depth
from tests.stack import RG_ID, seed_spec

KEY = "Vq7-hybrid!Shared#Key42"
CONNECTION = f"{RG_ID}/connections/hybrid-vpn-connection"


# --- the policy ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        (f"PUT failed: {KEY} was refused", KEY),  # a known secret, anywhere
        ('{"properties": {"sharedKey": "Z9-inline-key"}}', "Z9-inline-key"),
        (f'{CONNECTION}/sharedkey body {{"value": "Y8-body-key"}}', "Y8-body-key"),
        (
            "DefaultEndpointsProtocol=http;AccountName=dev;AccountKey=Eby8vdM02xNO==;TableEndpoint=x",
            "Eby8vdM0",
        ),
        ("https://h/api/health?code=fnKey123abc&site=seed", "fnKey123abc"),
        ("https://acct.table.core.windows.net/t?sv=2020&sig=AbC%2Fsig0&se=1", "AbC%2Fsig0"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.c2lnbmF0dXJl", "eyJzdWIiOiIxMjM0"),
        ("client_secret=hunter2hunter2 password: 'p4ss word'", "hunter2"),
        ("X-IDENTITY-HEADER: 6f1e-identity-header-value", "6f1e-identity"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA"),
        ("Authorization: SharedKey devstoreaccount1:Zm9vYmFyYmF6cXV4", "Zm9vYmFyYmF6cXV4"),
        ("token was bearer abcdefghijklmnopqrstuvwxyz0123", "abcdefghijklmnop"),
    ],
)
def test_redact_removes_every_kind_of_secret(text, leaked):
    out = redact(text, secrets=[KEY])
    assert leaked not in out
    assert REDACTED in out


def test_redact_keeps_resource_details_and_arm_codes():
    text = (
        f'{{"error": {{"code": "AuthorizationFailed", "message": "The client has no authorization to perform '
        f"action 'Microsoft.Network/connections/write' over scope '{CONNECTION}'\"}}}}"
    )
    assert redact(text) == text
    prose = "basic connectivity failed; the sharedkey operation of connection c was refused (400)"
    assert redact(prose) == prose


def test_redact_cuts_only_after_replacing_so_no_half_secret_survives():
    text = "x" * 1990 + KEY
    out = redact(text, secrets=[KEY], limit=2000)
    assert KEY[:5] not in out and "more characters cut" not in out  # the key became *** first
    long = redact("y" * 5000)
    assert len(long) < 2100 and long.endswith("(3000 more characters cut)")


def test_error_bodies_are_redacted_messages_and_details_alike():
    response = error_response(
        400, "BadThing", f"sharedKey={KEY}", url="https://h/api/x?code=fnKey123abc", count=3
    )
    body = response.get_body().decode()
    assert KEY not in body and "fnKey123abc" not in body
    assert json.loads(body)["error"]["count"] == 3 and json.loads(body)["error"]["code"] == "BadThing"


# --- the hierarchy -------------------------------------------------------------------------------


def test_the_apps_errors_are_one_hierarchy_with_status_and_code():
    cases = {
        SettingsError("HYBRIDNET_X is bad"): (500, "ConfigurationError"),
        SpecError(["sites: required"], "spec.yaml"): (500, "ConfigurationError"),
        UnknownSite("atlantis", ["seed"]): (404, "UnknownSite"),
        SiteBusy("site seed: another reconciler holds its lock"): (409, "SiteBusy"),
        AlertError("NoAlertTarget", "no targets"): (400, "NoAlertTarget"),
        ObservationFailed("site seed: cannot read"): (503, "ObservationFailed"),
        RecursionError("maximum recursion depth exceeded"): (400, "BadRequest"),
    }
    for exc, expected in cases.items():
        error = as_app_error(exc)
        assert (error.status, error.code) == expected, exc
    assert isinstance(SettingsError("x"), ValueError) and isinstance(UnknownSite("a", []), KeyError)
    assert error_body(as_app_error(UnknownSite("atlantis", ["seed"])))["error"]["known"] == ["seed"]
    assert isinstance(SpecError(["x"]), ConfigurationError) and isinstance(AlertError("c", "m"), BadRequest)


def test_an_unexpected_exception_is_a_500_naming_only_its_type():
    error = app_error(ValueError(f"sharedKey {KEY} mangled"))
    assert (error.status, error.code) == (500, "InternalError") and type(error) is AppError
    assert "ValueError" in str(error) and KEY not in str(error)


def test_an_event_without_a_usable_id_is_rejected_by_the_decision():
    sites = seed_spec().sites
    for event_id, says in ((None, "no id"), ("", "an empty id"), (42, "non-string id"), ("x" * 2000, "2000")):
        with pytest.raises(InvalidEvent, match=says) as caught:
            decide(
                event_id=event_id,
                event_type="Microsoft.Resources.ResourceWriteSuccess",
                subject=CONNECTION,
                data={},
                sites=sites,
                own_principal_ids=[],
            )
        assert caught.value.status == 400 and "None" not in str(caught.value).replace("(none)", "")


def test_json_depth_skips_strings():
    assert json_depth(b'{"a": [1, {"b": "[[[[[["}]}') == 3
    assert json_depth(b'"[[[["') == 0


# --- the SDK translation, with real azure-core responses -------------------------------------------


class _Answer(BaseHTTPRequestHandler):
    status = 200
    body: ClassVar[dict[str, Any]] = {}
    headers_out: ClassVar[dict[str, str]] = {}

    def do_GET(self) -> None:
        payload = json.dumps(self.body).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in self.headers_out.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def arm_like() -> Iterator[tuple[str, type[_Answer]]]:
    handler = type("Answer", (_Answer,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def _sdk_error(base: str) -> HttpResponseError:
    """What generated SDK operations raise for a non-2xx answer."""
    client = PipelineClient(base_url=base)
    response = client.send_request(HttpRequest("GET", f"{base}{CONNECTION}?api-version=2024-05-01"))
    return HttpResponseError(response=response, error_format=ARMErrorFormat)


def test_an_arm_refusal_keeps_its_code_and_resource_but_not_the_key(arm_like):
    base, answer = arm_like
    answer.status = 400
    answer.body = {
        "error": {
            "code": "InvalidRequestContent",
            "message": f'The request content was invalid: {{"sharedKey": "{KEY}"}} for {CONNECTION}',
        }
    }
    exc = _sdk_error(base)
    error = translate(exc)
    assert isinstance(error, DependencyFailed) and error.status == 502
    text = str(error)
    assert "InvalidRequestContent" in text and "hybrid-vpn-connection" in text and "400" in text
    assert KEY not in text
    assert KEY not in describe_error(exc)  # the drift adapter's message (run records) follows the policy


def test_throttling_and_server_errors_are_503_with_the_answers_retry_after(arm_like):
    base, answer = arm_like
    answer.status, answer.headers_out = 429, {"Retry-After": "7"}
    answer.body = {"error": {"code": "TooManyRequests", "message": "retry after 7 seconds"}}
    error = translate(_sdk_error(base))
    assert isinstance(error, DependencyUnavailable) and (error.status, error.retry_after) == (503, 7)
    assert "Azure Resource Manager" in str(error)
    answer.status, answer.headers_out = 503, {}
    error = translate(_sdk_error(base))
    assert isinstance(error, DependencyUnavailable) and error.retry_after > 0


def test_a_closed_port_is_a_503_naming_the_address():
    port = free_port()
    client = PipelineClient(base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(ServiceRequestError) as caught:
        client.send_request(HttpRequest("GET", f"http://127.0.0.1:{port}/x"))
    error = app_error(caught.value)
    assert isinstance(error, DependencyUnavailable) and "could not be reached" in str(error)
    assert f"127.0.0.1:{port}" in str(error)


# --- logs ----------------------------------------------------------------------------------------


def test_log_records_are_redacted_whatever_handler_writes_them():
    original = logging.getLogRecordFactory()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        install_log_redaction()
        install_log_redaction()  # idempotent
        logger.warning("token: %s", "Bearer abcdefgh12345678xyz")
        try:
            raise RuntimeError(f'ARM said {{"sharedKey": "{KEY}"}}')
        except RuntimeError:
            logger.exception("write failed for %s", CONNECTION)
    finally:
        logger.removeHandler(handler)
        logging.setLogRecordFactory(original)
    written = stream.getvalue()
    assert "abcdefgh12345678xyz" not in written and KEY not in written
    assert "RuntimeError" in written and "Traceback" in written and CONNECTION in written
