/* SPDX-License-Identifier: MIT */
/*
 * csv.c - XenCenter-compatible CSV export of the update views (format in csv.h).
 */
#include "plan/csv.h"

#include <stddef.h>

#include "base/buf.h"
#include "base/str.h"

#define CSV_EOL "\r\n"

/* civil_from_days (Howard Hinnant's algorithm): days since 1970-01-01 to y/m/d. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* `MMM d, yyyy h:mm tt` in en-US (see csv.h). */
void csv_format_time(struct buf *b, int64_t t_ms, int tz_offset_min)
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (t_ms == 0)
        return;
    int64_t s = t_ms / 1000 - (t_ms % 1000 < 0 ? 1 : 0) + (int64_t)tz_offset_min * 60;
    int64_t days = s / 86400, rem = s % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int hour = (int)(rem / 3600), min = (int)(rem % 3600 / 60);
    int h12 = hour % 12 == 0 ? 12 : hour % 12;
    buf_printf(b, "%s %u, %04lld %d:%02d %s", months[m - 1], d, (long long)y, h12, min,
               hour < 12 ? "AM" : "PM");
}

static void bom(struct buf *b)
{
    buf_append(b, "\xEF\xBB\xBF", 3);
}

/* Append the By Update CSV (see csv.h). */
void csv_by_update(struct buf *b, const struct view_update_rows *rows, int tz_offset_min)
{
    bom(b);
    buf_puts(b, CSV_BY_UPDATE_HEADER CSV_EOL);
    struct buf t;
    buf_init(&t);
    for (size_t i = 0; rows && i < rows->n; i++) {
        const struct alert *a = rows->v[i].alert;
        buf_reset(&t);
        csv_format_time(&t, a->timestamp_ms, tz_offset_min);
        str_csv_field(b, a->title);
        buf_putc(b, ',');
        str_csv_field(b, a->description);
        buf_putc(b, ',');
        str_csv_field(b, a->applies_to);
        buf_putc(b, ',');
        str_csv_field(b, buf_str(&t));
        buf_putc(b, ',');
        str_csv_field(b, a->web_page);
        buf_puts(b, CSV_EOL);
    }
    buf_cleanup(&t);
}

/* Append the By Server CSV (see csv.h). */
void csv_by_server(struct buf *b, const struct view_server_rows *rows)
{
    bom(b);
    buf_puts(b, CSV_BY_SERVER_HEADER CSV_EOL);
    for (size_t i = 0; rows && i < rows->n; i++) {
        const struct view_server_row *r = &rows->v[i];
        if (r->is_pool)
            continue;
        str_csv_field(b, r->pool_name);
        buf_putc(b, ',');
        str_csv_field(b, r->server);
        buf_putc(b, ',');
        str_csv_field(b, r->version);
        buf_putc(b, ',');
        str_csv_field(b, r->status);
        buf_putc(b, ',');
        str_csv_field(b, r->required);
        buf_putc(b, ',');
        str_csv_field(b, r->installed);
        buf_puts(b, CSV_EOL);
    }
}
