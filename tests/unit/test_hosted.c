/* test_hosted.c - the safe order of a hosted domain's updates (hosted.c):
 * scenarios step by step, and a long random walk of events that checks the
 * rules hold after every step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/hosted_int.h"
#include "mtasts/error.h"

static const struct mts_hosted_rules rules = {
	.propagation = 30, .cert_margin = 86400, .backoff_min = 10, .backoff_max = 80};

#define DAY 86400LL
#define T0 1000000000LL

static void ev(struct mts_hosted *h, long long now, enum mts_hosted_event_type type, const char *id,
	       uint32_t max_age, bool none, long long not_after)
{
	struct mts_hosted_event e = {
		.type = type, .id = id, .max_age = max_age, .none = none, .not_after = not_after};
	assert_int_equal(mts_hosted_apply(h, &e, now, &rules), 0);
}

static struct mts_hosted_action next(const struct mts_hosted *h, long long now)
{
	struct mts_hosted_action a;
	mts_hosted_next(h, now, &rules, &a);
	return a;
}

/* A domain with a certificate, its first policy served and published. */
static void stable(struct mts_hosted *h, const char *id, uint32_t max_age)
{
	mts_hosted_init(h);
	ev(h, T0, MTS_HOSTED_EV_CERT, NULL, 0, false, T0 + 90 * DAY);
	ev(h, T0, MTS_HOSTED_EV_SERVED, id, max_age, false, 0);
	struct mts_hosted_action a = next(h, T0 + 30);
	assert_int_equal(a.what, MTS_HOSTED_DO_PUBLISH);
	ev(h, T0 + 30, MTS_HOSTED_EV_UPDATE_SENT, id, 0, false, 0);
	ev(h, T0 + 31, MTS_HOSTED_EV_UPDATE_OK, id, 0, false, 0);
	assert_int_equal(h->phase, MTS_HOSTED_STABLE);
}

static void test_first_publish_waits_for_replicas_and_certificate(void **state)
{
	(void)state;
	struct mts_hosted h;
	mts_hosted_init(&h);
	assert_int_equal(next(&h, T0).what, MTS_HOSTED_DO_WAIT);
	ev(&h, T0, MTS_HOSTED_EV_SERVED, "A1", 604800, false, 0);
	assert_int_equal(h.phase, MTS_HOSTED_SERVING);
	struct mts_hosted_action a = next(&h, T0 + 10);
	assert_int_equal(a.what, MTS_HOSTED_DO_WAIT);
	assert_int_equal(a.wake_at, T0 + 30); /* every replica serves it by then */
	a = next(&h, T0 + 30);
	assert_int_equal(a.what, MTS_HOSTED_DO_WAIT); /* no certificate */
	assert_non_null(strstr(a.why, "certificate"));
	/* A certificate about to expire is not enough either. */
	ev(&h, T0 + 40, MTS_HOSTED_EV_CERT, NULL, 0, false, T0 + 3600);
	assert_int_equal(next(&h, T0 + 40).what, MTS_HOSTED_DO_WAIT);
	ev(&h, T0 + 50, MTS_HOSTED_EV_CERT, NULL, 0, false, T0 + 90 * DAY);
	a = next(&h, T0 + 50);
	assert_int_equal(a.what, MTS_HOSTED_DO_PUBLISH);
	assert_string_equal(a.id, "A1");
	ev(&h, T0 + 50, MTS_HOSTED_EV_UPDATE_SENT, "A1", 0, false, 0);
	assert_int_equal(next(&h, T0 + 51).what, MTS_HOSTED_DO_WAIT); /* in flight */
	ev(&h, T0 + 52, MTS_HOSTED_EV_UPDATE_OK, "A1", 0, false, 0);
	assert_int_equal(h.phase, MTS_HOSTED_STABLE);
	assert_string_equal(h.published_id, "A1");
	assert_int_equal(next(&h, T0 + 60).what, MTS_HOSTED_DO_WAIT);
}

static void test_failed_update_keeps_old_id_and_backs_off(void **state)
{
	(void)state;
	struct mts_hosted h;
	stable(&h, "A1", 604800);
	ev(&h, T0 + DAY, MTS_HOSTED_EV_SERVED, "B2", 604800, false, 0);
	long long t = T0 + DAY + 30;
	long long waits[] = {10, 20, 40, 80, 80};
	for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
		struct mts_hosted_action a = next(&h, t);
		assert_int_equal(a.what, MTS_HOSTED_DO_PUBLISH);
		ev(&h, t, MTS_HOSTED_EV_UPDATE_SENT, "B2", 0, false, 0);
		ev(&h, t + 1, MTS_HOSTED_EV_UPDATE_FAILED, NULL, 0, false, 0);
		assert_string_equal(h.published_id, "A1"); /* the old id stays */
		a = next(&h, t + 1);
		assert_int_equal(a.what, MTS_HOSTED_DO_WAIT);
		assert_int_equal(a.wake_at, t + 1 + waits[i]);
		t = a.wake_at;
	}
	ev(&h, t, MTS_HOSTED_EV_UPDATE_SENT, "B2", 0, false, 0);
	ev(&h, t + 1, MTS_HOSTED_EV_UPDATE_OK, "B2", 0, false, 0);
	assert_int_equal(h.phase, MTS_HOSTED_STABLE);
	assert_int_equal(h.failures, 0);
}

static void test_change_during_update_is_announced_in_turn(void **state)
{
	(void)state;
	struct mts_hosted h;
	stable(&h, "A1", 86400);
	ev(&h, T0 + DAY, MTS_HOSTED_EV_SERVED, "B2", 86400, false, 0);
	ev(&h, T0 + DAY + 30, MTS_HOSTED_EV_UPDATE_SENT, "B2", 0, false, 0);
	/* While B2's update is in flight, C3 is served. */
	ev(&h, T0 + DAY + 31, MTS_HOSTED_EV_SERVED, "C3", 86400, false, 0);
	assert_int_equal(h.phase, MTS_HOSTED_PUBLISHING);
	ev(&h, T0 + DAY + 32, MTS_HOSTED_EV_UPDATE_OK, "B2", 0, false, 0);
	assert_int_equal(h.phase, MTS_HOSTED_SERVING); /* C3 still to announce */
	struct mts_hosted_action a = next(&h, T0 + DAY + 40);
	assert_int_equal(a.what, MTS_HOSTED_DO_WAIT);
	assert_int_equal(a.wake_at, T0 + DAY + 61);
	a = next(&h, T0 + DAY + 61);
	assert_int_equal(a.what, MTS_HOSTED_DO_PUBLISH);
	assert_string_equal(a.id, "C3");
}

static void test_only_the_served_id_is_published(void **state)
{
	(void)state;
	struct mts_hosted h;
	stable(&h, "A1", 86400);
	struct mts_hosted before = h;
	struct mts_hosted_event bad[] = {
		{.type = MTS_HOSTED_EV_UPDATE_SENT, .id = "Z9"}, /* not served */
		{.type = MTS_HOSTED_EV_UPDATE_OK, .id = "A1"},	 /* nothing in flight */
		{.type = MTS_HOSTED_EV_UPDATE_FAILED},
		{.type = MTS_HOSTED_EV_SERVED, .id = "bad-id"}, /* not 1*32 ALPHA/DIGIT */
		{.type = MTS_HOSTED_EV_SERVED, .id = ""},
		{.type = MTS_HOSTED_EV_SERVED, .id = "123456789012345678901234567890123"},
		{.type = MTS_HOSTED_EV_UPDATE_SENT, .id = ""}, /* a deletion, not removing */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mts_hosted_apply(&h, &bad[i], T0 + DAY, &rules), MTS_EINVAL);
		assert_memory_equal(&h, &before, sizeof(h));
	}
	/* A result for another update than the one in flight is refused. */
	ev(&h, T0 + DAY, MTS_HOSTED_EV_SERVED, "B2", 86400, false, 0);
	ev(&h, T0 + DAY + 30, MTS_HOSTED_EV_UPDATE_SENT, "B2", 0, false, 0);
	struct mts_hosted_event other = {.type = MTS_HOSTED_EV_UPDATE_OK, .id = "A1"};
	assert_int_equal(mts_hosted_apply(&h, &other, T0 + DAY + 31, &rules), MTS_EINVAL);
	struct mts_hosted_event twice = {.type = MTS_HOSTED_EV_UPDATE_SENT, .id = "B2"};
	assert_int_equal(mts_hosted_apply(&h, &twice, T0 + DAY + 31, &rules), MTS_EINVAL);
}

static void test_removal_serves_none_until_caches_expire(void **state)
{
	(void)state;
	struct mts_hosted h;
	stable(&h, "A1", 604800); /* senders may hold A1 for a week */
	long long t = T0 + 10 * DAY;
	ev(&h, t, MTS_HOSTED_EV_REMOVE, NULL, 0, false, 0);
	struct mts_hosted_action a = next(&h, t);
	assert_int_equal(a.what, MTS_HOSTED_DO_SERVE_NONE);
	ev(&h, t, MTS_HOSTED_EV_SERVED, "N1", 86400, true, 0);
	a = next(&h, t + 30);
	assert_int_equal(a.what, MTS_HOSTED_DO_PUBLISH);
	assert_string_equal(a.id, "N1");
	ev(&h, t + 30, MTS_HOSTED_EV_UPDATE_SENT, "N1", 0, false, 0);
	ev(&h, t + 31, MTS_HOSTED_EV_UPDATE_OK, "N1", 0, false, 0);
	assert_int_equal(h.phase, MTS_HOSTED_RETIRING);
	/* A1 was served until t, by the slowest replica until t + 30. */
	a = next(&h, t + 31);
	assert_int_equal(a.what, MTS_HOSTED_DO_WAIT);
	assert_int_equal(a.wake_at, t + 30 + 604800);
	a = next(&h, t + 30 + 604800);
	assert_int_equal(a.what, MTS_HOSTED_DO_DELETE);
	ev(&h, a.wake_at, MTS_HOSTED_EV_UPDATE_SENT, "", 0, false, 0);
	assert_int_equal(h.phase, MTS_HOSTED_DELETING);
	ev(&h, t + 30 + 604801, MTS_HOSTED_EV_UPDATE_FAILED, NULL, 0, false, 0);
	assert_int_equal(h.phase, MTS_HOSTED_RETIRING);
	assert_int_equal(next(&h, t + 30 + 604801).what, MTS_HOSTED_DO_WAIT);
	assert_int_equal(next(&h, t + 30 + 604811).what, MTS_HOSTED_DO_DELETE);
	ev(&h, t + 30 + 604811, MTS_HOSTED_EV_UPDATE_SENT, "", 0, false, 0);
	ev(&h, t + 30 + 604812, MTS_HOSTED_EV_UPDATE_OK, "", 0, false, 0);
	assert_int_equal(h.phase, MTS_HOSTED_GONE);
	assert_int_equal(next(&h, t + 30 + 604812).what, MTS_HOSTED_DO_FORGET);
	struct mts_hosted_event late = {.type = MTS_HOSTED_EV_SERVED, .id = "X1"};
	assert_int_equal(mts_hosted_apply(&h, &late, t + DAY * 30, &rules), MTS_EINVAL);
}

static void test_removal_before_publication_forgets_at_once(void **state)
{
	(void)state;
	struct mts_hosted h;
	mts_hosted_init(&h);
	ev(&h, T0, MTS_HOSTED_EV_SERVED, "A1", 86400, false, 0);
	ev(&h, T0 + 5, MTS_HOSTED_EV_REMOVE, NULL, 0, false, 0);
	assert_int_equal(next(&h, T0 + 5).what, MTS_HOSTED_DO_FORGET);
	/* ...but not while its first update is in flight: it may land. */
	mts_hosted_init(&h);
	ev(&h, T0, MTS_HOSTED_EV_CERT, NULL, 0, false, T0 + 90 * DAY);
	ev(&h, T0, MTS_HOSTED_EV_SERVED, "A1", 86400, false, 0);
	ev(&h, T0 + 30, MTS_HOSTED_EV_UPDATE_SENT, "A1", 0, false, 0);
	ev(&h, T0 + 31, MTS_HOSTED_EV_REMOVE, NULL, 0, false, 0);
	assert_int_equal(next(&h, T0 + 31).what, MTS_HOSTED_DO_WAIT);
	ev(&h, T0 + 32, MTS_HOSTED_EV_UPDATE_OK, "A1", 0, false, 0);
	assert_int_equal(next(&h, T0 + 32).what, MTS_HOSTED_DO_SERVE_NONE);
}

/* A random walk: whatever happens, the rules hold after every step. */
struct world {
	struct mts_hosted h;
	long long now;
	char dns[MTS_STS_ID_MAX + 3]; /* what DNS holds (the truth, not h's view) */
	char served[MTS_STS_ID_MAX + 1];
	long long served_at[64]; /* when each id ("I<n>") began to be served */
	long long replaced_at[64];
	uint32_t max_age[64];
	bool none[64];
	unsigned ids;
	char sent[MTS_STS_ID_MAX + 2]; /* update in flight: "P<id>" or "D", "" none */
};

static uint32_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

static unsigned id_num(const char *id)
{
	unsigned n = 0;
	for (const char *p = id + 1; *p; p++)
		n = n * 10 + (unsigned)(*p - '0');
	return n;
}

static void serve_new(struct world *w, bool none, uint32_t max_age)
{
	if (w->ids >= 63)
		return;
	unsigned n = ++w->ids;
	if (w->served[0])
		w->replaced_at[id_num(w->served)] = w->now;
	snprintf(w->served, sizeof(w->served), "I%u", n);
	w->served_at[n] = w->now;
	w->max_age[n] = max_age;
	w->none[n] = none;
	ev(&w->h, w->now, MTS_HOSTED_EV_SERVED, w->served, max_age, none, 0);
}

static void check_action(struct world *w, const struct mts_hosted_action *a)
{
	if (a->what == MTS_HOSTED_DO_PUBLISH) {
		/* Only the served id, served by every replica, with a certificate. */
		assert_string_equal(a->id, w->served);
		assert_true(w->now >= w->served_at[id_num(a->id)] + rules.propagation);
		assert_true(w->h.cert_not_after > w->now + rules.cert_margin);
		assert_true(!w->sent[0]);
	}
	if (a->what == MTS_HOSTED_DO_DELETE) {
		/* Only after mode none is published and every policy before it,
		 * served until replaced (+ propagation), has expired. */
		assert_true(w->h.removing);
		assert_true(w->dns[0] && w->none[id_num(w->dns)]);
		for (unsigned n = 1; n < id_num(w->dns); n++)
			if (!w->none[n] && w->replaced_at[n])
				assert_true(w->now >=
					    w->replaced_at[n] + rules.propagation + w->max_age[n]);
	}
	if (a->what == MTS_HOSTED_DO_FORGET)
		assert_true(!w->dns[0]); /* nothing in DNS points at the policy */
}

static void test_random_walk_keeps_the_rules(void **state)
{
	(void)state;
	unsigned seen[MTS_HOSTED_DO_FORGET + 1] = {0};
	for (uint64_t seed = 1; seed <= 300; seed++) {
		struct world w = {.now = T0};
		uint64_t s = seed;
		mts_hosted_init(&w.h);
		bool gone = false;
		for (int step = 0; step < 400 && !gone; step++) {
			w.now += rnd(&s) % 4 ? rnd(&s) % 40 : rnd(&s) % (8 * DAY);
			struct mts_hosted_action a;
			mts_hosted_next(&w.h, w.now, &rules, &a);
			check_action(&w, &a);
			seen[a.what]++;
			switch (rnd(&s) % 10) {
			case 0: /* the operator changes the policy */
				if (!w.h.removing)
					serve_new(&w, false, 3600 + rnd(&s) % (14 * 86400));
				break;
			case 1: /* a certificate arrives, or lapses */
				ev(&w.h, w.now, MTS_HOSTED_EV_CERT, NULL, 0, false,
				   rnd(&s) % 3 ? w.now + 60 * DAY : w.now - 1);
				break;
			case 2:
				if (rnd(&s) % 8 == 0 && w.h.phase != MTS_HOSTED_GONE)
					ev(&w.h, w.now, MTS_HOSTED_EV_REMOVE, NULL, 0, false, 0);
				break;
			case 3:
			case 4:
			case 5: /* an update in flight ends */
				if (w.sent[0]) {
					bool ok = rnd(&s) % 3 != 0;
					if (ok && w.sent[0] == 'P')
						snprintf(w.dns, sizeof(w.dns), "%s", w.sent + 1);
					if (ok && w.sent[0] == 'D')
						w.dns[0] = '\0';
					ev(&w.h, w.now,
					   ok ? MTS_HOSTED_EV_UPDATE_OK
					      : MTS_HOSTED_EV_UPDATE_FAILED,
					   ok ? (w.sent[0] == 'P' ? w.sent + 1 : "") : NULL, 0,
					   false, 0);
					w.sent[0] = '\0';
				}
				break;
			default: /* the engine does what it was told */
				if (a.what == MTS_HOSTED_DO_PUBLISH) {
					ev(&w.h, w.now, MTS_HOSTED_EV_UPDATE_SENT, a.id, 0, false,
					   0);
					snprintf(w.sent, sizeof(w.sent), "P%s", a.id);
				} else if (a.what == MTS_HOSTED_DO_DELETE) {
					ev(&w.h, w.now, MTS_HOSTED_EV_UPDATE_SENT, "", 0, false, 0);
					snprintf(w.sent, sizeof(w.sent), "D");
				} else if (a.what == MTS_HOSTED_DO_SERVE_NONE) {
					serve_new(&w, true, 86400);
				} else if (a.what == MTS_HOSTED_DO_FORGET) {
					gone = true;
				}
			}
			/* The state's view of DNS is never ahead of the truth. */
			if (!w.sent[0])
				assert_string_equal(w.h.published_id, w.dns);
		}
	}
	/* The walk reached every kind of action, so the checks above ran. */
	for (unsigned i = 0; i <= MTS_HOSTED_DO_FORGET; i++) {
		printf("# %s: %u\n", mts_hosted_do_name((enum mts_hosted_do)i), seen[i]);
		assert_true(seen[i] > 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_publish_waits_for_replicas_and_certificate),
		cmocka_unit_test(test_failed_update_keeps_old_id_and_backs_off),
		cmocka_unit_test(test_change_during_update_is_announced_in_turn),
		cmocka_unit_test(test_only_the_served_id_is_published),
		cmocka_unit_test(test_removal_serves_none_until_caches_expire),
		cmocka_unit_test(test_removal_before_publication_forgets_at_once),
		cmocka_unit_test(test_random_walk_keeps_the_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
