"""The research-data pages in a real browser, on both databases (exports are written by
PostgreSQL's COPY or by Python): a researcher downloads a table with relative dates and the
bundle and reads the codebook; an owner finds the export in the audit log; a researcher is
refused the log; a stranger finds none of the pages."""

import csv
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.export.tables import TABLES
from tests.browser.conftest import (
    LiveServer,
    check_accessibility,
    screenshot,
    sign_in,
    sqlite_only,
)
from tests.test_console_data import RESEARCHER, research_study


# The export's database paths are tested on both backends without a browser
# (tests/test_exports.py, tests/test_console_data.py): the page once is enough.
@sqlite_only
def test_a_researcher_exports_and_the_owner_sees_it_in_the_audit_log(
    console_page: Page,
    live_server: LiveServer,
    staff_account: Callable[..., str],
    request: pytest.FixtureRequest,
) -> None:
    page = console_page
    study = research_study(request)["study"]
    base = f"/console/studies/{study['id']}"

    sign_in(page, live_server, RESEARCHER)
    page.goto(live_server(base))
    page.get_by_role("link", name="Exports").click()
    expect(page.get_by_role("heading", name="Exports")).to_be_visible()
    page.get_by_label("Table").select_option("checkins")
    page.get_by_label("Format").select_option("csv")
    page.get_by_label("Relative: study day and local time of day, no dates").check()
    page.get_by_label("Participants").fill("P-0, P-1")
    check_accessibility(page)
    screenshot(page, "exports")
    with page.expect_download() as table_download:
        page.get_by_role("button", name="Download the table").click()
    table = table_download.value
    assert table.suggested_filename == f"kairos-{study['id']}-checkins.csv"
    rows = list(csv.DictReader(io.StringIO(Path(table.path()).read_text())))
    assert sorted(row["participant"] for row in rows) == ["P-0", "P-1"]
    assert {"received_day", "received_time"} <= set(rows[0]) and "received_at" not in rows[0]
    assert {row["received_day"] for row in rows} == {"1"}

    page.get_by_label("Participants").fill("")
    with page.expect_download() as bundle_download:
        page.get_by_role("button", name="Download the bundle (zip)").click()
    with zipfile.ZipFile(bundle_download.value.path()) as bundle:
        assert bundle.namelist() == [
            *(f"{name}.csv" for name in TABLES),
            "codebook.json",
            "codebook.md",
        ]
        participants = list(csv.DictReader(io.StringIO(bundle.read("participants.csv").decode())))
        assert sorted(row["participant"] for row in participants) == ["P-0", "P-1", "P-2"]

    page.get_by_role("link", name="Read the codebook").click()
    expect(page.get_by_role("heading", name="Codebook", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Table decision_points")).to_be_visible()
    expect(page.get_by_role("rowheader", name="received_at")).to_be_visible()
    check_accessibility(page)
    screenshot(page, "codebook")

    refused = page.goto(live_server(f"{base}/audit"))
    assert refused is not None and refused.status == 403
    check_accessibility(page)

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server, "owner@example.org")
    page.goto(live_server(base))
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    page.get_by_label("Action", exact=True).fill("export.bundle")
    page.get_by_label("Actor").select_option(label=RESEARCHER)
    page.get_by_role("button", name="Filter").click()
    events = page.get_by_role("region", name="Audit events").get_by_role("row")
    expect(events).to_have_count(2)  # the header and the bundle
    expect(events.nth(1)).to_contain_text(RESEARCHER)
    expect(events.nth(1)).to_contain_text('"participants": 3')
    check_accessibility(page)
    screenshot(page, "audit-log")

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server, staff_account("stranger@example.org"))
    for path in (
        "/exports",
        "/exports/file?table=checkins",
        "/exports/bundle",
        "/exports/fhir/Questionnaire",
        "/codebook",
        "/audit",
    ):
        answer = page.goto(live_server(base + path))
        assert answer is not None and answer.status == 404, path
    check_accessibility(page)
