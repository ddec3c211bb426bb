// SPDX-License-Identifier: MIT
// api.js - the web UI's client of the daemon's REST API: the token (kept in localStorage,
// pasted once by the user), JSON requests with errors as exceptions, CSV downloads, and the
// Server-Sent Events stream read with fetch() so the token travels in a header, never in a URL.

const TOKEN_KEY = 'poolpatch.token';

export function getToken() {
  return localStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(t) {
  if (t) localStorage.setItem(TOKEN_KEY, t.trim());
  else localStorage.removeItem(TOKEN_KEY);
}

// An error answered by the daemon: {"error":{"code","message","xapi_code"}}.
export class ApiError extends Error {
  constructor(status, code, message, xapiCode, detail) {
    super(message);
    this.status = status;
    this.code = code;
    this.xapiCode = xapiCode || null;
    this.detail = detail || {}; // the whole error object (e.g. fingerprint_unconfirmed's fingerprint)
  }
}

async function errorFrom(resp) {
  let code = 'http_' + resp.status, msg = resp.statusText || 'request failed', xapi = null, detail = null;
  try {
    const body = await resp.json();
    if (body && body.error) {
      code = body.error.code || code;
      msg = body.error.message || msg;
      xapi = body.error.xapi_code || null;
      detail = body.error;
    }
  } catch (_) { /* not JSON */ }
  return new ApiError(resp.status, code, msg, xapi, detail);
}

// One request; resolves to the parsed JSON (null for 204), throws ApiError.
export async function api(method, path, body) {
  const headers = { 'Authorization': 'Bearer ' + getToken(), 'Accept': 'application/json' };
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch('/api/v1' + path, init);
  } catch (e) {
    throw new ApiError(0, 'unreachable', 'The daemon does not answer (' + e.message + ').');
  }
  if (!resp.ok) throw await errorFrom(resp);
  if (resp.status === 204) return null;
  return resp.json();
}

// Send an update file (a File from an <input type=file>) to the daemon, streamed as the request
// body (POST /files?name=NAME; docs/rest-api.md, "Update files"). Resolves to what the daemon
// found inside it ({id, name, update: {uuid, name_label, version, ...}}); throws ApiError (400:
// not a valid update, 413: over the daemon's max_upload).
export async function uploadFile(file) {
  let resp;
  try {
    resp = await fetch('/api/v1/files?name=' + encodeURIComponent(file.name), {
      method: 'POST', body: file, cache: 'no-store',
      headers: { 'Authorization': 'Bearer ' + getToken(), 'Accept': 'application/json', 'Content-Type': 'application/octet-stream' },
    });
  } catch (e) {
    throw new ApiError(0, 'unreachable', 'The daemon does not answer (' + e.message + ').');
  }
  if (!resp.ok) throw await errorFrom(resp);
  return resp.json();
}

// Download a CSV export as a file (the token must go in a header, so no plain link).
export async function downloadCsv(view) {
  const resp = await fetch('/api/v1/updates/export.csv?view=' + encodeURIComponent(view), {
    headers: { 'Authorization': 'Bearer ' + getToken() }, cache: 'no-store',
  });
  if (!resp.ok) throw await errorFrom(resp);
  const blob = await resp.blob();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = 'updates-' + view + '.csv';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// Parse SSE text incrementally; calls onEvent(eventName, data) per complete event.
export function sseParser(onEvent) {
  let buf = '', data = [], name = '';
  return (chunk) => {
    buf += chunk;
    let i;
    while ((i = buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = buf.slice(0, i);
      const nl = buf[i] === '\r' && buf[i + 1] === '\n' ? 2 : 1;
      if (buf[i] === '\r' && i + 1 === buf.length) break; // CRLF may be split: wait
      buf = buf.slice(i + nl);
      if (line === '') {
        if (data.length) onEvent(name || 'message', data.join('\n'));
        data = []; name = '';
      } else if (line[0] === ':') {
        // comment / heartbeat
      } else {
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        let val = c < 0 ? '' : line.slice(c + 1);
        if (val[0] === ' ') val = val.slice(1);
        if (field === 'data') data.push(val);
        else if (field === 'event') name = val;
      }
    }
  };
}

// Follow /api/v1/events forever (reconnecting with backoff).  onProgress(eventObject);
// onState(true|false) tells whether the stream is up.  Returns a stop() function.
export function followEvents(onProgress, onState) {
  let stopped = false, ctrl = null, delay = 1000;
  async function loop() {
    while (!stopped) {
      ctrl = new AbortController();
      try {
        const resp = await fetch('/api/v1/events', {
          headers: { 'Authorization': 'Bearer ' + getToken(), 'Accept': 'text/event-stream' },
          signal: ctrl.signal, cache: 'no-store',
        });
        if (!resp.ok) throw await errorFrom(resp);
        onState(true);
        delay = 1000;
        const reader = resp.body.getReader();
        const dec = new TextDecoder();
        const feed = sseParser((name, data) => {
          if (name !== 'progress') return;
          try { onProgress(JSON.parse(data)); } catch (_) { /* ignore a bad event */ }
        });
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          feed(dec.decode(value, { stream: true }));
        }
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) { onState(false, e); return; }
      }
      onState(false);
      if (stopped) return;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 30000);
    }
  }
  loop();
  return () => { stopped = true; if (ctrl) ctrl.abort(); };
}
