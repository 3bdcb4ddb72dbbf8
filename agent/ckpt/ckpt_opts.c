/*
 * ckpt_opts: see ckpt_opts.h. One parser serves the settings file and
 * the meta file: lines "key=value", each key known, each integer in its
 * bounds; anything else is an error that names the line.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_opts.h"
#include "conf.h"
#include "fsutil.h"
#include "xmalloc.h"

#define META_MAX_BYTES	4096

void
ckpt_opts_default(struct ckpt_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->interval_ms = CKPT_INTERVAL_DEFAULT;
}

static int
parse_int(const char *v, long long lo, long long hi, long long *out)
{
	char		*end;
	long long	 n;

	if (*v == '\0' || *v == '-' || *v == '+' || *v == ' ')
		return -1;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < lo || n > hi)
		return -1;
	*out = n;
	return 0;
}

/*
 * Call fn(key, value) for each line of text; where names the source in
 * errors. A line without '=' or a failing fn is an error.
 */
typedef int	kv_fn(const char *key, const char *value, void *);

static int
kv_each(const char *text, const char *where, kv_fn *fn, void *arg,
    struct ls_err *err)
{
	char	*copy = xstrdup(text), *line, *next, *eq;
	int	 n = 0, rc = 0;

	for (line = copy; line != NULL && *line != '\0'; line = next) {
		n++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((eq = strchr(line, '=')) == NULL) {
			ls_err_set(err, "%s: line %d: expected key=value", where,
			    n);
			rc = -1;
			break;
		}
		*eq = '\0';
		if (fn(line, eq + 1, arg) == -1) {
			ls_err_set(err, "%s: line %d: bad or unknown setting "
			    "'%.40s'", where, n, line);
			rc = -1;
			break;
		}
	}
	free(copy);
	return rc;
}

static int
opts_one(const char *k, const char *v, void *arg)
{
	struct ckpt_opts	*o = arg;
	long long		 n;

	if (strcmp(k, "mode") == 0) {
		if (strcmp(v, "criu") != 0 && strcmp(v, "layer") != 0)
			return -1;
		o->criu = strcmp(v, "criu") == 0;
		return 0;
	}
	if (strcmp(k, "checkpoint_interval_ms") == 0) {
		if (parse_int(v, CKPT_INTERVAL_MIN, CKPT_INTERVAL_MAX, &n) ==
		    -1)
			return -1;
		o->interval_ms = n;
		return 0;
	}
	if (strcmp(k, "tcp_established") == 0 ||
	    strcmp(k, "file_locks") == 0) {
		if (parse_int(v, 0, 1, &n) == -1)
			return -1;
		*(k[0] == 't' ? &o->tcp_established : &o->file_locks) = (int)n;
		return 0;
	}
	return -1;
}

/* Apply the keys text sets onto o; the others keep their values. */
int
ckpt_opts_apply(struct ckpt_opts *o, const char *text, const char *where,
    struct ls_err *err)
{
	struct ckpt_opts	 tmp = *o;

	if (kv_each(text, where, opts_one, &tmp, err) == -1)
		return -1;
	*o = tmp;
	return 0;
}

void
ckpt_opts_format(const struct ckpt_opts *o, struct buf *b)
{
	buf_addf(b, "mode=%s\ncheckpoint_interval_ms=%lld\n"
	    "tcp_established=%d\nfile_locks=%d\n", o->criu ? "criu" : "layer",
	    o->interval_ms, o->tcp_established, o->file_locks);
}

/* The defaults, then the conf's entry for name. */
void
ckpt_opts_conf(const struct conf *conf, const char *name, struct ckpt_opts *o)
{
	struct conf_container	*cc = conf_container_find(conf, name);

	ckpt_opts_default(o);
	if (cc != NULL) {
		o->criu = strcmp(cc->mode, "criu") == 0;
		o->interval_ms = cc->checkpoint_interval_ms;
		o->tcp_established = (int)cc->tcp_established;
		o->file_locks = (int)cc->file_locks;
	}
}

/* Defaults, then the conf's entry, then what add was given. */
int
ckpt_opts_effective(const struct conf *conf, const char *name,
    const char *statedir, struct ckpt_opts *o, struct ls_err *err)
{
	char			*text, *where;
	struct ls_err		 rerr;
	int			 rc = 0;

	ckpt_opts_conf(conf, name, o);
	if ((text = read_small(statedir, CKPT_SETTINGS, &rerr)) == NULL)
		return 0;	/* none given on add */
	where = xasprintf("%s/%s", statedir, CKPT_SETTINGS);
	rc = ckpt_opts_apply(o, text, where, err);
	free(where);
	free(text);
	return rc;
}

/* The settings file for add's flags (NULL or 0: not given), checked. */
int
ckpt_opts_from_flags(const char *mode, const char *interval, int tcp,
    int locks, struct buf *out, struct ls_err *err)
{
	struct ckpt_opts	 o;
	size_t			 start = out->len;

	if (mode != NULL)
		buf_addf(out, "mode=%s\n", mode);
	if (interval != NULL)
		buf_addf(out, "checkpoint_interval_ms=%s\n", interval);
	if (tcp)
		buf_addstr(out, "tcp_established=1\n");
	if (locks)
		buf_addstr(out, "file_locks=1\n");
	ckpt_opts_default(&o);
	if (ckpt_opts_apply(&o, out->data != NULL ? out->data + start : "",
	    "add", err) == -1) {
		ls_err_set(err, "add: --mode must be layer or criu and "
		    "--checkpoint-interval between %d and %d ms",
		    CKPT_INTERVAL_MIN, CKPT_INTERVAL_MAX);
		return -1;
	}
	return 0;
}

static int
meta_one(const char *k, const char *v, void *arg)
{
	struct ckpt_meta	*m = arg;
	long long		 n;

	if (opts_one(k, v, &m->opts) == 0)
		return 0;
	if (parse_int(v, 0, LLONG_MAX, &n) == -1)
		return -1;
	if (strcmp(k, "taken_ms") == 0)
		m->taken_ms = n;
	else if (strcmp(k, "dump_ms") == 0)
		m->dump_ms = n;
	else if (strcmp(k, "frozen_us") == 0)
		m->frozen_us = n;
	else if (strcmp(k, "bytes") == 0)
		m->bytes = (uint64_t)n;
	else
		return -1;
	return 0;
}

int
ckpt_meta_parse(const char *text, struct ckpt_meta *m, struct ls_err *err)
{
	memset(m, 0, sizeof(*m));
	ckpt_opts_default(&m->opts);
	if (strlen(text) > META_MAX_BYTES) {
		ls_err_set(err, "checkpoint meta: longer than %d bytes",
		    META_MAX_BYTES);
		return -1;
	}
	if (kv_each(text, "checkpoint meta", meta_one, m, err) == -1)
		return -1;
	if (m->taken_ms == 0 || !m->opts.criu) {
		ls_err_set(err, "checkpoint meta: no taken_ms or mode=criu");
		return -1;
	}
	return 0;
}

void
ckpt_meta_format(const struct ckpt_meta *m, struct buf *b)
{
	buf_addf(b, "taken_ms=%lld\ndump_ms=%lld\nfrozen_us=%lld\n"
	    "bytes=%" PRIu64 "\n", m->taken_ms, m->dump_ms, m->frozen_us,
	    m->bytes);
	ckpt_opts_format(&m->opts, b);
}

int
ckpt_meta_load(const char *treedir, struct ckpt_meta *m, struct ls_err *err)
{
	char	*text = read_small(treedir, CKPT_META, err);
	int	 rc;

	if (text == NULL)
		return -1;
	rc = ckpt_meta_parse(text, m, err);
	free(text);
	return rc;
}
