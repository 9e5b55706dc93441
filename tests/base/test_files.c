/* Tests for files: mmap (content, empty, missing, directory), lo_read_file, and atomic
 * writes — success, overwrite, and failures (target is a directory, missing directory,
 * unwritable directory, write failing midway) leave PATH untouched and no temp files. */
#include "check.h"
#include "llmops/base.h"

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

static char dir[256];

static int count_temps(void) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static int file_is(const char *path, const char *want) {
    char *data = NULL;
    size_t len = 0;
    if (lo_read_file(path, &data, &len) != LO_OK) return 0;
    int ok = len == strlen(want) && memcmp(data, want, len) == 0 && data[len] == '\0';
    lo_free(data);
    return ok;
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/lo_test_files_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    size_t live0 = lo_alloc_live_bytes();
    char path[512], sub[512], missing[512];
    snprintf(path, sizeof path, "%s/a.txt", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(missing, sizeof missing, "%s/nope/a.txt", dir);

    /* write, read back, overwrite */
    CHECK_OK(lo_write_file_atomic(path, "hello", 5));
    CHECK(file_is(path, "hello"));
    CHECK_OK(lo_write_file_atomic(path, "second version", 14));
    CHECK(file_is(path, "second version"));
    CHECK_INT_EQ(count_temps(), 0);
    CHECK_OK(lo_write_file_atomic(path, "", 0));
    CHECK(file_is(path, ""));
    CHECK_OK(lo_write_file_atomic(path, "keep me", 7));

    /* the streaming interface */
    lo_atomic_file *f = NULL;
    CHECK_OK(lo_atomic_open(path, &f));
    CHECK_OK(lo_atomic_write(f, "abc", 3));
    CHECK_OK(lo_atomic_write(f, "defg", 4));
    CHECK_INT_EQ(lo_atomic_tell(f), 7);
    CHECK_INT_EQ(count_temps(), 1);
    CHECK(file_is(path, "keep me")); /* not visible before commit */
    CHECK_OK(lo_atomic_commit(f));
    CHECK(file_is(path, "abcdefg"));
    CHECK_INT_EQ(count_temps(), 0);
    /* abort discards */
    CHECK_OK(lo_atomic_open(path, &f));
    CHECK_OK(lo_atomic_write(f, "zzz", 3));
    lo_atomic_abort(f);
    lo_atomic_abort(NULL);
    CHECK(file_is(path, "abcdefg"));
    CHECK_INT_EQ(count_temps(), 0);

    /* target is a directory: refused, directory intact, no temp */
    CHECK(mkdir(sub, 0755) == 0);
    CHECK(lo_write_file_atomic(sub, "x", 1) != LO_OK);
    CHECK(strstr(lo_error_message(), sub) != NULL);
    struct stat st;
    CHECK(stat(sub, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_INT_EQ(count_temps(), 0);

    /* missing directory */
    CHECK(lo_write_file_atomic(missing, "x", 1) != LO_OK);
    CHECK(strstr(lo_error_message(), "nope") != NULL);
    CHECK(lo_error_hint()[0] != '\0');

    /* unwritable directory (permission checks do not apply to root) */
    if (geteuid() != 0) {
        char ro[600];
        snprintf(ro, sizeof ro, "%s/ro.txt", sub);
        CHECK_OK(lo_write_file_atomic(ro, "old", 3));
        CHECK(chmod(sub, 0555) == 0);
        CHECK(lo_write_file_atomic(ro, "new", 3) == LO_ERR_IO);
        CHECK(file_is(ro, "old"));
        chmod(sub, 0755);
        unlink(ro);
    }

    /* a write failing midway (file size limit → EFBIG): old file intact, temp removed */
    {
        struct rlimit old_lim, lim;
        getrlimit(RLIMIT_FSIZE, &old_lim);
        signal(SIGXFSZ, SIG_IGN);
        lim = old_lim;
        lim.rlim_cur = 4096;
        CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
        char *big = lo_malloc(100000);
        memset(big, 'q', 100000);
        lo_status s = lo_write_file_atomic(path, big, 100000);
        CHECK(s == LO_ERR_IO);
        CHECK(strstr(lo_error_message(), "writing") != NULL);
        CHECK(file_is(path, "abcdefg"));
        CHECK_INT_EQ(count_temps(), 0);
        /* streaming: a failed write poisons the file, commit refuses */
        CHECK_OK(lo_atomic_open(path, &f));
        CHECK(lo_atomic_write(f, big, 100000) == LO_ERR_IO);
        CHECK(lo_atomic_write(f, "x", 1) != LO_OK);
        CHECK(lo_atomic_commit(f) != LO_OK);
        CHECK(file_is(path, "abcdefg"));
        CHECK_INT_EQ(count_temps(), 0);
        setrlimit(RLIMIT_FSIZE, &old_lim);
        lo_free(big);
    }

    /* mmap: content, empty, missing, directory */
    lo_mapped m;
    CHECK_OK(lo_mmap_file(path, &m));
    CHECK(m.bytes == 7 && m.data && memcmp(m.data, "abcdefg", 7) == 0);
    lo_munmap(&m);
    CHECK(m.data == NULL && m.bytes == 0);
    lo_munmap(&m);
    char empty[512];
    snprintf(empty, sizeof empty, "%s/empty", dir);
    CHECK_OK(lo_write_file_atomic(empty, "", 0));
    m.data = (const uint8_t *)"junk";
    m.bytes = 4;
    CHECK_OK(lo_mmap_file(empty, &m));
    CHECK(m.data == NULL && m.bytes == 0);
    lo_munmap(&m);
    char gone[512];
    snprintf(gone, sizeof gone, "%s/does-not-exist.gguf", dir);
    CHECK(lo_mmap_file(gone, &m) == LO_ERR_NOT_FOUND);
    CHECK(strstr(lo_error_message(), gone) != NULL);
    CHECK(strstr(lo_error_message(), "No such file") != NULL);
    CHECK(lo_error_hint()[0] != '\0');
    CHECK(m.data == NULL && m.bytes == 0);
    CHECK(lo_mmap_file(sub, &m) == LO_ERR_INVALID);
    CHECK(strstr(lo_error_message(), "not a regular file") != NULL);
    CHECK(strstr(lo_error_message(), sub) != NULL);
    CHECK(lo_mmap_file("/dev/null", &m) == LO_ERR_INVALID);

    /* read_file: missing, directory, and a file whose stat size is 0 but has content */
    char *data = NULL;
    size_t len = 123;
    CHECK(lo_read_file(gone, &data, &len) == LO_ERR_NOT_FOUND && data == NULL && len == 0);
    CHECK(strstr(lo_error_message(), gone) != NULL);
    CHECK(lo_read_file(sub, &data, &len) == LO_ERR_INVALID);
    CHECK_OK(lo_read_file("/proc/self/status", &data, &len));
    CHECK(data && len > 100 && strlen(data) == len && strstr(data, "Name:") == data);
    lo_free(data);
    /* larger file crossing the growth path */
    char *big = lo_malloc(300001);
    for (int i = 0; i < 300000; i++) big[i] = (char)('a' + i % 26);
    big[300000] = '\0';
    CHECK_OK(lo_write_file_atomic(path, big, 300000));
    CHECK(file_is(path, big));
    lo_free(big);

    CHECK_INT_EQ(lo_alloc_live_bytes(), live0);
    unlink(path);
    unlink(empty);
    rmdir(sub);
    CHECK(rmdir(dir) == 0); /* nothing else left behind */
    return check_done();
}
