/* Files: read-only private mmap of whole files, whole-file reads, and atomic writes
 * (temp file in the same directory → fsync → rename → fsync the directory) so a crash
 * or failure never leaves a half-written PATH. */
#include "llmops/base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *open_hint(int err) {
    switch (err) {
    case ENOENT:
        return "check the path; the file does not exist";
    case EACCES:
    case EPERM:
        return "check the file's permissions";
    case EISDIR:
        return "give the path of a file, not a directory";
    case ENOSPC:
        return "free some disk space";
    case EROFS:
        return "the file system is read-only; write somewhere else";
    case EMFILE:
    case ENFILE:
        return "too many open files; raise the limit (ulimit -n)";
    default:
        return NULL;
    }
}

static lo_status errno_status(int err) {
    return err == ENOENT ? LO_ERR_NOT_FOUND : LO_ERR_IO;
}

lo_status lo_mmap_file(const char *path, lo_mapped *out) {
    LO_ASSERT(out);
    out->data = NULL;
    out->bytes = 0;
    if (!path || !*path) return lo_error(LO_ERR_INVALID, NULL, "empty file path");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return lo_error(errno_status(e), open_hint(e), "cannot open '%s': %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lo_error(LO_ERR_IO, NULL, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lo_error(LO_ERR_INVALID, "give the path of a regular file", "'%s' is not a regular file (%s)", path,
                        S_ISDIR(st.st_mode) ? "a directory" : "a device, pipe or socket");
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return lo_error(LO_ERR_RANGE, NULL, "'%s' is too large to map", path);
    }
    size_t bytes = (size_t)st.st_size;
    if (bytes == 0) {
        close(fd);
        return LO_OK;
    }
    void *p = mmap(NULL, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd); /* the mapping keeps the file alive */
    if (p == MAP_FAILED)
        return lo_error(LO_ERR_IO, e == ENOMEM ? "not enough address space; is this a 32-bit build?" : NULL,
                        "cannot mmap '%s' (%zu bytes): %s", path, bytes, strerror(e));
    out->data = p;
    out->bytes = bytes;
    return LO_OK;
}

void lo_munmap(lo_mapped *m) {
    if (!m) return;
    if (m->data && m->bytes) munmap((void *)m->data, m->bytes);
    m->data = NULL;
    m->bytes = 0;
}

lo_status lo_read_file(const char *path, char **data, size_t *bytes) {
    LO_ASSERT(data);
    *data = NULL;
    if (bytes) *bytes = 0;
    if (!path || !*path) return lo_error(LO_ERR_INVALID, NULL, "empty file path");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return lo_error(errno_status(e), open_hint(e), "cannot open '%s': %s", path, strerror(e));
    }
    struct stat st;
    size_t cap = 4096;
    if (fstat(fd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            close(fd);
            return lo_error(LO_ERR_INVALID, open_hint(EISDIR), "'%s' is a directory", path);
        }
        if (S_ISREG(st.st_mode) && st.st_size > 0) {
            if ((uint64_t)st.st_size >= (uint64_t)SIZE_MAX) {
                close(fd);
                return lo_error(LO_ERR_RANGE, NULL, "'%s' is too large to read", path);
            }
            cap = (size_t)st.st_size + 1;
        }
    }
    char *buf = lo_malloc(cap);
    if (!buf) {
        close(fd);
        return lo_error_wrap(LO_ERR_NOMEM, "reading '%s'", path);
    }
    size_t len = 0;
    for (;;) {
        if (len + 1 >= cap) { /* keep room for the NUL; the file may have grown */
            size_t ncap;
            if (lo_mul_overflow(cap, 2, &ncap)) {
                lo_free(buf);
                close(fd);
                return lo_error(LO_ERR_RANGE, NULL, "'%s' is too large to read", path);
            }
            char *nb = lo_realloc(buf, ncap);
            if (!nb) {
                lo_free(buf);
                close(fd);
                return lo_error_wrap(LO_ERR_NOMEM, "reading '%s'", path);
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            lo_free(buf);
            close(fd);
            return lo_error(LO_ERR_IO, open_hint(e), "cannot read '%s': %s", path, strerror(e));
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    *data = buf;
    if (bytes) *bytes = len;
    return LO_OK;
}

/* ---- atomic writes ---------------------------------------------------------------- */

struct lo_atomic_file {
    int fd;
    char *path;
    char *tmp;
    uint64_t written;
};

static atomic_uint tmp_counter;

static lo_status write_all(int fd, const void *data, size_t bytes, const char *path) {
    const uint8_t *p = data;
    while (bytes > 0) {
        size_t chunk = bytes > ((size_t)1 << 30) ? ((size_t)1 << 30) : bytes;
        ssize_t n = write(fd, p, chunk);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            return lo_error(LO_ERR_IO, open_hint(e), "writing '%s': %s", path, strerror(e));
        }
        if (n == 0) return lo_error(LO_ERR_IO, NULL, "writing '%s': no progress", path);
        p += n;
        bytes -= (size_t)n;
    }
    return LO_OK;
}

/* fsync the directory holding `path` so the rename itself is durable. Best effort: some
 * file systems refuse fsync on directories, and the data is already in place. */
static void fsync_parent(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir) return;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

static void atomic_free(lo_atomic_file *f) {
    lo_free(f->path);
    lo_free(f->tmp);
    lo_free(f);
}

lo_status lo_atomic_open(const char *path, lo_atomic_file **out) {
    LO_ASSERT(out);
    *out = NULL;
    if (!path || !*path) return lo_error(LO_ERR_INVALID, NULL, "empty file path");
    lo_atomic_file *f = lo_calloc(1, sizeof *f);
    if (!f) return lo_error_wrap(LO_ERR_NOMEM, "writing '%s'", path);
    f->fd = -1;
    f->path = lo_strdup(path);
    size_t tmp_cap = strlen(path) + 64;
    f->tmp = lo_malloc(tmp_cap);
    if (!f->path || !f->tmp) {
        atomic_free(f);
        return lo_error_wrap(LO_ERR_NOMEM, "writing '%s'", path);
    }
    unsigned n = atomic_fetch_add(&tmp_counter, 1);
    snprintf(f->tmp, tmp_cap, "%s.tmp.%ld.%u", path, (long)getpid(), n);
    struct stat st;
    mode_t mode = 0644;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            atomic_free(f);
            return lo_error(LO_ERR_INVALID, open_hint(EISDIR), "cannot write '%s': it is a directory", path);
        }
        if (S_ISREG(st.st_mode)) mode = st.st_mode & 07777; /* keep the old file's mode */
    }
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (f->fd < 0) {
        int e = errno;
        lo_status s = lo_error(errno_status(e),
                               e == ENOENT   ? "the directory does not exist; create it first"
                               : e == EACCES ? "check that the directory is writable"
                                             : open_hint(e),
                               "cannot create '%s': %s", f->tmp, strerror(e));
        atomic_free(f);
        return s;
    }
    *out = f;
    return LO_OK;
}

lo_status lo_atomic_write(lo_atomic_file *f, const void *data, size_t bytes) {
    LO_ASSERT(f);
    if (f->fd < 0) return lo_error(LO_ERR_IO, NULL, "writing '%s': an earlier write failed", f->path);
    lo_status s = write_all(f->fd, data, bytes, f->tmp);
    if (s != LO_OK) {
        /* Poison the file: a later commit must not publish partial data. */
        close(f->fd);
        f->fd = -1;
        unlink(f->tmp);
        return s;
    }
    f->written += bytes;
    return LO_OK;
}

uint64_t lo_atomic_tell(const lo_atomic_file *f) {
    return f ? f->written : 0;
}

lo_status lo_atomic_commit(lo_atomic_file *f) {
    LO_ASSERT(f);
    lo_status s = LO_OK;
    if (f->fd < 0) {
        s = lo_error(LO_ERR_IO, NULL, "writing '%s': an earlier write failed", f->path);
        goto fail;
    }
    if (fsync(f->fd) != 0) {
        int e = errno;
        s = lo_error(LO_ERR_IO, open_hint(e), "fsync '%s': %s", f->tmp, strerror(e));
        goto fail;
    }
    int fd = f->fd;
    f->fd = -1;
    if (close(fd) != 0) {
        int e = errno;
        s = lo_error(LO_ERR_IO, open_hint(e), "closing '%s': %s", f->tmp, strerror(e));
        goto fail;
    }
    if (rename(f->tmp, f->path) != 0) {
        int e = errno;
        s = lo_error(LO_ERR_IO, open_hint(e), "renaming '%s' to '%s': %s", f->tmp, f->path, strerror(e));
        goto fail;
    }
    fsync_parent(f->path);
    atomic_free(f);
    return LO_OK;
fail:
    lo_atomic_abort(f);
    return s;
}

void lo_atomic_abort(lo_atomic_file *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    unlink(f->tmp); /* may already be gone */
    atomic_free(f);
}

lo_status lo_write_file_atomic(const char *path, const void *data, size_t bytes) {
    lo_atomic_file *f;
    lo_status s = lo_atomic_open(path, &f);
    if (s != LO_OK) return s;
    s = lo_atomic_write(f, data, bytes);
    if (s != LO_OK) {
        lo_atomic_abort(f);
        return s;
    }
    return lo_atomic_commit(f);
}
