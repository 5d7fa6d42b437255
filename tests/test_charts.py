"""The status page's pictures: every figure what the rows say."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_q.models import OrmQ

from accounts.models import EmailDelivery, User
from operations.charts import Chart, axis_text, charts, drawing, percentile, windows
from taskqueue.models import QueueSample
from taskqueue.results import prune_task_results, sample_queue
from tests.factories import failed_welcome_email, signup

pytestmark = pytest.mark.django_db


def figures(window_name: str) -> dict[str, dict[str, list[float | None]]]:
    [window] = [window for window in windows() if window.name == window_name]
    return {chart.title: chart.series for chart in charts(window)}


def test_the_charts_count_signups_emails_records_and_failures(sync_tasks: None) -> None:
    signup("alice")
    signup("bob")
    carol = signup("carol", source="web")
    failed_welcome_email(carol.pk)
    for name in ("The last hour", "The last 24 hours"):
        drawn = figures(name)
        assert sum(drawn["Signups by source"]["api"]) == 2
        assert sum(drawn["Signups by source"]["web"]) == 1
        assert sum(drawn["Welcome emails sent"]["sent"]) == 3
        assert sum(drawn["Audit records written"]["written"]) == 3
        assert sum(drawn["Task failures"]["failed"]) == 5  # its five attempts


def test_signups_older_than_the_window_are_not_drawn(sync_tasks: None) -> None:
    alice = signup("alice")
    User.objects.filter(pk=alice.pk).update(date_joined=timezone.now() - timedelta(hours=2))
    alice.audit_records.update(occurred_at=timezone.now() - timedelta(hours=2))
    assert sum(figures("The last hour")["Signups by source"]["api"]) == 0
    assert sum(figures("The last 24 hours")["Signups by source"]["api"]) == 1


def test_the_time_from_signup_to_email_is_drawn_as_p50_and_p95(sync_tasks: None) -> None:
    sent_at = timezone.now() - timedelta(seconds=5)
    for number, delay_ms in enumerate([10, 20, 30, 40, 1000]):
        user = signup(f"user{number}")
        User.objects.filter(pk=user.pk).update(
            date_joined=sent_at - timedelta(milliseconds=delay_ms)
        )
        EmailDelivery.objects.filter(user=user).update(sent_at=sent_at)
    latency = figures("The last 24 hours")["Signup’s 201 to its email handed over"]
    assert [value for value in latency["p50"] if value is not None] == [pytest.approx(30)]
    assert [value for value in latency["p95"] if value is not None] == [
        pytest.approx(percentile([10, 20, 30, 40, 1000], 95))
    ]


def test_a_line_has_a_gap_where_nothing_was_measured_not_a_fall_to_zero(
    sync_tasks: None,
) -> None:
    signup("alice")
    [window, _] = windows()
    latency = next(chart for chart in charts(window) if chart.unit == "ms")
    assert latency.series["p50"].count(None) == window.buckets - 1
    drawn = drawing(latency, window)
    assert drawn.lines == []
    assert [colour for _x, _y, colour in drawn.dots] == ["#1d4ed8", "#b45309"]


def test_measured_minutes_that_follow_one_another_are_joined_by_one_line() -> None:
    [window, _] = windows()
    values: list[float | None] = [None] * window.buckets
    values[3:6] = [5.0, 7.0, 6.0]
    values[9] = 2.0
    chart = Chart("Latency", "ms", "lines", {"p50": values})
    drawn = drawing(chart, window)
    assert [len(points.split()) for points, _colour in drawn.lines] == [3]
    assert len(drawn.dots) == 1
    assert drawn.description == "p50: highest 7 ms"


def test_a_line_with_nothing_measured_says_so() -> None:
    [window, _] = windows()
    chart = Chart("Latency", "ms", "lines", {"p50": [None] * window.buckets})
    assert drawing(chart, window).description == "p50: nothing measured"


def test_each_chart_names_its_unit_bars_by_their_window() -> None:
    hour, day = windows()
    captions = [drawing(chart, hour).caption for chart in charts(hour)]
    assert captions[0] == "Signups by source (per minute)"
    assert captions[-1] == "Signup’s 201 to its email handed over (ms)"
    assert drawing(charts(day)[0], day).caption == "Signups by source (per hour)"


def test_the_queue_is_sampled_and_old_samples_are_pruned(sync_tasks: None) -> None:
    signup("alice", password=None)
    sample_queue()
    QueueSample.objects.create(taken_at=timezone.now() - timedelta(days=3), depth=9)
    prune_task_results()
    [sample] = QueueSample.objects.all()
    assert sample.taken_at > timezone.now() - timedelta(minutes=1)


def test_a_chart_is_described_for_those_who_cannot_see_it(sync_tasks: None) -> None:
    signup("alice")
    [window, _] = windows()
    [signups, *_] = charts(window)
    assert drawing(signups, window).description == "api: 1 in all, web: 0 in all"


def test_the_pictures_are_on_the_status_page(admin_client: Client) -> None:
    page = admin_client.get("/staff/status/").content.decode()
    assert page.count("<svg") == 14
    assert 'role="img"' in page


def test_the_status_page_samples_the_queue_when_no_worker_has(admin_client: Client) -> None:
    """The schedule runs in the workers: with none running, the page takes the sample."""
    signup("alice", password=None)
    admin_client.get("/staff/status/")
    admin_client.get("/staff/status/")
    [sample] = QueueSample.objects.all()
    assert sample.depth == OrmQ.objects.count() > 0


def test_the_windows_are_whole_minutes_and_hours_ending_with_the_current_one() -> None:
    now = datetime(2026, 11, 26, 12, 41, 37, tzinfo=UTC)
    hour, day = windows(now)
    assert hour.start == datetime(2026, 11, 26, 11, 42, tzinfo=UTC)
    assert hour.index(now) == 59
    assert day.start == datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
    assert day.index(now) == 23


def test_the_time_axis_names_the_day_where_the_window_spans_two() -> None:
    hour, day = windows(datetime(2026, 11, 26, 12, 41, tzinfo=UTC))
    chart = Chart("Signups", "", "bars", {"api": [0.0] * 60})
    assert (drawing(chart, hour).first, drawing(chart, hour).last) == ("11:42 UTC", "now")
    chart = Chart("Signups", "", "bars", {"api": [0.0] * 24})
    assert (drawing(chart, day).first, drawing(chart, day).last) == ("25 Nov 13:00 UTC", "now")


@pytest.mark.parametrize(
    ("value", "shown"),
    [(7, "7"), (2.5, "2.5"), (950, "950"), (1500, "1.5k"), (37230, "37k"), (999_999, "1.0M")],
)
def test_a_large_figure_is_written_short_enough_for_the_axis(value: float, shown: str) -> None:
    assert axis_text(value) == shown


@pytest.mark.parametrize(("value", "shown"), [(0.04, "0.04"), (0.123, "0.12"), (0.5, "0.5")])
def test_a_figure_below_one_keeps_two_significant_digits(value: float, shown: str) -> None:
    assert axis_text(value) == shown
