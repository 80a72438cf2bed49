/* logging.h -- leveled log lines on stderr.
 *
 * Only src/ logs; ring/ and gossip/ return codes instead. A line is
 * "<ISO-8601 UTC time> <level> <message>\n", written with one write(2) so
 * lines of concurrent processes sharing a terminal or file do not interleave.
 */
#ifndef RKV_LOGGING_H
#define RKV_LOGGING_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* log_set_level -- lines below this level are dropped (default LOG_INFO). */
void log_set_level(enum log_level level);

/* log_level_parse -- "debug", "info", "warn" or "error" into *out.
 * Returns 0, or RKV_EINVAL for any other text (then *out is unchanged). */
int log_level_parse(const char *text, enum log_level *out);

/* log_route_libevent -- send libevent's own warnings through log_write. */
void log_route_libevent(void);

void log_write(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
