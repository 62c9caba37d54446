"""A failing night sends an email through Airflow's SMTP notifier to a local SMTP sink: what
failed and how to fix it, never data or key material."""

from __future__ import annotations

import base64
import email
import json
from types import SimpleNamespace

import pytest

from tests.support.smtp_sink import SmtpSink
from transforms.errors import KeyConfigError
from transforms.orchestration import send_failure_alert


@pytest.fixture
def sink(monkeypatch, tmp_path):
    s = SmtpSink()
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.setenv(
        "AIRFLOW_CONN_EXPORT_ALERTS",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": s.port,
                "extra": {"disable_tls": True, "disable_ssl": True, "timeout": 5, "retry_limit": 1},
            }
        ),
    )
    yield s
    s.close()


def variables(**values):
    return lambda name, default: values.get(name, default)


def context(exc: BaseException) -> dict:
    ti = SimpleNamespace(dag_id="viewing_sessions_export", task_id="pull")
    return {"task_instance": ti, "exception": exc, "params": {"day": "2026-11-23"}}


def test_a_failing_night_sends_what_failed_and_how_to_fix_it(sink):
    secret = "base64:" + base64.b64encode(b"k" * 32).decode()
    exc = KeyConfigError("no pseudonymization key: set the Airflow Variable pseudonymization_secret")
    sent = send_failure_alert(
        context(exc),
        variables(
            viewing_export_alert_to="oncall@example.org, data-eng@example.org",
            viewing_export_alert_from="exports@example.org",
            viewing_export_alert_conn_id="export_alerts",
            pseudonymization_secret=secret,
        ),
    )
    assert sent and len(sink.messages) == 1
    message = email.message_from_string(sink.messages[0])
    assert message["Subject"] == "[viewing-export] viewing_sessions_export failed at pull for 2026-11-23"
    assert message["To"] == "oncall@example.org, data-eng@example.org"
    body = next(p for p in message.walk() if p.get_content_type() == "text/html").get_payload(decode=True).decode()
    assert "set the Airflow Variable pseudonymization_secret" in body
    assert "docs/OPERATIONS.md" in body and "day" in body
    assert secret not in sink.messages[0] and secret not in body


def test_no_recipient_configured_sends_nothing(sink):
    assert send_failure_alert(context(RuntimeError("x")), variables()) is False
    assert sink.messages == []


def test_an_unreachable_mail_server_is_logged_not_raised(sink, caplog):
    sink.close()
    sent = send_failure_alert(
        context(RuntimeError("boom")),
        variables(
            viewing_export_alert_to="oncall@example.org",
            viewing_export_alert_from="exports@example.org",
            viewing_export_alert_conn_id="export_alerts",
        ),
    )
    assert sent is False
    assert "failure alert not sent" in caplog.text
