"""A real SFTP server on loopback (asyncssh), for the tests and the demo: never expose it beyond 127.0.0.1.

It serves one folder (chrooted), accepts one user by password and/or by key, and writes a ``known_hosts``
file with its host key, so clients connect with host key checking on, as in production.

    with LocalSftpServer(root, username="etl", password="pw", authorized_key=pub_key_path) as server:
        server.port, server.known_hosts
"""

from __future__ import annotations

import asyncio
import hmac
import threading
from pathlib import Path


class LocalSftpServer:
    """Start an SFTP server in a background event-loop thread; stop it on exit."""

    def __init__(self, root: Path, *, username: str, password: str | None = None,
                 authorized_key: Path | None = None, home: Path | None = None, port: int = 0):
        self.root, self.username, self.password = Path(root), username, password
        self.authorized_key = authorized_key
        self.home = Path(home or self.root.parent / f".{self.root.name}-sshd")
        self.known_hosts = self.home / "known_hosts"
        self.port = port
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sftp-server", daemon=True)
        self.server = None

    def __enter__(self) -> LocalSftpServer:
        import asyncssh

        self.home.mkdir(parents=True, exist_ok=True)
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        outer = self

        class _Server(asyncssh.SSHServer):
            def begin_auth(self, username: str) -> bool:
                return True  # every user authenticates (unknown users then fail)

            def password_auth_supported(self) -> bool:
                return outer.password is not None

            def validate_password(self, username: str, password: str) -> bool:
                return username == outer.username and hmac.compare_digest(password, outer.password or "")

            def public_key_auth_supported(self) -> bool:
                return outer.authorized_key is not None

            def validate_public_key(self, username: str, key) -> bool:
                if username != outer.username or outer.authorized_key is None:
                    return False
                allowed = asyncssh.read_public_key(str(outer.authorized_key))
                return key.public_data == allowed.public_data

        def sftp_factory(chan):
            return asyncssh.SFTPServer(chan, chroot=str(self.root).encode())

        async def start():
            return await asyncssh.listen("127.0.0.1", self.port, server_host_keys=[host_key],
                                         server_factory=_Server, sftp_factory=sftp_factory, allow_scp=False)

        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(30)
        self.port = self.server.get_port()
        public = host_key.export_public_key().decode().strip()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {public}\n")
        return self

    def __exit__(self, *exc) -> None:
        async def stop():
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
