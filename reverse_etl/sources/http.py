"""HTTP for the API sources (Salesforce, Zendesk): one ``requests`` session whose retries are urllib3's.

urllib3's ``Retry`` does the protocol work: it retries 429 and 503 after their ``Retry-After`` (seconds or an
HTTP date, cut to ``backoff_max_seconds``), other 5xx and connection errors with exponential backoff capped at
the same value, up to ``max_retries`` times; then the last answer comes back and :func:`get_json` turns it into
a one-line :class:`ApiError` naming the source, the answer and the fix. Credentials travel in headers or POST
bodies only (never in URLs, which urllib3 logs at DEBUG), and no error message repeats a request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .api_config import HttpSettings
from .locations import SourceError

RETRY_STATUSES = (429, 500, 502, 503, 504)
USER_AGENT = "rsync-braze-ingest"


class ApiError(SourceError):
    """An API source's service refused or failed a request (after the retries); the cursor is kept."""


def session(settings: HttpSettings) -> requests.Session:
    """A session retrying on 429/5xx and connection errors per ``settings`` (Retry-After honoured)."""
    retry = Retry(total=settings.max_retries, status_forcelist=RETRY_STATUSES,
                  allowed_methods=frozenset({"GET", "POST"}),  # POST: the OAuth token request, safe to repeat
                  backoff_factor=0.5, backoff_max=settings.backoff_max, retry_after_max=int(settings.backoff_max),
                  respect_retry_after_header=True, raise_on_status=False, raise_on_redirect=False)
    s = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    s.mount("https://", adapter)
    s.mount("http://", adapter)
    s.headers["User-Agent"] = USER_AGENT
    s.headers["Accept"] = "application/json"
    return s


def retries_of(response: requests.Response) -> int:
    """How many retries urllib3 made before this answer (429s waited for included)."""
    retries = getattr(response.raw, "retries", None)
    return len(retries.history) if retries is not None else 0


def detail(response: requests.Response) -> str:
    """The service's own error words (Salesforce ``[{errorCode, message}]``, OAuth ``error_description``,
    Zendesk ``error``/``description``), at most 200 characters; never the request."""
    try:
        body: Any = response.json()
    except (ValueError, json.JSONDecodeError):
        return " ".join(response.text.split())[:200]
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    if isinstance(body, dict):
        code = body.get("errorCode") or body.get("error")
        words = body.get("message") or body.get("error_description") or body.get("description")
        if isinstance(code, dict):  # Zendesk: {"error": {"title", "message"}}
            code, words = code.get("title"), code.get("message")
        return ": ".join(str(p) for p in (code, words) if p)[:200]
    return str(body)[:200]


def call(s: requests.Session, method: str, url: str, who: str, timeout: float, **kwargs) -> requests.Response:
    """One request with its retries; a connection failure becomes an ApiError naming the host."""
    try:
        return s.request(method, url, timeout=timeout, **kwargs)
    except requests.exceptions.RetryError as exc:
        raise ApiError(f"{who}: {requests.utils.urlparse(url).netloc} kept failing after the retries "
                       f"({type(exc.__cause__ or exc).__name__}); run ingest again later: it resumes from the "
                       f"stored cursor.") from None
    except requests.exceptions.RequestException as exc:
        raise ApiError(f"{who}: could not reach {requests.utils.urlparse(url).netloc} ({type(exc).__name__}); "
                       f"check the URL and the network, then run ingest again: it resumes from the stored "
                       f"cursor.") from None


def failure(response: requests.Response, who: str, fix: str) -> ApiError:
    """A one-line error for a final non-2xx answer: the status, the service's words, the fix."""
    tried = retries_of(response)
    after = f" after {tried} retries" if tried else ""
    if response.status_code in RETRY_STATUSES:
        fix = "the service is overloaded or rate-limiting: run ingest again later, it resumes from the stored cursor."
    return ApiError(f"{who}: HTTP {response.status_code}{after} ({detail(response) or response.reason}); {fix}")


def get_json(s: requests.Session, url: str, who: str, timeout: float, fix: str,
             fixes: dict[int, str] | None = None, **kwargs) -> tuple[Any, int]:
    """GET ``url`` and decode its JSON body; returns (body, retries made). Non-2xx raise :func:`failure` with
    the fix for that status (``fixes``) or ``fix``."""
    response = call(s, "GET", url, who, timeout, **kwargs)
    if response.status_code != 200:
        raise failure(response, who, (fixes or {}).get(response.status_code, fix))
    try:
        return response.json(), retries_of(response)
    except ValueError:
        raise ApiError(f"{who}: {requests.utils.urlparse(url).path} answered 200 with a body that is not JSON; "
                       f"check the URL points at the API.") from None


@dataclass
class ApiResult:
    """What one run of an API source did: pages committed, records read, rows new or changed, deleted records
    among those read, requests retried (429 / 5xx waited for), the cursor the next run starts from."""

    source: str
    type: str
    pages: int = 0
    records: int = 0
    changed: int = 0
    deleted: int = 0
    retries: int = 0
    cursor: str | None = None
    seconds: float = 0.0
