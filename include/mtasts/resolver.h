/*
 * resolver.h - `mtasts resolver`: MTA-STS policies for Postfix through its
 * socketmap protocol (smtp_tls_policy_maps), configured by a YAML file
 * compatible with postfix-mta-sts-resolver's mta-sts-daemon.yml(5).
 *
 * Three parts:
 *  - the configuration (resolver_config.c): mts_resolver_config_parse() reads
 *    YAML bytes into a plain struct; every error names the file, line and
 *    key. Pure apart from mts_resolver_config_load(), which reads a file.
 *  - the answers (resolver_answer.c): what Postfix is told for a discovery
 *    result under a zone's settings. Pure; documented in docs/resolver.md.
 *  - the server (resolver.c and the parts listed in resolver_int.h):
 *    listeners, connections, pipelined requests answered in order, an
 *    answer cache (cache_grace), proactive refresh over the whole policy
 *    cache, a control socket, a metrics endpoint, graceful shutdown. Does
 *    I/O on a caller-owned libevent base; logs through the caller's
 *    callback, never prints.
 */
#ifndef MTASTS_RESOLVER_H
#define MTASTS_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>

#include "mtasts/discovery.h"
#include "mtasts/error.h"
#include "mtasts/types.h"

MTS_BEGIN_DECLS

struct event_base;
struct mts_resolver;

#define MTS_RESOLVER_CONFIG_MAX_BYTES (1024 * 1024) /* the YAML file */
#define MTS_RESOLVER_CONFIG_MAX_DEPTH 32 /* nested collections in it */
#define MTS_RESOLVER_ZONES_MAX 64
#define MTS_RESOLVER_NAME_MAX 63          /* zone (socketmap map) names */
#define MTS_RESOLVER_PATH_MAX 1024
#define MTS_RESOLVER_REQUEST_DEFAULT 1024 /* netstring payload bytes: "NAME KEY" */
#define MTS_RESOLVER_REQUEST_MAX 65536
#define MTS_RESOLVER_PIPELINE_MAX 256     /* requests in flight per connection */
#define MTS_RESOLVER_CONNECTIONS_MAX 4096
#define MTS_RESOLVER_ANSWER_MAX 32768     /* one answer (a policy's patterns, TLSRPT strings) */
#define MTS_RESOLVER_IDLE_DEFAULT 300     /* s without a request before a client is closed */
#define MTS_RESOLVER_PORT_DEFAULT 8461

enum mts_resolver_cache_type {
	MTS_RESOLVER_CACHE_INTERNAL = 0,
	MTS_RESOLVER_CACHE_SQLITE,
	MTS_RESOLVER_CACHE_REDIS,         /* options.url: redis:// (cache.h) */
	MTS_RESOLVER_CACHE_POSTGRES,      /* options.dsn: postgresql:// (cache.h) */
};

struct mts_resolver_zone {
	char name[MTS_RESOLVER_NAME_MAX + 1]; /* "" for default_zone */
	bool strict_testing;   /* enforce testing policies too */
	unsigned timeout;      /* s: the longest a lookup may keep Postfix waiting */
	bool require_sni;      /* add servername=hostname */
	bool tlsrpt;           /* add Postfix 3.10 TLSRPT attributes */
};

struct mts_resolver_config {
	char file[MTS_RESOLVER_PATH_MAX];  /* where it was read from, for messages */
	/* listening (mta-sts-daemon.yml) */
	char host[256];
	unsigned port;
	char path[108];                    /* Unix socket: replaces host and port */
	int mode;                          /* its file mode, -1 = umask default */
	bool reuse_port;
	double cache_grace;                /* s an answer is reused without any lookup */
	double shutdown_timeout;           /* s granted to clients at shutdown */
	/* cache */
	enum mts_resolver_cache_type cache_type;
	unsigned long cache_size;          /* internal: entries */
	char cache_filename[MTS_RESOLVER_PATH_MAX]; /* sqlite: the database */
	double cache_timeout;              /* sqlite: accepted, SQLite's own busy wait applies */
	unsigned cache_threads;            /* sqlite: accepted, unused (one loop) */
	char cache_url[1024];              /* redis: options.url; postgres: options.dsn */
	/* proactive_policy_fetching */
	bool proactive;
	unsigned proactive_interval;       /* s between refresh rounds */
	unsigned proactive_concurrency;    /* domains refreshed at once */
	double proactive_grace_ratio;      /* refresh answers older than interval / ratio */
	/* zones */
	struct mts_resolver_zone default_zone;
	size_t zone_count;
	struct mts_resolver_zone zones[MTS_RESOLVER_ZONES_MAX];
	/* mtasts extensions (documented in docs/resolver.md) */
	char user[64];                     /* drop privileges to this user after binding */
	char group[64];                    /* the Unix sockets' group ("" = user's) */
	char dns_resolver[128];            /* "ADDR@PORT"; "" = the system resolver */
	char ca_file[MTS_RESOLVER_PATH_MAX];
	char trust_anchor_file[MTS_RESOLVER_PATH_MAX]; /* DNSSEC validation (DANE check) */
	char control_path[108];            /* control socket for `mtasts resolver ctl` */
	bool dane;                         /* DANE precedence (needs trust_anchor_file) */
	char dane_answer[64];              /* what DANE destinations get, "dane-only" */
	unsigned idle_timeout;             /* s */
	unsigned max_request;              /* bytes of one request */
	char metrics[128];                 /* "ADDR:PORT" of the Prometheus endpoint; "" = off */
	bool log_syslog;
};

/* Defaults of mta-sts-daemon.yml(5) and of the extensions. */
void mts_resolver_config_defaults(struct mts_resolver_config *c);
/* Parse YAML bytes (file names the source in messages). Unknown keys, wrong
 * types and out-of-range values are errors naming file, line and key
 * (MTS_EINVAL). out is filled with defaults first. */
int mts_resolver_config_parse(const char *buf, size_t len, const char *file,
			      struct mts_resolver_config *out, struct mts_error *err);
/* Read and parse a file of at most MTS_RESOLVER_CONFIG_MAX_BYTES. */
int mts_resolver_config_load(const char *path, struct mts_resolver_config *out,
			     struct mts_error *err);
/* The zone a socketmap map name selects: the zone of that name, else the
 * default zone (as postfix-mta-sts-resolver). */
const struct mts_resolver_zone *mts_resolver_zone_find(const struct mts_resolver_config *c,
						       const char *name, size_t len);
/* "internal", "sqlite", "redis" or "postgres", as in cache.type. */
const char *mts_resolver_cache_name(enum mts_resolver_cache_type t);
/* The cache URL the configuration means (memory:?max=N, sqlite:///path, or
 * the redis:// or postgresql:// URL of its options). */
int mts_resolver_cache_url(const struct mts_resolver_config *c, char *out, size_t cap,
			   struct mts_error *err);

/* A socketmap KEY read as postfix-mta-sts-resolver reads it, so that no
 * key it takes for a domain silently gets NOTFOUND here (which would turn
 * enforcement off): surrounding white space, "dom:" and "[dom]:" (an empty
 * port), white space inside the brackets or before the port are the
 * domain. A domain in a form Postfix never sends ("dom:abc", "[dom]x",
 * "dom..") is PERM rather than a guess. Pure. */
enum mts_resolver_key_kind {
	MTS_RESOLVER_KEY_DOMAIN = 0, /* out holds the normalised domain */
	MTS_RESOLVER_KEY_NOTFOUND,   /* IP literal, parent-domain probe, empty, not a name */
	MTS_RESOLVER_KEY_PERM,       /* a domain in a form that is not a key */
};
enum mts_resolver_key_kind mts_resolver_key(const char *key, size_t len,
					    char out[MTS_DNAME_MAX + 1]);

/* Answers. Each fills out (cap bytes, NUL-terminated) with the socketmap
 * reply payload and returns its length, or MTS_ETOOBIG. */
enum mts_resolver_kind {
	MTS_ANSWER_POLICY = 0,   /* OK secure match=... */
	MTS_ANSWER_NOTFOUND,
	MTS_ANSWER_TEMP,
	MTS_ANSWER_DANE,         /* OK dane-only */
	MTS_ANSWER_PERM,
};
/* The answer for a discovery result. *kind (may be NULL) says which form. */
long mts_resolver_answer(const struct mts_resolver_zone *z, const struct mts_discovery_result *r,
			 char *out, size_t cap, enum mts_resolver_kind *kind);
const char *mts_resolver_kind_name(enum mts_resolver_kind k);

/* The server. */
typedef void (*mts_resolver_log_fn)(int priority, const char *message, void *arg);

struct mts_resolver_opts {
	mts_resolver_log_fn log;           /* syslog priorities; NULL = silent */
	void *log_arg;
	mts_clock_fn clock;                /* NULL: the real clock */
	void *clock_arg;
	bool verbose;                      /* log every request */
};

/* Bind the listeners and the control socket of cfg (copied). Binding is
 * separate from start so that the caller can drop privileges between. */
struct mts_resolver *mts_resolver_new(struct event_base *base,
				      const struct mts_resolver_config *cfg,
				      const struct mts_resolver_opts *opts, struct mts_error *err);
/* Open the cache and the network, and start serving. */
int mts_resolver_start(struct mts_resolver *r, struct mts_error *err);
/* Apply a new configuration (SIGHUP): zones, cache_grace, timeouts,
 * proactive fetching, limits. Listener, cache and network settings that
 * changed are logged as needing a restart. */
int mts_resolver_reload(struct mts_resolver *r, const struct mts_resolver_config *cfg,
			struct mts_error *err);
/* Stop accepting, let clients finish within shutdown_timeout, then break
 * the loop. */
void mts_resolver_shutdown(struct mts_resolver *r);
/* True once shutdown is complete (every client gone or the time is up). */
bool mts_resolver_done(const struct mts_resolver *r);
/* Close everything (unlinks the Unix sockets it created). */
void mts_resolver_free(struct mts_resolver *r);

MTS_END_DECLS

#endif
