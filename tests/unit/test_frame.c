/*
 * test_frame: every frame type survives a round trip; truncated,
 * oversized, lying and corrupted input is refused without overreads
 * (this suite also runs under ASan).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "runtime.h"
#include "testmain.h"

static int
decode_all(const struct buf *b, struct frame *f)
{
	struct ls_err	 err;
	size_t		 used = 0;
	int		 r;

	r = frame_decode((const uint8_t *)b->data, b->len, f, &used, &err);
	if (r == 1)
		ck_assert_uint_eq(used, b->len);
	return r;
}

static int
str_is(struct frame_str s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

START_TEST(test_hello_round_trip)
{
	struct buf	 b;
	struct frame	 f;

	buf_init(&b);
	frame_put_hello(&b, "alpha");
	ck_assert_int_eq(decode_all(&b, &f), 1);
	ck_assert_int_eq(f.type, FRAME_HELLO);
	ck_assert_int_eq(f.u.hello.version, FRAME_VERSION);
	ck_assert(str_is(f.u.hello.node, "alpha"));
	buf_release(&b);
}
END_TEST

START_TEST(test_entry_round_trip_with_xattrs)
{
	struct frame_entry	 e = { 0 };
	struct buf		 b;
	struct frame		 f;
	static const uint8_t	 val[] = { 'y' };

	e.path = (struct frame_str){ "etc/app.conf", 12 };
	e.kind = ENTRY_REG;
	e.mode = 0104755;
	e.uid = 1234;
	e.gid = 5678;
	e.mtime_sec = -5;
	e.mtime_nsec = 999999999;
	e.rdev = 0;
	e.size = 1ULL << 40;
	e.target = (struct frame_str){ "", 0 };
	e.nxattr = 2;
	e.xattr[0] = (struct frame_xattr){ { "trusted.overlay.opaque", 22 },
	    val, 1 };
	e.xattr[1] = (struct frame_xattr){ { "user.empty", 10 }, NULL, 0 };
	buf_init(&b);
	frame_put_entry(&b, &e);
	ck_assert_int_eq(decode_all(&b, &f), 1);
	ck_assert_int_eq(f.type, FRAME_ENTRY);
	ck_assert(str_is(f.u.entry.path, "etc/app.conf"));
	ck_assert_int_eq(f.u.entry.kind, ENTRY_REG);
	ck_assert_uint_eq(f.u.entry.mode, 0104755);
	ck_assert_uint_eq(f.u.entry.uid, 1234);
	ck_assert_uint_eq(f.u.entry.gid, 5678);
	ck_assert_int_eq(f.u.entry.mtime_sec, -5);
	ck_assert_uint_eq(f.u.entry.mtime_nsec, 999999999);
	ck_assert_uint_eq(f.u.entry.size, 1ULL << 40);
	ck_assert_uint_eq(f.u.entry.nxattr, 2);
	ck_assert(str_is(f.u.entry.xattr[0].name, "trusted.overlay.opaque"));
	ck_assert_uint_eq(f.u.entry.xattr[0].len, 1);
	ck_assert_int_eq(f.u.entry.xattr[0].value[0], 'y');
	ck_assert_uint_eq(f.u.entry.xattr[1].len, 0);
	buf_release(&b);
}
END_TEST

START_TEST(test_small_frames_round_trip)
{
	struct buf	 b;
	struct frame	 f;
	char		 data[1000];

	memset(data, 'd', sizeof(data));
	buf_init(&b);
	frame_put_data(&b, 4096, data, sizeof(data));
	ck_assert_int_eq(decode_all(&b, &f), 1);
	ck_assert_int_eq(f.type, FRAME_DATA);
	ck_assert_uint_eq(f.u.data.offset, 4096);
	ck_assert_uint_eq(f.u.data.len, 1000);
	ck_assert_int_eq(memcmp(f.u.data.p, data, 1000), 0);

	buf_reset(&b);
	frame_put_rename(&b, "a/b", "c");
	ck_assert_int_eq(decode_all(&b, &f), 1);
	ck_assert(str_is(f.u.rename.from, "a/b"));
	ck_assert(str_is(f.u.rename.to, "c"));

	buf_reset(&b);
	frame_put_gen(&b, FRAME_ACK, 0x0102030405060708ULL);
	ck_assert_int_eq(decode_all(&b, &f), 1);
	ck_assert_uint_eq(f.u.gen, 0x0102030405060708ULL);

	buf_reset(&b);
	frame_put_str(&b, FRAME_REMOVE, "var/log/x");
	ck_assert_int_eq(decode_all(&b, &f), 1);
	ck_assert_int_eq(f.type, FRAME_REMOVE);
	ck_assert(str_is(f.u.str, "var/log/x"));

	buf_reset(&b);
	frame_put_empty(&b, FRAME_END);
	ck_assert_int_eq(decode_all(&b, &f), 1);
	ck_assert_int_eq(f.type, FRAME_END);

	buf_reset(&b);
	frame_put_prefixreq(&b, "var/log/app.log", 24ULL << 20);
	ck_assert_int_eq(decode_all(&b, &f), 1);
	ck_assert_int_eq(f.type, FRAME_PREFIXREQ);
	ck_assert_uint_eq(f.u.prefix.len, 24ULL << 20);
	ck_assert(str_is(f.u.prefix.path, "var/log/app.log"));

	buf_reset(&b);
	frame_put_bytes(&b, FRAME_PREFIX, data, FRAME_DIGEST_LEN);
	ck_assert_int_eq(decode_all(&b, &f), 1);
	ck_assert_uint_eq(f.u.data.len, FRAME_DIGEST_LEN);
	buf_reset(&b);
	frame_put_bytes(&b, FRAME_PREFIX, NULL, 0);
	ck_assert_int_eq(decode_all(&b, &f), 1);
	ck_assert_uint_eq(f.u.data.len, 0);

	buf_reset(&b);
	frame_put_gen(&b, FRAME_APPEND, 1ULL << 33);
	ck_assert_int_eq(decode_all(&b, &f), 1);
	ck_assert_int_eq(f.type, FRAME_APPEND);
	ck_assert_uint_eq(f.u.gen, 1ULL << 33);
	buf_release(&b);
}
END_TEST

/* BLOCKREQ: round trip; a block length that is no power of two, out of
 * bounds, or cuts the size into too many blocks is malformed. */
START_TEST(test_blockreq_block_len_is_checked)
{
	const struct { uint64_t size, block_len; } bad[] = {
		{ 1 << 20, 4095 },			/* below the least */
		{ 1 << 20, 6144 },			/* no power of two */
		{ 1 << 20, 128ULL << 20 },		/* above the most */
		{ (uint64_t)FRAME_MAX_BLOCKS * 4096 + 1, 4096 },	/* too many */
		{ UINT64_MAX, FRAME_BLOCK_MAX },	/* far too many */
		{ 1 << 20, 0 },
	};
	struct buf	 b;
	struct frame	 f;
	size_t		 i;

	buf_init(&b);
	frame_put_blockreq(&b, "data/table", 32ULL << 20, 4096);
	ck_assert_int_eq(decode_all(&b, &f), 1);
	ck_assert_int_eq(f.type, FRAME_BLOCKREQ);
	ck_assert_uint_eq(f.u.blockreq.size, 32ULL << 20);
	ck_assert_uint_eq(f.u.blockreq.block_len, 4096);
	ck_assert(str_is(f.u.blockreq.path, "data/table"));
	/* just as many blocks as allowed, and an empty file */
	ck_assert(frame_block_len_ok((uint64_t)FRAME_MAX_BLOCKS * 4096, 4096));
	ck_assert(frame_block_len_ok(0, 4096));
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		ck_assert_msg(!frame_block_len_ok(bad[i].size, bad[i].block_len),
		    "case %zu", i);
		buf_reset(&b);
		frame_put_blockreq(&b, "f", bad[i].size,
		    (uint32_t)bad[i].block_len);
		if ((uint32_t)bad[i].block_len == bad[i].block_len)
			ck_assert_int_eq(decode_all(&b, &f), -1);
	}
	buf_release(&b);
}
END_TEST

/* PATCH: ranges round-trip; unsorted, touching, empty, overflowing or
 * too many ranges are malformed. */
START_TEST(test_patch_ranges_are_checked)
{
	struct frame_range	 in[3] = { { 0, 4096 }, { 8192, 1 },
	    { 1ULL << 40, 65536 } }, out[FRAME_MAX_RANGES], many[300];
	struct frame_range	 bad[][2] = {
		{ { 8192, 1 }, { 0, 4096 } },		/* unsorted */
		{ { 0, 4096 }, { 4096, 1 } },		/* touching */
		{ { 0, 0 }, { 10, 1 } },		/* empty */
		{ { 0, 1 }, { UINT64_MAX - 1, 4 } },	/* overflowing */
		{ { 0, 1 }, { INT64_MAX, 1 } },		/* past a file */
	};
	struct ls_err		 err;
	struct buf		 b;
	struct frame		 f;
	size_t			 i, used;

	buf_init(&b);
	frame_put_patch(&b, in, 3);
	ck_assert_int_eq(decode_all(&b, &f), 1);
	ck_assert_int_eq(f.type, FRAME_PATCH);
	ck_assert_uint_eq(frame_patch_ranges(&f, out), 3);
	for (i = 0; i < 3; i++) {
		ck_assert_uint_eq(out[i].off, in[i].off);
		ck_assert_uint_eq(out[i].len, in[i].len);
	}
	buf_reset(&b);
	frame_put_patch(&b, NULL, 0);	/* same bytes: no range */
	ck_assert_int_eq(decode_all(&b, &f), 1);
	ck_assert_uint_eq(frame_patch_ranges(&f, out), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&b);
		frame_put_patch(&b, bad[i], 2);
		ck_assert_msg(frame_decode((const uint8_t *)b.data, b.len, &f,
		    &used, &err) == -1, "bad ranges %zu accepted", i);
		ck_assert_str_eq(err.msg,
		    "frame: malformed PATCH payload (32 bytes)");
	}
	for (i = 0; i < 300; i++)
		many[i] = (struct frame_range){ 2 * i, 1 };
	buf_reset(&b);
	frame_put_patch(&b, many, FRAME_MAX_RANGES);
	ck_assert_int_eq(decode_all(&b, &f), 1);
	buf_reset(&b);
	frame_put_patch(&b, many, FRAME_MAX_RANGES + 1);
	ck_assert_int_eq(frame_decode((const uint8_t *)b.data, b.len, &f,
	    &used, &err), -1);
	buf_release(&b);
}
END_TEST

START_TEST(test_every_prefix_needs_more_bytes)
{
	struct frame_entry	 e = { 0 };
	struct buf		 b;
	struct frame		 f;
	struct ls_err		 err;
	size_t			 i, used;

	e.path = (struct frame_str){ "x", 1 };
	e.kind = ENTRY_SYMLINK;
	e.target = (struct frame_str){ "/etc/passwd", 11 };
	buf_init(&b);
	frame_put_entry(&b, &e);
	for (i = 0; i < b.len; i++)
		ck_assert_int_eq(frame_decode((uint8_t *)b.data, i, &f, &used,
		    &err), 0);
	buf_release(&b);
}
END_TEST

static int
decode_bytes(const uint8_t *p, size_t n, struct ls_err *err)
{
	struct frame	 f;
	size_t		 used;

	return frame_decode(p, n, &f, &used, err);
}

START_TEST(test_bad_headers_are_refused)
{
	struct ls_err	 err;
	uint8_t		 unknown[] = { 0, 0, 0, 0, 99, 0, 0, 0 };
	uint8_t		 reserved[] = { 0, 0, 0, 0, FRAME_END, 1, 0, 0 };
	uint8_t		 huge[] = { 0x7f, 0xff, 0xff, 0xff, FRAME_DATA, 0, 0, 0 };

	ck_assert_int_eq(decode_bytes(unknown, 8, &err), -1);
	ck_assert_str_eq(err.msg, "frame: unknown type 99");
	ck_assert_int_eq(decode_bytes(reserved, 8, &err), -1);
	ck_assert_str_eq(err.msg, "frame: END: reserved bits set");
	/* Refused from the header alone: no waiting for 2 GB to arrive. */
	ck_assert_int_eq(decode_bytes(huge, 8, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "exceeds"));
}
END_TEST

START_TEST(test_lying_payloads_are_refused)
{
	struct ls_err	 err;
	/* REMOVE whose string claims 50 bytes in a 4-byte payload. */
	uint8_t		 shortstr[] = { 0, 0, 0, 4, FRAME_REMOVE, 0, 0, 0,
	    0, 50, 'a', 'b' };
	/* REMOVE with a NUL inside the path. */
	uint8_t		 nul[] = { 0, 0, 0, 5, FRAME_REMOVE, 0, 0, 0,
	    0, 3, 'a', 0, 'b' };
	/* ACK with trailing garbage. */
	uint8_t		 trailing[] = { 0, 0, 0, 9, FRAME_ACK, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 1, 0xee };
	/* HELLO with a wrong magic. */
	uint8_t		 magic[] = { 0, 0, 0, 8, FRAME_HELLO, 0, 0, 0,
	    'X', 'S', 'Y', 'N', 0, 1, 0, 0 };
	uint8_t		 digest[] = { 0, 0, 0, 5, FRAME_PREFIX, 0, 0, 0,
	    1, 2, 3, 4, 5 };

	ck_assert_int_eq(decode_bytes(shortstr, sizeof(shortstr), &err), -1);
	ck_assert_str_eq(err.msg, "frame: malformed REMOVE payload (4 bytes)");
	ck_assert_int_eq(decode_bytes(nul, sizeof(nul), &err), -1);
	ck_assert_int_eq(decode_bytes(trailing, sizeof(trailing), &err), -1);
	ck_assert_int_eq(decode_bytes(magic, sizeof(magic), &err), -1);
	/* PREFIX is a digest or nothing, never a part of one. */
	ck_assert_int_eq(decode_bytes(digest, sizeof(digest), &err), -1);
	ck_assert_str_eq(err.msg, "frame: malformed PREFIX payload (5 bytes)");
}
END_TEST

START_TEST(test_entry_fields_are_bounded)
{
	struct frame_entry	 e = { 0 };
	struct buf		 b;
	struct frame		 f;

	e.path = (struct frame_str){ "x", 1 };
	e.kind = ENTRY_REG;
	e.target = (struct frame_str){ "", 0 };
	buf_init(&b);
	e.mtime_nsec = 1000000000U;
	frame_put_entry(&b, &e);
	ck_assert_int_eq(decode_all(&b, &f), -1);
	buf_reset(&b);
	e.mtime_nsec = 0;
	e.kind = ENTRY__MAX;
	frame_put_entry(&b, &e);
	ck_assert_int_eq(decode_all(&b, &f), -1);
	buf_release(&b);
}
END_TEST

START_TEST(test_twin_spec_round_trip)
{
	struct twin_spec	 t = { 0 }, back;
	struct buf		 b;
	struct frame		 f;

	t.name = "web";
	t.image = "0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef";
	t.workdir = "/srv";
	t.user = "";
	t.network = "host";
	t.cmd = strv_add(strv_add(NULL, "httpd"), "-f");
	t.env = strv_add(NULL, "A=b c");
	buf_init(&b);
	frame_put_twin(&b, &t);
	ck_assert_int_eq(decode_all(&b, &f), 1);
	ck_assert_int_eq(f.type, FRAME_TWIN);
	frame_get_twin(&f, &back);
	ck_assert_str_eq(back.name, "web");
	ck_assert_str_eq(back.image, t.image);
	ck_assert_str_eq(back.workdir, "/srv");
	ck_assert_str_eq(back.network, "host");
	ck_assert_uint_eq(strv_len(back.cmd), 2);
	ck_assert_str_eq(back.cmd[1], "-f");
	ck_assert_str_eq(back.env[0], "A=b c");
	ck_assert_ptr_null(back.entrypoint);
	ck_assert_ptr_null(back.labels);
	twin_spec_clear(&back);
	strv_free(t.cmd);
	strv_free(t.env);
	/* A list count beyond the bound is refused from the payload. */
	buf_reset(&b);
	frame_put_twin(&b, &(struct twin_spec){ .name = "x" });
	b.data[b.len - 10] = (char)0xff;
	b.data[b.len - 9] = (char)0xff;
	ck_assert_int_eq(decode_all(&b, &f), -1);
	buf_release(&b);
}
END_TEST

/* Random mutations of valid frames never crash or overread. */
START_TEST(test_mutations_never_crash)
{
	struct frame_entry	 e = { 0 };
	struct buf		 b;
	struct frame		 f;
	struct ls_err		 err;
	static const uint8_t	 val[] = { 1, 2, 3 };
	size_t			 used;
	uint8_t			*copy;
	int			 i, j;

	e.path = (struct frame_str){ "a/b/c", 5 };
	e.kind = ENTRY_REG;
	e.target = (struct frame_str){ "", 0 };
	e.nxattr = 1;
	e.xattr[0] = (struct frame_xattr){ { "user.k", 6 }, val, 3 };
	buf_init(&b);
	frame_put_entry(&b, &e);
	srandom(42);
	for (i = 0; i < 20000; i++) {
		copy = malloc(b.len);
		memcpy(copy, b.data, b.len);
		for (j = 0; j < 1 + i % 4; j++)
			copy[random() % b.len] = (uint8_t)random();
		(void)frame_decode(copy, (size_t)random() % (b.len + 1), &f,
		    &used, &err);
		free(copy);
	}
	buf_release(&b);
}
END_TEST

int
main(void)
{
	const TTest	*tests[] = {
		test_hello_round_trip,
		test_entry_round_trip_with_xattrs,
		test_small_frames_round_trip,
		test_patch_ranges_are_checked,
		test_blockreq_block_len_is_checked,
		test_every_prefix_needs_more_bytes,
		test_bad_headers_are_refused,
		test_lying_payloads_are_refused,
		test_entry_fields_are_bounded,
		test_twin_spec_round_trip,
		test_mutations_never_crash,
		NULL
	};

	return test_run("frame", tests, NULL, NULL);
}
