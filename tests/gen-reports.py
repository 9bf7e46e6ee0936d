#!/usr/bin/env python3
"""Generate TLS reports (RFC 8460) for the report tests and benchmarks.

  gen-reports.py DIR --count N [--format json|gz|eml|mixed] [--seed S]
                 [--domains K] [--days D] [--start YYYY-MM-DD] [--expect FILE]

Reports for K domains (d0.example ... ) over D days from --start, from a few
reporters, with successes and failures of several result types at several MX
hosts. --expect writes what a summary of them must say, computed here from
the generated data: per domain and day the reports and session counts, and
per domain the failed sessions of each result type and the reporters of each
MX host. Deterministic for a seed.
"""
import argparse
import base64
import datetime
import gzip
import json
import os
import random

REPORTERS = ["Google Inc.", "Microsoft Corporation", "Mail.ru", "Yahoo", "Comcast"]
TYPES = ["certificate-expired", "starttls-not-supported", "validation-failure",
         "sts-policy-fetch-error", "certificate-host-mismatch"]


def make_report(rng, i, domain, day, reporter, mx_hosts):
    start = day.strftime("%Y-%m-%dT00:00:00Z")
    end = (day + datetime.timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")
    failures = []
    for _ in range(rng.choice([0, 0, 1, 2])):
        mx = rng.choice(mx_hosts)
        failures.append({
            "result-type": rng.choice(TYPES),
            "sending-mta-ip": "192.0.2.%d" % rng.randint(1, 250),
            "receiving-mx-hostname": mx,
            "receiving-ip": "198.51.100.%d" % (mx_hosts.index(mx) + 1),
            "failed-session-count": rng.randint(1, 40),
        })
    policy = {
        "policy": {
            "policy-type": "sts",
            "policy-string": ["version: STSv1", "mode: testing"]
            + ["mx: %s" % m for m in mx_hosts] + ["max_age: 86400"],
            "policy-domain": domain,
            "mx-host": list(mx_hosts),
        },
        "summary": {
            "total-successful-session-count": rng.randint(0, 5000),
            "total-failure-session-count": sum(f["failed-session-count"] for f in failures),
        },
    }
    if failures:
        policy["failure-details"] = failures
    return {
        "organization-name": reporter,
        "date-range": {"start-datetime": start, "end-datetime": end},
        "contact-info": "tlsrpt@%s" % reporter.split()[0].lower().rstrip(".") + ".example",
        "report-id": "gen-%06d-%s" % (i, rng.getrandbits(32)),
        "policies": [policy],
    }


def as_mail(report, body_gz, i):
    b64 = base64.encodebytes(body_gz).decode().replace("\n", "\r\n")
    dom = report["policies"][0]["policy"]["policy-domain"]
    return (
        "From: noreply-smtp-tls-reporting@reporter.example\r\n"
        "To: tlsrpt@%s\r\n"
        "Subject: Report Domain: %s Submitter: reporter.example Report-ID: <%s>\r\n"
        "Message-ID: <gen-%d@reporter.example>\r\n"
        "TLS-Report-Domain: %s\r\nTLS-Report-Submitter: reporter.example\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=tlsrpt; boundary=\"b%d\"\r\n\r\n"
        "--b%d\r\nContent-Type: text/plain\r\n\r\nThis is a TLS report.\r\n"
        "--b%d\r\nContent-Type: application/tlsrpt+gzip\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename=\"report-%d.json.gz\"\r\n\r\n%s\r\n"
        "--b%d--\r\n" % (dom, dom, report["report-id"], i, dom, i, i, i, i, b64, i)
    ).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--format", default="mixed", choices=["json", "gz", "eml", "mixed"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--domains", type=int, default=3)
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--start", default="2026-11-01")
    ap.add_argument("--expect")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    start = datetime.date.fromisoformat(a.start)
    os.makedirs(a.dir, exist_ok=True)
    expect = {}
    for i in range(a.count):
        d = i % a.domains
        domain = "d%d.example" % d
        mx_hosts = ["mx%d.d%d.example" % (k, d) for k in range(1 + d % 3)]
        day = start + datetime.timedelta(days=rng.randrange(a.days))
        reporter = rng.choice(REPORTERS)
        r = make_report(rng, i, domain, day, reporter, mx_hosts)
        body = json.dumps(r).encode()
        fmt = a.format if a.format != "mixed" else ["json", "gz", "eml"][i % 3]
        name = os.path.join(a.dir, "r%06d" % i)
        if fmt == "json":
            open(name + ".json", "wb").write(body)
        elif fmt == "gz":
            open(name + ".json.gz", "wb").write(gzip.compress(body, mtime=0))
        else:
            open(name + ".eml", "wb").write(as_mail(r, gzip.compress(body, mtime=0), i))
        e = expect.setdefault(domain, {"days": {}, "types": {}, "mx": {}, "reporters": set()})
        dd = e["days"].setdefault(day.isoformat(), {"reports": 0, "successful": 0, "failed": 0})
        dd["reports"] += 1
        s = r["policies"][0]["summary"]
        dd["successful"] += s["total-successful-session-count"]
        dd["failed"] += s["total-failure-session-count"]
        for f in r["policies"][0].get("failure-details", []):
            e["types"][f["result-type"]] = e["types"].get(f["result-type"], 0) + f["failed-session-count"]
        for m in mx_hosts:
            e["mx"].setdefault(m, set()).add(reporter)
        e["reporters"].add(reporter)
    if a.expect:
        out = {}
        for dom, e in expect.items():
            out[dom] = {
                "days": e["days"],
                "types": e["types"],
                "mx": {m: len(v) for m, v in e["mx"].items()},
                "reporters": len(e["reporters"]),
            }
        json.dump(out, open(a.expect, "w"), indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
