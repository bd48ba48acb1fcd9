/*
 * metalog.c — the durable metadata record log and its snapshots (metalog.h).
 *
 * Directory <log dir>/__cluster_metadata-0/:
 *   metadata.log                   file header, then records, append-only
 *   snapshot-<seq: 20 digits>.bin  file header, records, SNAPSHOT_END
 *   *.tmp                          a file being written; removed at open
 *   *.corrupt                      a snapshot that failed validation, kept
 *                                  (renamed aside) for people to look at
 *
 * Every integer is big-endian.
 *
 * File header, 20 bytes:
 *   +---------------+-------------+------------+
 *   | magic (8)     | seq u64     | crc32c u32 |  crc32c over magic and seq
 *   +---------------+-------------+------------+
 *   metadata.log: magic "RNLMLOG1", seq = the seq of its first record (base)
 *   snapshot:     magic "RNLMSNP1", seq = it covers records [0, seq)
 *
 * Record framing:
 *   +------------+------------+---------+------------+-------------+
 *   | length u32 | crc32c u32 | type u8 | version u8 | payload ... |
 *   +------------+------------+---------+------------+-------------+
 *   length: bytes after the crc field (2 + payload), 2 .. 16 MiB
 *   crc32c: over type, version and payload
 *
 * Payloads (all version 0; a payload must be consumed exactly):
 *   str  = u16 length + bytes (no NUL inside); nstr = str where length
 *          0xFFFF means null; uuid = 16 bytes
 *   CLUSTER       str cluster_id, i32 node_id
 *   TOPIC         uuid id, str name, i32 partitions, u32 nconfigs,
 *                 nconfigs x (str key, str value)
 *   PARTITIONS    uuid id, i32 partitions
 *   TOPIC_CONFIG  uuid id, str key, nstr value (null: remove the override)
 *   REMOVE_TOPIC  uuid id
 *   SNAPSHOT_END  u64 seq, u32 nrecords (snapshot files only, always last)
 *   TOPIC_CONFIGS uuid id, u32 nconfigs, nconfigs x (str key, str value):
 *                 the topic's whole override set after an alter (replaces
 *                 the previous set, so a multi-key alter is one record and
 *                 replay applies all of it or, torn, none)
 *   BROKER_CONFIGS i32 scope (a node id, or -1 = cluster-wide default),
 *                 u32 nconfigs, nconfigs x (str key, str value): the
 *                 scope's whole set of dynamic broker configs (replaces the
 *                 previous set; empty = none)
 *   PRODUCER_IDS  i32 node_id, i64 next_producer_id: a block of producer
 *                 ids [previous next_producer_id, next_producer_id) was
 *                 reserved for node_id (Kafka's ProducerIdsRecord). Only
 *                 the highest matters: replay keeps the maximum, so ids
 *                 handed out before a crash are never handed out again.
 *                 A snapshot carries one, when any block was reserved.
 *
 * Sequence numbers: record k (from 0) of metadata.log has seq base + k.
 *
 * Invariants:
 *  1. A record is acknowledged only after an fdatasync covered it, and the
 *     next append starts only after that; so only the last record of
 *     metadata.log can be torn. Replay cuts the log at the first record
 *     that is incomplete or fails its CRC (WARN) and keeps what precedes.
 *  2. Files appear only by tmp + fsync + rename + fsync(dir): a file under
 *     its final name has a complete header. A bad header is an error, not a
 *     torn tail.
 *  3. A record whose CRC is right but whose type, version or layout is
 *     unknown is an error (a newer writer or a bug), never cut off.
 *  4. A snapshot is valid only whole: header, every record, SNAPSHOT_END
 *     last with the header's seq and the right count, nothing after it.
 *     Its records rebuild the whole image from empty.
 *  5. base(metadata.log) <= seq(newest valid snapshot) <= end(metadata.log)
 *     after open: replay applies log records with seq >= snapshot seq. A log
 *     that ends before the snapshot is older than it and is replaced by an
 *     empty one; a log that starts after it (a gap) is an error.
 *
 * Snapshot steps (metalog_snapshot) and what a crash after each leaves:
 *   1. snapshot-S.bin.tmp written, fsync'd   old snapshot + log; tmp removed
 *   2. renamed to snapshot-S.bin, fsync dir  S + old log (base <= S): log
 *                                            records below S are skipped
 *   3. metadata.log.tmp (base S) written, fsync'd, renamed over
 *      metadata.log, fsync dir               S + empty log
 *   4. older snapshots unlinked              nothing changes meaning
 */
#include "meta/metalog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta/meta.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/err.h"
#include "util/log.h"
#include "util/fileio.h"

#define HDR_SIZE 20
#define FRAME_SIZE 8                /* length + crc */
#define REC_MAX (16u << 20)         /* largest length field accepted */
#define LOG_NAME "metadata.log"
#define LOG_MAGIC "RNLMLOG1"
#define SNAP_MAGIC "RNLMSNP1"
#define SNAP_PREFIX "snapshot-"
#define SNAP_SUFFIX ".bin"
#define NULL_STR 0xFFFFu

struct metalog {
	char dir[PATH_MAX];   /* the metadata directory */
	int fd;               /* metadata.log, read-write; -1 before open */
	int64_t size;         /* bytes of metadata.log: the next append's offset */
	uint64_t base_seq;    /* seq of metadata.log's first record */
	uint64_t next_seq;    /* seq the next appended record gets */
	bool failed;          /* sticky after an fdatasync failure */
};

/* ============================================================ small helpers */

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

/* Writes dir/name into out (PATH_MAX). Returns 0, or -1 when too long. */
static int path_of(const struct metalog *ml, const char *name, char *out)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", ml->dir, name);
	return n < 0 || n >= PATH_MAX ? -1 : 0;
}

static void snap_name(uint64_t seq, char *out, size_t outlen)
{
	snprintf(out, outlen, SNAP_PREFIX "%020" PRIu64 SNAP_SUFFIX, seq);
}

/* Reads the whole file behind fd into a malloc'd buffer (caller frees). */
static int read_all(int fd, uint8_t **out, size_t *n)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -1;
	size_t size = (size_t)st.st_size;
	uint8_t *buf = malloc(size ? size : 1);
	if (buf == NULL)
		return -1;
	size_t got = 0;
	while (got < size) {
		ssize_t r = pread(fd, buf + got, size - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* shrank under us: take what is there */
		got += (size_t)r;
	}
	*out = buf;
	*n = got;
	return 0;
}

static void header_make(uint8_t h[HDR_SIZE], const char *magic, uint64_t seq)
{
	memcpy(h, magic, 8);
	put_be64(h + 8, seq);
	put_be32(h + 16, crc32c(0, h, 16));
}

/* Returns 0 with *seq set when p holds a valid header with this magic. */
static int header_check(const uint8_t *p, size_t n, const char *magic, uint64_t *seq)
{
	if (n < HDR_SIZE || memcmp(p, magic, 8) != 0 || get_be32(p + 16) != crc32c(0, p, 16))
		return -1;
	*seq = get_be64(p + 8);
	return 0;
}

/* ================================================================ encoding */

void mrec_fini(struct mrec *r)
{
	free(r->name);
	free(r->key);
	free(r->value);
	free(r->cluster_id);
	for (size_t i = 0; i < r->nconfigs; i++) {
		free(r->configs[i].key);
		free(r->configs[i].value);
	}
	free(r->configs);
	memset(r, 0, sizeof *r);
}

/* Bytes a str/nstr field takes, or SIZE_MAX when s is too long. */
static size_t str_size(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > MREC_STR_MAX ? SIZE_MAX : 2 + n;
}

/* Adds field sizes, keeping SIZE_MAX sticky. */
static size_t size_add(size_t a, size_t b)
{
	return a == SIZE_MAX || b == SIZE_MAX || b > SIZE_MAX - 1 - a ? SIZE_MAX : a + b;
}

/* Bytes of r's config pairs with their count, or SIZE_MAX (a key or value
 * NULL or too long). */
static size_t pairs_size(const struct mrec *r)
{
	size_t n = 4;
	for (size_t i = 0; i < r->nconfigs; i++) {
		if (r->configs[i].key == NULL || r->configs[i].value == NULL)
			return SIZE_MAX;
		n = size_add(n, size_add(str_size(r->configs[i].key), str_size(r->configs[i].value)));
	}
	return n;
}

/* Payload bytes of r, or SIZE_MAX when it cannot be encoded. */
static size_t payload_size(const struct mrec *r)
{
	switch (r->type) {
	case MREC_CLUSTER:
		return size_add(str_size(r->cluster_id), 4);
	case MREC_TOPIC:
		return size_add(16 + 4, size_add(str_size(r->name), pairs_size(r)));
	case MREC_TOPIC_CONFIGS:
		return size_add(16, pairs_size(r));
	case MREC_BROKER_CONFIGS:
		return size_add(4, pairs_size(r));
	case MREC_PARTITIONS:
		return 16 + 4;
	case MREC_TOPIC_CONFIG:
		return size_add(16, size_add(str_size(r->key), str_size(r->value)));
	case MREC_REMOVE_TOPIC:
		return 16;
	case MREC_SNAPSHOT_END:
		return 8 + 4;
	case MREC_PRODUCER_IDS:
		return 4 + 8;
	default:
		return SIZE_MAX;
	}
}

static void enc_str(struct wbuf *w, const char *s)
{
	if (s == NULL) {
		wbuf_u16(w, NULL_STR);
		return;
	}
	size_t n = strlen(s);
	wbuf_u16(w, (uint16_t)n);
	wbuf_bytes(w, s, n);
}

static void enc_pairs(struct wbuf *w, const struct mrec *r)
{
	wbuf_u32(w, (uint32_t)r->nconfigs);
	for (size_t i = 0; i < r->nconfigs; i++) {
		enc_str(w, r->configs[i].key);
		enc_str(w, r->configs[i].value);
	}
}

static void enc_payload(struct wbuf *w, const struct mrec *r)
{
	switch (r->type) {
	case MREC_CLUSTER:
		enc_str(w, r->cluster_id);
		wbuf_i32(w, r->node_id);
		break;
	case MREC_TOPIC:
		wbuf_bytes(w, r->id, 16);
		enc_str(w, r->name);
		wbuf_i32(w, r->count);
		enc_pairs(w, r);
		break;
	case MREC_TOPIC_CONFIGS:
		wbuf_bytes(w, r->id, 16);
		enc_pairs(w, r);
		break;
	case MREC_BROKER_CONFIGS:
		wbuf_i32(w, r->node_id);
		enc_pairs(w, r);
		break;
	case MREC_PARTITIONS:
		wbuf_bytes(w, r->id, 16);
		wbuf_i32(w, r->count);
		break;
	case MREC_TOPIC_CONFIG:
		wbuf_bytes(w, r->id, 16);
		enc_str(w, r->key);
		enc_str(w, r->value);
		break;
	case MREC_REMOVE_TOPIC:
		wbuf_bytes(w, r->id, 16);
		break;
	case MREC_SNAPSHOT_END:
		wbuf_i64(w, (int64_t)r->seq);
		wbuf_u32(w, r->nrecords);
		break;
	case MREC_PRODUCER_IDS:
		wbuf_i32(w, r->node_id);
		wbuf_i64(w, r->next_pid);
		break;
	}
}

int metalog_encode(struct wbuf *w, const struct mrec *r)
{
	size_t plen = payload_size(r);
	/* Names, keys and CLUSTER's id are plain strings: null only in a value. */
	if (plen == SIZE_MAX || plen + 2 > REC_MAX || (r->type == MREC_TOPIC && r->name == NULL) ||
	    (r->type == MREC_TOPIC_CONFIG && r->key == NULL) ||
	    (r->type == MREC_CLUSTER && r->cluster_id == NULL))
		return -1;
	size_t start = wbuf_mark(w);
	wbuf_u32(w, (uint32_t)(plen + 2));
	wbuf_u32(w, 0); /* crc, patched below */
	wbuf_i8(w, (int8_t)r->type);
	wbuf_i8(w, (int8_t)r->version);
	enc_payload(w, r);
	if (w->oom)
		return -1;
	wbuf_patch_i32(w, start + 4, (int32_t)crc32c(0, w->mem + start + FRAME_SIZE, plen + 2));
	return 0;
}

/* ================================================================ decoding */

/* Reads a str (or, when nullable, an nstr) into a malloc'd C string. */
static int dec_str(struct rd *rd, char **out, bool nullable)
{
	uint16_t n = rd_u16(rd);
	*out = NULL;
	if (rd->err != RD_OK)
		return -1;
	if (n == NULL_STR)
		return nullable ? 0 : -1;
	const uint8_t *p = rd_take(rd, n);
	if (p == NULL || memchr(p, '\0', n) != NULL)
		return -1;
	*out = strndup((const char *)p, n);
	return *out ? 0 : -1;
}

static int dec_id(struct rd *rd, uint8_t id[16])
{
	const uint8_t *p = rd_take(rd, 16);
	if (p == NULL)
		return -1;
	memcpy(id, p, 16);
	return 0;
}

/* u32 count, then count (str key, str value) pairs into r->configs. */
static int dec_pairs(struct rd *rd, struct mrec *r)
{
	uint32_t n = rd_u32(rd);
	/* each pair takes at least 4 bytes: bound before allocating */
	if (rd->err != RD_OK || n > rd_left(rd) / 4)
		return -1;
	r->configs = calloc(n ? n : 1, sizeof *r->configs);
	if (r->configs == NULL)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		r->nconfigs = i + 1; /* so mrec_fini frees a half-read pair */
		if (dec_str(rd, &r->configs[i].key, false) != 0 ||
		    dec_str(rd, &r->configs[i].value, false) != 0)
			return -1;
	}
	return 0;
}

static int dec_topic(struct rd *rd, struct mrec *r)
{
	if (dec_id(rd, r->id) != 0 || dec_str(rd, &r->name, false) != 0)
		return -1;
	r->count = rd_i32(rd);
	return dec_pairs(rd, r);
}

static int dec_payload(struct rd *rd, struct mrec *r)
{
	switch (r->type) {
	case MREC_CLUSTER:
		if (dec_str(rd, &r->cluster_id, false) != 0)
			return -1;
		r->node_id = rd_i32(rd);
		return 0;
	case MREC_TOPIC:
		return dec_topic(rd, r);
	case MREC_PARTITIONS:
		if (dec_id(rd, r->id) != 0)
			return -1;
		r->count = rd_i32(rd);
		return 0;
	case MREC_TOPIC_CONFIG:
		if (dec_id(rd, r->id) != 0 || dec_str(rd, &r->key, false) != 0)
			return -1;
		return dec_str(rd, &r->value, true);
	case MREC_REMOVE_TOPIC:
		return dec_id(rd, r->id);
	case MREC_TOPIC_CONFIGS:
		return dec_id(rd, r->id) != 0 ? -1 : dec_pairs(rd, r);
	case MREC_BROKER_CONFIGS:
		r->node_id = rd_i32(rd);
		return dec_pairs(rd, r);
	case MREC_SNAPSHOT_END:
		r->seq = (uint64_t)rd_i64(rd);
		r->nrecords = rd_u32(rd);
		return 0;
	case MREC_PRODUCER_IDS:
		r->node_id = rd_i32(rd);
		r->next_pid = rd_i64(rd);
		return 0;
	default:
		return -1;
	}
}

/* Decodes the record body p[0, n) (type onwards). Returns 0, or -1 with r
 * cleared (unknown type or version, malformed or trailing bytes). */
static int mrec_decode(const uint8_t *p, size_t n, struct mrec *r)
{
	struct rd rd = rd_make(p, n);
	memset(r, 0, sizeof *r);
	r->type = (uint8_t)rd_i8(&rd);
	r->version = (uint8_t)rd_i8(&rd);
	if (rd.err != RD_OK || r->version != 0 || dec_payload(&rd, r) != 0 ||
	    rd.err != RD_OK || rd_left(&rd) != 0) {
		mrec_fini(r);
		return -1;
	}
	return 0;
}

/* Checks the framing of the record at p (avail bytes to the end of the
 * file): whole and CRC right. Returns 0 with *reclen (frame included), or
 * -1 with the reason in *why. */
static int frame_check(const uint8_t *p, size_t avail, size_t *reclen, const char **why)
{
	if (avail < FRAME_SIZE) {
		*why = "incomplete record header";
		return -1;
	}
	uint32_t len = get_be32(p);
	if (len < 2 || len > REC_MAX) {
		*why = "impossible record length";
		return -1;
	}
	if (len > avail - FRAME_SIZE) {
		*why = "incomplete record";
		return -1;
	}
	if (crc32c(0, p + FRAME_SIZE, len) != get_be32(p + 4)) {
		*why = "checksum mismatch";
		return -1;
	}
	*reclen = FRAME_SIZE + len;
	return 0;
}

/* ================================================================ snapshots */

/* Validates a snapshot file's bytes (invariant 4). Returns NULL when valid,
 * else the reason. */
static const char *snapshot_check(const uint8_t *buf, size_t n, uint64_t seq)
{
	uint64_t hseq;
	size_t off = HDR_SIZE, reclen;
	uint32_t count = 0;
	const char *why = NULL;
	if (header_check(buf, n, SNAP_MAGIC, &hseq) != 0 || hseq != seq)
		return "bad header";
	while (off < n) {
		struct mrec r;
		if (frame_check(buf + off, n - off, &reclen, &why) != 0)
			return why;
		if (mrec_decode(buf + off + FRAME_SIZE, reclen - FRAME_SIZE, &r) != 0)
			return "undecodable record";
		bool end = r.type == MREC_SNAPSHOT_END;
		bool end_ok = end && r.seq == seq && r.nrecords == count && off + reclen == n;
		mrec_fini(&r);
		if (end)
			return end_ok ? NULL : "bad end record";
		count++;
		off += reclen;
	}
	return "no end record";
}

/* Applies a validated snapshot's records. Returns 0 or -1 (err). */
static int snapshot_apply(const uint8_t *buf, size_t n, metalog_apply_fn apply, void *arg,
			  char *err, size_t errlen)
{
	size_t off = HDR_SIZE, reclen;
	const char *why;
	while (off < n && frame_check(buf + off, n - off, &reclen, &why) == 0) {
		struct mrec r;
		if (mrec_decode(buf + off + FRAME_SIZE, reclen - FRAME_SIZE, &r) != 0)
			return -1; /* cannot happen: validated */
		int rc = r.type == MREC_SNAPSHOT_END ? 0 : apply(arg, &r, err, errlen);
		mrec_fini(&r);
		if (rc != 0)
			return -1;
		off += reclen;
	}
	return 0;
}

/* Tries one snapshot. Returns 0 (applied), 1 (invalid: renamed aside and
 * logged), -1 (fatal: err). */
static int snapshot_try(struct metalog *ml, uint64_t seq, metalog_apply_fn apply, void *arg,
			char *err, size_t errlen)
{
	char name[64], path[PATH_MAX], aside[PATH_MAX + 16];
	uint8_t *buf = NULL;
	size_t n = 0;
	int rc = -1;
	snap_name(seq, name, sizeof name);
	int fd = path_of(ml, name, path) == 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0 || read_all(fd, &buf, &n) != 0) {
		snprintf(err, errlen, "%s/%s: %s", ml->dir, name, strerror(errno));
		goto out;
	}
	const char *why = snapshot_check(buf, n, seq);
	if (why != NULL) {
		snprintf(aside, sizeof aside, "%s.corrupt", path);
		log_warn("meta", "%s: invalid snapshot (%s); renamed to %s.corrupt, trying an older one",
			 path, why, name);
		if (rename(path, aside) != 0)
			log_warn("meta", "%s: rename: %s", path, strerror(errno));
		rc = 1;
		goto out;
	}
	rc = snapshot_apply(buf, n, apply, arg, err, errlen);
	if (rc == 0)
		log_info("meta", "loaded metadata snapshot %s (%zu bytes)", name, n);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/* Parses "snapshot-<20 digits>.bin". Returns 0 with *seq, or -1. */
static int snap_parse(const char *name, uint64_t *seq)
{
	size_t pl = strlen(SNAP_PREFIX), n = strlen(name);
	if (n != pl + 20 + strlen(SNAP_SUFFIX) || strncmp(name, SNAP_PREFIX, pl) != 0 ||
	    strcmp(name + pl + 20, SNAP_SUFFIX) != 0)
		return -1;
	uint64_t v = 0;
	for (size_t i = pl; i < pl + 20; i++) {
		if (name[i] < '0' || name[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	*seq = v;
	return 0;
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* Lists snapshot seqs, newest first, into a malloc'd array. Also removes
 * leftover *.tmp files (invariant 2: never part of the state). */
static int dir_scan(struct metalog *ml, uint64_t **out, size_t *nout)
{
	DIR *d = opendir(ml->dir);
	uint64_t *v = NULL;
	size_t n = 0, cap = 0;
	if (d == NULL)
		return -1;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		size_t len = strlen(e->d_name);
		char path[PATH_MAX];
		uint64_t seq;
		if (len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0 && path_of(ml, e->d_name, path) == 0) {
			log_info("meta", "%s: removing an unfinished write", path);
			unlink(path);
		} else if (snap_parse(e->d_name, &seq) == 0) {
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				uint64_t *nv = realloc(v, cap * sizeof *v);
				if (nv == NULL)
					break;
				v = nv;
			}
			v[n++] = seq;
		}
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof *v, cmp_desc);
	*out = v;
	*nout = n;
	return 0;
}

/* Loads the newest valid snapshot. *snap_seq = its seq, 0 when none. */
static int snapshots_load(struct metalog *ml, metalog_apply_fn apply, void *arg, uint64_t *snap_seq,
			  char *err, size_t errlen)
{
	uint64_t *seqs = NULL;
	size_t n = 0;
	int rc = 0;
	*snap_seq = 0;
	if (dir_scan(ml, &seqs, &n) != 0) {
		snprintf(err, errlen, "%s: %s", ml->dir, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		rc = snapshot_try(ml, seqs[i], apply, arg, err, errlen);
		if (rc == 0)
			*snap_seq = seqs[i];
		if (rc != 1)
			break;
		rc = 0;
	}
	free(seqs);
	return rc;
}

/* Unlinks snapshots older than keep (after the log that follows keep is in
 * place: invariant 5 / step 4). */
static void snapshots_prune(struct metalog *ml, uint64_t keep)
{
	uint64_t *seqs = NULL;
	size_t n = 0;
	char name[64], path[PATH_MAX];
	if (dir_scan(ml, &seqs, &n) != 0)
		return;
	for (size_t i = 0; i < n; i++) {
		snap_name(seqs[i], name, sizeof name);
		if (seqs[i] < keep && path_of(ml, name, path) == 0 && unlink(path) != 0)
			log_warn("meta", "%s: unlink: %s", path, strerror(errno));
	}
	free(seqs);
}

/* Writes snapshot-<seq>.bin: tmp, fsync, rename, fsync dir (steps 1-2). */
static int snapshot_write(struct metalog *ml, uint64_t seq, const uint8_t *recs, size_t len,
			  uint32_t nrecs)
{
	char name[64], path[PATH_MAX] = "", tmp[PATH_MAX + 8] = "";
	uint8_t hdr[HDR_SIZE];
	struct wbuf end;
	struct mrec er = { .type = MREC_SNAPSHOT_END, .seq = seq, .nrecords = nrecs };
	int rc = -1, fd = -1;
	wbuf_init(&end);
	snap_name(seq, name, sizeof name);
	if (path_of(ml, name, path) != 0 || metalog_encode(&end, &er) != 0) {
		errno = ENAMETOOLONG;
		goto out;
	}
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	header_make(hdr, SNAP_MAGIC, seq);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || fio_pwrite_all(fd, hdr, HDR_SIZE, 0) != 0 || fio_pwrite_all(fd, recs, len, HDR_SIZE) != 0 ||
	    fio_pwrite_all(fd, end.mem, end.mem_len, (off_t)(HDR_SIZE + len)) != 0 || fsync(fd) != 0 ||
	    rename(tmp, path) != 0 || fio_fsync_dir(ml->dir) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0) {
		log_warn("meta", "%s/%s: writing snapshot failed: %s", ml->dir, name, strerror(errno));
		if (tmp[0] != '\0')
			unlink(tmp);
	}
	if (fd >= 0)
		close(fd);
	wbuf_fini(&end);
	return rc;
}

/* ==================================================================== log */

/* Creates an empty metadata.log whose first record will have seq base
 * (tmp, fsync, rename over the old one, fsync dir). Returns its fd, or -1
 * (errno). */
static int log_create(struct metalog *ml, uint64_t base)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	uint8_t hdr[HDR_SIZE];
	if (path_of(ml, LOG_NAME, path) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	header_make(hdr, LOG_MAGIC, base);
	int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || fio_pwrite_all(fd, hdr, HDR_SIZE, 0) != 0 || fsync(fd) != 0 ||
	    rename(tmp, path) != 0 || fio_fsync_dir(ml->dir) != 0) {
		int saved = errno;
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Starts a fresh log at base, replacing ml->fd. */
static int log_reset(struct metalog *ml, uint64_t base)
{
	int fd = log_create(ml, base);
	if (fd < 0)
		return -1;
	if (ml->fd >= 0)
		close(ml->fd);
	ml->fd = fd;
	ml->size = HDR_SIZE;
	ml->base_seq = ml->next_seq = base;
	return 0;
}

/* Cuts metadata.log at off (invariant 1) and makes the cut durable. */
static int log_cut(struct metalog *ml, size_t off, size_t n, const char *why, char *err, size_t errlen)
{
	log_warn("meta", "%s/" LOG_NAME ": %s at byte %zu (record seq %" PRIu64 "); cutting %zu "
		 "bytes: a write whose fdatasync never completed, never acknowledged",
		 ml->dir, why, off, ml->next_seq, n - off);
	if (ftruncate(ml->fd, (off_t)off) != 0 || fdatasync(ml->fd) != 0) {
		snprintf(err, errlen, "%s/" LOG_NAME ": truncate: %s", ml->dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Replays buf (the whole log) from after its header. Records with seq <
 * snap_seq are already in the snapshot. Sets ml->size and next_seq. */
static int log_replay(struct metalog *ml, const uint8_t *buf, size_t n, uint64_t snap_seq,
		      metalog_apply_fn apply, void *arg, char *err, size_t errlen)
{
	size_t off = HDR_SIZE, reclen;
	const char *why = NULL;
	while (off < n) {
		struct mrec r;
		if (frame_check(buf + off, n - off, &reclen, &why) != 0)
			break;
		if (mrec_decode(buf + off + FRAME_SIZE, reclen - FRAME_SIZE, &r) != 0 ||
		    r.type == MREC_SNAPSHOT_END) {
			snprintf(err, errlen, "%s/" LOG_NAME ": record at byte %zu (seq %" PRIu64 ") has a valid "
				 "checksum but unknown type %u or layout (written by a newer version?)",
				 ml->dir, off, ml->next_seq, buf[off + FRAME_SIZE]);
			if (r.type == MREC_SNAPSHOT_END)
				mrec_fini(&r);
			return -1;
		}
		int rc = ml->next_seq >= snap_seq ? apply(arg, &r, err, errlen) : 0;
		mrec_fini(&r);
		if (rc != 0)
			return -1;
		ml->next_seq++;
		off += reclen;
	}
	if (off < n && log_cut(ml, off, n, why, err, errlen) != 0)
		return -1;
	ml->size = (int64_t)off;
	return 0;
}

/* Opens metadata.log (creating it after snap_seq when absent) and replays
 * the records after the snapshot (invariant 5). */
static int log_load(struct metalog *ml, uint64_t snap_seq, metalog_apply_fn apply, void *arg,
		    char *err, size_t errlen)
{
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t n = 0;
	int rc = -1;
	if (path_of(ml, LOG_NAME, path) != 0) {
		snprintf(err, errlen, "%s: path too long", ml->dir);
		return -1;
	}
	ml->fd = open(path, O_RDWR | O_CLOEXEC);
	if (ml->fd < 0 && errno == ENOENT) {
		rc = log_reset(ml, snap_seq);
		if (rc != 0)
			snprintf(err, errlen, "%s: create: %s", path, strerror(errno));
		return rc;
	}
	if (ml->fd < 0 || read_all(ml->fd, &buf, &n) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (header_check(buf, n, LOG_MAGIC, &ml->base_seq) != 0) {
		snprintf(err, errlen, "%s: bad file header (not a runnel metadata log?)", path);
		goto out;
	}
	if (ml->base_seq > snap_seq) {
		snprintf(err, errlen, "%s: starts at record %" PRIu64 " but the newest valid snapshot "
			 "covers only %" PRIu64 " records: records are missing", path, ml->base_seq, snap_seq);
		goto out;
	}
	ml->next_seq = ml->base_seq;
	if (log_replay(ml, buf, n, snap_seq, apply, arg, err, errlen) != 0)
		goto out;
	if (ml->next_seq < snap_seq && log_reset(ml, snap_seq) != 0) {
		/* the log is older than the snapshot: nothing in it is needed */
		snprintf(err, errlen, "%s: replace: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

/* Creates the metadata directory when absent (fsyncing its parent). */
static int dir_prepare(struct metalog *ml, char *err, size_t errlen)
{
	char parent[PATH_MAX];
	struct stat st;
	if (mkdir(ml->dir, 0755) == 0) {
		snprintf(parent, sizeof parent, "%s", ml->dir);
		char *slash = strrchr(parent, '/');
		if (slash == parent)
			slash[1] = '\0';
		else if (slash != NULL)
			*slash = '\0';
		if (fio_fsync_dir(slash ? parent : ".") != 0) {
			snprintf(err, errlen, "%s: fsync: %s", parent, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (errno != EEXIST || stat(ml->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: %s", ml->dir, errno == EEXIST ? "not a directory" : strerror(errno));
		return -1;
	}
	return 0;
}

/* ================================================================ public */

int metalog_open(const char *dir, metalog_apply_fn apply, void *arg, struct metalog **out,
		 char *err, size_t errlen)
{
	struct metalog *ml = calloc(1, sizeof *ml);
	uint64_t snap_seq = 0;
	int rc = -1;
	*out = NULL;
	if (ml == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ml->fd = -1;
	if (snprintf(ml->dir, sizeof ml->dir, "%s", dir) >= (int)sizeof ml->dir) {
		snprintf(err, errlen, "%s: path too long", dir);
		goto out;
	}
	if (dir_prepare(ml, err, errlen) != 0 ||
	    snapshots_load(ml, apply, arg, &snap_seq, err, errlen) != 0 ||
	    log_load(ml, snap_seq, apply, arg, err, errlen) != 0)
		goto out;
	snapshots_prune(ml, snap_seq);
	*out = ml;
	rc = 0;
out:
	if (rc != 0)
		metalog_close(ml);
	return rc;
}

void metalog_close(struct metalog *ml)
{
	if (ml == NULL)
		return;
	if (ml->fd >= 0)
		close(ml->fd);
	free(ml);
}

int64_t metalog_size(const struct metalog *ml) { return ml->size; }
uint64_t metalog_next_seq(const struct metalog *ml) { return ml->next_seq; }

/* Undoes a failed append's bytes so the next record follows the last good
 * one. When even that fails the log goes sticky. */
static void append_undo(struct metalog *ml)
{
	if (ftruncate(ml->fd, (off_t)ml->size) != 0) {
		log_error("meta", "%s/" LOG_NAME ": truncate after a failed append: %s; refusing "
			  "metadata changes until restart", ml->dir, strerror(errno));
		ml->failed = true;
	}
}

int metalog_append(struct metalog *ml, const struct mrec *r)
{
	struct wbuf w;
	int rc = KAFKA_KAFKA_STORAGE_ERROR;
	if (ml->failed) {
		log_warn("meta", "%s/" LOG_NAME ": refusing a write after an earlier fsync failure", ml->dir);
		return rc;
	}
	wbuf_init(&w);
	if (metalog_encode(&w, r) != 0) {
		log_error("meta", "metadata record type %u cannot be encoded (too large or out of memory)",
			  r->type);
		goto out;
	}
	if (fio_pwrite_all(ml->fd, w.mem, w.mem_len, (off_t)ml->size) != 0) {
		log_error("meta", "%s/" LOG_NAME ": write at %" PRId64 ": %s", ml->dir, ml->size, strerror(errno));
		append_undo(ml);
		goto out;
	}
	if (fdatasync(ml->fd) != 0) {
		/* Whether the bytes reached the disk is unknown (the page cache
		 * may have dropped them): never retry over them. */
		log_error("meta", "%s/" LOG_NAME ": fdatasync: %s; refusing metadata changes until restart",
			  ml->dir, strerror(errno));
		ml->failed = true;
		append_undo(ml);
		goto out;
	}
	ml->size += (int64_t)w.mem_len;
	ml->next_seq++;
	rc = KAFKA_NONE;
out:
	wbuf_fini(&w);
	return rc;
}

int metalog_snapshot(struct metalog *ml, const uint8_t *recs, size_t len, uint32_t nrecs)
{
	uint64_t seq = ml->next_seq;
	if (ml->failed || snapshot_write(ml, seq, recs, len, nrecs) != 0)
		return -1;
	if (log_reset(ml, seq) != 0) {
		/* The snapshot stands; the old log keeps taking records after it. */
		log_warn("meta", "%s/" LOG_NAME ": starting a new log after snapshot %" PRIu64 ": %s",
			 ml->dir, seq, strerror(errno));
		return -1;
	}
	snapshots_prune(ml, seq);
	log_info("meta", "metadata snapshot at record %" PRIu64 " written (%u records, %zu bytes)",
		 seq, nrecs, len);
	return 0;
}
