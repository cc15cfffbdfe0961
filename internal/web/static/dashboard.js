// headwater dashboard: server charts for the last 10 minutes and a table of
// live streams with sparklines, updated from /api/v1/events once a second
// without a reload. Every name or string from the server goes into the page
// through textContent or an attribute, never through HTML.
'use strict';
(function () {
  const { el, fmt, Series } = HW;
  const $ = (id) => document.getElementById(id);
  const table = $('streams');
  const tbody = table.querySelector('tbody');
  const empty = $('empty');
  const status = $('status');
  const hint = $('hint');
  const SPARK = 120; // points per sparkline: the last 2 minutes

  for (const e of document.querySelectorAll('.rtmp-base')) {
    e.textContent = 'rtmp://' + location.hostname + ':1935/live';
  }

  // Server series, and what the tests read (window.headwaterDashboard).
  const series = {
    players: new Series(3), traffic: new Series(2), streams: new Series(1),
    problems: new Series(2), cpu: new Series(1), rss: new Series(1),
  };
  const state = (window.headwaterDashboard = { snapshots: 0, last: null, series });
  const charts = [
    HW.chart($('chart-players'), 'Players', ['HTTP-FLV', 'RTMP', 'WS-FLV'], fmt.num, series.players),
    HW.chart($('chart-traffic'), 'Traffic, Mbit/s', ['egress', 'ingress'], fmt.num, series.traffic),
    HW.chart($('chart-streams'), 'Live streams', ['streams'], fmt.num, series.streams),
    HW.chart($('chart-problems'), 'Per second', ['refusals', 'dropped frames'], fmt.num, series.problems),
    HW.chart($('chart-cpu'), 'Process CPU, %', ['CPU'], fmt.num, series.cpu),
    HW.chart($('chart-rss'), 'Process RSS, MiB', ['RSS'], fmt.num, series.rss),
  ];

  const streamPath = (s) => '/' + encodeURIComponent(s.app) + '/' + encodeURIComponent(s.name);
  const flvURL = (s) => location.origin + streamPath(s) + '.flv';
  const videoText = (v) => (v ? [v.codec, v.width && v.height ? v.width + '×' + v.height : '',
    v.fps ? fmt.num(v.fps) + ' fps' : ''].filter(Boolean).join(' ') : '–');

  function setStatus(text, cls) {
    status.textContent = text;
    status.className = 'badge' + (cls ? ' ' + cls : '');
  }
  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  // Rows are kept and updated in place, keyed by app/name, so an update
  // does not lose a text selection (say, of a URL being copied).
  const rows = new Map(); // app/name -> {tr, cells, id, bitrate: [], players: []}

  function newRow(s, key) {
    const spark = () => el('canvas', { class: 'spark', width: '80', height: '20' });
    const cells = {
      link: el('a', { href: '/streams' + streamPath(s), title: 'Stream page of ' + key }, key),
      play: el('a', { href: '/play' + streamPath(s), class: 'play', title: 'Play ' + key }, 'play'),
      uptime: el('td', { class: 'num uptime' }),
      players: el('span', { class: 'players' }),
      playersSpark: spark(),
      bitrate: el('span', { class: 'bitrate' }),
      bitrateSpark: spark(),
      dropped: el('td', { class: 'num' }),
      video: el('td', { class: 'video' }),
      url: el('code', {}, flvURL(s)),
    };
    const tr = el('tr', { 'data-stream': key },
      el('td', { class: 'name' }, cells.link, ' ', cells.play),
      cells.uptime,
      el('td', { class: 'num' }, cells.playersSpark, cells.players),
      el('td', { class: 'num' }, cells.bitrateSpark, cells.bitrate),
      cells.dropped, cells.video,
      el('td', { class: 'url' }, cells.url));
    return { tr, cells, id: 0, bitrate: [], players: [] };
  }

  function renderStreams(streams) {
    const seen = new Set();
    streams.forEach((s, i) => {
      const key = s.app + '/' + s.name;
      seen.add(key);
      let r = rows.get(key);
      if (!r) {
        r = newRow(s, key);
        rows.set(key, r);
      }
      if (r.id !== s.id) { // a new publish of the key: a new history
        r.id = s.id;
        r.bitrate = [];
        r.players = [];
      }
      r.bitrate.push(s.bitrate_in);
      r.players.push(s.players);
      if (r.bitrate.length > SPARK) { r.bitrate.shift(); r.players.shift(); }
      const c = r.cells;
      r.tr.setAttribute('data-id', String(s.id));
      setText(c.uptime, fmt.duration(s.uptime_seconds));
      setText(c.players, String(s.players));
      setText(c.bitrate, fmt.bitrate(s.bitrate_in));
      setText(c.dropped, String(s.dropped_frames));
      c.dropped.classList.toggle('dropped', s.dropped_frames > 0);
      setText(c.video, videoText(s.video));
      HW.sparkline(c.bitrateSpark, r.bitrate, '#0e6ba8');
      HW.sparkline(c.playersSpark, r.players, '#1a7f46');
      if (tbody.children[i] !== r.tr) tbody.insertBefore(r.tr, tbody.children[i] || null);
    });
    for (const [key, r] of rows) {
      if (!seen.has(key)) {
        r.tr.remove();
        rows.delete(key);
      }
    }
    table.hidden = streams.length === 0;
    empty.hidden = streams.length !== 0;
    hint.hidden = streams.length === 0;
    if (streams.length) setText($('hint-ffplay'), 'ffplay ' + flvURL(streams[0]));
  }

  function onSnapshot(s) {
    const prev = state.last;
    const t = s.time / 1000;
    const players = Object.values(s.players || {}).reduce((a, b) => a + b, 0);
    const by = s.players || {};
    series.players.push(t, by['http-flv'] || 0, by['rtmp'] || 0, by['ws-flv'] || 0);
    series.traffic.push(t, HW.rate(prev, s, 'bytes_out', 8 / 1e6), HW.rate(prev, s, 'bytes_in', 8 / 1e6));
    series.streams.push(t, s.streams);
    series.problems.push(t, HW.rate(prev, s, 'refusals'), HW.rate(prev, s, 'dropped_frames'));
    series.cpu.push(t, HW.rate(prev, s, 'cpu_seconds', 100));
    series.rss.push(t, s.rss_bytes / (1 << 20));
    for (const c of charts) c.update();
    renderStreams(s.stream_list || []);
    state.snapshots++;
    state.last = s;
    const time = new Date(s.time).toLocaleTimeString([], { hour12: false });
    setStatus(s.streams + ' live · ' + players + ' players · ' + time, s.streams ? 'ok' : '');
  }

  HW.events(onSnapshot, (st) => { if (st !== 'live') setStatus(st, 'bad'); });
})();
