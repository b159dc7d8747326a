"""N clients connect at once to a server that takes `limit`; each holds its connection until all
have tried. Prints how many were served, how many were told "too many clients", and any other
outcome, then checks the server still answers."""

import sys
import threading

import psycopg

port, n = sys.argv[1], int(sys.argv[2])
dsn = f"host=127.0.0.1 port={port} user=analyst password='s3cret pass' dbname=persona sslmode=disable connect_timeout=60"
outcomes = []
lock = threading.Lock()
everyone_tried = threading.Barrier(n)


def client():
    conn = None
    try:
        conn = psycopg.connect(dsn)
        conn.execute("SELECT count(*) FROM customer_360").fetchone()
        outcome = "served"
    except psycopg.OperationalError as e:
        outcome = "too_many" if "sorry, too many clients already" in str(e) else f"other: {e}"
    with lock:
        outcomes.append(outcome)
    everyone_tried.wait()
    if conn is not None:
        conn.close()


threads = [threading.Thread(target=client) for _ in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("served:", outcomes.count("served"))
print("too_many:", outcomes.count("too_many"))
for o in outcomes:
    if o.startswith("other"):
        print(o)
with psycopg.connect(dsn) as conn:
    print("after:", conn.execute("SELECT 41 + 1").fetchone()[0])
