/*
 * test_delta: signature, delta and patch reproduce the new file; a
 * small change costs a small delta; corrupt input is refused.
 */
#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "delta.h"
#include "testmain.h"

#define SIZE	(1024 * 1024)

/* basis -> signature -> delta of new -> patch: returns the output. */
static void
round_trip(const char *basis, const char *new, size_t size, struct buf *out,
    size_t *delta_len)
{
	char			 path[] = "/tmp/test_delta.XXXXXX";
	struct delta_job	*j;
	struct buf		 sig, delta;
	struct ls_err		 err;
	struct rs_signature	*s;
	size_t			 off, n;
	int			 fd = mkstemp(path);

	ck_assert_int_eq(write(fd, basis, size), (ssize_t)size);
	buf_init(&sig);
	buf_init(&delta);
	j = delta_sig_new((off_t)size);
	ck_assert_int_eq(delta_feed(j, basis, size, 1, &sig, &err), 1);
	delta_job_free(j);
	j = delta_loadsig_new();
	/* Fed in pieces, as frames arrive. */
	for (off = 0; off < sig.len; off += n) {
		n = sig.len - off < 1000 ? sig.len - off : 1000;
		ck_assert_int_ne(delta_feed(j, sig.data + off, n, 0, out, &err),
		    -1);
	}
	ck_assert_int_eq(delta_feed(j, NULL, 0, 1, out, &err), 1);
	ck_assert_ptr_nonnull(s = delta_loadsig_take(j, &err));
	delta_job_free(j);
	j = delta_make_new(s);
	/* As the batch feeds it: chunks, then an empty end of input. */
	for (off = 0; off < size; off += 65536)
		ck_assert_int_ne(delta_feed(j, new + off, 65536, 0, &delta,
		    &err), -1);
	ck_assert_int_eq(delta_feed(j, new + size, 0, 1, &delta, &err), 1);
	delta_job_free(j);
	delta_sig_free(s);
	*delta_len = delta.len;
	j = delta_patch_new(fd);
	ck_assert_msg(delta_feed(j, delta.data, delta.len, 1, out, &err) == 1,
	    "%s", err.msg);
	delta_job_free(j);
	buf_release(&sig);
	buf_release(&delta);
	close(fd);
	unlink(path);
}

START_TEST(test_patch_rebuilds_the_new_file_from_a_small_delta)
{
	char		*basis = malloc(SIZE), *new = malloc(SIZE);
	struct buf	 out;
	size_t		 delta_len, i;

	srandom(7);
	for (i = 0; i < SIZE; i++)
		basis[i] = (char)random();
	memcpy(new, basis, SIZE);
	memset(new + 500000, 'x', 4096);	/* 4 KiB changed in the middle */
	buf_init(&out);
	round_trip(basis, new, SIZE, &out, &delta_len);
	ck_assert_uint_eq(out.len, SIZE);
	ck_assert_int_eq(memcmp(out.data, new, SIZE), 0);
	ck_assert_msg(delta_len < 32 * 1024, "delta of %zu bytes", delta_len);
	buf_release(&out);
	free(basis);
	free(new);
}
END_TEST

START_TEST(test_corrupt_signature_and_delta_are_refused)
{
	struct delta_job	*j;
	struct buf		 out;
	struct ls_err		 err;
	static const char	 junk[] = "this is not a signature at all";
	int			 fd = open("/dev/null", O_RDONLY);

	buf_init(&out);
	j = delta_loadsig_new();
	ck_assert_int_eq(delta_feed(j, junk, sizeof(junk), 1, &out, &err), -1);
	delta_job_free(j);
	j = delta_patch_new(fd);
	ck_assert_int_eq(delta_feed(j, junk, sizeof(junk), 1, &out, &err), -1);
	delta_job_free(j);
	buf_release(&out);
	close(fd);
}
END_TEST

int
main(void)
{
	const TTest	*tests[] = {
		test_patch_rebuilds_the_new_file_from_a_small_delta,
		test_corrupt_signature_and_delta_are_refused,
		NULL
	};

	return test_run("delta", tests, NULL, NULL);
}
