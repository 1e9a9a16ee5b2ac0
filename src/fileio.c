/* Opening files to read (regular files only, never blocking on a FIFO or a device), and atomic
 * writes: a temporary file beside the target, fsync, rename, then fsync of the folder, so a
 * reader sees either the old file or the whole new one, never a partial one. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int zf_open_read(const char *path, zf_error *err) {
    /* O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return zf_fail(err, ZF_ERR_IO, "%s: cannot open: %s", path, strerror(errno)), -1;
    struct stat sb;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        close(fd);
        return zf_fail(err, ZF_ERR_IO, "%s: not a regular file", path), -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

FILE *zf_fopen_read(const char *path, zf_error *err) {
    int fd = zf_open_read(path, err);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "rb");
    if (fd >= 0 && !f) {
        close(fd);
        zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    }
    return f;
}

/* The temporary files being written now, for zf_remove_partial_files (a signal handler): a
 * fixed table of paths, each claimed and released with an atomic flag. */
enum { NPARTIAL = 16 };
static char partial[NPARTIAL][4200];
static volatile sig_atomic_t partial_used[NPARTIAL];

static int partial_add(const char *tmp) {
    for (int i = 0; i < NPARTIAL; i++)
        if (!__atomic_exchange_n(&partial_used[i], 2, __ATOMIC_ACQ_REL)) {
            snprintf(partial[i], sizeof partial[i], "%s", tmp);
            __atomic_store_n(&partial_used[i], 1, __ATOMIC_RELEASE);
            return i;
        }
    return -1; /* more writes at once than slots: that one is not tracked */
}

static void partial_remove(int slot) {
    if (slot >= 0) __atomic_store_n(&partial_used[slot], 0, __ATOMIC_RELEASE);
}

void zf_remove_partial_files(void) {
    for (int i = 0; i < NPARTIAL; i++)
        if (__atomic_load_n(&partial_used[i], __ATOMIC_ACQUIRE) == 1) unlink(partial[i]);
}

zf_status zf_atomic_begin(zf_atomic *a, const char *path, zf_error *err) {
    *a = (zf_atomic){.fd = -1, .path = path, .slot = -1};
    if (!(a->tmp = malloc(strlen(path) + 16))) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    sprintf(a->tmp, "%s.tmp.XXXXXX", path);
    /* the file and its entry in the table appear together: SIGINT and SIGTERM wait meanwhile */
    sigset_t stop, old;
    sigemptyset(&stop), sigaddset(&stop, SIGINT), sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, &old);
    if ((a->fd = mkstemp(a->tmp)) >= 0) a->slot = partial_add(a->tmp);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (a->fd < 0) {
        zf_status st = zf_fail(err, ZF_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        free(a->tmp);
        a->tmp = NULL;
        return st;
    }
    fchmod(a->fd, 0644);
    return ZF_OK;
}

void zf_atomic_write(zf_atomic *a, const void *p, size_t n) {
    const char *c = p;
    while (n && !a->failed) {
        ssize_t r = write(a->fd, c, n > (1u << 30) ? (1u << 30) : n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            a->failed = errno;
            break;
        }
        c += r, n -= (size_t)r;
    }
}

void zf_atomic_abort(zf_atomic *a) {
    if (a->fd >= 0) close(a->fd);
    if (a->tmp) unlink(a->tmp);
    partial_remove(a->slot);
    free(a->tmp);
    a->tmp = NULL, a->fd = -1;
}

zf_status zf_atomic_commit(zf_atomic *a, zf_error *err) {
    if (!a->failed && fsync(a->fd)) a->failed = errno;
    if (close(a->fd) && !a->failed) a->failed = errno;
    a->fd = -1;
    if (!a->failed && rename(a->tmp, a->path)) a->failed = errno;
    if (!a->failed) partial_remove(a->slot); /* renamed: no longer partial */
    if (a->failed) {
        int e = a->failed;
        zf_atomic_abort(a);
        return zf_fail(err, ZF_ERR_IO, "%s: write failed: %s", a->path, strerror(e));
    }
    char *dcopy = strdup(a->path); /* make the rename itself durable */
    if (dcopy) {
        int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) fsync(dfd), close(dfd);
        free(dcopy);
    }
    free(a->tmp);
    a->tmp = NULL;
    return ZF_OK;
}

zf_status zf_write_file(const char *path, const void *data, size_t len, zf_error *err) {
    zf_atomic a;
    zf_status st = zf_atomic_begin(&a, path, err);
    if (st) return st;
    zf_atomic_write(&a, data, len);
    return zf_atomic_commit(&a, err);
}
