"""A fake Salesforce org on loopback: OAuth 2.0 token endpoint, sObject describe, SOQL query / queryAll with
paging. Enough SOQL for an incremental extract (``SELECT f, ... FROM Obj [WHERE f op literal [AND ...]]
[ORDER BY f [ASC|DESC], ...] [LIMIT n]``), nothing more.

Facts from Salesforce's public documentation that this fake follows:

- Token: ``POST /services/oauth2/token`` with a form body; ``grant_type=client_credentials`` with
  ``client_id``/``client_secret`` (an integration user's flow, against the org's My Domain URL),
  ``grant_type=refresh_token``, ``grant_type=password`` (``username``, ``password`` + security token). The
  answer is JSON with ``access_token``, ``instance_url`` (where to call the APIs), ``id``, ``token_type:
  Bearer``, ``issued_at``, ``signature``; no ``expires_in``: a token is valid until the session times out,
  when calls get 401. Failures are 400 ``{"error", "error_description"}`` (e.g. ``invalid_client``).
  https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_client_credentials_flow.htm
  https://help.salesforce.com/apex/HTViewHelpDoc?id=service.conversation_transcript_api_sample1.htm
- Calls carry ``Authorization: Bearer <token>``; an expired or invalid token gets 401 with the body
  ``[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]``. Errors are a JSON array
  of ``{message, errorCode}``; 403 ``REQUEST_LIMIT_EXCEEDED`` is the org's API request limit; 503 means the
  server is overloaded. https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
- ``GET /services/data/vXX.X/query?q=SOQL`` runs a query; ``queryAll`` (API 29.0+) also returns records deleted
  by a delete or a merge (``IsDeleted`` true) until they leave the recycle bin; ``query`` filters them out.
  The answer is ``{totalSize, done, nextRecordsUrl?, records}``; each record has ``attributes: {type, url}``.
  Up to 2,000 records a batch (fewer for big records: ``Sforce-Query-Options: batchSize=n``, 200 to 2,000, is a
  request, not a promise); when ``done`` is false, ``nextRecordsUrl`` (``/services/data/vXX.X/query/<locator>``,
  with ``query`` in it even for queryAll) gives the next batch of the same query, deleted records included.
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_queryall.htm
  https://developer.salesforce.com/docs/platform/api-rest/guide/resources-queryall-more-results.md
  https://developer.salesforce.com/docs/platform/api-rest/guide/dome-queryall.md
- SOQL dateTime literals are unquoted, ``YYYY-MM-DDThh:mm:ssZ`` (or ``+hh:mm``); dateTime values come back in
  UTC (``2026-01-01T00:00:00.000+0000``).
  https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/sforce-api-calls-soql-select-dateformats.md
- ``GET /services/data/vXX.X/sobjects/<Object>/describe`` lists the object's ``fields`` (``name``, ``type``).
- ``SystemModstamp`` is set on every change of a record, by users or by the system.

Not modelled: relationship fields, aggregate functions, the org's daily limit counter, locator expiry by time
(``expire_locators()`` does it on demand).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import secrets
from typing import Any
from urllib.parse import parse_qs

from .base import Answer, FakeServer

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
PREFIXES = {"Account": "001", "Contact": "003", "Opportunity": "006", "Lead": "00Q"}
SYSTEM_FIELDS = [("Id", "id"), ("IsDeleted", "boolean"), ("CreatedDate", "datetime"),
                 ("LastModifiedDate", "datetime"), ("SystemModstamp", "datetime")]
OBJECTS = {
    "Contact": [("FirstName", "string"), ("LastName", "string"), ("Email", "email"), ("Phone", "phone"),
                ("AccountId", "reference"), ("MailingCity", "string"), ("Photo__c", "base64")],
    "Lead": [("FirstName", "string"), ("LastName", "string"), ("Email", "email"), ("Company", "string"),
             ("Status", "picklist")],
    "Account": [("Name", "string"), ("Website", "url"), ("Industry", "picklist")],
    "Opportunity": [("Name", "string"), ("AccountId", "reference"), ("Amount", "currency"),
                    ("StageName", "picklist"), ("CloseDate", "date")],
}
SOQL_RE = re.compile(r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)(?:\s+WHERE\s+(?P<where>.+?))?"
                     r"(?:\s+ORDER\s+BY\s+(?P<order>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$", re.I | re.S)
CONDITION_RE = re.compile(r"^\s*(\w+)\s*(>=|<=|!=|=|>|<)\s*(.+?)\s*$")
DATA_RE = re.compile(r"^/services/data/v(?P<version>\d+\.\d)/(?P<rest>.+)$")


def sf_time(value: dt.datetime) -> str:
    """Salesforce's dateTime format in answers."""
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def sf_error(status: int, code: str, message: str) -> Answer:
    return Answer(status, [{"message": message, "errorCode": code}])


class FakeSalesforce(FakeServer):
    """One org: objects Contact, Lead, Account, Opportunity; credentials given at construction."""

    def __init__(self, *, client_id: str, client_secret: str, refresh_token: str | None = None,
                 username: str | None = None, password: str | None = None, port: int = 0, max_batch: int = 2000):
        super().__init__(port)
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token
        self.username, self.password = username, password
        self.max_batch = max_batch  # the most records a batch holds here, whatever batchSize asks (tests: small)
        self.instance_url: str | None = None  # what token answers name as instance_url (default: this server)
        self.now = EPOCH
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in OBJECTS}
        self.locators: dict[str, tuple[list[dict[str, Any]], int]] = {}  # rows, batch size
        self._ids = itertools.count(1)
        self._locator_ids = itertools.count(1)

    # -- the org's data ------------------------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        with self.lock:
            self.now += dt.timedelta(seconds=seconds)

    def put(self, obj: str, values: dict[str, Any]) -> str:
        """Create a record, or update the one whose ``Id`` is given; stamps SystemModstamp (the clock moves 1 s)."""
        with self.lock:
            self.now += dt.timedelta(seconds=1)
            table = self.records[obj]
            record = table.get(values.get("Id", "")) or {
                "Id": f"{PREFIXES[obj]}{next(self._ids):012d}AAA", "IsDeleted": False, "CreatedDate": self.now,
                **{name: None for name, _ in OBJECTS[obj]}}
            unknown = set(values) - {n for n, _ in SYSTEM_FIELDS + OBJECTS[obj]}
            if unknown:
                raise KeyError(f"no field {sorted(unknown)} on {obj}")
            record.update(values)
            record["LastModifiedDate"] = record["SystemModstamp"] = self.now
            table[record["Id"]] = record
            return record["Id"]

    def delete(self, obj: str, record_id: str) -> None:
        """Move a record to the recycle bin: IsDeleted true, a new SystemModstamp; only queryAll sees it."""
        with self.lock:
            self.now += dt.timedelta(seconds=1)
            record = self.records[obj][record_id]
            record["IsDeleted"] = True
            record["SystemModstamp"] = self.now

    def expire_tokens(self) -> None:
        """End every session: the next call gets 401 INVALID_SESSION_ID and must get a new token."""
        with self.lock:
            self.tokens.clear()

    def expire_locators(self) -> None:
        with self.lock:
            self.locators.clear()

    def error_body(self, status: int) -> Any:
        code = {429: "REQUEST_LIMIT_EXCEEDED", 503: "SERVER_UNAVAILABLE"}.get(status, "UNKNOWN_EXCEPTION")
        return [{"message": f"HTTP {status}", "errorCode": code}]

    # -- HTTP ----------------------------------------------------------------------------------------------
    def route(self, method, path, query, headers, body):
        if path == "/services/oauth2/token":
            if method != "POST":
                raise sf_error(405, "METHOD_NOT_ALLOWED", "HTTP Method 'GET' not allowed. Allowed are POST")
            return self._token({k: v[0] for k, v in parse_qs(body.decode()).items()})
        match = DATA_RE.match(path)
        if not match:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if not 29 <= float(match["version"]) <= 66:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        auth = headers.get("Authorization", "")
        with self.lock:
            valid = auth.startswith("Bearer ") and auth[7:] in self.tokens
        if not valid:
            raise sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        fault = self.fault()
        if fault:
            raise fault
        version, rest = match["version"], match["rest"]
        parts = rest.split("/")
        if parts[0] == "sobjects" and len(parts) == 3 and parts[2] == "describe":
            return self._describe(parts[1])
        if parts[0] in ("query", "queryAll") and len(parts) == 1:
            soql = query.get("q", [""])[0]
            batch = self._batch_size(headers.get("Sforce-Query-Options", ""))
            return self._query(soql, version, parts[0] == "queryAll", batch)
        if parts[0] in ("query", "queryAll") and len(parts) == 2:
            return self._more(parts[1], version)
        raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")

    def _token(self, form: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            self.token_requests += 1
        grant = form.get("grant_type")
        client_ok = form.get("client_id") == self.client_id
        secret_ok = form.get("client_secret") == self.client_secret
        if grant == "client_credentials":
            ok = client_ok and secret_ok
        elif grant == "refresh_token":
            ok = client_ok and self.refresh_token is not None and form.get("refresh_token") == self.refresh_token \
                and ("client_secret" not in form or secret_ok)
        elif grant == "password":
            ok = client_ok and secret_ok and self.username is not None and form.get("username") == self.username \
                and form.get("password") == self.password
        else:
            raise Answer(400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"})
        if not ok:
            error = "invalid_client" if not (client_ok and secret_ok) and grant != "refresh_token" else "invalid_grant"
            raise Answer(400, {"error": error, "error_description": "authentication failure"})
        token = "00DFAKE!" + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens.add(token)
        issued = str(int(self.now.timestamp() * 1000))
        return {"access_token": token, "instance_url": self.instance_url or self.url, "id": f"{self.url}/id/00D000000000001/005000000000001",
                "token_type": "Bearer", "issued_at": issued, "signature": secrets.token_urlsafe(16)}

    def _describe(self, obj: str) -> dict[str, Any]:
        if obj not in OBJECTS:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        return {"name": obj, "queryable": True,
                "fields": [{"name": n, "type": t} for n, t in SYSTEM_FIELDS + OBJECTS[obj]]}

    def _batch_size(self, options: str) -> int:
        match = re.search(r"batchSize=(\d+)", options)
        asked = int(match.group(1)) if match else 2000
        if not 200 <= asked <= 2000:
            raise sf_error(400, "INVALID_BATCH_SIZE", f"batchSize {asked} must be between 200 and 2000")
        return min(asked, self.max_batch)

    def _query(self, soql: str, version: str, include_deleted: bool, batch: int) -> dict[str, Any]:
        match = SOQL_RE.match(soql)
        if not match:
            raise sf_error(400, "MALFORMED_QUERY", "unexpected token in the query")
        obj = match["object"]
        if obj not in OBJECTS:
            raise sf_error(400, "INVALID_TYPE", f"sObject type '{obj}' is not supported.")
        known = {n.lower(): n for n, _ in SYSTEM_FIELDS + OBJECTS[obj]}

        def field(name: str) -> str:
            if name.strip().lower() not in known:
                raise sf_error(400, "INVALID_FIELD", f"No such column '{name.strip()}' on entity '{obj}'.")
            return known[name.strip().lower()]

        fields = [field(f) for f in match["fields"].split(",")]
        conditions = [self._condition(c, field) for c in re.split(r"\s+AND\s+", match["where"], flags=re.I)] \
            if match["where"] else []
        with self.lock:
            rows = [r for r in self.records[obj].values() if (include_deleted or not r["IsDeleted"])
                    and all(test(r) for test in conditions)]
            for term in reversed((match["order"] or "").split(",") if match["order"] else []):
                name, *direction = term.split()
                key = field(name)
                rows.sort(key=lambda r, k=key: (r[k] is None, r[k]), reverse=bool(direction)
                          and direction[0].upper() == "DESC")
            if match["limit"]:
                rows = rows[: int(match["limit"])]
            # The answer is a snapshot taken now (a locator returns the rest of this result, not a new query).
            snapshot = [{"attributes": {"type": obj, "url": f"/services/data/v{version}/sobjects/{obj}/{r['Id']}"},
                         **{f: sf_time(r[f]) if isinstance(r[f], dt.datetime) else r[f] for f in fields}}
                        for r in rows]
            locator = f"01gFAKE{next(self._locator_ids):08d}"
            self.locators[locator] = (snapshot, batch)
        return self._batch(locator, 0, version)

    def _condition(self, text: str, field):
        match = CONDITION_RE.match(text)
        if not match:
            raise sf_error(400, "MALFORMED_QUERY", "unexpected token in the WHERE clause")
        name, op, literal = field(match.group(1)), match.group(2), match.group(3)
        if re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", literal):
            value: Any = dt.datetime.fromisoformat(literal.replace("Z", "+00:00"))
        elif literal.upper() in ("TRUE", "FALSE"):
            value = literal.upper() == "TRUE"
        elif literal.startswith("'") and literal.endswith("'"):
            value = literal[1:-1]
        else:
            raise sf_error(400, "MALFORMED_QUERY", f"unexpected token: '{literal}'")
        compare = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "=": lambda a, b: a == b,
                   "!=": lambda a, b: a != b, ">": lambda a, b: a > b, "<": lambda a, b: a < b}[op]
        return lambda r: r[name] is not None and compare(r[name], value)

    def _more(self, locator_offset: str, version: str) -> dict[str, Any]:
        locator, _, offset = locator_offset.rpartition("-")
        with self.lock:
            known = locator in self.locators and offset.isdigit()
        if not known:
            raise sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._batch(locator, int(offset), version)

    def _batch(self, locator: str, offset: int, version: str) -> dict[str, Any]:
        with self.lock:
            rows, batch = self.locators[locator]
            page = rows[offset: offset + batch]
            done = offset + batch >= len(rows)
            if done:
                self.locators.pop(locator, None)
        answer: dict[str, Any] = {"totalSize": len(rows), "done": done, "records": page}
        if not done:
            answer["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{offset + batch}"
        return answer
