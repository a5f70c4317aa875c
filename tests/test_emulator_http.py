"""The emulator's HTTP behaviour over real sockets on 127.0.0.1: malformed input, keep-alive and pipelining,
chunked and oversized bodies, concurrency, delayed answers, process mode, documented examples, the CLI's errors.

Sections of shared/reference/braze-api.md in brackets.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from reverse_etl.emulator import EmulatorConfig, start_emulator

KEY = "http-key-5c2e"
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def emu():
    with start_emulator(EmulatorConfig(api_key=KEY, rate_limit_requests=None)) as handle:
        yield handle


@pytest.fixture(autouse=True)
def clean(emu):
    emu.reset()


def track(emu, body, headers=AUTH, timeout=10):
    return requests.post(f"{emu.url}/users/track", data=json.dumps(body), headers=headers, timeout=timeout)


def raw(emu, data: bytes, timeout: float = 5.0) -> bytes:
    """Send bytes on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", emu.port), timeout=timeout) as sock:
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


def request(body: bytes, close: bool = False, path: str = "/users/track") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n"
            ).encode() + body


def counters(emu):
    return requests.get(f"{emu.url}/_emulator/counters", timeout=5).json()


# ------------------------------------------------------------------------------------------ malformed input
def test_malformed_http_gets_400_and_the_server_keeps_serving(emu):
    assert raw(emu, b"THIS IS NOT HTTP\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(emu, b"POST /users/track HTTP/1.1\r\nContent-Length: nope\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert track(emu, {"attributes": [{"external_id": "ok", "n": 1}]}).status_code == 201


@pytest.mark.parametrize("body", [b"", b"{", b"[1,]", b'{"attributes": [NaN]}', b"\xff\xfe", b'{"a": 1e999}'])
def test_bodies_that_are_not_json_get_400(emu, body):
    r = requests.post(f"{emu.url}/users/track", data=body, headers=AUTH, timeout=5)
    assert r.status_code == 400 and r.json()["message"]


@pytest.mark.parametrize("body", [{"attributes": "x"}, {"attributes": None}, {"events": {}}, 42, "text", None])
def test_wrong_types_get_400(emu, body):
    assert track(emu, body).status_code == 400


def test_items_of_the_wrong_type_are_reported_one_by_one(emu):
    r = track(emu, {"attributes": ["x", 1, None, {"external_id": "fine", "n": 1}]})
    assert r.status_code == 201 and [e["index"] for e in r.json()["errors"]] == [0, 1, 2]


def test_unknown_paths_and_methods_are_404(emu):
    for method, path in [("POST", "/users/trak"), ("GET", "/users/track"), ("PUT", "/users/track"),
                         ("POST", "/users/track/"), ("DELETE", "/"), ("GET", "/_emulator/nothing")]:
        assert requests.request(method, f"{emu.url}{path}", headers=AUTH, data=b"{}", timeout=5).status_code == 404


def test_partner_key_is_accepted_and_ignored(emu):
    r = track(emu, {"partner": "rsync-braze", "attributes": [{"external_id": "p", "n": 1}]})
    assert r.status_code == 201 and r.json() == {"message": "success", "attributes_processed": 1}  # [1.1, 2.1]


# -------------------------------------------------------------------------------------------------- sizes [1.2]
def test_oversized_bodies_get_413_whatever_the_framing(emu):
    big = b'{"attributes": [' + b",".join([b'{"external_id": "x", "s": "' + b"y" * 200 + b'"}'] * 20_000) + b"]}"
    assert len(big) > 4 * 1024 * 1024
    assert raw(emu, request(big)).startswith(b"HTTP/1.1 413")

    def chunks():
        for i in range(0, len(big), 65536):
            yield big[i:i + 65536]
    r = requests.post(f"{emu.url}/users/track", data=chunks(), headers=AUTH, timeout=20)
    assert r.status_code == 413, "chunked bodies are capped too"
    small = json.dumps({"attributes": [{"external_id": "chunked", "n": 1}]}).encode()
    r = requests.post(f"{emu.url}/users/track", data=iter([small[:10], small[10:]]), headers=AUTH, timeout=5)
    assert r.status_code == 201, "a small chunked body is fine"


def test_just_under_four_megabytes_is_accepted(emu):
    body = {"attributes": [{"external_id": f"u{i}", "s": "x" * 255, "t": "y" * 255} for i in range(75)]}
    body["pad"] = "z" * (4 * 1024 * 1024 - len(json.dumps(body)) - 20)
    data = json.dumps(body).encode()
    assert 4 * 1024 * 1024 - 100 < len(data) <= 4 * 1024 * 1024
    assert requests.post(f"{emu.url}/users/track", data=data, headers=AUTH, timeout=10).status_code == 201


# ------------------------------------------------------------------------------------ connections and order
def test_keep_alive_and_pipelined_requests_are_answered_in_order(emu):
    bodies = [json.dumps({"attributes": [{"external_id": f"pipe{i}", "n": i}]}).encode() for i in range(5)]
    bodies[2] = b"{not json"
    data = b"".join(request(b) for b in bodies[:-1]) + request(bodies[-1], close=True)
    out = raw(emu, data)
    statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", out)]
    assert statuses == [201, 201, 400, 201, 201]


def test_connections_are_released(emu):
    for _ in range(20):
        with requests.Session() as s:
            s.post(f"{emu.url}/users/track", json={"attributes": [{"external_id": "c", "n": 1}]}, headers=AUTH,
                   timeout=5)
    deadline = time.monotonic() + 5
    while counters(emu)["open_connections"] > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counters(emu)["open_connections"] <= 1  # only the counters request's own connection


def test_concurrent_writers_leave_consistent_state(emu):
    def worker():
        with requests.Session() as s:
            for _ in range(25):
                r = s.post(f"{emu.url}/users/track", json={"attributes": [{"external_id": "shared",
                                                                              "hits": {"inc": 1}}]},
                           headers=AUTH, timeout=10)
                assert r.status_code == 201
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    p = requests.get(f"{emu.url}/_emulator/profiles/shared", timeout=5).json()
    assert p["custom_attributes"]["hits"] == 200, "no increment lost"
    assert counters(emu)["requests"] == 200


def test_latency_delays_one_answer_without_blocking_others(emu):
    requests.post(f"{emu.url}/_emulator/faults", json={"latency_ms": 600}, timeout=5)
    result = {}

    def slow():
        started = time.monotonic()
        result["status"] = track(emu, {"attributes": [{"external_id": "slow", "n": 1}]}).status_code
        result["took"] = time.monotonic() - started
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.1)
    started = time.monotonic()
    assert requests.get(f"{emu.url}/_emulator/profiles/slow", timeout=5).status_code == 200, "applied before delay"
    assert time.monotonic() - started < 0.3, "introspection is not stuck behind the delayed answer"
    t.join()
    assert result["status"] == 201 and result["took"] >= 0.6


def test_a_hung_request_is_released_when_the_client_gives_up(emu):
    requests.post(f"{emu.url}/_emulator/faults", json={"hang_rate": 1.0, "hang_seconds": 60}, timeout=5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        track(emu, {"attributes": [{"external_id": "h", "n": 1}]}, timeout=0.3)
    requests.post(f"{emu.url}/_emulator/faults", json={}, timeout=5)
    deadline = time.monotonic() + 5
    while counters(emu)["open_connections"] > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counters(emu)["open_connections"] <= 1
    assert requests.get(f"{emu.url}/_emulator/profiles/h", timeout=5).status_code == 404, "a hang applies nothing"


# ------------------------------------------------------------------------------------- accounting, examples
def test_data_points_per_request_and_recent_requests(emu):
    r = track(emu, {"attributes": [{"external_id": "d", "a": 1, "b": 2}],
                    "events": [{"external_id": "d", "name": "e", "time": "2026-01-01T00:00:00Z"}]})
    assert r.headers["X-Emulator-Data-Points"] == "3"
    (last,) = requests.get(f"{emu.url}/_emulator/requests", timeout=5).json()["requests"]
    assert (last["endpoint"], last["status"], last["objects"], last["data_points"]) == ("/users/track", 201, 2, 3)
    c = counters(emu)
    assert (c["data_points"], c["attributes_processed"], c["events_processed"], c["profiles"]) == (3, 1, 1, 1)


def test_documented_partial_error_example(emu):
    # go-braze's users_test.go: the second object lacks an identifier; served 201 with one error [2.1].
    r = track(emu, {"attributes": [{"external_id": "user1", "first_name": "Jon"}, {"first_name": "No Id"}]})
    assert r.status_code == 201
    assert r.json() == {"message": "success", "attributes_processed": 1, "errors": [
        {"type": "'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required",
         "input_array": "attributes", "index": 1}]}


def test_401_and_429_bodies(emu):
    r = track(emu, {"attributes": [{"external_id": "a"}]}, {**AUTH, "Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json() == {"message": "Invalid API Key"}  # [2.2]
    requests.post(f"{emu.url}/_emulator/faults", json={"rate_limit_burst": 1}, timeout=5)
    r = track(emu, {"attributes": [{"external_id": "a"}]})
    assert r.status_code == 429 and r.json() == {"message": "Rate Limited"}
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"} <= set(r.headers)


def test_export_has_its_own_lower_rate_limit_and_reads_back_by_every_identifier():
    cfg = EmulatorConfig(api_key=KEY, rate_limit_requests=None, export_rate_requests=3, export_rate_period=60)
    with start_emulator(cfg) as emu:
        track(emu, {"attributes": [{"external_id": "x", "email": "x@example.org", "phone": "+33611111111", "n": 1},
                                   {"user_alias": {"alias_name": "a1", "alias_label": "crm"},
                                    "_update_existing_only": False, "n": 2}]})

        def export(body):
            return requests.post(f"{emu.url}/users/export/ids", json={**body, "fields_to_export": [
                "external_id", "custom_attributes", "user_aliases"]}, headers=AUTH, timeout=5)
        by_email = export({"email_address": "x@example.org"}).json()["users"]
        by_phone = export({"phone": "+33611111111"}).json()["users"]
        by_alias = export({"user_aliases": [{"alias_name": "a1", "alias_label": "crm"}]}).json()["users"]
        assert by_email == by_phone == [{"external_id": "x", "custom_attributes": {"n": 1}}]
        assert by_alias[0]["custom_attributes"] == {"n": 2}
        limited = export({"external_ids": ["x"]})
        assert limited.status_code == 429 and limited.headers["X-RateLimit-Limit"] == "3"
        assert track(emu, {"attributes": [{"external_id": "x", "n": 3}]}).status_code == 201, "track unaffected"


def test_process_mode_serves_and_stops():
    with start_emulator(EmulatorConfig(api_key=KEY), mode="process") as emu:
        assert emu.pid and emu.pid != __import__("os").getpid()
        assert track(emu, {"attributes": [{"external_id": "proc", "n": 1}]}).status_code == 201
        assert requests.get(f"{emu.url}/_emulator/profiles/proc", timeout=5).status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{emu.url}/_emulator/counters", timeout=2)


def test_start_errors_are_clear(tmp_path):
    broken = tmp_path / "state.json"
    broken.write_text("{not json")
    from reverse_etl.errors import ConfigError

    with pytest.raises(ConfigError, match="state file .* cannot be read"):
        start_emulator(EmulatorConfig(api_key=KEY, state_file=str(broken)))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            start_emulator(EmulatorConfig(api_key=KEY, port=port))
        proc = subprocess.run([sys.executable, "-m", "reverse_etl", "emulator", "--api-key", KEY, "--port", str(port)],
                              check=False, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "pick another --port" in proc.stderr and KEY not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "reverse_etl", "emulator", "--api-key", KEY, "--faults",
                           '{"error_rate": 5}'], check=False, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "error_rate" in proc.stderr


def test_handle_reset_forgets_profiles_counters_and_faults(emu):
    assert track(emu, {"attributes": [{"external_id": "kept", "n": 1}]}).status_code == 201
    requests.post(f"{emu.url}/_emulator/faults", json={"error_rate": 1.0, "seed": 1}, timeout=5)
    assert track(emu, {"attributes": [{"external_id": "x", "n": 1}]}).status_code >= 500
    emu.reset()
    assert requests.get(f"{emu.url}/_emulator/profiles", timeout=5).json()["profiles"] == []
    assert requests.get(f"{emu.url}/_emulator/counters", timeout=5).json()["requests"] == 0
    assert track(emu, {"attributes": [{"external_id": "after", "n": 1}]}).status_code == 201, "faults cleared"
