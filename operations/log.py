"""Logging filters: the running task on every line a worker writes, and no secrets anywhere.

Imported by the logging configuration, before the apps are ready: no models here.
"""

import logging
import re

from taskqueue.current import current_task

# Paths whose last segments are tokens: /verify-email/<uid>/<token>/, /password-reset/<uid>/<token>/
SECRET_PATHS = re.compile(
    r"/(verify-email|password-reset)/(?!sent/|complete/|resend/)[^/\s\"']+/[^/\s\"']+"
)


class TaskContextFilter(logging.Filter):
    """Adds %(task)s: the task's name and id in a worker, '-' elsewhere."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.task = current_task.get()
        return True


class RedactSecretsFilter(logging.Filter):
    """Replaces tokens in logged paths (request logs, 404 warnings) with [redacted]."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = SECRET_PATHS.sub(r"/\1/[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True
