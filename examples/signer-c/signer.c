/*
 * signer-c: the signing backend of examples/signer, written in C11 with
 * guest-sdk/c. It signs the content of every document the OSO posts with an
 * Ed25519 key the host keeps (the key never enters the plugin), answers the
 * documents with the signature in their metadata, and keeps them in the
 * host's durable state until the OSO collects them with GET documents.
 * Its observable behaviour is that of examples/signer (see its README).
 *
 * Build (from the repository root; `make examples-c` does the same):
 *
 *   clang --target=wasm32-wasi -mexec-model=reactor -std=c11 -O2 \
 *       -Wl,--strip-debug -I guest-sdk/c -o build/guests/signer-c.wasm \
 *       examples/signer-c/signer.c guest-sdk/c/oso.c
 *
 * Add -DSIGNER_KEY_ID='"<uuid>"' to sign with that key only.
 */
#include "oso.h"

#include <stdlib.h>
#include <string.h>

/* It keeps nothing between calls but reusable buffers. */
OSO_STATELESS()

/* The key to sign with. When empty, the plugin signs with the first ED25519
 * key the host lists (ids are sorted, so every instance picks the same one),
 * and generates one when there is none. */
#ifndef SIGNER_KEY_ID
#define SIGNER_KEY_ID ""
#endif
static const char pinned_key[] = SIGNER_KEY_ID;

/* Signed documents wait in state under this prefix, then the time of the
 * request (16 hex digits of Unix nanoseconds), 16 random hex digits, "/" and
 * the document's place in its request (6 digits): keys sort in the order the
 * documents were signed, and concurrent requests never write the same key.
 * A value is the signed document as a one-document compact DocumentList. */
#define SIGNED_PREFIX "signed/"

/* Bounds one to_oso answer (compact encoding); what does not fit waits for
 * the next GET. */
#define MAX_BATCH_BYTES (4u << 20)

/* Buffers reused from call to call. */
static oso_buf reply, meta, val, ids_buf, value, extra, key;
static oso_sign_request *reqs;
static oso_sign_result *results;
static size_t reqs_cap;
static oso_key generated;

/* signing_key sets *id to the key to sign with: the pinned key, else the
 * first ED25519 key, generated if there is none. */
static int32_t signing_key(oso_str *id) {
    if (pinned_key[0]) {
        *id = oso_cstr(pinned_key);
        return 0;
    }
    oso_keys ids;
    int32_t n = oso_key_list(OSO_KEY_ED25519, &ids_buf, &ids);
    if (n < 0) {
        return n;
    }
    if (n > 0) {
        oso_keys_next(&ids, id);
        return 0;
    }
    int32_t st = oso_key_generate(OSO_KEY_ED25519, &generated);
    if (st < 0) {
        return st;
    }
    oso_buf_reset(&meta);
    oso_buf_append_str(&meta, OSO_STR("signer: generated ED25519 key "));
    oso_buf_append(&meta, generated.id, generated.id_len);
    oso_log(OSO_LOG_INFO, oso_buf_str(&meta));
    *id = (oso_str){generated.id, generated.id_len};
    return 0;
}

/* failure answers a signing failure: 503 when the backend is unavailable
 * (the OSO may retry), else a generic 500. The cause is logged, never sent
 * to the client. */
static int32_t failure(const char *what, int32_t st) {
    if (st == OSO_STATUS_UNAVAILABLE) {
        oso_log_status(OSO_LOG_WARN, what, st);
        return oso_fail(503, OSO_STR("signing backend unavailable, retry later"));
    }
    oso_log_status(OSO_LOG_ERROR, what, st);
    return OSO_RESULT_FAILED;
}

/* state_failure answers a state failure: 503 when too many signed documents
 * wait for collection or the host's storage failed, else a generic 500. */
static int32_t state_failure(int32_t st) {
    switch (st) {
    case OSO_STATUS_LIMITED:
        oso_log_status(OSO_LOG_WARN, "signer: state: ", st);
        return oso_fail(503, OSO_STR("too many signed documents waiting for collection, retry later"));
    case OSO_STATUS_UNAVAILABLE:
        oso_log_status(OSO_LOG_WARN, "signer: state: ", st);
        return oso_fail(503, OSO_STR("storage unavailable, retry later"));
    }
    oso_log_status(OSO_LOG_ERROR, "signer: state: ", st);
    return OSO_RESULT_FAILED;
}

/* Appends v as 16 lowercase hex digits. */
static void append_hex64(oso_buf *b, uint64_t v) {
    uint8_t be[8];
    for (int i = 0; i < 8; i++) {
        be[i] = (uint8_t)(v >> (56 - 8 * i));
    }
    oso_buf_append_hex(b, be, sizeof be);
}

/* Appends i in decimal, zero-padded to 6 digits. */
static void append_place(oso_buf *b, uint32_t i) {
    char d[10];
    int n = 0;
    do {
        d[n++] = (char)('0' + i % 10);
        i /= 10;
    } while (i);
    while (n < 6) {
        d[n++] = '0';
    }
    while (n > 0) {
        oso_buf_append(b, &d[--n], 1);
    }
}

/* to_isv signs every document with one sign_many call, keeps the signed
 * documents in state for to_oso, and answers them as a DocumentList whose
 * metadata is
 *
 *   {"key_id": "<id>", "signature": "<lowercase hex>", "algorithm": "ED25519"}
 *
 * If any signature or state write fails, the whole request fails. */
OSO_EXPORT("to_isv") int32_t to_isv(const uint8_t *in, int32_t len) {
    oso_reader r;
    oso_document d;
    if (len < 0 || oso_reader_init(&r, in, (size_t)len) != 0) {
        oso_log_error("signer: malformed document list");
        return OSO_RESULT_FAILED;
    }
    oso_buf_reset(&reply);
    oso_list l;
    oso_list_begin(&l, &reply);
    uint32_t n = oso_reader_count(&r);
    if (n == 0) {
        return oso_output_list(&l);
    }
    oso_str id;
    int32_t st = signing_key(&id);
    if (st < 0) {
        return failure("signer: find the signing key: ", st);
    }
    if (n > reqs_cap) {
        oso_sign_request *q = realloc(reqs, n * sizeof *q);
        oso_sign_result *s = q ? realloc(results, n * sizeof *s) : NULL;
        if (q) {
            reqs = q;
        }
        if (!s) {
            oso_log_error("signer: out of memory");
            return OSO_RESULT_FAILED;
        }
        results = s;
        reqs_cap = n;
    }
    for (uint32_t i = 0; oso_reader_next(&r, &d); i++) {
        reqs[i] = (oso_sign_request){id, d.content.ptr, d.content.len};
    }
    st = oso_sign_many(reqs, n, results);
    if (st < 0) {
        return failure("signer: sign the documents: ", st);
    }

    /* The key prefix of this request's documents. */
    uint8_t rnd[8];
    if (oso_random(rnd, sizeof rnd) != 0) {
        oso_log_error("signer: no random bytes");
        return OSO_RESULT_FAILED;
    }
    oso_buf_reset(&key);
    oso_buf_append_str(&key, OSO_STR(SIGNED_PREFIX));
    append_hex64(&key, oso_time_unix_nano());
    oso_buf_append_hex(&key, rnd, sizeof rnd);
    oso_buf_append(&key, "/", 1);
    size_t prefix_len = key.len;

    int keep = 1;
    oso_reader_init(&r, in, (size_t)len);
    for (uint32_t i = 0; oso_reader_next(&r, &d); i++) {
        if (results[i].status < 0) {
            return failure("signer: sign a document: ", results[i].status);
        }
        oso_buf_reset(&meta);
        oso_buf_append_str(&meta, OSO_STR("{\"key_id\": "));
        oso_buf_append_json_string(&meta, id);
        oso_buf_append_str(&meta, OSO_STR(", \"signature\": \""));
        oso_buf_append_hex(&meta, results[i].signature, OSO_SIGNATURE_BYTES);
        oso_buf_append_str(&meta, OSO_STR("\", \"algorithm\": \"ED25519\"}"));
        oso_list_add(&l, d.id, d.content, oso_buf_str(&meta));
        if (!keep) {
            continue;
        }
        oso_buf_reset(&val);
        oso_list one;
        oso_list_begin(&one, &val);
        oso_list_add(&one, d.id, d.content, oso_buf_str(&meta));
        oso_list_end(&one);
        key.len = prefix_len;
        append_place(&key, i + 1);
        if (val.failed || key.failed || meta.failed) {
            oso_log_error("signer: out of memory");
            return OSO_RESULT_FAILED;
        }
        st = oso_kv_put(oso_buf_str(&key), val.data, val.len);
        if (st == OSO_STATUS_NOT_ALLOWED) {
            /* The host runs this call without state (outside a request, as
             * `osohost call` does): answer, keep nothing. */
            oso_log_warn("signer: no state in this call: the signed documents are answered but not kept for collection");
            keep = 0;
        } else if (st < 0) {
            return state_failure(st);
        }
    }
    return oso_output_list(&l);
}

/* What collect gathers for one to_oso call. */
struct collect {
    oso_list *out;
    uint32_t n;
    size_t size;
    int32_t failed;
};

static int collect(void *arg, oso_str k) {
    struct collect *c = arg;
    int32_t st = oso_kv_get(k, &value);
    if (st <= 0) {
        c->failed = st; /* a key deleted meanwhile: stop here */
        return 0;
    }
    oso_reader r;
    oso_document d;
    if (oso_reader_init(&r, value.data, value.len) != 0 || oso_reader_count(&r) != 1) {
        oso_log_error("signer: malformed signed document");
        c->failed = OSO_STATUS_BAD_ANSWER;
        return 0;
    }
    if (c->n > 0 && c->size + value.len - 4 > MAX_BATCH_BYTES) {
        return 0;
    }
    oso_reader_next(&r, &d);
    oso_list_add_document(c->out, &d);
    st = oso_kv_delete(k);
    if (st < 0) {
        c->failed = st;
        return 0;
    }
    c->n++;
    c->size += value.len - 4;
    return 1;
}

/* to_oso hands over the signed documents, oldest first, up to
 * MAX_BATCH_BYTES per call, and deletes them in the same transaction: they
 * leave the state only when the host commits this call. */
OSO_EXPORT("to_oso") int32_t to_oso(const uint8_t *in, int32_t len) {
    (void)in;
    (void)len;
    oso_buf_reset(&reply);
    oso_list l;
    oso_list_begin(&l, &reply);
    struct collect c = {&l, 0, 0, 0};
    int32_t st = oso_kv_list(OSO_STR(SIGNED_PREFIX), collect, &c);
    if (st == 0) {
        st = c.failed;
    }
    if (st < 0 && st != OSO_STATUS_NOT_ALLOWED) { /* no state in this call: nothing to collect */
        return state_failure(st);
    }
    return oso_output_list(&l);
}

/* status answers 200 OK with the number of ED25519 keys, {"keys": N}, or 500
 * with an error item when the signing backend cannot be reached or the
 * pinned key is missing. */
OSO_EXPORT("status") int32_t status(const uint8_t *in, int32_t len) {
    (void)in;
    (void)len;
    oso_keys ids;
    int32_t n = oso_key_list(OSO_KEY_ED25519, &ids_buf, &ids);
    int32_t st = n < 0 ? n : 0;
    if (st == 0 && pinned_key[0]) {
        st = oso_key_public(oso_cstr(pinned_key), &generated);
    }
    if (st < 0) {
        oso_log_status(OSO_LOG_ERROR, "signer: status: ", st);
        oso_status_error e = {OSO_STR("1"), OSO_STR("signing backend unavailable")};
        if (st == OSO_STATUS_NOT_FOUND) {
            e.message = OSO_STR("the configured signing key does not exist");
        } else if (st == OSO_STATUS_NOT_ALLOWED) {
            e.message = OSO_STR("signing with ED25519 keys is not allowed by the host");
        }
        return oso_output_status(500, OSO_STR("Internal Server Error"), &e, 1, OSO_STR(""));
    }
    oso_buf_reset(&extra);
    oso_json_object o;
    oso_json_begin(&o, &extra);
    oso_json_int(&o, "keys", n);
    oso_json_end(&o);
    return oso_output_status(200, OSO_STR("OK"), NULL, 0, oso_buf_str(&extra));
}
