"""Sources landing in raw warehouse tables exactly once: files (local or SFTP), webhooks, Salesforce, Zendesk.

    schema.py      the keys of ``sources:`` entries (type, default, meaning) and their reference
    config.py      validation of the ``sources:`` section, parsed configs
    locations.py   local folders and SFTP servers (asyncssh): list and stream files
    formats.py     CSV / JSON / JSON-lines parsing, row by row, malformed rows rejected with their line
    files.py       one file, one transaction: rows, rejects and ledger row together
    store.py       the SQL: raw tables, ledger (``source_files``), rejects (``source_rejects``)
    runner.py      ``rsync-braze ingest``: selected sources, one lock each
    cli.py         the click commands
    sftp_server.py a loopback SFTP server for the tests and the demo
    api_config.py  validation of the salesforce and zendesk sources
    http.py        requests + urllib3 Retry (Retry-After honoured, capped backoff), one-line API errors
    salesforce.py  OAuth 2.0, SOQL queryAll paged by nextRecordsUrl, incremental on SystemModstamp
    zendesk.py     cursor-based incremental export of tickets or users
    fakes/         loopback fakes of both APIs, written from their documentation (python -m ...fakes)

See docs/sources.md.
"""
