"""The local Braze emulator: a Braze REST instance on loopback, for tests, demos and users' CI.

    from reverse_etl.emulator import EmulatorConfig, start_emulator

    with start_emulator(EmulatorConfig(api_key="k", rate_limit_requests=None)) as emulator:
        emulator.url          # http://127.0.0.1:<port>

Modules: ``values`` (Braze's value rules, pure), ``track`` (/users/track), ``others`` (export, delete, alias,
identify, merge, subscription status), ``store`` (profiles), ``server`` (HTTP: auth, limits, faults,
introspection under /_emulator/), ``cli`` (``rsync-braze emulator``). See docs/emulator.md.
"""

from __future__ import annotations

import multiprocessing
import socket
import threading
import time
from dataclasses import replace

from .config import EmulatorConfig
from .server import make_server

__all__ = ["EmulatorConfig", "EmulatorHandle", "start_emulator"]


class EmulatorHandle:
    """A running emulator: ``url``, ``stop()``; also a context manager."""

    def __init__(self, url: str, stop):
        self.url = url
        self._stop = stop

    def stop(self) -> None:
        if self._stop:
            self._stop()
            self._stop = None

    def __enter__(self) -> EmulatorHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def serve(config: EmulatorConfig, ready, stop_event) -> None:
    """Run the emulator until ``stop_event`` is set, saving state (when a state file is set) every second."""
    server, emulator = make_server(config)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    ready.set()
    try:
        while not stop_event.wait(1.0):
            with emulator.store.lock:
                emulator.store.save()
    finally:
        server.shutdown()
        server.server_close()
        with emulator.store.lock:
            emulator.store.save()


def start_emulator(config: EmulatorConfig, mode: str = "thread") -> EmulatorHandle:
    """Start in a background thread (``thread``) or process (``process``); returns once it accepts requests."""
    port = config.port or _free_port(config.host)
    config = replace(config, port=port)
    url = f"http://{config.host}:{port}"
    if mode == "thread":
        stop_event, ready = threading.Event(), threading.Event()
        thread = threading.Thread(target=serve, args=(config, ready, stop_event), daemon=True)
        thread.start()
        ready.wait(10)

        def stop() -> None:
            stop_event.set()
            thread.join(10)
    elif mode == "process":
        ctx = multiprocessing.get_context("spawn")
        stop_event, ready = ctx.Event(), ctx.Event()
        proc = ctx.Process(target=serve, args=(config, ready, stop_event), daemon=True)
        proc.start()
        ready.wait(30)

        def stop() -> None:
            stop_event.set()
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
    else:
        raise ValueError("mode is 'thread' or 'process'")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((config.host, port), timeout=1):
                break
        except OSError:
            time.sleep(0.02)
    return EmulatorHandle(url, stop)
