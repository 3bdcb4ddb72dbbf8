/*
 * json: recursive descent over a bounded depth. Every failure names
 * the byte offset where the text stopped making sense.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "xmalloc.h"

struct parser {
	const char	*s;
	size_t		 len, pos;
	struct ls_err	*err;
};

static struct json	*parse_value(struct parser *, int depth);

static void
skip_ws(struct parser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' ||
	    p->s[p->pos] == '\t' || p->s[p->pos] == '\r' ||
	    p->s[p->pos] == '\n'))
		p->pos++;
}

static int
fail(struct parser *p, const char *what)
{
	ls_err_set(p->err, "json: %s at offset %zu", what, p->pos);
	return -1;
}

static int
hex4(struct parser *p, unsigned *out)
{
	unsigned	 v = 0;
	int		 i;
	char		 c;

	if (p->len - p->pos < 4)
		return fail(p, "short \\u escape");
	for (i = 0; i < 4; i++) {
		c = p->s[p->pos++];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return fail(p, "bad \\u escape");
	}
	*out = v;
	return 0;
}

static void
put_utf8(struct buf *b, unsigned cp)
{
	if (cp < 0x80) {
		buf_addch(b, (int)cp);
	} else if (cp < 0x800) {
		buf_addch(b, (int)(0xc0 | cp >> 6));
		buf_addch(b, (int)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		buf_addch(b, (int)(0xe0 | cp >> 12));
		buf_addch(b, (int)(0x80 | (cp >> 6 & 0x3f)));
		buf_addch(b, (int)(0x80 | (cp & 0x3f)));
	} else {
		buf_addch(b, (int)(0xf0 | cp >> 18));
		buf_addch(b, (int)(0x80 | (cp >> 12 & 0x3f)));
		buf_addch(b, (int)(0x80 | (cp >> 6 & 0x3f)));
		buf_addch(b, (int)(0x80 | (cp & 0x3f)));
	}
}

static int
parse_escape(struct parser *p, struct buf *b)
{
	static const char	 from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char		*e;
	unsigned		 cp, lo;
	char			 c = p->s[p->pos++];

	if (c != 'u') {
		if (c == '\0' || (e = strchr(from, c)) == NULL)
			return fail(p, "bad escape");
		buf_addch(b, to[e - from]);
		return 0;
	}
	if (hex4(p, &cp) == -1)
		return -1;
	if (cp >= 0xd800 && cp < 0xdc00) {
		if (p->len - p->pos < 2 || p->s[p->pos] != '\\' ||
		    p->s[p->pos + 1] != 'u')
			return fail(p, "lone surrogate");
		p->pos += 2;
		if (hex4(p, &lo) == -1 || lo < 0xdc00 || lo > 0xdfff)
			return fail(p, "bad surrogate pair");
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	} else if (cp >= 0xdc00 && cp < 0xe000)
		return fail(p, "lone surrogate");
	if (cp == 0)
		return fail(p, "NUL in string");
	put_utf8(b, cp);
	return 0;
}

static char *
parse_string(struct parser *p)
{
	struct buf	 b;
	char		*str;
	char		 c;

	p->pos++;	/* the opening quote */
	buf_init(&b);
	for (;;) {
		if (p->pos >= p->len) {
			fail(p, "unterminated string");
			break;
		}
		c = p->s[p->pos++];
		if (c == '"') {
			str = buf_detach(&b, NULL);
			buf_release(&b);
			return str;
		}
		if ((unsigned char)c < 0x20) {
			fail(p, "control character in string");
			break;
		}
		if (c != '\\') {
			buf_addch(&b, c);
			continue;
		}
		if (p->pos >= p->len) {
			fail(p, "unterminated string");
			break;
		}
		if (parse_escape(p, &b) == -1)
			break;
	}
	buf_release(&b);
	return NULL;
}

static int
parse_literal(struct parser *p, struct json *j)
{
	static const struct {
		const char	*word;
		enum json_type	 type;
		int		 value;
	} lits[] = {
		{ "true", JSON_BOOL, 1 },
		{ "false", JSON_BOOL, 0 },
		{ "null", JSON_NULL, 0 },
	};
	size_t	 i, n;
	char	*end, tmp[64];

	for (i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
		n = strlen(lits[i].word);
		if (p->len - p->pos >= n &&
		    memcmp(p->s + p->pos, lits[i].word, n) == 0) {
			j->type = lits[i].type;
			j->boolean = lits[i].value;
			p->pos += n;
			return 0;
		}
	}
	/* A number: copy it out, since the input is not NUL-terminated. */
	for (n = 0; p->pos + n < p->len && n < sizeof(tmp) &&
	    strchr("+-0123456789.eE", p->s[p->pos + n]) != NULL &&
	    p->s[p->pos + n] != '\0'; n++)
		;
	if (n == 0 || n >= sizeof(tmp))
		return fail(p, "unexpected character");
	memcpy(tmp, p->s + p->pos, n);
	tmp[n] = '\0';
	j->type = JSON_NUMBER;
	j->num = strtod(tmp, &end);
	if (*end != '\0')
		return fail(p, "bad number");
	p->pos += n;
	return 0;
}

/* Members or elements up to the closing bracket; keys for objects. */
static int
parse_container(struct parser *p, struct json *j, int depth)
{
	int		 object = j->type == JSON_OBJECT;
	char		 close = object ? '}' : ']';
	struct json	**tail = &j->child, *v;
	char		*key = NULL;

	p->pos++;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		return 0;
	}
	for (;;) {
		skip_ws(p);
		if (object) {
			if (p->pos >= p->len || p->s[p->pos] != '"')
				return fail(p, "expected a member name");
			if ((key = parse_string(p)) == NULL)
				return -1;
			skip_ws(p);
			if (p->pos >= p->len || p->s[p->pos++] != ':') {
				free(key);
				return fail(p, "expected ':'");
			}
		}
		if ((v = parse_value(p, depth + 1)) == NULL) {
			free(key);
			return -1;
		}
		v->key = key;
		key = NULL;
		*tail = v;
		tail = &v->next;
		skip_ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == close) {
			p->pos++;
			return 0;
		}
		return fail(p, object ? "expected ',' or '}'" :
		    "expected ',' or ']'");
	}
}

static struct json *
parse_value(struct parser *p, int depth)
{
	struct json	*j;
	int		 r;

	if (depth > JSON_MAX_DEPTH) {
		fail(p, "nesting too deep");
		return NULL;
	}
	skip_ws(p);
	if (p->pos >= p->len) {
		fail(p, "unexpected end");
		return NULL;
	}
	j = xcalloc(1, sizeof(*j));
	switch (p->s[p->pos]) {
	case '{':
		j->type = JSON_OBJECT;
		r = parse_container(p, j, depth);
		break;
	case '[':
		j->type = JSON_ARRAY;
		r = parse_container(p, j, depth);
		break;
	case '"':
		j->type = JSON_STRING;
		r = (j->str = parse_string(p)) == NULL ? -1 : 0;
		break;
	default:
		r = parse_literal(p, j);
		break;
	}
	if (r == -1) {
		json_free(j);
		return NULL;
	}
	return j;
}

struct json *
json_parse(const char *s, size_t len, struct ls_err *err)
{
	struct parser	 p = { s, len, 0, err };
	struct json	*j;

	if ((j = parse_value(&p, 0)) == NULL)
		return NULL;
	skip_ws(&p);
	if (p.pos != p.len) {
		fail(&p, "trailing bytes");
		json_free(j);
		return NULL;
	}
	return j;
}

void
json_free(struct json *j)
{
	struct json	*next;

	for (; j != NULL; j = next) {
		next = j->next;
		json_free(j->child);
		free(j->key);
		free(j->str);
		free(j);
	}
}

/* Follow a dotted path of member names ("Config.Env"); NULL if absent. */
const struct json *
json_get(const struct json *j, const char *path)
{
	const struct json	*m;
	size_t			 n;

	while (j != NULL && *path != '\0') {
		n = strcspn(path, ".");
		if (j->type != JSON_OBJECT)
			return NULL;
		for (m = j->child; m != NULL; m = m->next)
			if (strlen(m->key) == n && memcmp(m->key, path, n) == 0)
				break;
		j = m;
		path += n;
		if (*path == '.')
			path++;
	}
	return j;
}

/* The string at path, or NULL if it is absent or not a string. */
const char *
json_str(const struct json *j, const char *path)
{
	j = json_get(j, path);
	return j != NULL && j->type == JSON_STRING ? j->str : NULL;
}
