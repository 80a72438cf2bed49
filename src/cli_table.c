/* cli_table.c -- see cli_table.h.
 *
 * Rows live in one growing array of cell pointers (row-major), doubled
 * when full up to the row limit, and column widths are kept up to date as
 * rows arrive, so printing is one pass. Widths count UTF-8 code points,
 * not bytes, so a member name in another script still lines up.
 */
#include "cli_table.h"

#include "status.h"

#include <stdlib.h>
#include <string.h>

struct cli_table {
	struct cli_table_col cols[CLI_TABLE_MAX_COLS];
	size_t ncols;
	size_t width[CLI_TABLE_MAX_COLS];
	char **cells; /* nrows * ncols */
	size_t nrows, cap_rows;
};

/* Columns a cell takes on a terminal: its UTF-8 code points (bytes that
 * are not continuation bytes); wide characters are not worth a table. */
static size_t table_width(const char *s)
{
	size_t w = 0;
	for (; *s != '\0'; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

struct cli_table *cli_table_new(const struct cli_table_col *cols, size_t ncols)
{
	struct cli_table *t;

	if (ncols == 0 || ncols > CLI_TABLE_MAX_COLS)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	memcpy(t->cols, cols, ncols * sizeof(*cols));
	t->ncols = ncols;
	for (size_t c = 0; c < ncols; c++)
		t->width[c] = table_width(cols[c].header);
	return t;
}

void cli_table_free(struct cli_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

static char *table_cell_copy(const char *s)
{
	size_t len = s != NULL ? strlen(s) : 0;
	char *out;

	if (len == 0) {
		s = "-";
		len = 1;
	}
	if (len > CLI_TABLE_MAX_CELL) {
		len = CLI_TABLE_MAX_CELL;
		/* cut before a code point, not inside one */
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	out = malloc(len + 1);
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
		out[i] =
		    (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') ? '_' : s[i];
	out[len] = '\0';
	return out;
}

int cli_table_add(struct cli_table *t, const char *const *cells)
{
	char **row;

	if (t->nrows == CLI_TABLE_MAX_ROWS)
		return RKV_ETOOBIG;
	if (t->nrows == t->cap_rows) {
		size_t cap = t->cap_rows ? t->cap_rows * 2 : 64;
		if (cap > CLI_TABLE_MAX_ROWS)
			cap = CLI_TABLE_MAX_ROWS;
		char **grown =
		    realloc(t->cells, cap * t->ncols * sizeof(char *));
		if (grown == NULL)
			return RKV_ENOMEM;
		t->cells = grown;
		t->cap_rows = cap;
	}
	row = &t->cells[t->nrows * t->ncols];
	for (size_t c = 0; c < t->ncols; c++) {
		row[c] = table_cell_copy(cells[c]);
		if (row[c] == NULL) {
			while (c-- > 0)
				free(row[c]);
			return RKV_ENOMEM;
		}
	}
	for (size_t c = 0; c < t->ncols; c++) {
		size_t w = table_width(row[c]);
		if (w > t->width[c])
			t->width[c] = w;
	}
	t->nrows++;
	return 0;
}

static void table_print_row(const struct cli_table *t, const char *const *cells,
                            FILE *out)
{
	for (size_t c = 0; c < t->ncols; c++) {
		int pad = (int)(t->width[c] - table_width(cells[c]));
		bool last = c + 1 == t->ncols;
		if (c > 0)
			fputs("  ", out);
		if (t->cols[c].right)
			fprintf(out, "%*s", pad, "");
		fputs(cells[c], out);
		if (!t->cols[c].right && !last)
			fprintf(out, "%*s", pad, "");
	}
	fputc('\n', out);
}

void cli_table_print(const struct cli_table *t, FILE *out)
{
	const char *headers[CLI_TABLE_MAX_COLS];

	for (size_t c = 0; c < t->ncols; c++)
		headers[c] = t->cols[c].header;
	table_print_row(t, headers, out);
	for (size_t r = 0; r < t->nrows; r++)
		table_print_row(t, (const char *const *)&t->cells[r * t->ncols],
		                out);
}
