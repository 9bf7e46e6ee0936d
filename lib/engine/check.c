/* check.c - gather the facts of a live audit on one event loop (see check.h).
 *
 * A job is one domain. Every question or connection in flight is an op on
 * the job's list (so that mts_check_free() can cancel them); job->pending
 * counts them, and when it drops to zero the job turns its measurements into
 * struct mts_audit_facts, asks mts_audit_evaluate() and calls back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "mtasts/check.h"
#include "mtasts/dname.h"
#include "io/https_int.h"
#include "mtasts/policy.h"
#include "mtasts/spf.h"
#include "mtasts/sts_record.h"
#include "core/text_int.h"
#include "io/dns_int.h"
#include "io/smtp_probe_int.h"

#define CHECK_TIMEOUT_MS_DEFAULT 10000u
#define CONNECT_TIMEOUT_MAX_MS 10000u
#define POLICY_PORT 443
#define SMTP_PORT 25
#define HOST_MAX (MTS_DNAME_MAX + 9) /* "mta-sts." + domain */

enum op_kind {
	OP_STS_TXT, OP_TLSRPT_TXT, OP_SPF_TXT, OP_DMARC_TXT, OP_MX,
	OP_HOST_A, OP_HOST_AAAA, OP_MX_A, OP_MX_AAAA, OP_MX_TLSA, OP_SPF_FOLLOW,
	OP_FETCH, OP_HOST_PROBE, OP_MX_WAIT,
};

#define PROBE_CACHE_MAX 1024 /* finished MX probes remembered per mts_check */

struct job;

struct op {
	struct job *job;
	enum op_kind kind;
	size_t index;                     /* MX index, or SPF depth */
	size_t probe;                     /* OP_MX_WAIT: which of the MX host's probes */
	void *handle;                     /* dns query, https fetch, probe or shared probe */
	struct op *prev, *next;
	struct op *wnext;                 /* OP_MX_WAIT: next waiter of the shared probe */
};

/* One STARTTLS probe of an MX host at an address, shared by every domain of
 * this mts_check that uses the host: a batch of domains hosted by the same
 * provider costs one probe per MX host, not one per domain. */
struct shared_probe {
	struct mts_check *c;
	char key[MTS_DNAME_MAX + 80];     /* host|addr|port */
	struct mts_smtp_probe *probe;     /* running, or NULL when done */
	struct op *waiters;
	struct mts_smtp_probe_result res;
	struct shared_probe *next;        /* in insertion order */
};

struct job {
	struct mts_check *c;
	struct job *prev, *next;
	mts_check_cb cb;
	void *arg;
	char domain[MTS_DNAME_MAX + 1];
	char host[HOST_MAX];              /* mta-sts.<domain> */
	unsigned pending;
	struct op *ops;
	struct timespec started;
	struct mts_check_result r;
	struct mts_check_mx mx[MTS_CHECK_MAX_MX];
	unsigned mx_addr_left[MTS_CHECK_MAX_MX];
	unsigned host_addr_left;
	enum mts_dns_status host_status;  /* the worse of the A and AAAA answers */
	size_t host_addr_count;
	struct mts_dns_addr host_addrs[2];
	char *policy_body;
	struct mts_findings findings;
};

struct mts_check {
	struct event_base *base;
	struct mts_dns *dns;
	struct mts_https *https;
	struct mts_https_opts https_opts;
	struct mts_connect_to *connect_to;
	size_t connect_to_count;
	unsigned timeout_ms, smtp_port;
	char *ca_file, *helo_name;
	struct mts_smtp_tls *tls;          /* one trust store for every probe */
	bool no_smtp;
	long long now;
	struct job *jobs;
	size_t pending;
	struct shared_probe *probes, *probes_tail;
	size_t probe_count;
};

/* ------------------------------------------------------------------ ops */

static struct op *op_new(struct job *j, enum op_kind kind, size_t index)
{
	struct op *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->job = j;
	o->kind = kind;
	o->index = index;
	o->next = j->ops;
	if (j->ops)
		j->ops->prev = o;
	j->ops = o;
	j->pending++;
	return o;
}

static void op_unlink(struct op *o)
{
	struct job *j = o->job;
	if (o->prev)
		o->prev->next = o->next;
	else
		j->ops = o->next;
	if (o->next)
		o->next->prev = o->prev;
	free(o);
}

static void op_cancel(struct op *o)
{
	switch (o->kind) {
	case OP_FETCH: mts_https_cancel(o->handle); break;
	case OP_HOST_PROBE: mts_smtp_probe_cancel(o->handle); break;
	case OP_MX_WAIT: {
		struct shared_probe *sp = o->handle;
		for (struct op **w = &sp->waiters; *w; w = &(*w)->wnext)
			if (*w == o) {
				*w = o->wnext;
				break;
			}
		break;
	}
	default: mts_dns_cancel(o->handle); break;
	}
}

static void job_done(struct job *j);

/* An op ended: forget it, and finish the job when it was the last. */
static void op_end(struct op *o)
{
	struct job *j = o->job;
	op_unlink(o);
	if (--j->pending == 0)
		job_done(j);
}

static void dns_cb(const struct mts_dns_result *res, void *arg);

/* Ask a DNS question as an op. A lookup that cannot start is recorded as
 * failed by the caller's handler (through a synthetic result). */
static void ask(struct job *j, enum op_kind kind, size_t index, const char *name,
		enum mts_dns_type type)
{
	struct op *o = op_new(j, kind, index);
	if (!o)
		return; /* out of memory: the fact stays "not answered" */
	struct mts_error err = {0};
	o->handle = mts_dns_lookup(j->c->dns, name, type, dns_cb, o, &err);
	if (!o->handle) {
		/* Callers always hold the job (an op of theirs, or the start), so
		 * the handler's op_end() cannot finish it under their feet. */
		struct mts_dns_result res = {.name = name, .type = type, .status = MTS_DNS_FAILED};
		mts_printable(err.message, strlen(err.message), res.message, sizeof(res.message));
		dns_cb(&res, o);
	}
}

/* ------------------------------------------------------------ helpers */

static unsigned elapsed_ms(const struct timespec *from)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ms = (long long)(now.tv_sec - from->tv_sec) * 1000 +
		       (now.tv_nsec - from->tv_nsec) / 1000000;
	return ms < 0 ? 0 : (unsigned)ms;
}

static void copy_txt(struct mts_check_txt *t, const struct mts_dns_result *res)
{
	t->status = res->status;
	t->dnssec = res->dnssec;
	snprintf(t->message, sizeof(t->message), "%s", res->message);
	for (size_t i = 0; res->status == MTS_DNS_OK && i < res->count && t->count < MTS_CHECK_MAX_TXT;
	     i++) {
		char *s = mts_strndup(res->txt[i].text, res->txt[i].len);
		if (!s)
			break;
		t->txts[t->count] = s;
		t->lens[t->count] = res->txt[i].len;
		t->strings[t->count] = res->txt[i].strings;
		t->count++;
	}
}

static bool answered(enum mts_dns_status s)
{
	return s == MTS_DNS_OK || s == MTS_DNS_NODATA || s == MTS_DNS_NXDOMAIN;
}

/* connect-to: where to connect for host:port (addr "" = resolve normally). */
static void route(const struct mts_check *c, const char *host, unsigned port, char *addr,
		  size_t cap, unsigned *out_port)
{
	addr[0] = '\0';
	*out_port = port;
	for (size_t i = 0; i < c->connect_to_count; i++) {
		const struct mts_connect_to *ct = &c->connect_to[i];
		if (!mts_connect_to_matches(ct, host, port))
			continue;
		if (ct->addr_port)
			*out_port = ct->addr_port;
		snprintf(addr, cap, "%s", ct->addr);
		return;
	}
}

static int sockaddr_of(const char *addr, unsigned port, struct sockaddr_storage *ss,
		       socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*len = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*v6);
		return 0;
	}
	return MTS_EINVAL;
}

static void addr_port_text(const char *addr, unsigned port, char *out, size_t cap)
{
	if (strchr(addr, ':'))
		snprintf(out, cap, "[%s]:%u", addr, port);
	else
		snprintf(out, cap, "%s:%u", addr, port);
}

/* -------------------------------------------------------------- probes */

static void probe_cb(const struct mts_smtp_probe_result *res, void *arg)
{
	struct op *o = arg;
	struct job *j = o->job;
	j->r.policy_host.probe = *res;
	op_end(o);
}

static void shared_probe_cb(const struct mts_smtp_probe_result *res, void *arg)
{
	struct shared_probe *sp = arg;
	sp->probe = NULL;
	sp->res = *res;
	struct op *w = sp->waiters;
	sp->waiters = NULL;
	while (w) {
		struct op *next = w->wnext;
		w->job->mx[w->index].tls[w->probe].probe = *res;
		op_end(w);
		w = next;
	}
}

/* Forget the oldest finished probes beyond PROBE_CACHE_MAX. */
static void shared_probe_trim(struct mts_check *c)
{
	struct shared_probe **pp = &c->probes, *last = NULL;
	while (*pp && c->probe_count > PROBE_CACHE_MAX) {
		struct shared_probe *sp = *pp;
		if (sp->probe) { /* still running */
			last = sp;
			pp = &sp->next;
			continue;
		}
		*pp = sp->next;
		free(sp);
		c->probe_count--;
	}
	c->probes_tail = last;
	for (struct shared_probe *sp = c->probes; sp; sp = sp->next)
		c->probes_tail = sp;
}

/* The policy host: direct TLS on 443, one per domain. */
static void start_host_probe(struct job *j, const char *addr, unsigned port)
{
	struct mts_check_tls *t = &j->r.policy_host;
	t->attempted = true;
	addr_port_text(addr, port, t->address, sizeof(t->address));
	struct mts_smtp_probe_opts po = {
		.host = j->host,
		.ca_file = j->c->ca_file,
		.timeout_ms = j->c->timeout_ms,
		.direct_tls = true,
		.tls = j->c->tls,
	};
	if (sockaddr_of(addr, port, &po.addr, &po.addr_len) < 0) {
		t->probe.reached = MTS_SMTP_STAGE_CONNECT;
		t->probe.error = MTS_EINVAL;
		snprintf(t->probe.message, sizeof(t->probe.message), "'%s' is not an IP address",
			 addr);
		return;
	}
	struct op *o = op_new(j, OP_HOST_PROBE, 0);
	if (!o)
		return;
	struct mts_error err = {0};
	o->handle = mts_smtp_probe_start(j->c->base, &po, probe_cb, o, &err);
	if (!o->handle) {
		t->probe.reached = MTS_SMTP_STAGE_CONNECT;
		t->probe.error = err.code ? err.code : MTS_EIO;
		snprintf(t->probe.message, sizeof(t->probe.message), "%s", err.message);
		op_unlink(o); /* the caller holds the job */
		j->pending--;
	}
}

/* Probe MX host i at addr (its probe number k), or wait for the probe of
 * the same host and address that another domain of this check started. */
static void start_mx_probe(struct job *j, size_t i, size_t k, const char *addr, unsigned port)
{
	struct mts_check *c = j->c;
	struct mts_check_tls *t = &j->mx[i].tls[k];
	t->attempted = true;
	addr_port_text(addr, port, t->address, sizeof(t->address));
	char key[sizeof(((struct shared_probe *)0)->key)];
	snprintf(key, sizeof(key), "%s|%s|%u", j->mx[i].host, addr, port);
	struct shared_probe *sp = c->probes;
	while (sp && strcmp(sp->key, key) != 0)
		sp = sp->next;
	if (sp && !sp->probe) {
		t->probe = sp->res; /* measured already in this run */
		return;
	}
	struct op *o = op_new(j, OP_MX_WAIT, i);
	if (!o)
		return;
	o->probe = k;
	if (!sp) {
		struct mts_smtp_probe_opts po = {
			.host = j->mx[i].host,
			.ca_file = c->ca_file,
			.helo_name = c->helo_name,
			.timeout_ms = c->timeout_ms,
			.tls = c->tls,
		};
		struct mts_error err = {0};
		sp = calloc(1, sizeof(*sp));
		if (sp && sockaddr_of(addr, port, &po.addr, &po.addr_len) < 0) {
			mts_error_set(&err, MTS_EINVAL, "'%s' is not an IP address", addr);
		} else if (sp) {
			sp->c = c;
			memcpy(sp->key, key, sizeof(key));
			sp->probe = mts_smtp_probe_start(c->base, &po, shared_probe_cb, sp, &err);
		}
		if (!sp || !sp->probe) {
			free(sp);
			t->probe.reached = MTS_SMTP_STAGE_CONNECT;
			t->probe.error = sp ? (err.code ? err.code : MTS_EIO) : MTS_ENOMEM;
			snprintf(t->probe.message, sizeof(t->probe.message), "%s",
				 sp ? err.message : "out of memory");
			op_unlink(o); /* the caller holds the job */
			j->pending--;
			return;
		}
		if (c->probes_tail)
			c->probes_tail->next = sp;
		else
			c->probes = sp;
		c->probes_tail = sp;
		if (++c->probe_count > PROBE_CACHE_MAX)
			shared_probe_trim(c);
	}
	o->handle = sp;
	o->wnext = sp->waiters;
	sp->waiters = o;
}

/* --------------------------------------------------------------- fetch */

static void fetch_cb(const struct mts_https_result *res, void *arg)
{
	struct op *o = arg;
	struct job *j = o->job;
	struct mts_check_result *r = &j->r;
	r->fetch = res->failure;
	r->fetch_code = res->code;
	snprintf(r->fetch_message, sizeof(r->fetch_message), "%s", res->message);
	r->http_status = res->http_status;
	snprintf(r->content_type, sizeof(r->content_type), "%s", res->content_type);
	r->fetch_ms = (unsigned)(res->seconds * 1000.0);
	if (res->body) {
		j->policy_body = mts_strndup(res->body, res->body_len);
		if (j->policy_body)
			r->policy_len = res->body_len;
	}
	op_end(o);
}

static void fetch_fail(struct job *j, enum mts_finding_code code, const char *message)
{
	j->r.fetch_attempted = true;
	j->r.fetch = MTS_FETCH_ERROR;
	j->r.fetch_code = code;
	size_t n = strlen(message);
	if (n >= sizeof(j->r.fetch_message))
		n = sizeof(j->r.fetch_message) - 1; /* cut: the host name is in the subject */
	memcpy(j->r.fetch_message, message, n);
	j->r.fetch_message[n] = '\0';
}

/* Fetch the policy from addr and look at the host's certificate there. */
static void start_fetch(struct job *j, const char *addr, unsigned port)
{
	j->r.fetch_attempted = true;
	struct op *o = op_new(j, OP_FETCH, 0);
	if (!o) {
		fetch_fail(j, MTS_F_FETCH_HTTP, "out of memory");
		return;
	}
	struct mts_error err = {0};
	o->handle = mts_https_fetch_policy(j->c->https, j->domain, addr, port, &j->c->https_opts,
					   fetch_cb, o, &err);
	if (!o->handle) {
		fetch_fail(j, MTS_F_FETCH_HTTP, err.message[0] ? err.message : "cannot start");
		op_unlink(o); /* the caller holds the job */
		j->pending--;
	}
	start_host_probe(j, addr, port);
}

/* Both address questions of mta-sts.<domain> are answered. */
static void host_addresses_done(struct job *j)
{
	if (j->host_addr_count) {
		char addr[48], routed[256];
		unsigned port;
		snprintf(addr, sizeof(addr), "%s", j->host_addrs[0].text);
		route(j->c, j->host, POLICY_PORT, routed, sizeof(routed), &port);
		start_fetch(j, addr, port);
		return;
	}
	char message[HOST_MAX + 64];
	if (answered(j->host_status))
		snprintf(message, sizeof(message), "%s has no A or AAAA record", j->host);
	else
		snprintf(message, sizeof(message), "the address lookup of %s failed (%s)", j->host,
			 mts_dns_status_name(j->host_status));
	fetch_fail(j, MTS_F_FETCH_NO_HOST, message);
}

/* ------------------------------------------------------------------ MX */

/* Both address questions of MX host i are answered: probe every address
 * (a sender may use any), or the one --connect-to names. */
static void mx_addresses_done(struct job *j, size_t i)
{
	struct mts_check_mx *mx = &j->mx[i];
	if (j->c->no_smtp)
		return;
	char routed[256];
	unsigned port;
	route(j->c, mx->host, j->c->smtp_port, routed, sizeof(routed), &port);
	size_t n = routed[0] ? 1 : mx->addr_count;
	if (n == 0 || !(mx->tls = calloc(n, sizeof(*mx->tls))))
		return; /* no address, or out of memory: not probed, so not passing */
	mx->tls_count = n;
	if (routed[0]) {
		start_mx_probe(j, i, 0, routed, port);
		return;
	}
	for (size_t k = 0; k < n; k++)
		start_mx_probe(j, i, k, mx->addrs[k].text, port);
}

/* The order addresses are kept and reported in: IPv4 first, then numeric. */
static int addr_cmp(const struct mts_dns_addr *a, const struct mts_dns_addr *b)
{
	if (a->family != b->family)
		return a->family == AF_INET ? -1 : 1;
	return memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16);
}

/* Keep the first MTS_CHECK_MAX_ADDRS addresses in that order, whatever
 * order the answers came in, so the probed set is the same every time. */
static void keep_address(struct mts_check_mx *mx, const struct mts_dns_addr *a)
{
	mx->addr_published++;
	size_t at = 0;
	while (at < mx->addr_count && addr_cmp(&mx->addrs[at], a) < 0)
		at++;
	if (at < mx->addr_count && addr_cmp(&mx->addrs[at], a) == 0)
		return;
	if (at >= MTS_CHECK_MAX_ADDRS)
		return;
	size_t n = mx->addr_count < MTS_CHECK_MAX_ADDRS ? mx->addr_count : MTS_CHECK_MAX_ADDRS - 1;
	memmove(&mx->addrs[at + 1], &mx->addrs[at], (n - at) * sizeof(mx->addrs[0]));
	mx->addrs[at] = *a;
	mx->addr_count = n + 1;
}

static void on_mx(struct job *j, const struct mts_dns_result *res)
{
	struct mts_check_result *r = &j->r;
	r->mx_status = res->status;
	r->mx_dnssec = res->dnssec;
	snprintf(r->mx_message, sizeof(r->mx_message), "%s", res->message);
	if (res->status != MTS_DNS_OK)
		return;
	r->null_mx = res->null_mx;
	r->mx_published = res->count;
	if (res->null_mx)
		return;
	/* Sorted by preference (stable), as a sender tries them. */
	size_t order[MTS_DNS_MAX_RECORDS];
	size_t n = res->count < MTS_DNS_MAX_RECORDS ? res->count : MTS_DNS_MAX_RECORDS;
	for (size_t i = 0; i < n; i++) {
		size_t k = i;
		while (k > 0 && res->mx[order[k - 1]].preference > res->mx[i].preference) {
			order[k] = order[k - 1];
			k--;
		}
		order[k] = i;
	}
	for (size_t i = 0; i < n && r->mx_count < MTS_CHECK_MAX_MX; i++) {
		const struct mts_dns_mx *m = &res->mx[order[i]];
		size_t idx = r->mx_count++;
		struct mts_check_mx *mx = &j->mx[idx];
		snprintf(mx->host, sizeof(mx->host), "%s", m->host);
		mx->preference = m->preference;
		mx->a_status = mx->aaaa_status = mx->tlsa_status = MTS_DNS_FAILED;
		j->mx_addr_left[idx] = 2;
		char name[MTS_DNAME_MAX + 16];
		/* RFC 7672 §3.1.2: TLSA of the SMTP port 25, whatever port we probe. */
		snprintf(name, sizeof(name), "_25._tcp.%s", mx->host);
		ask(j, OP_MX_TLSA, idx, name, MTS_DNS_TLSA);
		ask(j, OP_MX_A, idx, mx->host, MTS_DNS_A);
		ask(j, OP_MX_AAAA, idx, mx->host, MTS_DNS_AAAA);
	}
}

static void on_mx_address(struct job *j, size_t i, const struct mts_dns_result *res)
{
	struct mts_check_mx *mx = &j->mx[i];
	if (res->type == MTS_DNS_A)
		mx->a_status = res->status;
	else
		mx->aaaa_status = res->status;
	for (size_t k = 0; res->status == MTS_DNS_OK && k < res->count; k++)
		keep_address(mx, &res->addr[k]);
	if (res->canonname[0] && !mx->cname[0])
		snprintf(mx->cname, sizeof(mx->cname), "%s", res->canonname);
	if (--j->mx_addr_left[i] == 0)
		mx_addresses_done(j, i);
}

static void on_tlsa(struct job *j, size_t i, const struct mts_dns_result *res)
{
	struct mts_check_mx *mx = &j->mx[i];
	mx->tlsa_status = res->status;
	mx->tlsa_dnssec = res->dnssec;
	for (size_t k = 0; res->status == MTS_DNS_OK && k < res->count; k++) {
		if (mx->tlsa_count >= MTS_CHECK_MAX_TLSA)
			break;
		const struct mts_dns_tlsa *in = &res->tlsa[k];
		struct mts_check_tlsa *t = &mx->tlsa[mx->tlsa_count++];
		t->usage = in->usage;
		t->selector = in->selector;
		t->matching_type = in->matching_type;
		size_t len = in->len < 64 ? in->len : 64;
		memcpy(t->raw, in->data, len);
		t->raw_len = in->len;
		for (size_t b = 0; b < len; b++)
			snprintf(t->data + 2 * b, 3, "%02x", in->data[b]);
	}
}

/* ----------------------------------------------------------------- SPF */

/* Follow the include: and redirect= targets of one SPF record. */
static void spf_follow(struct job *j, const struct mts_spf_record *rec, size_t depth)
{
	if (depth >= MTS_CHECK_SPF_MAX_DEPTH)
		return;
	for (size_t i = 0; i < rec->count; i++) {
		const struct mts_spf_term *t = &rec->terms[i];
		if (t->kind != MTS_SPF_INCLUDE && t->kind != MTS_SPF_REDIRECT)
			continue;
		/* Macros expand per message; a name with one cannot be followed. */
		if (!t->value || !*t->value || strchr(t->value, '%'))
			continue;
		if (j->r.spf_records >= MTS_CHECK_SPF_MAX_NAMES)
			return;
		j->r.spf_records++;
		ask(j, OP_SPF_FOLLOW, depth + 1, t->value, MTS_DNS_TXT);
	}
}

static void on_spf(struct job *j, const struct mts_dns_result *res, size_t depth)
{
	const char *txts[MTS_CHECK_MAX_TXT];
	size_t lens[MTS_CHECK_MAX_TXT], n = 0;
	if (depth == 0) {
		copy_txt(&j->r.spf, res);
		for (size_t i = 0; i < j->r.spf.count; i++) {
			txts[n] = j->r.spf.txts[i];
			lens[n++] = j->r.spf.lens[i];
		}
		j->r.spf_records = 1;
	} else {
		for (size_t i = 0; res->status == MTS_DNS_OK && i < res->count && n < MTS_CHECK_MAX_TXT;
		     i++) {
			txts[n] = res->txt[i].text;
			lens[n++] = res->txt[i].len;
		}
	}
	struct mts_spf_record rec;
	if (mts_spf_select(txts, lens, n, &rec, NULL, NULL) != 0)
		return;
	j->r.spf_lookups += rec.lookups;
	spf_follow(j, &rec, depth);
	mts_spf_clear(&rec);
}

/* ------------------------------------------------------------- answers */

static void dns_cb(const struct mts_dns_result *res, void *arg)
{
	struct op *o = arg;
	struct job *j = o->job;
	switch (o->kind) {
	case OP_STS_TXT: copy_txt(&j->r.sts, res); break;
	case OP_TLSRPT_TXT: copy_txt(&j->r.tlsrpt, res); break;
	case OP_DMARC_TXT: copy_txt(&j->r.dmarc, res); break;
	case OP_SPF_TXT: on_spf(j, res, 0); break;
	case OP_SPF_FOLLOW: on_spf(j, res, o->index); break;
	case OP_MX: on_mx(j, res); break;
	case OP_HOST_A:
	case OP_HOST_AAAA:
		if (!answered(res->status))
			j->host_status = res->status;
		for (size_t k = 0; res->status == MTS_DNS_OK && k < res->count; k++) {
			/* IPv4 first: most policy hosts answer there. */
			if (j->host_addr_count < 2) {
				if (res->type == MTS_DNS_A && j->host_addr_count == 1 &&
				    j->host_addrs[0].family == AF_INET6) {
					j->host_addrs[1] = j->host_addrs[0];
					j->host_addrs[0] = res->addr[k];
				} else {
					j->host_addrs[j->host_addr_count] = res->addr[k];
				}
				j->host_addr_count++;
			}
		}
		if (--j->host_addr_left == 0)
			host_addresses_done(j);
		break;
	case OP_MX_A:
	case OP_MX_AAAA: on_mx_address(j, o->index, res); break;
	case OP_MX_TLSA: on_tlsa(j, o->index, res); break;
	default: break;
	}
	op_end(o);
}

/* --------------------------------------------------------------- verdict */

static enum mts_lookup lookup_of(enum mts_dns_status s)
{
	switch (s) {
	case MTS_DNS_OK:
	case MTS_DNS_NODATA: return MTS_LOOKUP_OK;
	case MTS_DNS_NXDOMAIN: return MTS_LOOKUP_NXDOMAIN;
	default: return MTS_LOOKUP_FAILED;
	}
}

static void audit_txt(const struct mts_check_txt *t, struct mts_audit_txt *out)
{
	out->lookup = lookup_of(t->status);
	out->dnssec = t->dnssec;
	out->count = t->count;
	out->txts = (const char *const *)t->txts;
	out->lens = t->lens;
	out->why = t->message[0] ? t->message : mts_dns_status_name(t->status);
}

static void audit_tls(const struct mts_check_tls *t, bool smtp, struct mts_audit_tls *out)
{
	const struct mts_smtp_probe_result *p = &t->probe;
	memset(out, 0, sizeof(*out));
	out->attempted = t->attempted;
	if (!t->attempted)
		return;
	out->connected = smtp ? p->reached >= MTS_SMTP_STAGE_STARTTLS
			      : p->reached >= MTS_SMTP_STAGE_HANDSHAKE;
	out->starttls_offered = smtp ? p->starttls_offered : true;
	out->handshake_ok = p->reached == MTS_SMTP_STAGE_DONE;
	snprintf(out->tls_version, sizeof(out->tls_version), "%s", p->tls_version);
	out->chain_valid = p->chain_valid;
	out->name_valid = p->name_valid;
	out->self_signed = p->self_signed;
	out->not_before = (long long)p->not_before;
	out->not_after = (long long)p->not_after;
	out->error = p->message[0] ? p->message : p->chain_valid ? NULL : p->verify_error;
}

/* The TLSA records against every chain presented: a DANE sender may reach
 * any address, so one address whose chain matches nothing is a mismatch. */
static enum mts_tlsa_match tlsa_match_of(const struct mts_check_mx *m)
{
	if (!m->tlsa_count)
		return MTS_TLSA_UNCHECKED;
	struct mts_tlsa_rr rrs[MTS_CHECK_MAX_TLSA];
	for (size_t i = 0; i < m->tlsa_count; i++)
		rrs[i] = (struct mts_tlsa_rr){.usage = m->tlsa[i].usage,
					      .selector = m->tlsa[i].selector,
					      .matching_type = m->tlsa[i].matching_type,
					      .data = m->tlsa[i].raw,
					      .len = m->tlsa[i].raw_len};
	enum mts_tlsa_match result = MTS_TLSA_UNCHECKED;
	for (size_t k = 0; k < m->tls_count; k++) {
		const struct mts_smtp_probe_result *p = &m->tls[k].probe;
		if (p->reached != MTS_SMTP_STAGE_DONE)
			continue;
		enum mts_tlsa_match one = mts_tlsa_match(rrs, m->tlsa_count, p->chain,
							 p->chain_count);
		if (one == MTS_TLSA_NO_MATCH || one == MTS_TLSA_UNUSABLE)
			return one;
		result = one;
	}
	return result;
}

static void job_free(struct job *j)
{
	struct mts_check_txt *txts[] = {&j->r.sts, &j->r.tlsrpt, &j->r.spf, &j->r.dmarc};
	for (size_t t = 0; t < 4; t++)
		for (size_t i = 0; i < txts[t]->count; i++)
			free(txts[t]->txts[i]);
	for (size_t i = 0; i < j->r.mx_count; i++)
		free(j->mx[i].tls);
	free(j->policy_body);
	mts_findings_free(&j->findings);
	free(j);
}

static void job_unlink(struct job *j)
{
	struct mts_check *c = j->c;
	if (j->prev)
		j->prev->next = j->next;
	else
		c->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	c->pending--;
}

/* The fetch as a sender would see it: no usable record means no fetch, and
 * a 200 with a body that does not parse is sts-policy-invalid. */
static void facts_fetch(struct job *j, struct mts_audit_facts *f)
{
	struct mts_check_result *r = &j->r;
	r->policy_body = j->policy_body;
	struct mts_sts_record rec;
	bool record_ok = answered(r->sts.status) &&
			 mts_sts_record_select((const char *const *)r->sts.txts, r->sts.lens,
					       r->sts.count, &rec, NULL, NULL) == 0;
	if (r->fetch == MTS_FETCH_OK && j->policy_body) {
		struct mts_policy *p = mts_policy_parse(j->policy_body, r->policy_len, NULL, NULL);
		if (!p)
			r->fetch = MTS_FETCH_INVALID;
		mts_policy_free(p);
	}
	f->fetch = record_ok ? r->fetch : MTS_FETCH_NO_RECORD;
	f->fetch_reason = r->fetch_message[0] ? r->fetch_message : NULL;
	f->fetch_code_set = r->fetch != MTS_FETCH_OK && r->fetch != MTS_FETCH_INVALID;
	f->fetch_code = r->fetch_code;
	f->policy_body = j->policy_body;
	f->policy_len = r->policy_len;
	audit_tls(&r->policy_host, false, &f->policy_host);
}

/* One MX host's measurements as the audit's facts (borrowing from m). */
static void facts_mx_host(struct mts_check_mx *m, struct mts_audit_mx *a)
{
	memset(a, 0, sizeof(*a));
	a->host = m->host;
	a->preference = m->preference;
	a->addresses = m->addr_published;
	a->cname = m->cname[0] ? m->cname : NULL;
	a->addr_lookup = m->addr_count || (answered(m->a_status) && answered(m->aaaa_status))
				 ? MTS_LOOKUP_OK
				 : MTS_LOOKUP_FAILED;
	a->tls_count = m->tls_count;
	for (size_t k = 0; k < m->tls_count; k++) {
		audit_tls(&m->tls[k], true, &a->tls[k]);
		a->tls[k].address = m->tls[k].address;
	}
	a->tlsa_lookup = lookup_of(m->tlsa_status);
	a->tlsa_count = m->tlsa_count;
	a->tlsa_dnssec = m->tlsa_dnssec;
	a->tlsa_match = m->tlsa_match = tlsa_match_of(m);
}

/* The MX answer and hosts; mxs has room for MTS_CHECK_MAX_MX. */
static void facts_mx(struct job *j, struct mts_audit_facts *f, struct mts_audit_mx *mxs)
{
	struct mts_check_result *r = &j->r;
	f->mx_lookup = lookup_of(r->mx_status);
	f->mx_dnssec = r->mx_dnssec;
	f->mx_why = r->mx_message[0] ? r->mx_message : mts_dns_status_name(r->mx_status);
	f->mx = mxs;
	if (r->null_mx) {
		memset(&mxs[0], 0, sizeof(mxs[0]));
		mxs[0].host = "";
		f->mx_count = 1;
		return;
	}
	for (size_t i = 0; i < r->mx_count; i++)
		facts_mx_host(&j->mx[i], &mxs[i]);
	f->mx_count = r->mx_count;
}

/* Every op has ended: judge the facts, call back, free the job. */
static void job_done(struct job *j)
{
	struct mts_check_result *r = &j->r;
	struct mts_audit_facts f = {.domain = j->domain, .now = r->now};
	audit_txt(&r->sts, &f.sts);
	audit_txt(&r->tlsrpt, &f.tlsrpt);
	audit_txt(&r->spf, &f.spf);
	audit_txt(&r->dmarc, &f.dmarc);
	f.spf_lookups = r->spf_lookups;
	f.smtp_skipped = j->c->no_smtp;
	facts_fetch(j, &f);
	struct mts_audit_mx mxs[MTS_CHECK_MAX_MX];
	facts_mx(j, &f, mxs);
	mts_audit_evaluate(&f, &r->audit, &j->findings);
	r->findings = &j->findings;
	r->mx = j->mx;
	r->elapsed_ms = elapsed_ms(&j->started);
	job_unlink(j);
	j->cb(r, j->arg);
	job_free(j);
}

/* ----------------------------------------------------------------- API */

int mts_check_start(struct mts_check *c, const char *domain, mts_check_cb cb, void *arg,
		    struct mts_error *err)
{
	size_t len = strlen(domain);
	if (len == 0 || len > MTS_DNAME_MAX) {
		mts_error_set(err, MTS_EINVAL, "not a domain name: '%.80s'", domain);
		return MTS_EINVAL;
	}
	struct job *j = calloc(1, sizeof(*j));
	if (!j) {
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return MTS_ENOMEM;
	}
	j->c = c;
	j->cb = cb;
	j->arg = arg;
	memcpy(j->domain, domain, len + 1);
	snprintf(j->host, sizeof(j->host), "mta-sts.%s", domain);
	clock_gettime(CLOCK_MONOTONIC, &j->started);
	mts_findings_init(&j->findings);
	j->r.domain = j->domain;
	j->r.now = c->now ? c->now : (long long)time(NULL);
	struct mts_check_txt *txts[] = {&j->r.sts, &j->r.tlsrpt, &j->r.spf, &j->r.dmarc};
	for (size_t t = 0; t < 4; t++)
		txts[t]->status = MTS_DNS_FAILED;
	j->r.mx_status = MTS_DNS_FAILED;
	j->r.fetch = MTS_FETCH_ERROR;
	j->next = c->jobs;
	if (c->jobs)
		c->jobs->prev = j;
	c->jobs = j;
	c->pending++;

	j->pending++; /* held while the questions start */
	char name[MTS_DNAME_MAX + 16];
	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	ask(j, OP_STS_TXT, 0, name, MTS_DNS_TXT);
	snprintf(name, sizeof(name), "_smtp._tls.%s", domain);
	ask(j, OP_TLSRPT_TXT, 0, name, MTS_DNS_TXT);
	ask(j, OP_SPF_TXT, 0, domain, MTS_DNS_TXT);
	snprintf(name, sizeof(name), "_dmarc.%s", domain);
	ask(j, OP_DMARC_TXT, 0, name, MTS_DNS_TXT);
	ask(j, OP_MX, 0, domain, MTS_DNS_MX);
	char routed[256];
	unsigned port;
	route(c, j->host, POLICY_PORT, routed, sizeof(routed), &port);
	if (routed[0]) {
		start_fetch(j, routed, port);
	} else {
		j->host_addr_left = 2;
		ask(j, OP_HOST_A, 0, j->host, MTS_DNS_A);
		ask(j, OP_HOST_AAAA, 0, j->host, MTS_DNS_AAAA);
	}
	if (--j->pending == 0)
		job_done(j);
	return 0;
}

size_t mts_check_pending(const struct mts_check *c)
{
	return c->pending;
}

void mts_check_free(struct mts_check *c)
{
	if (!c)
		return;
	while (c->jobs) {
		struct job *j = c->jobs;
		while (j->ops) {
			struct op *o = j->ops;
			op_cancel(o);
			op_unlink(o);
		}
		job_unlink(j);
		job_free(j);
	}
	while (c->probes) {
		struct shared_probe *sp = c->probes;
		c->probes = sp->next;
		mts_smtp_probe_cancel(sp->probe);
		free(sp);
	}
	mts_https_free(c->https);
	mts_dns_free(c->dns);
	mts_smtp_tls_free(c->tls);
	free(c->connect_to);
	free(c->ca_file);
	free(c->helo_name);
	free(c);
}

struct mts_check *mts_check_new(struct event_base *base, const struct mts_check_opts *opts,
				struct mts_error *err)
{
	struct mts_check *c = calloc(1, sizeof(*c));
	if (!c)
		goto nomem;
	c->base = base;
	c->timeout_ms = opts->timeout_ms ? opts->timeout_ms : CHECK_TIMEOUT_MS_DEFAULT;
	c->smtp_port = opts->smtp_port ? opts->smtp_port : SMTP_PORT;
	c->no_smtp = opts->no_smtp;
	c->now = opts->now;
	if ((opts->ca_file && !(c->ca_file = strdup(opts->ca_file))) ||
	    (opts->helo_name && !(c->helo_name = strdup(opts->helo_name))))
		goto nomem;
	if (opts->connect_to_count) {
		c->connect_to = calloc(opts->connect_to_count, sizeof(*c->connect_to));
		if (!c->connect_to)
			goto nomem;
		for (size_t i = 0; i < opts->connect_to_count; i++) {
			const char *spec = opts->connect_to[i];
			if (mts_connect_to_parse(spec, strlen(spec), &c->connect_to[i]) < 0) {
				mts_error_set(err, MTS_EINVAL,
					      "--connect-to '%.80s' is not HOST:PORT:ADDR:PORT", spec);
				mts_check_free(c);
				return NULL;
			}
		}
		c->connect_to_count = opts->connect_to_count;
	}
	c->https_opts.ca_file = c->ca_file;
	c->https_opts.timeout_ms = c->timeout_ms;
	c->https_opts.connect_timeout_ms =
		c->timeout_ms < CONNECT_TIMEOUT_MAX_MS ? c->timeout_ms : CONNECT_TIMEOUT_MAX_MS;
	struct mts_dns_opts dopts = {.resolver = opts->resolver,
				     .trust_anchor_file = opts->trust_anchor_file,
				     .timeout_ms = c->timeout_ms};
	c->dns = mts_dns_new(base, &dopts, err);
	if (!c->dns)
		goto fail;
	c->https = mts_https_new(base, err);
	if (!c->https)
		goto fail;
	c->tls = mts_smtp_tls_new(c->ca_file, err);
	if (!c->tls)
		goto fail;
	return c;
nomem:
	mts_error_set(err, MTS_ENOMEM, "out of memory");
fail:
	mts_check_free(c);
	return NULL;
}
