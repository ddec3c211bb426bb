/* SPDX-License-Identifier: MIT */
/* jsonx.c - jansson helpers (see jsonx.h). */
#include "jsonx.h"
#include "buf.h"
#include "err.h"
#include "mem.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int jsonx_depth(const json_t *v)
{
    int best = 0;

    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            int d = jsonx_depth(x);
            if (d > best)
                best = d;
        }
        return best + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            int d = jsonx_depth(x);
            if (d > best)
                best = d;
        }
        return best + 1;
    }
    return 0;
}

/* Depth check on raw text before parsing, so hostile nesting never reaches the parser's stack. */
static int text_depth_ok(const char *data, size_t len, int max_depth)
{
    int depth = 0;
    bool in_str = false, esc = false;

    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"')
            in_str = true;
        else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                return 0;
        } else if (c == ']' || c == '}')
            depth--;
    }
    return 1;
}

int jsonx_load(const char *data, size_t len, size_t max_len, int max_depth, const char *what,
               json_t **out, struct err *e)
{
    json_error_t je;
    json_t *v;

    *out = NULL;
    if (!what)
        what = "JSON input";
    if (len > max_len)
        return err_set(e, PP_ELIMIT, "%s: %zu bytes is over the limit of %zu bytes", what, len,
                       max_len);
    if (max_depth <= 0)
        max_depth = JSONX_DEFAULT_MAX_DEPTH;
    if (!text_depth_ok(data, len, max_depth))
        return err_set(e, PP_ELIMIT, "%s: nesting deeper than %d levels", what, max_depth);
    v = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!v)
        return err_set(e, PP_EPARSE, "%s: line %d, column %d: %s", what, je.line, je.column,
                       je.text);
    *out = v;
    return 0;
}

int jsonx_load_file(const char *path, size_t max_len, int max_depth, json_t **out, struct err *e)
{
    FILE *fp;
    struct buf b;
    char chunk[65536];
    size_t n;
    int rc;

    *out = NULL;
    fp = fopen(path, "rb");
    if (!fp)
        return err_set(e, PP_EIO, "%s: cannot open: %s", path, strerror(errno));
    buf_init(&b);
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        if (b.len + n > max_len) {
            fclose(fp);
            buf_cleanup(&b);
            return err_set(e, PP_ELIMIT, "%s: file is over the limit of %zu bytes", path, max_len);
        }
        buf_append(&b, chunk, n);
    }
    if (ferror(fp)) {
        fclose(fp);
        buf_cleanup(&b);
        return err_set(e, PP_EIO, "%s: read error", path);
    }
    fclose(fp);
    rc = jsonx_load(buf_str(&b), b.len, max_len, max_depth, path, out, e);
    buf_cleanup(&b);
    return rc;
}

const char *jsonx_str(const json_t *obj, const char *key, const char *def)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : def;
}

int64_t jsonx_int(const json_t *obj, const char *key, int64_t def)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

double jsonx_num(const json_t *obj, const char *key, double def)
{
    json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : def;
}

bool jsonx_bool(const json_t *obj, const char *key, bool def)
{
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

int jsonx_check_keys(const json_t *o, const char *const *keys, const char *path, struct err *e)
{
    if (!json_is_object(o))
        return err_set(e, PP_EINVAL, "%s: expected an object", path);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], k) != 0)
            i++;
        if (!keys[i])
            return err_set(e, PP_EINVAL, "%s.%s: unknown field", path, k);
    }
    return 0;
}

static int dump_cb(const char *p, size_t n, void *data)
{
    buf_append((struct buf *)data, p, n);
    return 0;
}

void jsonx_dump(struct buf *b, const json_t *v, size_t flags)
{
    json_dump_callback(v, dump_cb, b, flags | JSON_ENCODE_ANY);
}
