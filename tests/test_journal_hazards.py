"""The journal stores under attack (issue 21): reconciling against a journal that is not
there, passwords in PostgreSQL URLs, malformed URLs, a database that goes away or hangs,
values PostgreSQL cannot store, an input that changed in a later chunk."""

from __future__ import annotations

import functools
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicenter_dialer import Call, JournalError, ValidationError, summarise_journal
from voicenter_dialer._journal import JournalSummary, check_input, open_store
from voicenter_dialer._journal_postgres import open_postgres, summarise_postgres
from voicenter_dialer._journal_records import storable
from voicenter_dialer._secrets import mask_url, split_url
from voicenter_dialer.cli import main
from voicenter_dialer.testing import FakeCampaign, FakeDialer, FakeServer, Faults

from .postgres import PostgresServer

CAMPAIGN = "HAZARDS-CAMPAIGN-0123456789abcdef"
PASSWORD = "Pa%ss@w/0rd-SECRET"
# Passwords as a user may paste them: unencoded '%', '@', '/', '#', '?', ':' and encoded ones.
HOSTILE_PASSWORDS = [
    PASSWORD,
    "p@ss:w#rd?x=1&y-SECRET",
    "%41%40%2F-SECRET",
    "s3cr3t/with/slashes-SECRET",
    "end@-SECRET@",
]


def leads(count: int) -> list[Call]:
    return [Call(f"9725{i:08d}") for i in range(count)]


def with_password(url: str, password: str) -> str:
    """*url* (``postgresql://postgres@...``) with *password*, written as given (unencoded)."""
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{password}@", 1)


def assert_no_password(text: str, password: str) -> None:
    """Neither the password, nor its decoded form, nor any telling piece of it is shown."""
    assert "SECRET" not in text
    for piece in {password, password.replace("-SECRET", "")}:
        assert piece not in text


@pytest.fixture
def fake() -> FakeDialer:
    return FakeDialer()


@pytest.fixture
def campaign(fake: FakeDialer) -> FakeCampaign:
    return fake.add_campaign("Hazards")


@pytest.fixture
def loop_campaign(server: FakeServer) -> FakeCampaign:
    return server.fake.add_campaign("Hazards over HTTP")


def cli(
    server: FakeServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
) -> tuple[int, str, str]:
    """The command line, run in this process against the loopback fake."""
    monkeypatch.setenv("VOICENTER_CODE", server.fake.account_code)
    capsys.readouterr()
    status = main(["--base-url", server.base_url, *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err


def lead_file(tmp_path: Path, count: int = 20) -> Path:
    path = tmp_path / "leads.csv"
    path.write_text("phone\n" + "".join(f"9725{i:08d}\n" for i in range(count)))
    return path


# --- B: reconciling against a journal that is not there ---------------------------------


async def test_reconciling_against_a_new_file_is_refused_and_creates_nothing(
    fake: FakeDialer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    journal = tmp_path / "typo.journal"
    async with fake.client() as dialer:
        with pytest.raises(JournalError, match="no such journal"):
            await dialer.add_calls_bulk(campaign.code, leads(10), journal=journal, reconcile=True)
    assert campaign.calls == []
    assert fake.requests == []
    assert not journal.exists()


async def test_reconciling_against_a_new_upload_name_is_refused_and_creates_nothing(
    fake: FakeDialer, campaign: FakeCampaign, postgres_database: str
) -> None:
    async with fake.client() as dialer:
        with pytest.raises(JournalError, match="no such journal"):
            await dialer.add_calls_bulk(
                campaign.code, leads(10), journal=postgres_database + "#typo", reconcile=True
            )
        await dialer.add_calls_bulk(campaign.code, leads(10), journal=postgres_database + "#real")
        with pytest.raises(JournalError, match="no such journal"):
            await dialer.add_calls_bulk(
                campaign.code, leads(10), journal=postgres_database + "#typo", reconcile=True
            )
    assert len(campaign.calls) == 10  # only the real upload's
    with psycopg.connect(postgres_database) as db:
        names = db.execute("SELECT name FROM voicenter_dialer.uploads").fetchall()
    assert names == [("real",)]


def test_cli_reconcile_against_a_new_file_exits_2_and_sends_nothing(
    server: FakeServer,
    loop_campaign: FakeCampaign,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a relative path that names a new file from here
    status, _, err = cli(
        server, capsys, monkeypatch,
        "upload", str(lead_file(tmp_path)), "--campaign", loop_campaign.code,
        "--journal", "upload.journal", "--reconcile",
    )  # fmt: skip
    assert status == 2
    assert "no such journal" in err
    assert loop_campaign.calls == []
    assert not (elsewhere / "upload.journal").exists()


def test_cli_reconcile_against_a_new_upload_name_exits_2_and_sends_nothing(
    server: FakeServer,
    loop_campaign: FakeCampaign,
    tmp_path: Path,
    postgres_database: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    status, out, _ = cli(
        server, capsys, monkeypatch,
        "upload", "--json", str(lead_file(tmp_path)), "--campaign", loop_campaign.code,
        "--journal", postgres_database + "#new", "--reconcile",
    )  # fmt: skip
    assert status == 2
    assert json.loads(out)["error"]["type"] == "JournalError"
    assert loop_campaign.calls == []
    with psycopg.connect(postgres_database) as db:
        found = db.execute("SELECT to_regclass('voicenter_dialer.uploads')").fetchone()
    assert found == (None,)  # not even the tables were created


# --- C: no password shown, ever --------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql://u:{PASSWORD}@host:5432/db#name", "postgresql://u:***@host:5432/db#name"),
        ("postgresql://u:Pa#ss@host/db#name", "postgresql://u:***@host/db#name"),
        ("postgresql://u:Pa#ss@host/db", "postgresql://u:***@host/db"),
        ("postgresql://u:p@s:w#rd?x=1-SECRET@host/db", "postgresql://u:***@host/db"),
        ("postgresql://u:p?w@host/db?password=x-SECRET#n", "postgresql://u:***@host/db#n"),
        ("postgresql://host/db?password=SECRET&sslmode=require#n", "postgresql://host/db#n"),
        ("postgresql://u@host/db#up@load", "postgresql://u@host/db#up@load"),
        ("https://user:SECRET@example.com/api/?token=SECRET", "https://user:***@example.com/api/"),
        ("/var/journals/upload.journal", "/var/journals/upload.journal"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


@given(
    password=st.text(st.characters(exclude_categories=["Cs"]), min_size=1),
    fragment=st.text(st.characters(exclude_characters="@", exclude_categories=["Cs"])),
)
def test_mask_url_never_shows_a_password(password: str, fragment: str) -> None:
    url = f"postgresql://me:{password}@db.example:5432/ops?sslmode=require#{fragment}"
    assert mask_url(url) == f"postgresql://me:***@db.example:5432/ops#{fragment}"
    parts = split_url(url)
    assert parts is not None
    assert (parts.user, parts.password) == ("me", password)


@pytest.mark.parametrize("password", HOSTILE_PASSWORDS)
async def test_no_password_in_any_message_of_the_library(
    postgres_server: PostgresServer, postgres_database: str, password: str
) -> None:
    port = postgres_server.port
    database = with_password(postgres_database, password)
    urls = [
        f"postgresql://postgres:{password}@127.0.0.1:1/db#up",  # refused
        f"postgresql://postgres:{password}@no-such-host.invalid/db#up",  # no such host
        f"postgresql://nobody:{password}@127.0.0.1:{port}/postgres#up",  # no such role
        with_password(postgres_server.url("no_such_database"), password) + "#up",
        f"postgresql://postgres:{password}@[::1/db#up",  # malformed
        f"postgresql://postgres:{password}@127.0.0.1:99999/db#up",
        f"postgresql://postgres:{password}@127.0.0.1:{port}/db?no_such_option=1#up",
        database,  # no upload name
        database + "#never-started",  # summary: no such journal
    ]
    for url in urls:
        for attempt in (
            functools.partial(open_postgres, url, campaign=CAMPAIGN, chunk_size=10, total=None),
            functools.partial(anyio.to_thread.run_sync, summarise_postgres, url),
        ):
            try:
                opened = await attempt()
            except (JournalError, ValidationError) as exc:
                assert_no_password(f"{exc} {exc!r} {exc.__cause__!r}", password)
            else:
                assert url == database + "#never-started"  # opening starts it
                if not isinstance(opened, JournalSummary):
                    assert_no_password(opened.description, password)
                    await opened.aclose()


@pytest.mark.parametrize("password", HOSTILE_PASSWORDS)
async def test_no_password_in_an_open_journal(postgres_database: str, password: str) -> None:
    url = with_password(postgres_database, password) + "?password=x-SECRET#open"
    store = await open_postgres(url, campaign=CAMPAIGN, chunk_size=10, total=None)
    try:
        shown = f"{store.description} {store!r} {vars(store)!r}"
    finally:
        await store.aclose()
    assert_no_password(shown, password)
    assert store.description == postgres_database.replace("postgres@", "postgres:***@") + "#open"


@pytest.mark.parametrize("password", HOSTILE_PASSWORDS)
@pytest.mark.parametrize("as_json", [False, True])
def test_no_password_in_what_the_cli_shows(
    server: FakeServer,
    loop_campaign: FakeCampaign,
    tmp_path: Path,
    postgres_server: PostgresServer,
    postgres_database: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    password: str,
    as_json: bool,
) -> None:
    json_option = ["--json"] if as_json else []
    journal = with_password(postgres_database, password) + "#upload"
    runs = [
        ["upload", str(lead_file(tmp_path)), "--campaign", loop_campaign.code,
         "--journal", journal],
        ["journal", journal],  # the summary of that upload
        ["journal", with_password(postgres_database, password) + "#none"],
        ["journal", f"postgresql://postgres:{password}@127.0.0.1:1/db#up"],
        ["journal", f"postgresql://postgres:{password}@[::1/db#up"],
        ["upload", str(lead_file(tmp_path)), "--campaign", loop_campaign.code,
         "--journal", f"postgresql://nobody:{password}@127.0.0.1:{postgres_server.port}/db#u"],
    ]  # fmt: skip
    statuses = []
    for args in runs:
        status, out, err = cli(server, capsys, monkeypatch, args[0], *json_option, *args[1:])
        statuses.append(status)
        assert_no_password(out + err, password)
        if as_json:
            json.loads(out)  # one document, whatever happened
    assert statuses == [0, 0, 2, 2, 2, 2]


# --- G: a malformed URL is a ValidationError, before anything is sent ------------------


MALFORMED = [
    "postgresql://u@[::1/db#n",
    "postgresql://u@[not-an-ip]/db#n",
    "postgresql://u@127.0.0.1:99999/db#n",
    "postgresql://u@127.0.0.1:abc/db#n",
    "postgresql://u@127.0.0.1:²/db#n",
    "postgresql://u@[::1]x/db#n",
]


@pytest.mark.parametrize("url", MALFORMED)
async def test_a_malformed_url_is_a_validation_error(
    fake: FakeDialer, campaign: FakeCampaign, url: str
) -> None:
    with pytest.raises(ValidationError):
        await open_postgres(url, campaign=CAMPAIGN, chunk_size=10, total=None)
    with pytest.raises(ValidationError):
        summarise_journal(url)
    async with fake.client() as dialer:
        with pytest.raises(ValidationError):
            await dialer.add_calls_bulk(campaign.code, leads(10), journal=url)
    assert fake.requests == []


@pytest.mark.parametrize("url", MALFORMED[:2])
def test_cli_a_malformed_url_exits_2(
    server: FakeServer,
    loop_campaign: FakeCampaign,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
) -> None:
    status, _, err = cli(
        server, capsys, monkeypatch,
        "upload", str(lead_file(tmp_path)), "--campaign", loop_campaign.code, "--journal", url,
    )  # fmt: skip
    assert status == 2, err
    assert loop_campaign.calls == []


# --- D: the connection lost mid-upload ---------------------------------------------------


def terminate_uploads(server: PostgresServer, database: str) -> int:
    with server.connect() as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND application_name = 'voicenter-dialer'",
            (database,),
        ).fetchall()
    return len(rows)


def leaves(error: BaseException) -> list[BaseException]:
    """The errors in *error*, out of any exception groups (Python 3.10 has no such class:
    recognised by their ``exceptions``)."""
    inner = getattr(error, "exceptions", None)
    if isinstance(inner, tuple):
        return [leaf for exc in inner for leaf in leaves(exc)]
    return [error]


async def lose_connection_mid_upload(
    fake: FakeDialer, campaign: FakeCampaign, server: PostgresServer, database: str
) -> BaseException:
    """What add_calls_bulk raises when its journal's connection is terminated part way."""
    fake.faults = Faults(latency=0.01)
    calls = leads(2000)
    errors: list[BaseException] = []

    async def upload() -> None:
        async with fake.client() as dialer:
            try:
                await dialer.add_calls_bulk(
                    campaign.code, calls, chunk_size=20, journal=database + "#lost"
                )
            except Exception as exc:  # what the caller sees, as it is
                errors.append(exc)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(upload)
            while len(campaign.calls) < 100:  # noqa: ASYNC110 - polls the fake
                await anyio.sleep(0.005)
            assert terminate_uploads(server, database.rsplit("/", 1)[1]) == 1
    assert len(campaign.calls) < len(calls)  # it stopped
    assert len(errors) == 1
    return errors[0]


async def lose_connection_under_a_writer(
    fake: FakeDialer, campaign: FakeCampaign, server: PostgresServer, database: str
) -> BaseException:
    """What a bulk writer raises when its journal's connection is terminated part way."""
    with anyio.fail_after(60):
        async with fake.client() as dialer:
            try:
                async with dialer.bulk_writer(
                    campaign.code, chunk_size=10, flush_after=0.05, journal=database + "#writer"
                ) as writer:
                    for call in leads(30):
                        await writer.add(call)
                    terminate_uploads(server, database.rsplit("/", 1)[1])
                    for call in leads(30):
                        await writer.add(call)
            except Exception as exc:
                return exc
    raise AssertionError("the writer did not fail")


LOSE_CONNECTION = [lose_connection_mid_upload, lose_connection_under_a_writer]


@pytest.mark.parametrize("lose", LOSE_CONNECTION)
async def test_connection_lost_mid_upload_is_one_journal_error(
    fake: FakeDialer,
    campaign: FakeCampaign,
    postgres_server: PostgresServer,
    postgres_database: str,
    lose: Any,
) -> None:
    error = await lose(fake, campaign, postgres_server, postgres_database)
    assert type(error) is JournalError, repr(error)


# --- E: values a store cannot keep as they are -----------------------------------------


# A lone surrogate cannot come over the wire (the JSON decoder refuses it), but a caller's
# call can hold one, and NUL both ways.
HOSTILE_DESCRIPTIONS = ["Target\x00blocked", "\x00"]
HOSTILE_TARGETS = ["97250\x00123456", "\ud83d97250123456", "9725\udcff\x00"]


@pytest.fixture(params=["sqlite", "postgres"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "upload.journal")
    database: str = request.getfixturevalue("postgres_database")
    return database + "#hostile"


async def test_nul_and_surrogates_in_what_is_journalled_are_kept_escaped(
    fake: FakeDialer, campaign: FakeCampaign, journal: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(HOSTILE_DESCRIPTIONS * 10)

    def reject(params: object) -> dict[str, Any]:
        return {"ErrorCode": 4, "Description": next(answers)}

    monkeypatch.setattr(fake, "_add_call", reject)
    calls = [*leads(len(HOSTILE_DESCRIPTIONS)), *(Call(target) for target in HOSTILE_TARGETS)]
    async with fake.client() as dialer:
        first = await dialer.add_calls_bulk(campaign.code, calls, journal=journal)
        again = await dialer.add_calls_bulk(campaign.code, calls, journal=journal)

    assert (first.total, len(first.rejected), len(first.failed)) == (5, 2, 3)
    assert [r.result.description for r in first.rejected] == HOSTILE_DESCRIPTIONS
    # Replayed from the journal, as it could keep them; every lead reported.
    expected = [storable(d) for d in HOSTILE_DESCRIPTIONS]
    assert [r.result.description for r in again.rejected] == expected
    assert [f.index for f in again.failed] == [f.index for f in first.failed] == [2, 3, 4]
    summary = summarise_journal(journal)
    assert (summary.rejected, summary.failed, summary.remaining) == (2, 3, 0)


@pytest.mark.parametrize("code", [2**40, -(2**31) - 1])
async def test_an_error_code_out_of_range_is_journalled_as_unknown(
    fake: FakeDialer,
    campaign: FakeCampaign,
    journal: str,
    monkeypatch: pytest.MonkeyPatch,
    code: object,
) -> None:
    def reject(params: object) -> dict[str, Any]:
        return {"ErrorCode": code, "Description": "odd"}

    monkeypatch.setattr(fake, "_add_call", reject)
    calls = [*leads(2), Call("123")]
    async with fake.client() as dialer:
        first = await dialer.add_calls_bulk(campaign.code, calls, journal=journal)
        again = await dialer.add_calls_bulk(campaign.code, calls, journal=journal)

    assert [r.result.error_code for r in first.rejected] == [int(str(code))] * 2
    assert [(r.result.error_code, r.result.description) for r in again.rejected] == [
        (None, "odd")
    ] * 2
    assert len(again.failed) == 1
    assert summarise_journal(journal).rejected == 2


def test_storable_text() -> None:
    assert storable("plain é ✓") == "plain é ✓"
    assert storable("a\x00b") == "a\\x00b"
    assert storable("\ud83d") == "\\ud83d"
    assert storable("\ud83d").encode("utf-8")  # encodable now


# --- F: bounded and cancellable --------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never says anything."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


async def test_cancelling_while_connecting_to_a_hung_server_returns_at_once(
    silent_server: int,
) -> None:
    url = f"postgresql://u@127.0.0.1:{silent_server}/db#hung"
    with anyio.fail_after(5):  # a hang guard: without the fix this waits psycopg's 130 s
        with anyio.move_on_after(0.2) as scope:
            await open_postgres(url, campaign=CAMPAIGN, chunk_size=10, total=None)
    assert scope.cancelled_caught


async def test_connecting_to_a_hung_server_times_out_as_a_journal_error(
    silent_server: int,
) -> None:
    url = f"postgresql://u@127.0.0.1:{silent_server}/db?connect_timeout=2#hung"
    with anyio.fail_after(30), pytest.raises(JournalError, match="cannot connect"):
        await open_postgres(url, campaign=CAMPAIGN, chunk_size=10, total=None)


@pytest.fixture
def locked_tables(postgres_database: str) -> Iterator[psycopg.Connection[Any]]:
    """The journal's tables created, then one locked by another connection until the test
    ends."""

    async def create() -> None:
        store = await open_postgres(
            postgres_database + "#setup", campaign=CAMPAIGN, chunk_size=10, total=None
        )
        await store.aclose()

    anyio.run(create)
    with psycopg.connect(postgres_database) as holder:
        # Not the chunks table, which opening reads: what a chunk's record writes waits.
        holder.execute("LOCK TABLE voicenter_dialer.leads IN ACCESS EXCLUSIVE MODE")
        yield holder


async def test_cancelling_a_hung_statement_returns_at_once(
    postgres_database: str, locked_tables: psycopg.Connection[Any]
) -> None:
    store = await open_postgres(
        postgres_database + "#upload", campaign=CAMPAIGN, chunk_size=10, total=None
    )
    try:
        with anyio.fail_after(5):  # a hang guard: without the fix this waits for the lock
            with anyio.move_on_after(0.2) as scope:
                await store.sent(0, 10, b"digest", [])
        assert scope.cancelled_caught
    finally:
        with anyio.fail_after(5):
            await store.aclose()
    # The abandoned statement is cancelled and its connection closed: the upload's lock is
    # free again (while the tables are still locked).
    with anyio.fail_after(10):
        while True:
            try:
                again = await open_postgres(
                    postgres_database + "#upload", campaign=CAMPAIGN, chunk_size=10, total=None
                )
            except JournalError as exc:
                if "in use" not in str(exc):
                    raise
                await anyio.sleep(0.1)
            else:
                await again.aclose()
                break


async def test_cancelling_an_upload_on_a_hung_statement_returns_at_once(
    fake: FakeDialer,
    campaign: FakeCampaign,
    postgres_database: str,
    locked_tables: psycopg.Connection[Any],
) -> None:
    async with fake.client() as dialer:
        with anyio.fail_after(5), anyio.move_on_after(0.3) as scope:
            await dialer.add_calls_bulk(
                campaign.code, leads(100), chunk_size=10, journal=postgres_database + "#up"
            )
    assert scope.cancelled_caught
    assert campaign.calls == []  # nothing left before its chunk was journalled


async def test_a_statement_that_runs_too_long_is_a_journal_error(
    postgres_database: str, locked_tables: psycopg.Connection[Any]
) -> None:
    url = postgres_database + "?options=-c%20statement_timeout%3D300#upload"
    store = await open_postgres(url, campaign=CAMPAIGN, chunk_size=10, total=None)
    try:
        with anyio.fail_after(10), pytest.raises(JournalError, match="statement timeout"):
            await store.sent(0, 10, b"digest", [])
    finally:
        await store.aclose()


async def test_statements_are_bounded_by_default(postgres_database: str) -> None:
    store = await open_postgres(
        postgres_database + "#bounded", campaign=CAMPAIGN, chunk_size=10, total=None
    )
    try:
        rows = await store._run("SELECT current_setting('statement_timeout')", {})  # type: ignore[attr-defined]
    finally:
        await store.aclose()
    assert rows == [("30s",)]


# --- H: the whole input checked before anything is sent ----------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "checked.journal")
    database: str = request.getfixturevalue("postgres_database")
    return database + "#checked"


async def test_an_input_changed_in_a_later_chunk_is_refused_naming_it(location: str) -> None:
    store = await open_store(location, campaign=CAMPAIGN, chunk_size=10, total=None)
    try:
        for start in (0, 10, 20):
            await store.sent(start, 10, bytes([start]), [])
        same = [(0, 10, bytes([0])), (10, 10, bytes([10])), (20, 10, bytes([20]))]
        await check_input(store, [*same, (30, 10, b"never journalled")])
        with pytest.raises(JournalError, match="positions 20 to 29"):
            await check_input(store, [*same[:2], (20, 10, b"changed"), (30, 5, b"new")])
        with pytest.raises(JournalError, match="positions 10 to 14"):
            await check_input(store, [same[0], (10, 5, bytes([10]))])  # shorter
    finally:
        await store.aclose()


# --- I: two writers at once, a schema of another version --------------------------------


async def test_two_uploads_starting_a_new_file_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "new.journal")
    outcomes: list[object] = []

    async def start() -> None:
        try:
            store = await open_store(path, campaign=CAMPAIGN, chunk_size=10, total=None)
        except JournalError as exc:
            outcomes.append(str(exc))
        else:
            outcomes.append(store)

    for _ in range(20):
        await anyio.Path(path).unlink(missing_ok=True)
        outcomes.clear()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(start)
            tasks.start_soon(start)
        opened = [o for o in outcomes if not isinstance(o, str)]
        refused = [o for o in outcomes if isinstance(o, str)]
        assert len(opened) == 1, outcomes
        assert all("in use by a running upload" in message for message in refused), refused
        for store in opened:
            await store.aclose()  # type: ignore[attr-defined]


async def test_a_journal_of_an_older_schema_is_refused(
    postgres_database: str, tmp_path: Path
) -> None:
    url = postgres_database + "#old"
    store = await open_postgres(url, campaign=CAMPAIGN, chunk_size=10, total=None)
    await store.aclose()
    with psycopg.connect(postgres_database) as db:
        db.execute("UPDATE voicenter_dialer.schema_version SET version = 0")
    with pytest.raises(JournalError, match="version 0"):
        await open_postgres(url, campaign=CAMPAIGN, chunk_size=10, total=None)


def test_the_cli_exits_130_on_the_first_ctrl_c_while_the_journal_hangs(
    silent_server: int, tmp_path: Path
) -> None:
    """A journal on a server that accepts and never answers: one Ctrl-C ends the upload."""
    leads = tmp_path / "leads.csv"
    leads.write_text("phone\n972501234567\n")
    url = f"postgresql://u@127.0.0.1:{silent_server}/db#hung"
    process = subprocess.Popen(
        [sys.executable, "-m", "voicenter_dialer", "--base-url", "http://127.0.0.1:9/",
         "--code", "account-code-1234", "upload", str(leads), "--campaign", "campaign-code-1234",
         "--journal", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A suite started in the background ignores SIGINT: give it the default, as a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler),
    )  # fmt: skip
    time.sleep(2)  # connecting to the journal, which never answers
    assert process.poll() is None
    process.send_signal(signal.SIGINT)
    # One Ctrl-C is enough (no second one is sent), and it does not wait for libpq's connect
    # timeout (10 s by default) to end the process: a hang guard, well above a prompt exit.
    _, err = process.communicate(timeout=6)
    assert process.returncode == 130
    assert "Traceback" not in err
