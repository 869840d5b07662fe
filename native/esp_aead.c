// keyplane's native AEAD context for the ESP hot path (build/Release/keyplane_aead.node).
//
// Why native: node:crypto has no reusable keyed cipher object. Every packet pays
// createCipheriv/createDecipheriv, i.e. a fresh EVP_CIPHER_CTX, a fresh AES key schedule
// (and GHASH table) and three or four JS<->C++ crossings; that is about 4 us of a 1400-byte
// AES-128-GCM packet and about 45% of the userspace data plane's JS thread under load.
// Here one EVP_CIPHER_CTX per direction is keyed once per SA and reused: per packet only
// the nonce changes (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce)), and the whole
// packet is one call that writes ciphertext || ICV straight into the caller's buffer.
//
// Which OpenSSL: Node's own. The node binary links OpenSSL statically and exports its
// symbols; node-gyp puts Node's OpenSSL headers (<nodedir>/include/node/openssl) on the
// include path, and the EVP_* calls below resolve against the running node when the addon
// is loaded. So this is the same library, version and provider configuration that
// node:crypto uses, and no libssl-dev is needed.
//
// The algorithms are the ESP AEADs of src/crypto/encr-aead.ts, with the same nonce rule:
//   AES-GCM (RFC 4106 §4, §8.1): key || 4-byte salt; nonce = salt || 8-byte IV; ICV 8/12/16
//     bytes (RFC 4106 §6), the leading bytes of the full tag (NIST SP 800-38D §5.2.1.2).
//   ChaCha20-Poly1305 (RFC 7634 §2, §4): 32-byte key || 4-byte salt; nonce = salt || IV;
//     16-byte tag (RFC 8439 §2.8).
//
// JS API (wrapped by src/crypto/native-aead.ts):
//   new AeadContext(algorithm: string, keyMaterial: Uint8Array, icvBytes: number)
//     algorithm: "aes-128-gcm" | "aes-192-gcm" | "aes-256-gcm" | "chacha20-poly1305"
//   ctx.encryptTo(iv, aad, out, outOffset, ...parts) -> bytes written (plaintext + ICV)
//   ctx.decryptTo(iv, aad, ciphertextAndIcv, out, outOffset) -> plaintext bytes, or -1 when
//     the ICV does not verify (the output range is then zeroed: no unauthenticated
//     plaintext is left behind)
//   ctx.destroy() -> frees the cipher state and wipes the key now rather than at GC
//   liveContexts() -> contexts allocated and not yet finalized (for the leak test)
//
// Safety rules (as in keyplane_native.c, docs/architecture.md "Native addon safety"):
// every argument is type- and length-checked before use; caller bugs throw a TypeError or
// RangeError whose `code` is a keyplane CryptoError code; a bad tag is a return value,
// never an exception; every N-API call is checked; `this` must carry this addon's type
// tag (so another object, or another addon's wrapped object, cannot be passed off as a
// context); no N-API call made here can run JavaScript, so pointers into JS memory stay
// valid for the whole call; overlapping input and output ranges are handled (OpenSSL only
// allows exactly-in-place or disjoint buffers); the key is wiped with OPENSSL_cleanse and
// the OpenSSL state freed in destroy() or the finalizer, whichever comes first.

#define NAPI_VERSION 8
#include <node_api.h>

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#define SALT_BYTES 4
#define IV_BYTES 8
#define NONCE_BYTES (SALT_BYTES + IV_BYTES)
#define MAX_KEY_BYTES 32
#define MAX_TAG_BYTES 16
#define MAX_PARTS 8
// OpenSSL takes int lengths; keep every length and every sum well inside that.
#define MAX_INPUT_BYTES ((size_t)INT_MAX - 1024)

// Codes shared with src/crypto/error-codes.ts, so the wrapper can rethrow as CryptoError.
#define CODE_BAD_ARGUMENT "crypto.bad-argument"
#define CODE_KEY_LENGTH "crypto.bad-key-length"
#define CODE_IV_LENGTH "crypto.bad-iv-length"
#define CODE_OUTPUT_LENGTH "crypto.output-too-small"
#define CODE_UNSUPPORTED "crypto.unknown-transform"
#define CODE_OPENSSL "crypto.openssl-failure"

typedef struct {
  const EVP_CIPHER *cipher;
  // One context per direction, created on first use (an SA is used in one direction only,
  // so this halves the memory of most contexts). Each is keyed once.
  EVP_CIPHER_CTX *enc;
  EVP_CIPHER_CTX *dec;
  // Kept only until both directions are keyed (wiped then, and on destroy/finalize).
  uint8_t key[MAX_KEY_BYTES];
  size_t key_bytes;
  int key_wiped;
  uint8_t salt[SALT_BYTES];
  size_t icv_bytes;
  int destroyed;
} aead_t;

// Contexts allocated and not yet finalized, across the process (all Workers): lets the
// leak test see that the finalizer runs. Updated with atomic builtins.
static long live_contexts = 0;

static const napi_type_tag AEAD_TAG = {0x6b6579706c616e65ULL, 0x6165616430303031ULL};

// ---------------------------------------------------------------------------------------
// Errors

static napi_value throw_coded(napi_env env, int range, const char *code, const char *msg) {
  // Fails harmlessly if an exception is already pending.
  if (range) napi_throw_range_error(env, code, msg);
  else napi_throw_type_error(env, code, msg);
  return NULL;
}

static napi_value napi_failed(napi_env env, const char *call) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) != napi_ok || !pending) {
    napi_throw_error(env, CODE_OPENSSL, call);
  }
  return NULL;
}
#define CHECK(env, call)                                   \
  do {                                                     \
    if ((call) != napi_ok) return napi_failed(env, #call); \
  } while (0)

// An OpenSSL call failed where it cannot for valid input (allocation failure): drop
// OpenSSL's queued errors (node:crypto reads the same thread-local queue) and throw.
static napi_value openssl_failed(napi_env env, const char *what) {
  ERR_clear_error();
  napi_throw_error(env, CODE_OPENSSL, what);
  return NULL;
}

// ---------------------------------------------------------------------------------------
// Argument helpers. None of these N-API calls can run JavaScript (no coercion, no
// accessors), which is what keeps the data pointers valid until the call returns.

typedef struct {
  uint8_t *data;
  size_t len;
} bytes_t;

// A Uint8Array (Buffer included) of at most MAX_INPUT_BYTES.
static int get_bytes(napi_env env, napi_value v, bytes_t *out) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  napi_value ab;
  void *p = NULL;
  if (napi_get_typedarray_info(env, v, &type, &length, &p, &ab, &offset) != napi_ok) return 0;
  if (type != napi_uint8_array || length > MAX_INPUT_BYTES) return 0;
  if (length > 0 && p == NULL) return 0;
  out->data = p;
  out->len = length;
  return 1;
}

// A non-negative integer number (no coercion: strings, NaN, 1.5, -0.5 are refused).
static int get_index(napi_env env, napi_value v, size_t *out) {
  double d = 0;
  if (napi_get_value_double(env, v, &d) != napi_ok) return 0;
  if (!(d >= 0 && d <= (double)MAX_INPUT_BYTES) || d != (double)(size_t)d) return 0;
  *out = (size_t)d;
  return 1;
}

static aead_t *get_this(napi_env env, napi_value self) {
  bool ok = false;
  if (self == NULL || napi_check_object_type_tag(env, self, &AEAD_TAG, &ok) != napi_ok || !ok) return NULL;
  void *p = NULL;
  if (napi_unwrap(env, self, &p) != napi_ok) return NULL;
  return p;
}

static int overlaps(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
  if (alen == 0 || blen == 0) return 0;
  uintptr_t a0 = (uintptr_t)a, b0 = (uintptr_t)b;
  return a0 < b0 + blen && b0 < a0 + alen;
}

// ---------------------------------------------------------------------------------------
// Context lifetime

static void wipe_and_free(aead_t *a) {
  if (a->enc) EVP_CIPHER_CTX_free(a->enc);  // OpenSSL wipes its key schedule when freeing
  if (a->dec) EVP_CIPHER_CTX_free(a->dec);
  a->enc = a->dec = NULL;
  OPENSSL_cleanse(a->key, sizeof a->key);
  OPENSSL_cleanse(a->salt, sizeof a->salt);
  a->key_wiped = 1;
  a->destroyed = 1;
}

static void aead_finalize(napi_env env, void *data, void *hint) {
  aead_t *a = data;
  if (a == NULL) return;
  wipe_and_free(a);
  free(a);
  __atomic_sub_fetch(&live_contexts, 1, __ATOMIC_RELAXED);
}

// The keyed OpenSSL context for one direction, created on first use.
static EVP_CIPHER_CTX *direction_ctx(aead_t *a, int enc) {
  EVP_CIPHER_CTX **slot = enc ? &a->enc : &a->dec;
  if (*slot != NULL) return *slot;
  if (a->key_wiped) return NULL;  // cannot happen: the key is wiped only once both exist
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  if (c == NULL) return NULL;
  // Cipher, then the nonce length (12 is the default for both, set for clarity), then the
  // key: the key schedule is computed here, once per SA and direction.
  if (EVP_CipherInit_ex(c, a->cipher, NULL, NULL, NULL, enc) != 1 ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, NONCE_BYTES, NULL) != 1 ||
      EVP_CipherInit_ex(c, NULL, NULL, a->key, NULL, enc) != 1) {
    EVP_CIPHER_CTX_free(c);
    return NULL;
  }
  *slot = c;
  if (a->enc != NULL && a->dec != NULL) {
    OPENSSL_cleanse(a->key, sizeof a->key);
    a->key_wiped = 1;
  }
  return c;
}

// new AeadContext(algorithm, keyMaterial, icvBytes)
static napi_value aead_new(napi_env env, napi_callback_info info) {
  napi_value target = NULL;
  CHECK(env, napi_get_new_target(env, info, &target));
  if (target == NULL) return throw_coded(env, 0, CODE_BAD_ARGUMENT, "AeadContext must be called with new");
  size_t argc = 3;
  napi_value argv[3] = {NULL, NULL, NULL};
  napi_value self = NULL;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  if (argc < 3) return throw_coded(env, 0, CODE_BAD_ARGUMENT, "AeadContext(algorithm, keyMaterial, icvBytes)");

  char name[32];
  size_t name_len = 0;
  size_t need = 0;
  if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &need) != napi_ok || need >= sizeof name ||
      napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len) != napi_ok) {
    return throw_coded(env, 0, CODE_UNSUPPORTED, "algorithm must be a cipher name string");
  }
  const EVP_CIPHER *cipher = NULL;
  size_t key_bytes = 0;
  int gcm = 1;
  if (strcmp(name, "aes-128-gcm") == 0) {
    cipher = EVP_aes_128_gcm();
    key_bytes = 16;
  } else if (strcmp(name, "aes-192-gcm") == 0) {
    cipher = EVP_aes_192_gcm();
    key_bytes = 24;
  } else if (strcmp(name, "aes-256-gcm") == 0) {
    cipher = EVP_aes_256_gcm();
    key_bytes = 32;
  } else if (strcmp(name, "chacha20-poly1305") == 0) {
    cipher = EVP_chacha20_poly1305();
    key_bytes = 32;
    gcm = 0;
  } else {
    return throw_coded(env, 1, CODE_UNSUPPORTED, "unsupported AEAD algorithm");
  }
  if (cipher == NULL) return throw_coded(env, 1, CODE_UNSUPPORTED, "this OpenSSL lacks the AEAD algorithm");

  bytes_t km;
  if (!get_bytes(env, argv[1], &km)) return throw_coded(env, 0, CODE_BAD_ARGUMENT, "keyMaterial must be a Uint8Array");
  if (km.len != key_bytes + SALT_BYTES) {
    return throw_coded(env, 1, CODE_KEY_LENGTH, "key material must be the cipher key followed by a 4-byte salt");
  }
  double icv = 0;  // compared exactly: 16.5 is refused, not truncated
  if (napi_get_value_double(env, argv[2], &icv) != napi_ok) {
    return throw_coded(env, 0, CODE_BAD_ARGUMENT, "icvBytes must be a number");
  }
  // RFC 4106 §6: GCM ICVs of 8, 12 or 16 bytes; RFC 7634 §2: the full 16-byte tag.
  if (gcm ? !(icv == 8 || icv == 12 || icv == 16) : icv != 16) {
    return throw_coded(env, 1, CODE_BAD_ARGUMENT, "icvBytes must be 8, 12 or 16 for AES-GCM and 16 for ChaCha20-Poly1305");
  }

  aead_t *a = calloc(1, sizeof *a);
  if (a == NULL) return openssl_failed(env, "out of memory");
  __atomic_add_fetch(&live_contexts, 1, __ATOMIC_RELAXED);
  a->cipher = cipher;
  a->key_bytes = key_bytes;
  memcpy(a->key, km.data, key_bytes);
  memcpy(a->salt, km.data + key_bytes, SALT_BYTES);
  a->icv_bytes = (size_t)icv;
  if (napi_type_tag_object(env, self, &AEAD_TAG) != napi_ok) {
    aead_finalize(env, a, NULL);
    return napi_failed(env, "napi_type_tag_object");
  }
  if (napi_wrap(env, self, a, aead_finalize, NULL, NULL) != napi_ok) {
    aead_finalize(env, a, NULL);
    return napi_failed(env, "napi_wrap");
  }
  return self;
}

// ---------------------------------------------------------------------------------------
// encryptTo(iv, aad, out, outOffset, ...parts) -> plaintext bytes + ICV bytes
//
// The plaintext is the concatenation of parts; ciphertext || ICV is written to
// out[outOffset..]. A part may be the very bytes it is encrypted into (ESP seals in place)
// or anywhere else, even overlapping the output: parts that overlap the output range but
// are not exactly in place are copied aside before anything is written.

static napi_value aead_encrypt_to(napi_env env, napi_callback_info info) {
  size_t argc = 4 + MAX_PARTS + 1;
  napi_value argv[4 + MAX_PARTS + 1];
  napi_value self = NULL;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  aead_t *a = get_this(env, self);
  if (a == NULL) return throw_coded(env, 0, CODE_BAD_ARGUMENT, "encryptTo called on something that is not an AeadContext");
  if (a->destroyed) return throw_coded(env, 0, CODE_BAD_ARGUMENT, "AeadContext used after destroy()");
  if (argc < 4) return throw_coded(env, 0, CODE_BAD_ARGUMENT, "encryptTo(iv, aad, out, outOffset, ...parts)");
  if (argc > 4 + MAX_PARTS) return throw_coded(env, 1, CODE_BAD_ARGUMENT, "encryptTo takes at most 8 parts");

  bytes_t iv, aad, out;
  bytes_t parts[MAX_PARTS];
  size_t nparts = argc - 4;
  size_t off = 0;
  if (!get_bytes(env, argv[0], &iv)) return throw_coded(env, 0, CODE_BAD_ARGUMENT, "iv must be a Uint8Array");
  if (!get_bytes(env, argv[1], &aad)) return throw_coded(env, 0, CODE_BAD_ARGUMENT, "aad must be a Uint8Array");
  if (!get_bytes(env, argv[2], &out)) return throw_coded(env, 0, CODE_BAD_ARGUMENT, "out must be a Uint8Array");
  if (!get_index(env, argv[3], &off)) return throw_coded(env, 1, CODE_OUTPUT_LENGTH, "outOffset must be a non-negative integer");
  size_t total = 0;
  for (size_t i = 0; i < nparts; i++) {
    if (!get_bytes(env, argv[4 + i], &parts[i])) return throw_coded(env, 0, CODE_BAD_ARGUMENT, "each part must be a Uint8Array");
    total += parts[i].len;  // each <= MAX_INPUT_BYTES and at most 8 of them: no overflow
    if (total > MAX_INPUT_BYTES) return throw_coded(env, 1, CODE_BAD_ARGUMENT, "plaintext too long");
  }
  // Same order of checks as the node:crypto context: output room, then the IV.
  size_t sealed = total + a->icv_bytes;
  if (off > out.len || sealed > out.len - off) return throw_coded(env, 1, CODE_OUTPUT_LENGTH, "output buffer too small");
  if (iv.len != IV_BYTES) return throw_coded(env, 1, CODE_IV_LENGTH, "IV must be 8 bytes");

  uint8_t *dst = out.data + off;
  // Parts that overlap the output but are not exactly in place: copy them aside first.
  size_t aside = 0, at = 0;
  for (size_t i = 0; i < nparts; at += parts[i].len, i++) {
    if (parts[i].data != dst + at && overlaps(parts[i].data, parts[i].len, dst, sealed)) aside += parts[i].len;
  }
  uint8_t *scratch = NULL;
  if (aside > 0) {
    scratch = malloc(aside);
    if (scratch == NULL) return openssl_failed(env, "out of memory");
    size_t s = 0;
    at = 0;
    for (size_t i = 0; i < nparts; at += parts[i].len, i++) {
      if (parts[i].data != dst + at && overlaps(parts[i].data, parts[i].len, dst, sealed)) {
        memcpy(scratch + s, parts[i].data, parts[i].len);
        parts[i].data = scratch + s;
        s += parts[i].len;
      }
    }
  }

  uint8_t nonce[NONCE_BYTES];
  memcpy(nonce, a->salt, SALT_BYTES);  // RFC 4106 §4, RFC 7634 §2: salt || IV
  memcpy(nonce + SALT_BYTES, iv.data, IV_BYTES);
  EVP_CIPHER_CTX *c = direction_ctx(a, 1);
  int ok = c != NULL && EVP_EncryptInit_ex(c, NULL, NULL, NULL, nonce) == 1;
  int n = 0;
  if (ok && aad.len > 0) ok = EVP_EncryptUpdate(c, NULL, &n, aad.data, (int)aad.len) == 1;
  size_t w = 0;
  for (size_t i = 0; ok && i < nparts; i++) {
    if (parts[i].len == 0) continue;
    ok = EVP_EncryptUpdate(c, dst + w, &n, parts[i].data, (int)parts[i].len) == 1 && n >= 0 && (size_t)n == parts[i].len;
    w += parts[i].len;
  }
  // Stream modes: Final writes nothing, but it is what completes the tag.
  if (ok) ok = EVP_EncryptFinal_ex(c, dst + w, &n) == 1 && n == 0;
  if (ok) ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, (int)a->icv_bytes, dst + total) == 1;
  if (scratch != NULL) {
    OPENSSL_cleanse(scratch, aside);  // plaintext
    free(scratch);
  }
  if (!ok) {
    OPENSSL_cleanse(dst, sealed);
    return openssl_failed(env, "AEAD encryption failed");
  }
  napi_value result;
  CHECK(env, napi_create_uint32(env, (uint32_t)sealed, &result));
  return result;
}

// ---------------------------------------------------------------------------------------
// decryptTo(iv, aad, ciphertextAndIcv, out, outOffset) -> plaintext bytes, or -1 when the
// ICV does not verify. Input too short to hold an ICV cannot authenticate: -1 as well (as
// the node:crypto context returns null for it).

static napi_value aead_decrypt_to(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5] = {NULL, NULL, NULL, NULL, NULL};
  napi_value self = NULL;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  aead_t *a = get_this(env, self);
  if (a == NULL) return throw_coded(env, 0, CODE_BAD_ARGUMENT, "decryptTo called on something that is not an AeadContext");
  if (a->destroyed) return throw_coded(env, 0, CODE_BAD_ARGUMENT, "AeadContext used after destroy()");
  if (argc < 5) return throw_coded(env, 0, CODE_BAD_ARGUMENT, "decryptTo(iv, aad, ciphertextAndIcv, out, outOffset)");

  bytes_t iv, aad, in, out;
  size_t off = 0;
  if (!get_bytes(env, argv[0], &iv)) return throw_coded(env, 0, CODE_BAD_ARGUMENT, "iv must be a Uint8Array");
  if (!get_bytes(env, argv[1], &aad)) return throw_coded(env, 0, CODE_BAD_ARGUMENT, "aad must be a Uint8Array");
  if (!get_bytes(env, argv[2], &in)) return throw_coded(env, 0, CODE_BAD_ARGUMENT, "ciphertextAndIcv must be a Uint8Array");
  if (!get_bytes(env, argv[3], &out)) return throw_coded(env, 0, CODE_BAD_ARGUMENT, "out must be a Uint8Array");
  if (!get_index(env, argv[4], &off)) return throw_coded(env, 1, CODE_OUTPUT_LENGTH, "outOffset must be a non-negative integer");
  // Same order as the node:crypto context: the IV, then "too short is a bad tag".
  if (iv.len != IV_BYTES) return throw_coded(env, 1, CODE_IV_LENGTH, "IV must be 8 bytes");
  napi_value result;
  if (in.len < a->icv_bytes) {
    CHECK(env, napi_create_int32(env, -1, &result));
    return result;
  }
  size_t body = in.len - a->icv_bytes;
  if (off > out.len || body > out.len - off) return throw_coded(env, 1, CODE_OUTPUT_LENGTH, "output buffer too small");

  // A zero-length output may have no memory at all: never do arithmetic on NULL.
  static uint8_t no_output[1];
  uint8_t *dst = out.data != NULL ? out.data + off : no_output;
  // The tag is read at the end, after the plaintext is written: take it first, since the
  // output may overlap it.
  uint8_t tag[MAX_TAG_BYTES];
  memcpy(tag, in.data + body, a->icv_bytes);
  const uint8_t *src = in.data;
  uint8_t *scratch = NULL;
  if (src != dst && overlaps(src, body, dst, body)) {
    scratch = malloc(body);
    if (scratch == NULL) return openssl_failed(env, "out of memory");
    memcpy(scratch, src, body);
    src = scratch;
  }

  uint8_t nonce[NONCE_BYTES];
  memcpy(nonce, a->salt, SALT_BYTES);
  memcpy(nonce + SALT_BYTES, iv.data, IV_BYTES);
  EVP_CIPHER_CTX *c = direction_ctx(a, 0);
  int ok = c != NULL && EVP_DecryptInit_ex(c, NULL, NULL, NULL, nonce) == 1 &&
           EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, (int)a->icv_bytes, tag) == 1;
  int n = 0;
  if (ok && aad.len > 0) ok = EVP_DecryptUpdate(c, NULL, &n, aad.data, (int)aad.len) == 1;
  if (ok && body > 0) ok = EVP_DecryptUpdate(c, dst, &n, src, (int)body) == 1 && n >= 0 && (size_t)n == body;
  if (scratch != NULL) free(scratch);  // ciphertext only: nothing secret
  if (!ok) {
    if (body > 0) OPENSSL_cleanse(dst, body);
    return openssl_failed(env, "AEAD decryption failed");
  }
  // The tag is checked here (constant time, inside OpenSSL).
  int verified = EVP_DecryptFinal_ex(c, dst + body, &n) == 1 && n == 0;
  if (!verified) {
    ERR_clear_error();
    if (body > 0) OPENSSL_cleanse(dst, body);  // never leave unauthenticated plaintext behind
  }
  CHECK(env, napi_create_int32(env, verified ? (int32_t)body : -1, &result));
  return result;
}

// destroy(): free the OpenSSL state and wipe the key now (an SA was deleted); later calls
// throw. Idempotent.
static napi_value aead_destroy(napi_env env, napi_callback_info info) {
  napi_value self = NULL;
  size_t argc = 0;
  CHECK(env, napi_get_cb_info(env, info, &argc, NULL, &self, NULL));
  aead_t *a = get_this(env, self);
  if (a == NULL) return throw_coded(env, 0, CODE_BAD_ARGUMENT, "destroy called on something that is not an AeadContext");
  wipe_and_free(a);
  napi_value undefined;
  CHECK(env, napi_get_undefined(env, &undefined));
  return undefined;
}

// liveContexts() -> number of contexts allocated and not yet finalized.
static napi_value live_count(napi_env env, napi_callback_info info) {
  napi_value result;
  CHECK(env, napi_create_double(env, (double)__atomic_load_n(&live_contexts, __ATOMIC_RELAXED), &result));
  return result;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor methods[] = {
      {"encryptTo", NULL, aead_encrypt_to, NULL, NULL, NULL, napi_default_method, NULL},
      {"decryptTo", NULL, aead_decrypt_to, NULL, NULL, NULL, napi_default_method, NULL},
      {"destroy", NULL, aead_destroy, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value cls;
  if (napi_define_class(env, "AeadContext", NAPI_AUTO_LENGTH, aead_new, NULL, sizeof methods / sizeof methods[0], methods,
                        &cls) != napi_ok ||
      napi_set_named_property(env, exports, "AeadContext", cls) != napi_ok) {
    return napi_failed(env, "napi_define_class");
  }
  napi_value fn;
  if (napi_create_function(env, "liveContexts", NAPI_AUTO_LENGTH, live_count, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "liveContexts", fn) != napi_ok) {
    return napi_failed(env, "napi_create_function");
  }
  return exports;
}
