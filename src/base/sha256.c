/* SHA-256 (FIPS 180-4), streaming; used for content addresses of models, datasets and
 * artifacts. Also hex encoding and hashing a whole file in chunks. */
#include "llmops/base.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void compress(uint32_t st[8], const uint8_t blk[64]) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 | (uint32_t)blk[4 * i + 2] << 8 |
               (uint32_t)blk[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = h + S1 + ch + K[i] + w[i];
        uint32_t S0 = ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22);
        uint32_t mj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = S0 + mj;
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
    st[4] += e;
    st[5] += f;
    st[6] += g;
    st[7] += h;
}

void lo_sha256_init(lo_sha256 *h) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(h->state, iv, sizeof iv);
    h->n_bytes = 0;
    h->buf_len = 0;
}

void lo_sha256_update(lo_sha256 *h, const void *data, size_t bytes) {
    const uint8_t *p = data;
    h->n_bytes += bytes;
    if (h->buf_len) {
        size_t take = 64 - h->buf_len;
        if (take > bytes) take = bytes;
        memcpy(h->buf + h->buf_len, p, take);
        h->buf_len += take;
        p += take;
        bytes -= take;
        if (h->buf_len < 64) return;
        compress(h->state, h->buf);
        h->buf_len = 0;
    }
    while (bytes >= 64) {
        compress(h->state, p);
        p += 64;
        bytes -= 64;
    }
    if (bytes) {
        memcpy(h->buf, p, bytes);
        h->buf_len = bytes;
    }
}

void lo_sha256_final(lo_sha256 *h, uint8_t digest[32]) {
    uint64_t bits = h->n_bytes * 8;
    uint8_t pad[72] = {0x80};
    size_t pad_len = (h->buf_len < 56 ? 56 : 120) - h->buf_len;
    uint8_t len_be[8];
    for (int i = 0; i < 8; i++) len_be[i] = (uint8_t)(bits >> (56 - 8 * i));
    uint64_t n = h->n_bytes; /* update() counts bytes; padding is not message */
    lo_sha256_update(h, pad, pad_len);
    lo_sha256_update(h, len_be, 8);
    h->n_bytes = n;
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(h->state[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(h->state[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(h->state[i] >> 8);
        digest[4 * i + 3] = (uint8_t)h->state[i];
    }
}

void lo_hex_encode(const uint8_t *bytes, size_t n, char *out) {
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[bytes[i] >> 4];
        out[2 * i + 1] = hx[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

void lo_sha256_hex(const void *data, size_t bytes, char hex[65]) {
    lo_sha256 h;
    uint8_t d[32];
    lo_sha256_init(&h);
    lo_sha256_update(&h, data, bytes);
    lo_sha256_final(&h, d);
    lo_hex_encode(d, 32, hex);
}

lo_status lo_sha256_file_hex(const char *path, char hex[65]) {
    hex[0] = '\0';
    if (!path || !*path) return lo_error(LO_ERR_INVALID, NULL, "empty file path");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return lo_error(e == ENOENT ? LO_ERR_NOT_FOUND : LO_ERR_IO, NULL, "cannot open '%s': %s", path, strerror(e));
    }
    size_t cap = (size_t)1 << 20;
    uint8_t *buf = lo_malloc(cap);
    if (!buf) {
        close(fd);
        return lo_error_wrap(LO_ERR_NOMEM, "hashing '%s'", path);
    }
    lo_sha256 h;
    lo_sha256_init(&h);
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            lo_free(buf);
            close(fd);
            return lo_error(LO_ERR_IO, NULL, "reading '%s': %s", path, strerror(e));
        }
        if (n == 0) break;
        lo_sha256_update(&h, buf, (size_t)n);
    }
    lo_free(buf);
    close(fd);
    uint8_t d[32];
    lo_sha256_final(&h, d);
    lo_hex_encode(d, 32, hex);
    return LO_OK;
}
