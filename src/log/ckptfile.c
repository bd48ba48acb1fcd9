/*
 * ckptfile.c — Kafka's offset checkpoint files, and the map they hold.
 *
 * Three files in a log dir share Kafka's text format (one writer each):
 *   recovery-point-offset-checkpoint  logdir.c       every byte below is durable
 *   log-start-offset-checkpoint       start_offset.c starts moved by DeleteRecords
 *   cleaner-offset-checkpoint         cleaner.c      first dirty offset per log
 *
 *   0                      version
 *   <count>                entries that follow
 *   <topic> <partition> <offset>     one line each, count of them
 *
 * A file that does not parse is refused whole (CKPT_MALFORMED and an empty
 * map): each owner then falls back to what is safe without it (full
 * recovery, first segment bases, cleaning from the start). Writing is the
 * owner's (logdir__write_durably: tmp, fsync, rename, fsync dir).
 *
 * The map is a plain array searched linearly; callers guard it with their
 * own lock. Topics are owned copies.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/log_int.h"

enum {
	MAX_TOPIC_LEN = 249,      /* Kafka's limit on topic names */
	MAX_FILE_BYTES = 64 << 20,
};

struct ckpt_entry *ckpt_find(const struct ckpt_map *m, const char *topic, int32_t partition)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].partition == partition && strcmp(m->v[i].topic, topic) == 0)
			return &m->v[i];
	return NULL;
}

int ckpt_set(struct ckpt_map *m, const char *topic, int32_t partition, int64_t offset)
{
	struct ckpt_entry *e = ckpt_find(m, topic, partition);
	if (e != NULL) {
		e->offset = offset;
		return 0;
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct ckpt_entry *v = realloc(m->v, cap * sizeof *v);
		if (v == NULL)
			return -1;
		m->v = v;
		m->cap = cap;
	}
	char *t = strdup(topic);
	if (t == NULL)
		return -1;
	m->v[m->n++] = (struct ckpt_entry){ t, partition, offset };
	return 0;
}

void ckpt_remove(struct ckpt_map *m, const char *topic, int32_t partition)
{
	struct ckpt_entry *e = ckpt_find(m, topic, partition);
	if (e == NULL)
		return;
	free(e->topic);
	*e = m->v[--m->n];
}

void ckpt_clear(struct ckpt_map *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].topic);
	free(m->v);
	*m = (struct ckpt_map){ 0 };
}

char *ckpt_format(const struct ckpt_map *m, size_t *len)
{
	size_t cap = 32, count = 0;
	for (size_t i = 0; i < m->n; i++) {
		cap += strlen(m->v[i].topic) + 40;
		count += m->v[i].offset >= 0;
	}
	char *out = malloc(cap);
	if (out == NULL)
		return NULL;
	size_t n = (size_t)snprintf(out, cap, "0\n%zu\n", count);
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].offset >= 0)
			n += (size_t)snprintf(out + n, cap - n, "%s %d %lld\n", m->v[i].topic,
					      m->v[i].partition, (long long)m->v[i].offset);
	if (len != NULL)
		*len = n;
	return out;
}

/* A name that can be a partition directory's topic: 1..249 bytes, no '/',
 * not "." or ".." (sscanf's %s already stops at whitespace). */
static bool ckpt_topic_ok(const char *t)
{
	size_t n = strlen(t);
	return n > 0 && n <= MAX_TOPIC_LEN && strcmp(t, ".") != 0 && strcmp(t, "..") != 0 &&
	       strchr(t, '/') == NULL;
}

/* Parses NUL-terminated text into m. Returns 0, or the first wrong line. */
static int ckpt_parse(struct ckpt_map *m, char *text)
{
	char *save = NULL, *line = strtok_r(text, "\n", &save);
	long long version = -1, count = -1;
	if (line == NULL || sscanf(line, "%lld", &version) != 1 || version != 0)
		return 1;
	if ((line = strtok_r(NULL, "\n", &save)) == NULL || sscanf(line, "%lld", &count) != 1 ||
	    count < 0)
		return 2;
	for (long long i = 0; i < count; i++) {
		char topic[MAX_TOPIC_LEN + 2], extra;
		long long part, off;
		line = strtok_r(NULL, "\n", &save);
		if (line == NULL || strlen(line) > MAX_TOPIC_LEN + 48 ||
		    sscanf(line, "%250s %lld %lld %c", topic, &part, &off, &extra) != 3 ||
		    !ckpt_topic_ok(topic) || part < 0 ||
		    part > INT32_MAX || off < 0 || ckpt_set(m, topic, (int32_t)part, off) != 0)
			return (int)(i + 3);
	}
	return strtok_r(NULL, "\n", &save) == NULL ? 0 : (int)(count + 3);
}

/* The whole file as a NUL-terminated malloc'd string; NULL with errno
 * (ENOENT: no file; EIO: short read, too large or a NUL inside). */
static char *ckpt_slurp(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st = { 0 };
	char *text = NULL;
	ssize_t got = -1;
	if (fstat(fd, &st) == 0 && st.st_size < MAX_FILE_BYTES &&
	    (text = malloc((size_t)st.st_size + 1)) != NULL)
		got = pread(fd, text, (size_t)st.st_size, 0);
	close(fd);
	if (text == NULL || got != st.st_size || memchr(text, '\0', (size_t)got) != NULL) {
		free(text);
		errno = EIO;
		return NULL;
	}
	text[got] = '\0';
	return text;
}

int ckpt_load(struct ckpt_map *m, int dirfd, const char *name, int *bad_line)
{
	ckpt_clear(m);
	*bad_line = 0;
	char *text = ckpt_slurp(dirfd, name);
	if (text == NULL)
		return errno == ENOENT ? CKPT_MISSING : CKPT_UNREADABLE;
	*bad_line = ckpt_parse(m, text);
	free(text);
	if (*bad_line == 0)
		return CKPT_OK;
	ckpt_clear(m);
	return CKPT_MALFORMED;
}
