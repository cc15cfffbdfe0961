// headwater player page: plays /{app}/{stream}.flv with mpegts.js, shows
// buffer, estimated latency and state, and reconnects with a backoff of
// 1 s, 2 s, 4 s, then 5 s whenever the stream ends, fails or stalls, so it
// picks the stream up again when the publisher comes back. With ?ws=1 in
// the page's URL it plays the same path over WebSocket-FLV (ws://, or
// wss:// on an https page) instead of HTTP-FLV. With ?hls=1, or when the
// browser has no Media Source Extensions for mpegts.js (an iPhone), it
// plays /{app}/{stream}/index.m3u8 as HLS: with hls.js (loaded only then),
// or the browser's own HLS (Safari).
'use strict';
(function () {
  const MIN_BACKOFF_MS = 1000;
  const MAX_BACKOFF_MS = 5000;
  const STALL_MS = 8000; // no progress while not paused: reconnect
  const TICK_MS = 250;

  const $ = (id) => document.getElementById(id);
  const video = $('video');
  // What the page is doing, for people (the badge) and for tests.
  const status = (window.headwaterPlayer = { key: '', url: '', state: 'starting', reconnects: 0, sessions: 0 });

  // /play/{app}/{stream} or the stream page /streams/{app}/{stream}: the
  // server only serves them for valid names.
  const m = /^\/(?:play|streams)\/([^/]+)\/([^/]+)$/.exec(location.pathname);
  if (!m) return fatal('not a player URL: ' + location.pathname);
  const app = decodeURIComponent(m[1]);
  const name = decodeURIComponent(m[2]);
  const key = app + '/' + name;
  const path = '/' + encodeURIComponent(app) + '/' + encodeURIComponent(name);
  const url = new URL(path + '.flv', location.href);
  const params = new URLSearchParams(location.search);
  const ws = params.get('ws') === '1';
  if (ws) url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const hlsURL = new URL(path + '/index.m3u8', location.href).href;
  const mse = typeof mpegts !== 'undefined' && mpegts.getFeatureList().mseLivePlayback;
  // HLS when asked for, or when mpegts.js cannot play here.
  const hlsMode = params.get('hls') === '1' || !mse;
  const flvURL = hlsMode ? hlsURL : url.href;
  document.title = key + ' · headwater';
  $('title').textContent = key;
  $('flv-url').textContent = flvURL;
  const label = $('flv-url').previousSibling; // the "HTTP-FLV: " before it
  if (label && label.nodeType === Node.TEXT_NODE) {
    if (hlsMode) label.textContent = 'HLS: ';
    else if (ws) label.textContent = 'WebSocket-FLV: ';
  }
  status.key = key;
  status.url = flvURL;
  status.mode = hlsMode ? 'hls' : ws ? 'ws-flv' : 'http-flv';
  // The toggle between the ways to play, to compare them.
  for (const [id, query, on] of [['mode-flv', '', !hlsMode && !ws], ['mode-ws', '?ws=1', !hlsMode && ws],
    ['mode-hls', '?hls=1', hlsMode]]) {
    const a = $(id);
    if (!a) continue;
    a.href = location.pathname + query;
    if (on) a.setAttribute('aria-current', 'page');
  }
  if (window.MediaSource && !MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E"')) {
    $('unsupported').hidden = false;
    $('unsupported').textContent = 'This browser reports no H.264 support for Media Source Extensions ' +
      '(some Chromium builds leave proprietary codecs out); video may not play.';
  }

  let player = null;
  let generation = 0; // ignores events of a player that was replaced
  let backoff = MIN_BACKOFF_MS;
  let retryTimer = 0;
  let playingThisSession = false;
  let lastTime = 0, lastTimeAt = 0; // currentTime progress, for the stall check
  let lastEnd = 0, lastEndAt = 0; // buffered end growth, for the latency estimate
  let speedKBps = NaN;

  function setState(text, cls) {
    status.state = text;
    const b = $('state');
    b.textContent = text;
    b.className = 'badge' + (cls ? ' ' + cls : '');
  }

  function fatal(msg) {
    const e = $('unsupported');
    e.hidden = false;
    e.textContent = msg;
    setState('cannot play', 'bad');
  }

  // loadHls loads the vendored hls.js once, when HLS is played.
  let hlsLoaded = null;
  function loadHls() {
    if (!hlsLoaded) {
      hlsLoaded = new Promise((resolve) => {
        const el = document.createElement('script');
        el.src = '/static/vendor/hls.js/hls.min.js';
        el.onload = el.onerror = () => resolve();
        document.head.appendChild(el);
      });
    }
    return hlsLoaded;
  }

  // startHLS plays hlsURL with hls.js where it can (Media Source
  // Extensions, or iOS's ManagedMediaSource), else with the browser's own
  // HLS (Safari). The player object it makes answers stop() as mpegts.js's.
  function startHLS(gen) {
    const mine = (f) => (...args) => { if (gen === generation) f(...args); };
    loadHls().then(mine(() => {
      if (window.Hls && Hls.isSupported()) {
        // No worker: the page's Content-Security-Policy allows scripts
        // from this origin only, not blob: workers.
        const hls = new Hls({ enableWorker: false, lowLatencyMode: true, liveDurationInfinity: true });
        player = { pause: () => video.pause(), unload() {}, detachMediaElement: () => hls.detachMedia(), destroy: () => hls.destroy() };
        hls.on(Hls.Events.ERROR, mine((ev, data) => {
          if (!data.fatal) return;
          const code = data.response && data.response.code;
          retry(code === 404 ? 'not live (404)' : data.details || data.type);
        }));
        hls.on(Hls.Events.FRAG_LOADED, mine((ev, data) => {
          const st = data.frag && data.frag.stats;
          if (st && st.loading && st.loading.end > st.loading.start) speedKBps = st.total / (st.loading.end - st.loading.start);
        }));
        hls.loadSource(hlsURL);
        hls.attachMedia(video);
      } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
        player = { pause: () => video.pause(), unload() {}, detachMediaElement() {},
          destroy: () => { video.removeAttribute('src'); video.load(); } };
        video.src = hlsURL;
      } else {
        return fatal('This browser can play neither live HTTP-FLV nor HLS: it has no Media Source Extensions.');
      }
      const p = video.play();
      if (p && p.catch) p.catch(mine((e) => { if (e && e.name === 'NotAllowedError') setState('press play', 'warn'); }));
    }));
  }

  function start() {
    const gen = ++generation;
    playingThisSession = false;
    lastTime = 0; lastEnd = 0;
    lastTimeAt = lastEndAt = performance.now();
    speedKBps = NaN;
    setState('connecting…', 'warn');
    if (hlsMode) return startHLS(gen);
    player = mpegts.createPlayer(
      { type: 'flv', isLive: true, url: flvURL },
      {
        enableStashBuffer: false, // hand data to MSE as it arrives
        liveBufferLatencyChasing: true, // skip ahead when the buffer grows past 1.5 s
        lazyLoad: false, // a live stream is never "loaded enough"
        autoCleanupSourceBuffer: true, // bounded memory for long sessions
      });
    const mine = (f) => (...args) => { if (gen === generation) f(...args); };
    player.on(mpegts.Events.ERROR, mine((type, detail, info) => {
      const code = info && info.code;
      const why = code === 404 ? 'not live (404)' : code ? detail + ' ' + code : detail || type;
      retry(String(why));
    }));
    player.on(mpegts.Events.LOADING_COMPLETE, mine(() => retry('stream ended')));
    player.on(mpegts.Events.STATISTICS_INFO, mine((s) => { speedKBps = s.speed; }));
    player.attachMediaElement(video);
    player.load();
    const p = player.play();
    if (p && p.catch) {
      p.catch(mine((e) => {
        if (e && e.name === 'NotAllowedError') setState('press play', 'warn');
      }));
    }
  }

  function stop() {
    if (!player) return;
    const p = player;
    player = null;
    generation++;
    try {
      p.pause();
      p.unload();
      p.detachMediaElement();
      p.destroy();
    } catch (e) {
      console.warn('headwater: destroying the player:', e);
    }
  }

  // retry tears the player down and starts a new one after the backoff,
  // which doubles up to MAX_BACKOFF_MS and is reset once a session plays.
  function retry(why) {
    if (retryTimer) return;
    stop();
    const wait = backoff;
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    setState(why + ' · retrying in ' + wait / 1000 + ' s', 'bad');
    console.info('headwater: ' + why + '; reconnecting in ' + wait + ' ms');
    retryTimer = setTimeout(() => {
      retryTimer = 0;
      status.reconnects++;
      $('st-reconnects').textContent = String(status.reconnects);
      start();
    }, wait);
  }

  // HLS: the playlist ended (#EXT-X-ENDLIST) and everything played.
  video.addEventListener('ended', () => { if (player && hlsMode) retry('stream ended'); });
  video.addEventListener('error', () => {
    if (player) retry('media error' + (video.error ? ' ' + video.error.code : ''));
  });
  video.addEventListener('waiting', () => { if (player && playingThisSession) setState('buffering…', 'warn'); });
  video.addEventListener('playing', () => { if (player) setState('playing', 'ok'); });
  video.addEventListener('pause', () => { if (player && !video.ended) setState('paused', ''); });

  const secs = (s) => (Number.isFinite(s) ? s.toFixed(2) + ' s' : '–');

  function tick() {
    const now = performance.now();
    let buffer = NaN, latency = NaN;
    const b = video.buffered;
    if (player && b.length) {
      const end = b.end(b.length - 1);
      if (end !== lastEnd) { lastEnd = end; lastEndAt = now; }
      buffer = Math.max(0, end - video.currentTime);
      // The newest media sent is at least lastEnd; if nothing came since,
      // the live edge has moved on by the time passed.
      latency = buffer + (now - lastEndAt) / 1000;
    }
    if (player) {
      if (video.currentTime !== lastTime) {
        if (lastTime > 0 && video.readyState >= 3 && !playingThisSession) {
          playingThisSession = true;
          status.sessions++;
          backoff = MIN_BACKOFF_MS;
        }
        lastTime = video.currentTime;
        lastTimeAt = now;
      } else if (!video.paused && now - lastTimeAt > STALL_MS) {
        retry('stalled');
      }
    }
    $('st-buffer').textContent = secs(buffer);
    $('st-latency').textContent = Number.isFinite(latency) ? '≈ ' + secs(latency) : '–';
    $('st-video').textContent = video.videoWidth ? video.videoWidth + '×' + video.videoHeight : '–';
    $('st-speed').textContent = Number.isFinite(speedKBps) ? Math.round(speedKBps * 8) + ' kbit/s' : '–';
    const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
    $('st-frames').textContent = q ? q.droppedVideoFrames + ' of ' + q.totalVideoFrames : '–';
    status.buffer = buffer;
    status.latency = latency;
  }

  setInterval(tick, TICK_MS);
  start();
})();
