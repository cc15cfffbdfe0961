// headwater's shared page helpers: the live event stream, a history of
// snapshots, uPlot charts and canvas sparklines. The pages keep all history
// in the browser; the server sends one snapshot a second and keeps none.
'use strict';
window.HW = (function () {
  const HISTORY = 600; // 10 minutes of one snapshot a second

  // el builds an element; strings become text nodes, never HTML.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }

  const pad = (n) => String(n).padStart(2, '0');
  const fmt = {
    duration(s) {
      s = Math.max(0, Math.floor(s));
      const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
      if (h) return h + 'h ' + pad(m) + 'm';
      if (m) return m + 'm ' + pad(sec) + 's';
      return sec + 's';
    },
    bitrate(bps) {
      if (!Number.isFinite(bps) || bps < 0) return '–';
      if (bps >= 1e6) return (bps / 1e6).toFixed(2) + ' Mbit/s';
      return Math.round(bps / 1e3) + ' kbit/s';
    },
    num: (v) => (v == null || !Number.isFinite(v) ? '–' : Math.abs(v) >= 100 ? String(Math.round(v)) : String(+v.toFixed(2))),
    bytes(b) {
      if (!Number.isFinite(b)) return '–';
      if (b >= 1 << 30) return (b / (1 << 30)).toFixed(2) + ' GiB';
      if (b >= 1 << 20) return (b / (1 << 20)).toFixed(1) + ' MiB';
      if (b >= 1 << 10) return (b / (1 << 10)).toFixed(1) + ' KiB';
      return b + ' B';
    },
  };

  // events calls onSnapshot with each snapshot of /api/v1/events and
  // onState with 'live' or an error text. EventSource reconnects by itself.
  function events(onSnapshot, onState) {
    const es = new EventSource('/api/v1/events');
    es.addEventListener('snapshot', (e) => {
      let s;
      try { s = JSON.parse(e.data); } catch (err) { return onState('bad event: ' + err.message); }
      onState('live');
      onSnapshot(s);
    });
    es.onerror = () => onState(es.readyState === EventSource.CLOSED ? 'event stream closed' : 'reconnecting…');
    return es;
  }

  // Series is a bounded time series: x in seconds, one array per line.
  class Series {
    constructor(lines) { this.x = []; this.y = Array.from({ length: lines }, () => []); }
    push(t, ...vals) {
      this.x.push(t);
      vals.forEach((v, i) => this.y[i].push(Number.isFinite(v) ? v : null));
      if (this.x.length > HISTORY) {
        this.x.shift();
        for (const y of this.y) y.shift();
      }
    }
    data() { return [this.x, ...this.y]; }
    last(i) { const y = this.y[i || 0]; return y.length ? y[y.length - 1] : null; }
  }

  const COLORS = ['#0e6ba8', '#d1495b', '#1a7f46', '#a86a00', '#6a4c93'];

  // chart draws a uPlot line chart of series in target; update() redraws.
  function chart(target, title, labels, format, series) {
    const opts = {
      title,
      width: Math.max(240, target.clientWidth || 380),
      height: 150,
      scales: { x: { time: true }, y: { range: (u, min, max) => [Math.min(0, min), Math.max(1, max * 1.1)] } },
      axes: [
        { stroke: '#5d6b7d', grid: { stroke: '#eef2f6' } },
        { stroke: '#5d6b7d', grid: { stroke: '#eef2f6' }, size: 56, values: (u, vals) => vals.map(format) },
      ],
      series: [{}].concat(labels.map((label, i) => ({
        label, stroke: COLORS[i % COLORS.length], width: 1.5, points: { show: false },
        value: (u, v) => (v == null ? '–' : format(v)),
      }))),
      legend: { live: true },
    };
    const u = new uPlot(opts, series.data(), target);
    const resize = () => u.setSize({ width: Math.max(240, target.clientWidth), height: 150 });
    window.addEventListener('resize', resize);
    return { u, update: () => u.setData(series.data()) };
  }

  // sparkline draws values (nulls skipped) into a small canvas.
  function sparkline(canvas, values, color) {
    const ctx = canvas.getContext('2d');
    const w = canvas.width, h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    const vs = values.filter((v) => v != null);
    if (vs.length < 2) return;
    const max = Math.max(...vs, 1e-9), min = Math.min(0, ...vs);
    ctx.strokeStyle = color || COLORS[0];
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    values.forEach((v, i) => {
      if (v == null) return;
      const x = (i / (values.length - 1)) * (w - 2) + 1;
      const y = h - 2 - ((v - min) / (max - min || 1)) * (h - 4);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }

  // rate turns a counter into a per-second rate against the previous
  // snapshot (null at first, or when the counter went back: a restart).
  function rate(prev, cur, field, scale) {
    if (!prev) return null;
    const dt = (cur.time - prev.time) / 1000;
    const d = cur[field] - prev[field];
    return dt > 0 && d >= 0 ? (d / dt) * (scale || 1) : null;
  }

  return { HISTORY, el, fmt, events, Series, chart, sparkline, rate };
})();
