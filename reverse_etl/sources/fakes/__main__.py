"""``python -m reverse_etl.sources.fakes``: both fakes on loopback with sample people, until Ctrl-C.

Prints the URLs and a ``sources:`` snippet to paste in a manifest; the credentials are the demo ones below,
exported by the snippet's comment (never use them for anything else).
"""

from __future__ import annotations

import argparse
import signal
import threading

from . import FakeSalesforce, FakeZendesk

CLIENT_ID, CLIENT_SECRET, EMAIL, TOKEN = "demo-client-id", "demo-client-secret", "etl@example.com", "demo-token"


def seed(sf: FakeSalesforce, zd: FakeZendesk, people: int) -> None:
    """``people`` contacts in Salesforce; every other one is also a Zendesk requester with the same email."""
    for i in range(people):
        email = f"person{i}@example.com"
        sf.put("Contact", {"Email": email, "FirstName": f"First{i}", "LastName": f"Last{i}", "Phone": "0612345678"})
        if i % 2 == 0:
            user = zd.put("users", {"email": email.upper(), "name": f"first{i} last{i}"})
            zd.put("tickets", {"subject": f"Question {i}", "requester_id": user})
    zd.settle()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--salesforce-port", type=int, default=8701)
    parser.add_argument("--zendesk-port", type=int, default=8702)
    parser.add_argument("--people", type=int, default=100)
    args = parser.parse_args()
    with FakeSalesforce(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, port=args.salesforce_port) as sf, \
            FakeZendesk(email=EMAIL, token=TOKEN, port=args.zendesk_port) as zd:
        seed(sf, zd, args.people)
        print(f"# export SF_CLIENT_ID={CLIENT_ID} SF_CLIENT_SECRET={CLIENT_SECRET} ZENDESK_API_TOKEN={TOKEN}\n"
              f"sources:\n"
              f"  salesforce_contacts: {{type: salesforce, object: Contact, login_url: '{sf.url}', "
              f"client_id_env: SF_CLIENT_ID, client_secret_env: SF_CLIENT_SECRET}}\n"
              f"  zendesk_users: {{type: zendesk, resource: users, url: '{zd.url}', email: {EMAIL}, "
              f"api_token_env: ZENDESK_API_TOKEN}}", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
