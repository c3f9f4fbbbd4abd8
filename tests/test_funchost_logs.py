"""The local host's log (stderr of `python -m hybridnet_dev.funchost`) never carries a key, even when
the app logs the URL it was called with or a function fails on it."""

from __future__ import annotations

import json
import logging
import signal
import sys

from hybridnet_dev.funchost.redact import MASK, KeyRedactingFilter
from tests.helpers import call, funchost_process
from tests.stack import ROOT


def test_keys_and_code_values_are_masked_in_messages_arguments_and_tracebacks():
    redacting = KeyRedactingFilter(["k3y-one", "m4ster"])
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "url %s key %s", ("/a?code=abc&b=1", "m4ster"), None
    )
    try:
        raise ValueError("failed on http://h/api?x=1&code=k3y-one")
    except ValueError:
        record.exc_info = sys.exc_info()
    assert redacting.filter(record) is True
    text = logging.Formatter().format(record)
    assert "k3y-one" not in text and "m4ster" not in text and "code=abc" not in text
    assert f"url /a?code={MASK}&b=1 key {MASK}" in text and "ValueError" in text


def test_the_host_log_never_contains_a_key_the_app_logged():
    sample = {"SAMPLE_SCHEDULE": "0 0 0 1 1 *"}
    with funchost_process(app_dir="tests/funchost_sample", cwd=ROOT, env=sample) as proc:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        base = info["baseUrl"]
        keys = [info["functionKey"], info["masterKey"], info["eventGridKey"]]
        # `hello` logs its URL, as apps do; the key rides in the query.
        assert call("GET", f"{base}/sample/hello?code={info['functionKey']}&x=1").status == 200
        assert call("GET", f"{base}/sample/hello?code={info['masterKey']}").status == 200
        assert call("GET", f"{base}/sample/sites/x/items?code=wrong-{info['functionKey']}").status == 401
        assert call("GET", f"{base}/sample/boom?code={info['eventGridKey']}").status == 500
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert f"hello called: {base}/sample/hello?code={MASK}&x=1" in err  # the line is there, masked
        assert "Functions.boom" in err
        for key in keys:
            assert key not in err
