/* resolver_dane.c - DANE precedence in `mtasts resolver` (dane: true; RFC
 * 8461 §2): before STS, a lookup asks for the domain's MX hosts and their
 * TLSA records; DNSSEC-validated ones get the DANE answer, a failed lookup
 * answers TEMP and never falls back to STS, and no DANE goes on to STS. */
#include <stdio.h>
#include <string.h>

#include "engine/resolver_int.h"
#include "io/dns_int.h"

void resolver_dane_cancel(struct request *q)
{
	for (size_t i = 0; i < sizeof(q->dns) / sizeof(q->dns[0]); i++)
		if (q->dns[i].query) {
			mts_dns_cancel(q->dns[i].query);
			q->dns[i].query = NULL;
		}
	q->dns_pending = 0;
}

static void dane_done(struct request *q)
{
	struct mts_resolver *r = q->conn->r;
	if (q->dane_secure) {
		char text[96];
		snprintf(text, sizeof(text), "OK %s", r->cfg.dane_answer);
		resolver_answer_store(r, q->zone.name, q->domain, text, strlen(text),
				      MTS_ANSWER_DANE, resolver_now(r), 0);
		q->conn->ops->result(q, NULL, text, strlen(text), MTS_ANSWER_DANE);
	} else if (q->dane_temp) {
		const char *text = "TEMP the DANE (MX or TLSA) lookup failed";
		q->conn->ops->result(q, NULL, text, strlen(text), MTS_ANSWER_TEMP);
	} else {
		resolver_start_sts(q);
	}
}

static bool dns_temporary(const struct mts_dns_result *res)
{
	return res->status == MTS_DNS_SERVFAIL || res->status == MTS_DNS_TIMEOUT ||
	       res->status == MTS_DNS_FAILED || res->dnssec == MTS_DNSSEC_BOGUS;
}

static void on_tlsa(const struct mts_dns_result *res, void *arg)
{
	struct dane_slot *slot = arg;
	struct request *q = slot->q;
	slot->query = NULL; /* the handle ends with its callback */
	q->dns_pending--;
	if (res->status == MTS_DNS_OK && res->dnssec == MTS_DNSSEC_SECURE && res->count > 0)
		q->dane_secure = true;
	else if (dns_temporary(res))
		q->dane_temp = true;
	if (q->dns_pending == 0)
		dane_done(q);
}

static void on_mx(const struct mts_dns_result *res, void *arg)
{
	struct dane_slot *slot = arg;
	struct request *q = slot->q;
	struct mts_resolver *r = q->conn->r;
	slot->query = NULL;
	if (dns_temporary(res)) {
		q->dane_temp = true;
		dane_done(q);
		return;
	}
	if (res->status != MTS_DNS_OK || res->dnssec != MTS_DNSSEC_SECURE || res->null_mx) {
		dane_done(q); /* no signed MX: DANE does not apply */
		return;
	}
	size_t hosts = res->count < DANE_MX_MAX ? res->count : DANE_MX_MAX;
	/* Count first: a callback never runs inside mts_dns_lookup(). */
	for (size_t i = 0; i < hosts; i++) {
		char name[MTS_DNAME_MAX + 16];
		snprintf(name, sizeof(name), "_25._tcp.%s", res->mx[i].host);
		struct mts_error err = {0};
		q->dns[i + 1].q = q;
		q->dns[i + 1].query =
			mts_dns_lookup(r->dns, name, MTS_DNS_TLSA, on_tlsa, &q->dns[i + 1], &err);
		if (q->dns[i + 1].query)
			q->dns_pending++;
		else
			q->dane_temp = true;
	}
	if (q->dns_pending == 0)
		dane_done(q);
}

void resolver_dane_start(struct request *q)
{
	struct mts_resolver *r = q->conn->r;
	struct mts_error err = {0};
	q->dns[0].q = q;
	q->dns[0].query = mts_dns_lookup(r->dns, q->domain, MTS_DNS_MX, on_mx, &q->dns[0], &err);
	if (!q->dns[0].query) {
		q->dane_temp = true;
		dane_done(q);
	}
}
