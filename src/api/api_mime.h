/* SPDX-License-Identifier: MIT */
/*
 * api_mime.h - the file-extension -> MIME type table of the web assets, shared by the daemon
 * (api_mime_for) and the build-time tool that embeds the assets (tools/embed_assets.c), so that
 * both always agree.  Data only; include it in one .c file per program.
 */
#ifndef PP_API_API_MIME_H
#define PP_API_API_MIME_H

static const struct {
    const char *ext;
    const char *mime;
} api_mime_table[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
};

#endif
