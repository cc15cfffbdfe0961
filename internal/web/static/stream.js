// headwater stream page: the stream's details and charts from
// /api/v1/events (public), and, with the API (open, or with the token the
// page asks for once and keeps in sessionStorage), its publisher, its
// players and a kick button for each. Strings from the server go into the
// page through textContent only.
'use strict';
(function () {
  const { el, fmt, Series } = HW;
  const $ = (id) => document.getElementById(id);
  const m = /^\/streams\/([^/]+)\/([^/]+)$/.exec(location.pathname);
  if (!m) return;
  const app = decodeURIComponent(m[1]), name = decodeURIComponent(m[2]);
  const apiPath = '/api/v1/streams/' + encodeURIComponent(app) + '/' + encodeURIComponent(name);
  const TOKEN_KEY = 'headwater.token';
  const SKIP_KEY = 'headwater.token.skipped';

  const series = { bitrate: new Series(1), fps: new Series(1), players: new Series(1), drops: new Series(1) };
  // What the page shows, for people and for tests.
  const state = (window.headwaterStream = { app, name, live: false, admin: false, snapshots: 0, players: [], kicked: [], series });
  const charts = [
    HW.chart($('chart-bitrate'), 'Input bitrate, Mbit/s', ['bitrate'], fmt.num, series.bitrate),
    HW.chart($('chart-fps'), 'Frame rate', ['fps'], fmt.num, series.fps),
    HW.chart($('chart-players'), 'Players', ['players'], fmt.num, series.players),
    HW.chart($('chart-drops'), 'Dropped frames per second', ['dropped'], fmt.num, series.drops),
  ];

  function setAdmin(on) {
    state.admin = on;
    for (const e of document.querySelectorAll('.admin-only')) e.hidden = !on;
    for (const e of document.querySelectorAll('.public-only')) e.hidden = on;
  }
  setAdmin(false);
  const live = $('live');
  function setLive(text, cls) {
    live.textContent = text;
    live.className = 'badge' + (cls ? ' ' + cls : '');
  }

  // Public: the stream's part of each snapshot.
  let prev = null;
  HW.events((s) => {
    const st = (s.stream_list || []).find((x) => x.app === app && x.name === name);
    const t = s.time / 1000;
    state.snapshots++;
    state.live = !!st;
    if (!st) {
      setLive('not live', 'bad');
      prev = null;
      for (const c of Object.values(series)) c.push(t, null);
      charts.forEach((c) => c.update());
      return;
    }
    setLive(st.state, st.state === 'live' ? 'ok' : 'warn');
    const v = st.video, a = st.audio;
    $('d-video').textContent = v ? v.codec + (v.width ? ' ' + v.width + '×' + v.height : '') : '–';
    $('d-profile').textContent = v && v.profile ? v.profile + (v.level ? ' ' + v.level : '') : '–';
    $('d-fps').textContent = v && v.fps ? fmt.num(v.fps) : '–';
    $('d-gop').textContent = v && v.gop_frames ? v.gop_frames + ' frames' : '–';
    $('d-keyint').textContent = v && v.keyframe_interval_ms ? (v.keyframe_interval_ms / 1000).toFixed(2) + ' s' : '–';
    $('d-audio').textContent = a ? [a.codec, a.profile, a.sample_rate ? a.sample_rate + ' Hz' : '',
      a.channels ? a.channels + ' ch' : ''].filter(Boolean).join(' ') : '–';
    $('d-bitrate').textContent = fmt.bitrate(st.bitrate_in);
    $('d-uptime').textContent = fmt.duration(st.uptime_seconds);
    $('d-players').textContent = String(st.players);
    $('d-dropped').textContent = String(st.dropped_frames);
    const same = prev && prev.id === st.id;
    series.bitrate.push(t, st.bitrate_in / 1e6);
    series.fps.push(t, v ? v.fps : null);
    series.players.push(t, st.players);
    series.drops.push(t, same ? HW.rate({ time: prev.time, d: prev.dropped_frames }, { time: s.time, d: st.dropped_frames }, 'd') : null);
    prev = { id: st.id, time: s.time, dropped_frames: st.dropped_frames };
    charts.forEach((c) => c.update());
  }, (st) => { if (st !== 'live') setLive(st, 'bad'); });

  // Admin: the REST API, with the token if there is one.
  function api(path, method) {
    const headers = {};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = 'Bearer ' + token;
    return fetch(path, { method: method || 'GET', headers, cache: 'no-store' });
  }

  function renderPlayers(players) {
    state.players = players.map((p) => p.id);
    const tbody = $('players').querySelector('tbody');
    tbody.replaceChildren(...players.map((p) => {
      const kick = el('button', { class: 'kick', type: 'button', 'data-id': String(p.id) }, 'Kick');
      kick.addEventListener('click', async () => {
        kick.disabled = true;
        const resp = await api('/api/v1/players/' + p.id, 'DELETE');
        if (resp.ok) state.kicked.push(p.id);
        else kick.disabled = false;
      });
      return el('tr', { 'data-id': String(p.id) },
        el('td', {}, String(p.id), el('span', { class: 'enc' }, p.user_agent || '')),
        el('td', {}, p.protocol || 'http-flv'),
        el('td', {}, p.remote),
        el('td', { class: 'num' }, fmt.duration(p.duration_seconds)),
        el('td', { class: 'num' }, fmt.bytes(p.bytes_sent)),
        el('td', { class: 'num' }, p.queue_depth + ' tags'),
        el('td', { class: 'num' }, String(p.frames_dropped)),
        el('td', {}, kick));
    }));
  }

  async function pollAdmin() {
    try {
      const [sr, pr] = await Promise.all([api(apiPath), api(apiPath + '/players?limit=1000')]);
      if (sr.status === 401 || pr.status === 401) return needToken();
      if (sr.ok) {
        const st = await sr.json();
        $('d-remote').textContent = (st.publisher && st.publisher.remote) || '–';
        $('d-encoder').textContent = (st.publisher && st.publisher.encoder) || '–';
      }
      if (pr.ok) renderPlayers((await pr.json()).players || []);
      else renderPlayers([]);
      setAdmin(true);
    } catch (e) {
      console.warn('headwater: API:', e);
    }
    setTimeout(pollAdmin, 1000);
  }

  // needToken asks for the token once per session; without it the page
  // shows what is public and no buttons.
  function needToken() {
    setAdmin(false);
    if (sessionStorage.getItem(SKIP_KEY)) return;
    const form = $('token-form');
    if (sessionStorage.getItem(TOKEN_KEY)) $('token-error').textContent = 'That token was refused.';
    form.hidden = false;
  }
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
    $('token-form').hidden = true;
    pollAdmin();
  });
  $('token-skip').addEventListener('click', () => {
    sessionStorage.setItem(SKIP_KEY, '1');
    $('token-form').hidden = true;
  });
  $('kick-publisher').addEventListener('click', async () => {
    const resp = await api(apiPath, 'DELETE');
    if (resp.ok) state.kicked.push('publisher');
  });
  pollAdmin();
})();
