/* hosted.c - the safe order of a hosted domain's policy and id updates
 * (see hosted_int.h). */
#include <string.h>

#include "core/hosted_int.h"
#include "mtasts/error.h"

static unsigned rule(unsigned v, unsigned dflt)
{
	return v ? v : dflt;
}

static bool id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > MTS_STS_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return false;
	}
	return true;
}

static void set_id(char dst[MTS_STS_ID_MAX + 1], const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n > MTS_STS_ID_MAX)
		n = MTS_STS_ID_MAX;
	memcpy(dst, id ? id : "", n);
	dst[n] = '\0';
}

void mts_hosted_init(struct mts_hosted *h)
{
	memset(h, 0, sizeof(*h));
	h->phase = MTS_HOSTED_NEW;
}

/* Where a domain stands once nothing is in flight. */
static enum mts_hosted_phase settled(const struct mts_hosted *h)
{
	if (h->removing && h->served_none && h->published_id[0] &&
	    strcmp(h->published_id, h->served_id) == 0)
		return MTS_HOSTED_RETIRING;
	if (!h->served_id[0])
		return MTS_HOSTED_NEW;
	return strcmp(h->published_id, h->served_id) == 0 ? MTS_HOSTED_STABLE : MTS_HOSTED_SERVING;
}

static long long later(long long a, long long b)
{
	return a > b ? a : b;
}

static int on_served(struct mts_hosted *h, const struct mts_hosted_event *ev, long long now,
		     const struct mts_hosted_rules *rules)
{
	if (!id_ok(ev->id) || h->phase == MTS_HOSTED_GONE || h->phase == MTS_HOSTED_DELETING)
		return MTS_EINVAL;
	/* Whoever fetched the bytes served until now (by the slowest replica:
	 * until now + propagation) may keep them for their max_age. */
	if (h->served_id[0] && !h->served_none)
		h->held_until = later(h->held_until,
				      now +
					      (long long)rule(rules ? rules->propagation : 0,
							      MTS_HOSTED_PROPAGATION_DEFAULT) +
					      (long long)h->served_max_age);
	set_id(h->served_id, ev->id);
	h->served_max_age = ev->max_age;
	h->served_none = ev->none;
	h->served_since = now;
	h->failures = 0;
	h->next_try = 0;
	if (h->phase != MTS_HOSTED_PUBLISHING)
		h->phase = settled(h);
	return 0;
}

static int on_update_done(struct mts_hosted *h, const struct mts_hosted_event *ev, bool ok,
			  long long now, const struct mts_hosted_rules *rules)
{
	if (h->phase != MTS_HOSTED_PUBLISHING && h->phase != MTS_HOSTED_DELETING)
		return MTS_EINVAL;
	bool deleting = h->phase == MTS_HOSTED_DELETING;
	if (ok && ev->id && strcmp(ev->id, h->inflight_id) != 0)
		return MTS_EINVAL; /* a result for another update than ours */
	if (ok) {
		h->failures = 0;
		h->next_try = 0;
		if (deleting) {
			h->published_id[0] = '\0';
			h->inflight_id[0] = '\0';
			h->phase = MTS_HOSTED_GONE;
			return 0;
		}
		set_id(h->published_id, h->inflight_id);
	} else {
		unsigned lo = rule(rules ? rules->backoff_min : 0, MTS_HOSTED_BACKOFF_MIN);
		unsigned hi = rule(rules ? rules->backoff_max : 0, MTS_HOSTED_BACKOFF_MAX);
		unsigned long long wait = lo;
		for (unsigned i = 0; i < h->failures && wait < hi; i++)
			wait *= 2;
		if (wait > hi)
			wait = hi;
		h->failures++;
		h->next_try = now + (long long)wait;
	}
	h->inflight_id[0] = '\0';
	h->phase = deleting ? MTS_HOSTED_RETIRING : settled(h);
	return 0;
}

int mts_hosted_apply(struct mts_hosted *h, const struct mts_hosted_event *ev, long long now,
		     const struct mts_hosted_rules *rules)
{
	switch (ev->type) {
	case MTS_HOSTED_EV_SERVED: return on_served(h, ev, now, rules);
	case MTS_HOSTED_EV_CERT: h->cert_not_after = ev->not_after; return 0;
	case MTS_HOSTED_EV_UPDATE_SENT:
		if (h->phase == MTS_HOSTED_PUBLISHING || h->phase == MTS_HOSTED_DELETING)
			return MTS_EINVAL; /* one update at a time */
		if (ev->id && ev->id[0]) {
			if (!id_ok(ev->id) || strcmp(ev->id, h->served_id) != 0)
				return MTS_EINVAL; /* only the served policy's id is published */
			set_id(h->inflight_id, ev->id);
			h->phase = MTS_HOSTED_PUBLISHING;
		} else {
			if (!h->removing)
				return MTS_EINVAL;
			h->inflight_id[0] = '\0';
			h->phase = MTS_HOSTED_DELETING;
		}
		return 0;
	case MTS_HOSTED_EV_UPDATE_OK: return on_update_done(h, ev, true, now, rules);
	case MTS_HOSTED_EV_UPDATE_FAILED: return on_update_done(h, ev, false, now, rules);
	case MTS_HOSTED_EV_REMOVE:
		if (h->phase == MTS_HOSTED_GONE)
			return MTS_EINVAL;
		h->removing = true;
		return 0;
	}
	return MTS_EINVAL;
}

static void wait_for(struct mts_hosted_action *out, long long at, const char *why)
{
	out->what = MTS_HOSTED_DO_WAIT;
	out->wake_at = at;
	out->why = why;
}

/* SERVING: may the served id be announced now? */
static void next_publish(const struct mts_hosted *h, long long now,
			 const struct mts_hosted_rules *rules, struct mts_hosted_action *out)
{
	long long ready = h->served_since + (long long)rule(rules ? rules->propagation : 0,
							    MTS_HOSTED_PROPAGATION_DEFAULT);
	long long margin =
		(long long)rule(rules ? rules->cert_margin : 0, MTS_HOSTED_CERT_MARGIN_DEFAULT);
	if (now < ready)
		return wait_for(out, ready, "the new policy is being served by every replica");
	if (h->cert_not_after <= now + margin)
		return wait_for(out, 0, "no valid certificate for the policy host yet");
	if (now < h->next_try)
		return wait_for(out, h->next_try, "the last DNS update failed; waiting to retry");
	out->what = MTS_HOSTED_DO_PUBLISH;
	set_id(out->id, h->served_id);
	out->why =
		h->published_id[0] ? "announce the new policy's id" : "publish the _mta-sts record";
}

void mts_hosted_next(const struct mts_hosted *h, long long now,
		     const struct mts_hosted_rules *rules, struct mts_hosted_action *out)
{
	memset(out, 0, sizeof(*out));
	switch (h->phase) {
	case MTS_HOSTED_PUBLISHING: return wait_for(out, 0, "a DNS update is in flight");
	case MTS_HOSTED_DELETING: return wait_for(out, 0, "the record's deletion is in flight");
	case MTS_HOSTED_GONE:
		out->what = MTS_HOSTED_DO_FORGET;
		out->why = "the record is gone: stop serving the policy";
		return;
	default: break;
	}
	if (h->removing) {
		if (!h->published_id[0]) {
			/* Never announced: no sender looks for the policy. */
			out->what = MTS_HOSTED_DO_FORGET;
			out->why = "removed before its record was published";
			return;
		}
		if (!h->served_none) {
			out->what = MTS_HOSTED_DO_SERVE_NONE;
			out->why = "removed: serve mode none first (RFC 8461 §8.3)";
			return;
		}
		if (h->phase == MTS_HOSTED_SERVING)
			return next_publish(h, now, rules, out);
		if (now < h->held_until)
			return wait_for(out, h->held_until,
					"removed: senders may still hold the old policy");
		if (now < h->next_try)
			return wait_for(out, h->next_try,
					"the last DNS update failed; waiting to retry");
		out->what = MTS_HOSTED_DO_DELETE;
		out->why = "removed: every cached policy has expired; delete the record";
		return;
	}
	if (h->phase == MTS_HOSTED_SERVING)
		return next_publish(h, now, rules, out);
	if (h->phase == MTS_HOSTED_NEW)
		return wait_for(out, 0, "no policy served yet");
	wait_for(out, 0, "in step: the published id is the served policy's");
}

const char *mts_hosted_phase_name(enum mts_hosted_phase p)
{
	switch (p) {
	case MTS_HOSTED_NEW: return "new";
	case MTS_HOSTED_SERVING: return "serving";
	case MTS_HOSTED_PUBLISHING: return "publishing";
	case MTS_HOSTED_STABLE: return "stable";
	case MTS_HOSTED_RETIRING: return "retiring";
	case MTS_HOSTED_DELETING: return "deleting";
	case MTS_HOSTED_GONE: return "gone";
	}
	return "unknown";
}

const char *mts_hosted_do_name(enum mts_hosted_do d)
{
	switch (d) {
	case MTS_HOSTED_DO_WAIT: return "wait";
	case MTS_HOSTED_DO_PUBLISH: return "publish";
	case MTS_HOSTED_DO_SERVE_NONE: return "serve-none";
	case MTS_HOSTED_DO_DELETE: return "delete";
	case MTS_HOSTED_DO_FORGET: return "forget";
	}
	return "unknown";
}
