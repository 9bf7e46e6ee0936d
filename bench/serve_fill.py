#!/usr/bin/python3
"""serve_fill.py - many hosted domains in a serve store, quickly, for
bench/run-serve.sh.

    serve_fill.py DB COUNT [CA_PEM CA_KEY]

DB is a store made by `mtasts serve init` holding one domain added by
`mtasts serve domain add d0.bench.test --mx mx.d0.bench.test`: its row is
the template. Writes d1.bench.test ... d<COUNT-1>.bench.test in one
transaction, each a copy of the template with its own name, its own mx
pattern (mx.dN.bench.test) in the mx column and in the policy bytes. The
CLI would take one transaction per domain (minutes for 100,000).

With CA_PEM and CA_KEY, also gives every domain, d0 included, a certificate
of its own for mta-sts.dN.bench.test (a new P-256 key, signed by that CA,
valid two days; chain: the leaf then the CA), in serve_certs as
`mtasts serve cert import` writes it.
"""
import sqlite3
import sys
import time


def fill_domains(db, count):
    cur = db.execute("SELECT * FROM serve_domains WHERE domain = 'd0.bench.test'")
    names = [c[0] for c in cur.description]
    row = cur.fetchone()
    if row is None:
        sys.exit("serve_fill: no template d0.bench.test in the store")
    tmpl = dict(zip(names, row))
    marker = "mx.d0.bench.test"
    if marker.encode() not in bytes(tmpl["policy"]) or marker not in tmpl["mx"]:
        sys.exit("serve_fill: the template's policy does not name " + marker)
    sql = "INSERT INTO serve_domains (%s) VALUES (%s)" % (
        ", ".join(names), ", ".join("?" * len(names)))

    def rows():
        for i in range(1, count):
            r = dict(tmpl)
            mx = "mx.d%d.bench.test" % i
            r["domain"] = "d%d.bench.test" % i
            r["mx"] = tmpl["mx"].replace(marker, mx)
            r["policy"] = bytes(tmpl["policy"]).replace(marker.encode(), mx.encode())
            yield tuple(r[n] for n in names)

    db.executemany(sql, rows())


def fill_certs(db, count, ca_pem, ca_key):
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    with open(ca_pem, "rb") as f:
        ca_bytes = f.read()
    ca = x509.load_pem_x509_certificate(ca_bytes)
    with open(ca_key, "rb") as f:
        ca_private = serialization.load_pem_private_key(f.read(), None)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    not_before = now - datetime.timedelta(hours=1)
    not_after = now + datetime.timedelta(days=2)
    stamp = int(time.time())

    def rows():
        for i in range(count):
            name = "mta-sts.d%d.bench.test" % i
            key = ec.generate_private_key(ec.SECP256R1())
            leaf = (x509.CertificateBuilder()
                    .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                    .issuer_name(ca.subject)
                    .public_key(key.public_key())
                    .serial_number(x509.random_serial_number())
                    .not_valid_before(not_before)
                    .not_valid_after(not_after)
                    .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                    .add_extension(x509.KeyUsage(True, False, False, False, False, False,
                                                 False, False, False), True)
                    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                                   False)
                    .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
                    .sign(ca_private, hashes.SHA256()))
            key_pem = key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
            chain = leaf.public_bytes(serialization.Encoding.PEM) + ca_bytes
            yield (name, key_pem, chain.decode(), int(not_before.timestamp()),
                   int(not_after.timestamp()), stamp)

    db.executemany("INSERT OR REPLACE INTO serve_certs VALUES (?,?,?,?,?,?)", rows())


def main():
    if len(sys.argv) not in (3, 5):
        sys.exit(__doc__.strip().splitlines()[2].strip())
    db = sqlite3.connect(sys.argv[1])
    count = int(sys.argv[2])
    with db:
        fill_domains(db, count)
        if len(sys.argv) == 5:
            fill_certs(db, count, sys.argv[3], sys.argv[4])
    db.close()


if __name__ == "__main__":
    main()
