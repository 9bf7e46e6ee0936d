/* dns.c - libunbound lookups on a libevent loop (see dns.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <unbound.h>

#include "io/dns_int.h"

struct mts_dns {
	struct event_base *base;
	struct ub_ctx *ctx;
	struct event *fd_event;
	unsigned timeout_ms;
	bool validating;              /* a trust anchor is loaded: DNSSEC states mean something */
	struct mts_dns_query *queries; /* outstanding, doubly linked */
};

struct mts_dns_query {
	struct mts_dns *dns;
	struct mts_dns_query *prev, *next;
	char *name;
	enum mts_dns_type type;
	int async_id;
	struct event *timer;
	mts_dns_cb cb;
	void *arg;
};

const char *mts_dns_status_name(enum mts_dns_status s)
{
	switch (s) {
	case MTS_DNS_OK: return "ok";
	case MTS_DNS_NODATA: return "nodata";
	case MTS_DNS_NXDOMAIN: return "nxdomain";
	case MTS_DNS_SERVFAIL: return "servfail";
	case MTS_DNS_TIMEOUT: return "timeout";
	case MTS_DNS_FAILED: return "failed";
	}
	return "unknown";
}

const char *mts_dnssec_name(enum mts_dnssec s)
{
	switch (s) {
	case MTS_DNSSEC_SECURE: return "secure";
	case MTS_DNSSEC_BOGUS: return "bogus";
	case MTS_DNSSEC_INSECURE: return "insecure";
	case MTS_DNSSEC_UNKNOWN: break;
	}
	return "unknown";
}

int mts_dns_txt_join(const unsigned char *rdata, size_t len, char *out, size_t cap,
		     unsigned *strings)
{
	size_t pos = 0, used = 0;
	unsigned n = 0;
	if (cap == 0)
		return MTS_ETOOBIG;
	while (pos < len) {
		size_t slen = rdata[pos++];
		if (slen > len - pos) {
			out[0] = '\0';
			return MTS_EPROTO;
		}
		if (slen >= cap - used) {
			out[0] = '\0';
			return MTS_ETOOBIG;
		}
		memcpy(out + used, rdata + pos, slen);
		used += slen;
		pos += slen;
		n++;
	}
	out[used] = '\0';
	if (strings)
		*strings = n;
	return (int)used;
}

int mts_dns_resolver_parse(const char *spec, char *addr, size_t addr_cap, unsigned *port)
{
	const char *at = strchr(spec, '@');
	size_t alen = at ? (size_t)(at - spec) : strlen(spec);
	*port = 53;
	if (alen == 0 || alen >= addr_cap)
		return MTS_EINVAL;
	memcpy(addr, spec, alen);
	addr[alen] = '\0';
	unsigned char buf[16];
	if (inet_pton(AF_INET, addr, buf) != 1 && inet_pton(AF_INET6, addr, buf) != 1)
		return MTS_EINVAL;
	if (at) {
		const char *p = at + 1;
		unsigned long v = 0;
		if (!*p || strlen(p) > 5)
			return MTS_EINVAL;
		for (; *p; p++) {
			if (!isdigit((unsigned char)*p))
				return MTS_EINVAL;
			v = v * 10 + (unsigned long)(*p - '0');
		}
		if (v == 0 || v > 65535)
			return MTS_EINVAL;
		*port = (unsigned)v;
	}
	return 0;
}

/* Uncompressed wire-format name -> lowercase text without the final dot. */
static int wire_name(const unsigned char *p, size_t len, char *out, size_t cap)
{
	size_t pos = 0, used = 0;
	while (pos < len) {
		size_t l = p[pos++];
		if (l == 0) {
			out[used] = '\0';
			return 0;
		}
		if (l > 63 || l > len - pos || used + l + 2 > cap)
			return MTS_EPROTO;
		if (used)
			out[used++] = '.';
		for (size_t i = 0; i < l; i++)
			out[used++] = (char)tolower(p[pos + i]);
		pos += l;
	}
	return MTS_EPROTO;
}

static void query_unlink(struct mts_dns_query *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		q->dns->queries = q->next;
	if (q->next)
		q->next->prev = q->prev;
}

static void query_free(struct mts_dns_query *q)
{
	query_unlink(q);
	/* Watch the fd only while queries are out, so that an idle resolver
	 * does not keep the caller's loop running. */
	if (!q->dns->queries && q->dns->fd_event)
		event_del(q->dns->fd_event);
	if (q->timer)
		event_free(q->timer);
	free(q->name);
	free(q);
}

static void deliver_failure(struct mts_dns_query *q, enum mts_dns_status st, int rcode,
			    const char *msg)
{
	struct mts_dns_result r = {.name = q->name, .type = q->type, .status = st, .rcode = rcode};
	snprintf(r.message, sizeof(r.message), "%s", msg);
	mts_dns_cb cb = q->cb;
	void *arg = q->arg;
	query_free(q);
	cb(&r, arg);
}

static void fill_records(struct mts_dns_query *q, struct ub_result *u, struct mts_dns_result *r,
			 void *arrays, char *txt_store)
{
	size_t n = 0;
	for (size_t i = 0; u->data[i]; i++) {
		if (n == MTS_DNS_MAX_RECORDS) {
			r->truncated = true;
			break;
		}
		const unsigned char *d = (const unsigned char *)u->data[i];
		size_t len = (size_t)u->len[i];
		switch (q->type) {
		case MTS_DNS_TXT: {
			/* The joined text is shorter than the RDATA (one length byte per
			 * string), so len + 1 bytes hold it: no cap of our own. */
			struct mts_dns_txt *t = (struct mts_dns_txt *)arrays + n;
			char *slot = txt_store;
			unsigned strings = 0;
			int got = mts_dns_txt_join(d, len, slot, len + 1, &strings);
			if (got < 0)
				continue;
			txt_store += (size_t)got + 1;
			*t = (struct mts_dns_txt){.text = slot, .len = (size_t)got, .strings = strings};
			break;
		}
		case MTS_DNS_MX: {
			struct mts_dns_mx *m = (struct mts_dns_mx *)arrays + n;
			if (len < 3 || wire_name(d + 2, len - 2, m->host, sizeof(m->host)) < 0)
				continue;
			m->preference = (uint16_t)(d[0] << 8 | d[1]);
			break;
		}
		case MTS_DNS_A:
		case MTS_DNS_AAAA: {
			struct mts_dns_addr *a = (struct mts_dns_addr *)arrays + n;
			size_t want = q->type == MTS_DNS_A ? 4 : 16;
			if (len != want)
				continue;
			a->family = q->type == MTS_DNS_A ? AF_INET : AF_INET6;
			memcpy(a->addr, d, want);
			inet_ntop(a->family, a->addr, a->text, sizeof(a->text));
			break;
		}
		case MTS_DNS_TLSA: {
			struct mts_dns_tlsa *t = (struct mts_dns_tlsa *)arrays + n;
			if (len < 3)
				continue;
			*t = (struct mts_dns_tlsa){.usage = d[0], .selector = d[1],
						   .matching_type = d[2], .data = d + 3,
						   .len = len - 3};
			break;
		}
		}
		n++;
	}
	r->count = n;
	if (q->type == MTS_DNS_MX && n == 1 && r->mx[0].preference == 0 && !r->mx[0].host[0])
		r->null_mx = true;
}

/* The answer's name after CNAMEs, when it is not the question's (libunbound
 * may give the question's own name, with a dot): lowercase, no final dot. */
static void canonical_name(const char *qname, const char *canon, char *out, size_t cap)
{
	out[0] = '\0';
	if (!canon)
		return;
	size_t cl = strlen(canon), ql = strlen(qname);
	if (cl && canon[cl - 1] == '.')
		cl--;
	if (ql && qname[ql - 1] == '.')
		ql--;
	if (cl == 0 || cl >= cap || (cl == ql && strncasecmp(canon, qname, cl) == 0))
		return;
	for (size_t i = 0; i < cl; i++)
		out[i] = (char)(canon[i] >= 'A' && canon[i] <= 'Z' ? canon[i] - 'A' + 'a' : canon[i]);
	out[cl] = '\0';
}

static void on_ub_result(void *mydata, int ub_err, struct ub_result *u)
{
	struct mts_dns_query *q = mydata;
	if (ub_err) {
		deliver_failure(q, MTS_DNS_FAILED, -1, ub_strerror(ub_err));
		return;
	}
	struct mts_dns_result r = {.name = q->name, .type = q->type, .rcode = u->rcode,
				   .ttl = u->ttl > 0 ? (uint32_t)u->ttl : 0};
	/* Without a trust anchor nothing was validated: say unknown, not insecure. */
	r.dnssec = !q->dns->validating ? MTS_DNSSEC_UNKNOWN
		   : u->bogus		   ? MTS_DNSSEC_BOGUS
		   : u->secure		   ? MTS_DNSSEC_SECURE
					   : MTS_DNSSEC_INSECURE;
	if (u->bogus && u->why_bogus)
		snprintf(r.message, sizeof(r.message), "%s", u->why_bogus);
	canonical_name(q->name, u->canonname, r.canonname, sizeof(r.canonname));
	void *arrays = NULL;
	char *txt_store = NULL;
	if (u->bogus) {
		r.status = MTS_DNS_SERVFAIL;
	} else if (u->rcode == 3 || u->nxdomain) {
		r.status = MTS_DNS_NXDOMAIN;
	} else if (u->rcode == 2 || u->rcode == 5) {
		r.status = MTS_DNS_SERVFAIL;
		snprintf(r.message, sizeof(r.message), "the resolver answered %s",
			 u->rcode == 2 ? "SERVFAIL" : "REFUSED");
	} else if (u->rcode != 0) {
		r.status = MTS_DNS_FAILED;
		snprintf(r.message, sizeof(r.message), "the resolver answered rcode %d", u->rcode);
	} else if (!u->havedata) {
		r.status = MTS_DNS_NODATA;
	} else {
		size_t total = 0;
		while (u->data[total])
			total++;
		if (total > MTS_DNS_MAX_RECORDS)
			total = MTS_DNS_MAX_RECORDS;
		size_t elem = q->type == MTS_DNS_TXT ? sizeof(struct mts_dns_txt)
			    : q->type == MTS_DNS_MX  ? sizeof(struct mts_dns_mx)
			    : q->type == MTS_DNS_TLSA ? sizeof(struct mts_dns_tlsa)
						      : sizeof(struct mts_dns_addr);
		arrays = calloc(total, elem);
		if (q->type == MTS_DNS_TXT) {
			/* Every record, not only the first total: a malformed
			 * one is skipped and a later one takes its place. */
			size_t bytes = 0;
			for (size_t i = 0; u->data[i]; i++)
				bytes += (size_t)u->len[i] + 1;
			txt_store = malloc(bytes ? bytes : 1);
		}
		if (!arrays || (q->type == MTS_DNS_TXT && !txt_store)) {
			free(arrays);
			free(txt_store);
			ub_resolve_free(u);
			deliver_failure(q, MTS_DNS_FAILED, -1, "out of memory");
			return;
		}
		/* Only the array of the query's type: a caller that reads another
		 * type's records gets NULL, not the same bytes read as garbage. */
		r.txt = q->type == MTS_DNS_TXT ? arrays : NULL;
		r.mx = q->type == MTS_DNS_MX ? arrays : NULL;
		r.addr = q->type == MTS_DNS_A || q->type == MTS_DNS_AAAA ? arrays : NULL;
		r.tlsa = q->type == MTS_DNS_TLSA ? arrays : NULL;
		fill_records(q, u, &r, arrays, txt_store);
		r.status = r.count ? MTS_DNS_OK : MTS_DNS_NODATA;
	}
	mts_dns_cb cb = q->cb;
	void *arg = q->arg;
	query_free(q);
	cb(&r, arg);
	free(arrays);
	free(txt_store);
	ub_resolve_free(u);
}

static void on_ub_fd(evutil_socket_t fd, short what, void *arg)
{
	struct mts_dns *dns = arg;
	ub_process(dns->ctx);
}

static void on_query_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct mts_dns_query *q = arg;
	ub_cancel(q->dns->ctx, q->async_id);
	char msg[80];
	snprintf(msg, sizeof(msg), "no answer within %u ms", q->dns->timeout_ms);
	deliver_failure(q, MTS_DNS_TIMEOUT, -1, msg);
}

struct mts_dns *mts_dns_new(struct event_base *base, const struct mts_dns_opts *opts,
			    struct mts_error *err)
{
	struct mts_dns *dns = calloc(1, sizeof(*dns));
	if (!dns) {
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	dns->base = base;
	dns->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : MTS_DNS_TIMEOUT_MS_DEFAULT;
	dns->ctx = ub_ctx_create();
	if (!dns->ctx) {
		free(dns);
		mts_error_set(err, MTS_EIO, "cannot create the libunbound context");
		return NULL;
	}
	int rc = ub_ctx_async(dns->ctx, 1);
	if (!rc && opts && opts->resolver) {
		char addr[64], fwd[80];
		unsigned port;
		if (mts_dns_resolver_parse(opts->resolver, addr, sizeof(addr), &port) < 0) {
			mts_dns_free(dns);
			mts_error_set(err, MTS_EINVAL, "resolver '%s' is not ADDR or ADDR@PORT",
				      opts->resolver);
			return NULL;
		}
		snprintf(fwd, sizeof(fwd), "%s@%u", addr, port);
		/* A forwarder on loopback (a local cache, the test rig) is normal. */
		rc = ub_ctx_set_option(dns->ctx, "do-not-query-localhost:", "no");
		/* unbound answers the special-use name test. (RFC 6761) itself with
		 * NXDOMAIN; a chosen resolver is asked for it like any other name. */
		if (!rc)
			rc = ub_ctx_set_option(dns->ctx, "local-zone:", "test. transparent");
		if (!rc)
			rc = ub_ctx_set_fwd(dns->ctx, fwd);
	} else if (!rc) {
		rc = ub_ctx_resolvconf(dns->ctx, NULL);
		if (!rc)
			rc = ub_ctx_hosts(dns->ctx, NULL);
	}
	if (!rc && opts && opts->trust_anchor_file) {
		rc = ub_ctx_add_ta_file(dns->ctx, opts->trust_anchor_file);
		dns->validating = rc == 0;
	}
	if (rc) {
		mts_error_set(err, MTS_EIO, "libunbound: %s", ub_strerror(rc));
		mts_dns_free(dns);
		return NULL;
	}
	dns->fd_event = event_new(base, ub_fd(dns->ctx), EV_READ | EV_PERSIST, on_ub_fd, dns);
	if (!dns->fd_event) {
		mts_dns_free(dns);
		mts_error_set(err, MTS_EIO, "cannot watch the libunbound fd");
		return NULL;
	}
	return dns;
}

void mts_dns_free(struct mts_dns *dns)
{
	if (!dns)
		return;
	while (dns->queries) {
		ub_cancel(dns->ctx, dns->queries->async_id);
		query_free(dns->queries);
	}
	if (dns->fd_event)
		event_free(dns->fd_event);
	if (dns->ctx)
		ub_ctx_delete(dns->ctx);
	free(dns);
}

struct mts_dns_query *mts_dns_lookup(struct mts_dns *dns, const char *name, enum mts_dns_type type,
				     mts_dns_cb cb, void *arg, struct mts_error *err)
{
	struct mts_dns_query *q = calloc(1, sizeof(*q));
	if (!q || !(q->name = strdup(name))) {
		free(q);
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	q->dns = dns;
	q->type = type;
	q->cb = cb;
	q->arg = arg;
	q->next = dns->queries;
	if (q->next)
		q->next->prev = q;
	else if (event_add(dns->fd_event, NULL) < 0) {
		free(q->name);
		free(q);
		mts_error_set(err, MTS_EIO, "cannot watch the libunbound fd");
		return NULL;
	}
	dns->queries = q;
	q->timer = evtimer_new(dns->base, on_query_timeout, q);
	struct timeval tv = {dns->timeout_ms / 1000, (dns->timeout_ms % 1000) * 1000};
	if (!q->timer || evtimer_add(q->timer, &tv) < 0) {
		query_free(q);
		mts_error_set(err, MTS_ENOMEM, "cannot arm the query timer");
		return NULL;
	}
	int rc = ub_resolve_async(dns->ctx, name, (int)type, 1 /* IN */, q, on_ub_result,
				  &q->async_id);
	if (rc) {
		query_free(q);
		mts_error_set(err, MTS_EIO, "libunbound: %s", ub_strerror(rc));
		return NULL;
	}
	return q;
}

void mts_dns_cancel(struct mts_dns_query *q)
{
	if (!q)
		return;
	ub_cancel(q->dns->ctx, q->async_id);
	query_free(q);
}
