/* SPDX-License-Identifier: MIT */
/*
 * api_tls.c - what `POST /pools` checks before the engine sends a pool's password anywhere: the
 * TLS certificate the pool presents (its SHA-256 fingerprint, read during a handshake that sends
 * no request), and plain http only to loopback unless asked.  docs/security.md, "TLS to pools".
 * Called on an API worker thread (blocking I/O, bounded by a 15 s timeout).
 */
#include "api/api_int.h"

#include "base/err.h"
#include "base/str.h"
#include "engine/engine.h"
#include "xapi/tls.h"

#include <curl/curl.h>
#include <string.h>

int api_tls_probe(const char *url, const char *ca_file, char fp[XAPI_FP_LEN], struct err *e)
{
    struct err pe = {0};
    struct xapi_pins *pins = xapi_pins_new(NULL, &pe); /* memory only: learns, stores nothing */
    struct tls_req t = {.pins = pins, .host = url, .tofu = true};
    CURL *c = curl_easy_init();
    CURLcode cc = CURLE_FAILED_INIT;
    int rc = 0;

    fp[0] = '\0';
    if (c && pins && xapi_tls_setup_easy(c, ca_file, &t, e) == 0) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L); /* the handshake, no request */
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
        cc = curl_easy_perform(c);
    }
    if (t.checked && t.presented[0])
        str_lcpy(fp, t.presented, XAPI_FP_LEN);
    if (cc != CURLE_OK && t.checked && t.chain_failed)
        rc = xapi_tls_explain(&t, NULL, e);
    else if (cc != CURLE_OK && !fp[0])
        rc = err_set(e, PP_ETRANSPORT, "%s: cannot reach the pool over TLS: %s", url,
                     curl_easy_strerror(cc));
    else if (cc != CURLE_OK)
        rc = err_set(e, PP_ETLS, "%s: TLS failed: %s", url, curl_easy_strerror(cc));
    curl_easy_cleanup(c);
    xapi_pins_free(pins);
    return rc;
}

/* Is url's host loopback (127.0.0.0/8, ::1, localhost)? */
static bool url_loopback(const char *url)
{
    CURLU *u = curl_url();
    char *host = NULL;
    bool lo = false;

    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        lo = str_has_prefix(host, "127.") || str_eq(host, "[::1]") || str_eq(host, "localhost");
    curl_free(host);
    curl_url_cleanup(u);
    return lo;
}

int api_pool_trust(const char *url, const char *ca_file, const char *confirmed, bool insecure_http,
                   char fp[XAPI_FP_LEN], struct err *e)
{
    char want[XAPI_FP_LEN];
    int rc;

    fp[0] = '\0';
    if (str_has_prefix(url, "http://"))
        return url_loopback(url) || insecure_http
                   ? 0
                   : err_set(e, PP_EINVAL,
                             "url: %s is plain http to another machine: the root password would "
                             "cross the network in clear; use https, or pass --insecure-http "
                             "(REST: \"insecure_http\": true) if you accept that",
                             url);
    if ((rc = api_tls_probe(url, ca_file, fp, e)) != 0)
        return rc;
    if (ca_file && !confirmed)
        return 0; /* chain and host name verified against the CA file */
    if (!confirmed)
        return err_set(e, PP_ESTATE,
                       "the pool's TLS certificate is not vouched for by a CA file; its SHA-256 "
                       "fingerprint is SHA256:%s. Check it on the pool (xe host-cert-info or "
                       "the console) and confirm it: pool add --fingerprint SHA256:%s (or answer "
                       "yes when asked on a terminal), or give --ca-file",
                       fp, fp);
    if (xapi_tls_fp_normalise(confirmed, want) != 0)
        return err_set(e, PP_EINVAL, "fingerprint: '%s' is not a SHA-256 fingerprint", confirmed);
    if (strcmp(want, fp) != 0)
        return err_set(e, PP_ETLS,
                       "the pool presents the certificate SHA256:%s, not the confirmed SHA256:%s; "
                       "refusing to send the password",
                       fp, want);
    return 0;
}

/*
 * POST /pools/{name}/trust {"fingerprint": "SHA256:...", "host"?: "ADDRESS"}: confirm the
 * certificate a pool waits on (state "certificate_unconfirmed", after a master change), or a
 * host's ahead of one.  200 with the pool object.  docs/security.md, "TLS to pools".
 */
void api_h_pool_trust(struct api_call *x)
{
    struct err e = {0};
    json_t *jf = NULL, *jh = NULL, *out = NULL;
    const char *fp = NULL, *host = NULL;
    json_error_t je;
    json_t *body = api_body(x, false, &e);
    int rc = body ? 0 : e.code;

    if (rc == 0 && json_unpack_ex(body, &je, 0, "{s?o s?o !}", "fingerprint", &jf, "host", &jh))
        rc = api_unpack_failed(&je, &e);
    if (rc == 0 && (rc = api_want_string("fingerprint", jf, true, &fp, &e)) == 0)
        rc = api_want_string("host", jh, false, &host, &e);
    if (rc == 0)
        rc = engine_pool_trust(api_server_engine(x->srv), x->m.param, host, fp, &out, &e);
    if (rc == 0)
        api_answer_json(x, 200, out);
    else
        api_answer_err(x, rc, &e);
    json_decref(out);
    json_decref(body);
}
