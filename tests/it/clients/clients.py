"""Real PostgreSQL clients against `persona serve`: psycopg and SQLAlchemy's inspector.

    python clients.py PORT USER PASSWORD [cancel | extended SQL...]

Prints one line per check, `name: value`, for the Rust test to compare. With `cancel`, it
cancels a long query after a second instead (psycopg's cancel request) and reports how it
ended and whether the connection still answers. With `extended`, it runs each SQL through
the extended protocol (Parse, Bind, Execute: a prepared statement) and prints `SQLSTATE` or
`ok` for each, one per line.
"""

import sys
import threading
import time

import psycopg
import sqlalchemy

port, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
params = dict(host="127.0.0.1", port=port, user=user, password=password, dbname="persona",
              sslmode="disable")

if len(sys.argv) > 4 and sys.argv[4] == "extended":
    with psycopg.connect(**params, autocommit=True) as conn:
        for sql in sys.argv[5:]:
            try:
                conn.execute(sql, prepare=True)
                print("ok")
            except psycopg.Error as e:
                print(e.sqlstate)
    sys.exit(0)

if len(sys.argv) > 4 and sys.argv[4] == "cancel":
    with psycopg.connect(**params) as conn:
        started = time.time()
        threading.Timer(1.0, conn.cancel).start()
        try:
            conn.execute("SELECT count(*) FROM generate_series(1, 3000000000) t(v) WHERE v % 7 = 3")
            print("cancel: finished")
        except psycopg.Error as e:
            print(f"cancel: {e.sqlstate} {type(e).__name__} {time.time() - started < 10}")
        conn.rollback()
        print(f"after_cancel: {conn.execute('SELECT 41 + 1').fetchone()[0]}")
    sys.exit(0)

with psycopg.connect(**params) as conn:
    with conn.cursor() as cur:
        # A server-side parameter, bound by the extended protocol.
        cur.execute("SELECT count(*) FROM customer_360 WHERE gender = %s", ("F",))
        print(f"psycopg_count: {cur.fetchone()[0]}")
        cur.execute("SELECT mask_phone(phone) FROM customers ORDER BY customer_id LIMIT 1")
        print(f"psycopg_masked: {cur.fetchone()[0]}")
    try:
        with conn.cursor() as cur:
            cur.execute("DROP VIEW customer_360")
        print("psycopg_write: allowed")
    except psycopg.Error as e:
        print(f"psycopg_write: {e.sqlstate} {type(e).__name__}")

engine = sqlalchemy.create_engine(sqlalchemy.URL.create(
    "postgresql+psycopg", username=user, password=password, host="127.0.0.1", port=int(port),
    database="persona", query={"sslmode": "disable"}))
inspector = sqlalchemy.inspect(engine)
views = inspector.get_view_names()
print(f"sqlalchemy_views: {len(views)} {'customer_360' in views} {'segment_kpis' in views}")
# Schemas and tables: SQLAlchemy filters them with LIKE ... ESCAPE '/'.
print(f"sqlalchemy_schemas: {inspector.get_schema_names()}")
print(f"sqlalchemy_tables: {'orders' in inspector.get_table_names()}")
# What Superset reads when a view becomes a dataset: its columns, from a catalogue query with
# correlated subqueries for defaults, identities and collations.
columns = inspector.get_columns("customer_360")
print(f"sqlalchemy_columns: {len(columns)} "
      + " ".join(f"{c['name']}:{c['type']}:{c['nullable']}" for c in columns[:3]))
with engine.connect() as c:
    n = c.execute(
        sqlalchemy.text("SELECT count(*) FROM customer_segments WHERE tier = :t"), {"t": "High Value"}
    ).scalar()
    print(f"sqlalchemy_count: {n}")
