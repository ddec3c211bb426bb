/* SPDX-License-Identifier: MIT */
/*
 * test_xapi_tls.c - issue 13 finding 2: with a CA file the certificate chain and the host name are
 * verified and the pin is checked on top; a server whose certificate the CA file did not sign is
 * refused before any request byte is sent, with a message that says so.  Against `openssl
 * s_server` on 127.0.0.1 with certificates made here (a CA, a server certificate it signed for
 * IP 127.0.0.1, and a self-signed one).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/mem.h"
#include "xapi/client.h"
#include "xapi/tls.h"

static char dir[64];

static int sh(const char *fmt, const char *a)
{
    char *cmd = xasprintf(fmt, a, a, a, a, a, a, a, a);
    int rc = system(cmd);
    free(cmd);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/pp-tls-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    /* a CA; a server certificate it signs for 127.0.0.1; a self-signed one; another CA */
    return sh("cd %s && "
              "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 "
              "-subj /CN=test-ca 2>/dev/null && "
              "openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr "
              "-subj /CN=pool-master 2>/dev/null && "
              "printf 'subjectAltName=IP:127.0.0.1\\n' > ext && "
              "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
              "-out srv.crt -days 2 -extfile ext 2>/dev/null && "
              "openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt "
              "-days 2 -subj /CN=other-ca 2>/dev/null",
              dir) == 0
               ? 0
               : -1;
}

static int teardown(void **state)
{
    (void)state;
    sh("rm -rf '%s'", dir);
    return 0;
}

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* openssl s_server with srv.crt on 127.0.0.1:port; returns its pid once it accepts. */
static pid_t server_start(int port)
{
    char acc[32];
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        snprintf(acc, sizeof acc, "127.0.0.1:%d", port);
        if (chdir(dir) != 0)
            _exit(127);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execlp("openssl", "openssl", "s_server", "-accept", acc, "-cert", "srv.crt", "-key",
               "srv.key", "-www", "-quiet", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) { /* wait until it listens */
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        close(fd);
        if (ok)
            break;
        usleep(50 * 1000);
    }
    return pid;
}

/* One GET through xapi_tls_setup_easy; the CURLcode, and t filled. */
static CURLcode get(const char *url, const char *ca_file, struct tls_req *t, long *bytes)
{
    CURL *c = curl_easy_init();
    struct err e = {0};
    CURLcode cc;
    curl_off_t dl = 0;
    FILE *sink = fopen("/dev/null", "w");

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fwrite);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
    assert_int_equal(xapi_tls_setup_easy(c, ca_file, t, &e), 0);
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &dl);
    *bytes = (long)dl;
    curl_easy_cleanup(c);
    fclose(sink);
    return cc;
}

static void test_ca_file_honoured_with_pinning(void **state)
{
    int port = free_port();
    pid_t pid = server_start(port);
    char *url = xasprintf("https://127.0.0.1:%d/", port);
    char *ca = xasprintf("%s/ca.crt", dir), *other = xasprintf("%s/other.crt", dir);
    char *pinfile = xasprintf("%s/known_hosts", dir);
    struct err e = {0};
    struct xapi_pins *pins = xapi_pins_new(pinfile, &e);
    struct tls_req t = {.pins = pins, .host = "127.0.0.1", .tofu = true};
    char srv_fp[XAPI_FP_LEN], *srv = xasprintf("%s/srv.crt", dir);
    long bytes = 0;
    (void)state;

    assert_non_null(pins);
    assert_int_equal(xapi_tls_fp_of_pem_file(srv, srv_fp, &e), 0);
    /* a CA file that did not sign the server: refused, even though trust on first use is on */
    assert_int_not_equal(get(url, other, &t, &bytes), CURLE_OK);
    assert_true(t.chain_failed);
    assert_int_equal(bytes, 0);
    assert_int_equal(xapi_tls_explain(&t, "x", &e), PP_ETLS);
    assert_non_null(strstr(e.msg, "not signed by the CA file"));
    assert_null(xapi_pins_get(pins, "127.0.0.1")); /* nothing learned */
    /* the right CA file: chain and host name verify, the pin is learned on top */
    t = (struct tls_req){.pins = pins, .host = "127.0.0.1", .tofu = true};
    assert_int_equal(get(url, ca, &t, &bytes), CURLE_OK);
    assert_true(bytes > 0);
    assert_int_equal(t.verdict, PIN_LEARN);
    assert_string_equal(t.presented, srv_fp);
    /* the pin holds even with the CA file: a different pinned value is refused */
    assert_int_equal(xapi_pins_set(pins, "127.0.0.1", "00:11", &e), 0);
    t = (struct tls_req){.pins = pins, .host = "127.0.0.1", .tofu = true};
    assert_int_not_equal(get(url, ca, &t, &bytes), CURLE_OK);
    assert_int_equal(t.verdict, PIN_MISMATCH);
    /* no pin store: plain verification with the CA file still refuses the wrong CA */
    t = (struct tls_req){.host = "127.0.0.1"};
    assert_int_not_equal(get(url, other, &t, &bytes), CURLE_OK);
    t = (struct tls_req){.host = "127.0.0.1"};
    assert_int_equal(get(url, ca, &t, &bytes), CURLE_OK);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    xapi_pins_free(pins);
    free(url);
    free(ca);
    free(other);
    free(srv);
    free(pinfile);
}

/* --verify-ca (ca_file XAPI_CA_SYSTEM): the chain is verified against the system bundle - libcurl's
 * own (which does not hold this test's CA: refused, naming the system bundle), or the one set
 * with xapi_tls_set_system_bundle (the test's CA: accepted, pin learned; another CA: refused).
 * Before, "@system" was not understood and --verify-ca did not exist. */
static void test_verify_ca_system_bundle(void **state)
{
    int port = free_port();
    pid_t pid = server_start(port);
    char *url = xasprintf("https://127.0.0.1:%d/", port);
    char *ca = xasprintf("%s/ca.crt", dir), *other = xasprintf("%s/other.crt", dir);
    struct err e = {0};
    struct xapi_pins *pins = xapi_pins_new(NULL, &e);
    struct tls_req t = {.pins = pins, .host = "127.0.0.1", .tofu = true};
    long bytes = 0;
    (void)state;

    xapi_tls_set_system_bundle(NULL); /* libcurl's built-in bundle (Debian's ca-certificates) */
    assert_int_not_equal(get(url, XAPI_CA_SYSTEM, &t, &bytes), CURLE_OK);
    assert_true(t.chain_failed && t.ca_system);
    assert_int_equal(bytes, 0);
    assert_int_equal(xapi_tls_explain(&t, "x", &e), PP_ETLS);
    assert_non_null(strstr(e.msg, "system CA bundle"));
    assert_null(xapi_pins_get(pins, "127.0.0.1"));
    xapi_tls_set_system_bundle(other); /* a bundle without the server's CA */
    t = (struct tls_req){.pins = pins, .host = "127.0.0.1", .tofu = true};
    assert_int_not_equal(get(url, XAPI_CA_SYSTEM, &t, &bytes), CURLE_OK);
    assert_true(t.chain_failed);
    xapi_tls_set_system_bundle(ca); /* the bundle holds the CA: verified, pinned on top */
    t = (struct tls_req){.pins = pins, .host = "127.0.0.1", .tofu = true};
    assert_int_equal(get(url, XAPI_CA_SYSTEM, &t, &bytes), CURLE_OK);
    assert_true(bytes > 0);
    assert_int_equal(t.verdict, PIN_LEARN);
    assert_int_equal(xapi_pins_set(pins, "127.0.0.1", "00:11", &e), 0);
    t = (struct tls_req){.pins = pins, .host = "127.0.0.1", .tofu = true};
    assert_int_not_equal(get(url, XAPI_CA_SYSTEM, &t, &bytes), CURLE_OK);
    assert_int_equal(t.verdict, PIN_MISMATCH); /* the pin still holds */
    xapi_tls_set_system_bundle(NULL);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    xapi_pins_free(pins);
    free(url);
    free(ca);
    free(other);
}

#define FP_X                                                                                       \
    "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:"   \
    "88:99"
#define FP_Y                                                                                       \
    "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:"   \
    "CD:EF"

/* The trust decisions after a master change (issue 13), pure: the policy without a CA file, which
 * refused host a pool waits on, and whether a user's confirmation may be pinned. */
static void test_trust_decisions(void **state)
{
    (void)state;
    struct err e = {0};
    char host[256];
    /* no CA file: only pinned fingerprints pass; a new host or a changed one waits */
    assert_int_equal(xapi_pin_decide(FP_X, FP_X, false), PIN_MATCH);
    assert_int_equal(xapi_pin_decide(NULL, FP_X, false), PIN_UNKNOWN);
    assert_int_equal(xapi_pin_decide(FP_Y, FP_X, false), PIN_MISMATCH);
    assert_int_equal(xapi_pin_decide(FP_Y, FP_X, true), PIN_MISMATCH); /* even with a CA */

    struct xapi_untrusted v[3] = {{.host = "10.0.0.2", .presented = FP_X},
                                  {.host = "10.0.0.3", .presented = FP_Y},
                                  {.host = "10.0.0.4", .presented = FP_X}};
    assert_int_equal(xapi_untrusted_pick(v, 3, "10.0.0.3", "10.0.0.4"), 1); /* named master */
    assert_int_equal(xapi_untrusted_pick(v, 3, "10.0.0.9", "10.0.0.4"), 2); /* client's master */
    assert_int_equal(xapi_untrusted_pick(v, 3, NULL, NULL), 0);             /* the first */

    /* confirming what the pool waits on: the presented fingerprint, in any spelling */
    assert_int_equal(xapi_trust_check(&v[1], NULL,
                                      "sha256:0123456789abcdef0123456789abcdef"
                                      "0123456789abcdef0123456789abcdef",
                                      host, &e),
                     0);
    assert_string_equal(host, "10.0.0.3");
    assert_int_equal(xapi_trust_check(&v[1], NULL, "SHA256:" FP_X, host, &e), PP_ETLS);
    assert_non_null(strstr(e.msg, "not the confirmed"));
    assert_string_equal(host, "");
    assert_int_equal(xapi_trust_check(&v[1], "10.0.0.3", FP_X, host, &e), PP_ETLS);
    assert_int_equal(xapi_trust_check(&v[1], NULL, "SHA256:12:34", host, &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "SHA256:12:34"));
    assert_int_equal(xapi_trust_check(NULL, NULL, FP_X, host, &e), PP_ESTATE);
    /* ahead of a planned master change: a named host is pinned as the user says */
    assert_int_equal(xapi_trust_check(NULL, "10.0.0.7", FP_X, host, &e), 0);
    assert_string_equal(host, "10.0.0.7");
    assert_int_equal(xapi_trust_check(&v[1], "10.0.0.7", FP_X, host, &e), 0);
}

/* A pool's host certificates from its Certificate and host records (xapi's datamodel: type
 * "host" is the API port's; "host_internal" and "ca" are not; no type = before xapi 1.294). */
static void test_host_certificates_from_records(void **state)
{
    (void)state;
    struct xapi_value *hosts = xapi_value_new_struct(), *certs = xapi_value_new_struct(), *r;
    const char *const h[][2] = {{"OpaqueRef:h1", "10.0.0.1"}, {"OpaqueRef:h2", "10.0.0.2"}};
    for (size_t i = 0; i < 2; i++) {
        r = xapi_value_new_struct();
        xapi_struct_set_string(r, "address", h[i][1]);
        xapi_struct_append_take(hosts, xstrdup(h[i][0]), r);
    }
    const char *const c[][3] = {{"host", "OpaqueRef:h1", FP_X},
                                {"host_internal", "OpaqueRef:h1", FP_Y},
                                {"ca", "OpaqueRef:NULL", FP_Y},
                                {"", "OpaqueRef:h2",
                                 "0123456789abcdef0123456789abcdef"
                                 "0123456789abcdef0123456789abcdef"},
                                {"host", "OpaqueRef:gone", FP_Y},
                                {"host", "OpaqueRef:h2", "not a fingerprint"}};
    for (size_t i = 0; i < 6; i++) {
        r = xapi_value_new_struct();
        if (*c[i][0])
            xapi_struct_set_string(r, "type", c[i][0]);
        xapi_struct_set_string(r, "host", c[i][1]);
        xapi_struct_set_string(r, "fingerprint", c[i][2]);
        xapi_struct_append_take(certs, xasprintf("OpaqueRef:c%zu", i), r);
    }
    struct xapi_untrusted v[8];
    assert_int_equal(xapi_host_certificates(certs, hosts, v, 8), 2);
    assert_string_equal(v[0].host, "10.0.0.1");
    assert_string_equal(v[0].presented, FP_X);
    assert_string_equal(v[1].host, "10.0.0.2");
    assert_string_equal(v[1].presented, FP_Y); /* normalised */
    assert_int_equal(xapi_host_certificates(certs, hosts, v, 1), 1);
    assert_int_equal(xapi_host_certificates(NULL, hosts, v, 8), 0);
    xapi_value_free(hosts);
    xapi_value_free(certs);
}

/* Two stores of one known-hosts file (two pools' clients): neither loses the other's pins. */
static void test_pins_shared_file(void **state)
{
    (void)state;
    struct err e = {0};
    char *path = xasprintf("%s/shared_known_hosts", dir);
    struct xapi_pins *a = xapi_pins_new(path, &e), *b = xapi_pins_new(path, &e);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(xapi_pins_set(a, "10.0.0.1", FP_X, &e), 0);
    assert_int_equal(xapi_pins_set(b, "10.0.1.1", FP_Y, &e), 0); /* b loaded before a wrote */
    assert_int_equal(xapi_pins_set(a, "10.0.0.2", FP_Y, &e), 0);
    struct xapi_pins *now = xapi_pins_new(path, &e);
    assert_string_equal(xapi_pins_get(now, "10.0.0.1"), FP_X);
    assert_string_equal(xapi_pins_get(now, "10.0.1.1"), FP_Y);
    assert_string_equal(xapi_pins_get(now, "10.0.0.2"), FP_Y);
    xapi_pins_free(now);
    xapi_pins_free(a);
    xapi_pins_free(b);
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ca_file_honoured_with_pinning),
        cmocka_unit_test(test_verify_ca_system_bundle),
        cmocka_unit_test(test_trust_decisions),
        cmocka_unit_test(test_pins_shared_file),
        cmocka_unit_test(test_host_certificates_from_records),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, setup, teardown);
}
