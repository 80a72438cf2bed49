/* status.c -- texts and HTTP mapping of the RKV_E* codes (see status.h). */
#include "status.h"

#include <stddef.h>

struct status_row {
	int code;
	int http;
	const char *msg;
};

static const struct status_row status_rows[] = {
#define RKV_STATUS_ROW(name, value, http, msg) {(value), (http), (msg)},
    RKV_STATUS_TABLE(RKV_STATUS_ROW)
#undef RKV_STATUS_ROW
};

static const struct status_row *status_find(int status)
{
	for (size_t i = 0; i < sizeof(status_rows) / sizeof(status_rows[0]);
	     i++)
		if (status_rows[i].code == status)
			return &status_rows[i];
	return NULL;
}

const char *rkv_strerror(int status)
{
	const struct status_row *row = status_find(status);
	return row ? row->msg : "unknown error";
}

int rkv_status_http(int status)
{
	const struct status_row *row = status_find(status);
	return row ? row->http : 500;
}
