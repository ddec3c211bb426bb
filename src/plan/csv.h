/* SPDX-License-Identifier: MIT */
/*
 * csv.h - CSV export of the By Update and By Server views, byte for byte as XenCenter writes it
 * (docs/reference/xencenter.md section 4; xenserver/xenadmin
 * XenAdmin/TabPages/ManageUpdatesPage.cs toolStripButtonExportAll_Click and
 * GetHostUpdateDetailsCsvQuotes, XenAdmin/Alerts/AlertExtensions.cs GetUpdateDetailsCSVQuotes):
 *
 *   - UTF-8 with a byte order mark (StreamWriter with Encoding.UTF8 writes EF BB BF);
 *   - every line ends with CR LF (StreamWriter.WriteLine on Windows);
 *   - the header line is unquoted: `Title,Description,Applies To,TimeStamp,Web Page` and
 *     `Pool,Server,Version,Status,Required Updates,Installed Updates`;
 *   - every data field is quoted, embedded quotes doubled; lists are joined with ", ";
 *   - TimeStamp is local time `MMM d, yyyy h:mm tt` (en-US: "Jan 10, 2023 1:05 PM"); the local
 *     offset is a parameter so output is deterministic.
 *   - By Server exports host rows only (no pool rows), like XenCenter.
 *
 * Pure; appends to a caller-owned buffer.
 */
#ifndef PP_PLAN_CSV_H
#define PP_PLAN_CSV_H

#include <stdint.h>

#include "plan/views.h"

struct buf;

#define CSV_BY_UPDATE_HEADER "Title,Description,Applies To,TimeStamp,Web Page"
#define CSV_BY_SERVER_HEADER "Pool,Server,Version,Status,Required Updates,Installed Updates"

/* Append the By Update CSV of rows to b; tz_offset_min is the local time's offset from UTC in
 * minutes (e.g. 60 for UTC+1). */
void csv_by_update(struct buf *b, const struct view_update_rows *rows, int tz_offset_min);
/* Append the By Server CSV of rows (host rows only) to b. */
void csv_by_server(struct buf *b, const struct view_server_rows *rows);
/* Append t_ms formatted as `MMM d, yyyy h:mm tt` at tz_offset_min; nothing when t_ms is 0
 * (unknown). */
void csv_format_time(struct buf *b, int64_t t_ms, int tz_offset_min);

#endif
