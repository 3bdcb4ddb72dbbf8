/* escape: see escape.h. */
#include "escape.h"

void
escape_field(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			buf_addstr(b, "\\\\");
		else if (*s == '\n')
			buf_addstr(b, "\\n");
		else if (*s == ' ')
			buf_addstr(b, "\\s");
		else
			buf_addch(b, *s);
	}
}

/* Undo escape_field in place. Returns -1 on an unknown escape. */
int
unescape_field(char *s)
{
	char	*d = s;

	for (; *s != '\0'; s++) {
		if (*s != '\\') {
			*d++ = *s;
			continue;
		}
		switch (*++s) {
		case '\\':
			*d++ = '\\';
			break;
		case 'n':
			*d++ = '\n';
			break;
		case 's':
			*d++ = ' ';
			break;
		default:
			return -1;
		}
	}
	*d = '\0';
	return 0;
}
