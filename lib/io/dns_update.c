/* dns_update.c - RFC 2136 updates signed with TSIG (RFC 8945), built and
 * parsed with ldns, sent over TCP on a libevent loop (see dns_update_int.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <sys/socket.h>

#include "io/dns_int.h"
#include "io/dns_update_int.h"

#define DNS_HEADER_LEN 12 /* RFC 1035 §4.1.1 */
#define OPCODE_UPDATE 5	  /* RFC 2136 §1.3 */
#define TSIG_BADSIG 16	  /* RFC 8945 §5.3.2 */
#define TSIG_BADKEY 17
#define TSIG_BADTIME 18
#define TSIG_ROOM 1024    /* bytes kept for the TSIG record and ldns's digest of it */

struct mts_dns_update_msg {
	uint16_t id;
	unsigned char *wire;
	size_t len;
	char zone[MTS_DNS_UPDATE_NAME_MAX + 2];
	ldns_rdf *mac; /* our request's MAC: the answer's MAC covers it */
	struct mts_dns_update_key key;
};

struct mts_dns_update {
	struct bufferevent *bev;
	struct event *timer;
	struct mts_dns_update_msg *msg;
	mts_dns_update_cb cb;
	void *arg;
	char server[80];
	struct timespec started;
};

const char *mts_dns_update_status_name(enum mts_dns_update_status s)
{
	switch (s) {
	case MTS_DNS_UPDATE_OK: return "ok";
	case MTS_DNS_UPDATE_REJECTED: return "rejected";
	case MTS_DNS_UPDATE_TIMEOUT: return "timeout";
	case MTS_DNS_UPDATE_NETWORK: return "network";
	case MTS_DNS_UPDATE_BADRESPONSE: return "bad-response";
	}
	return "unknown";
}

const char *mts_dns_update_rcode_name(int rcode)
{
	static const char *const names[] = {
	    "NOERROR",	"FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",   "REFUSED",
	    "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE",  "DSOTYPENI",
	    NULL,	NULL,	   NULL,       NULL,	   "BADSIG",   "BADKEY",
	    "BADTIME",	"BADMODE", "BADNAME",  "BADALG",   "BADTRUNC", "BADCOOKIE",
	};
	if (rcode < 0 || (size_t)rcode >= sizeof(names) / sizeof(names[0]))
		return NULL;
	return names[rcode];
}

/* -------------------------------------------------------------- building */

/* One TXT RDATA: value cut into 255-byte character-strings (at least one). */
static ldns_rr *txt_rr(ldns_rdf *owner, uint32_t ttl, ldns_rr_class klass, const char *value)
{
	ldns_rr *rr = ldns_rr_new();
	if (!rr)
		return NULL;
	ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
	ldns_rr_set_type(rr, LDNS_RR_TYPE_TXT);
	ldns_rr_set_class(rr, klass);
	ldns_rr_set_ttl(rr, ttl);
	if (!ldns_rr_owner(rr))
		goto fail;
	size_t n = strlen(value), at = 0;
	do {
		size_t chunk =
		    n - at > MTS_DNS_UPDATE_STRING_MAX ? MTS_DNS_UPDATE_STRING_MAX : n - at;
		uint8_t buf[MTS_DNS_UPDATE_STRING_MAX + 1];
		buf[0] = (uint8_t)chunk;
		memcpy(buf + 1, value + at, chunk);
		ldns_rdf *rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_STR, chunk + 1, buf);
		if (!rdf || !ldns_rr_push_rdf(rr, rdf)) {
			ldns_rdf_deep_free(rdf);
			goto fail;
		}
		at += chunk;
	} while (at < n);
	return rr;
fail:
	ldns_rr_free(rr);
	return NULL;
}

/* An RR with no RDATA: the "RRset exists / does not exist" prerequisites and
 * "delete an RRset" (RFC 2136 §2.4.1, §2.4.3, §2.5.2). */
static ldns_rr *empty_rr(ldns_rdf *owner, ldns_rr_class klass)
{
	ldns_rr *rr = ldns_rr_new();
	if (!rr)
		return NULL;
	ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
	ldns_rr_set_type(rr, LDNS_RR_TYPE_TXT);
	ldns_rr_set_class(rr, klass);
	ldns_rr_set_ttl(rr, 0);
	if (!ldns_rr_owner(rr)) {
		ldns_rr_free(rr);
		return NULL;
	}
	return rr;
}

static bool push(ldns_rr_list *list, ldns_rr *rr)
{
	if (rr && ldns_rr_list_push_rr(list, rr))
		return true;
	ldns_rr_free(rr);
	return false;
}

static bool fill_lists(const struct mts_dns_update_change *c, ldns_rdf *owner, ldns_rr_list *pr,
		       ldns_rr_list *up)
{
	switch (c->prereq) {
	case MTS_DNS_UPDATE_PREREQ_NONE: break;
	case MTS_DNS_UPDATE_PREREQ_TXT_IS: /* §2.4.2: class IN, TTL 0, the whole RRset */
		for (size_t i = 0; i < c->prereq_count; i++)
			if (!push(pr, txt_rr(owner, 0, LDNS_RR_CLASS_IN, c->prereq_values[i])))
				return false;
		break;
	case MTS_DNS_UPDATE_PREREQ_TXT_EXISTS:
		if (!push(pr, empty_rr(owner, LDNS_RR_CLASS_ANY)))
			return false;
		break;
	case MTS_DNS_UPDATE_PREREQ_TXT_ABSENT:
		if (!push(pr, empty_rr(owner, LDNS_RR_CLASS_NONE)))
			return false;
		break;
	}
	if (!push(up, empty_rr(owner, LDNS_RR_CLASS_ANY)))
		return false;
	if (c->action == MTS_DNS_UPDATE_SET_TXT)
		for (size_t i = 0; i < c->value_count; i++)
			if (!push(up, txt_rr(owner, c->ttl, LDNS_RR_CLASS_IN, c->values[i])))
				return false;
	return true;
}

void mts_dns_update_msg_free(struct mts_dns_update_msg *m)
{
	if (!m)
		return;
	free(m->wire);
	ldns_rdf_deep_free(m->mac);
	mts_dns_update_key_clear(&m->key);
	free(m);
}

const unsigned char *mts_dns_update_msg_wire(const struct mts_dns_update_msg *m, size_t *len)
{
	*len = m->len;
	return m->wire;
}

static const char *ldns_alg(enum mts_dns_update_alg alg)
{
	return alg == MTS_DNS_UPDATE_HMAC_SHA512 ? "hmac-sha512." : "hmac-sha256.";
}

struct mts_dns_update_msg *mts_dns_update_msg_new(const struct mts_dns_update_change *c,
						  const struct mts_dns_update_key *key, uint16_t id,
						  struct mts_error *err)
{
	char name[MTS_DNS_UPDATE_NAME_MAX + 2], too_big[128];
	if (!key || !key->name[0] || !key->secret[0]) {
		mts_error_set(err, MTS_EUSAGE, "no TSIG key");
		return NULL;
	}
	struct mts_dns_update_msg *m = calloc(1, sizeof(*m));
	if (!m) {
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	if (mts_dns_update_change_norm(c, m->zone, name, err) < 0) {
		free(m);
		return NULL;
	}
	m->id = id;
	m->key = *key;
	ldns_rdf *zone_rdf = ldns_dname_new_frm_str(m->zone);
	ldns_rdf *owner = ldns_dname_new_frm_str(name);
	ldns_rr_list *pr = ldns_rr_list_new(), *up = ldns_rr_list_new();
	ldns_pkt *pkt = NULL;
	const char *failed = "out of memory";
	int code = MTS_ENOMEM;
	if (!zone_rdf || !owner || !pr || !up || !fill_lists(c, owner, pr, up))
		goto fail;
	pkt = ldns_update_pkt_new(zone_rdf, LDNS_RR_CLASS_IN, pr, up, NULL);
	zone_rdf = NULL; /* owned by pkt now (or freed) */
	if (!pkt)
		goto fail;
	ldns_pkt_set_id(pkt, id);
	ldns_pkt_set_rd(pkt, false); /* RFC 2136 §2.2: the header bits other than opcode are zero */
	/* ldns digests the message for its TSIG into a buffer of 65535 bytes and
	 * asserts (or overruns) past it: measure first, and leave room for the
	 * TSIG record (key name, algorithm, MAC: well under TSIG_ROOM). */
	uint8_t *unsigned_wire = NULL;
	size_t unsigned_len = 0;
	ldns_status st = ldns_pkt2wire(&unsigned_wire, pkt, &unsigned_len);
	free(unsigned_wire);
	if (st != LDNS_STATUS_OK) {
		failed = ldns_get_errorstr_by_id(st);
		goto fail;
	}
	if (unsigned_len + TSIG_ROOM > MTS_DNS_UPDATE_RESPONSE_MAX) {
		snprintf(too_big, sizeof(too_big),
			 "it would be %zu bytes with its signature, more than one DNS message "
			 "holds (%d)",
			 unsigned_len + TSIG_ROOM, MTS_DNS_UPDATE_RESPONSE_MAX);
		failed = too_big;
		code = MTS_ETOOBIG;
		goto fail;
	}
	st = ldns_pkt_tsig_sign(pkt, m->key.name, m->key.secret, MTS_DNS_UPDATE_FUDGE,
				ldns_alg(m->key.alg), NULL);
	if (st != LDNS_STATUS_OK) {
		failed = ldns_get_errorstr_by_id(st);
		code = st == LDNS_STATUS_MEM_ERR ? MTS_ENOMEM : MTS_EINVAL;
		goto fail;
	}
	ldns_rr *tsig = ldns_pkt_tsig(pkt);
	m->mac = tsig && ldns_rr_rd_count(tsig) > 3 ? ldns_rdf_clone(ldns_rr_rdf(tsig, 3)) : NULL;
	uint8_t *wire = NULL;
	size_t len = 0;
	st = ldns_pkt2wire(&wire, pkt, &len);
	if (st != LDNS_STATUS_OK || !m->mac) {
		free(wire);
		failed = st != LDNS_STATUS_OK ? ldns_get_errorstr_by_id(st) : "no MAC";
		goto fail;
	}
	if (len > MTS_DNS_UPDATE_RESPONSE_MAX) {
		free(wire);
		failed = "the message is longer than 65535 bytes";
		code = MTS_ETOOBIG;
		goto fail;
	}
	m->wire = wire;
	m->len = len;
	ldns_pkt_free(pkt);
	ldns_rr_list_deep_free(pr);
	ldns_rr_list_deep_free(up);
	ldns_rdf_deep_free(owner);
	return m;
fail:
	mts_error_set(err, code, "cannot build the update of %s: %s", name,
		      failed ? failed : "ldns error");
	ldns_pkt_free(pkt);
	ldns_rr_list_deep_free(pr);
	ldns_rr_list_deep_free(up);
	ldns_rdf_deep_free(owner);
	ldns_rdf_deep_free(zone_rdf);
	mts_dns_update_msg_free(m);
	return NULL;
}

/* -------------------------------------------------------------- checking */

static void judge(struct mts_dns_update_result *res, enum mts_dns_update_status status,
		  const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void judge(struct mts_dns_update_result *res, enum mts_dns_update_status status,
		  const char *fmt, ...)
{
	va_list ap;
	res->status = status;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
}

static void set_rcode(struct mts_dns_update_result *res, int rcode)
{
	res->rcode = rcode;
	const char *n = mts_dns_update_rcode_name(rcode);
	if (n)
		snprintf(res->rcode_name, sizeof(res->rcode_name), "%s", n);
	else
		snprintf(res->rcode_name, sizeof(res->rcode_name), "RCODE%d", rcode);
}

/* The answer's sections must parse, and the TSIG, when there is one, be the
 * last record of the additional section (RFC 8945 §5.2: anything else is a
 * malformed message). Checked on the wire before ldns_wire2pkt() builds the
 * packet, which would keep only one of several TSIG records. Returns 0, 1
 * when the last record is a TSIG, or an ldns status (negative). */
static int walk(const unsigned char *wire, size_t len, ldns_status *status)
{
	size_t pos = DNS_HEADER_LEN;
	unsigned counts[4] = {(unsigned)wire[4] << 8 | wire[5], (unsigned)wire[6] << 8 | wire[7],
			      (unsigned)wire[8] << 8 | wire[9], (unsigned)wire[10] << 8 | wire[11]};
	static const ldns_pkt_section sections[4] = {LDNS_SECTION_QUESTION, LDNS_SECTION_ANSWER,
						     LDNS_SECTION_AUTHORITY,
						     LDNS_SECTION_ADDITIONAL};
	int tsig_last = 0;
	for (int s = 0; s < 4; s++)
		for (unsigned i = 0; i < counts[s]; i++) {
			ldns_rr *rr = NULL;
			ldns_status st = ldns_wire2rr(&rr, wire, len, &pos, sections[s]);
			if (st != LDNS_STATUS_OK) {
				*status = st;
				return -1;
			}
			bool is_tsig = ldns_rr_get_type(rr) == LDNS_RR_TYPE_TSIG;
			ldns_rr_free(rr);
			if (is_tsig && (s != 3 || i + 1 != counts[s])) {
				*status = LDNS_STATUS_ERR;
				return -2;
			}
			tsig_last = is_tsig;
		}
	return tsig_last;
}

static uint64_t tsig_time(const ldns_rdf *rdf)
{
	const uint8_t *d = ldns_rdf_data(rdf);
	if (ldns_rdf_size(rdf) != 6)
		return 0;
	uint64_t t = 0;
	for (int i = 0; i < 6; i++)
		t = t << 8 | d[i];
	return t;
}

static const char *why_rejected(int rcode)
{
	switch (rcode) {
	case LDNS_RCODE_FORMERR: return "the server could not parse the update";
	case LDNS_RCODE_SERVFAIL: return "the server failed to apply the update";
	case LDNS_RCODE_NOTIMPL: return "the server does not do dynamic updates";
	case LDNS_RCODE_REFUSED:
		return "the server refused the update (policy, or not "
		       "authoritative for the zone)";
	case LDNS_RCODE_YXDOMAIN: return "a prerequisite does not hold: the name exists";
	case LDNS_RCODE_YXRRSET: return "a prerequisite does not hold: the TXT RRset exists";
	case LDNS_RCODE_NXRRSET:
		return "a prerequisite does not hold: the TXT RRset is not as "
		       "expected";
	case LDNS_RCODE_NOTAUTH:
		return "the server is not authoritative for the zone, or our "
		       "key may not update it";
	case LDNS_RCODE_NOTZONE: return "the name is not inside the zone";
	case TSIG_BADSIG: return "the server rejected our signature (wrong secret?)";
	case TSIG_BADKEY:
		return "the server does not accept this key (unknown name or "
		       "algorithm, or no right to update)";
	case TSIG_BADTIME: return "the server's clock and ours differ by more than the fudge";
	}
	return "the server rejected the update";
}

static void check_pkt(const struct mts_dns_update_msg *m, ldns_pkt *pkt, const unsigned char *resp,
		      size_t len, long long now, struct mts_dns_update_result *res)
{
	int rcode = ldns_pkt_get_rcode(pkt) | (int)ldns_pkt_edns_extended_rcode(pkt) << 4;
	set_rcode(res, rcode);
	/* RFC 2136 §3.8: the answer repeats our zone section (or has none). */
	if (ldns_pkt_qdcount(pkt) > 1) {
		judge(res, MTS_DNS_UPDATE_BADRESPONSE, "the answer names %u zones, not one",
		      (unsigned)ldns_pkt_qdcount(pkt));
		return;
	}
	if (ldns_pkt_qdcount(pkt) == 1) {
		const ldns_rr *q = ldns_rr_list_rr(ldns_pkt_question(pkt), 0);
		ldns_rdf *zone = ldns_dname_new_frm_str(m->zone);
		bool same = q && zone && ldns_rr_owner(q) &&
			    ldns_dname_compare(ldns_rr_owner(q), zone) == 0;
		ldns_rdf_deep_free(zone);
		if (!same) {
			judge(res, MTS_DNS_UPDATE_BADRESPONSE,
			      "the answer is not about our zone %s", m->zone);
			return;
		}
	}
	ldns_rr *tsig = ldns_pkt_tsig(pkt);
	if (!tsig) {
		judge(res, MTS_DNS_UPDATE_BADRESPONSE,
		      "the answer (%s%s%s) is not signed: refused, the update may or may not "
		      "have been applied",
		      res->rcode_name, rcode ? ": " : "", rcode ? why_rejected(rcode) : "");
		return;
	}
	if (ldns_rr_rd_count(tsig) < 7) {
		judge(res, MTS_DNS_UPDATE_BADRESPONSE, "the answer's TSIG record is malformed");
		return;
	}
	char *owner = ldns_rdf2str(ldns_rr_owner(tsig));
	char *alg = ldns_rdf2str(ldns_rr_rdf(tsig, 0));
	bool same_key = owner && strcasecmp(owner, m->key.name) == 0;
	bool same_alg = alg && strcasecmp(alg, ldns_alg(m->key.alg)) == 0;
	free(owner);
	free(alg);
	if (!same_key || !same_alg) {
		judge(res, MTS_DNS_UPDATE_BADRESPONSE,
		      "the answer is signed with another %s than ours (%s %s)",
		      same_key ? "algorithm" : "key", mts_dns_update_alg_name(m->key.alg),
		      m->key.name);
		return;
	}
	const ldns_rdf *mac = ldns_rr_rdf(tsig, 3);
	const ldns_rdf *error = ldns_rr_rdf(tsig, 5);
	int tsig_error = ldns_rdf_size(error) == 2 ? (int)ldns_rdf2native_int16(error) : -1;
	/* MAC rdata is a 2-byte length and the MAC: an empty one is 2 bytes. */
	bool mac_empty = ldns_rdf_size(mac) <= 2;
	if (tsig_error > 0 && mac_empty &&
	    (tsig_error == TSIG_BADSIG || tsig_error == TSIG_BADKEY || tsig_error == TSIG_BADTIME ||
	     tsig_error == 22 /* BADTRUNC */)) {
		/* RFC 8945 §5.3.2: the server could not check us, so it cannot sign. */
		set_rcode(res, tsig_error);
		judge(res, MTS_DNS_UPDATE_REJECTED, "%s: %s (key %s; the answer is unsigned)",
		      res->rcode_name, why_rejected(tsig_error), m->key.name);
		return;
	}
	if (!ldns_pkt_tsig_verify(pkt, resp, len, m->key.name, m->key.secret, m->mac)) {
		judge(res, MTS_DNS_UPDATE_BADRESPONSE,
		      "the answer's TSIG does not verify with key %s: refused", m->key.name);
		return;
	}
	uint64_t signed_at = tsig_time(ldns_rr_rdf(tsig, 1));
	uint16_t fudge = ldns_rdf_size(ldns_rr_rdf(tsig, 2)) == 2
			     ? ldns_rdf2native_int16(ldns_rr_rdf(tsig, 2))
			     : 0;
	if (fudge > MTS_DNS_UPDATE_FUDGE)
		fudge = MTS_DNS_UPDATE_FUDGE;
	long long skew = now - (long long)signed_at;
	if (skew > fudge || -skew > fudge) {
		judge(res, MTS_DNS_UPDATE_BADRESPONSE,
		      "the answer was signed %lld s from now, more than the fudge (%u s): refused",
		      skew, (unsigned)fudge);
		return;
	}
	res->verified = true;
	if (tsig_error > 0) {
		set_rcode(res, tsig_error);
		judge(res, MTS_DNS_UPDATE_REJECTED, "%s: %s", res->rcode_name,
		      why_rejected(tsig_error));
		return;
	}
	if (rcode != LDNS_RCODE_NOERROR) {
		judge(res, MTS_DNS_UPDATE_REJECTED, "%s: %s", res->rcode_name, why_rejected(rcode));
		return;
	}
	judge(res, MTS_DNS_UPDATE_OK, "NOERROR: the update of zone %s was applied", m->zone);
}

void mts_dns_update_msg_check(const struct mts_dns_update_msg *m, const unsigned char *resp,
			      size_t len, long long now, struct mts_dns_update_result *res)
{
	memset(res, 0, sizeof(*res));
	res->rcode = -1;
	if (len < DNS_HEADER_LEN) {
		judge(res, MTS_DNS_UPDATE_BADRESPONSE,
		      "the answer is %zu bytes, shorter than a DNS header", len);
		return;
	}
	/* An answer to an update repeats the zone and carries a TSIG: about
	 * 100 bytes. Near 64 KiB, ldns's TSIG check would digest it with our
	 * request's MAC into a buffer of 65535 bytes and abort. */
	if (len > MTS_DNS_UPDATE_RESPONSE_MAX - TSIG_ROOM) {
		judge(res, MTS_DNS_UPDATE_BADRESPONSE,
		      "the answer is %zu bytes, too long for an answer to an update (at most %d)",
		      len, MTS_DNS_UPDATE_RESPONSE_MAX - TSIG_ROOM);
		return;
	}
	unsigned id = (unsigned)resp[0] << 8 | resp[1];
	unsigned opcode = (resp[2] >> 3) & 0x0f;
	if (id != m->id) {
		judge(res, MTS_DNS_UPDATE_BADRESPONSE, "the answer's ID %u is not our request's %u",
		      id, (unsigned)m->id);
		return;
	}
	if (!(resp[2] & 0x80)) {
		judge(res, MTS_DNS_UPDATE_BADRESPONSE, "the answer is not a response (QR is 0)");
		return;
	}
	if (opcode != OPCODE_UPDATE) {
		judge(res, MTS_DNS_UPDATE_BADRESPONSE, "the answer's opcode is %u, not UPDATE (5)",
		      opcode);
		return;
	}
	ldns_status st = LDNS_STATUS_OK;
	int shape = walk(resp, len, &st);
	if (shape == -2) {
		judge(res, MTS_DNS_UPDATE_BADRESPONSE,
		      "malformed answer: a TSIG record that is not the last record");
		return;
	}
	if (shape < 0) {
		judge(res, MTS_DNS_UPDATE_BADRESPONSE, "malformed answer: %s",
		      ldns_get_errorstr_by_id(st) ? ldns_get_errorstr_by_id(st) : "ldns error");
		return;
	}
	ldns_pkt *pkt = NULL;
	st = ldns_wire2pkt(&pkt, resp, len);
	if (st != LDNS_STATUS_OK || !pkt) {
		judge(res, MTS_DNS_UPDATE_BADRESPONSE, "malformed answer: %s",
		      ldns_get_errorstr_by_id(st) ? ldns_get_errorstr_by_id(st) : "ldns error");
		ldns_pkt_free(pkt);
		return;
	}
	check_pkt(m, pkt, resp, len, now, res);
	ldns_pkt_free(pkt);
}

/* -------------------------------------------------------------- exchange */

static void update_free(struct mts_dns_update *u)
{
	if (u->bev)
		bufferevent_free(u->bev);
	if (u->timer)
		event_free(u->timer);
	mts_dns_update_msg_free(u->msg);
	free(u);
}

void mts_dns_update_cancel(struct mts_dns_update *u)
{
	if (u)
		update_free(u);
}

/* Free first, then call back: the callback may start the next change or
 * free the loop's other objects without meeting this one half-alive. */
static void finish(struct mts_dns_update *u, struct mts_dns_update_result *res)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ms = (long long)(now.tv_sec - u->started.tv_sec) * 1000 +
		       (now.tv_nsec - u->started.tv_nsec) / 1000000;
	res->elapsed_ms = ms < 0 ? 0 : (unsigned)ms;
	mts_dns_update_cb cb = u->cb;
	void *arg = u->arg;
	update_free(u);
	cb(res, arg);
}

static void fail(struct mts_dns_update *u, enum mts_dns_update_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct mts_dns_update *u, enum mts_dns_update_status status, const char *fmt, ...)
{
	struct mts_dns_update_result res = {.status = status, .rcode = -1};
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res.message, sizeof(res.message), fmt, ap);
	va_end(ap);
	finish(u, &res);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct mts_dns_update *u = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	unsigned char prefix[2];
	if (evbuffer_copyout(in, prefix, 2) < 2)
		return;
	size_t want = (size_t)prefix[0] << 8 | prefix[1];
	if (evbuffer_get_length(in) < 2 + want)
		return;
	unsigned char *resp = evbuffer_pullup(in, (ev_ssize_t)(2 + want));
	if (!resp) {
		fail(u, MTS_DNS_UPDATE_NETWORK, "out of memory reading the answer");
		return;
	}
	struct mts_dns_update_result res;
	mts_dns_update_msg_check(u->msg, resp + 2, want, (long long)time(NULL), &res);
	finish(u, &res);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct mts_dns_update *u = arg;
	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_EOF) {
		size_t got = evbuffer_get_length(bufferevent_get_input(bev));
		fail(u, MTS_DNS_UPDATE_NETWORK,
		     "%s closed the connection before a complete answer (%zu bytes received)",
		     u->server, got);
		return;
	}
	int e = EVUTIL_SOCKET_ERROR();
	fail(u, MTS_DNS_UPDATE_NETWORK, "%s: %s", u->server,
	     e ? evutil_socket_error_to_string(e) : "connection error");
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct mts_dns_update *u = arg;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ms = (long long)(now.tv_sec - u->started.tv_sec) * 1000 +
		       (now.tv_nsec - u->started.tv_nsec) / 1000000;
	fail(u, MTS_DNS_UPDATE_TIMEOUT, "%s: no complete answer within %lld ms", u->server, ms);
}

static int server_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *len, char *label,
		       size_t label_cap)
{
	char addr[64];
	unsigned port;
	if (!spec || mts_dns_resolver_parse(spec, addr, sizeof(addr), &port) < 0)
		return -1;
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
		snprintf(label, label_cap, "%s@%u", addr, port);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
		snprintf(label, label_cap, "%s@%u", addr, port);
	} else {
		return -1;
	}
	return 0;
}

struct mts_dns_update *mts_dns_update_start(struct event_base *base,
					    const struct mts_dns_update_opts *opts,
					    const struct mts_dns_update_change *c,
					    mts_dns_update_cb cb, void *arg, struct mts_error *err)
{
	struct sockaddr_storage ss;
	socklen_t ss_len = 0;
	char label[80];
	if (!base || !opts || !c || !cb) {
		mts_error_set(err, MTS_EUSAGE, "mts_dns_update_start: missing argument");
		return NULL;
	}
	if (server_addr(opts->server, &ss, &ss_len, label, sizeof(label)) < 0) {
		mts_error_set(err, MTS_EINVAL, "server '%s' is not ADDR or ADDR@PORT",
			      opts->server ? opts->server : "");
		return NULL;
	}
	uint16_t id;
	if (RAND_bytes((unsigned char *)&id, sizeof(id)) != 1) {
		mts_error_set(err, MTS_EIO, "no random bytes for the message ID");
		return NULL;
	}
	struct mts_dns_update_msg *msg = mts_dns_update_msg_new(c, opts->key, id, err);
	if (!msg)
		return NULL;
	struct mts_dns_update *u = calloc(1, sizeof(*u));
	if (!u) {
		mts_dns_update_msg_free(msg);
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	u->msg = msg;
	u->cb = cb;
	u->arg = arg;
	snprintf(u->server, sizeof(u->server), "%s", label);
	clock_gettime(CLOCK_MONOTONIC, &u->started);
	u->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	u->timer = evtimer_new(base, on_timeout, u);
	if (!u->bev || !u->timer) {
		update_free(u);
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	unsigned char prefix[2] = {(unsigned char)(msg->len >> 8), (unsigned char)msg->len};
	struct evbuffer *out = bufferevent_get_output(u->bev);
	if (evbuffer_add(out, prefix, 2) < 0 || evbuffer_add(out, msg->wire, msg->len) < 0) {
		update_free(u);
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	/* Never hold more than one maximal answer and its prefix. */
	bufferevent_setwatermark(u->bev, EV_READ, 0, 2 + MTS_DNS_UPDATE_RESPONSE_MAX);
	bufferevent_setcb(u->bev, on_read, NULL, on_event, u);
	bufferevent_enable(u->bev, EV_READ | EV_WRITE);
	unsigned ms = opts->timeout_ms ? opts->timeout_ms : MTS_DNS_UPDATE_TIMEOUT_MS_DEFAULT;
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	evtimer_add(u->timer, &tv);
	if (bufferevent_socket_connect(u->bev, (const struct sockaddr *)&ss, (int)ss_len) < 0) {
		mts_error_set(err, MTS_EIO, "cannot connect to %s: %s", label, strerror(errno));
		update_free(u);
		return NULL;
	}
	return u;
}
