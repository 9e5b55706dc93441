/* Tests for sha256 against the FIPS 180-4 / NIST example vectors, streaming in odd-sized
 * pieces, hex encoding and hashing a file. */
#include "check.h"
#include "llmops/base.h"

static void hex_of(const void *d, size_t n, char out[65]) {
    lo_sha256_hex(d, n, out);
}

int main(void) {
    char hex[65];
    hex_of("", 0, hex);
    CHECK_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, hex);
    CHECK_STR_EQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(m448, strlen(m448), hex);
    CHECK_STR_EQ(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqr"
                       "smnopqrstnopqrstu";
    hex_of(m896, strlen(m896), hex);
    CHECK_STR_EQ(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");

    /* one million 'a', fed in uneven chunks */
    char *a = lo_malloc(1000000);
    memset(a, 'a', 1000000);
    lo_sha256 h;
    lo_sha256_init(&h);
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t n = step < 1000000 - off ? step : 1000000 - off;
        lo_sha256_update(&h, a + off, n);
        off += n;
        step = step * 3 % 1000 + 1;
    }
    uint8_t d[32];
    lo_sha256_final(&h, d);
    lo_hex_encode(d, 32, hex);
    CHECK_STR_EQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    hex_of(a, 1000000, hex);
    CHECK_STR_EQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

    /* padding boundaries: 55, 56, 63, 64 bytes match one-shot vs byte-at-a-time */
    size_t lens[] = {55, 56, 57, 63, 64, 65, 119, 120, 128};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        char one[65], many[65];
        hex_of(a, lens[i], one);
        lo_sha256_init(&h);
        for (size_t k = 0; k < lens[i]; k++) lo_sha256_update(&h, a + k, 1);
        lo_sha256_final(&h, d);
        lo_hex_encode(d, 32, many);
        CHECK_STR_EQ(one, many);
    }

    uint8_t bytes[3] = {0x00, 0xff, 0x5a};
    char small[7];
    lo_hex_encode(bytes, 3, small);
    CHECK_STR_EQ(small, "00ff5a");

    /* file hashing */
    char path[256];
    snprintf(path, sizeof path, "/tmp/lo_test_sha256_%d", (int)getpid());
    CHECK_OK(lo_write_file_atomic(path, a, 1000000));
    CHECK_OK(lo_sha256_file_hex(path, hex));
    CHECK_STR_EQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    unlink(path);
    CHECK(lo_sha256_file_hex(path, hex) == LO_ERR_NOT_FOUND);
    CHECK(strstr(lo_error_message(), path) != NULL);
    lo_free(a);
    return check_done();
}
