/* logging.c -- see logging.h. */
#include "logging.h"

#include "status.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* A log line longer than this is cut; a bound keeps one write(2) per line. */
#define LOG_LINE_MAX 1024

static enum log_level log_threshold = LOG_INFO;

static const char *const log_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

int log_level_parse(const char *text, enum log_level *out)
{
	for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
		if (strcmp(text, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return RKV_EINVAL;
}

static void log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	struct timeval tv;
	struct tm tm;

	if (level < log_threshold)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	int n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03ldZ %s ",
	              (long)(tv.tv_usec / 1000), log_names[level]);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	line[n++] = '\n';
	/* Nothing useful can be done if stderr is gone. */
	ssize_t ignored = write(STDERR_FILENO, line, (size_t)n);
	(void)ignored;
}

void log_write(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(level, fmt, ap);
	va_end(ap);
}

static void log_from_libevent(int severity, const char *msg)
{
	enum log_level level = LOG_ERROR;
	switch (severity) {
	case EVENT_LOG_DEBUG: level = LOG_DEBUG; break;
	case EVENT_LOG_MSG: level = LOG_INFO; break;
	case EVENT_LOG_WARN: level = LOG_WARN; break;
	default: break;
	}
	log_write(level, "libevent: %s", msg);
}

void log_route_libevent(void)
{
	event_set_log_callback(log_from_libevent);
}
