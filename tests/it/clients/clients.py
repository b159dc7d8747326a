"""Real PostgreSQL clients against `persona serve`: psycopg and SQLAlchemy's inspector.

    python clients.py PORT USER PASSWORD

Prints one line per check, `name: value`, for the Rust test to compare.
"""

import sys

import psycopg
import sqlalchemy

port, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
params = dict(host="127.0.0.1", port=port, user=user, password=password, dbname="persona",
              sslmode="disable")

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
views = sqlalchemy.inspect(engine).get_view_names()
print(f"sqlalchemy_views: {len(views)} {'customer_360' in views} {'segment_kpis' in views}")
with engine.connect() as c:
    n = c.execute(
        sqlalchemy.text("SELECT count(*) FROM customer_segments WHERE tier = :t"), {"t": "High Value"}
    ).scalar()
    print(f"sqlalchemy_count: {n}")
