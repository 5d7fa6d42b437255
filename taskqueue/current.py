"""The task a worker is running, for its log lines; importable before Django's apps are ready
(the logging configuration reads it), so nothing here touches django_q."""

import contextvars

current_task: contextvars.ContextVar[str] = contextvars.ContextVar("current_task", default="-")
