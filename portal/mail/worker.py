"""The background sender of the embedded default: a daemon thread that empties the outbox.

Only when ``OUTBOX_THREAD`` is set (``config.from_environment`` sets it when ``DATABASE_URL`` is
not, i.e. one process on the embedded SQLite database). Deployments with several workers run
``flask outbox send --loop`` instead; both may run at once, since a message is claimed before it is
sent.

The thread starts with the first request, not in ``create_app``: ``flask run --reload`` builds the
app in the watching parent process too, and every CLI command (``flask db upgrade``, ``flask outbox
send``) builds one; none of those serve requests, so none of them start a sender. It is a daemon
thread, so it never keeps the process alive, and it is started once per process (again in a forked
child, where threads do not survive).
"""

from __future__ import annotations

import logging
import os
import threading

from flask import Flask

from .delivery import send_pending

logger = logging.getLogger("portal.mail")

DEFAULT_INTERVAL = 10.0  # seconds
_lock = threading.Lock()


class Sender:
    """The thread and its stop switch."""

    def __init__(self, app: Flask, interval: float):
        self.app = app
        self.interval = interval
        self.pid = os.getpid()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name="outbox-sender", daemon=True)

    def run(self) -> None:
        """Send what is due, wait, repeat; an error is logged and the next round tries again."""
        while not self.stopping.is_set():
            try:
                with self.app.app_context():
                    send_pending()
            except Exception:
                logger.exception("the outbox sender failed; trying again in %s s", self.interval)
            self.stopping.wait(self.interval)

    def stop(self, timeout: float | None = None) -> None:
        self.stopping.set()
        self.thread.join(timeout)

    @property
    def running(self) -> bool:
        return self.pid == os.getpid() and self.thread.is_alive()


def init_app(app: Flask) -> None:
    """Start the sender with the app's first request when ``OUTBOX_THREAD`` is set."""
    if not app.config.get("OUTBOX_THREAD"):
        return

    @app.before_request
    def _start_outbox_sender():
        sender = app.extensions.get("outbox_sender")
        if sender is None or not sender.running:
            start(app)


def start(app: Flask) -> Sender:
    """Start this app's sender thread, unless it is already running in this process."""
    with _lock:
        sender = app.extensions.get("outbox_sender")
        if sender is not None and sender.running:
            return sender
        interval = float(app.config.get("OUTBOX_INTERVAL") or DEFAULT_INTERVAL)
        sender = Sender(app, interval)
        app.extensions["outbox_sender"] = sender
        sender.thread.start()
        logger.info("outbox sender started (every %s s)", interval)
        return sender
