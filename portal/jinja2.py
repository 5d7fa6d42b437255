"""The Jinja2 environment for pages and emails: Django's static, url and translation helpers."""

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.contrib.messages import get_messages
from django.templatetags.static import static
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext
from jinja2 import Environment, StrictUndefined, select_autoescape
from markupsafe import Markup, escape


def when(moment: datetime | None) -> Markup:
    """ "3 minutes ago" or "40 seconds from now", the exact time on hover."""
    if moment is None:
        return escape(gettext("never"))
    exact = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        moment.isoformat(), exact, naturaltime(moment)
    )


def localdatetime(moment: datetime) -> Markup:
    """A date and time as the reader's language writes them, machine-readable too."""
    shown = formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")
    return Markup('<time datetime="{}">{}</time>').format(moment.isoformat(), shown)


def duration(seconds: float) -> str:
    """3 h 5 min, 4 min 10 s, 12 s."""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def environment(**options: Any) -> Environment:
    # Escape HTML templates only: a plain-text email must show "a&b@example.com" as typed.
    options["autoescape"] = select_autoescape(["html"], default_for_string=True, default=False)
    options.setdefault("undefined", StrictUndefined)
    options.setdefault("trim_blocks", True)
    options.setdefault("lstrip_blocks", True)
    options.setdefault("extensions", []).append("jinja2.ext.i18n")
    env = Environment(**options)  # noqa: S701 - autoescape is set above
    # New-style gettext: `_("Hello %(name)s", name=...)` formats after escaping the arguments.
    env.install_gettext_translations(translation, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        {
            "static": static,
            "url": reverse,
            "get_messages": get_messages,
            "when": when,
            "localdatetime": localdatetime,
            "get_language": translation.get_language,
            "languages": settings.LANGUAGES,
            "duration": duration,
        }
    )
    return env
