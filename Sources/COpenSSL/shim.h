#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H
/* System OpenSSL 3 (libssl-dev) for the TLS target only (STYLE C7). Swift does not import function-like macros or
 * 64-bit option expressions, so the few we need are wrapped here as static inline functions. */
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/x509_vfy.h>
#include <openssl/pem.h>
#include <openssl/evp.h>
#include <openssl/bn.h>
#include <openssl/rand.h>

typedef int (*copenssl_servername_cb)(SSL *ssl, int *alert, void *arg);
static inline long copenssl_ctx_set_servername_cb(SSL_CTX *ctx, copenssl_servername_cb cb) {
    return SSL_CTX_set_tlsext_servername_callback(ctx, cb);
}
static inline long copenssl_set_tlsext_host_name(SSL *ssl, const char *name) { return SSL_set_tlsext_host_name(ssl, name); }
static inline long copenssl_ctx_set_min_proto(SSL_CTX *ctx, int v) { return SSL_CTX_set_min_proto_version(ctx, v); }
static inline long copenssl_ctx_set_max_proto(SSL_CTX *ctx, int v) { return SSL_CTX_set_max_proto_version(ctx, v); }
static inline long copenssl_ctx_add1_chain_cert(SSL_CTX *ctx, X509 *x) { return SSL_CTX_add1_chain_cert(ctx, x); }
static inline long copenssl_ctx_set_session_cache_server(SSL_CTX *ctx) {
    return SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
}
/* Server hardening: no renegotiation, server cipher preference, no compression, no 0-RTT replay surface. */
static inline uint64_t copenssl_ctx_set_server_options(SSL_CTX *ctx) {
    return SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
}
static inline int copenssl_ssl_get_ex_new_index(void) { return SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL); }
static inline int copenssl_err_get_reason(unsigned long e) { return ERR_GET_REASON(e); }
static inline int copenssl_err_get_lib(unsigned long e) { return ERR_GET_LIB(e); }
static inline int copenssl_sk_x509_num(const STACK_OF(X509) *sk) { return sk_X509_num(sk); }
static inline X509 *copenssl_sk_x509_value(const STACK_OF(X509) *sk, int i) { return sk_X509_value(sk, i); }
/* EVP_PKEY_Q_keygen is variadic and EVP_EC_gen a macro; Swift imports neither. Development certificates only. */
static inline EVP_PKEY *copenssl_ec_p256_keygen(void) { return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"); }
/* The subjectAltName DNS entries of a certificate, each followed by '\n', into out (cap bytes). Returns the
 * bytes written, 0 when there is no such entry, -1 when out is too small. (GENERAL_NAME stacks are macros.) */
static inline int copenssl_x509_dns_names(X509 *x, char *out, int cap) {
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int used = 0;
    if (names == NULL) return 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *n = sk_GENERAL_NAME_value(names, i);
        if (n->type != GEN_DNS) continue;
        const unsigned char *data = ASN1_STRING_get0_data(n->d.dNSName);
        int len = ASN1_STRING_length(n->d.dNSName);
        if (len < 0 || used + len + 1 > cap) { GENERAL_NAMES_free(names); return -1; }
        for (int j = 0; j < len; j++) out[used + j] = (char)data[j];
        used += len;
        out[used++] = '\n';
    }
    GENERAL_NAMES_free(names);
    return used;
}
/* Alternative names (X509_get_ext_d2i's GENERAL_NAMES): the stack macros and the GENERAL_NAME union, for the
 * iot:Certificate.*.AlternativeName.* policy variables. */
static inline int copenssl_general_names_num(void *names) { return sk_GENERAL_NAME_num((GENERAL_NAMES *)names); }
static inline int copenssl_general_name_type(void *names, int i) {
    return sk_GENERAL_NAME_value((GENERAL_NAMES *)names, i)->type;
}
/* The string of a DNS, email (RFC 822), URI or IP address entry (all ASN1_STRINGs); NULL for other types. */
static inline const ASN1_STRING *copenssl_general_name_string(void *names, int i) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value((GENERAL_NAMES *)names, i);
    switch (g->type) {
    case GEN_DNS: case GEN_EMAIL: case GEN_URI: return g->d.ia5;
    case GEN_IPADD: return g->d.iPAddress;
    default: return NULL;
    }
}
static inline void copenssl_general_names_free(void *names) { GENERAL_NAMES_free((GENERAL_NAMES *)names); }
/* RSA keys for CreateKeysAndCertificate (AWS issues RSA-2048). */
static inline EVP_PKEY *copenssl_rsa_keygen(unsigned int bits) { return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits); }
#endif
