"""The sync runner on DuckDB: a dbt-duckdb target's database file holds the models and the sync state.

The modules mirror the PostgreSQL ones, function for function, so the engine asks its dialect
(``reverse_etl/dialect.py``) and runs the same code on both:

    connection.py   open the file; a psycopg-like connection (implicit transactions, one clear error per failure)
    state.py        run log, rejections and snapshot tables (no COPY: rows go in as list parameters, unnest)
    ledger.py       the events/purchases ledger
    diff.py         the diff query, with DuckDB's ``hash()``
    history.py      ``status``/``history``/``rejections`` reads

DuckDB lets one process write a database file at a time: while ``rsync-braze run`` holds the file, ``dbt build``
(or another run) waits for it to finish, and the other way round (a clear error, never a wait forever).
"""
