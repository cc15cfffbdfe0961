// headwater dashboard: polls /api/v1/streams every 2 s and renders a table.
// Every name or string from the API goes into the page through textContent
// or an attribute, never through HTML.
'use strict';
(function () {
  const POLL_MS = 2000;
  const $ = (id) => document.getElementById(id);
  const table = $('streams');
  const tbody = table.querySelector('tbody');
  const empty = $('empty');
  const status = $('status');
  const hint = $('hint');
  // bytes_in of the previous poll, by stream id (an id is new on every
  // publish, so a republished stream does not get a bogus delta).
  let prev = new Map();

  for (const el of document.querySelectorAll('.rtmp-base')) {
    el.textContent = 'rtmp://' + location.hostname + ':1935/live';
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c); // strings become text nodes
    return e;
  }

  const pad = (n) => String(n).padStart(2, '0');
  function duration(s) {
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (h) return h + 'h ' + pad(m) + 'm';
    if (m) return m + 'm ' + pad(sec) + 's';
    return sec + 's';
  }
  function bitrate(bps) {
    if (!Number.isFinite(bps) || bps < 0) return '–';
    if (bps >= 1e6) return (bps / 1e6).toFixed(2) + ' Mbit/s';
    return Math.round(bps / 1e3) + ' kbit/s';
  }
  const streamPath = (s) => '/' + encodeURIComponent(s.app) + '/' + encodeURIComponent(s.name);
  const flvURL = (s) => location.origin + streamPath(s) + '.flv';

  function setStatus(text, cls) {
    status.textContent = text;
    status.className = 'badge' + (cls ? ' ' + cls : '');
  }

  // Rows are kept and updated in place, keyed by app/name, so a refresh
  // does not lose a text selection (say, of a URL being copied).
  const rows = new Map(); // app/name -> {tr, cells}

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function newRow(s, key) {
    const cells = {
      link: el('a', { href: '/play' + streamPath(s), title: 'Play ' + key }, key),
      uptime: el('td', { class: 'num uptime' }),
      players: el('td', { class: 'num players' }),
      bitrate: el('td', { class: 'num bitrate' }),
      dropped: el('td', { class: 'num' }),
      remote: document.createTextNode(''),
      encoder: el('span', { class: 'enc' }),
      url: el('code', {}, flvURL(s)),
    };
    const tr = el('tr', { 'data-stream': key },
      el('td', { class: 'name' }, cells.link),
      cells.uptime, cells.players, cells.bitrate, cells.dropped,
      el('td', { class: 'publisher' }, cells.remote, cells.encoder),
      el('td', { class: 'url' }, cells.url));
    return { tr, cells };
  }

  function render(streams, now) {
    streams.sort((a, b) => (a.app + '/' + a.name).localeCompare(b.app + '/' + b.name));
    const next = new Map();
    const seen = new Set();
    streams.forEach((s, i) => {
      const key = s.app + '/' + s.name;
      seen.add(key);
      const p = prev.get(s.id);
      // First sight: the average since the publish began; then per poll.
      const bps = p ? ((s.bytes_in - p.bytes) * 8) / ((now - p.t) / 1000)
        : (s.uptime_seconds > 0 ? (s.bytes_in * 8) / s.uptime_seconds : NaN);
      next.set(s.id, { bytes: s.bytes_in, t: now });
      let r = rows.get(key);
      if (!r) {
        r = newRow(s, key);
        rows.set(key, r);
      }
      const c = r.cells;
      const pub = s.publisher || {};
      r.tr.setAttribute('data-id', String(s.id));
      setText(c.uptime, duration(s.uptime_seconds));
      setText(c.players, String(s.players));
      setText(c.bitrate, bitrate(bps));
      setText(c.dropped, String(s.dropped_frames));
      c.dropped.classList.toggle('dropped', s.dropped_frames > 0);
      setText(c.remote, pub.remote || '–');
      setText(c.encoder, pub.encoder || '');
      if (tbody.children[i] !== r.tr) tbody.insertBefore(r.tr, tbody.children[i] || null);
    });
    for (const [key, r] of rows) {
      if (!seen.has(key)) {
        r.tr.remove();
        rows.delete(key);
      }
    }
    prev = next;
    table.hidden = streams.length === 0;
    empty.hidden = streams.length !== 0;
    hint.hidden = streams.length === 0;
    if (streams.length) setText($('hint-ffplay'), 'ffplay ' + flvURL(streams[0]));
    const time = new Date().toLocaleTimeString([], { hour12: false });
    setStatus(streams.length + ' live · updated ' + time, streams.length ? 'ok' : '');
  }

  async function poll() {
    try {
      // The API pages its lists (100 by default): ask for its maximum.
      const resp = await fetch('/api/v1/streams?limit=1000', { cache: 'no-store' });
      if (!resp.ok) throw new Error('HTTP ' + resp.status);
      const data = await resp.json();
      render(data.streams || [], performance.now());
    } catch (e) {
      setStatus('API unreachable (' + e.message + '), retrying', 'bad');
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }
  poll();
})();
