/* conf.c -- settings table and its three readers (see conf.h).
 *
 * The table is the documentation: each row's help line is what --help
 * prints and what the sample config carries, and its limits are what the
 * parser enforces. Adding a setting is adding a row and a struct field.
 */
#include "conf.h"

#include "status.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum conf_type {
	CONF_STR,  /* fixed char array; size = capacity */
	CONF_UINT, /* uint64_t within [min, max] */
	CONF_POW2, /* uint64_t within [min, max], a power of two */
	CONF_DBL,  /* double within [min, max] */
	CONF_ENUM, /* uint64_t index into choices */
};

struct conf_row {
	const char *name;
	enum conf_type type;
	size_t offset;
	size_t size;
	const char *def;
	double min, max;
	const char *const *choices; /* NULL-terminated, CONF_ENUM only */
	const char *help;
};

static const char *const sync_choices[] = {"batch", "periodic", NULL};
static const char *const level_choices[] = {"debug", "info", "warn", "error",
                                            NULL};

#define STR(field, def, help)                                                  \
	{                                                                      \
#field, CONF_STR, offsetof(struct conf, field),                \
		    sizeof(((struct conf *)0)->field), def, 0, 0, NULL, help   \
	}
#define NUM(type, field, def, min, max, help)                                  \
	{                                                                      \
#field, type, offsetof(struct conf, field), 0, def, min, max,  \
		    NULL, help                                                 \
	}
#define ENUM(field, def, choices, help)                                        \
	{                                                                      \
#field, CONF_ENUM, offsetof(struct conf, field), 0, def, 0, 0, \
		    choices, help                                              \
	}

static const struct conf_row conf_rows[] = {
    STR(name, "", "node name shown everywhere (default: the rpc address)"),
    STR(cluster_name, "ringkv", "peers of another cluster are refused"),
    STR(http_listen, "127.0.0.1:8098", "client API, admin API, metrics"),
    STR(rpc_listen, "127.0.0.1:8099", "internode frames and gossip"),
    STR(data_dir, "./data", "LMDB environment and node metadata"),
    STR(seeds, "", "comma-separated rpc addresses to join through"),
    NUM(CONF_POW2, ring_size, "64", 1, 65536,
        "Q partitions, a power of two, fixed at cluster creation"),
    NUM(CONF_UINT, n_val, "3", 1, 16, "replicas per key"),
    ENUM(sync, "batch", sync_choices,
         "batch (ack after durable group commit) or periodic"),
    NUM(CONF_UINT, sync_interval_ms, "100", 1, 60000,
        "fsync period for sync = periodic"),
    NUM(CONF_UINT, checkpoint_interval_ms, "250", 1, 60000,
        "commit log to B-tree at least this often"),
    NUM(CONF_UINT, compact_check_ms, "10000", 0, 86400000,
        "how often the node asks whether to compact itself (0: never)"),
    NUM(CONF_UINT, compact_min_bytes, "67108864", 0, 1099511627776,
        "smaller databases are never compacted automatically"),
    NUM(CONF_DBL, compact_ratio, "1.5", 1.05, 100,
        "compact when the database is this many times its compacted size"),
    NUM(CONF_UINT, max_key_bytes, "1024", 1, 65536,
        "longer keys are refused with 400"),
    NUM(CONF_UINT, max_value_bytes, "1048576", 1, 268435456,
        "larger values are refused with 413"),
    NUM(CONF_UINT, gossip_interval_ms, "1000", 10, 600000,
        "period of gossip rounds"),
    NUM(CONF_DBL, phi_threshold, "8", 0.5, 100,
        "phi-accrual level at which a member is held down"),
    NUM(CONF_UINT, transfer_limit, "2", 1, 64,
        "partitions moving at once per node"),
    NUM(CONF_UINT, transfer_rate, "20", 1, 10000,
        "MB/s a node streams transfers at, all together"),
    NUM(CONF_UINT, transfer_grace_ms, "60000", 0, 86400000,
        "how long a handed-off copy is kept before it is dropped"),
    ENUM(log_level, "info", level_choices, "debug, info, warn or error"),
};

#define CONF_NROWS (sizeof(conf_rows) / sizeof(conf_rows[0]))

/* Flags spell settings with dashes or underscores; the table uses
 * underscores. */
static const struct conf_row *conf_find(const char *key, size_t len)
{
	for (size_t i = 0; i < CONF_NROWS; i++) {
		const char *name = conf_rows[i].name;
		size_t j = 0;
		while (j < len && name[j] != '\0' &&
		       (name[j] == key[j] || (name[j] == '_' && key[j] == '-')))
			j++;
		if (j == len && name[j] == '\0')
			return &conf_rows[i];
	}
	return NULL;
}

static int conf_set_row(struct conf *c, const struct conf_row *row,
                        const char *value, char *err, size_t errlen)
{
	char *field = (char *)c + row->offset;
	char *end;

	switch (row->type) {
	case CONF_STR:
		if (strlen(value) >= row->size) {
			snprintf(err, errlen, "%s: value longer than %zu bytes",
			         row->name, row->size - 1);
			return RKV_EINVAL;
		}
		strcpy(field, value);
		return 0;
	case CONF_ENUM:
		for (uint64_t i = 0; row->choices[i] != NULL; i++) {
			if (strcmp(value, row->choices[i]) == 0) {
				memcpy(field, &i, sizeof(i));
				return 0;
			}
		}
		snprintf(err, errlen, "%s: '%s' is not one of the choices (%s)",
		         row->name, value, row->help);
		return RKV_EINVAL;
	case CONF_DBL: {
		errno = 0;
		double d = strtod(value, &end);
		if (errno || end == value || *end != '\0' || !isfinite(d) ||
		    d < row->min || d > row->max)
			goto bad_number;
		memcpy(field, &d, sizeof(d));
		return 0;
	}
	case CONF_UINT:
	case CONF_POW2: {
		errno = 0;
		unsigned long long u = strtoull(value, &end, 10);
		if (errno || end == value || *end != '\0' || value[0] == '-' ||
		    (double)u < row->min || (double)u > row->max)
			goto bad_number;
		if (row->type == CONF_POW2 && (u & (u - 1)) != 0)
			goto bad_number;
		uint64_t v = u;
		memcpy(field, &v, sizeof(v));
		return 0;
	}
	}
bad_number:
	snprintf(err, errlen, "%s: '%s' is not a %snumber in [%g, %g]",
	         row->name, value,
	         row->type == CONF_POW2 ? "power-of-two " : "", row->min,
	         row->max);
	return RKV_EINVAL;
}

int conf_set(struct conf *c, const char *key, const char *value, char *err,
             size_t errlen)
{
	const struct conf_row *row = conf_find(key, strlen(key));
	if (row == NULL) {
		snprintf(err, errlen, "unknown setting '%s'", key);
		return RKV_EINVAL;
	}
	return conf_set_row(c, row, value, err, errlen);
}

void conf_defaults(struct conf *c)
{
	char err[CONF_ERR_MAX];
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < CONF_NROWS; i++) {
		int rc = conf_set_row(c, &conf_rows[i], conf_rows[i].def, err,
		                      sizeof(err));
		(void)rc; /* the defaults are checked by tests/test_conf.c */
	}
}

static char *conf_trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && strchr(" \t\r\n", s[n - 1]) != NULL)
		s[--n] = '\0';
	return s;
}

int conf_load_file(struct conf *c, const char *path, char *err, size_t errlen)
{
	char line[CONF_SEEDS_MAX + CONF_NAME_MAX + 8];
	char msg[CONF_ERR_MAX];
	int rc = 0;
	unsigned lineno = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return RKV_EIO;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash != NULL)
			*hash = '\0';
		char *text = conf_trim(line);
		if (*text == '\0')
			continue;
		char *eq = strchr(text, '=');
		if (eq == NULL) {
			snprintf(err, errlen, "%s:%u: expected 'key = value'",
			         path, lineno);
			rc = RKV_EINVAL;
			break;
		}
		*eq = '\0';
		rc = conf_set(c, conf_trim(text), conf_trim(eq + 1), msg,
		              sizeof(msg));
		if (rc != 0) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
			break;
		}
	}
	fclose(f);
	return rc;
}

/* Splits "--key=value" or "--key value"; returns the index of the next
 * argument to read, or -1 when the value is missing. */
static int conf_flag(struct conf *c, int argc, char **argv, int i, char *err,
                     size_t errlen)
{
	const char *key = argv[i] + 2;
	const char *eq = strchr(key, '=');
	size_t keylen = eq ? (size_t)(eq - key) : strlen(key);
	const struct conf_row *row = conf_find(key, keylen);
	const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);

	if (row == NULL) {
		snprintf(err, errlen, "unknown option '%s' (see --help)",
		         argv[i]);
		return -1;
	}
	if (value == NULL) {
		snprintf(err, errlen, "option '%s' needs a value", argv[i]);
		return -1;
	}
	if (conf_set_row(c, row, value, err, errlen) != 0)
		return -1;
	return eq ? i + 1 : i + 2;
}

int conf_parse_args(struct conf *c, int argc, char **argv,
                    enum conf_action *action, char *err, size_t errlen)
{
	*action = CONF_RUN;
	conf_defaults(c);

	/* The file first, wherever -c stands, so that every flag wins. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") != 0 &&
		    strcmp(argv[i], "--config") != 0)
			continue;
		if (i + 1 >= argc) {
			snprintf(err, errlen, "%s needs a file name", argv[i]);
			return RKV_EINVAL;
		}
		int rc = conf_load_file(c, argv[i + 1], err, errlen);
		if (rc != 0)
			return RKV_EINVAL;
	}
	for (int i = 1; i < argc;) {
		const char *a = argv[i];
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			i += 2;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			*action = CONF_HELP;
			i++;
		} else if (strcmp(a, "--sample-config") == 0) {
			*action = CONF_SAMPLE;
			i++;
		} else if (strcmp(a, "--compact") == 0) {
			*action = CONF_COMPACT;
			i++;
		} else if (strncmp(a, "--", 2) == 0) {
			i = conf_flag(c, argc, argv, i, err, errlen);
			if (i < 0)
				return RKV_EINVAL;
		} else {
			snprintf(err, errlen,
			         "unexpected argument '%s' (see --help)", a);
			return RKV_EINVAL;
		}
	}
	return 0;
}

void conf_print_help(FILE *out, const char *prog)
{
	fprintf(out,
	        "usage: %s [-c FILE] [--SETTING VALUE]... [--help] "
	        "[--sample-config] [--compact]\n"
	        "\n"
	        "Runs one ringkv node. Settings come from FILE (`key = value` "
	        "lines)\n"
	        "and from flags (dashes or underscores); a flag wins over the "
	        "file.\n"
	        "--sample-config prints a config file holding every default.\n"
	        "--compact rewrites the data directory of a stopped node with "
	        "full\n"
	        "pages and no free space, then exits.\n\n",
	        prog);
	for (size_t i = 0; i < CONF_NROWS; i++) {
		char flag[64];
		snprintf(flag, sizeof(flag), "--%s", conf_rows[i].name);
		for (char *p = flag + 2; *p; p++)
			if (*p == '_')
				*p = '-';
		fprintf(out, "  %-22s %s (default: '%s')\n", flag,
		        conf_rows[i].help, conf_rows[i].def);
	}
}

void conf_write_sample(FILE *out)
{
	fprintf(
	    out,
	    "# ringkvd configuration: `key = value`, `#` starts a comment.\n"
	    "# Every setting is shown with its default; flags override it.\n");
	for (size_t i = 0; i < CONF_NROWS; i++)
		fprintf(out, "\n# %s\n%s = %s\n", conf_rows[i].help,
		        conf_rows[i].name, conf_rows[i].def);
}
