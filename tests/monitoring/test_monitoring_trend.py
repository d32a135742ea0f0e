"""Trends for charts: LTTB keeps the shape of a series, the trend reads raw values or roll-ups as the range needs and
shows bad values as gaps; the trend and retention API and the tag page's chart (SH-8.4.3, TJ-6.5)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from monitoring_steps import configure

from helpers import log_in, token
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import NotFound, ValidationFailed
from pharmatrace.monitoring import historian, trend
from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.historian import Reading
from pharmatrace.storage.engine import Database

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
TAG = "FD-01.trend_probe"


@pytest.mark.clause("SH-8.4.3", "TJ-6.5")
def test_lttb_keeps_the_ends_the_spike_and_the_shape_of_known_series() -> None:
    xs = [float(i) for i in range(1000)]
    flat = [5.0] * 1000
    flat[437] = 80.0  # a spike
    flat[902] = -30.0  # a dip
    kept = trend.lttb(xs, flat, 20)
    assert len(kept) == 20 and kept[0] == 0 and kept[-1] == 999 and kept == sorted(set(kept))
    assert 437 in kept and 902 in kept
    rising = [math.sqrt(x) for x in xs]  # monotone in, monotone out
    picked = [rising[i] for i in trend.lttb(xs, rising, 50)]
    assert len(picked) == 50 and picked == sorted(picked) and picked[0] == 0.0 and picked[-1] == rising[-1]
    sine = [math.sin(x / 50) for x in xs]  # the peaks and troughs of a sine survive
    peaks = [sine[i] for i in trend.lttb(xs, sine, 100)]
    assert max(peaks) > 0.99 and min(peaks) < -0.99
    assert trend.lttb(xs[:10], flat[:10], 20) == list(range(10))  # fewer points than asked: all of them
    with pytest.raises(ValueError, match="at least 3"):
        trend.lttb(xs, flat, 2)
    points = [
        trend.TrendPoint(T0 + timedelta(seconds=i), None if 300 <= i < 310 else flat[i]) for i in range(1000)
    ]
    thinned = trend.downsample(
        points, 20
    )  # the gap of bad values stays a gap; the envelope keeps the extremes
    assert any(p.value is None and 300 <= (p.at - T0).total_seconds() < 310 for p in thinned)
    assert min(p.low for p in thinned if p.low is not None) == -30.0
    assert max(p.high for p in thinned if p.high is not None) == 80.0


@pytest.mark.clause("SH-8.4.3", "TJ-6.5")
def test_a_trend_reads_raw_values_or_rollups_by_range_and_shows_bad_values_as_gaps(db: Database) -> None:
    code = configure(db, "opcua", "opc.tcp://127.0.0.1:4840", [Binding(TAG, "ns=2;s=trend")])
    readings = [
        Reading(TAG, T0 + timedelta(minutes=m), 20.0 + (m % 30) / 10)
        for m in range(360)
        if not 300 <= m < 330
    ]
    readings[180] = Reading(TAG, T0 + timedelta(minutes=180), 90.0)  # a spike
    readings[240] = Reading(TAG, T0 + timedelta(minutes=240), 99.0, "bad")  # a number of bad quality
    historian.ingest(db, code, readings)
    with db.sessions() as session:
        long = trend.trend(session, TAG, T0, T0 + timedelta(hours=6), points=40)  # 21,600 s at 1 Hz: roll-ups
        assert (
            long.source == "1m"
            and long.read == 331
            and len([p for p in long.points if p.value is not None]) <= 40
        )
        assert long.points[0].at == T0 and any(p.value == 90.0 for p in long.points)
        assert max(p.high for p in long.points if p.high is not None) == 90.0  # never the bad 99
        gaps = [p.at for p in long.points if p.value is None]
        assert (
            T0 + timedelta(minutes=240) in gaps and T0 + timedelta(minutes=300) in gaps
        )  # bad value, no data
        hourly = trend.trend(session, TAG, T0, T0 + timedelta(hours=6), source="1h")
        assert [round(p.high or 0, 6) for p in hourly.points] == [22.9, 22.9, 22.9, 90.0, 22.9, 22.9]
        short = trend.trend(session, TAG, T0 + timedelta(minutes=238), T0 + timedelta(minutes=242))
        assert short.source == "raw" and [p.value for p in short.points] == [22.8, 22.9, None, 20.1, 20.2]
        with pytest.raises(ValidationFailed, match="start must be before"):
            trend.trend(session, TAG, T0, T0)
        with pytest.raises(NotFound):
            trend.trend(session, "FD-01.no_such_tag", T0, T0 + timedelta(hours=1))


@pytest.mark.pages  # SQLite: the services are tested above
@pytest.mark.clause("SH-8.4.3", "TJ-6.5", "SH-6.3.1")
def test_the_trend_and_retention_api_and_the_tag_pages_chart(client: TestClient) -> None:
    api = token(client, "wuhao")
    url = "/api/v1/monitoring/tags/RM-FILL.humidity/trend"
    now = clock.now()
    week = {"since": (now - timedelta(days=7)).isoformat(), "until": now.isoformat(), "points": 100}
    found = client.get(url, headers=api, params=week)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["tag"] == "RM-FILL.humidity" and body["source"] in ("raw", "1m") and body["points"]
    assert {"at", "value", "low", "high"} == set(body["points"][0])
    for params in ({**week, "until": week["since"]}, {**week, "points": 3}, {**week, "since": "2026-11-20T08:00:00"},
                   {**week, "since": (now - timedelta(days=400)).isoformat()}):  # fmt: skip
        refused = client.get(url, headers=api, params=params)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "validation_failed", params
    assert client.get("/api/v1/monitoring/tags/XX-01.nothing/trend", headers=api).status_code == 404
    analyst = token(client, "wangfang")  # QC does not view monitoring
    assert client.get(url, headers=analyst).status_code == 403
    assert client.get("/api/v1/monitoring/retention", headers=analyst).status_code == 403
    report = client.get("/api/v1/monitoring/retention", headers=api)
    assert report.status_code == 200
    lines = {line["retention_class"]: line for line in report.json()}
    assert set(lines) == {"gmp", "environment", "utility", "information"} and lines["gmp"]["values"] > 0

    log_in(client, "wuhao", language="en")
    page = client.get("/monitoring/tags/RM-FILL.humidity", params={"hours": "168"})
    assert page.status_code == 200
    assert 'id="trend-chart"' in page.text and 'src="/static/vendor/echarts.min.js"' in page.text
    assert "/api/v1/monitoring/tags/RM-FILL.humidity/trend" in page.text and "GMP process data" in page.text
    assert (
        "https://" not in page.text.split('id="trend-config"')[1].split("</script>")[0]
    )  # nothing from outside
