/* conf.h -- the node's configuration, from one declarative table.
 *
 * Every setting is one row of conf.c's table: name, type, default, limits
 * and one line of help. The same table parses the config file (riak.conf
 * style `key = value` lines, `#` starts a comment), parses command-line
 * flags (`--http-listen X`, `--http_listen X` or `--http-listen=X`; a flag
 * wins over the file), prints --help and writes the sample config, so a
 * setting cannot be documented in one place and parsed differently in
 * another.
 */
#ifndef RKV_CONF_H
#define RKV_CONF_H

#include "logging.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CONF_NAME_MAX  255
#define CONF_ADDR_MAX  255
#define CONF_PATH_MAX  1024
#define CONF_SEEDS_MAX 4096
#define CONF_ERR_MAX   512

enum conf_sync { CONF_SYNC_BATCH, CONF_SYNC_PERIODIC };

struct conf {
	char name[CONF_NAME_MAX + 1]; /* empty: use rpc_listen */
	char cluster_name[CONF_NAME_MAX + 1];
	char http_listen[CONF_ADDR_MAX + 1];
	char rpc_listen[CONF_ADDR_MAX + 1];
	char data_dir[CONF_PATH_MAX + 1];
	char seeds[CONF_SEEDS_MAX + 1];
	uint64_t ring_size;
	uint64_t n_val;
	uint64_t sync; /* enum conf_sync */
	uint64_t sync_interval_ms;
	uint64_t checkpoint_interval_ms;
	uint64_t compact_check_ms;
	uint64_t compact_min_bytes;
	double compact_ratio;
	uint64_t max_key_bytes;
	uint64_t max_value_bytes;
	uint64_t gossip_interval_ms;
	double phi_threshold;
	uint64_t transfer_limit;
	uint64_t transfer_rate;     /* MB/s */
	uint64_t transfer_grace_ms; /* keep a handed-off copy this long */
	uint64_t log_level;         /* enum log_level */
};

/* What conf_parse_args asks the caller to do besides running. */
enum conf_action { CONF_RUN, CONF_HELP, CONF_SAMPLE, CONF_COMPACT };

/* conf_defaults -- fill every setting with its default. */
void conf_defaults(struct conf *c);

/* conf_set -- set one setting from text, checking type and limits.
 * 0, or RKV_EINVAL with a message in err (unknown key, bad value). */
int conf_set(struct conf *c, const char *key, const char *value, char *err,
             size_t errlen);

/* conf_load_file -- apply every `key = value` line of a file.
 * 0, or RKV_EINVAL / RKV_EIO with "path:line: message" in err. */
int conf_load_file(struct conf *c, const char *path, char *err, size_t errlen);

/* conf_parse_args -- defaults, then the file named by -c/--config (if any),
 * then every flag. *action says whether --help, --sample-config or
 * --compact was given. 0 or RKV_EINVAL with a message in err. */
int conf_parse_args(struct conf *c, int argc, char **argv,
                    enum conf_action *action, char *err, size_t errlen);

/* conf_print_help -- usage and one line per setting with its default. */
void conf_print_help(FILE *out, const char *prog);

/* conf_write_sample -- a commented config file holding every default. */
void conf_write_sample(FILE *out);

#endif
