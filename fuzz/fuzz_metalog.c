// fuzz-deps: src/util src/meta
/*
 * fuzz_metalog.c — libFuzzer target for the metadata log's replay
 * (src/meta/metalog.c): the file header, record framing, record payloads,
 * snapshot validation and the log/snapshot sequence rules, i.e. everything
 * metalog_open reads from <log dir>/__cluster_metadata-0/ at start-up.
 *
 * Input layout (byte 0 is a flags byte, the rest is file content):
 *   flags bit 0  a snapshot follows: u16 big-endian length L, then L bytes
 *                (clamped to what is left) = snapshot-<seq>.bin, where seq
 *                is the one in the snapshot's own header (bytes 8..15)
 *   flags bit 1  no metadata.log (metalog_open creates one)
 *   flags bit 2  repair checksums first: the header CRC of each file and
 *                the CRC of every record frame whose length fits, so that
 *                mutations reach the payload decoder instead of stopping
 *                at a checksum
 *   flags bit 3  name the snapshot seq + 1 (header and name disagree)
 *   flags bit 4  a second snapshot follows, in the same format (named by
 *                its own header): the newest valid one must win, an
 *                invalid newest one is set aside for an older one
 *   flags bit 5  leave an unfinished write behind (metadata.log.tmp, with
 *                the log's bytes): open must remove it
 *   the rest     metadata.log
 * An empty input is skipped.
 *
 * One directory per process (in $FUZZ_TMPDIR, else /dev/shm, else
 * $TMPDIR or /tmp), emptied before each input, so a run leaves no state
 * behind between inputs. Per input:
 *  1. metalog_open replays the files into an apply callback that checks
 *     every record (known type, version 0, required strings present, no
 *     string longer than MREC_STR_MAX) and re-encodes it with
 *     metalog_encode, which must succeed; a hash of the re-encoded records
 *     is the replayed state. Failing to open is fine (a bad header, an
 *     unknown record with a valid CRC, a gap: errors by design).
 *  2. After a successful open: metalog_size equals the size of
 *     metadata.log on disk (a torn tail was cut exactly there), no *.tmp
 *     file is left, and one record appends cleanly.
 *  3. Reopen: it must succeed and replay exactly the state of step 1 plus
 *     the appended record — recovery is idempotent and leaves a log that a
 *     later append extends, whatever the input was.
 * A broken invariant aborts. Nothing may crash, leak or trip a sanitizer.
 * Diagnostics are silenced; RUNNEL_FUZZ_LOG=info (or warn, debug) shows
 * them when reproducing a crash.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta/meta.h"
#include "meta/metalog.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/err.h"
#include "util/log.h"
#include "fuzz_common.h"

enum { F_SNAPSHOT = 1, F_NO_LOG = 2, F_REPAIR = 4, F_SNAP_NAME_OFF = 8, F_SNAPSHOT2 = 16, F_TMP = 32 };
enum { HDR_SIZE = 20, FRAME_SIZE = 8 };

static char root[PATH_MAX];    /* mkdtemp'd, removed at exit */
static char mdir[PATH_MAX];    /* root/__cluster_metadata-0 */

/* The replayed state: a hash chain over the re-encoded records. */
struct replay {
	uint64_t hash;
	uint64_t count;
};

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static void check_str(const char *s, int nullable)
{
	if (s == NULL) {
		if (!nullable)
			abort();
		return;
	}
	if (strlen(s) > MREC_STR_MAX)
		abort();
}

/* Folds record r into the state; aborts when r is not a record that
 * metalog_encode would have written. */
static void fold(struct replay *st, const struct mrec *r)
{
	struct wbuf w;
	switch (r->type) {
	case MREC_CLUSTER:
		check_str(r->cluster_id, 0);
		break;
	case MREC_TOPIC:
		check_str(r->name, 0);
		/* fall through: the config pairs */
	case MREC_TOPIC_CONFIGS:
	case MREC_BROKER_CONFIGS:
		if (r->nconfigs > 0 && r->configs == NULL)
			abort();
		for (size_t i = 0; i < r->nconfigs; i++) {
			check_str(r->configs[i].key, 0);
			check_str(r->configs[i].value, 0);
		}
		break;
	case MREC_TOPIC_CONFIG:
		check_str(r->key, 0);
		check_str(r->value, 1);
		break;
	case MREC_PARTITIONS:
	case MREC_REMOVE_TOPIC:
	case MREC_PRODUCER_IDS:
		break;
	default:
		abort(); /* SNAPSHOT_END and unknown types are never applied */
	}
	if (r->version != 0)
		abort();
	wbuf_init(&w);
	if (metalog_encode(&w, r) != 0 || w.oom || w.mem_len != w.total)
		abort(); /* a decoded record must encode again */
	st->hash = fnv(st->hash, w.mem, w.mem_len);
	st->count++;
	wbuf_fini(&w);
}

static int on_record(void *arg, const struct mrec *r, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	fold(arg, r);
	return 0;
}

/* ------------------------------------------------------------ files */

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Rewrites the header CRC and every whole frame's CRC of a metalog file. */
static void repair(uint8_t *p, size_t n)
{
	if (n < HDR_SIZE)
		return;
	put_be32(p + 16, crc32c(0, p, 16));
	size_t off = HDR_SIZE;
	while (n - off >= FRAME_SIZE) {
		uint32_t len = get_be32(p + off);
		if (len < 2 || len > n - off - FRAME_SIZE)
			break;
		put_be32(p + off + 4, crc32c(0, p + off + FRAME_SIZE, len));
		off += FRAME_SIZE + len;
	}
}

static void write_file(const char *name, const uint8_t *p, size_t n)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", mdir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		abort(); /* the environment, not the input: stop loudly */
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			abort();
		p += w;
		n -= (size_t)w;
	}
	close(fd);
}

/* Writes a snapshot named by the seq in its header (+ off). */
static void write_snapshot(const uint8_t *p, size_t n, uint64_t off)
{
	uint64_t seq = 0;
	char name[64];
	for (size_t i = 8; i < 16 && i < n; i++)
		seq = seq << 8 | p[i];
	snprintf(name, sizeof name, "snapshot-%020" PRIu64 ".bin", seq + off);
	write_file(name, p, n);
}

/* True when a *.tmp file is left in the metadata dir. */
static int tmp_left(void)
{
	DIR *d = opendir(mdir);
	int found = 0;
	if (d == NULL)
		abort();
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		size_t n = strlen(e->d_name);
		if (n >= 4 && strcmp(e->d_name + n - 4, ".tmp") == 0)
			found = 1;
	}
	closedir(d);
	return found;
}

static int64_t file_size(const char *name)
{
	char path[PATH_MAX + 64];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", mdir, name);
	return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* Removes every file in dir (the metadata dir holds files only). */
static void empty_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

static void cleanup(void)
{
	if (mdir[0] != '\0') {
		empty_dir(mdir);
		rmdir(mdir);
	}
	if (root[0] != '\0')
		rmdir(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_logs();
	fuzz_make_root(root, sizeof root, "metalog");
	snprintf(mdir, sizeof mdir, "%s/__cluster_metadata-0", root);
	if (mkdir(mdir, 0755) != 0) {
		perror("fuzz_metalog: mkdir");
		abort();
	}
	atexit(cleanup);
	return 0;
}

/* ------------------------------------------------------------ the target */

static const struct mrec appended = {
	.type = MREC_PARTITIONS,
	.id = { 0xf0, 0x22, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14 },
	.count = 7,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t flags = data[0];
	const uint8_t *p = data + 1;
	size_t left = size - 1, snap_len[2] = { 0, 0 };
	const uint8_t *snap[2] = { NULL, NULL };
	for (int i = 0; i < 2; i++) {
		if (!(flags & (i == 0 ? F_SNAPSHOT : F_SNAPSHOT2)))
			continue;
		if (left < 2)
			return 0;
		snap_len[i] = (size_t)p[0] << 8 | p[1];
		p += 2;
		left -= 2;
		if (snap_len[i] > left)
			snap_len[i] = left;
		snap[i] = p;
		p += snap_len[i];
		left -= snap_len[i];
	}

	/* copies: exact-size blocks, repaired when asked */
	uint8_t *log = malloc(left ? left : 1);
	uint8_t *sn[2] = { malloc(snap_len[0] ? snap_len[0] : 1), malloc(snap_len[1] ? snap_len[1] : 1) };
	if (log == NULL || sn[0] == NULL || sn[1] == NULL)
		abort();
	if (left)
		memcpy(log, p, left);
	for (int i = 0; i < 2; i++)
		if (snap_len[i])
			memcpy(sn[i], snap[i], snap_len[i]);
	if (flags & F_REPAIR) {
		repair(log, left);
		repair(sn[0], snap_len[0]);
		repair(sn[1], snap_len[1]);
	}

	empty_dir(mdir);
	if (!(flags & F_NO_LOG))
		write_file("metadata.log", log, left);
	if (flags & F_TMP)
		write_file("metadata.log.tmp", log, left);
	if (flags & F_SNAPSHOT)
		write_snapshot(sn[0], snap_len[0], (flags & F_SNAP_NAME_OFF) ? 1 : 0);
	if (flags & F_SNAPSHOT2)
		write_snapshot(sn[1], snap_len[1], 0);
	free(log);
	free(sn[0]);
	free(sn[1]);

	/* 1. replay */
	char err[512];
	struct metalog *ml = NULL;
	struct replay one = { 0xcbf29ce484222325ULL, 0 }, two = one;
	if (metalog_open(mdir, on_record, &one, &ml, err, sizeof err) != 0) {
		if (ml != NULL || memchr(err, '\0', sizeof err) == NULL)
			abort();
		return 0;
	}

	/* 2. the state left on disk, and an append */
	uint64_t next = metalog_next_seq(ml);
	if (metalog_size(ml) != file_size("metadata.log") || metalog_size(ml) < HDR_SIZE || tmp_left())
		abort();
	if (metalog_append(ml, &appended) != KAFKA_NONE)
		abort();
	if (metalog_next_seq(ml) != next + 1 || metalog_size(ml) != file_size("metadata.log"))
		abort();
	fold(&one, &appended);
	metalog_close(ml);

	/* 3. reopen: same state, plus the appended record */
	if (metalog_open(mdir, on_record, &two, &ml, err, sizeof err) != 0) {
		fprintf(stderr, "fuzz_metalog: reopen failed: %s\n", err);
		abort();
	}
	if (two.count != one.count || two.hash != one.hash || metalog_next_seq(ml) != next + 1)
		abort();
	metalog_close(ml);
	return 0;
}
