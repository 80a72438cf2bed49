/* phi.h -- the phi-accrual failure detector for one monitored member.
 *
 * A heartbeat detector with a fixed timeout answers "up" or "down"; an
 * accrual detector (Hayashibara, Defago, Yared and Katayama, "The phi
 * Accrual Failure Detector", SRDS 2004) answers a number, the suspicion
 *
 *     phi(now) = -log10(P_later(now - t_last))
 *
 * where t_last is the time of the last heartbeat arrival and P_later(t) is
 * the probability, under the distribution of inter-arrival times observed
 * so far, that the next heartbeat comes more than t after the last one.
 * phi = 1 means "a heartbeat this late happens one time in 10", phi = 8
 * "one time in 10^8". The caller compares phi with a threshold; raising the
 * threshold trades slower detection for fewer false suspicions, and the
 * same threshold adapts by itself to fast and slow heartbeat rhythms.
 *
 * WHICH DISTRIBUTION. The paper fits a normal distribution (mean and
 * variance of the window). Apache Cassandra, whose heartbeats travel the
 * way ours do -- by gossip, through random intermediaries -- models the
 * inter-arrival times as exponential, P_later(t) = exp(-t / mean), which
 * gives the closed form
 *
 *     phi(t) = log10(e) * t / mean            (t = now - t_last)
 *
 * We use the exponential model, for the reason Cassandra does: a member's
 * heartbeat reaches us after a random number of gossip hops, so arrivals
 * are irregular by nature. Under a normal fit, a stretch of regular
 * arrivals shrinks the variance towards zero and one late gossip then
 * drives phi to infinity (a false suspicion); the exponential tail is
 * heavy enough that only a silence of about 18 mean intervals reaches
 * phi = 8 (t = 8 * ln(10) * mean). The price: the model keeps only the
 * mean, so jitter around an unchanged mean does not make it more patient
 * -- the time to suspicion is threshold * ln(10) * mean, whatever the
 * spread (tests/test_phi.c checks both sides of this).
 *
 * THE WINDOW. Each detector keeps the last `window` inter-arrival times
 * (Cassandra keeps 1000) in a ring buffer and their running sum, so the
 * mean is O(1). The buffer starts small and doubles up to `window`, so a
 * member heard a few times costs a few bytes, not 4 KiB. Two rules, both
 * from Cassandra:
 *
 *   bootstrap  the first arrival records one interval of bootstrap_ms
 *              (default twice the gossip interval), so a member just heard
 *              of is not suspected at once, and a few real samples soon
 *              outweigh the guess;
 *   clipping   an interval longer than max_interval_ms (default the
 *              bootstrap value) is not recorded, so a long partition does
 *              not teach the detector to wait longer next time -- a member
 *              that keeps disappearing should be suspected quickly.
 *
 * Two arrivals in the same millisecond count as one (an interval of 0
 * would only drag the mean down). Time comes in as now_ms from the caller;
 * nothing here reads a clock.
 */
#ifndef RKV_GOSSIP_PHI_H
#define RKV_GOSSIP_PHI_H

#include <stdbool.h>
#include <stdint.h>

/* log10(e) = 1 / ln(10): phi per mean interval of silence. */
#define PHI_LOG10_E 0.43429448190325182765

#define PHI_DEFAULT_WINDOW 1000u
#define PHI_MAX_WINDOW     100000u
#define PHI_MAX_MS         86400000u /* one day: bootstrap and max interval */

/* How a detector learns; shared by all detectors of one node. */
struct phi_params {
	uint32_t window;          /* samples kept, 1..PHI_MAX_WINDOW */
	uint32_t bootstrap_ms;    /* the first sample, 1..PHI_MAX_MS */
	uint32_t max_interval_ms; /* not recorded above this, 1..PHI_MAX_MS */
};

/* One monitored member. Plain data in the caller's storage: phi_init(),
 * then phi_deinit() to release the sample buffer. Moving the struct (e.g.
 * by realloc of an array holding it) is allowed. */
struct phi_detector {
	uint64_t sum;      /* of the samples held */
	uint64_t last_ms;  /* time of the last arrival (valid when heard) */
	uint32_t *samples; /* cap intervals in ms, malloc'ed; owned */
	uint32_t cap;      /* room in samples[] */
	uint32_t count;    /* samples held, <= cap */
	uint32_t head;     /* oldest sample once the buffer is full */
	bool heard;        /* at least one arrival since init/reset */
};

/* phi_params_default -- window PHI_DEFAULT_WINDOW, bootstrap and max
 * interval 2 * interval_ms (Cassandra's defaults for a 1 s gossip), clamped
 * to 1..PHI_MAX_MS. */
void phi_params_default(struct phi_params *p, uint32_t interval_ms);

/* phi_params_valid -- every field within its range. */
bool phi_params_valid(const struct phi_params *p);

/* phi_init -- an empty detector: never heard, no samples, no memory. */
void phi_init(struct phi_detector *d);

/* phi_deinit -- free the sample buffer; d is then as after phi_init(). */
void phi_deinit(struct phi_detector *d);

/* phi_reset -- forget every sample and the last arrival (the member
 * restarted: its old rhythm says nothing about the new process). Keeps the
 * buffer for reuse. */
void phi_reset(struct phi_detector *d);

/* phi_heartbeat -- a heartbeat arrived at now_ms. The first arrival after
 * init/reset records p->bootstrap_ms; later ones record now - last unless it
 * is 0 or above p->max_interval_ms. An arrival older than the last one
 * (now_ms < last) is ignored. Never fails: when the buffer cannot grow
 * (ENOMEM) the detector keeps the samples it has room for and overwrites
 * the oldest, i.e. it runs with a smaller window. */
void phi_heartbeat(struct phi_detector *d, const struct phi_params *p,
                   uint64_t now_ms);

/* phi_mean_ms -- the mean of the samples held; p->bootstrap_ms when there
 * are none. Always >= 1. */
double phi_mean_ms(const struct phi_detector *d, const struct phi_params *p);

/* phi_value -- log10(e) * (now - last) / mean; 0 when now_ms <= last;
 * HUGE_VAL when never heard (a member nobody has heard from is down). */
double phi_value(const struct phi_detector *d, const struct phi_params *p,
                 uint64_t now_ms);

/* phi_suspect_after_ms -- how long after the last arrival phi reaches
 * threshold (> 0): threshold * ln(10) * mean, rounded up. 0 when never
 * heard. A caller can schedule its next look at the member from this. */
uint64_t phi_suspect_after_ms(const struct phi_detector *d,
                              const struct phi_params *p, double threshold);

#endif
