/*
 * oso.h - C guest SDK for osohost plugins (native OSO plugin ABI v1).
 *
 * The normative specification is abi/SPEC.md; the user guide is
 * docs/guest-c.md. This SDK provides:
 *
 *   - the exports every module needs: oso_abi_v1 and oso_alloc (in oso.c);
 *   - declarations of the host functions of module "oso" (ABI v1.2);
 *   - a reader over the compact DocumentList that to_isv receives, whose
 *     strings are views into the input buffer (valid until the export
 *     returns; copy what you keep);
 *   - a growing byte buffer and appenders for the compact encoding, JSON
 *     (strings, objects), lowercase hex and PEM;
 *   - helpers that hand a result or an error to the host and return the
 *     export's result, so an export ends with `return oso_output_...(...);`;
 *   - wrappers of the signing (key_generate, key_list, key_public, sign,
 *     sign_many), credential and state (kv_get, kv_put, kv_delete,
 *     kv_list) host functions that check every answer of the host before
 *     using it.
 *
 * The plugin itself defines the exports to_oso, to_isv and status (and
 * optionally init and, with OSO_STATELESS(), oso_stateless):
 *
 *   OSO_EXPORT("status") int32_t status(const uint8_t *in, int32_t len) {
 *       return oso_output_status(200, OSO_STR("OK"), NULL, 0, OSO_STR(""));
 *   }
 *
 * Build as a WASI reactor, C11:
 *
 *   clang --target=wasm32-wasi -mexec-model=reactor -std=c11 -O2 \
 *       -I guest-sdk/c -o plugin.wasm plugin.c guest-sdk/c/oso.c
 *
 * An instance runs one call at a time: nothing here is thread-safe and
 * nothing needs to be. Memory comes from wasi-libc's malloc; a failed
 * allocation is reported (the buffer's failed flag, a 500 at output), never
 * a crash. Host functions never call back into the guest.
 */
#ifndef OSO_H
#define OSO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ABI version: the marker export oso_abi_v1 returns OSO_ABI_MINOR, the
 * minor version of the newest host function declared here (2: credential
 * and state), so that an older host refuses the module by its version. */
#define OSO_ABI_VERSION 1
#define OSO_ABI_MINOR 2

/* Host function statuses (negative = failure). */
enum {
    OSO_STATUS_OK = 0,
    OSO_STATUS_BAD_POINTER = -1,  /* a (ptr, len) pair lies outside memory */
    OSO_STATUS_TOO_LARGE = -2,    /* a length exceeds its limit */
    OSO_STATUS_BAD_ARGUMENT = -3, /* an argument is out of range or malformed */
    OSO_STATUS_NOT_ALLOWED = -4,  /* not allowed here (no export call running) */
    OSO_STATUS_LIMITED = -5,      /* a rate or quota limit was reached */
    OSO_STATUS_UNAVAILABLE = -6,  /* the backing service failed */
    OSO_STATUS_NOT_FOUND = -7,    /* the named item does not exist */
    OSO_STATUS_TOO_SMALL = -8,    /* the output buffer is too small (ABI v1.1) */
    /* Returned by the SDK's wrappers, never by the host: */
    OSO_STATUS_BAD_ANSWER = -100, /* the host's answer is malformed (a host bug) */
    OSO_STATUS_NO_MEMORY = -101   /* the guest could not allocate memory */
};

/* A short English description of a status ("not found", ...), for logs. */
const char *oso_status_text(int32_t status);

/* Export results. */
#define OSO_RESULT_OK 0
#define OSO_RESULT_FAILED 1

/* Output kinds, for oso_host_output. */
enum {
    OSO_OUTPUT_JSON = 1,          /* UTF-8 JSON text */
    OSO_OUTPUT_DOCUMENT_LIST = 2, /* compact DocumentList */
    OSO_OUTPUT_STATUS = 3         /* compact ComponentStatus */
};

/* Log levels. */
enum { OSO_LOG_DEBUG = 0, OSO_LOG_INFO = 1, OSO_LOG_WARN = 2, OSO_LOG_ERROR = 3 };

/* Limits (abi/abi.go). */
#define OSO_MAX_ERROR_MESSAGE_BYTES 1024
#define OSO_MAX_LOG_LINE_BYTES 4096
#define OSO_DEFAULT_MAX_OUTPUT_BYTES (8u << 20)
#define OSO_MAX_STATUS_ERRORS 1024

/* Signing (ABI v1.1). */
enum { OSO_KEY_SECP256K1 = 1, OSO_KEY_ED25519 = 2 };
#define OSO_MAX_KEY_ID_BYTES 64
#define OSO_MAX_SIGN_DATA_BYTES (1u << 20)
#define OSO_MAX_SIGN_BATCH 10000
#define OSO_MAX_SIGN_MANY_INPUT_BYTES (16u << 20)
#define OSO_SIGNATURE_BYTES 64
#define OSO_KEY_INFO_MAX_BYTES 512
#define OSO_MAX_PUBLIC_KEY_BYTES (OSO_KEY_INFO_MAX_BYTES - 8 - OSO_MAX_KEY_ID_BYTES)
#define OSO_SIGN_RESULT_BYTES (8 + OSO_SIGNATURE_BYTES)

/* Credentials and state (ABI v1.2). */
#define OSO_MAX_CREDENTIAL_NAME_BYTES 128
#define OSO_MAX_CREDENTIAL_BYTES (16u << 10)
#define OSO_MAX_KV_KEY_BYTES 512
#define OSO_MAX_KV_VALUE_BYTES (1u << 20)

/* Declares a function exported under name. Outside WebAssembly (native
 * unit tests of plugin code) the attributes are dropped and the test
 * provides the oso_host_* functions. */
#if defined(__wasm__)
#define OSO_EXPORT(name) __attribute__((export_name(name)))
#define OSO_IMPORT(name) __attribute__((import_module("oso"), import_name(name)))
#else
#define OSO_EXPORT(name)
#define OSO_IMPORT(name)
#endif

/* Declares the module stateless (export oso_stateless returns 1): the host
 * may then run several instances at once. Use at file scope, at most once. */
#define OSO_STATELESS() \
    OSO_EXPORT("oso_stateless") int32_t oso_stateless(void) { return 1; }

/* Host functions of module "oso"; prefer the helpers below. */
OSO_IMPORT("output") int32_t oso_host_output(int32_t kind, const void *ptr, int32_t len);
OSO_IMPORT("error") int32_t oso_host_error(int32_t code, const void *ptr, int32_t len);
OSO_IMPORT("log") int32_t oso_host_log(int32_t level, const void *ptr, int32_t len);
/* ABI v1.1: signing. */
OSO_IMPORT("key_generate") int32_t oso_host_key_generate(int32_t type, void *out, int32_t out_cap);
OSO_IMPORT("key_list") int32_t oso_host_key_list(int32_t type, void *out, int32_t out_cap);
OSO_IMPORT("key_public") int32_t oso_host_key_public(const void *id, int32_t id_len, void *out, int32_t out_cap);
OSO_IMPORT("sign") int32_t oso_host_sign(const void *id, int32_t id_len, const void *data, int32_t data_len,
                                         void *out, int32_t out_cap);
OSO_IMPORT("sign_many") int32_t oso_host_sign_many(const void *in, int32_t in_len, void *out, int32_t out_cap);
/* ABI v1.2: credentials and state. */
OSO_IMPORT("credential") int32_t oso_host_credential(const void *name, int32_t name_len, void *out, int32_t out_cap);
OSO_IMPORT("kv_get") int32_t oso_host_kv_get(const void *key, int32_t key_len, void *out, int32_t out_cap);
OSO_IMPORT("kv_put") int32_t oso_host_kv_put(const void *key, int32_t key_len, const void *val, int32_t val_len);
OSO_IMPORT("kv_delete") int32_t oso_host_kv_delete(const void *key, int32_t key_len);
OSO_IMPORT("kv_list") int32_t oso_host_kv_list(const void *prefix, int32_t prefix_len, const void *after,
                                               int32_t after_len, void *out, int32_t out_cap);

/* ---- Strings ---------------------------------------------------------- */

/* A string view: ptr is not NUL-terminated. */
typedef struct {
    const char *ptr;
    size_t len;
} oso_str;

/* A view of a string literal. */
#define OSO_STR(lit) ((oso_str){(lit), sizeof(lit) - 1})

/* A view of a NUL-terminated string (NULL gives the empty string). */
oso_str oso_cstr(const char *s);

/* Whether s equals the NUL-terminated string c. */
int oso_str_eq(oso_str s, const char *c);

/* Whether s starts with prefix. */
int oso_str_has_prefix(oso_str s, oso_str prefix);

/* ---- Reading the to_isv input ----------------------------------------- */

/* One document; its strings are views into the input buffer. */
typedef struct {
    oso_str id, content, metadata;
} oso_document;

/* A reader over a compact DocumentList. */
typedef struct {
    const uint8_t *p, *end;
    uint32_t left, count;
} oso_reader;

/* Checks the whole compact DocumentList in buf and positions r on its first
 * document. Returns 0, or -1 when the list is malformed (truncated, trailing
 * bytes, too many documents declared). An empty input (len 0) is an empty
 * list. */
int oso_reader_init(oso_reader *r, const void *buf, size_t len);

/* The number of documents in the list. */
uint32_t oso_reader_count(const oso_reader *r);

/* Reads the next document into d: returns 1, or 0 at the end. */
int oso_reader_next(oso_reader *r, oso_document *d);

/* ---- Buffers and appenders -------------------------------------------- */

/* A growing byte buffer (malloc/realloc). The zero value is empty. After a
 * failed allocation, failed is set, further appends do nothing, and handing
 * the buffer to the host fails the call with 500. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
    int failed;
} oso_buf;

/* Empties b, keeping its memory for reuse. */
void oso_buf_reset(oso_buf *b);
/* Frees b's memory and empties it. */
void oso_buf_free(oso_buf *b);
/* Appenders; each returns 0, or -1 once b has failed. */
int oso_buf_append(oso_buf *b, const void *p, size_t n);
int oso_buf_append_str(oso_buf *b, oso_str s);         /* raw bytes */
int oso_buf_append_u32(oso_buf *b, uint32_t v);        /* little-endian */
int oso_buf_append_lstr(oso_buf *b, oso_str s);        /* u32 length + bytes */
int oso_buf_append_int(oso_buf *b, int64_t v);         /* decimal text */
int oso_buf_append_json_string(oso_buf *b, oso_str s); /* quoted, escaped; invalid UTF-8 -> U+FFFD */
int oso_buf_append_hex(oso_buf *b, const void *p, size_t n); /* lowercase hex */
/* The framework's PEM form of a SubjectPublicKeyInfo DER: "-----BEGIN
 * PUBLIC KEY-----\n", standard base64 in lines of 64 characters each ended
 * by "\n", "-----END PUBLIC KEY-----\n". */
int oso_buf_append_pem(oso_buf *b, const void *der, size_t n);
/* The bytes of b as a string view. */
oso_str oso_buf_str(const oso_buf *b);

/* Writes the 2n lowercase hex digits of src[0..n) to dst, then a NUL:
 * dst must hold 2n+1 bytes. Returns dst. */
char *oso_hex(char *dst, const void *src, size_t n);

/* A JSON object appended member by member (no reflection, no parser):
 *
 *   oso_json_object o;
 *   oso_json_begin(&o, &buf);
 *   oso_json_int(&o, "keys", 3);
 *   oso_json_end(&o);            // {"keys":3}
 *
 * Keys are escaped; duplicates are not detected. */
typedef struct {
    oso_buf *buf;
    size_t n;
} oso_json_object;
int oso_json_begin(oso_json_object *o, oso_buf *b);
int oso_json_string(oso_json_object *o, const char *key, oso_str v);
int oso_json_int(oso_json_object *o, const char *key, int64_t v);
int oso_json_bool(oso_json_object *o, const char *key, int v);
int oso_json_raw(oso_json_object *o, const char *key, oso_str json); /* v unchecked */
int oso_json_end(oso_json_object *o);

/* A DocumentList being written in the compact encoding into a buffer. */
typedef struct {
    oso_buf *buf;
    size_t start;
    uint32_t n;
} oso_list;

/* Starts a list at the end of b (appends the count placeholder). */
int oso_list_begin(oso_list *l, oso_buf *b);
/* Appends one document; the strings are copied. */
int oso_list_add(oso_list *l, oso_str id, oso_str content, oso_str metadata);
int oso_list_add_document(oso_list *l, const oso_document *d);
/* Writes the final count into the buffer; call before using the bytes. */
void oso_list_end(oso_list *l);

/* One V1_3 Error item of a ComponentStatus. */
typedef struct {
    oso_str code, message;
} oso_status_error;

/* Appends a compact ComponentStatus; extra is empty or a JSON object text
 * whose members the host writes after status_code, status and errors. */
int oso_append_status(oso_buf *b, int32_t code, oso_str status,
                      const oso_status_error *errors, size_t n_errors, oso_str extra);

/* A reader over a compact KeyList (u32 n, n x str): the answer of
 * key_list and kv_list. The strings are views into the list's buffer. */
typedef struct {
    const uint8_t *p, *end;
    uint32_t left, count;
} oso_keys;

/* Checks the whole KeyList in buf and positions r on its first item.
 * Returns 0, or -1 when it is malformed. */
int oso_keys_init(oso_keys *r, const void *buf, size_t len);
uint32_t oso_keys_count(const oso_keys *r);
/* Reads the next item into s: returns 1, or 0 at the end. */
int oso_keys_next(oso_keys *r, oso_str *s);

/* ---- Results ----------------------------------------------------------
 * Each returns the export's result: OSO_RESULT_OK when the host accepted the
 * output, else OSO_RESULT_FAILED (the host answers 502 for a refused output,
 * 500 for a failed buffer). */

/* Hands bytes of the given kind to the host (copied before it returns). */
int32_t oso_output(int32_t kind, const void *p, size_t n);
/* Answers JSON text. */
int32_t oso_output_json(oso_str json);
/* Answers the bytes of b as kind. */
int32_t oso_output_buf(int32_t kind, const oso_buf *b);
/* Ends l (oso_list_end) and answers its buffer, which must hold only l. */
int32_t oso_output_list(oso_list *l);
/* Answers an empty DocumentList. */
int32_t oso_output_empty_list(void);
/* Answers a ComponentStatus (encoded in a buffer the SDK reuses). */
int32_t oso_output_status(int32_t code, oso_str status,
                          const oso_status_error *errors, size_t n_errors, oso_str extra);

/* Fails the call with HTTP status code (400..599; the host uses 500 for
 * others) and message, sent to the client as the error description and cut
 * to OSO_MAX_ERROR_MESSAGE_BYTES. Returns OSO_RESULT_FAILED. */
int32_t oso_fail(int32_t code, oso_str message);

/* ---- Logs ---------------------------------------------------------------
 * One line at a level, cut to OSO_MAX_LOG_LINE_BYTES; the host bounds the
 * rate. Never log secrets. */
void oso_log(int32_t level, oso_str msg);
#define oso_log_debug(lit) oso_log(OSO_LOG_DEBUG, OSO_STR(lit))
#define oso_log_info(lit) oso_log(OSO_LOG_INFO, OSO_STR(lit))
#define oso_log_warn(lit) oso_log(OSO_LOG_WARN, OSO_STR(lit))
#define oso_log_error(lit) oso_log(OSO_LOG_ERROR, OSO_STR(lit))
/* Logs a prefix followed by a status's text, e.g. "signer: sign: not found". */
void oso_log_status(int32_t level, const char *prefix, int32_t status);

/* ---- Signing (ABI v1.1) -------------------------------------------------
 * Key pairs the host keeps (an HSM, or a wrapped keystore): the private key
 * never enters the plugin. Every function returns 0 or a positive count on
 * success, else a negative status (OSO_STATUS_*): OSO_STATUS_NOT_FOUND (no
 * such key), OSO_STATUS_NOT_ALLOWED (the host's policy, or no export call
 * running), OSO_STATUS_UNAVAILABLE (the backend failed; retrying later may
 * help), OSO_STATUS_BAD_ARGUMENT (e.g. a SECP256K1 digest that is not 32
 * bytes), OSO_STATUS_TOO_LARGE. They work only while to_oso, to_isv or
 * status runs. */

/* A key pair's public half. public_key is the SubjectPublicKeyInfo DER. */
typedef struct {
    char id[OSO_MAX_KEY_ID_BYTES + 1]; /* NUL-terminated */
    size_t id_len;
    int32_t type; /* OSO_KEY_* */
    uint8_t public_key[OSO_MAX_PUBLIC_KEY_BYTES];
    size_t public_key_len;
} oso_key;

/* The framework's name of a key type: "SECP256K1", "ED25519" or "". */
const char *oso_key_type_name(int32_t type);

/* Creates a key pair of type on the host (the framework's
 * generate_key_pair). Returns 0 and fills k. */
int32_t oso_key_generate(int32_t type, oso_key *k);

/* Lists the ids of the keys of type, sorted byte-wise: the KeyList goes
 * into buf (grown from 4 KiB, doubling, up to 16 MiB), and ids reads it.
 * Returns the number of ids. */
int32_t oso_key_list(int32_t type, oso_buf *buf, oso_keys *ids);

/* Looks a key up by id: its type and public key (the framework's
 * get_key_pem is oso_buf_append_pem over k->public_key). Returns 0. */
int32_t oso_key_public(oso_str id, oso_key *k);

/* Signs data with the key id; writes the 64-byte signature to sig and
 * returns 64. A SECP256K1 key takes exactly a 32-byte digest (r||s,
 * low-S); an ED25519 key signs data itself. */
int32_t oso_sign(oso_str id, const void *data, size_t len, uint8_t sig[OSO_SIGNATURE_BYTES]);

/* oso_sign with the signature as 128 lowercase hex digits and a NUL, as
 * the framework's sign returned it. Returns 128. */
int32_t oso_sign_hex(oso_str id, const void *data, size_t len, char hex[2 * OSO_SIGNATURE_BYTES + 1]);

/* One signature of a batch; data is read during the call only. */
typedef struct {
    oso_str key_id;
    const void *data;
    size_t len;
} oso_sign_request;

/* The outcome of one request: status 0 and a 64-byte signature (a view into
 * a buffer the SDK reuses: valid until the next oso_sign_many), or a
 * negative status and signature NULL. */
typedef struct {
    int32_t status;
    const uint8_t *signature;
} oso_sign_result;

/* Signs every request in one crossing (batches over OSO_MAX_SIGN_BATCH
 * requests or OSO_MAX_SIGN_MANY_INPUT_BYTES bytes are split); the host signs
 * them concurrently. results must hold n entries; each request gets its own
 * status. Returns 0, or a negative status for the batch as a whole (then the
 * results are not set). */
int32_t oso_sign_many(const oso_sign_request *reqs, size_t n, oso_sign_result *results);

/* ---- Credentials (ABI v1.2) ---------------------------------------------
 * A secret (an API token) that the operator granted to the plugin by name.
 * Never log it, put it in an output or an error, or keep it in state. */
typedef struct {
    oso_str token;           /* the secret */
    oso_str token_type;      /* e.g. "Bearer"; may be empty */
    uint64_t expires_at_ms;  /* Unix milliseconds; 0: never */
} oso_credential;

/* Resolves the credential name. Its strings are views into a buffer the SDK
 * reuses: valid until the next oso_credential_get or oso_credential_clear.
 * Returns 0, or OSO_STATUS_NOT_ALLOWED (not granted, or no export call
 * running), OSO_STATUS_NOT_FOUND, OSO_STATUS_UNAVAILABLE (retry later),
 * OSO_STATUS_TOO_LARGE (a name over OSO_MAX_CREDENTIAL_NAME_BYTES). The host
 * caches and refreshes credentials: resolve one at every use. */
int32_t oso_credential_get(oso_str name, oso_credential *c);

/* Wipes the SDK's credential buffer and c. */
void oso_credential_clear(oso_credential *c);

/* ---- State (ABI v1.2) ---------------------------------------------------
 * A durable key/value store the host keeps for the plugin. The state calls
 * of one export call form a transaction, committed (to disk) only when the
 * call succeeds, before the host answers. Keys are 1 to OSO_MAX_KV_KEY_BYTES
 * bytes, values at most OSO_MAX_KV_VALUE_BYTES. Failures: OSO_STATUS_LIMITED
 * (a quota of the plugin), OSO_STATUS_NOT_ALLOWED (no state in this call:
 * outside a request, or the host runs the call without state),
 * OSO_STATUS_TOO_LARGE, OSO_STATUS_BAD_ARGUMENT (an empty key),
 * OSO_STATUS_UNAVAILABLE (the host's storage failed). */

/* Reads key's value into value (replacing its contents; it grows as
 * needed). Returns 1 when the key exists, 0 when it does not. */
int32_t oso_kv_get(oso_str key, oso_buf *value);

/* Sets key to the n bytes at v (copied before it returns). Returns 0. */
int32_t oso_kv_put(oso_str key, const void *v, size_t n);

/* Removes key. Returns 1 when it existed, 0 when it did not. */
int32_t oso_kv_delete(oso_str key);

/* Called by oso_kv_list with each key (a view valid during the call);
 * returns non-zero to go on, 0 to stop. It may call the other state
 * functions, including oso_kv_delete on the key it was given. */
typedef int (*oso_kv_visitor)(void *arg, oso_str key);

/* Calls fn with every key that starts with prefix, in byte order, until it
 * returns 0, paging through the host's answers. Keys written meanwhile are
 * seen when they sort after the current one. Returns 0. */
int32_t oso_kv_list(oso_str prefix, oso_kv_visitor fn, void *arg);

/* ---- Time and randomness (WASI, through wasi-libc) --------------------- */

/* The realtime clock in Unix nanoseconds (0 if unavailable). */
uint64_t oso_time_unix_nano(void);

/* Fills p with n bytes from the host's cryptographic generator. Returns
 * 0, or -1 on failure. */
int oso_random(void *p, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* OSO_H */
