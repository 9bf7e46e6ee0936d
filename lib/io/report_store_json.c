/* report_store_json.c - what the report store backends share: a string list
 * (policy-string, mx-host) kept as a JSON array (see report_store_int.h). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "io/report_store_int.h"

char *mts_report_store_list_json(char **items, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(items[i]));
	char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return s;
}

int mts_report_store_list_parse(const char *text, char ***items, size_t *n)
{
	*items = NULL;
	*n = 0;
	json_t *a = text ? json_loads(text, 0, NULL) : NULL;
	if (!json_is_array(a) || json_array_size(a) == 0) {
		json_decref(a);
		return 0;
	}
	*items = calloc(json_array_size(a), sizeof(**items));
	if (!*items) {
		json_decref(a);
		return MTS_ENOMEM;
	}
	size_t i;
	json_t *v;
	int rc = 0;
	json_array_foreach(a, i, v)
	{
		const char *sv = json_string_value(v);
		(*items)[*n] = strdup(sv ? sv : "");
		if (!(*items)[*n]) {
			rc = MTS_ENOMEM;
			break;
		}
		(*n)++;
	}
	json_decref(a);
	return rc;
}
