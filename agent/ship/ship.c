/*
 * ship: see ship.h. States:
 *	DOWN -> (connect) -> HELLO -> IDLE
 *	IDLE -> TWIN -> IDLE -> OPEN -> IDLE -> SENDING -> ACK -> IDLE
 * `busy` is the container the outstanding request is about; `current`
 * the one the peer has open. The ship owns its ssh_conn and a copy of
 * the peer's settings (a config reload must not pull them away).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "beneath.h"
#include "ckpt.h"
#include "delta.h"
#include "frame.h"
#include "log.h"
#include "proc.h"
#include "loop.h"
#include "ship_int.h"
#include "ssh.h"
#include "xmalloc.h"

static const char *const state_names[] = {
	"disconnected", "handshake", "idle", "creating twin",
	"shipping image", "opening",
	"fetching signatures", "sending", "awaiting ack"
};

static void	ship_connect(struct ship *);
static void	pump(struct ship *);
static long	watch_timer(struct loop *, long long, void *);
static long	stall_check_ms(const struct ship *);

static void
peer_copy(struct conf_peer *dst, const struct conf_peer *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->name = xstrdup(src->name);
	dst->address = xstrdup(src->address);
	dst->port = src->port;
	dst->user = xstrdup(src->user);
	dst->identity = xstrdup(src->identity);
	dst->known_hosts = xstrdup(src->known_hosts);
	dst->remote_command = xstrdup(src->remote_command);
}

struct ship *
ship_new(struct loop *loop, const char *node, const char *runtime,
    const struct conf_peer *peer, struct containers *containers,
    int max_lag_ms, int stall_ms, ship_acked_cb *acked, void *arg)
{
	struct ship	*s = xcalloc(1, sizeof(*s));

	s->loop = loop;
	s->node = xstrdup(node);
	s->runtime = xstrdup(runtime);
	s->saver_fd = -1;
	peer_copy(&s->peer, peer);
	s->containers = containers;
	s->max_lag_ms = max_lag_ms;
	s->stall_ms = stall_ms;
	s->acked = acked;
	s->arg = arg;
	s->backoff = SHIP_BACKOFF_MIN_MS;
	s->watch = loop_add_timer(loop, stall_check_ms(s), watch_timer, s);
	buf_init(&s->out);
	return s;
}

void
ship_free(struct ship *s)
{
	if (s == NULL)
		return;
	if (s->retry != 0)
		loop_del_timer(s->loop, s->retry);
	if (s->resume != 0)
		loop_del_timer(s->loop, s->resume);
	loop_del_timer(s->loop, s->watch);
	ssh_free(s->conn);
	ssh_free(s->dead);
	delta_job_free(s->sigjob);
	ship_stop_saver(s);
	buf_release(&s->out);
	free(s->node);
	free(s->runtime);
	free(s->peer.name);
	free(s->peer.address);
	free(s->peer.user);
	free(s->peer.identity);
	free(s->peer.known_hosts);
	free(s->peer.remote_command);
	free(s);
}

const char *
ship_peer(const struct ship *s)
{
	return s->peer.name;
}

const char *
ship_state(const struct ship *s)
{
	return state_names[s->state];
}

/* Hand the staged frames to SSH. Returns -1 if that ended the session. */
int
ship_flush(struct ship *s)
{
	struct buf	 frames;

	if (s->out.len == 0)
		return 0;
	/*
	 * Detach first: ssh_write() may call on_drain, which pumps more
	 * frames into s->out; they must follow these, not repeat them.
	 */
	frames = s->out;
	buf_init(&s->out);
	ssh_write(s->conn, frames.data, frames.len);
	buf_release(&frames);
	return s->state == SHIP_DOWN ? -1 : 0;
}

static int
mine(const struct ship *s, const struct container *c)
{
	return strcmp(c->peer, s->peer.name) == 0 && c->rootfd != -1;
}

/* Stream the busy container's batch while the queue has room. */
static long
resume_timer(struct loop *l, long long id, void *arg)
{
	struct ship	*s = arg;

	(void)l;
	(void)id;
	s->resume = 0;
	pump(s);
	return LOOP_NOMORE;
}

static void
pump(struct ship *s)
{
	struct container	*c = s->busy;
	struct ls_err		 err;
	int			 r, turns = 0;

	while (s->state == SHIP_SENDING &&
	    ssh_pending(s->conn) < SHIP_HIGH_WATER) {
		/*
		 * A batch whose files the peer mostly holds (deltas of
		 * unchanged data) never fills the queue: let the loop serve
		 * the control socket and the other peers, and go on next turn.
		 */
		if (turns++ == SHIP_PUMP_SLICE) {
			if (s->resume == 0)
				s->resume = loop_add_timer(s->loop, 0,
				    resume_timer, s);
			return;
		}
		r = batch_pump(c->inflight, &s->out, 256 * 1024, &err);
		if (r == -1) {
			snprintf(c->last_error, sizeof(c->last_error), "%s",
			    err.msg);
			log_warnx("container %s: batch %" PRIu64 ": %s",
			    c->name, batch_gen(c->inflight), err.msg);
			ship_down(s, "local read error");
			return;
		}
		if (r == 1)
			s->state = SHIP_ACK;
		if (ship_flush(s) == -1)
			return;
	}
}

/* Ask for the signatures, digests or block sums of the batch's
 * planned deltas, all at once. */
static size_t
ask_signatures(struct ship *s, struct container *c)
{
	size_t	 i;

	s->nsigs = batch_plan_deltas(c->inflight);
	s->sigs = 0;
	for (i = 0; i < s->nsigs; i++)
		batch_put_request(c->inflight, i, &s->out);
	return s->nsigs;
}

static void sigs_done(struct ship *);

/*
 * The requests are queued: send them, and while the peer hashes its
 * copies, hash ours (its answers may be read meanwhile, in the flush).
 */
static void
send_requests(struct ship *s)
{
	int	 r;

	s->hashing = 1;
	r = ship_flush(s);
	s->hashing = 0;
	if (r == 0) {
		batch_hash_ahead(s->busy->inflight);
		sigs_done(s);
	}
}

/*
 * Every answer is in and our hashes are made: send the batch, unless
 * some answers ruled their plans out: their next requests first.
 */
static void
sigs_done(struct ship *s)
{
	struct batch	*b;
	size_t		 n;

	if (s->state != SHIP_SIGS || s->sigs != s->nsigs || s->hashing)
		return;
	b = s->busy->inflight;
	if ((n = batch_replan(b)) > 0) {
		for (; n > 0; n--)
			batch_put_request(b, s->nsigs++, &s->out);
		send_requests(s);
		return;
	}
	s->state = SHIP_SENDING;
	pump(s);
}

/* A SIG or SIGEND answering a BLOCKREQ. -1: the session ends. */
static int
on_sums(struct ship *s, const struct frame *f)
{
	struct batch	*b = s->busy->inflight;

	if (f->type == FRAME_SIG) {
		batch_delta_sums(b, s->sigs, f->u.data.p, f->u.data.len);
		return 0;
	}
	if (batch_delta_sums_end(b, s->sigs, f->u.gen != 0) == -1) {
		log_errx("peer %s: block sums for %s: malformed", s->peer.name,
		    batch_delta_basis(b, s->sigs));
		ship_down(s, "bad block sums");
		return -1;
	}
	s->sigs++;
	sigs_done(s);
	return 0;
}

/* A SIG or SIGEND for the oldest open request. -1: the session ends. */
static int
on_sig(struct ship *s, const struct frame *f)
{
	struct container	*c = s->busy;
	struct rs_signature	*sig = NULL;
	struct buf		 none;
	struct ls_err		 err;
	int			 r;

	if (batch_delta_ask(c->inflight, s->sigs) == BATCH_ASK_SUMS)
		return on_sums(s, f);
	if (s->sigjob == NULL)
		s->sigjob = delta_loadsig_new();
	buf_init(&none);
	r = f->type == FRAME_SIG ? delta_feed(s->sigjob, f->u.data.p,
	    f->u.data.len, 0, &none, &err) : f->u.gen == 0 ? 1 :
	    delta_feed(s->sigjob, NULL, 0, 1, &none, &err);
	buf_release(&none);
	if (r == -1 || (f->type == FRAME_SIGEND && f->u.gen != 0 &&
	    (sig = delta_loadsig_take(s->sigjob, &err)) == NULL)) {
		log_errx("peer %s: signature for %s: %s", s->peer.name,
		    batch_delta_basis(c->inflight, s->sigs), err.msg);
		ship_down(s, "bad signature");
		return -1;
	}
	if (f->type == FRAME_SIG)
		return 0;
	batch_delta_sig(c->inflight, s->sigs++, sig);
	delta_job_free(s->sigjob);
	s->sigjob = NULL;
	sigs_done(s);
	return 0;
}

/*
 * The streams in ship order: each container, then its checkpoint
 * stream (ckpt.h), if it has one. NULL after the last.
 */
static struct container *
stream_after(struct container *c)
{
	if (c->owner == NULL && c->ckpt != NULL)
		return c->ckpt->stream;
	return TAILQ_NEXT(c->owner != NULL ? c->owner : c, entry);
}

/* Next stream with something to do, round robin after `last`. */
static struct container *
next_container(struct ship *s, long long now)
{
	struct container	*c, *start;
	long long		 deadline;

	start = s->last != NULL ? stream_after(s->last) : NULL;
	if (start == NULL)
		start = TAILQ_FIRST(s->containers);
	c = start;
	while (c != NULL) {
		if (mine(s, c) && (!c->twin_ok || !c->opened ||
		    container_has_work(c, now, s->max_lag_ms, &deadline)))
			return c;
		if ((c = stream_after(c)) == NULL)
			c = TAILQ_FIRST(s->containers);
		if (c == start)
			break;
	}
	return NULL;
}

void
ship_kick(struct ship *s)
{
	struct container	*c;
	long long		 now = loop_now_ms(), deadline;

	if (s->state == SHIP_DOWN) {
		if (s->retry == 0 && s->conn == NULL)
			ship_connect(s);
		return;
	}
	if (s->state != SHIP_IDLE)
		return;
	if ((c = s->fresh) == NULL || !mine(s, c) ||
	    !container_has_work(c, now, s->max_lag_ms, &deadline))
		c = next_container(s, now);
	s->fresh = NULL;
	if (c == NULL)
		return;
	s->busy = s->last = c;
	if (!c->twin_ok) {
		frame_put_twin(&s->out, &c->info.spec);
		s->state = SHIP_TWIN;
	} else if (!c->opened || s->current != c) {
		frame_put_str(&s->out, c->owner != NULL ? FRAME_OPEN_CKPT :
		    FRAME_OPEN, c->name);
		s->state = SHIP_OPEN;
	} else if (container_cut(c, now, s->max_lag_ms) != NULL) {
		if (ask_signatures(s, c) > 0) {
			s->state = SHIP_SIGS;
			send_requests(s);
			return;
		} else {
			s->state = SHIP_SENDING;
			pump(s);
			return;
		}
	} else
		return;
	ship_flush(s);
}

static void
on_opened(struct ship *s, uint64_t gen)
{
	struct container	*c = s->busy;

	if (gen != c->gen) {
		/*
		 * Our saved index is older than the peer (it is saved every
		 * few seconds) or the peer lost its state: either way only a
		 * rescan against what we know can be trusted.
		 */
		log_notice("container %s: peer %s holds generation %" PRIu64
		    ", index says %" PRIu64 ": rescanning", c->name,
		    s->peer.name, gen, c->gen);
		if (gen < c->gen)
			container_reset_index(c);
		c->gen = gen;
		c->rescan = 1;
	}
	c->opened = 1;
	s->current = s->fresh = c;
	s->backoff = SHIP_BACKOFF_MIN_MS;
}

/* The twin was the primary: this path may differ from our index. */
static int
on_diverged(struct ship *s, const struct frame_str *p)
{
	char		*path = xstrndup(p->p, p->len);
	struct ls_err	 err;
	int		 r = 0;

	if (path_valid(path, &err) == -1 || path[0] == '\0') {
		log_errx("peer %s: DIVERGED: %s", s->peer.name,
		    path[0] == '\0' ? "empty path" : err.msg);
		ship_down(s, "protocol error");
		r = -1;
	} else
		container_diverged(s->busy, path);
	free(path);
	return r;
}

/*
 * The twin was the primary until its demotion, at generation gen of
 * ours; its DIVERGED paths are now marked. Our index (seeded when this
 * host was promoted) stays: resetting it would mean a full copy.
 */
static void
on_handover(struct ship *s, uint64_t gen)
{
	struct container	*c = s->busy;
	struct ls_err		 err;

	log_notice("container %s: peer %s was the primary until generation "
	    "%" PRIu64 "; shipping what changed on either side since",
	    c->name, s->peer.name, gen);
	if (gen > c->gen)
		c->gen = gen;
	/* Saved before the next batch: the peer forgets its list then. */
	if (container_save(c, &err) == -1)
		log_warnx("container %s: %s", c->name, err.msg);
	c->opened = 1;
	s->current = s->fresh = c;
	s->backoff = SHIP_BACKOFF_MIN_MS;
}

static void
on_skipped(struct container *c, const struct frame_str *p)
{
	char	*path = xstrndup(p->p, p->len);

	log_info("container %s: peer skipped %s, shipping it again", c->name,
	    path);
	container_skipped(c, path);
	free(path);
}

/* Returns -1 when the frame ended the session. */
static int
on_frame(struct ship *s, const struct frame *f)
{
	struct container	*c = s->busy;

	switch (f->type) {
	case FRAME_HELLO:
		if (s->state != SHIP_HELLO)
			break;
		log_notice("peer %s: session up (node %.*s)", s->peer.name,
		    (int)f->u.hello.node.len, f->u.hello.node.p);
		s->state = SHIP_IDLE;
		return 0;
	case FRAME_NEED_IMAGE:
		if (s->state != SHIP_TWIN)
			break;
		ship_image(s);
		return 0;
	case FRAME_TWIN_OK:
		if (s->state != SHIP_TWIN)
			break;
		c->twin_ok = 1;
		s->state = SHIP_IDLE;
		return 0;
	case FRAME_OPENED:
		if (s->state != SHIP_OPEN)
			break;
		on_opened(s, f->u.gen);
		s->state = SHIP_IDLE;
		return 0;
	case FRAME_DIVERGED:
		if (s->state != SHIP_OPEN)
			break;
		return on_diverged(s, &f->u.str);
	case FRAME_HANDOVER:
		if (s->state != SHIP_OPEN)
			break;
		on_handover(s, f->u.gen);
		s->state = SHIP_IDLE;
		return 0;
	case FRAME_SIG:
	case FRAME_SIGEND:
		if (s->state != SHIP_SIGS || s->sigs >= s->nsigs ||
		    batch_delta_ask(c->inflight, s->sigs) == BATCH_ASK_PREFIX)
			break;
		return on_sig(s, f);
	case FRAME_PREFIX:
		if (s->state != SHIP_SIGS || s->sigs >= s->nsigs ||
		    batch_delta_ask(c->inflight, s->sigs) != BATCH_ASK_PREFIX)
			break;
		batch_delta_prefix(c->inflight, s->sigs++, f->u.data.p,
		    f->u.data.len);
		sigs_done(s);
		return 0;
	case FRAME_SKIPPED:
		if (s->state != SHIP_ACK || c->inflight == NULL)
			break;
		on_skipped(c, &f->u.str);
		return 0;
	case FRAME_ACK:
		if (s->state != SHIP_ACK || c->inflight == NULL ||
		    f->u.gen != batch_gen(c->inflight))
			break;
		container_acked(c, loop_now_ms());
		s->state = SHIP_IDLE;
		s->acked(c, s->arg);
		return 0;
	case FRAME_ERROR:
		if (c != NULL)
			snprintf(c->last_error, sizeof(c->last_error),
			    "peer %s: %.*s", s->peer.name, (int)f->u.str.len,
			    f->u.str.p);
		/* A refused TWIN will be refused again: add should say so. */
		if (c != NULL && s->state == SHIP_TWIN)
			c->twin_refused = 1;
		log_errx("peer %s: %.*s", s->peer.name, (int)f->u.str.len,
		    f->u.str.p);
		ship_down(s, "the peer reported an error");
		return -1;
	default:
		break;
	}
	log_errx("peer %s: unexpected %s in state %s", s->peer.name,
	    frame_type_name(f->type), state_names[s->state]);
	ship_down(s, "protocol error");
	return -1;
}

static void
ssh_ready(struct ssh_conn *conn, void *arg)
{
	struct ship	*s = arg;

	(void)conn;
	s->state = SHIP_HELLO;
	buf_reset(&s->out);
	frame_put_hello(&s->out, s->node);
	ssh_write(s->conn, s->out.data, s->out.len);
	buf_reset(&s->out);
}

static void
ssh_input(struct ssh_conn *conn, struct buf *in, void *arg)
{
	struct ship	*s = arg;
	struct frame	 f;
	struct ls_err	 err;
	size_t		 used;
	int		 r;

	(void)conn;
	while (s->state != SHIP_DOWN && (r = frame_decode((uint8_t *)in->data,
	    in->len, &f, &used, &err)) != 0) {
		if (r == -1) {
			log_errx("peer %s: %s", s->peer.name, err.msg);
			ship_down(s, "bad frame");
			return;
		}
		if (on_frame(s, &f) == -1)
			return;
		buf_consume(in, used);
	}
	/* Not from inside the ssh callback: the loop's before_sleep kicks
	 * (ssh wakes it, even when this read ran inside before_sleep). */
}

static void
ssh_drain(struct ssh_conn *conn, void *arg)
{
	struct ship	*s = arg;

	(void)conn;
	if (s->state == SHIP_SENDING)
		pump(s);
	else if (s->state == SHIP_IMAGE && s->saver_fd != -1)
		loop_mod_fd(s->loop, s->saver_fd, EPOLLIN);
}

static void
ssh_closed(struct ssh_conn *conn, const char *why, void *arg)
{
	struct ship	*s = arg;

	(void)conn;
	ship_down(s, why);
}

/* A stall is seen within a quarter of stall_ms, or 5 s. */
static long
stall_check_ms(const struct ship *s)
{
	return s->stall_ms / 4 < SHIP_STALL_CHECK_MS ? s->stall_ms / 4 :
	    SHIP_STALL_CHECK_MS;
}

void
ship_describe(const struct ship *s, char *dst, size_t len)
{
	const struct container	*c = s->state != SHIP_IDLE ? s->busy : NULL;
	char			 how[320], who[160] = "";

	if (s->conn == NULL || !ssh_is_ready(s->conn)) {
		snprintf(dst, len, "%s", state_names[s->state]);
		return;
	}
	ssh_describe(s->conn, how, sizeof(how));
	if (c != NULL && c->inflight != NULL)
		snprintf(who, sizeof(who), " (container %s, batch %" PRIu64 ")",
		    c->name, batch_gen(c->inflight));
	else if (c != NULL)
		snprintf(who, sizeof(who), " (container %s)", c->name);
	snprintf(dst, len, "%s%s, nothing moved for %lld ms; %s",
	    state_names[s->state], who, ssh_still_ms(s->conn), how);
}

/* Drop a session that waits on its peer and has stopped moving. */
static long
watch_timer(struct loop *l, long long id, void *arg)
{
	struct ship	*s = arg;
	char		 what[480];

	(void)l;
	(void)id;
	if (s->conn != NULL && ssh_is_ready(s->conn) &&
	    s->state != SHIP_IDLE &&
	    ssh_still_ms(s->conn) >= s->stall_ms) {
		ship_describe(s, what, sizeof(what));
		log_warnx("peer %s: stalled: %s", s->peer.name, what);
		ship_down(s, "stalled");
	}
	return stall_check_ms(s);
}

static const struct ssh_ops ship_ssh_ops = {
	ssh_ready, ssh_input, ssh_drain, ssh_closed
};

static long
retry_timer(struct loop *l, long long id, void *arg)
{
	struct ship	*s = arg;

	(void)l;
	(void)id;
	s->retry = 0;
	ssh_free(s->dead);
	s->dead = NULL;
	ship_kick(s);
	return LOOP_NOMORE;
}

static void
ship_connect(struct ship *s)
{
	char	*cmd = xasprintf("%s serve --stdio", s->peer.remote_command);

	s->state = SHIP_DOWN;	/* until the channel is ready */
	s->conn = ssh_open(s->loop, &s->peer, cmd, &ship_ssh_ops, s);
	free(cmd);
}

/*
 * End the session: every container of this peer forgets it, the one
 * with a batch in flight rescans, and a retry is scheduled. The conn is
 * freed by the retry timer, never here: we may be inside its callback.
 */
void
ship_down(struct ship *s, const char *why)
{
	struct container	*c;

	if (s->conn == NULL)
		return;
	log_warnx("peer %s: session lost (%s), retrying in %ld ms",
	    s->peer.name, why, s->backoff);
	TAILQ_FOREACH(c, s->containers, entry)
		if (strcmp(c->peer, s->peer.name) == 0) {
			container_lost(c);
			if (c->ckpt != NULL)
				container_lost(c->ckpt->stream);
		}
	s->state = SHIP_DOWN;
	s->busy = s->current = s->fresh = NULL;
	buf_reset(&s->out);
	delta_job_free(s->sigjob);
	s->sigjob = NULL;
	ship_stop_saver(s);
	ssh_free(s->dead);
	s->dead = s->conn;
	s->conn = NULL;
	if (s->retry != 0)
		loop_del_timer(s->loop, s->retry);
	s->retry = loop_add_timer(s->loop, s->backoff, retry_timer, s);
	s->backoff = s->backoff * 2 > SHIP_BACKOFF_MAX_MS ?
	    SHIP_BACKOFF_MAX_MS : s->backoff * 2;
}

/* A container is about to be freed: let go of every pointer to it. */
void
ship_forget(struct ship *s, struct container *c)
{
	if (s->last == c)
		s->last = NULL;
	if (s->fresh == c)
		s->fresh = NULL;
	if (s->current == c)
		s->current = NULL;
	if (s->busy == c) {
		/* A request about it is outstanding (busy stays set once
		 * answered, IDLE): restart the session rather than match a
		 * late answer to another container. */
		if (s->state != SHIP_IDLE)
			ship_down(s, "container removed");
		s->busy = NULL;
	}
}
