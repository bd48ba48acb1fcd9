/*
 * powercut.c — an LD_PRELOAD shim that models what survives a power cut.
 *
 * SIGKILL keeps the page cache, so a kill -9 test cannot show a missing
 * fsync. This shim keeps, beside the real data directory, a *shadow* tree of
 * what a strict filesystem would have on stable storage; after the broker is
 * killed, the test replaces the data directory by the shadow (cut step in
 * tests/fault/conftest.py: powercut_apply) and restarts the broker without
 * the shim. See docs/faults.md for the model and its limits.
 *
 * Environment:
 *   POWERCUT_DIR     the directory to model (the broker's log.dirs); only
 *                    regular files and directories at or under it count
 *   POWERCUT_SHADOW  an empty directory for the shadow (created if missing)
 *   POWERCUT_DEBUG=1 one stderr line per modelled sync
 * Without both variables the shim only passes calls through.
 *
 * The model, keyed by inode (dev, ino, generation) — never by fd, so fds
 * the shim did not see opened (dup, fopen, inherited) work the same:
 *   - file content is durable as of the last successful fsync/fdatasync on
 *     any fd of that inode (or a write through an O_SYNC/O_DSYNC fd, or
 *     msync(MS_SYNC) of a shared mapping, or sync()/syncfs()); a file that
 *     was never synced is empty after the cut;
 *   - a directory's *entries* (names → inodes) are durable as of the last
 *     fsync of that directory: creating, renaming or unlinking a name
 *     changes nothing durable until the directory itself is fsync'd;
 *   - sync_file_range() makes nothing durable (it flushes neither metadata
 *     nor the drive cache);
 *   - the data directory itself always exists.
 *
 * Shadow layout (POWERCUT_SHADOW):
 *   root          the key of POWERCUT_DIR's inode ("dev-ino-gen\n")
 *   f/<key>       durable content of a regular file
 *   d/<key>       durable entries of a directory, one per line:
 *                 "f <key> <hex name>" or "d <key> <hex name>"
 *   ready         written once the initial snapshot is done (pid); a
 *                 process that finds it present (a child that inherited
 *                 LD_PRELOAD) passes every call through
 *   errors        appended when the shim itself fails (the test fails then)
 * The existing tree is taken as durable when the shim starts.
 *
 * Threads: one mutex guards the inode table and every shadow update; it is a
 * leaf lock (nothing is called back while holding it). A write's dirty range
 * is recorded before write() returns, so a sync that starts after a write
 * returned always covers it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* ------------------------------------------------------------ real calls */

#define REAL(ret, name, ...)                                                   \
	static ret (*real_##name)(__VA_ARGS__);                                \
	static ret (*get_##name(void))(__VA_ARGS__)                            \
	{                                                                      \
		ret (*f)(__VA_ARGS__) = __atomic_load_n(&real_##name, __ATOMIC_ACQUIRE); \
		if (!f) {                                                      \
			f = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name);      \
			__atomic_store_n(&real_##name, f, __ATOMIC_RELEASE);   \
		}                                                              \
		return f;                                                      \
	}

REAL(int, open, const char *, int, ...)
REAL(int, open64, const char *, int, ...)
REAL(int, openat, int, const char *, int, ...)
REAL(int, openat64, int, const char *, int, ...)
REAL(int, __open_2, const char *, int)
REAL(int, __open64_2, const char *, int)
REAL(int, __openat_2, int, const char *, int)
REAL(int, creat, const char *, mode_t)
REAL(int, creat64, const char *, mode_t)
REAL(ssize_t, write, int, const void *, size_t)
REAL(ssize_t, pwrite, int, const void *, size_t, off_t)
REAL(ssize_t, pwrite64, int, const void *, size_t, off_t)
REAL(ssize_t, writev, int, const struct iovec *, int)
REAL(ssize_t, pwritev, int, const struct iovec *, int, off_t)
REAL(ssize_t, pwritev64, int, const struct iovec *, int, off_t)
REAL(ssize_t, pwritev2, int, const struct iovec *, int, off_t, int)
REAL(int, ftruncate, int, off_t)
REAL(int, ftruncate64, int, off_t)
REAL(int, fallocate, int, int, off_t, off_t)
REAL(int, fallocate64, int, int, off_t, off_t)
REAL(int, posix_fallocate, int, off_t, off_t)
REAL(int, fsync, int)
REAL(int, fdatasync, int)
REAL(int, syncfs, int)
REAL(void, sync, void)
REAL(int, sync_file_range, int, off_t, off_t, unsigned int)
REAL(int, msync, void *, size_t, int)
REAL(void *, mmap, void *, size_t, int, int, int, off_t)
REAL(void *, mmap64, void *, size_t, int, int, int, off_t)
REAL(int, munmap, void *, size_t)
REAL(int, rename, const char *, const char *)
REAL(int, renameat, int, const char *, int, const char *)
REAL(int, renameat2, int, const char *, int, const char *, unsigned int)
REAL(int, unlink, const char *)
REAL(int, unlinkat, int, const char *, int)
REAL(int, rmdir, const char *)
REAL(int, close, int)

/* ------------------------------------------------------------ state */

static int g_active;                  /* set once the initial snapshot is done */
static int g_debug;
static char g_dir[PATH_MAX];          /* realpath of POWERCUT_DIR */
static size_t g_dirlen;
static char g_shadow[PATH_MAX];       /* POWERCUT_SHADOW */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

#define SMALL_FILE (256 * 1024)       /* files up to this size are copied whole at each sync */

struct inode_rec {
	dev_t dev;
	ino_t ino;
	unsigned gen;                 /* bumped when a dead inode number is reused */
	unsigned char used, dead;     /* dead: its last name was unlinked/replaced */
	unsigned char tracked;        /* 1: under POWERCUT_DIR; 0: not (cached) */
	unsigned char full;           /* copy whole file at every sync (shared writable mmap) */
	unsigned char has_shadow;     /* f/<key> exists */
	int64_t lo, hi;               /* dirty byte range since the last sync (lo > hi: clean) */
	int64_t synced_size;          /* file size at the last sync */
};

#define NRECS 32768
static struct inode_rec g_recs[NRECS];
static size_t g_nrecs;

struct mapping {
	char *addr;
	size_t len;
	off_t off;
	struct inode_rec *rec;
};
#define NMAPS 1024
static struct mapping g_maps[NMAPS];

static char g_copybuf[1 << 18];

/* ------------------------------------------------------------ helpers */

static void shim_error(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	get_write()(2, "powercut: ", 10);
	get_write()(2, line, (size_t)n);
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/errors", g_shadow);
	int fd = get_open()(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		get_write()(fd, line, (size_t)n);
		get_close()(fd);
	}
}

static void shim_debug(const char *fmt, ...)
{
	if (!g_debug)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	get_write()(2, "powercut: ", 10);
	get_write()(2, line, (size_t)n);
}

static int under_dir(const char *path)
{
	return strncmp(path, g_dir, g_dirlen) == 0 && (path[g_dirlen] == '\0' || path[g_dirlen] == '/');
}

/* The canonical path of an open fd (or "" if unknown). */
static void fd_path(int fd, char *out, size_t cap)
{
	char link[64];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, out, cap - 1);
	out[n > 0 ? n : 0] = '\0';
}

static size_t rec_hash(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)dev * 0xC2B2AE3D27D4EB4Full;
	return (size_t)(h >> 17) % NRECS;
}

static struct inode_rec *rec_find(dev_t dev, ino_t ino)
{
	for (size_t i = rec_hash(dev, ino), k = 0; k < NRECS; k++, i = (i + 1) % NRECS) {
		struct inode_rec *r = &g_recs[i];
		if (!r->used)
			return NULL;
		if (r->dev == dev && r->ino == ino)
			return r;
	}
	return NULL;
}

static void rec_reset(struct inode_rec *r)
{
	r->dead = 0;
	r->full = 0;
	r->has_shadow = 0;
	r->lo = INT64_MAX;
	r->hi = 0;
	r->synced_size = 0;
}

/* Finds or creates the record of a live inode (nlink > 0). A record marked
 * dead whose number shows up alive again is a new file: new generation.
 * tracked: -1 = decide from path (may be NULL: unknown), else 0/1. Caller
 * holds g_mu. Returns NULL when the table is full. */
static struct inode_rec *rec_get(const struct stat *st, const char *path)
{
	struct inode_rec *r = rec_find(st->st_dev, st->st_ino);
	if (r) {
		if (r->dead && st->st_nlink > 0) {
			r->gen++;
			rec_reset(r);
			r->tracked = path ? (unsigned char)under_dir(path) : 0;
		}
		return r;
	}
	if (g_nrecs >= NRECS * 3 / 4) {
		static int warned;
		if (!warned++)
			shim_error("inode table full: later files are not modelled");
		return NULL;
	}
	for (size_t i = rec_hash(st->st_dev, st->st_ino);; i = (i + 1) % NRECS) {
		r = &g_recs[i];
		if (!r->used)
			break;
	}
	memset(r, 0, sizeof *r);
	r->used = 1;
	r->dev = st->st_dev;
	r->ino = st->st_ino;
	rec_reset(r);
	r->tracked = path ? (unsigned char)under_dir(path) : 0;
	g_nrecs++;
	return r;
}

/* fstat()s fd; true if it is a regular file or a directory (sockets,
 * pipes and terminals are answered without taking the lock). */
static int fd_stat(int fd, struct stat *st)
{
	return fstat(fd, st) == 0 && (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode));
}

/* The record of an open fd (st: its fd_stat) if it is a tracked regular
 * file or directory. Caller holds g_mu. */
static struct inode_rec *rec_of_fd(int fd, const struct stat *st)
{
	struct inode_rec *r = rec_find(st->st_dev, st->st_ino);
	if (!r || (r->dead && st->st_nlink > 0)) {
		char path[PATH_MAX];
		fd_path(fd, path, sizeof path);
		r = rec_get(st, path);
	}
	return r && r->tracked ? r : NULL;
}

static void rec_key(const struct inode_rec *r, char *out, size_t cap)
{
	snprintf(out, cap, "%llu-%llu-%u", (unsigned long long)r->dev, (unsigned long long)r->ino, r->gen);
}

static void shadow_path(char *out, size_t cap, const char *kind, const struct inode_rec *r)
{
	char key[96];
	rec_key(r, key, sizeof key);
	snprintf(out, cap, "%s/%s/%s", g_shadow, kind, key);
}

static int write_all(int fd, const void *p, size_t n, off_t off)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = get_pwrite()(fd, c, n, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

/* Copies [lo, hi) of the file open as rfd into the shadow fd sfd. */
static int copy_range(int rfd, int sfd, int64_t lo, int64_t hi)
{
	while (lo < hi) {
		size_t want = (size_t)(hi - lo) < sizeof g_copybuf ? (size_t)(hi - lo) : sizeof g_copybuf;
		ssize_t n = pread(rfd, g_copybuf, want, lo);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break; /* the file shrank meanwhile */
		if (write_all(sfd, g_copybuf, (size_t)n, lo) != 0)
			return -1;
		lo += n;
	}
	return 0;
}

/* Makes the current content of a tracked regular file durable in the
 * shadow. rfd: an fd to read it through (-1: reopen via /proc/self/fd/fd
 * or path). Caller holds g_mu. */
static void sync_file(struct inode_rec *r, int fd, const char *path)
{
	char spath[PATH_MAX + 128];
	shadow_path(spath, sizeof spath, "f", r);
	char src[64];
	int rfd;
	if (path) {
		rfd = get_open()(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	} else {
		snprintf(src, sizeof src, "/proc/self/fd/%d", fd);
		rfd = get_open()(src, O_RDONLY | O_CLOEXEC);
	}
	if (rfd < 0) {
		shim_error("sync: cannot reopen %s for reading: %s", path ? path : src, strerror(errno));
		return;
	}
	struct stat st;
	if (fstat(rfd, &st) != 0 || st.st_ino != r->ino || st.st_dev != r->dev) {
		shim_error("sync: %s is no longer the same inode", path ? path : src);
		get_close()(rfd);
		return;
	}
	int sfd = get_open()(spath, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (sfd < 0) {
		shim_error("sync: cannot open shadow %s: %s", spath, strerror(errno));
		get_close()(rfd);
		return;
	}
	int64_t size = st.st_size, lo, hi;
	if (!r->has_shadow || r->full || size <= SMALL_FILE) {
		lo = 0;
		hi = size;
	} else {
		lo = r->lo;
		hi = r->hi;
		if (size > r->synced_size) { /* growth the recorded writes may not explain */
			lo = lo < r->synced_size ? lo : r->synced_size;
			hi = size;
		}
		if (hi > size)
			hi = size;
	}
	int rc = get_ftruncate()(sfd, size);
	if (rc == 0 && lo < hi)
		rc = copy_range(rfd, sfd, lo, hi);
	if (rc != 0)
		shim_error("sync: copying to %s failed: %s", spath, strerror(errno));
	else
		shim_debug("file %s size %lld copied [%lld, %lld)", spath, (long long)size,
			   (long long)(lo < hi ? lo : 0), (long long)(lo < hi ? hi : 0));
	get_close()(sfd);
	get_close()(rfd);
	r->has_shadow = 1;
	r->synced_size = size;
	r->lo = INT64_MAX;
	r->hi = 0;
}

static void hex(const char *s, char *out, size_t cap)
{
	static const char digits[] = "0123456789abcdef";
	size_t j = 0;
	for (; *s && j + 3 < cap; s++) {
		out[j++] = digits[(unsigned char)*s >> 4];
		out[j++] = digits[(unsigned char)*s & 15];
	}
	out[j] = '\0';
}

/* Makes a tracked directory's current entries durable. dfd: an fd of the
 * directory (or -1 with path). Caller holds g_mu. */
static void sync_dir(struct inode_rec *r, int fd, const char *path)
{
	char src[64];
	int rfd;
	if (path) {
		rfd = get_open()(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		snprintf(src, sizeof src, "/proc/self/fd/%d", fd);
		rfd = get_open()(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (rfd < 0) {
		shim_error("sync: cannot reopen directory %s: %s", path ? path : src, strerror(errno));
		return;
	}
	DIR *d = fdopendir(rfd);
	if (!d) {
		shim_error("sync: fdopendir: %s", strerror(errno));
		get_close()(rfd);
		return;
	}
	char spath[PATH_MAX + 128], tmp[PATH_MAX + 160];
	shadow_path(spath, sizeof spath, "d", r);
	snprintf(tmp, sizeof tmp, "%s.tmp", spath);
	int sfd = get_open()(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (sfd < 0) {
		shim_error("sync: cannot open %s: %s", tmp, strerror(errno));
		closedir(d);
		return;
	}
	off_t off = 0;
	int n = 0, failed = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue; /* removed meanwhile */
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
			continue;
		struct inode_rec *er = rec_get(&st, NULL);
		if (!er) {
			failed = 1;
			continue;
		}
		er->tracked = 1; /* inside a tracked directory */
		char key[96], name[2 * NAME_MAX + 4], line[2 * NAME_MAX + 128];
		rec_key(er, key, sizeof key);
		hex(de->d_name, name, sizeof name);
		int k = snprintf(line, sizeof line, "%c %s %s\n", S_ISDIR(st.st_mode) ? 'd' : 'f', key, name);
		if (write_all(sfd, line, (size_t)k, off) != 0)
			failed = 1;
		off += k;
		n++;
	}
	closedir(d);
	get_close()(sfd);
	if (failed || get_rename()(tmp, spath) != 0)
		shim_error("sync: writing %s failed", spath);
	else
		shim_debug("dir %s: %d entries", spath, n);
}

/* Records a write of n bytes at off (-1: ending at the fd's position). */
static void note_write(int fd, int64_t off, ssize_t n)
{
	if (n <= 0 || !g_active)
		return;
	int saved = errno;
	struct stat st;
	if (!fd_stat(fd, &st) || !S_ISREG(st.st_mode)) {
		errno = saved;
		return;
	}
	pthread_mutex_lock(&g_mu);
	struct inode_rec *r = rec_of_fd(fd, &st);
	if (r) {
		if (off < 0) {
			off_t cur = lseek(fd, 0, SEEK_CUR);
			off = cur >= n ? cur - n : 0;
		}
		if (off < r->lo)
			r->lo = off;
		if (off + n > r->hi)
			r->hi = off + n;
		int fl = fcntl(fd, F_GETFL);
		if (fl >= 0 && (fl & (O_SYNC | O_DSYNC)))
			sync_file(r, fd, NULL);
	}
	pthread_mutex_unlock(&g_mu);
	errno = saved;
}

static void note_range(int fd, int64_t off, int64_t len)
{
	if (!g_active)
		return;
	int saved = errno;
	struct stat st;
	if (!fd_stat(fd, &st) || !S_ISREG(st.st_mode)) {
		errno = saved;
		return;
	}
	pthread_mutex_lock(&g_mu);
	struct inode_rec *r = rec_of_fd(fd, &st);
	if (r && len > 0) {
		if (off < r->lo)
			r->lo = off;
		if (off + len > r->hi)
			r->hi = off + len;
	}
	pthread_mutex_unlock(&g_mu);
	errno = saved;
}

static void model_sync(int fd)
{
	if (!g_active)
		return;
	int saved = errno;
	struct stat st;
	if (!fd_stat(fd, &st)) {
		errno = saved;
		return;
	}
	pthread_mutex_lock(&g_mu);
	struct inode_rec *r = rec_of_fd(fd, &st);
	if (!r) {
		/* maybe renamed in since we cached it as untracked */
		char path[PATH_MAX];
		fd_path(fd, path, sizeof path);
		if (under_dir(path)) {
			r = rec_get(&st, path);
			if (r)
				r->tracked = 1;
		}
	}
	if (r && S_ISREG(st.st_mode))
		sync_file(r, fd, NULL);
	else if (r && S_ISDIR(st.st_mode))
		sync_dir(r, fd, NULL);
	pthread_mutex_unlock(&g_mu);
	errno = saved;
}

static void note_open(int fd, int flags)
{
	if (fd < 0 || !g_active)
		return;
	(void)flags;
	int saved = errno;
	struct stat st;
	if (!fd_stat(fd, &st)) {
		errno = saved;
		return;
	}
	pthread_mutex_lock(&g_mu);
	{
		struct inode_rec *r = rec_find(st.st_dev, st.st_ino);
		if (!r || r->dead || !r->tracked) {
			char path[PATH_MAX];
			fd_path(fd, path, sizeof path);
			r = rec_get(&st, path);
			if (r && !r->tracked && under_dir(path))
				r->tracked = 1;
		}
	}
	pthread_mutex_unlock(&g_mu);
	errno = saved;
}

/* Before a name disappears (unlink, rmdir, rename over it): remember the
 * inode so that after the call it can be marked dead if no name is left. */
struct victim {
	int valid;
	struct stat st;
};

static void victim_get(int dirfd, const char *path, struct victim *v)
{
	v->valid = g_active && fstatat(dirfd, path, &v->st, AT_SYMLINK_NOFOLLOW) == 0 &&
		   (S_ISREG(v->st.st_mode) || S_ISDIR(v->st.st_mode));
}

static void victim_done(struct victim *v, int rc)
{
	if (!v->valid || rc != 0)
		return;
	if (S_ISREG(v->st.st_mode) && v->st.st_nlink > 1)
		return; /* another name keeps it */
	pthread_mutex_lock(&g_mu);
	struct inode_rec *r = rec_find(v->st.st_dev, v->st.st_ino);
	if (r)
		r->dead = 1;
	pthread_mutex_unlock(&g_mu);
}

static void after_rename(int newdirfd, const char *newpath, int rc)
{
	if (rc != 0 || !g_active)
		return;
	struct stat st;
	if (fstatat(newdirfd, newpath, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return;
	int fd = get_openat()(newdirfd, newpath, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	char path[PATH_MAX];
	fd_path(fd, path, sizeof path);
	get_close()(fd);
	pthread_mutex_lock(&g_mu);
	struct inode_rec *r = rec_get(&st, path);
	if (r && under_dir(path))
		r->tracked = 1;
	pthread_mutex_unlock(&g_mu);
}

/* ------------------------------------------------------------ whole tree */

static int walk_sync(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type != FTW_F && type != FTW_D)
		return 0;
	struct inode_rec *r = rec_get(st, path);
	if (!r)
		return 0;
	r->tracked = 1;
	if (S_ISREG(st->st_mode)) {
		r->has_shadow = 0; /* forces a whole copy */
		sync_file(r, -1, path);
	} else if (S_ISDIR(st->st_mode)) {
		sync_dir(r, -1, path);
	}
	return 0;
}

/* sync()/syncfs() and start-up: everything under the dir becomes durable.
 * Caller holds g_mu. */
static void sync_tree(void)
{
	nftw(g_dir, walk_sync, 16, FTW_PHYS);
}

/* ------------------------------------------------------------ start-up */

static void mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(tmp, 0755);
			*p = '/';
		}
	}
	mkdir(tmp, 0755);
}

__attribute__((constructor)) static void powercut_init(void)
{
	const char *dir = getenv("POWERCUT_DIR");
	const char *shadow = getenv("POWERCUT_SHADOW");
	const char *dbg = getenv("POWERCUT_DEBUG");
	g_debug = dbg && *dbg && strcmp(dbg, "0") != 0;
	if (!dir || !*dir || !shadow || !*shadow)
		return;
	snprintf(g_shadow, sizeof g_shadow, "%s", shadow);
	char p[PATH_MAX + 32];
	snprintf(p, sizeof p, "%s/ready", g_shadow);
	if (access(p, F_OK) == 0) {
		/* A child of the modelled process (or a second run on the same
		 * shadow): re-snapshotting would call unsynced data durable. */
		shim_debug("%s exists: pid %d passes calls through", p, (int)getpid());
		return;
	}
	mkdir_p(dir);
	if (!realpath(dir, g_dir)) {
		shim_error("POWERCUT_DIR %s: %s", dir, strerror(errno));
		return;
	}
	g_dirlen = strlen(g_dir);
	snprintf(p, sizeof p, "%s/f", g_shadow);
	mkdir_p(p);
	snprintf(p, sizeof p, "%s/d", g_shadow);
	mkdir_p(p);

	pthread_mutex_lock(&g_mu);
	sync_tree();
	struct stat st;
	struct inode_rec *root = stat(g_dir, &st) == 0 ? rec_get(&st, g_dir) : NULL;
	pthread_mutex_unlock(&g_mu);
	if (!root) {
		shim_error("cannot stat %s", g_dir);
		return;
	}
	char key[96], line[160];
	rec_key(root, key, sizeof key);
	int n = snprintf(line, sizeof line, "%s\n", key);
	snprintf(p, sizeof p, "%s/root", g_shadow);
	int fd = get_open()(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		get_write()(fd, line, (size_t)n);
		get_close()(fd);
	}
	n = snprintf(line, sizeof line, "%d\n", (int)getpid());
	snprintf(p, sizeof p, "%s/ready", g_shadow);
	fd = get_open()(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		get_write()(fd, line, (size_t)n);
		get_close()(fd);
	}
	shim_debug("modelling %s, shadow %s", g_dir, g_shadow);
	__atomic_store_n(&g_active, 1, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------ wrappers */

#define OPEN_MODE(flags)                                                       \
	mode_t mode = 0;                                                       \
	if ((flags) & O_CREAT || ((flags) & O_TMPFILE) == O_TMPFILE) {         \
		va_list ap;                                                    \
		va_start(ap, flags);                                           \
		mode = (mode_t)va_arg(ap, int);                                \
		va_end(ap);                                                    \
	}

int open(const char *path, int flags, ...)
{
	OPEN_MODE(flags);
	int fd = get_open()(path, flags, mode);
	note_open(fd, flags);
	return fd;
}

int open64(const char *path, int flags, ...)
{
	OPEN_MODE(flags);
	int fd = get_open64()(path, flags, mode);
	note_open(fd, flags);
	return fd;
}

int openat(int dirfd, const char *path, int flags, ...)
{
	OPEN_MODE(flags);
	int fd = get_openat()(dirfd, path, flags, mode);
	note_open(fd, flags);
	return fd;
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	OPEN_MODE(flags);
	int fd = get_openat64()(dirfd, path, flags, mode);
	note_open(fd, flags);
	return fd;
}

int __open_2(const char *path, int flags)
{
	int fd = get___open_2()(path, flags);
	note_open(fd, flags);
	return fd;
}

int __open64_2(const char *path, int flags)
{
	int fd = get___open64_2()(path, flags);
	note_open(fd, flags);
	return fd;
}

int __openat_2(int dirfd, const char *path, int flags)
{
	int fd = get___openat_2()(dirfd, path, flags);
	note_open(fd, flags);
	return fd;
}

int creat(const char *path, mode_t mode)
{
	int fd = get_creat()(path, mode);
	note_open(fd, O_CREAT | O_WRONLY | O_TRUNC);
	return fd;
}

int creat64(const char *path, mode_t mode)
{
	int fd = get_creat64()(path, mode);
	note_open(fd, O_CREAT | O_WRONLY | O_TRUNC);
	return fd;
}

ssize_t write(int fd, const void *buf, size_t n)
{
	ssize_t r = get_write()(fd, buf, n);
	note_write(fd, -1, r);
	return r;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	ssize_t r = get_pwrite()(fd, buf, n, off);
	note_write(fd, off, r);
	return r;
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	ssize_t r = get_pwrite64()(fd, buf, n, off);
	note_write(fd, off, r);
	return r;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	ssize_t r = get_writev()(fd, iov, cnt);
	note_write(fd, -1, r);
	return r;
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	ssize_t r = get_pwritev()(fd, iov, cnt, off);
	note_write(fd, off, r);
	return r;
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
	ssize_t r = get_pwritev64()(fd, iov, cnt, off);
	note_write(fd, off, r);
	return r;
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	ssize_t r = get_pwritev2()(fd, iov, cnt, off, flags);
	note_write(fd, off, r);
	if (r > 0 && (flags & (RWF_DSYNC | RWF_SYNC)))
		model_sync(fd);
	return r;
}

int ftruncate(int fd, off_t len)
{
	return get_ftruncate()(fd, len); /* size is taken at the next sync */
}

int ftruncate64(int fd, off_t len)
{
	return get_ftruncate64()(fd, len);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
	int r = get_fallocate()(fd, mode, off, len);
	if (r == 0)
		note_range(fd, off, len);
	return r;
}

int fallocate64(int fd, int mode, off_t off, off_t len)
{
	int r = get_fallocate64()(fd, mode, off, len);
	if (r == 0)
		note_range(fd, off, len);
	return r;
}

int posix_fallocate(int fd, off_t off, off_t len)
{
	return get_posix_fallocate()(fd, off, len); /* allocates zeros: size only */
}

int fsync(int fd)
{
	int r = get_fsync()(fd);
	if (r == 0)
		model_sync(fd); /* a failed fsync makes nothing durable */
	return r;
}

int fdatasync(int fd)
{
	int r = get_fdatasync()(fd);
	if (r == 0)
		model_sync(fd);
	return r;
}

int sync_file_range(int fd, off_t off, off_t n, unsigned int flags)
{
	/* Not a durability point: no metadata, no drive-cache flush. */
	return get_sync_file_range()(fd, off, n, flags);
}

int syncfs(int fd)
{
	int r = get_syncfs()(fd);
	if (r == 0 && g_active) {
		pthread_mutex_lock(&g_mu);
		sync_tree();
		pthread_mutex_unlock(&g_mu);
	}
	return r;
}

void sync(void)
{
	get_sync()();
	if (g_active) {
		pthread_mutex_lock(&g_mu);
		sync_tree();
		pthread_mutex_unlock(&g_mu);
	}
}

static void note_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (addr == MAP_FAILED || fd < 0 || !(flags & MAP_SHARED) || !(prot & PROT_WRITE) || !g_active)
		return;
	int saved = errno;
	struct stat st;
	if (!fd_stat(fd, &st) || !S_ISREG(st.st_mode)) {
		errno = saved;
		return;
	}
	pthread_mutex_lock(&g_mu);
	struct inode_rec *r = rec_of_fd(fd, &st);
	if (r) {
		r->full = 1; /* writes through memory are invisible: copy whole files */
		int i;
		for (i = 0; i < NMAPS && g_maps[i].addr; i++)
			;
		if (i < NMAPS)
			g_maps[i] = (struct mapping){ addr, len, off, r };
		else
			shim_error("too many shared mappings: msync of later ones is not modelled");
	}
	pthread_mutex_unlock(&g_mu);
	errno = saved;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = get_mmap()(addr, len, prot, flags, fd, off);
	note_mmap(p, len, prot, flags, fd, off);
	return p;
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = get_mmap64()(addr, len, prot, flags, fd, off);
	note_mmap(p, len, prot, flags, fd, off);
	return p;
}

int munmap(void *addr, size_t len)
{
	if (g_active) {
		pthread_mutex_lock(&g_mu);
		for (int i = 0; i < NMAPS; i++)
			if (g_maps[i].addr && g_maps[i].addr < (char *)addr + len &&
			    (char *)addr < g_maps[i].addr + g_maps[i].len)
				g_maps[i].addr = NULL;
		pthread_mutex_unlock(&g_mu);
	}
	return get_munmap()(addr, len);
}

int msync(void *addr, size_t len, int flags)
{
	int r = get_msync()(addr, len, flags);
	if (r != 0 || !(flags & MS_SYNC) || !g_active)
		return r;
	int saved = errno;
	pthread_mutex_lock(&g_mu);
	for (int i = 0; i < NMAPS; i++) {
		struct mapping *m = &g_maps[i];
		char *a = addr;
		if (!m->addr || a < m->addr || a >= m->addr + m->len)
			continue;
		size_t n = len;
		if (a + n > m->addr + m->len)
			n = (size_t)(m->addr + m->len - a);
		char spath[PATH_MAX + 128];
		shadow_path(spath, sizeof spath, "f", m->rec);
		int sfd = get_open()(spath, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (sfd < 0 || write_all(sfd, a, n, m->off + (a - m->addr)) != 0)
			shim_error("msync: writing %s failed", spath);
		else
			m->rec->has_shadow = 1;
		if (sfd >= 0)
			get_close()(sfd);
		break;
	}
	pthread_mutex_unlock(&g_mu);
	errno = saved;
	return r;
}

int rename(const char *from, const char *to)
{
	struct victim v;
	victim_get(AT_FDCWD, to, &v);
	int r = get_rename()(from, to);
	victim_done(&v, r);
	after_rename(AT_FDCWD, to, r);
	return r;
}

int renameat(int fromdir, const char *from, int todir, const char *to)
{
	struct victim v;
	victim_get(todir, to, &v);
	int r = get_renameat()(fromdir, from, todir, to);
	victim_done(&v, r);
	after_rename(todir, to, r);
	return r;
}

int renameat2(int fromdir, const char *from, int todir, const char *to, unsigned int flags)
{
	struct victim v = { 0 };
	if (!(flags & RENAME_EXCHANGE))
		victim_get(todir, to, &v);
	int r = get_renameat2()(fromdir, from, todir, to, flags);
	victim_done(&v, r);
	after_rename(todir, to, r);
	return r;
}

int unlink(const char *path)
{
	struct victim v;
	victim_get(AT_FDCWD, path, &v);
	int r = get_unlink()(path);
	victim_done(&v, r);
	return r;
}

int unlinkat(int dirfd, const char *path, int flags)
{
	struct victim v;
	victim_get(dirfd, path, &v);
	int r = get_unlinkat()(dirfd, path, flags);
	victim_done(&v, r);
	return r;
}

int rmdir(const char *path)
{
	struct victim v;
	victim_get(AT_FDCWD, path, &v);
	int r = get_rmdir()(path);
	victim_done(&v, r);
	return r;
}

int close(int fd)
{
	/* Closing makes nothing durable; the model is keyed by inode, so there
	 * is no per-fd state to drop. Passed through. */
	return get_close()(fd);
}
