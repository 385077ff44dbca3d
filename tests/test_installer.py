"""The installer, against real loopback HTTP/HTTPS servers, a real proxy and real archives."""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import platform
import pty
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, Iterator, List, Tuple

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)
for path in (REPO_ROOT, TESTS_DIR):
    if path not in sys.path:
        sys.path.insert(0, path)

import pyngrok  # noqa: E402 - found through the sys.path set up above
from helpers import wait_for  # noqa: E402
from installer_servers import (  # noqa: E402
    ArchiveServer,
    Entry,
    LoopbackCA,
    Route,
    TinyProxy,
    fake_ngrok,
    listing,
    make_ca,
    tgz_bytes,
    tgz_with_declared_size,
    zip_bytes,
    zip_with_declared_size,
)

pytestmark = pytest.mark.skipif(os.name == "nt", reason="the fake agent is a POSIX shell script")

ARCHIVE_NAME = pyngrok.get_ngrok_cdn_url("3").rsplit("/", 1)[1]
NEW_VERSION = "3.99.0"
OLD_BINARY = fake_ngrok("3.0.0-old")
NEW_BINARY = fake_ngrok(NEW_VERSION)
TGZ = tgz_bytes([Entry("ngrok", NEW_BINARY)])
ZIP = zip_bytes([Entry("ngrok", NEW_BINARY)])
INSTALLER_ENV = (
    "PYNGROK_NGROK_URL",
    "PYNGROK_NGROK_ARCHIVE",
    "PYNGROK_NGROK_SHA256",
    "PYNGROK_REQUIRE_CHECKSUM",
    "PYNGROK_QUIET",
    "PYNGROK_ALLOW_HTTP",
    "PYNGROK_CA_BUNDLE",
)
PROXY_ENV = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- Fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[str]:
    """No PYNGROK_* or proxy settings from the outside; a private system temp dir; quick back-off."""
    for name in INSTALLER_ENV + PROXY_ENV + tuple(n.upper() for n in PROXY_ENV):
        monkeypatch.delenv(name, raising=False)
    systmp = tmp_path / "systmp"
    systmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(systmp))
    monkeypatch.setattr(pyngrok, "_RETRY_BACKOFF_SECONDS", 0.05)
    yield str(systmp)


@pytest.fixture(scope="session")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCA:
    return make_ca(str(tmp_path_factory.mktemp("ca")))


@pytest.fixture
def https(ca: LoopbackCA) -> Iterator[ArchiveServer]:
    server = ArchiveServer(ca.server_context())
    server.routes["/ngrok.tgz"] = Route(body=TGZ)
    server.routes["/ngrok.zip"] = Route(body=ZIP)
    yield server
    server.close()


@pytest.fixture
def http() -> Iterator[ArchiveServer]:
    server = ArchiveServer()
    server.routes["/ngrok.tgz"] = Route(body=TGZ)
    yield server
    server.close()


@pytest.fixture
def bin_dir(tmp_path: Any) -> str:
    directory = tmp_path / "bin"
    directory.mkdir()
    return str(directory)


@pytest.fixture
def ngrok_path(bin_dir: str) -> str:
    return os.path.join(bin_dir, "ngrok")


@pytest.fixture
def existing(ngrok_path: str) -> str:
    """A working (old) ngrok already installed at ngrok_path."""
    with open(ngrok_path, "wb") as file:
        file.write(OLD_BINARY)
    os.chmod(ngrok_path, 0o755)
    return ngrok_path


def write(directory: Any, name: str, data: bytes) -> str:
    path = os.path.join(str(directory), name)
    with open(path, "wb") as file:
        file.write(data)
    return path


def read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def assert_installed(ngrok_path: str, version: str = NEW_VERSION) -> None:
    output = subprocess.run([ngrok_path, "version"], stdout=subprocess.PIPE, check=True).stdout.decode()
    assert output.strip() == f"ngrok version {version}"
    assert os.stat(ngrok_path).st_mode & 0o777 == 0o755


def assert_untouched(ngrok_path: str) -> None:
    assert read(ngrok_path) == OLD_BINARY
    assert_installed(ngrok_path, "3.0.0-old")


def assert_no_leftovers(bin_dir: str, systmp: str) -> None:
    assert set(listing(bin_dir)) <= {"ngrok", ".ngrok.lock"}
    assert listing(systmp) == []


def install(ngrok_path: str, **kwargs: Any) -> None:
    kwargs.setdefault("quiet", True)
    pyngrok._install_ngrok_binary(ngrok_path, **kwargs)


# --- Platform table -----------------------------------------------------------------------------------

PLATFORM_CASES = [
    ("Darwin", "x86_64", "darwin-amd64.zip"),
    ("Darwin", "arm64", "darwin-arm64.zip"),
    ("Windows", "AMD64", "windows-amd64.zip"),
    ("Windows", "x86", "windows-386.zip"),
    ("Windows", "ARM64", "windows-arm64.zip"),
    ("CYGWIN_NT-10.0", "x86_64", "windows-amd64.zip"),
    ("MSYS_NT-10.0-19045", "x86_64", "windows-amd64.zip"),
    ("MINGW64_NT-10.0", "x86_64", "windows-amd64.zip"),
    ("Linux", "x86_64", "linux-amd64.tgz"),
    ("Linux", "i686", "linux-386.tgz"),
    ("Linux", "armv7l", "linux-arm.tgz"),
    ("Linux", "aarch64", "linux-arm64.tgz"),
    ("Linux", "arm aarch64", "linux-arm64.tgz"),
    # Upstream's rule: any other name ending in 64 is x86_64; the installer's version check then rejects a
    # binary that does not run here.
    ("Linux", "riscv64", "linux-amd64.tgz"),
    ("Linux", "s390x", "linux-s390x.tgz"),
    ("Linux", "ppc64", "linux-ppc64.tgz"),
    ("Linux", "ppc64le", "linux-ppc64le.tgz"),
    ("FreeBSD", "amd64", "freebsd-amd64.tgz"),
    ("FreeBSD", "i386", "freebsd-386.tgz"),
    ("FreeBSD", "arm", "freebsd-arm.tgz"),
]


@pytest.mark.parametrize("system, machine, archive", PLATFORM_CASES)
def test_platform_table(monkeypatch: pytest.MonkeyPatch, system: str, machine: str, archive: str) -> None:
    monkeypatch.setattr(platform, "system", lambda: system)
    monkeypatch.setattr(platform, "machine", lambda: machine)
    assert pyngrok.get_ngrok_cdn_url("3") == f"https://bin.ngrok.com/c/bNyj1mQVY4c/ngrok-v3-stable-{archive}"
    assert pyngrok.get_ngrok_cdn_url("v3") == pyngrok.get_ngrok_cdn_url("3")
    assert pyngrok.get_ngrok_bin() == ("ngrok.exe" if "windows" in archive else "ngrok")
    assert pyngrok.get_ngrok_cdn_url("2").startswith("https://bin.equinox.io/c/4VmDzA7iaHb/ngrok-stable-")


def test_platforms_table_matches_upstream_keys() -> None:
    assert len(pyngrok.PLATFORMS) == 15
    assert pyngrok.PLATFORMS["linux_x86_64_arm"] == pyngrok.CDN_URL_PREFIX + "ngrok-v3-stable-linux-arm64.tgz"
    assert pyngrok.UNIX_BINARIES == ["darwin", "linux", "freebsd"]
    installer = importlib.import_module("pyngrok.installer")

    assert installer.install_ngrok is pyngrok._install_ngrok_binary
    assert installer.get_ngrok_cdn_url is pyngrok.get_ngrok_cdn_url


@pytest.mark.parametrize("system, machine, message", [("SunOS", "i86pc", '"sunos"'), ("AIX", "powerpc", '"aix"')])
def test_unsupported_platforms(monkeypatch: pytest.MonkeyPatch, system: str, machine: str, message: str) -> None:
    monkeypatch.setattr(platform, "system", lambda: system)
    monkeypatch.setattr(platform, "machine", lambda: machine)
    with pytest.raises(pyngrok.PyngrokNgrokInstallError, match=message):
        pyngrok.get_ngrok_cdn_url("3")


def test_unsupported_version(ngrok_path: str) -> None:
    with pytest.raises(pyngrok.PyngrokError, match="supported version"):
        pyngrok.get_ngrok_cdn_url("4")
    with pytest.raises(pyngrok.PyngrokError, match="supported version"):
        install(ngrok_path, ngrok_version="4")


# --- Installing from servers --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ngrok.tgz", "/ngrok.zip"])
def test_install_over_https(
    https: ArchiveServer, ca: LoopbackCA, ngrok_path: str, bin_dir: str, isolated: str, path: str
) -> None:
    install(ngrok_path, url=https.url(path), cafile=ca.ca_file)
    assert_installed(ngrok_path)
    assert read(ngrok_path) == NEW_BINARY
    assert_no_leftovers(bin_dir, isolated)


def test_install_over_https_with_context_and_env_ca_bundle(
    https: ArchiveServer, ca: LoopbackCA, ngrok_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(ngrok_path, url=https.url("/ngrok.zip"), context=ca.client_context())
    assert_installed(ngrok_path)
    os.unlink(ngrok_path)
    monkeypatch.setenv("PYNGROK_CA_BUNDLE", ca.ca_file)
    install(ngrok_path, url=https.url("/ngrok.tgz"))
    assert_installed(ngrok_path)


def test_untrusted_certificate_is_not_retried(https: ArchiveServer, existing: str) -> None:
    with pytest.raises(pyngrok.PyngrokNgrokInstallError, match=r"TLS verification.*CA bundle"):
        install(existing, url=https.url("/ngrok.tgz"), retries=3)
    assert https.hits["/ngrok.tgz"] == 0
    assert_untouched(existing)


def test_install_over_http_when_allowed(http: ArchiveServer, ngrok_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    install(ngrok_path, url=http.url("/ngrok.tgz"), allow_http=True)
    assert_installed(ngrok_path)
    os.unlink(ngrok_path)
    monkeypatch.setenv("PYNGROK_ALLOW_HTTP", "1")
    install(ngrok_path, url=http.url("/ngrok.tgz"))
    assert_installed(ngrok_path)


def test_http_is_refused_by_default(http: ArchiveServer, existing: str) -> None:
    with pytest.raises(pyngrok.PyngrokSecurityError, match="only https"):
        install(existing, url=http.url("/ngrok.tgz"))
    assert http.hits["/ngrok.tgz"] == 0
    assert_untouched(existing)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/ngrok.tgz", "data:,hello", "gopher://x/"])
def test_other_schemes_are_refused(url: str, existing: str) -> None:
    with pytest.raises(pyngrok.PyngrokSecurityError):
        install(existing, url=url, allow_http=True)
    # The refusal is also an install error, as upstream wraps every failure in one.
    with pytest.raises(pyngrok.PyngrokNgrokInstallError):
        install(existing, url=url)
    assert_untouched(existing)


def test_mirror_prefix(https: ArchiveServer, ca: LoopbackCA, ngrok_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    kind = "zip" if ARCHIVE_NAME.endswith(".zip") else "tgz"
    https.routes[f"/mirror/{ARCHIVE_NAME}"] = Route(body=ZIP if kind == "zip" else TGZ)
    install(ngrok_path, url=https.url("/mirror/"), cafile=ca.ca_file)
    assert_installed(ngrok_path)
    os.unlink(ngrok_path)
    monkeypatch.setenv("PYNGROK_NGROK_URL", https.url("/mirror/"))
    monkeypatch.setenv("PYNGROK_CA_BUNDLE", ca.ca_file)
    install(ngrok_path)
    assert_installed(ngrok_path)
    assert https.hits[f"/mirror/{ARCHIVE_NAME}"] == 2


def test_redirects_are_followed(https: ArchiveServer, ca: LoopbackCA, ngrok_path: str) -> None:
    https.routes["/latest"] = Route("redirect", location="/releases/ngrok.tgz", status=301)
    https.routes["/releases/ngrok.tgz"] = Route("redirect", location=https.url("/ngrok.tgz"), status=307)
    install(ngrok_path, url=https.url("/latest"), cafile=ca.ca_file)
    assert_installed(ngrok_path)
    assert https.hits["/ngrok.tgz"] == 1


def test_redirect_to_http_is_refused(https: ArchiveServer, http: ArchiveServer, ca: LoopbackCA, existing: str) -> None:
    https.routes["/downgrade"] = Route("redirect", location=http.url("/ngrok.tgz"))
    with pytest.raises(pyngrok.PyngrokSecurityError, match="redirect target"):
        install(existing, url=https.url("/downgrade"), cafile=ca.ca_file)
    assert http.hits["/ngrok.tgz"] == 0
    assert_untouched(existing)
    install(existing, url=https.url("/downgrade"), cafile=ca.ca_file, allow_http=True)
    assert_installed(existing)


# --- Download faults ----------------------------------------------------------------------------------


def test_404_fails_at_once(https: ArchiveServer, ca: LoopbackCA, existing: str, bin_dir: str, isolated: str) -> None:
    with pytest.raises(pyngrok.PyngrokNgrokInstallError, match="HTTP 404"):
        install(existing, url=https.url("/missing.tgz"), cafile=ca.ca_file, retries=3)
    assert https.hits["/missing.tgz"] == 1  # not transient: no retries
    assert_untouched(existing)
    assert_no_leftovers(bin_dir, isolated)


def test_500_is_retried_then_fails(
    https: ArchiveServer, ca: LoopbackCA, existing: str, bin_dir: str, isolated: str
) -> None:
    https.routes["/broken.tgz"] = Route("status", status=500)
    with pytest.raises(pyngrok.PyngrokNgrokInstallError, match=r"after 3 attempt.*HTTP 500"):
        install(existing, url=https.url("/broken.tgz"), cafile=ca.ca_file, retries=2)
    assert https.hits["/broken.tgz"] == 3
    assert_untouched(existing)
    assert_no_leftovers(bin_dir, isolated)


def test_default_retry_count_and_timeout_are_upstreams(https: ArchiveServer, ca: LoopbackCA, existing: str) -> None:
    assert (pyngrok.DEFAULT_RETRY_COUNT, pyngrok.DEFAULT_DOWNLOAD_TIMEOUT) == (0, 6)
    https.routes["/broken.tgz"] = Route("status", status=503)
    with pytest.raises(pyngrok.PyngrokNgrokInstallError, match="after 1 attempt"):
        install(existing, url=https.url("/broken.tgz"), cafile=ca.ca_file)


def test_fails_twice_then_succeeds(
    https: ArchiveServer, ca: LoopbackCA, ngrok_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    https.routes["/flaky.tgz"] = Route("flaky", body=TGZ, failures=2)
    with caplog.at_level(logging.WARNING, logger="pyngrok.installer"):
        install(ngrok_path, url=https.url("/flaky.tgz"), cafile=ca.ca_file, retries=2)
    assert_installed(ngrok_path)
    assert https.hits["/flaky.tgz"] == 3
    assert [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()][1].endswith("(attempt 2 of 3)")


def test_truncated_body_is_an_error(
    https: ArchiveServer, ca: LoopbackCA, existing: str, bin_dir: str, isolated: str
) -> None:
    https.routes["/short.tgz"] = Route("truncate", body=TGZ + os.urandom(4096))
    with pytest.raises(pyngrok.PyngrokNgrokInstallError, match=r"truncated download: received \d+ of \d+ bytes"):
        install(existing, url=https.url("/short.tgz"), cafile=ca.ca_file)
    assert_untouched(existing)
    assert_no_leftovers(bin_dir, isolated)


def test_stalled_server_times_out(
    https: ArchiveServer, ca: LoopbackCA, existing: str, bin_dir: str, isolated: str
) -> None:
    https.routes["/stall.tgz"] = Route("stall", body=TGZ + os.urandom(65536))
    started = time.monotonic()
    with pytest.raises(pyngrok.PyngrokNgrokInstallError, match="timed out"):
        install(existing, url=https.url("/stall.tgz"), cafile=ca.ca_file, timeout=0.5, retries=1)
    assert time.monotonic() - started < 5
    assert https.hits["/stall.tgz"] == 2  # a timeout is transient: retried once
    assert_untouched(existing)
    assert_no_leftovers(bin_dir, isolated)


def test_download_size_cap(
    https: ArchiveServer, ca: LoopbackCA, existing: str, monkeypatch: pytest.MonkeyPatch, bin_dir: str, isolated: str
) -> None:
    monkeypatch.setattr(pyngrok, "MAX_NGROK_DOWNLOAD_SIZE", 64 * 1024)
    big = TGZ + os.urandom(128 * 1024)
    https.routes["/big.tgz"] = Route(body=big)
    https.routes["/big-no-length.tgz"] = Route("no_length", body=big)
    for path in ("/big.tgz", "/big-no-length.tgz"):
        with pytest.raises(pyngrok.PyngrokSecurityError, match="over the size cap"):
            install(existing, url=https.url(path), cafile=ca.ca_file)
    assert_untouched(existing)
    assert_no_leftovers(bin_dir, isolated)


def test_body_without_content_length(https: ArchiveServer, ca: LoopbackCA, ngrok_path: str) -> None:
    https.routes["/chunky.tgz"] = Route("no_length", body=TGZ)
    install(ngrok_path, url=https.url("/chunky.tgz"), cafile=ca.ca_file)
    assert_installed(ngrok_path)


# --- Checksums ----------------------------------------------------------------------------------------


def test_pinned_checksum_matches(
    https: ArchiveServer, ca: LoopbackCA, ngrok_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(ngrok_path, url=https.url("/ngrok.tgz"), cafile=ca.ca_file, sha256=sha256(TGZ).upper())
    assert_installed(ngrok_path)
    os.unlink(ngrok_path)
    monkeypatch.setenv("PYNGROK_NGROK_SHA256", f"sha256:{sha256(ZIP)}")
    install(ngrok_path, url=https.url("/ngrok.zip"), cafile=ca.ca_file)
    assert_installed(ngrok_path)


def test_pinned_checksum_mismatch(
    https: ArchiveServer, ca: LoopbackCA, existing: str, bin_dir: str, isolated: str
) -> None:
    wrong = sha256(b"something else")
    with pytest.raises(pyngrok.PyngrokSecurityError) as raised:
        install(existing, url=https.url("/ngrok.tgz"), cafile=ca.ca_file, sha256=wrong)
    assert wrong in str(raised.value) and sha256(TGZ) in str(raised.value)
    assert isinstance(raised.value, pyngrok.PyngrokNgrokInstallError)
    assert_untouched(existing)
    assert_no_leftovers(bin_dir, isolated)


def test_malformed_pinned_checksum(ngrok_path: str) -> None:
    with pytest.raises(pyngrok.PyngrokNgrokInstallError, match="64 hex digits"):
        install(ngrok_path, archive="/nonexistent", sha256="abc")


@pytest.mark.parametrize("sidecar", ["sha256", "SHA256SUMS"])
def test_mirror_sidecar_checksums(https: ArchiveServer, ca: LoopbackCA, existing: str, sidecar: str) -> None:
    def publish(digest: str) -> None:
        if sidecar == "sha256":
            https.routes["/m/ngrok.tgz.sha256"] = Route(body=f"{digest}  ngrok.tgz\n".encode())
        else:
            other = sha256(b"other")
            https.routes["/m/SHA256SUMS"] = Route(body=f"{other}  ngrok.zip\n{digest} *ngrok.tgz\n".encode())

    https.routes["/m/ngrok.tgz"] = Route(body=TGZ)
    publish(sha256(b"tampered"))
    with pytest.raises(pyngrok.PyngrokSecurityError, match="SHA-256 mismatch") as raised:
        install(existing, url=https.url("/m/ngrok.tgz"), cafile=ca.ca_file, require_checksum=True)
    assert sha256(b"tampered") in str(raised.value) and sha256(TGZ) in str(raised.value)
    assert_untouched(existing)
    publish(sha256(TGZ))
    install(existing, url=https.url("/m/ngrok.tgz"), cafile=ca.ca_file, require_checksum=True)
    assert_installed(existing)


def test_sidecars_beside_a_local_archive(tmp_path: Any, existing: str) -> None:
    archive = write(tmp_path, "ngrok-v3-stable-linux-amd64.tgz", TGZ)
    write(tmp_path, "SHA256SUMS", f"{sha256(b'x')}  ngrok-v3-stable-linux-amd64.tgz\n".encode())
    with pytest.raises(pyngrok.PyngrokSecurityError, match="mismatch"):
        install(existing, archive=archive)
    assert_untouched(existing)
    write(tmp_path, "ngrok-v3-stable-linux-amd64.tgz.sha256", f"{sha256(TGZ)}\n".encode())
    install(existing, archive=archive, require_checksum=True)
    assert_installed(existing)


def test_unverified_install_warns_with_the_hash(
    https: ArchiveServer, ca: LoopbackCA, ngrok_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="pyngrok.installer"):
        install(ngrok_path, url=https.url("/ngrok.tgz"), cafile=ca.ca_file)
    assert_installed(ngrok_path)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and sha256(TGZ) in warnings[0].getMessage()
    assert warnings[0].name == "pyngrok.installer"


def test_strict_mode_refuses_unverified(
    https: ArchiveServer, ca: LoopbackCA, existing: str, monkeypatch: pytest.MonkeyPatch, bin_dir: str, isolated: str
) -> None:
    with pytest.raises(pyngrok.PyngrokSecurityError, match=f"no SHA-256.*{sha256(TGZ)}"):
        install(existing, url=https.url("/ngrok.tgz"), cafile=ca.ca_file, require_checksum=True)
    monkeypatch.setenv("PYNGROK_REQUIRE_CHECKSUM", "1")
    with pytest.raises(pyngrok.PyngrokSecurityError, match="no SHA-256"):
        install(existing, url=https.url("/ngrok.tgz"), cafile=ca.ca_file)
    assert_untouched(existing)
    assert_no_leftovers(bin_dir, isolated)
    install(existing, url=https.url("/ngrok.tgz"), cafile=ca.ca_file, sha256=sha256(TGZ))
    assert_installed(existing)
    # An argument overrides the environment.
    install(existing, url=https.url("/ngrok.tgz"), cafile=ca.ca_file, require_checksum=False)


# --- Local archives, no network -----------------------------------------------------------------------


@pytest.mark.parametrize("name, data", [("a.tgz", TGZ), ("a.zip", ZIP), ("ngrok-binary", NEW_BINARY)])
def test_install_from_local_file(
    tmp_path: Any, ngrok_path: str, name: str, data: bytes, monkeypatch: pytest.MonkeyPatch, bin_dir: str, isolated: str
) -> None:
    # Any network use would go to this dead proxy and fail.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    archive = write(tmp_path, name, data)
    install(ngrok_path, archive=archive, sha256=sha256(data))
    assert_installed(ngrok_path)
    assert read(archive) == data
    os.unlink(ngrok_path)
    monkeypatch.setenv("PYNGROK_NGROK_ARCHIVE", archive)
    install(ngrok_path)
    assert_installed(ngrok_path)
    assert_no_leftovers(bin_dir, isolated)


def test_ngrok_member_anywhere_in_the_archive(tmp_path: Any, ngrok_path: str) -> None:
    entries = [Entry("dist", kind="dir"), Entry("dist/README.txt", b"hello"), Entry("dist/bin/ngrok", NEW_BINARY)]
    install(ngrok_path, archive=write(tmp_path, "nested.tgz", tgz_bytes(entries)))
    assert_installed(ngrok_path)
    install(ngrok_path, archive=write(tmp_path, "nested.zip", zip_bytes(entries)))
    assert_installed(ngrok_path)


def test_missing_archive_and_both_sources(ngrok_path: str, tmp_path: Any) -> None:
    with pytest.raises(pyngrok.PyngrokNgrokInstallError, match="Cannot read"):
        install(ngrok_path, archive=str(tmp_path / "nope.tgz"))
    with pytest.raises(pyngrok.PyngrokNgrokInstallError, match="not both"):
        install(ngrok_path, archive="a.tgz", url="https://example.invalid/")


def test_unknown_keyword_argument(ngrok_path: str) -> None:
    with pytest.raises(TypeError, match="bogus"):
        install(ngrok_path, bogus=1)


def test_unusable_install_directory(tmp_path: Any) -> None:
    blocker = write(tmp_path, "a-file", b"")
    with pytest.raises(pyngrok.PyngrokNgrokInstallError, match="Cannot install ngrok"):
        install(os.path.join(blocker, "ngrok"), archive=write(tmp_path, "a.tgz", TGZ))


def test_zip_with_a_repeated_name_is_refused(tmp_path: Any, existing: str) -> None:
    data = zip_bytes([GOOD, Entry("ngrok", b"#!/bin/sh\necho second\n")])
    with pytest.raises(pyngrok.PyngrokSecurityError, match="two ngrok members"):
        install(existing, archive=write(tmp_path, "dup.zip", data))
    assert_untouched(existing)


def test_installs_into_a_new_directory(tmp_path: Any) -> None:
    target = str(tmp_path / "deep" / "er" / "ngrok")
    install(target, archive=write(tmp_path, "a.tgz", TGZ))
    assert_installed(target)


# --- Malicious and broken archives --------------------------------------------------------------------

GOOD = Entry("ngrok", NEW_BINARY)
MALICIOUS = {
    "tgz traversal": tgz_bytes([GOOD, Entry("../evil", b"x")]),
    "zip traversal": zip_bytes([GOOD, Entry("../evil", b"x")]),
    "zip windows traversal": zip_bytes([GOOD, Entry("..\\evil", b"x")]),
    "tgz absolute path": tgz_bytes([GOOD, Entry("/tmp/pyngrok-test-evil", b"x")]),
    "zip absolute path": zip_bytes([GOOD, Entry("/tmp/pyngrok-test-evil", b"x")]),
    "zip drive path": zip_bytes([GOOD, Entry("C:/evil", b"x")]),
    "tgz symlink": tgz_bytes([Entry("ngrok", kind="symlink", target="/bin/sh")]),
    "tgz symlink beside": tgz_bytes([GOOD, Entry("link", kind="symlink", target="/etc")]),
    "zip symlink": zip_bytes([Entry("ngrok", kind="symlink", target="/bin/sh")]),
    "tgz hardlink": tgz_bytes([Entry("ngrok", kind="hardlink", target="/bin/sh")]),
    "tgz device": tgz_bytes([GOOD, Entry("null", kind="device")]),
    "tgz fifo": tgz_bytes([Entry("ngrok", kind="fifo")]),
    "zip device": zip_bytes([GOOD, Entry("null", kind="device")]),
    "tgz bomb": tgz_with_declared_size("ngrok", 600 * 1024 * 1024),
    "zip bomb": zip_with_declared_size("ngrok", NEW_BINARY, 600 * 1024 * 1024),
    "two ngrok members": tgz_bytes([GOOD, Entry("other/ngrok", NEW_BINARY)]),
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_archives_are_refused(case: str, tmp_path: Any, existing: str, bin_dir: str, isolated: str) -> None:
    archive = write(tmp_path, "evil.archive", MALICIOUS[case])
    with pytest.raises(pyngrok.PyngrokSecurityError, match="Refusing"):
        install(existing, archive=archive)
    assert_untouched(existing)
    assert_no_leftovers(bin_dir, isolated)
    assert not os.path.exists(os.path.join(os.path.dirname(bin_dir), "evil"))
    assert not os.path.exists("/tmp/pyngrok-test-evil")


def test_bomb_under_a_lower_cap(tmp_path: Any, existing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real compressed zeros, over the cap once unpacked (cap lowered so the test stays small)."""
    monkeypatch.setattr(pyngrok, "MAX_NGROK_BINARY_SIZE", 1024 * 1024)
    zeros = NEW_BINARY + bytes(2 * 1024 * 1024)
    for name, data in (("b.tgz", tgz_bytes([Entry("ngrok", zeros)])), ("b.zip", zip_bytes([Entry("ngrok", zeros)]))):
        assert len(data) < 64 * 1024
        with pytest.raises(pyngrok.PyngrokSecurityError, match="size cap"):
            install(existing, archive=write(tmp_path, name, data))
    with pytest.raises(pyngrok.PyngrokSecurityError, match="unpacks to over"):
        install(existing, archive=write(tmp_path, "bare", zeros))
    assert_untouched(existing)


@pytest.mark.parametrize(
    "data, message",
    [
        (tgz_bytes([Entry("README", b"no agent here")]), "no ngrok or ngrok.exe member"),
        (zip_bytes([Entry("ngrok", kind="dir")]), "no ngrok or ngrok.exe member"),
        (TGZ[: len(TGZ) // 2], "not a valid ngrok archive"),
        (ZIP[:-30], "not a valid ngrok archive"),
        (TGZ[:40] + bytes(b ^ 0x5A for b in TGZ[40:80]) + TGZ[80:], "not a valid ngrok archive|Cannot extract"),
        (os.urandom(4096), "does not run|failed `ngrok version`"),
        (tgz_bytes([Entry("ngrok", fake_ngrok(exit_code=3))]), r"failed `ngrok version` \(exit 3\)"),
        (tgz_bytes([Entry("ngrok", b"#!/bin/sh\necho hello\n")]), "failed `ngrok version`"),
    ],
    ids=[
        "no member",
        "only a directory",
        "truncated tgz",
        "truncated zip",
        "corrupt tgz",
        "garbage",
        "exits 3",
        "no version",
    ],
)
def test_broken_archives_fail_cleanly(
    data: bytes, message: str, tmp_path: Any, existing: str, bin_dir: str, isolated: str
) -> None:
    with pytest.raises(pyngrok.PyngrokNgrokInstallError, match=message):
        install(existing, archive=write(tmp_path, "broken", data))
    assert_untouched(existing)
    assert_no_leftovers(bin_dir, isolated)


def test_binary_that_hangs_on_version(tmp_path: Any, existing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pyngrok, "_VERSION_CHECK_TIMEOUT", 0.5)
    hang = b"#!/bin/sh\nexec sleep 30\n"
    with pytest.raises(pyngrok.PyngrokNgrokInstallError, match="did not answer"):
        install(existing, archive=write(tmp_path, "hang.tgz", tgz_bytes([Entry("ngrok", hang)])))
    assert_untouched(existing)


# --- Proxies ------------------------------------------------------------------------------------------


@pytest.fixture
def proxy() -> Iterator[TinyProxy]:
    server = TinyProxy()
    yield server
    server.close()


def test_https_through_a_connect_proxy(
    https: ArchiveServer, ca: LoopbackCA, proxy: TinyProxy, ngrok_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    install(ngrok_path, url=https.url("/ngrok.tgz"), cafile=ca.ca_file, sha256=sha256(TGZ))
    assert_installed(ngrok_path)
    assert [r.rsplit(" ", 1)[0] for r in proxy.requests] == [f"CONNECT 127.0.0.1:{https.port}"]


def test_http_through_a_forward_proxy(
    http: ArchiveServer, proxy: TinyProxy, ngrok_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", proxy.url)
    install(ngrok_path, url=http.url("/ngrok.tgz"), allow_http=True)
    assert_installed(ngrok_path)
    # The archive, then the mirror's checksum sidecars it looked for (there are none).
    expected = [f"GET {http.url(p)}" for p in ("/ngrok.tgz", "/ngrok.tgz.sha256", "/SHA256SUMS")]
    assert [r.rsplit(" ", 1)[0] for r in proxy.requests] == expected


# --- Concurrency --------------------------------------------------------------------------------------

CONCURRENT_INSTALL = """
import contextlib, os, sys, time
import pyngrok
ngrok_path, archive, ready, go, events, mode = sys.argv[1:7]

def record(what):
    with open(events, "a") as log:  # appends of one short line each land whole
        log.write(what + " " + str(os.getpid()) + "\\n")

def unlocked(path):
    record("unlocked")
    return contextlib.nullcontext()

def recorded(place_binary):
    def place(*args, **kwargs):
        record("enter")
        try:
            return place_binary(*args, **kwargs)
        finally:
            record("leave")
    return place

# Each name is read before it is replaced, so that a renamed one fails here, loudly (AttributeError).
if mode == "no-lock":
    assert callable(pyngrok._path_lock)
    pyngrok._path_lock = unlocked
pyngrok._place_binary = recorded(pyngrok._place_binary)
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.002)
pyngrok._install_ngrok_binary(ngrok_path, archive=archive, quiet=True)
"""


def finish(process: subprocess.Popen[bytes]) -> Tuple[int, str]:
    _out, err = process.communicate(timeout=60)
    return process.returncode, err.decode() if err else ""


def subprocess_env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in INSTALLER_ENV and k.lower() not in PROXY_ENV}
    env["PYTHONPATH"] = REPO_ROOT
    env.update(extra)
    return env


@pytest.mark.parametrize("mode", ["lock", "no-lock"])
def test_four_processes_installing_at_once(
    mode: str, tmp_path: Any, existing: str, bin_dir: str, isolated: str
) -> None:
    """Four installers race, with the lock and with only atomic renames; a reader runs the binary all along.

    With the lock, the placing of the binaries never overlaps; without it, each binary is still whole.
    """
    versions = [f"3.99.{n}" for n in range(4)]
    padding = os.urandom(3 * 1024 * 1024)  # big enough that the writes overlap
    archives = [
        write(tmp_path, f"{v}.tgz", tgz_bytes([Entry("ngrok", fake_ngrok(v, padding=padding))])) for v in versions
    ]
    go, events = str(tmp_path / "go"), str(tmp_path / "events")
    ready = [str(tmp_path / f"ready-{n}") for n in range(len(archives))]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_INSTALL, existing, archive, ready_file, go, events, mode],
            env=subprocess_env(TMPDIR=isolated),
            stderr=subprocess.PIPE,
        )
        for archive, ready_file in zip(archives, ready)
    ]
    failures: List[str] = []
    stop = threading.Event()

    def keep_running_the_binary() -> None:
        while not stop.is_set():
            result = subprocess.run(
                [existing, "version"], check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            if result.returncode != 0 or not result.stdout.startswith(b"ngrok version 3."):
                failures.append(result.stdout.decode(errors="replace"))

    reader = threading.Thread(target=keep_running_the_binary)
    reader.start()
    try:
        everyone_ready = wait_for(
            lambda: all(map(os.path.exists, ready)) or any(p.poll() is not None for p in processes), 30
        )
        open(go, "w").close()
        results = [finish(p) for p in processes]
    finally:
        stop.set()
        reader.join()
    assert [code for code, _ in results] == [0, 0, 0, 0] and everyone_ready, results
    assert failures == []
    output = subprocess.run([existing, "version"], stdout=subprocess.PIPE, check=True).stdout.decode().strip()
    assert output in {f"ngrok version {v}" for v in versions}
    assert read(existing) == fake_ngrok(output.split()[-1], padding=padding)
    assert_no_leftovers(bin_dir, isolated)
    steps = [line.split()[0] for line in read(events).decode().splitlines()]
    if mode == "lock":
        assert steps == ["enter", "leave"] * 4  # one at a time
    else:
        assert sorted(steps) == ["enter"] * 4 + ["leave"] * 4 + ["unlocked"] * 4


# --- Progress output ----------------------------------------------------------------------------------

PROGRESS_INSTALL = """
import sys, pyngrok
pyngrok._install_ngrok_binary(sys.argv[1], url=sys.argv[2], cafile=sys.argv[3], sha256=sys.argv[4])
"""


def run_install_process(
    https: ArchiveServer, ca: LoopbackCA, ngrok_path: str, tty: bool, kind: str = "slow", **env: str
) -> Dict[str, bytes]:
    """An install in a child process, from a 2 MiB download that comes in ten pieces 60 ms apart (``slow``, for
    a bar that moves) or as fast as it can (``file``: a bar is still drawn at once, and the summary at the end)."""
    body = TGZ + os.urandom(2 * 1024 * 1024)  # trailing bytes after the gzip stream are ignored by tarfile
    https.routes["/archive.tgz"] = Route(kind, body=body)
    command = [sys.executable, "-c", PROGRESS_INSTALL, ngrok_path, https.url("/archive.tgz"), ca.ca_file, sha256(body)]
    if not tty:
        result = subprocess.run(command, check=False, env=subprocess_env(**env), capture_output=True)
        assert result.returncode == 0, result.stderr
        return {"stdout": result.stdout, "stderr": result.stderr}
    master, slave = pty.openpty()
    process = subprocess.Popen(command, env=subprocess_env(**env), stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    stderr = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        stderr += chunk
    os.close(master)
    stdout, _err = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    return {"stdout": stdout, "stderr": stderr}


def test_progress_bar_on_a_tty(https: ArchiveServer, ca: LoopbackCA, ngrok_path: str) -> None:
    output = run_install_process(https, ca, ngrok_path, tty=True)
    assert output["stdout"] == b""
    stderr = output["stderr"].decode()
    bars = [part for part in stderr.replace("\n", "\r").split("\r") if part.startswith("Downloading ngrok [")]
    assert len(bars) >= 3, stderr  # intermediate updates, not only the final one
    assert bars[-1].split("]")[1].strip().startswith("100%") and "MiB/s" in bars[-1]
    assert f"Installed ngrok version {NEW_VERSION} to {ngrok_path}" in stderr
    assert_installed(ngrok_path)


def test_plain_lines_off_a_tty(https: ArchiveServer, ca: LoopbackCA, ngrok_path: str) -> None:
    output = run_install_process(https, ca, ngrok_path, tty=False, kind="file")
    assert output["stdout"] == b""
    lines = output["stderr"].decode().splitlines()
    assert "\r" not in output["stderr"].decode()
    assert lines[0].startswith(f"Downloading ngrok from {https.url('/archive.tgz')} (")
    assert lines[1].startswith("Downloaded ngrok: ") and lines[1].endswith("MiB/s)")
    assert lines[2] == f"Installed ngrok version {NEW_VERSION} to {ngrok_path}"
    assert len(lines) == 3


def test_quiet_env_silences_progress(https: ArchiveServer, ca: LoopbackCA, ngrok_path: str) -> None:
    for tty in (True, False):
        output = run_install_process(https, ca, ngrok_path, tty=tty, kind="file", PYNGROK_QUIET="1")
        assert output == {"stdout": b"", "stderr": b""}


def test_progress_is_logged(
    https: ArchiveServer, ca: LoopbackCA, ngrok_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    https.routes["/big.tgz"] = Route(body=TGZ + os.urandom(1024 * 1024))
    with caplog.at_level(logging.DEBUG, logger="pyngrok.installer"):
        install(ngrok_path, url=https.url("/big.tgz"), cafile=ca.ca_file)
    messages = [r.getMessage() for r in caplog.records if r.name == "pyngrok.installer"]
    assert any(m.startswith("Downloading ngrok from") for m in messages)
    assert [m for m in messages if m.startswith("Downloaded ") and m.endswith("% of ngrok")] == [
        f"Downloaded {p}% of ngrok" for p in (25, 50, 75, 100)
    ]
    assert any(m.startswith(f"Installed ngrok version {NEW_VERSION}") for m in messages)


# --- CLI ----------------------------------------------------------------------------------------------


def test_cli_installs_from_an_archive(tmp_path: Any, ngrok_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    archive = write(tmp_path, "a.tgz", TGZ)
    args = ["install", "--archive", archive, "--sha256", sha256(TGZ), "--path", ngrok_path, "--ngrok-version", "v3"]
    code = pyngrok._installer_cli(args)
    assert code == 0
    assert_installed(ngrok_path)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"SHA-256 {sha256(TGZ)} (verified against the pinned SHA-256)" in captured.err


def test_cli_errors(tmp_path: Any, existing: str, capsys: pytest.CaptureFixture[str]) -> None:
    archive = write(tmp_path, "a.tgz", TGZ)
    assert pyngrok._installer_cli(["--archive", archive, "--sha256", sha256(b"x"), "--path", existing]) == 1
    assert "SHA-256 mismatch" in capsys.readouterr().err
    assert_untouched(existing)
    assert pyngrok._installer_cli(["--archive", archive, "--url", "https://x/", "--path", existing]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert pyngrok._installer_cli(["--url", "http://127.0.0.1:9/ngrok.tgz", "--path", existing]) == 1
    assert "only https" in capsys.readouterr().err


def test_cli_in_a_subprocess_uses_pyngrok_ngrok_path(https: ArchiveServer, ca: LoopbackCA, ngrok_path: str) -> None:
    script = "import sys, pyngrok; sys.exit(pyngrok._installer_cli(sys.argv[1:]))"
    command = [sys.executable, "-c", script, "install", "--url", https.url("/ngrok.zip"), "--ca-bundle", ca.ca_file]
    result = subprocess.run(
        [*command, "--quiet", "--require-checksum"],
        check=False,
        env=subprocess_env(PYNGROK_NGROK_PATH=ngrok_path),
        capture_output=True,
    )
    assert result.returncode == 1 and b"no SHA-256" in result.stderr
    result = subprocess.run(
        [*command, "--sha256", sha256(ZIP)],
        check=False,
        env=subprocess_env(PYNGROK_NGROK_PATH=ngrok_path),
        capture_output=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    assert_installed(ngrok_path)


# --- Agent too old ------------------------------------------------------------------------------------


def test_outdated_agent_advice() -> None:
    assert "update" in str(pyngrok._outdated_agent_advice("ERR_NGROK_121: version too old"))
    assert "reinstall" in str(pyngrok._outdated_agent_advice("failed: ERR_NGROK_120"))
    assert pyngrok._outdated_agent_advice("ERR_NGROK_108 limited sessions") is None
    assert pyngrok._outdated_agent_advice(None) is None
