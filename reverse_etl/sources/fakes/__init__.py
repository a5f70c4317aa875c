"""Local HTTP fakes of the Salesforce REST API and the Zendesk incremental export API, for the tests and the
demo. They listen on loopback only and follow the public documentation of each API (the facts they rely on,
with their sources, are in each module's docstring); they enforce authentication, paging and rate limits, and
can inject 429 storms and outages.

    with FakeSalesforce(client_id="id", client_secret="secret") as sf:   # sf.url
        sf.put("Contact", {"Email": "a@example.com"})
    with FakeZendesk(email="etl@acme.com", token="tok") as zd:           # zd.url
        zd.put("users", {"email": "a@example.com"})
"""

from .salesforce import FakeSalesforce
from .zendesk import FakeZendesk

__all__ = ["FakeSalesforce", "FakeZendesk"]
