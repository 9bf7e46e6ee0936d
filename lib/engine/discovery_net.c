/* discovery_net.c - the real transport of discovery (see discovery.h):
 * _mta-sts TXT over libunbound; the policy host's address over libunbound
 * too (so that --resolver applies to it), unless a connect-to entry maps it;
 * then the HTTPS fetch over libcurl to that address. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts/discovery.h"
#include "io/dns_int.h"
#include "io/https_int.h"

#define POLICY_PORT 443
#define CONNECT_TIMEOUT_MAX_MS 10000u
#define HOST_MAX (MTS_DNAME_MAX + 9) /* "mta-sts." + domain */

struct mts_discovery_net {
	struct mts_dns *dns;
	struct mts_https *https;
	struct mts_https_opts https_opts;
	struct mts_connect_to *connect_to;
	size_t connect_to_count;
};

struct req {
	struct mts_discovery_net *net;
	char domain[MTS_DNAME_MAX + 1];
	char host[HOST_MAX];                /* mta-sts.<domain> */
	unsigned port;                      /* where to connect */
	struct mts_dns_query *query;
	struct mts_https_fetch *fetch;
	mts_discovery_txt_done txt_done;
	mts_discovery_fetch_done fetch_done;
	void *op;
};

static void req_free(struct req *r)
{
	mts_dns_cancel(r->query);
	mts_https_cancel(r->fetch);
	free(r);
}

static enum mts_finding_code dns_failure_code(const struct mts_dns_result *res)
{
	if (res->dnssec == MTS_DNSSEC_BOGUS)
		return MTS_F_DNS_BOGUS;
	switch (res->status) {
	case MTS_DNS_SERVFAIL: return MTS_F_DNS_SERVFAIL;
	case MTS_DNS_TIMEOUT: return MTS_F_DNS_TIMEOUT;
	default: return MTS_F_DNS_ERROR;
	}
}

static void on_txt(const struct mts_dns_result *res, void *arg)
{
	struct req *r = arg;
	r->query = NULL;
	const char *txts[MTS_DISCOVERY_MAX_TXT];
	size_t lens[MTS_DISCOVERY_MAX_TXT];
	unsigned strings[MTS_DISCOVERY_MAX_TXT];
	struct mts_discovery_txt_answer a = {.dnssec = res->dnssec, .message = res->message,
					     .txts = txts, .lens = lens, .strings = strings};
	switch (res->status) {
	case MTS_DNS_OK:
	case MTS_DNS_NODATA:
		a.lookup = MTS_LOOKUP_OK;
		for (size_t i = 0; i < res->count && a.count < MTS_DISCOVERY_MAX_TXT; i++) {
			txts[a.count] = res->txt[i].text;
			lens[a.count] = res->txt[i].len;
			strings[a.count] = res->txt[i].strings;
			a.count++;
		}
		break;
	case MTS_DNS_NXDOMAIN:
		a.lookup = MTS_LOOKUP_NXDOMAIN;
		break;
	default:
		a.lookup = MTS_LOOKUP_FAILED;
		a.failure = dns_failure_code(res);
		if (!res->message[0])
			a.message = mts_dns_status_name(res->status);
		break;
	}
	mts_discovery_txt_done done = r->txt_done;
	void *op = r->op;
	free(r);
	done(&a, op);
}

static void *net_txt(void *tctx, const char *domain, mts_discovery_txt_done done, void *op)
{
	struct mts_discovery_net *net = tctx;
	struct req *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->net = net;
	r->txt_done = done;
	r->op = op;
	char name[MTS_DNAME_MAX + 16];
	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	r->query = mts_dns_lookup(net->dns, name, MTS_DNS_TXT, on_txt, r, NULL);
	if (!r->query) {
		free(r);
		return NULL;
	}
	return r;
}

static void fail_fetch(struct req *r, enum mts_finding_code code, const char *message)
{
	struct mts_discovery_fetch_answer a = {.result = MTS_FETCH_ERROR, .code = code,
					       .message = message, .connected_to = ""};
	mts_discovery_fetch_done done = r->fetch_done;
	void *op = r->op;
	req_free(r);
	done(&a, op);
}

static void on_https(const struct mts_https_result *res, void *arg)
{
	struct req *r = arg;
	r->fetch = NULL;
	struct mts_discovery_fetch_answer a = {
		.result = res->failure,
		.code = res->code,
		.message = res->message,
		.http_status = res->http_status,
		.connected_to = res->connected_to,
		.body = res->body,
		.body_len = res->body_len,
	};
	mts_discovery_fetch_done done = r->fetch_done;
	void *op = r->op;
	/* res->body lives until this callback returns: answer before freeing. */
	done(&a, op);
	free(r);
}

static void start_https(struct req *r, const char *addr)
{
	struct mts_error err = {0};
	r->fetch = mts_https_fetch_policy(r->net->https, r->domain, addr, r->port,
					  &r->net->https_opts, on_https, r, &err);
	if (!r->fetch)
		fail_fetch(r, MTS_F_FETCH_HTTP, err.message);
}

static void on_host(const struct mts_dns_result *res, void *arg)
{
	struct req *r = arg;
	r->query = NULL;
	if (res->status == MTS_DNS_OK && res->count > 0) {
		char addr[48];
		snprintf(addr, sizeof(addr), "%s", res->addr[0].text);
		start_https(r, addr);
		return;
	}
	if (res->type == MTS_DNS_A &&
	    (res->status == MTS_DNS_NODATA || (res->status == MTS_DNS_OK && !res->count))) {
		r->query = mts_dns_lookup(r->net->dns, r->host, MTS_DNS_AAAA, on_host, r, NULL);
		if (!r->query)
			fail_fetch(r, MTS_F_FETCH_NO_HOST, "cannot start the AAAA lookup");
		return;
	}
	char message[MTS_DNAME_MAX + 256];
	if (res->status == MTS_DNS_NXDOMAIN || res->status == MTS_DNS_NODATA ||
	    res->status == MTS_DNS_OK)
		snprintf(message, sizeof(message), "%s has no A or AAAA record (%s)", r->host,
			 mts_dns_status_name(res->status));
	else
		snprintf(message, sizeof(message), "the address lookup of %s failed: %s", r->host,
			 res->message[0] ? res->message : mts_dns_status_name(res->status));
	fail_fetch(r, MTS_F_FETCH_NO_HOST, message);
}

static void *net_fetch(void *tctx, const char *domain, mts_discovery_fetch_done done, void *op)
{
	struct mts_discovery_net *net = tctx;
	struct req *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->net = net;
	r->fetch_done = done;
	r->op = op;
	r->port = POLICY_PORT;
	snprintf(r->domain, sizeof(r->domain), "%s", domain);
	snprintf(r->host, sizeof(r->host), "mta-sts.%s", domain);
	for (size_t i = 0; i < net->connect_to_count; i++) {
		const struct mts_connect_to *ct = &net->connect_to[i];
		if (!mts_connect_to_matches(ct, r->host, POLICY_PORT))
			continue;
		if (ct->addr_port)
			r->port = ct->addr_port;
		if (ct->addr[0]) {
			/* The fetch's callback may not run before we return the handle. */
			r->fetch = mts_https_fetch_policy(net->https, r->domain, ct->addr, r->port,
							  &net->https_opts, on_https, r, NULL);
			if (!r->fetch) {
				free(r);
				return NULL;
			}
			return r;
		}
		break;
	}
	r->query = mts_dns_lookup(net->dns, r->host, MTS_DNS_A, on_host, r, NULL);
	if (!r->query) {
		free(r);
		return NULL;
	}
	return r;
}

static void net_cancel(void *tctx, void *handle)
{
	req_free(handle);
}

const struct mts_discovery_transport mts_discovery_net_transport = {
	.txt = net_txt,
	.fetch = net_fetch,
	.cancel = net_cancel,
};

struct mts_discovery_net *mts_discovery_net_new(struct event_base *base,
						const struct mts_discovery_net_opts *opts,
						struct mts_error *err)
{
	struct mts_discovery_net *net = calloc(1, sizeof(*net));
	if (!net) {
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	if (opts->connect_to_count) {
		net->connect_to = calloc(opts->connect_to_count, sizeof(*net->connect_to));
		if (!net->connect_to) {
			free(net);
			mts_error_set(err, MTS_ENOMEM, "out of memory");
			return NULL;
		}
		for (size_t i = 0; i < opts->connect_to_count; i++) {
			const char *spec = opts->connect_to[i];
			if (mts_connect_to_parse(spec, strlen(spec), &net->connect_to[i]) < 0) {
				mts_error_set(err, MTS_EINVAL,
					      "--connect-to '%.80s' is not HOST:PORT:ADDR:PORT", spec);
				mts_discovery_net_free(net);
				return NULL;
			}
		}
		net->connect_to_count = opts->connect_to_count;
	}
	struct mts_dns_opts dopts = {.resolver = opts->resolver,
				     .trust_anchor_file = opts->trust_anchor_file,
				     .timeout_ms = opts->timeout_ms};
	net->https_opts.ca_file = opts->ca_file;
	net->https_opts.timeout_ms = opts->timeout_ms;
	net->https_opts.connect_timeout_ms =
		opts->timeout_ms && opts->timeout_ms < CONNECT_TIMEOUT_MAX_MS ? opts->timeout_ms : 0;
	net->dns = mts_dns_new(base, &dopts, err);
	if (!net->dns) {
		mts_discovery_net_free(net);
		return NULL;
	}
	net->https = mts_https_new(base, err);
	if (!net->https) {
		mts_discovery_net_free(net);
		return NULL;
	}
	return net;
}

void mts_discovery_net_free(struct mts_discovery_net *net)
{
	if (!net)
		return;
	mts_https_free(net->https);
	mts_dns_free(net->dns);
	free(net->connect_to);
	free(net);
}
