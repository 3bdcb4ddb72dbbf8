/* test_buf: the growable buffer keeps its invariants. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "testmain.h"

START_TEST(test_new_buffer_is_empty_and_terminated)
{
	struct buf	 b;

	buf_init(&b);
	ck_assert_ptr_nonnull(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(b.data, "");
	buf_release(&b);
}
END_TEST

START_TEST(test_appends_grow_and_stay_terminated)
{
	struct buf	 b;
	int		 i;

	buf_init(&b);
	for (i = 0; i < 10000; i++)
		buf_addch(&b, 'a' + i % 26);
	ck_assert_uint_eq(b.len, 10000);
	ck_assert_int_eq(b.data[10000], '\0');
	ck_assert_int_eq(b.data[27], 'b');
	buf_addf(&b, "%s-%d", "x", 42);
	ck_assert_str_eq(b.data + 10000, "x-42");
	buf_release(&b);
}
END_TEST

START_TEST(test_long_formatted_append)
{
	struct buf	 b;
	char		 big[5000];

	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&b);
	buf_addstr(&b, "head:");
	buf_addf(&b, "%s:tail", big);
	ck_assert_uint_eq(b.len, 5 + 4999 + 5);
	ck_assert_int_eq(strncmp(b.data, "head:zzz", 8), 0);
	ck_assert_str_eq(b.data + b.len - 5, ":tail");
	buf_release(&b);
}
END_TEST

START_TEST(test_consume_drops_the_front)
{
	struct buf	 b;

	buf_init(&b);
	buf_addstr(&b, "hello world");
	buf_consume(&b, 6);
	ck_assert_str_eq(b.data, "world");
	buf_consume(&b, 100);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(b.data, "");
	buf_release(&b);
}
END_TEST

START_TEST(test_detach_hands_over_and_leaves_usable)
{
	struct buf	 b;
	size_t		 len;
	char		*s;

	buf_init(&b);
	buf_addstr(&b, "mine");
	s = buf_detach(&b, &len);
	ck_assert_str_eq(s, "mine");
	ck_assert_uint_eq(len, 4);
	ck_assert_uint_eq(b.len, 0);
	buf_addstr(&b, "again");
	ck_assert_str_eq(b.data, "again");
	free(s);
	buf_release(&b);
}
END_TEST

/* A queue drained from the front and filled at the back keeps its bytes
 * in order, through the rewinds, a detach and a reset. */
START_TEST(test_queue_drained_from_the_front)
{
	struct buf	 b;
	size_t		 i, head = 0, tail = 0, len;
	char		 chunk[1000], *s;

	buf_init(&b);
	for (i = 0; i < 2000; i++) {
		size_t	 j, n = 1 + (i * 7919) % sizeof(chunk);

		for (j = 0; j < n; j++)
			chunk[j] = (char)('a' + (tail + j) % 26);
		buf_add(&b, chunk, n);
		tail += n;
		n = (i * 104729) % (b.len + 1);
		buf_consume(&b, n);
		head += n;
		ck_assert_uint_eq(b.len, tail - head);
		ck_assert_int_eq(b.data[b.len], '\0');
		for (j = 0; j < b.len; j += 97)
			ck_assert_int_eq(b.data[j], 'a' + (head + j) % 26);
	}
	buf_addf(&b, "%s", "-end");
	ck_assert_str_eq(b.data + b.len - 4, "-end");
	buf_consume(&b, 1);
	s = buf_detach(&b, &len);
	ck_assert_int_eq(s[len - 1], 'd');
	free(s);		/* the allocation's start, not a moved pointer */
	buf_addstr(&b, "xyz");
	buf_consume(&b, 2);
	buf_reset(&b);
	buf_addstr(&b, "after reset");
	ck_assert_str_eq(b.data, "after reset");
	buf_release(&b);
}
END_TEST

int
main(void)
{
	const TTest	*tests[] = {
		test_new_buffer_is_empty_and_terminated,
		test_appends_grow_and_stay_terminated,
		test_long_formatted_append,
		test_consume_drops_the_front,
		test_detach_hands_over_and_leaves_usable,
		test_queue_drained_from_the_front,
		NULL
	};

	return test_run("buf", tests, NULL, NULL);
}
