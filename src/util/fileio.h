/*
 * fileio.h — whole-buffer writes and directory syncs, the small loops every
 * storage file needs (short writes and EINTR retried; a write of 0 bytes is
 * reported as EIO so callers never spin).
 */
#ifndef RUNNEL_UTIL_FILEIO_H
#define RUNNEL_UTIL_FILEIO_H
#include <stddef.h>
#include <sys/types.h>

/* Writes all n bytes at off. Returns 0, or -1 with errno set. Any thread. */
int fio_pwrite_all(int fd, const void *p, size_t n, off_t off);
/* Writes all n bytes at the file position. Returns 0, or -1 with errno. */
int fio_write_all(int fd, const void *p, size_t n);
/* fsync()s a directory so that names created, renamed or removed in it are
 * durable. Returns 0, or -1 with errno. */
int fio_fsync_dir(const char *path);
#endif
