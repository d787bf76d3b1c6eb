"""The flickr source: the real flickrapi against a local Flickr (tests/flickr_server.py) on 127.0.0.1."""
import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import manifest_snapshot
from flickr_server import Fault, FlickrTestServer, make_catalogue

from timelapse_d.cli import main
from timelapse_d.licenses import DEFAULT_FLICKR_LICENSES, FLICKR_LICENSES
from timelapse_d.manifest import TABLES, read_rows
from timelapse_d.sources import SOURCES
from timelapse_d.sources.flickr import (RESULT_CAP, FlickrApiError, FlickrConfig, FlickrCredentialsError,
                                        FlickrHttpError, FlickrSource, RateLimiter, SliceJournal)

KEY, SECRET = "k" * 32, "s" * 16  # dummies, recognisable wherever they would leak
MIN_DAY, MAX_DAY = "2011-06-01", "2022-12-31"
FAST = {"max_queries_per_hour": 36_000_000, "retry_backoff": 0.01}
PIPELINE = """
name = "flickr-test"

[[stages]]
stage = "discover"
source = "flickr"
rest_url = "{url}"
min_upload_date = "{min_day}"
max_upload_date = "{max_day}"
max_queries_per_hour = 36000000
retry_backoff = 0.01
{extra}
"""


@pytest.fixture(scope="module")
def catalogue():
    return make_catalogue(9000, photos=300, years=10, start="2012-01-01", seed=3)


@pytest.fixture
def flickr(catalogue):
    with FlickrTestServer(catalogue, api_key=KEY, api_secret=SECRET) as server:
        yield server


@pytest.fixture
def credentials(monkeypatch):
    monkeypatch.setenv("FLICKR_API_KEY", KEY)
    monkeypatch.setenv("FLICKR_API_SECRET", SECRET)


def source(server, **params):
    return FlickrSource(FlickrConfig(rest_url=server.url, **{"min_upload_date": MIN_DAY,
                                                             "max_upload_date": MAX_DAY, **FAST, **params}))


def pipeline_file(tmp_path, server, extra=""):
    path = tmp_path / "flickr.toml"
    path.write_text(PIPELINE.format(url=server.url, min_day=MIN_DAY, max_day=MAX_DAY, extra=extra))
    return path


def run(pipeline, work, *args):
    return main(["run", str(pipeline), "--work", str(work), "--no-progress", *args])


def expected_ids(server, licenses=DEFAULT_FLICKR_LICENSES):
    found = server.expected(media="videos", tags="timelapse", license=",".join(licenses),
                            min_upload_date=MIN_DAY, max_upload_date=f"{MAX_DAY} 23:59:59")
    return sorted(f"flickr-{photo['id']}" for photo in found)


def journal_of(work, item):
    return SliceJournal(work, item["query"])


class FakeTime:
    """A clock that only moves when slept on."""

    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


# --- the search ------------------------------------------------------------------------------

def test_the_pipeline_finds_every_matching_video_exactly_once(flickr, credentials, tmp_path):
    work = tmp_path / "work"
    assert run(pipeline_file(tmp_path, flickr), work) == 0
    rows = read_rows(work, "sources")
    assert [row["source_id"] for row in rows] == expected_ids(flickr)  # none missed, none twice
    assert len(rows) > RESULT_CAP and {row["status"] for row in rows} == {"ok"}
    assert not {row["license_id"] for row in rows} & {"0", "3", "6", "13", "16"}

    # the range was split until every slice reported <= 4,000 results; the leaves tile it exactly
    [item] = SOURCES.get("flickr").from_params({"rest_url": flickr.url, "min_upload_date": MIN_DAY,
                                                "max_upload_date": MAX_DAY, **FAST}).plan(str(work))
    slices = journal_of(work, item).slices()
    leaves = sorted((s for s in slices if not s["split"]), key=lambda s: s["min_upload"])
    assert len(leaves) >= 2 and all(leaf["total"] <= RESULT_CAP for leaf in leaves)
    assert all(s["total"] > RESULT_CAP for s in slices if s["split"])
    assert [leaf["min_upload"] for leaf in leaves[1:]] == [leaf["max_upload"] + 1 for leaf in leaves[:-1]]
    assert (leaves[0]["min_upload"], leaves[-1]["max_upload"]) == (
        1306886400, 1672531199)  # 2011-06-01T00:00:00Z .. 2022-12-31T23:59:59Z

    # what was asked: videos only, pages only within capped slices, no page twice
    asked = flickr.searches()
    assert all(entry["params"]["media"] == "videos" for entry in flickr.requests)
    assert all(entry["params"]["license"] == ",".join(DEFAULT_FLICKR_LICENSES) for entry in asked)
    pages = [(e["params"]["min_upload_date"], e["params"]["max_upload_date"], e["params"]["page"]) for e in asked]
    assert len(pages) == len(set(pages)) == sum(s["queries"] for s in slices)
    assert all(e["total"] <= RESULT_CAP for e in asked if e["page"] > 1)

    # each row: key, page URL, license and a ready attribution line, owner, dates, provenance
    by_id = {photo["id"]: photo for photo in flickr.catalogue}
    for row in rows[:: max(1, len(rows) // 50)]:
        photo = by_id[row["source_id"].removeprefix("flickr-")]
        lic = FLICKR_LICENSES[photo["license"]]
        page = f"https://www.flickr.com/photos/{photo['owner']}/{photo['id']}"
        owner_name = photo["realname"] or photo["ownername"]
        assert (row["url"], row["page_url"], row["owner"], row["owner_name"]) == (page, page, photo["owner"], owner_name)
        assert (row["license_id"], row["license_name"], row["license_url"]) == (lic.id, lic.name, lic.url)
        assert row["attribution"] == f'"{photo["title"] or "Untitled"}" by {owner_name} on Flickr, {lic.name}, {page}'
        assert row["tags"] == photo["tags"].split() and row["source_kind"] == "flickr"
        assert int(row["date_uploaded"].timestamp()) == int(photo["dateupload"])
        metadata = json.loads(row["metadata"])
        assert metadata["media"] == "video" and metadata["width"] == int(photo["o_width"])
        assert metadata["slice"]["min_upload"] <= int(photo["dateupload"]) <= metadata["slice"]["max_upload"]
        assert row["query"] == item["query"]

    # a rerun has nothing to do and asks Flickr nothing
    before = len(flickr.requests)
    assert run(pipeline_file(tmp_path, flickr), work) == 0
    assert len(flickr.requests) == before and read_rows(work, "sources") == rows


def test_the_license_filter_is_configurable_and_checked(flickr, credentials, tmp_path):
    assert DEFAULT_FLICKR_LICENSES == ("1", "2", "4", "5", "7", "8", "9", "10", "11", "12", "14", "15")
    assert [lic.id for lic in FLICKR_LICENSES.values()] == [str(i) for i in range(17)]
    assert FLICKR_LICENSES["9"].url == "https://creativecommons.org/publicdomain/zero/1.0/"
    assert FLICKR_LICENSES["13"].name == "CC BY-ND 4.0" and not FLICKR_LICENSES["13"].derivatives

    narrow = source(flickr, licenses=("9", "0"))
    [item] = narrow.plan(str(tmp_path))
    rows = narrow.discover(item, str(tmp_path))
    assert sorted(row["source_id"] for row in rows) == expected_ids(flickr, ("0", "9"))
    assert {row["license_name"] for row in rows} == {"All Rights Reserved", "CC0 1.0"}
    assert {entry["params"]["license"] for entry in flickr.requests} == {"0,9"}

    # an answer that breaks the filter: the stray rows are kept as dropped, with the reason
    with FlickrTestServer(flickr.catalogue, KEY, SECRET, ignore_license_filter=True) as leaky:
        cc0 = source(leaky, licenses=("9",))
        rows = cc0.discover(cc0.plan(str(tmp_path))[0], str(tmp_path / "leaky"))
    ok = [row for row in rows if row["status"] == "ok"]
    dropped = [row for row in rows if row["status"] == "dropped"]
    assert sorted(row["source_id"] for row in ok) == expected_ids(flickr, ("9",)) and dropped
    assert all(row["license_id"] != "9" and "is not in the configured licenses ['9']" in row["error"]
               for row in dropped)


def test_a_second_holding_more_than_the_cap_is_kept_truncated_and_flagged(credentials, tmp_path, caplog):
    base = make_catalogue(4100, licenses=("4",), seed=5)
    same_second = [{**photo, "dateupload": "1356998400", "tags": "timelapse"} for photo in base]  # 2013-01-01
    with FlickrTestServer(same_second, KEY, SECRET) as server:
        search = source(server, min_upload_date="2012-12-31", max_upload_date="2013-01-01")
        rows = search.discover(search.plan(str(tmp_path))[0], str(tmp_path))
    assert len(rows) == RESULT_CAP and all(json.loads(row["metadata"])["slice"]["truncated"] for row in rows)
    assert "only 4000 of them" in caplog.text


def test_an_empty_search_is_one_dropped_row(flickr, credentials, tmp_path):
    work = tmp_path / "work"
    assert run(pipeline_file(tmp_path, flickr, 'text = "no such words"'), work) == 0
    [row] = read_rows(work, "sources")
    assert row["status"] == "dropped" and row["error"] == "the search found no videos"
    assert row["source_id"].startswith("flickr-query-")


# --- credentials -----------------------------------------------------------------------------

def test_missing_credentials_are_a_clear_error_and_a_failed_row(flickr, monkeypatch, tmp_path):
    monkeypatch.delenv("FLICKR_API_KEY", raising=False)
    monkeypatch.delenv("FLICKR_API_SECRET", raising=False)
    search = source(flickr)
    [item] = search.plan(str(tmp_path))
    with pytest.raises(FlickrCredentialsError, match="FLICKR_API_KEY and FLICKR_API_SECRET are not set"):
        search.discover(item, str(tmp_path))
    monkeypatch.setenv("FLICKR_API_KEY", KEY)
    with pytest.raises(FlickrCredentialsError, match=r"^FLICKR_API_SECRET is not set: export"):
        search.discover(item, str(tmp_path))
    monkeypatch.delenv("FLICKR_API_KEY")
    monkeypatch.setenv("FLICKR_API_SECRET", SECRET)

    work = tmp_path / "work"
    assert run(pipeline_file(tmp_path, flickr), work) == 1
    [row] = read_rows(work, "sources")
    assert row["status"] == "failed" and row["query"] == item["query"]
    assert row["error"].startswith("FlickrCredentialsError: FLICKR_API_KEY is not set")
    assert flickr.requests == []  # nothing was sent without a key


def test_the_credentials_never_land_in_files_logs_or_errors(flickr, credentials, monkeypatch, tmp_path,
                                                            caplog, capfd):
    caplog.set_level(logging.DEBUG)  # every library's debug lines, where request headers show up
    wrong_key = "w" * 32
    works = {name: tmp_path / name for name in ("faults", "wrong-key", "dead")}

    # 1. a search that meets 500s whose bodies echo the Authorization header, a 429, a stat fail 105
    flickr.inject(Fault("http", 500, echo_auth=True), 2)
    flickr.inject(Fault("http", 429, retry_after="0"))
    flickr.inject(Fault("stat", code=105))
    assert run(pipeline_file(tmp_path, flickr), works["faults"]) == 0
    # 2. a key Flickr does not know: stat fail 100, not retried
    monkeypatch.setenv("FLICKR_API_KEY", wrong_key)
    assert run(pipeline_file(tmp_path, flickr), works["wrong-key"]) == 1
    monkeypatch.setenv("FLICKR_API_KEY", KEY)
    # 3. a server that only answers 500 (echoing the header)
    flickr.fail_after(0, Fault("http", 500, echo_auth=True))
    assert run(pipeline_file(tmp_path, flickr, "retries = 2"), works["dead"]) == 1

    assert "Invalid API Key (Key not found)" in read_rows(works["wrong-key"], "sources")[0]["error"]
    assert "HTTP 500" in read_rows(works["dead"], "sources")[0]["error"]
    assert "[redacted]" in caplog.text  # the debug lines were there, without the secrets
    out, err = capfd.readouterr()
    texts = {"logs": caplog.text, "stdout": out, "stderr": err}
    for work in works.values():
        texts.update({str(path): path.read_bytes().decode("utf-8", "replace")
                      for path in work.rglob("*") if path.is_file()})
        texts.update({f"{work}/{name}": repr(read_rows(work, name)) for name in TABLES})  # parquet, decoded
    for secret in (KEY, SECRET, wrong_key):
        assert not [where for where, text in texts.items() if secret in text], secret[:1]


# --- faults and politeness -------------------------------------------------------------------

def test_5xx_429_and_transient_failures_are_retried_with_backoff(flickr, credentials, tmp_path):
    search = source(flickr, retries=8, retry_backoff=0.5, max_queries_per_hour=3600 * 1000)
    search.clock, search.sleep = (fake := FakeTime()).clock, fake.sleep
    for fault in (Fault("http", 500), Fault("http", 500), Fault("http", 503), Fault("http", 429, retry_after="1"),
                  Fault("http", 429, retry_after="1"), Fault("drop"), Fault("garbage"), Fault("stat", code=105)):
        flickr.inject(fault)
    [item] = search.plan(str(tmp_path))
    rows = search.discover(item, str(tmp_path))
    assert sorted(row["source_id"] for row in rows) == expected_ids(flickr)
    backoffs = [seconds for seconds in fake.sleeps if seconds > 0.01]  # the rest is the rate limiter's spacing
    assert backoffs == [0.5, 1.0, 2.0, 1.0, 1.0, 16.0, 32.0, 64.0]  # Retry-After: 1 honoured twice
    assert len(flickr.requests) == len(flickr.searches()) + 8


def test_persistent_failures_end_with_the_reason(flickr, credentials, tmp_path):
    search = source(flickr, retries=2)
    [item] = search.plan(str(tmp_path))
    flickr.fail_after(0, Fault("http", 503))
    with pytest.raises(FlickrHttpError, match="HTTP 503"):
        search.discover(item, str(tmp_path))
    assert len(flickr.requests) == 3

    flickr.fail_after(0, Fault("stat", code=100))  # not transient: not retried
    with pytest.raises(FlickrApiError, match=r"code 100: Invalid API Key \(Key has invalid format\)"):
        search.discover(item, str(tmp_path))
    assert len(flickr.requests) == 4

    flickr.fail_after(0, Fault("http", 429, retry_after="3600"))  # longer than a search waits
    search.sleep = FakeTime().sleep
    with pytest.raises(FlickrHttpError, match="HTTP 429 Too Many Requests; Flickr asked to retry after 3600 s"):
        search.discover(item, str(tmp_path))
    assert len(flickr.requests) == 5

    flickr.fail_after(0, Fault("stat", code=105))  # transient, but for good: retried, then a failed row
    work = tmp_path / "work"
    assert run(pipeline_file(tmp_path, flickr, "retries = 2"), work) == 1
    [row] = read_rows(work, "sources")
    assert row["status"] == "failed"
    assert row["error"] == "FlickrApiError: Flickr answered stat=fail, code 105: Service currently unavailable"
    assert len(flickr.requests) == 8


def test_the_rate_limiter_spaces_calls_evenly():
    fake = FakeTime()
    limiter = RateLimiter(3600 * 50, clock=fake.clock, sleep=fake.sleep)  # 50 a second
    starts = []
    for _ in range(500):
        limiter.wait()
        starts.append(fake.now)
    assert min(b - a for a, b in zip(starts, starts[1:])) == pytest.approx(0.02)
    assert starts[-1] == pytest.approx(499 * 0.02)
    fake.now += 10  # idle time is not saved up for a burst
    limiter.wait(), limiter.wait()
    assert fake.now == pytest.approx(499 * 0.02 + 10 + 0.02)


def test_discovery_keeps_to_max_queries_per_hour(flickr, credentials, tmp_path):
    search = source(flickr, max_queries_per_hour=7200)  # one request every 0.5 s
    search.clock, search.sleep = (fake := FakeTime()).clock, fake.sleep
    flickr.inject(Fault("http", 500))  # retries count too
    search.discover(search.plan(str(tmp_path))[0], str(tmp_path))
    assert len(flickr.requests) > 10
    assert fake.now >= (len(flickr.requests) - 1) * 0.5


# --- resumption ------------------------------------------------------------------------------

def test_a_failed_discovery_resumes_without_repeating_finished_slices(flickr, credentials, tmp_path):
    reference = tmp_path / "reference"
    assert run(pipeline_file(tmp_path, flickr), reference) == 0
    flickr.requests.clear()

    work = tmp_path / "work"
    flickr.fail_after(6, Fault("http", 500))  # the search dies part-way, for good
    assert run(pipeline_file(tmp_path, flickr, "retries = 1"), work) == 1
    [item] = source(flickr).plan(str(work))
    finished = {(s["min_upload"], s["max_upload"]) for s in journal_of(work, item).slices()}
    assert finished and read_rows(work, "sources")[0]["status"] == "failed"

    flickr.fail_after(None)
    first_run = len(flickr.requests)
    assert run(pipeline_file(tmp_path, flickr, "retries = 1"), work, "--retry-failed") == 0
    again = [(int(e["params"]["min_upload_date"]), int(e["params"]["max_upload_date"]))
             for e in flickr.requests[first_run:]]
    assert again and not set(again) & finished
    assert manifest_snapshot(work) == manifest_snapshot(reference)


def test_a_killed_discovery_resumes_without_repeating_finished_slices(catalogue, tmp_path):
    with FlickrTestServer(catalogue, KEY, SECRET) as flickr:
        reference = tmp_path / "reference"
        env = {**os.environ, "FLICKR_API_KEY": KEY, "FLICKR_API_SECRET": SECRET}
        # two workers: the search runs in a worker process of a fresh process pool, which reads the
        # credentials from the environment the command started with
        command = [sys.executable, "-m", "timelapse_d.cli", "run", str(pipeline_file(tmp_path, flickr)),
                   "--work", "{work}", "--workers", "2", "--no-progress"]
        assert subprocess.run([part.format(work=reference) for part in command], env=env,
                              capture_output=True).returncode == 0
        uninterrupted = len(flickr.requests)
        flickr.requests.clear()

        work = tmp_path / "killed"
        flickr.delay = 0.1  # slow enough to be killed between two slices
        process = subprocess.Popen([part.format(work=work) for part in command], env=env, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        [item] = source(flickr).plan(str(work))
        deadline = time.monotonic() + 60
        while sum(not s["split"] for s in journal_of(work, item).slices()) < 2:
            assert process.poll() is None and time.monotonic() < deadline, "the discovery ended before the kill"
            time.sleep(0.01)
        os.killpg(process.pid, signal.SIGKILL)  # the run, its forkserver and its workers
        process.wait()
        time.sleep(0.2)  # a request sent just before the kill reaches the server's log
        finished = {(s["min_upload"], s["max_upload"]) for s in journal_of(work, item).slices()}
        killed_at = len(flickr.requests)
        assert read_rows(work, "sources") == []  # nothing was committed: the query was still running

        flickr.delay = 0.0
        assert subprocess.run([part.format(work=work) for part in command], env=env,
                              capture_output=True).returncode == 0
        again = [(int(e["params"]["min_upload_date"]), int(e["params"]["max_upload_date"]))
                 for e in flickr.requests[killed_at:]]
    assert again and not set(again) & finished
    unfinished = [s for s in journal_of(reference, item).slices() if (s["min_upload"], s["max_upload"]) not in finished]
    assert len(again) == sum(s["queries"] for s in unfinished) < uninterrupted
    assert manifest_snapshot(work) == manifest_snapshot(reference)


# --- configuration and plan ------------------------------------------------------------------

@pytest.mark.parametrize("params, message", [
    ({"per_page": 0}, "FlickrConfig.per_page must be in 1..500, got 0"),
    ({"tag_mode": "some"}, "FlickrConfig.tag_mode must be one of ('any', 'all'), got 'some'"),
    ({"licenses": ["4", "99"]}, "FlickrConfig.licenses must be a non-empty list of Flickr license ids"),
    ({"min_upload_date": "2020-13-01"}, "FlickrConfig.min_upload_date must be an ISO date YYYY-MM-DD, got '2020-13-01'"),
    ({"min_upload_date": "2020-01-01", "max_upload_date": "2019-01-01"},
     "FlickrConfig.max_upload_date must not be before min_upload_date '2020-01-01', got '2019-01-01'"),
    ({"tags": [], "text": ""}, "FlickrConfig.tags may be empty only when text is set, got ()"),
    ({"max_queries_per_hour": 0}, "FlickrConfig.max_queries_per_hour must be >= 1, got 0"),
    ({"rest_url": "ftp://example"}, "FlickrConfig.rest_url must be empty or an http(s) URL, got 'ftp://example'"),
    ({"licenses": [4]}, "parameter 'licenses' must be tuple[str, ...], got (4,)"),
    ({"api_key": "x"}, "unknown parameter(s) ['api_key']"),  # credentials cannot go in a pipeline file
])
def test_bad_parameters_are_errors_naming_field_and_value(params, message):
    with pytest.raises(ValueError) as error:
        SOURCES.get("flickr").from_params(params)
    assert message in str(error.value) and str(error.value).startswith("source 'flickr': ")


def test_the_plan_is_one_canonical_query_without_network_or_secrets(flickr, credentials, tmp_path):
    plan = source(flickr, tags=("Timelapse", "clouds")).plan(str(tmp_path))
    assert plan == source(flickr, tags=("clouds", "timelapse")).plan(str(tmp_path))
    assert plan == [{"query": "flickr:photos.search?media=videos&tags=clouds,timelapse&tag_mode=any&text="
                              "&license=1,2,4,5,7,8,9,10,11,12,14,15&upload=2011-06-01..2022-12-31"}]
    assert source(flickr, licenses=("9",)).plan(str(tmp_path)) != plan
    assert FlickrSource(FlickrConfig()).plan(str(tmp_path))[0]["query"].endswith("&upload=2004-01-01..today")
    assert flickr.requests == [] and KEY not in repr(plan)
    assert "FLICKR" not in repr(source(flickr).params()) and KEY not in repr(source(flickr).params())


def test_an_open_ended_search_keeps_the_range_it_started_with(flickr, credentials, tmp_path):
    search = FlickrSource(FlickrConfig(rest_url=flickr.url, **FAST))
    [item] = search.plan(str(tmp_path))
    lo, hi = search.upload_range()
    assert journal_of(tmp_path, item).prepare().upload_range(lo, hi - 86400 * 365) == (lo, hi - 86400 * 365)
    search.discover(item, str(tmp_path))  # a resumed search goes on with the recorded range
    assert {int(e["params"]["max_upload_date"]) for e in flickr.requests[:1]} == {hi - 86400 * 365}


def test_importing_the_source_does_not_import_flickrapi():
    code = "import sys, timelapse_d.sources.flickr; print('flickrapi' in sys.modules, 'requests' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_the_local_flickr_emulates_the_cap_and_checks_signatures(flickr):
    import flickrapi

    api = flickrapi.FlickrAPI(KEY, SECRET, format="parsed-json", store_token=False)
    api.REST_URL = flickr.url
    first = api.photos.search(media="videos", per_page=500, page=1)["photos"]
    past = api.photos.search(media="videos", per_page=500, page=9)["photos"]
    assert first["total"] > RESULT_CAP and first["pages"] > 9
    assert [p["id"] for p in past["photo"]] == [p["id"] for p in first["photo"]]  # repeats, as documented
    forged = flickrapi.FlickrAPI(KEY, "x" * 16, format="parsed-json", store_token=False)
    forged.REST_URL = flickr.url
    with pytest.raises(flickrapi.FlickrError, match="96: Invalid signature"):
        forged.photos.search(media="videos")
    assert flickrapi.FlickrAPI.REST_URL == "https://api.flickr.com/services/rest/"  # set per instance only


def test_the_discover_verb_takes_the_search_as_flags(flickr, credentials, tmp_path):
    work = tmp_path / "work"
    assert main(["discover", "flickr", "--work", str(work), "--no-progress", "--rest-url", flickr.url,
                 "--tags", "timelapse", "--license", "4", "9", "--min-upload-date", MIN_DAY,
                 "--max-upload-date", MAX_DAY, "--max-queries-per-hour", "36000000", "--retry-backoff", "0.01"]) == 0
    ok = sorted(row["source_id"] for row in read_rows(work, "sources") if row["status"] == "ok")
    assert ok == expected_ids(flickr, licenses=("4", "9")) and ok
