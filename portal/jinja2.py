"""The Jinja2 environment for pages and emails: Django's static and url helpers as globals."""

from typing import Any

from django.contrib.messages import get_messages
from django.templatetags.static import static
from django.urls import reverse
from jinja2 import Environment, StrictUndefined, select_autoescape


def environment(**options: Any) -> Environment:
    # Escape HTML templates only: a plain-text email must show "a&b@example.com" as typed.
    options["autoescape"] = select_autoescape(["html"], default_for_string=True, default=False)
    options.setdefault("undefined", StrictUndefined)
    options.setdefault("trim_blocks", True)
    options.setdefault("lstrip_blocks", True)
    env = Environment(**options)  # noqa: S701 - autoescape is set above
    env.globals.update({"static": static, "url": reverse, "get_messages": get_messages})
    return env
