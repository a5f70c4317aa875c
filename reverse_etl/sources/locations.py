"""Where files come from: a local folder or an SFTP server, behind one small interface.

``list()`` gives the regular files of the folder (name, size, mtime); ``open(entry)`` a binary stream read in
1 MiB chunks. SFTP goes through asyncssh, driven from a private event-loop thread so the loader stays plain
synchronous code streaming into COPY. Host keys are checked against ``known_hosts`` unless the source turns
it off; passwords and passphrases are read from the environment variables the manifest names.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import RsyncBrazeError
from .config import FileSourceConfig, SftpConfig, read_env


class SourceError(RsyncBrazeError):
    """A source could not be read: server unreachable, authentication or host key refused, folder missing."""

    exit_code = 4


@dataclass(frozen=True)
class FileEntry:
    name: str
    path: str  # as recorded in the ledger: the folder-relative name for local files, sftp://host/dir/name remote
    size: int
    mtime: float | None


class LocalFolder:
    """Files of a local folder (not recursive)."""

    def __init__(self, source: FileSourceConfig, project_dir: Path):
        self.folder = (project_dir / os.path.expanduser(source.directory or ".")).resolve()
        self.source = source

    def __enter__(self) -> LocalFolder:
        if not self.folder.is_dir():
            raise SourceError(f"Source {self.source.name!r}: folder {self.folder} does not exist: create it or fix "
                              f"`directory` in sources.{self.source.name}.")
        return self

    def __exit__(self, *exc) -> None:
        return None

    def list(self) -> list[FileEntry]:
        out = []
        for entry in os.scandir(self.folder):
            if entry.is_file(follow_symlinks=True):
                st = entry.stat()
                out.append(FileEntry(entry.name, entry.name, st.st_size, st.st_mtime))
        return out

    def open(self, entry: FileEntry) -> BinaryIO:
        return open(self.folder / entry.name, "rb", buffering=0)


class _SyncRemoteFile:
    """A blocking ``read(n)`` over an asyncssh SFTP file, run on the location's loop."""

    def __init__(self, location: SftpFolder, handle):
        self.location, self.handle = location, handle

    def read(self, size: int = -1) -> bytes:
        return self.location.run(self.handle.read(size if size and size > 0 else 1 << 20))

    def close(self) -> None:
        self.location.run(self.handle.close())

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SftpFolder:
    """Files of a folder on an SFTP server."""

    def __init__(self, source: FileSourceConfig):
        self.source = source
        self.cfg: SftpConfig = source.sftp  # type: ignore[assignment]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=f"sftp-{source.name}", daemon=True)
        self.conn = self.sftp = None

    def run(self, awaitable, timeout: float | None = None):
        """Await ``awaitable`` on the location's loop from this (synchronous) thread."""
        async def wait():
            return await awaitable  # asyncssh.connect returns an awaitable wrapper, not a coroutine

        return asyncio.run_coroutine_threadsafe(wait(), self.loop).result(timeout)

    def _options(self) -> dict:
        cfg, who = self.cfg, f"Source {self.source.name!r}"
        options: dict = {"username": cfg.username, "port": cfg.port, "connect_timeout": cfg.timeout,
                         "agent_path": None, "client_keys": None, "password": None}
        if cfg.password_env:
            options["password"] = read_env(cfg.password_env, who, "the SFTP password")
        if cfg.private_key:
            key = Path(os.path.expanduser(cfg.private_key))
            if not key.is_file():
                raise SourceError(f"{who}: private key {key} does not exist: fix `sftp.private_key`.")
            options["client_keys"] = [str(key)]
            if cfg.private_key_passphrase_env:
                options["passphrase"] = read_env(cfg.private_key_passphrase_env, who, "the key's passphrase")
        if cfg.check_host_key:
            known = Path(os.path.expanduser(cfg.known_hosts))
            if not known.is_file():
                raise SourceError(f"{who}: known_hosts file {known} does not exist: add the server's key with "
                                  f"`ssh-keyscan -p {cfg.port} {cfg.host} >> {known}` (after checking it).")
            options["known_hosts"] = str(known)
        else:
            options["known_hosts"] = None  # explicitly turned off in the manifest
        return options

    def __enter__(self) -> SftpFolder:
        import asyncssh

        options = self._options()
        self.thread.start()
        where = f"sftp://{self.cfg.host}:{self.cfg.port}"
        try:
            self.conn = self.run(asyncssh.connect(self.cfg.host, **options), timeout=self.cfg.timeout + 5)
            self.sftp = self.run(self.conn.start_sftp_client(), timeout=self.cfg.timeout)
        except asyncssh.HostKeyNotVerifiable:
            self._stop()
            raise SourceError(f"Source {self.source.name!r}: the host key of {where} is not in "
                              f"{self.cfg.known_hosts} (or does not match it): refusing to connect.") from None
        except asyncssh.PermissionDenied:
            self._stop()
            raise SourceError(f"Source {self.source.name!r}: {where} refused the login of "
                              f"{self.cfg.username!r}: check the password or key.") from None
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            self._stop()
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise SourceError(f"Source {self.source.name!r}: cannot connect to {where}: {reason}.") from None
        return self

    def _stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.run(self.conn.wait_closed(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def __exit__(self, *exc) -> None:
        self._stop()

    def _remote(self, name: str) -> str:
        return posixpath.normpath(f"{self.cfg.directory}/{name}")

    def list(self) -> list[FileEntry]:
        import asyncssh

        try:
            names = self.run(self.sftp.readdir(self.cfg.directory))
        except asyncssh.SFTPError as exc:
            raise SourceError(f"Source {self.source.name!r}: cannot list {self.cfg.directory!r} on "
                              f"{self.cfg.host}: {exc.reason}.") from None
        out = []
        for item in names:
            attrs = item.attrs
            if attrs.permissions is not None and not stat.S_ISREG(attrs.permissions):
                continue
            out.append(FileEntry(item.filename, f"sftp://{self.cfg.host}/{self._remote(item.filename).lstrip('/')}",
                                 attrs.size or 0, float(attrs.mtime) if attrs.mtime is not None else None))
        return out

    def open(self, entry: FileEntry) -> _SyncRemoteFile:
        return _SyncRemoteFile(self, self.run(self.sftp.open(self._remote(entry.name), "rb")))


def location(source: FileSourceConfig, project_dir: Path) -> LocalFolder | SftpFolder:
    """The folder a files source reads (use it as a context manager)."""
    return SftpFolder(source) if source.sftp is not None else LocalFolder(source, project_dir)
