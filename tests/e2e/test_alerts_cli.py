"""`segport alerts` as an operator uses it: add a chat alert and an email alert, test them, list them and the
alerts sent, remove one; and the mistakes, each answered with the fix and exit code 2 (3 for a test that was
not delivered)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.cli import emulator_process, environment, segport
from tests.support.receivers import hook_server, smtp_inbox


def test_alerts_are_added_tested_listed_and_removed(tmp_path: Path) -> None:
    with emulator_process() as base, hook_server() as hook, smtp_inbox() as inbox:
        plain = environment(tmp_path / "home", base, SEGPORT_WEBHOOK_ALLOW_INTERNAL="true")
        segport(plain, "connections", "add", "constant-contact", "--name", "CC", "--i-agree", "--no-browser")
        no_smtp = segport(plain, "alerts", "add", "--connection", "CC", "--email", "ops@example.com", check=False)
        assert no_smtp.returncode == 2 and "SEGPORT_SMTP_HOST" in no_smtp.stderr
        env = {
            **plain,
            "SEGPORT_SMTP_HOST": "127.0.0.1",
            "SEGPORT_SMTP_PORT": str(inbox.port),
            "SEGPORT_SMTP_SECURITY": "none",
            "SEGPORT_SMTP_FROM": "segport@example.com",
            "SEGPORT_WEBHOOK_BACKOFF_SECONDS": "0",
        }
        both = segport(env, "alerts", "add", "--connection", "CC", "--chat", hook.url, "--email", "a@x.io", check=False)
        assert both.returncode == 2 and "one of --email, --chat or --webhook" in both.stderr
        added = segport(env, "alerts", "add", "--connection", "CC", "--chat", hook.url, "--every-run").stdout
        assert "Alert 1 added: chat (slack format) to http://127.0.0.1/…" in added and "secret" not in added
        segport(env, "alerts", "add", "--connection", "CC", "--email", "ops@example.com")
        assert "Test sent to http://127.0.0.1/…" in segport(env, "alerts", "test", "1").stdout
        assert "Test sent to ops@example.com" in segport(env, "alerts", "test", "2").stdout
        assert len(hook.received) == 1 and inbox.messages[0]["To"] == "ops@example.com"
        hook.answers = [404]
        refused = segport(env, "alerts", "test", "1", check=False)
        assert refused.returncode == 3 and "HTTP 404" in refused.stdout
        listed = segport(env, "alerts", "list").stdout
        assert "connection CC" in listed and "Every finished run" in listed and "ops@example.com" in listed
        sent = segport(env, "alerts", "sent").stdout
        assert sent.count("segport: a test alert (test)") == 3 and "not delivered" in sent
        segport(env, "alerts", "remove", "1")
        gone = segport(env, "alerts", "test", "1", check=False)
        assert gone.returncode == 2 and "no alert 1" in gone.stderr and "Traceback" not in gone.stderr
