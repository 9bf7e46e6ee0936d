/* serve_acme.c - certificates for the hosted policy hosts by ACME, in a
 * worker thread (see serve_acme_int.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <event2/event.h>

#include "engine/serve_acme_int.h"
#include "io/acme_int.h"
#include "io/dns_int.h"
#include "io/serve_store_int.h"

#define ACME_CLAIM_MARGIN 60   /* s a claim outlives one order's run */
#define ACME_CHALLENGE_TTL 900 /* s an http-01 answer stays in the store */
#define ACME_ACCOUNT_KEY "acme_account_key"
#define ACME_ACCOUNT_URL "acme_account_url"
#define ACME_ADDRS_MAX 16

struct mts_serve_acme {
	struct mts_serve_acme_opts opts;
	char store_url[512], directory_url[512], ca_file[512], email[256], service[256],
		resolver[96], owner[64];
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop, started;
	struct mts_serve_acme_stats stats;
	/* the worker's own */
	struct mts_serve_store *store;
	struct mts_acme *acme;
	struct event_base *base;
	struct mts_dns *dns;
};

static void say(struct mts_serve_acme *a, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(struct mts_serve_acme *a, int prio, const char *fmt, ...)
{
	if (!a->opts.log)
		return;
	char line[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	a->opts.log(prio, line, a->opts.log_arg);
}

static bool stopping(struct mts_serve_acme *a)
{
	pthread_mutex_lock(&a->lock);
	bool s = a->stop;
	pthread_mutex_unlock(&a->lock);
	return s;
}

/* ---- does the name point at the service? ---------------------------- */

struct addrs {
	size_t done, count;
	struct mts_dns_addr addr[ACME_ADDRS_MAX];
};

static void on_addr(const struct mts_dns_result *r, void *arg)
{
	struct addrs *s = arg;
	for (size_t i = 0; r->status == MTS_DNS_OK && i < r->count && s->count < ACME_ADDRS_MAX;
	     i++)
		s->addr[s->count++] = r->addr[i];
	s->done++;
}

static void resolve(struct mts_serve_acme *a, const char *name, struct addrs *out)
{
	memset(out, 0, sizeof(*out));
	struct mts_error err = {0};
	size_t want = 0;
	if (mts_dns_lookup(a->dns, name, MTS_DNS_A, on_addr, out, &err))
		want++;
	if (mts_dns_lookup(a->dns, name, MTS_DNS_AAAA, on_addr, out, &err))
		want++;
	while (out->done < want && event_base_loop(a->base, EVLOOP_ONCE) == 0)
		;
}

/* The name's addresses meet the service's: it points at us (a CNAME to the
 * service, or the same addresses). */
static bool points_here(struct mts_serve_acme *a, const char *name, char *why, size_t cap)
{
	struct addrs mine, theirs;
	resolve(a, a->service, &mine);
	resolve(a, name, &theirs);
	if (!theirs.count) {
		snprintf(why, cap, "%s has no address", name);
		return false;
	}
	for (size_t i = 0; i < theirs.count; i++)
		for (size_t j = 0; j < mine.count; j++)
			if (strcmp(theirs.addr[i].text, mine.addr[j].text) == 0)
				return true;
	snprintf(why, cap, "%.60s (%.40s) does not point at the service %.60s (%.40s)", name,
		 theirs.addr[0].text, a->service, mine.count ? mine.addr[0].text : "no address");
	return false;
}

/* ---- hooks: the challenge and the order go into the store ------------ */

struct save_arg {
	struct mts_serve_acme *a;
	struct mts_serve_acme_state *st;
};

static int publish(const struct mts_acme_challenge *c, bool add, void *arg)
{
	struct mts_serve_acme *a = ((struct save_arg *)arg)->a;
	if (!add || c->type != MTS_ACME_HTTP_01)
		return 0; /* an answer left in the store expires on its own */
	struct mts_error err = {0};
	return mts_serve_store_challenge_put(a->store, c->token, c->key_authorization, c->name,
					     (long long)time(NULL) + ACME_CHALLENGE_TTL, &err);
}

static int save(const struct mts_acme_order *order, void *arg)
{
	struct save_arg *s = arg;
	s->st->order = *order;
	s->st->has_order = true;
	struct mts_error err = {0};
	if (mts_serve_store_acme_put(s->a->store, s->st, &err) < 0)
		return -1;
	return stopping(s->a) ? 1 : 0; /* stopping: leave it resumable */
}

/* ---- the account ----------------------------------------------------- */

static int account(struct mts_serve_acme *a, struct mts_error *err)
{
	char *key = calloc(1, 4096), *url = calloc(1, MTS_ACME_URL_MAX);
	int rc = key && url ? 0 : mts_error_set(err, MTS_ENOMEM, "out of memory");
	bool have = !rc &&
		    mts_serve_store_setting_get(a->store, ACME_ACCOUNT_KEY, key, 4096, NULL) == 0;
	if (have)
		mts_serve_store_setting_get(a->store, ACME_ACCOUNT_URL, url, MTS_ACME_URL_MAX,
					    NULL);
	struct mts_acme_opts o = {.directory_url = a->directory_url,
				  .ca_file = a->ca_file[0] ? a->ca_file : NULL,
				  .account_key_pem = have ? key : NULL,
				  .account_key_len = have ? strlen(key) : 0,
				  .account_url = have && url[0] ? url : NULL,
				  .contact_email = a->email[0] ? a->email : NULL,
				  .log = a->opts.log,
				  .log_arg = a->opts.log_arg};
	if (!rc && !(a->acme = mts_acme_new(&o, err)))
		rc = err->code ? err->code : MTS_EIO;
	if (!rc && !(have && url[0]) && (rc = mts_acme_account(a->acme, false, err)) == 0) {
		/* A new account (or the key's, found again): keep it for every replica. */
		rc = mts_serve_store_setting_set(a->store, ACME_ACCOUNT_KEY,
						 mts_acme_account_key_pem(a->acme), err);
		if (!rc)
			rc = mts_serve_store_setting_set(a->store, ACME_ACCOUNT_URL,
							 mts_acme_account_url(a->acme), err);
	}
	if (key)
		memset(key, 0, 4096);
	free(key);
	free(url);
	if (rc && a->acme) {
		mts_acme_free(a->acme);
		a->acme = NULL;
	}
	return rc;
}

/* ---- one name --------------------------------------------------------- */

static void order_for(struct mts_serve_acme *a, const char *name, long long now)
{
	struct mts_serve_acme_state st;
	struct mts_error err = {0};
	if (mts_serve_store_acme_get(a->store, name, &st, &err) < 0)
		return;
	if (now < mts_acme_next_try(st.last_try, st.failures) && st.last_try)
		return; /* backing off: at most once an hour, doubling */
	char why[256];
	if (!points_here(a, name, why, sizeof(why))) {
		/* The customer's record is missing or wrong: no try at the CA. */
		if (strcmp(st.last_error, why) != 0) {
			say(a, LOG_WARNING, "event=acme_not_pointing name=%s reason=\"%s\"", name,
			    why);
			pthread_mutex_lock(&a->lock);
			a->stats.not_pointing++;
			pthread_mutex_unlock(&a->lock);
			snprintf(st.last_error, sizeof(st.last_error), "%s", why);
			mts_serve_store_acme_put(a->store, &st, NULL);
		}
		return;
	}
	long long until = now + MTS_ACME_ORDER_TIMEOUT_S + ACME_CLAIM_MARGIN;
	if (mts_serve_store_acme_claim(a->store, name, a->owner, until, now, &err) < 0)
		return; /* another replica works on it */
	mts_serve_store_acme_get(a->store, name, &st, &err);
	st.claimed_until = until;
	snprintf(st.owner, sizeof(st.owner), "%s", a->owner);
	struct save_arg sa = {.a = a, .st = &st};
	struct mts_acme_hooks hooks = {.publish = publish, .save = save, .arg = &sa};
	struct mts_acme_cert cert = {0};
	bool resume = st.has_order && st.order.step != MTS_ACME_STEP_FAILED &&
		      strcmp(st.order.name, name) == 0;
	int rc;
	if (resume) {
		pthread_mutex_lock(&a->lock);
		a->stats.resumed++;
		pthread_mutex_unlock(&a->lock);
		say(a, LOG_INFO, "event=acme_resume name=%s step=%d", name, (int)st.order.step);
		rc = mts_acme_order_resume(a->acme, &st.order, &hooks, &cert, &err);
	} else {
		rc = mts_acme_obtain(a->acme, name, MTS_ACME_HTTP_01, &hooks, &st.order, &cert,
				     &err);
	}
	st.last_try = now;
	st.claimed_until = 0;
	if (rc == 0) {
		struct mts_serve_cert c = {.key_pem = cert.key_pem,
					   .chain_pem = cert.chain_pem,
					   .not_before = cert.not_before,
					   .not_after = cert.not_after,
					   .updated_at = (long long)time(NULL)};
		snprintf(c.name, sizeof(c.name), "%s", name);
		rc = mts_serve_store_cert_put(a->store, &c, &err);
	}
	if (rc == 0) {
		st.failures = 0;
		st.last_error[0] = '\0';
		st.has_order = false;
		say(a, LOG_INFO, "event=acme_issued name=%s not_after=%lld", name, cert.not_after);
	} else {
		st.failures++;
		snprintf(st.last_error, sizeof(st.last_error), "%s", err.message);
		if (st.order.step == MTS_ACME_STEP_FAILED)
			st.has_order = false;
		say(a, LOG_WARNING, "event=acme_failed name=%s failures=%u reason=\"%s\"", name,
		    st.failures, err.message);
	}
	pthread_mutex_lock(&a->lock);
	if (rc == 0)
		a->stats.orders_ok++;
	else
		a->stats.orders_failed++;
	pthread_mutex_unlock(&a->lock);
	mts_acme_cert_clear(&cert);
	memset(st.order.key_pem, 0, sizeof(st.order.key_pem));
	if (!st.has_order)
		memset(&st.order, 0, sizeof(st.order));
	sa.st = &st;
	mts_serve_store_acme_put(a->store, &st, NULL);
}

/* Which names need a certificate now: none yet, or a third of it left. */
static void scan(struct mts_serve_acme *a)
{
	struct mts_hosted_domain *all = NULL;
	struct mts_serve_cert *certs = NULL;
	size_t n = 0, nc = 0;
	struct mts_error err = {0};
	if (mts_serve_store_list(a->store, &all, &n, &err) < 0 ||
	    mts_serve_store_certs(a->store, 0, &certs, &nc, &err) < 0) {
		say(a, LOG_WARNING, "event=acme_scan_failed reason=\"%s\"", err.message);
		mts_serve_domains_free(all, n);
		return;
	}
	long long now = (long long)time(NULL);
	for (size_t i = 0; i < n && !stopping(a); i++) {
		if (all[i].state.phase == MTS_HOSTED_GONE)
			continue;
		char name[MTS_DNAME_MAX + 16];
		snprintf(name, sizeof(name), "mta-sts.%s", all[i].name);
		const struct mts_serve_cert *have = NULL;
		for (size_t k = 0; k < nc && !have; k++)
			if (strcmp(certs[k].name, name) == 0)
				have = &certs[k];
		if (have && !mts_acme_renew_due(have->not_before, have->not_after, now))
			continue;
		order_for(a, name, now);
	}
	mts_serve_domains_free(all, n);
	mts_serve_certs_free(certs, nc);
	pthread_mutex_lock(&a->lock);
	a->stats.scans++;
	pthread_mutex_unlock(&a->lock);
}

static void *worker(void *arg)
{
	struct mts_serve_acme *a = arg;
	struct mts_error err = {0};
	struct mts_dns_opts d = {.resolver = a->resolver[0] ? a->resolver : NULL};
	if (mts_serve_store_open(a->store_url, &a->store, &err) < 0 ||
	    !(a->base = event_base_new()) || !(a->dns = mts_dns_new(a->base, &d, &err))) {
		say(a, LOG_ERR, "event=acme_stopped reason=\"%s\"", err.message);
		return NULL;
	}
	while (!stopping(a)) {
		if (!a->acme && account(a, &err) < 0)
			say(a, LOG_WARNING, "event=acme_account_failed reason=\"%s\"", err.message);
		if (a->acme)
			scan(a);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += a->opts.interval ? a->opts.interval : MTS_SERVE_ACME_INTERVAL_DEFAULT;
		pthread_mutex_lock(&a->lock);
		while (!a->stop && pthread_cond_timedwait(&a->wake, &a->lock, &ts) == 0)
			;
		pthread_mutex_unlock(&a->lock);
	}
	return NULL;
}

struct mts_serve_acme *mts_serve_acme_start(const struct mts_serve_acme_opts *opts,
					    struct mts_error *err)
{
	if (!opts->store_url || !opts->directory_url || !opts->service) {
		mts_error_set(err, MTS_EUSAGE,
			      "ACME needs the store, a directory URL and the service");
		return NULL;
	}
	struct mts_serve_acme *a = calloc(1, sizeof(*a));
	if (!a) {
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	a->opts = *opts;
	snprintf(a->store_url, sizeof(a->store_url), "%s", opts->store_url);
	snprintf(a->directory_url, sizeof(a->directory_url), "%s", opts->directory_url);
	snprintf(a->ca_file, sizeof(a->ca_file), "%s", opts->ca_file ? opts->ca_file : "");
	snprintf(a->email, sizeof(a->email), "%s", opts->contact_email ? opts->contact_email : "");
	snprintf(a->service, sizeof(a->service), "%s", opts->service);
	snprintf(a->resolver, sizeof(a->resolver), "%s", opts->resolver ? opts->resolver : "");
	snprintf(a->owner, sizeof(a->owner), "%s", opts->owner ? opts->owner : "mtasts");
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->wake, NULL);
	if (pthread_create(&a->thread, NULL, worker, a) != 0) {
		mts_error_set(err, MTS_EIO, "cannot start the ACME worker");
		pthread_mutex_destroy(&a->lock);
		pthread_cond_destroy(&a->wake);
		free(a);
		return NULL;
	}
	a->started = true;
	return a;
}

void mts_serve_acme_stats(struct mts_serve_acme *a, struct mts_serve_acme_stats *out)
{
	pthread_mutex_lock(&a->lock);
	*out = a->stats;
	pthread_mutex_unlock(&a->lock);
}

void mts_serve_acme_stop(struct mts_serve_acme *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = true;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
	if (a->started)
		pthread_join(a->thread, NULL);
	mts_acme_free(a->acme);
	mts_dns_free(a->dns);
	if (a->base)
		event_base_free(a->base);
	mts_serve_store_close(a->store);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->wake);
	free(a);
}
