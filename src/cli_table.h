/* cli_table.h -- aligned text tables for the ringkv CLI's human output.
 *
 * A table is collected whole and printed at the end, because a column is
 * as wide as its widest cell. Cells are copied, so callers can format into
 * a reused buffer. Columns are left-aligned unless declared right-aligned
 * (numbers), separated by two spaces, and the last column is not padded,
 * so lines carry no trailing blanks and `awk '{print $N}'` works on them
 * (cells never contain spaces: empty cells are written as "-").
 *
 * Limits: CLI_TABLE_MAX_COLS columns, CLI_TABLE_MAX_ROWS rows (enough for
 * one row per partition of the largest ring) and CLI_TABLE_MAX_CELL bytes
 * per cell (longer cells are cut).
 */
#ifndef RKV_CLI_TABLE_H
#define RKV_CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CLI_TABLE_MAX_COLS 16
#define CLI_TABLE_MAX_ROWS 65536
#define CLI_TABLE_MAX_CELL 256

struct cli_table_col {
	const char *header; /* static text, upper case by convention */
	bool right;         /* right-align (numbers) */
};

struct cli_table;

/* cli_table_new -- a table with the given columns (copied; at most
 * CLI_TABLE_MAX_COLS, at least one). NULL when ncols is out of range or
 * memory ran out. Free with cli_table_free. */
struct cli_table *cli_table_new(const struct cli_table_col *cols, size_t ncols);

void cli_table_free(struct cli_table *t);

/* cli_table_add -- append a row of exactly the table's column count of
 * cells (copied; NULL or "" is written "-", spaces become '_' so columns
 * stay splittable). 0, RKV_ETOOBIG after CLI_TABLE_MAX_ROWS rows, or
 * RKV_ENOMEM. */
int cli_table_add(struct cli_table *t, const char *const *cells);

/* cli_table_print -- the header line and every row, aligned, to out. */
void cli_table_print(const struct cli_table *t, FILE *out);

#endif
