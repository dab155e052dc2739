/* Power-loss recorder for the ledger (LD_PRELOAD; Linux, glibc).
 *
 * Logs, for files whose path starts with $PL_DIR, every write, truncation,
 * fsync/fdatasync, creation and unlink, in order, to $PL_LOG.  The test
 * replays that log up to a chosen instant keeping only what a disk must keep
 * after a power cut: data a file had at its last fsync, files whose creation
 * a directory fsync made durable (LazyFS's "lose unsynced data" model).
 *
 * Record: type(1) pathlen(2) path offset(8) length(4) data(length), little-endian.
 * Types: O created, W write, T truncate, S sync of a file, D sync of a directory,
 * U unlink.  The workload appends its own A records (acknowledged entry ids).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAXFD 4096
static char *paths[MAXFD];
static int log_fd = -1;
static char dir[PATH_MAX];
static size_t dir_len;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_close)(int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_ftruncate64)(int, off64_t);
static int (*real_unlink)(const char *);

static void init(void) __attribute__((constructor));
static void init(void) {
    real_write = dlsym(RTLD_NEXT, "write");
    real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
    real_open64 = dlsym(RTLD_NEXT, "open64");
    real_openat64 = dlsym(RTLD_NEXT, "openat64");
    real_close = dlsym(RTLD_NEXT, "close");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_ftruncate64 = dlsym(RTLD_NEXT, "ftruncate64");
    real_unlink = dlsym(RTLD_NEXT, "unlink");
    const char *d = getenv("PL_DIR"), *l = getenv("PL_LOG");
    if (!d || !l) return;
    strncpy(dir, d, sizeof dir - 1);
    dir_len = strlen(dir);
    log_fd = real_open64(l, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

static int tracked(const char *p) {
    return log_fd >= 0 && p && strncmp(p, dir, dir_len) == 0;
}

static void record(char type, const char *path, int64_t off, const void *data, uint32_t len) {
    uint16_t pl = (uint16_t)strlen(path);
    size_t n = 1 + 2 + pl + 8 + 4 + len;
    char *buf = malloc(n), *q = buf;
    if (!buf) abort();
    *q++ = type;
    memcpy(q, &pl, 2); q += 2;
    memcpy(q, path, pl); q += pl;
    memcpy(q, &off, 8); q += 8;
    memcpy(q, &len, 4); q += 4;
    if (len) memcpy(q, data, len);
    size_t done = 0;
    while (done < n) {
        ssize_t w = real_write(log_fd, buf + done, n - done);
        if (w <= 0) abort(); /* a lost record would make the replay lie */
        done += (size_t)w;
    }
    free(buf);
}

static void remember(int fd, const char *path, int flags, int existed) {
    if (fd < 0 || fd >= MAXFD) return;
    char full[PATH_MAX];
    if (!realpath(path, full) || !tracked(full)) return;
    pthread_mutex_lock(&lock);
    free(paths[fd]);
    paths[fd] = strdup(full);
    if (!existed) record('O', full, 0, NULL, 0);
    if ((flags & O_TRUNC) && existed) record('T', full, 0, NULL, 0);
    pthread_mutex_unlock(&lock);
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int open64(const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) { va_list a; va_start(a, flags); mode = va_arg(a, mode_t); va_end(a); }
    int existed = exists(path);
    int fd = real_open64(path, flags, mode);
    remember(fd, path, flags, existed);
    return fd;
}
int open(const char *path, int flags, ...) __attribute__((alias("open64")));

int openat64(int dirfd, const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) { va_list a; va_start(a, flags); mode = va_arg(a, mode_t); va_end(a); }
    int existed = (dirfd == AT_FDCWD || path[0] == '/') ? exists(path) : 1;
    int fd = real_openat64(dirfd, path, flags, mode);
    if (dirfd == AT_FDCWD || path[0] == '/') remember(fd, path, flags, existed);
    return fd;
}
int openat(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat64")));

int close(int fd) {
    if (fd >= 0 && fd < MAXFD && paths[fd]) {
        pthread_mutex_lock(&lock);
        free(paths[fd]);
        paths[fd] = NULL;
        pthread_mutex_unlock(&lock);
    }
    return real_close(fd);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off) {
    ssize_t r = real_pwrite64(fd, buf, n, off);
    if (r > 0 && fd >= 0 && fd < MAXFD && paths[fd]) {
        pthread_mutex_lock(&lock);
        record('W', paths[fd], off, buf, (uint32_t)r);
        pthread_mutex_unlock(&lock);
    }
    return r;
}
ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) __attribute__((alias("pwrite64")));

ssize_t write(int fd, const void *buf, size_t n) {
    if (fd >= 0 && fd < MAXFD && paths[fd]) {
        off64_t off = lseek64(fd, 0, SEEK_CUR);
        ssize_t r = real_write(fd, buf, n);
        if (r > 0) {
            pthread_mutex_lock(&lock);
            record('W', paths[fd], off, buf, (uint32_t)r);
            pthread_mutex_unlock(&lock);
        }
        return r;
    }
    return real_write(fd, buf, n);
}

int ftruncate64(int fd, off64_t len) {
    int r = real_ftruncate64(fd, len);
    if (r == 0 && fd >= 0 && fd < MAXFD && paths[fd]) {
        pthread_mutex_lock(&lock);
        record('T', paths[fd], len, NULL, 0);
        pthread_mutex_unlock(&lock);
    }
    return r;
}
int ftruncate(int fd, off_t len) __attribute__((alias("ftruncate64")));

static int sync_common(int fd, int r) {
    if (r == 0 && fd >= 0 && fd < MAXFD && paths[fd]) {
        struct stat st;
        int is_dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
        pthread_mutex_lock(&lock);
        record(is_dir ? 'D' : 'S', paths[fd], 0, NULL, 0);
        pthread_mutex_unlock(&lock);
    }
    return r;
}
int fsync(int fd) { return sync_common(fd, real_fsync(fd)); }
int fdatasync(int fd) { return sync_common(fd, real_fdatasync(fd)); }

int unlink(const char *path) {
    char full[PATH_MAX];
    int ok = realpath(path, full) != NULL && tracked(full);
    int r = real_unlink(path);
    if (r == 0 && ok) {
        pthread_mutex_lock(&lock);
        record('U', full, 0, NULL, 0);
        pthread_mutex_unlock(&lock);
    }
    return r;
}
