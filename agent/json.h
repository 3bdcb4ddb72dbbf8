/*
 * json: a small reader for the container runtime's `inspect` output.
 *
 * json_parse() builds a tree that the caller owns and frees whole with
 * json_free(). Nesting is bounded (JSON_MAX_DEPTH) and strings holding
 * NUL are refused, since values end up in C strings and argv.
 */
#ifndef LS_JSON_H
#define LS_JSON_H

#include <stddef.h>

#include "err.h"

#define JSON_MAX_DEPTH	64

enum json_type {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json {
	enum json_type	 type;
	char		*key;		/* member name inside an object */
	char		*str;		/* JSON_STRING */
	double		 num;		/* JSON_NUMBER */
	int		 boolean;	/* JSON_BOOL */
	struct json	*child;		/* first element or member */
	struct json	*next;		/* next sibling */
};

struct json	*json_parse(const char *, size_t, struct ls_err *);
void		 json_free(struct json *);
const struct json *json_get(const struct json *, const char *path);
const char	*json_str(const struct json *, const char *path);

#endif
