"""Export downloads against httpx.MockTransport: formats, limits, archives, credentials."""

import asyncio
import gzip
import io
import zipfile

import httpx
import pytest

from pipulate.botify import BotifyClient, DownloadError
from tests.botify.conftest import OPEN
from tests.support import ThreadServer

TOKEN = "tok-secret-123"
BASE = "https://api.test/v1"
URL = "https://storage.test/exports/abc/botify-2025-04-21.csv.gz?expires=1&signature=s"
CSV = (
    b'sep=,\n"Full URL","Title"\n'
    b'https://a.test/,"Home, sweet home"\n'
    b'https://a.test/b,"B ""quoted"""\n'
    b"https://a.test/c,C\n"
)


def serve(*answers, default_headers=None):
    """A BotifyClient whose HTTP client answers from `answers`, recording requests."""
    requests: list[httpx.Request] = []
    queue = list(answers)

    def handler(request):
        requests.append(request)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return answer(request) if callable(answer) else answer

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), headers=default_headers)
    OPEN.append(http)
    return BotifyClient(TOKEN, BASE, http=http), requests


def file(content: bytes, status: int = 200):
    """A streamed answer, as a real server gives (a bytes `content=` would arrive pre-read)."""
    headers = {"Content-Length": str(len(content))}
    return lambda request: httpx.Response(status, headers=headers, stream=httpx.ByteStream(content))


def leftovers(folder):
    return sorted(path.name for path in folder.iterdir())


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


async def test_a_gzip_export_is_unpacked_to_the_target_with_rows_counted(tmp_path):
    botify, requests = serve(file(gzip.compress(CSV)))
    target = tmp_path / "exports" / "site.csv"

    saved = await botify.download(URL, target)

    assert target.read_bytes() == CSV
    assert saved.path == target and saved.size == len(CSV) and saved.rows == 3
    assert leftovers(target.parent) == ["site.csv"]
    assert "Authorization" not in requests[0].headers


async def test_a_finished_file_gets_the_usual_mode_not_the_private_spool_mode(tmp_path):
    botify, _ = serve(file(gzip.compress(CSV)))
    target = tmp_path / "site.csv"
    (tmp_path / "probe").touch()

    await botify.download(URL, target)

    assert target.stat().st_mode & 0o777 == (tmp_path / "probe").stat().st_mode & 0o777


async def test_a_gzip_of_several_members_is_unpacked_whole(tmp_path):
    body = gzip.compress(CSV[:30]) + gzip.compress(CSV[30:]) + b"\0\0\0\0"
    botify, _ = serve(file(body))
    saved = await botify.download(URL, tmp_path / "site.csv")
    assert (tmp_path / "site.csv").read_bytes() == CSV and saved.rows == 3


async def test_a_plain_csv_with_bom_and_no_trailing_newline_counts_rows(tmp_path):
    body = b'\xef\xbb\xbfsep=,\n"Full URL"\nhttps://a.test/\nhttps://a.test/b'
    botify, _ = serve(file(body))
    saved = await botify.download(URL, tmp_path / "site.csv")
    assert saved.rows == 2 and (tmp_path / "site.csv").read_bytes() == body


async def test_a_csv_without_sep_line_counts_only_the_header_out(tmp_path):
    botify, _ = serve(file(b'"Full URL"\nhttps://a.test/\n'))
    assert (await botify.download(URL, tmp_path / "site.csv")).rows == 1


async def test_a_tiny_body_shorter_than_any_magic_is_saved_as_plain(tmp_path):
    botify, _ = serve(file(b"x\n"))
    saved = await botify.download(URL, tmp_path / "site.csv")
    assert (saved.size, saved.rows) == (2, 0)


async def test_a_zip_export_gives_its_single_member_under_our_name(tmp_path):
    body = zipped({"botify-2025-04-21.csv": CSV})
    botify, _ = serve(file(body))
    saved = await botify.download(URL, tmp_path / "site.csv")
    assert (tmp_path / "site.csv").read_bytes() == CSV and saved.rows == 3
    assert leftovers(tmp_path) == ["site.csv"]


@pytest.mark.parametrize(
    "name", ["../escape.csv", "/etc/cron.d/evil.csv", "a/../../escape.csv", "..\\evil.csv",
             "C:/evil.csv"],
)
async def test_a_zip_member_that_would_land_outside_the_folder_is_refused(tmp_path, name):
    botify, _ = serve(file(zipped({name: CSV})))
    target = tmp_path / "in" / "site.csv"
    with pytest.raises(DownloadError, match="outside the target folder"):
        await botify.download(URL, target)
    assert leftovers(target.parent) == []
    assert leftovers(tmp_path) == ["in"]


async def test_a_zip_with_several_csv_members_is_refused(tmp_path):
    body = zipped({"a.csv": CSV, "b.csv": CSV})
    botify, _ = serve(file(body))
    with pytest.raises(DownloadError, match="one CSV file but holds 'a.csv', 'b.csv'"):
        await botify.download(URL, tmp_path / "site.csv")
    assert leftovers(tmp_path) == []


async def test_a_broken_zip_is_refused(tmp_path):
    botify, _ = serve(file(b"PK\x03\x04" + b"junk" * 100))
    with pytest.raises(DownloadError, match="zip export could not be read"):
        await botify.download(URL, tmp_path / "site.csv")
    assert leftovers(tmp_path) == []


async def test_gzip_output_beyond_the_cap_stops_with_a_clear_error(tmp_path):
    bomb = gzip.compress(b"\0" * 50_000_000)
    botify, _ = serve(file(bomb))
    with pytest.raises(DownloadError, match="bigger than the 1,000,000-byte limit"):
        await botify.download(URL, tmp_path / "site.csv", max_bytes=1_000_000)
    assert leftovers(tmp_path) == []


async def test_zip_output_beyond_the_cap_stops_with_a_clear_error(tmp_path):
    body = zipped({"big.csv": b"a,b\n" * 1_000_000})
    botify, _ = serve(file(body))
    with pytest.raises(DownloadError, match="bigger than the 100,000-byte limit"):
        await botify.download(URL, tmp_path / "site.csv", max_bytes=100_000)
    assert leftovers(tmp_path) == []


async def test_a_gzip_cut_short_is_refused_and_leaves_no_file(tmp_path):
    body = gzip.compress(CSV * 100)[:-20]
    botify, _ = serve(file(body))
    with pytest.raises(DownloadError, match="ends early"):
        await botify.download(URL, tmp_path / "site.csv")
    assert leftovers(tmp_path) == []


async def test_garbage_after_a_gzip_member_is_refused(tmp_path):
    botify, _ = serve(file(gzip.compress(CSV) + b"not gzip at all"))
    with pytest.raises(DownloadError, match="not a valid gzip"):
        await botify.download(URL, tmp_path / "site.csv")
    assert leftovers(tmp_path) == []


async def test_a_failed_download_leaves_an_existing_target_untouched(tmp_path):
    target = tmp_path / "site.csv"
    target.write_bytes(b"previous export\n")
    botify, _ = serve(file(gzip.compress(CSV)[:-20]))
    with pytest.raises(DownloadError):
        await botify.download(URL, target)
    assert target.read_bytes() == b"previous export\n"
    assert leftovers(tmp_path) == ["site.csv"]


@pytest.mark.parametrize("status", [401, 403, 410])
async def test_a_refused_link_says_it_has_probably_expired(tmp_path, status):
    botify, _ = serve(httpx.Response(status, text="<Error>AccessDenied</Error>"))
    with pytest.raises(DownloadError, match="probably expired") as caught:
        await botify.download(URL, tmp_path / "site.csv")
    assert caught.value.status == status
    assert leftovers(tmp_path) == []


async def test_redirects_are_followed_without_credentials_even_on_the_api_host(tmp_path):
    hop = httpx.Response(302, headers={"Location": "https://api.test/v1/files/x.csv.gz"})
    last = httpx.Response(307, headers={"Location": "/final.csv.gz"})
    botify, requests = serve(
        hop, last, file(gzip.compress(CSV)),
        default_headers={"Authorization": f"Token {TOKEN}", "Cookie": "session=1"},
    )
    await botify.download(URL, tmp_path / "site.csv")

    assert [str(r.url) for r in requests] == [
        URL, "https://api.test/v1/files/x.csv.gz", "https://api.test/final.csv.gz",
    ]
    for request in requests:
        assert "Authorization" not in request.headers and "Cookie" not in request.headers
        assert TOKEN not in str(request.url)


async def test_more_than_five_redirects_are_refused(tmp_path):
    loop = httpx.Response(302, headers={"Location": "https://storage.test/again"})
    botify, requests = serve(loop)
    with pytest.raises(DownloadError, match="redirected more than 5 times"):
        await botify.download(URL, tmp_path / "site.csv")
    assert len(requests) == 6


async def test_a_redirect_to_another_scheme_is_refused(tmp_path):
    botify, _ = serve(httpx.Response(302, headers={"Location": "file:///etc/passwd"}))
    with pytest.raises(DownloadError, match="not an http"):
        await botify.download(URL, tmp_path / "site.csv")


async def test_progress_reports_received_bytes_against_content_length(tmp_path):
    body = gzip.compress(CSV)
    calls = []
    botify, _ = serve(file(body))
    await botify.download(URL, tmp_path / "site.csv", on_progress=lambda *a: calls.append(a))
    assert calls[-1] == (len(body), len(body))


async def test_a_body_shorter_than_content_length_is_refused(tmp_path):
    async def short_body():
        yield gzip.compress(CSV)[:10]

    answer = httpx.Response(200, content=short_body(), headers={"Content-Length": "500"})
    botify, _ = serve(answer)
    with pytest.raises(DownloadError, match="cut short after 10 of 500 bytes"):
        await botify.download(URL, tmp_path / "site.csv")
    assert leftovers(tmp_path) == []


async def test_a_transport_failure_mid_body_is_a_download_error(tmp_path):
    async def dropping_body():
        yield gzip.compress(CSV)[:10]
        raise httpx.ReadError("connection reset")

    botify, _ = serve(httpx.Response(200, content=dropping_body()))
    with pytest.raises(DownloadError, match="cut short after 10 bytes"):
        await botify.download(URL, tmp_path / "site.csv")
    assert leftovers(tmp_path) == []


async def test_an_unwritable_folder_is_a_download_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    botify, _ = serve(file(CSV))
    with pytest.raises(DownloadError, match="Could not create the folder"):
        await botify.download(URL, blocker / "site.csv")


async def test_a_cancelled_download_removes_its_temporary_files(tmp_path):
    first_chunk_sent = asyncio.Event()

    async def endless_body():
        yield gzip.compress(CSV)[:20]
        first_chunk_sent.set()
        await asyncio.Event().wait()

    botify, _ = serve(httpx.Response(200, content=endless_body()))
    task = asyncio.create_task(botify.download(URL, tmp_path / "site.csv"))
    await first_chunk_sent.wait()
    await asyncio.sleep(0.05)
    assert leftovers(tmp_path) != []

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert leftovers(tmp_path) == []


def trickling_app(pause: float, pieces: int):
    """An ASGI app sending a plain CSV in `pieces` chunks, `pause` seconds apart."""
    body = b'"Full URL"\n' + b"".join(b"https://a.test/%d\n" % n for n in range(pieces - 1))
    size = len(body)
    step = -(-size // pieces)

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        headers = [(b"content-length", str(size).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for start in range(0, size, step):
            await asyncio.sleep(pause)
            await send({"type": "http.response.body", "body": body[start:start + step],
                        "more_body": start + step < size})

    return app


async def test_a_download_slower_overall_than_the_read_timeout_still_completes(tmp_path):
    timeout = httpx.Timeout(connect=1.0, read=0.5, write=1.0, pool=1.0)
    with ThreadServer(trickling_app(pause=0.15, pieces=8)) as server:
        async with BotifyClient(TOKEN, BASE, download_timeout=timeout) as botify:
            saved = await botify.download(f"{server.url}/export.csv", tmp_path / "site.csv")
    assert saved.rows == 7


async def test_a_download_that_stalls_longer_than_the_read_timeout_fails(tmp_path):
    timeout = httpx.Timeout(connect=1.0, read=0.2, write=1.0, pool=1.0)
    with ThreadServer(trickling_app(pause=0.6, pieces=2)) as server:
        async with BotifyClient(TOKEN, BASE, download_timeout=timeout) as botify:
            with pytest.raises(DownloadError, match="stalled after 0 of "):
                await botify.download(f"{server.url}/export.csv", tmp_path / "site.csv")
    assert leftovers(tmp_path) == []
