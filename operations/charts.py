"""Pictures of the last hour and the last day for the status page, drawn here as SVG: nothing
from a CDN, no script, readable on a phone. Every figure comes from rows the portal keeps."""

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts.models import AuditRecord, EmailDelivery
from taskqueue.status import failure_times, queue_samples

COLOURS = ["#1d4ed8", "#b45309", "#047857", "#b91c1c"]
# The SVG's user units: its size and the margins around the plot (axis labels, legend).
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 400, 150, 40, 22, 26


@dataclass(frozen=True)
class Window:
    name: str
    start: datetime
    bucket: timedelta
    buckets: int
    per_bucket_name: str  # what a bar counts: "per minute"

    def index(self, moment: datetime) -> int | None:
        position = int((moment - self.start) / self.bucket)
        return position if 0 <= position < self.buckets else None

    def counts(self, moments: Iterable[datetime]) -> list[float]:
        counts = [0.0] * self.buckets
        for moment in moments:
            if (position := self.index(moment)) is not None:
                counts[position] += 1
        return counts

    def per_bucket(self, values: Iterable[tuple[datetime, float]]) -> list[list[float]]:
        grouped: list[list[float]] = [[] for _ in range(self.buckets)]
        for moment, value in values:
            if (position := self.index(moment)) is not None:
                grouped[position].append(value)
        return grouped


@dataclass(frozen=True)
class Chart:
    """Bars count events per bucket. A line has None where nothing was measured in a bucket:
    it is drawn with a gap there, not as a fall to zero."""

    title: str
    unit: str  # of a line's values; a bar's unit is its window's bucket
    kind: str  # "bars" (counts, stacked) or "lines"
    series: dict[str, list[float | None]]


def windows(now: datetime | None = None) -> list[Window]:
    """On whole minutes and hours, the last bucket the current one: a page refreshed within the
    minute draws the same bars."""
    now = now or timezone.now()
    minute, hour = timedelta(minutes=1), timedelta(hours=1)
    this_minute = now.replace(second=0, microsecond=0)
    this_hour = this_minute.replace(minute=0)
    return [
        Window(_("The last hour"), this_minute - 59 * minute, minute, 60, _("per minute")),
        Window(_("The last 24 hours"), this_hour - 23 * hour, hour, 24, _("per hour")),
    ]


def charts(window: Window) -> list[Chart]:
    signups = AuditRecord.objects.filter(
        action=AuditRecord.Action.SIGNUP, occurred_at__gte=window.start
    ).values_list("occurred_at", "source")
    welcome = EmailDelivery.objects.filter(
        kind=EmailDelivery.Kind.WELCOME, sent_at__gte=window.start
    ).values_list("sent_at", "user__date_joined")
    samples = queue_samples(window.start)
    latencies = window.per_bucket(
        (sent, (sent - joined).total_seconds() * 1000) for sent, joined in welcome
    )
    return [
        Chart(
            _("Signups by source"),
            "",
            "bars",
            {
                source: window.counts(when for when, of in signups if of == source)
                for source in ("api", "web")
            },
        ),
        Chart(
            _("Welcome emails sent"),
            "",
            "bars",
            {_("sent"): window.counts(sent for sent, _joined in welcome)},
        ),
        Chart(
            _("Audit records written"),
            "",
            "bars",
            {
                _("written"): window.counts(
                    AuditRecord.objects.filter(recorded_at__gte=window.start).values_list(
                        "recorded_at", flat=True
                    )
                )
            },
        ),
        Chart(
            _("Task failures"),
            "",
            "bars",
            {_("failed"): window.counts(failure_times(window.start))},
        ),
        Chart(
            _("Queue depth, sampled each minute"),
            _("tasks"),
            "lines",
            {
                _("deepest"): [
                    max(values, default=None)
                    for values in window.per_bucket((t, d) for t, d, _age in samples)
                ]
            },
        ),
        Chart(
            _("Oldest queued task’s age"),
            _("seconds"),
            "lines",
            {
                _("oldest"): [
                    max(values, default=None)
                    for values in window.per_bucket((t, a) for t, _depth, a in samples)
                ]
            },
        ),
        Chart(
            _("Signup’s 201 to its email handed over"),
            _("ms"),
            "lines",
            {
                "p50": [percentile(values, 50) for values in latencies],
                "p95": [percentile(values, 95) for values in latencies],
            },
        ),
    ]


def percentile(values: Sequence[float], percent: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


@dataclass(frozen=True)
class Drawing:
    """A chart's geometry in SVG user units, for templates/operations/charts.html."""

    title: str
    caption: str
    description: str
    rects: list[tuple[float, float, float, float, str]]  # x, y, width, height, colour
    lines: list[tuple[str, str]]  # points, colour: one polyline per run of measured buckets
    dots: list[tuple[float, float, str]]  # x, y, colour: a measured bucket alone between gaps
    legend: list[tuple[str, str]]  # name, colour
    top: str
    first: str  # the time axis's ends
    last: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - 8
    base: int = HEIGHT - BOTTOM
    top_y: int = TOP


def drawing(chart: Chart, window: Window) -> Drawing:
    plot_width, plot_height = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    series = list(chart.series.values())
    if chart.kind == "bars":
        peak = max(sum(value or 0 for value in column) for column in zip(*series, strict=True))
    else:
        peak = max((value for values in series for value in values if value is not None), default=0)
    peak = peak or 1
    step = plot_width / window.buckets
    base = TOP + plot_height

    def x(bucket: int) -> float:
        return LEFT + (bucket + 0.5) * step

    def y(value: float) -> float:
        return base - value / peak * plot_height

    rects: list[tuple[float, float, float, float, str]] = []
    lines: list[tuple[str, str]] = []
    dots: list[tuple[float, float, str]] = []
    below = [0.0] * window.buckets
    for number, values in enumerate(series):
        colour = COLOURS[number % len(COLOURS)]
        if chart.kind == "lines":
            for run in measured_runs(values):
                if len(run) == 1:
                    [(bucket, value)] = run
                    dots.append((x(bucket), y(value), colour))
                else:
                    points = " ".join(f"{x(bucket):.1f},{y(value):.1f}" for bucket, value in run)
                    lines.append((points, colour))
            continue
        for i, value in enumerate(values):
            if value:
                height = value / peak * plot_height
                rects.append(
                    (LEFT + i * step + 0.5, y(below[i]) - height, max(step - 1, 1), height, colour)
                )
                below[i] += value
    unit = window.per_bucket_name if chart.kind == "bars" else chart.unit
    description = ", ".join(
        _("%(series)s: %(summary)s") % {"series": name, "summary": summary(chart, values)}
        for name, values in chart.series.items()
    )
    return Drawing(
        title=_("%(chart)s, %(window)s") % {"chart": chart.title, "window": window.name.lower()},
        caption=_("%(chart)s (%(unit)s)") % {"chart": chart.title, "unit": unit},
        description=description,
        rects=rects,
        lines=lines,
        dots=dots,
        legend=[(name, COLOURS[n % len(COLOURS)]) for n, name in enumerate(chart.series)],
        top=axis_text(peak),
        first=time_text(window.start, window) + " UTC",
        # The right edge ends the current bucket, which may end in the future: the bars and
        # lines stop at the present.
        last=_("now"),
    )


def time_text(moment: datetime, window: Window) -> str:
    """With the day where the window spans more than one."""
    return date_format(moment, "j M H:i" if window.bucket >= timedelta(hours=1) else "H:i")


def axis_text(value: float) -> str:
    """Short enough for the axis's margin: 37230 is 37k."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if value >= size * 0.9995:  # what would be written "1000k" is "1.0M"
            return number_text(value / size) + suffix
    return number_text(value)


def measured_runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """The buckets that have a value, grouped where they follow one another."""
    runs: list[list[tuple[int, float]]] = []
    previous = None
    for bucket, value in enumerate(values):
        if value is None:
            continue
        if previous is None or bucket != previous + 1:
            runs.append([])
        runs[-1].append((bucket, value))
        previous = bucket
    return runs


def summary(chart: Chart, values: Sequence[float | None]) -> str:
    measured = [value for value in values if value is not None]
    if chart.kind == "bars":
        return _("%(count)s in all") % {"count": number_text(sum(measured))}
    if not measured:
        return _("nothing measured")
    return _("highest %(value)s %(unit)s") % {
        "value": number_text(max(measured)),
        "unit": chart.unit,
    }


def number_text(value: float) -> str:
    """Below 1, two significant digits: a queue 0.04 s old is not written 0.0."""
    if value >= 10 or value == int(value):
        return f"{value:.0f}"
    if value >= 0.95:  # 1.0 once rounded
        return f"{value:.1f}"
    decimals = 1 - math.floor(math.log10(value))
    return f"{value:.{decimals}f}".rstrip("0")
