// nftsync console: plain JavaScript, no build step. Data from /graphql
// (queries and mutations over fetch, live updates over a websocket in the
// graphql-transport-ws protocol). The token is kept in sessionStorage (this
// tab only) and sent as Authorization: Bearer, and in connection_init.
'use strict';

const TOKEN_KEY = 'nftsync.console.token';
const $ = (sel, root) => (root || document).querySelector(sel);
const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// ---- token and GraphQL over HTTP ------------------------------------------

const state = { token: sessionStorage.getItem(TOKEN_KEY) || '', admin: false, view: null };

// ApiError is a GraphQL error answer: message and extensions.code, with
// retryAfterSeconds for REFRESH_COOLDOWN.
class ApiError extends Error {
  constructor(errors, status) {
    const first = errors[0] || {};
    const ext = first.extensions || {};
    super(errors.map((e) => e.message).join('; ') || ('HTTP ' + status));
    this.code = ext.code || '';
    this.status = status;
    this.extensions = ext;
  }
  // readable is the text shown to a person.
  get readable() {
    let s = this.message;
    if (this.code) s += ' [' + this.code + ']';
    if (this.extensions.retryAfterSeconds !== undefined && !/allowed/.test(this.message)) s += ' (allowed again in ' + this.extensions.retryAfterSeconds + ' s)';
    return s;
  }
}

// gql posts one operation and returns its data, or throws an ApiError. A
// refusal for want of a token marks the token box unless quiet.
async function gql(query, variables, quiet) {
  const headers = { 'Content-Type': 'application/json' };
  if (state.token) headers.Authorization = 'Bearer ' + state.token;
  let resp;
  try {
    resp = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables: variables || {} }) });
  } catch (e) {
    throw new ApiError([{ message: 'the API cannot be reached: ' + e.message }], 0);
  }
  let body;
  try {
    body = await resp.json();
  } catch (e) {
    throw new ApiError([{ message: 'the API answered HTTP ' + resp.status + ' with no GraphQL answer' }], resp.status);
  }
  if (body.errors && body.errors.length) {
    const err = new ApiError(body.errors, resp.status);
    if (!quiet && (err.code === 'UNAUTHENTICATED' || (err.code === 'FORBIDDEN' && resp.status === 403 && !body.data))) askToken(err);
    throw err;
  }
  return body.data;
}

function showError(err) {
  const box = $('#error');
  if (!err) { box.hidden = true; box.textContent = ''; return; }
  box.textContent = err.readable || err.message || String(err);
  box.hidden = false;
}

function askToken(err) {
  const input = $('#token-input');
  input.classList.add('needed');
  input.placeholder = err.code === 'FORBIDDEN' ? 'this token is not valid: another?' : 'this API needs a token';
  input.focus();
}

function setToken(t) {
  state.token = t;
  if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
  $('#token-input').value = '';
  $('#token-input').classList.remove('needed');
  $('#token-input').placeholder = t ? 'token set (another?)' : 'API token';
  live.restart();
  route();
}

// probeRole asks for an admin-only field: with data the token is an admin's.
async function probeRole() {
  state.admin = false;
  if (state.token) {
    try {
      await gql('{ jobStats { byState { count } } }', {}, true);
      state.admin = true;
    } catch (e) { /* a read token, or none */ }
  }
  $('#role').textContent = state.admin ? 'admin' : (state.token ? 'read token' : 'no token');
  $('#role').className = 'role ' + (state.admin ? 'admin' : '');
}

// ---- graphql-transport-ws client --------------------------------------------

// Live keeps one websocket to /graphql and the subscriptions the current
// view wants. On a close it reconnects with backoff (1 s doubling to 30 s)
// and subscribes again; a subscription the server completes (it lost the
// database's notifications) is subscribed again after a backoff of its own.
// The first event of every subscription brings the current state.
class Live {
  constructor() {
    this.subs = new Map(); // id -> {payload, onNext, onError, retry}
    this.nextID = 1;
    this.ws = null;
    this.acked = false;
    this.backoff = 1000;
    this.timer = null;
  }
  status(text, cls) {
    const s = $('#live');
    s.textContent = text;
    s.className = 'live ' + cls;
  }
  connect() {
    clearTimeout(this.timer);
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql';
    const ws = new WebSocket(url, 'graphql-transport-ws');
    this.ws = ws;
    this.acked = false;
    this.status('connecting', 'wait');
    ws.onopen = () => {
      const payload = state.token ? { Authorization: 'Bearer ' + state.token } : {};
      ws.send(JSON.stringify({ type: 'connection_init', payload }));
    };
    ws.onmessage = (ev) => this.message(ws, JSON.parse(ev.data));
    ws.onclose = (ev) => {
      if (this.ws !== ws) return; // replaced on purpose
      this.acked = false;
      if (ev.code === 4403 || ev.code === 4401) {
        this.status('refused: ' + (ev.reason || 'token'), 'off');
        return; // a new token restarts the connection
      }
      const wait = this.backoff;
      this.backoff = Math.min(this.backoff * 2, 30000);
      this.status('offline, retry in ' + Math.round(wait / 1000) + ' s', 'off');
      this.timer = setTimeout(() => this.connect(), wait);
    };
  }
  message(ws, m) {
    switch (m.type) {
      case 'connection_ack':
        this.acked = true;
        this.backoff = 1000;
        this.status('live', 'on');
        for (const [id, s] of this.subs) this.send({ id, type: 'subscribe', payload: s.payload });
        break;
      case 'ping':
        ws.send(JSON.stringify({ type: 'pong' }));
        break;
      case 'next': {
        const s = this.subs.get(m.id);
        if (!s) break;
        s.retry = 1000;
        if (m.payload.errors && m.payload.errors.length) s.onError(new ApiError(m.payload.errors, 0));
        if (m.payload.data) s.onNext(m.payload.data);
        break;
      }
      case 'error': {
        const s = this.subs.get(m.id);
        if (s) s.onError(new ApiError(Array.isArray(m.payload) ? m.payload : [m.payload], 0));
        break;
      }
      case 'complete': {
        // The server ended it (lost notifications): subscribe again.
        const s = this.subs.get(m.id);
        if (!s) break;
        const wait = s.retry;
        s.retry = Math.min(s.retry * 2, 30000);
        setTimeout(() => {
          if (this.subs.get(m.id) === s && this.acked) this.send({ id: m.id, type: 'subscribe', payload: s.payload });
        }, wait);
        break;
      }
    }
  }
  send(m) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }
  // subscribe starts a subscription and returns the function that ends it.
  subscribe(query, variables, onNext, onError) {
    const id = String(this.nextID++);
    const s = { payload: { query, variables }, onNext, onError: onError || showError, retry: 1000 };
    this.subs.set(id, s);
    if (!this.ws) this.connect();
    else if (this.acked) this.send({ id, type: 'subscribe', payload: s.payload });
    return () => {
      if (this.subs.delete(id) && this.acked) this.send({ id, type: 'complete' });
    };
  }
  restart() {
    const old = this.ws;
    this.ws = null;
    if (old) old.close(1000, 'new token');
    this.backoff = 1000;
    if (this.subs.size) this.connect();
  }
}

const live = new Live();

// ---- formatting ---------------------------------------------------------------

// amount shortens a decimal string for display (the API's amounts are exact
// decimal strings; they are never parsed into floats for anything but the
// charts' axes).
function amount(s) {
  if (s === null || s === undefined) return '';
  const [i, f = ''] = String(s).split('.');
  const frac = f.replace(/0+$/, '').slice(0, 4);
  return frac ? i + '.' + frac : i;
}

function price(p) {
  return p ? amount(p.amount) + ' ' + p.currency : '—';
}

function ago(seconds) {
  if (seconds === null || seconds === undefined) return 'never';
  if (seconds < 90) return seconds + ' s';
  if (seconds < 5400) return Math.round(seconds / 60) + ' min';
  if (seconds < 129600) return Math.round(seconds / 3600) + ' h';
  return Math.round(seconds / 86400) + ' d';
}

const kindName = { FLOOR_PRICE: 'floor', VOLUME: 'volume', METADATA: 'metadata', TOKENS: 'tokens' };

function staleKinds(freshness) {
  return (freshness || []).filter((f) => f.stale).map((f) => kindName[f.kind] || f.kind);
}

function sources(routes) {
  const all = new Set();
  for (const r of routes || []) for (const s of r.sources) all.add(s);
  return Array.from(all);
}

function vol1d(c) {
  return (c.volumes || []).find((v) => v.window === '1d') || null;
}

// ---- collections list -----------------------------------------------------------

const LIST_QUERY = `query($after: String) {
  collections(first: 50, after: $after, orderBy: VOLUME_1D) {
    edges { node { slug status statusReason source
      metadata { name }
      floor { amount currency }
      volumes { window amount currency }
      freshness { kind stale ageSeconds }
      routes { kind sources }
      qualityEvents(first: 1) { createdAt message }
    } }
    pageInfo { hasNextPage endCursor }
  }
}`;

const columns = [
  { key: 'slug', label: 'Slug', value: (c) => c.slug },
  { key: 'name', label: 'Name', value: (c) => (c.metadata ? c.metadata.name : '') },
  { key: 'floor', label: 'Floor', value: (c) => (c.floor ? parseFloat(c.floor.amount) : -1), num: true },
  { key: 'vol1d', label: '1d volume', value: (c) => (vol1d(c) ? parseFloat(vol1d(c).amount) : -1), num: true },
  { key: 'fresh', label: 'Freshness', value: (c) => staleKinds(c.freshness).length },
  { key: 'sources', label: 'Sources', value: (c) => sources(c.routes).join(',') },
  { key: 'status', label: 'Status', value: (c) => c.status },
];

async function listView(view) {
  const list = { rows: [], sort: sessionStorage.getItem('nftsync.console.sort') || 'vol1d', desc: sessionStorage.getItem('nftsync.console.desc') !== 'false', filter: '' };
  const filter = el('input', { id: 'filter', type: 'search', placeholder: 'filter by slug, name or status', 'aria-label': 'filter' });
  const table = el('table', { id: 'collections', class: 'grid' });
  const count = el('span', { class: 'muted', id: 'count' });
  const bar = el('div', { class: 'toolbar' }, filter, count);
  if (state.admin) {
    const slug = el('input', { id: 'track-slug', placeholder: 'slug to track', 'aria-label': 'slug to track' });
    const out = el('span', { id: 'track-result', class: 'result' });
    const form = el('form', { class: 'inline', id: 'track-form', onsubmit: async (e) => {
      e.preventDefault();
      out.textContent = 'tracking…';
      out.className = 'result';
      try {
        const d = await gql('mutation($slug: String!) { trackCollection(slug: $slug) { slug status } }', { slug: slug.value.trim() });
        out.textContent = 'tracking ' + d.trackCollection.slug + ' (' + d.trackCollection.status.toLowerCase() + ')';
        out.className = 'result ok';
        slug.value = '';
        load();
      } catch (err) {
        out.textContent = err.readable || String(err);
        out.className = 'result bad';
      }
    } }, slug, el('button', { type: 'submit' }, 'Track'), out);
    bar.append(form);
  }
  view.append(el('h1', {}, 'Collections'), bar, table);

  function render() {
    const f = list.filter.toLowerCase();
    const col = columns.find((c) => c.key === list.sort) || columns[0];
    const rows = list.rows.filter((c) => !f || [c.slug, c.metadata ? c.metadata.name : '', c.status].some((s) => s.toLowerCase().includes(f)));
    rows.sort((a, b) => {
      const x = col.value(a), y = col.value(b);
      const r = col.num ? x - y : String(x).localeCompare(String(y));
      return list.desc ? -r : r;
    });
    const head = el('tr', {}, columns.map((c) => el('th', {
      'data-key': c.key, class: 'sortable' + (c.key === list.sort ? (list.desc ? ' desc' : ' asc') : ''),
      onclick: () => {
        if (list.sort === c.key) list.desc = !list.desc; else { list.sort = c.key; list.desc = !!c.num; }
        sessionStorage.setItem('nftsync.console.sort', list.sort);
        sessionStorage.setItem('nftsync.console.desc', String(list.desc));
        render();
      } }, c.label)));
    const body = rows.map((c) => {
      const stale = staleKinds(c.freshness);
      const v = vol1d(c);
      return el('tr', { 'data-slug': c.slug },
        el('td', {}, el('a', { href: '#/c/' + encodeURIComponent(c.slug) }, c.slug)),
        el('td', {}, c.metadata ? c.metadata.name : ''),
        el('td', { class: 'num floor' }, price(c.floor)),
        el('td', { class: 'num' }, v ? amount(v.amount) + ' ' + v.currency : '—'),
        el('td', { class: stale.length ? 'stale' : 'fresh' }, stale.length ? 'stale: ' + stale.join(', ') : 'fresh'),
        el('td', { title: c.qualityEvents && c.qualityEvents.length ? 'last rejected data: ' + c.qualityEvents[0].message : '' },
          sources(c.routes).join(', '), c.qualityEvents && c.qualityEvents.length ? el('span', { class: 'warn' }, ' ⚠') : null),
        el('td', { class: 'status ' + c.status.toLowerCase(), title: c.statusReason }, c.status.toLowerCase()));
    });
    table.replaceChildren(el('thead', {}, head), el('tbody', {}, body));
    count.textContent = rows.length + ' of ' + list.rows.length;
  }

  filter.addEventListener('input', () => { list.filter = filter.value; render(); });

  async function load() {
    const rows = [];
    let after = null;
    for (let page = 0; page < 40; page++) { // at most 2,000 collections
      const d = await gql(LIST_QUERY, { after });
      for (const e of d.collections.edges) rows.push(e.node);
      if (!d.collections.pageInfo.hasNextPage) break;
      after = d.collections.pageInfo.endCursor;
    }
    list.rows = rows;
    render();
  }
  await load();

  // Floors live: every tracked collection's floor changes.
  const stop = live.subscribe('subscription { floorChanged { slug floor { amount currency } at } }', {}, (d) => {
    const ch = d.floorChanged;
    const c = list.rows.find((r) => r.slug === ch.slug);
    if (!c) return;
    const changed = price(c.floor) !== price(ch.floor);
    c.floor = ch.floor;
    render();
    if (changed) flash($('tr[data-slug="' + CSS.escape(ch.slug) + '"] td.floor'));
  });
  // Freshness ages, volumes and statuses are not pushed: read the list
  // again every minute.
  const timer = setInterval(() => load().catch(showError), 60000);
  return () => { stop(); clearInterval(timer); };
}

function flash(node) {
  if (!node) return;
  node.classList.remove('flash');
  void node.offsetWidth;
  node.classList.add('flash');
}

// ---- collection page ---------------------------------------------------------------

const RANGES = {
  '24h': { ms: 86400e3, interval: 'MINUTE' },
  '7d': { ms: 7 * 86400e3, interval: 'HOUR' },
  '90d': { ms: 90 * 86400e3, interval: 'DAY' },
};
const step = { MINUTE: 60e3, HOUR: 3600e3, DAY: 86400e3 };

const COLLECTION_FIELDS = `slug status statusReason chain source priority
  metadata { name description imageUrl externalUrl totalSupply }
  floor { amount currency fetchedAt }
  volumes { window amount currency sales }
  freshness { kind stale ageSeconds targetAgeSeconds lastSuccessAt nextDueAt }
  routes { kind sources own }
  rarity { method version computedAt tokenCount }
  qualityEvents(first: 5) { kind message source createdAt }`;

const COLLECTION_QUERY = `query($slug: String!, $from: Time!, $to: Time!, $interval: HistoryInterval!) {
  collection(slug: $slug) {
    ${COLLECTION_FIELDS}
    traitDistribution { type value count frequency }
    floorHistory(from: $from, to: $to, interval: $interval) { start currency open low high close }
    volumeHistory(window: "1d", from: $from, to: $to, interval: $interval) { start currency close sales }
  }
}`;

const HISTORY_QUERY = `query($slug: String!, $from: Time!, $to: Time!, $interval: HistoryInterval!) {
  collection(slug: $slug) {
    floorHistory(from: $from, to: $to, interval: $interval) { start currency open low high close }
    volumeHistory(window: "1d", from: $from, to: $to, interval: $interval) { start currency close sales }
  }
}`;

const TOKENS_QUERY = `query($slug: String!, $where: TokenWhere, $after: String) {
  tokens(collection: $slug, where: $where, first: 50, after: $after) {
    totalCount
    edges { node { tokenId name imageUrl rarity { rank score } traits { type value frequency } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

function historyVars(slug, rangeKey) {
  const r = RANGES[rangeKey];
  const now = Date.now();
  return { slug, from: new Date(now - r.ms).toISOString(), to: new Date(now + step[r.interval]).toISOString(), interval: r.interval };
}

async function collectionView(view, slug) {
  const page = { slug, range: '24h', where: new Map(), tokens: [], after: null, charts: [], c: null, rawTraits: new Map() };
  page.hv = historyVars(slug, page.range);
  const d = await gql(COLLECTION_QUERY, page.hv);
  if (!d.collection) {
    view.append(el('h1', {}, slug), el('p', { class: 'muted' }, 'This collection is not tracked.'), el('a', { href: '#/' }, '← all collections'));
    return () => {};
  }
  page.c = d.collection;

  const head = el('section', { id: 'summary', class: 'summary' });
  const actions = el('div', { id: 'actions', class: 'actions' });
  const rangeSel = el('select', { id: 'range', 'aria-label': 'history range' }, Object.keys(RANGES).map((k) => el('option', { value: k }, k)));
  const charts = el('section', { class: 'charts' },
    el('div', { class: 'panel' }, el('h2', {}, 'Floor ', el('span', { class: 'muted', id: 'floor-currency' })), el('div', { id: 'floor-chart', class: 'chart' })),
    el('div', { class: 'panel' }, el('h2', {}, '1-day volume ', el('span', { class: 'muted', id: 'volume-currency' })), el('div', { id: 'volume-chart', class: 'chart' })));
  const rarityPanel = el('div', { class: 'panel' }, el('h2', {}, 'Rarity distribution ', el('span', { class: 'muted', id: 'rarity-note' })), el('div', { id: 'rarity-chart', class: 'chart' }));
  const traitsPanel = el('div', { class: 'panel traits' }, el('h2', {}, 'Traits ', el('button', { id: 'clear-filter', type: 'button', hidden: true, onclick: () => { page.where.clear(); $$('#traits input').forEach((i) => { i.checked = false; }); loadTokens(true); } }, 'clear filter')), el('div', { id: 'traits' }));
  const tokensPanel = el('section', { class: 'panel' },
    el('h2', {}, 'Tokens by rank ', el('span', { class: 'muted', id: 'token-count' })),
    el('table', { id: 'tokens', class: 'grid tokens' }),
    el('button', { id: 'more', type: 'button', hidden: true, onclick: () => loadTokens(false) }, 'Load more'));
  view.append(
    el('p', {}, el('a', { href: '#/' }, '← all collections')),
    head, actions,
    el('div', { class: 'toolbar' }, el('label', {}, 'History ', rangeSel), el('span', { class: 'muted', id: 'updated' })),
    charts,
    el('section', { class: 'two' }, rarityPanel, traitsPanel),
    tokensPanel);

  function renderSummary() {
    const c = page.c;
    const m = c.metadata || {};
    const vols = (c.volumes || []).map((v) => el('span', { class: 'pill' }, v.window + ' ' + amount(v.amount) + ' ' + v.currency + (v.sales !== null && v.sales !== undefined ? ' · ' + v.sales + ' sales' : '')));
    const fresh = (c.freshness || []).map((f) => el('span', { class: 'pill ' + (f.stale ? 'stale' : 'fresh'), title: 'target ' + ago(f.targetAgeSeconds) + ', next due ' + f.nextDueAt },
      (kindName[f.kind] || f.kind) + ' ' + ago(f.ageSeconds) + (f.stale ? ' (stale)' : '')));
    const routes = (c.routes || []).map((r) => el('span', { class: 'pill' }, (kindName[r.kind] || r.kind) + ': ' + r.sources.join(', ') + (r.own ? ' (own)' : '')));
    const quality = (c.qualityEvents || []).map((q) => el('li', {}, q.createdAt.slice(0, 19).replace('T', ' ') + ' ' + q.source + ' ' + q.kind + ': ' + q.message));
    head.replaceChildren(...[
      el('h1', {}, m.name || c.slug, ' ', el('span', { class: 'muted' }, c.slug), ' ', el('span', { class: 'status ' + c.status.toLowerCase(), title: c.statusReason }, c.status.toLowerCase())),
      el('div', { class: 'big' }, el('span', { class: 'label' }, 'floor '), el('span', { id: 'floor' }, price(c.floor))),
      el('div', {}, el('span', { class: 'label' }, 'volume '), vols),
      el('div', {}, el('span', { class: 'label' }, 'freshness '), fresh),
      el('div', {}, el('span', { class: 'label' }, 'sources '), routes),
      c.rarity ? el('div', { class: 'muted' }, 'rarity: ' + c.rarity.method + ' ' + c.rarity.version + ', ' + c.rarity.tokenCount + ' tokens, ' + c.rarity.computedAt.slice(0, 19).replace('T', ' ')) : null,
      quality.length ? el('details', {}, el('summary', {}, 'rejected upstream data (' + quality.length + ')'), el('ul', {}, quality)) : null,
      c.statusReason ? el('div', { class: 'muted' }, 'status reason: ' + c.statusReason) : null].filter(Boolean));
  }

  // The result of the last action stays while events re-render the buttons.
  const out = el('span', { id: 'action-result', class: 'result', 'aria-live': 'polite' });
  let actionsFor = '';
  function renderActions() {
    if (!state.admin) { actions.replaceChildren(); return; }
    if (actionsFor === page.c.status) return;
    actionsFor = page.c.status;
    const run = (label, query, vars, describe) => async () => {
      out.textContent = label + '…';
      out.className = 'result';
      try {
        const r = await gql(query, vars());
        out.textContent = describe(r);
        out.className = 'result ok';
      } catch (err) {
        out.textContent = label + ' refused: ' + (err.readable || String(err));
        out.className = 'result bad';
      }
    };
    const refresh = el('button', { id: 'refresh', type: 'button', onclick: run('refresh', `mutation($slug: String!) { refreshCollection(slug: $slug) { requestedAt jobs { kind source jobKind jobId alreadyPending } } }`,
      () => ({ slug }), (r) => 'refresh requested: ' + (r.refreshCollection.jobs.map((j) => kindName[j.kind] + ' from ' + j.source + ' job ' + j.jobId + (j.alreadyPending ? ' (already pending)' : '')).join('; ') || 'no source serves these kinds')) }, 'Refresh now');
    const reason = el('input', { id: 'pause-reason', placeholder: 'reason (optional)', 'aria-label': 'pause reason' });
    const paused = page.c.status !== 'ACTIVE';
    const toggle = paused
      ? el('button', { id: 'resume', type: 'button', onclick: run('resume', `mutation($slug: String!) { resumeCollection(slug: $slug) { ${COLLECTION_FIELDS} } }`, () => ({ slug }),
        (r) => { page.c = Object.assign(page.c, r.resumeCollection); renderSummary(); renderActions(); return 'resumed: every kind is due now'; }) }, 'Resume')
      : el('button', { id: 'pause', type: 'button', onclick: run('pause', `mutation($slug: String!, $reason: String) { pauseCollection(slug: $slug, reason: $reason) { ${COLLECTION_FIELDS} } }`, () => ({ slug, reason: reason.value || null }),
        (r) => { page.c = Object.assign(page.c, r.pauseCollection); renderSummary(); renderActions(); return 'paused'; }) }, 'Pause');
    actions.replaceChildren(el('span', { class: 'label' }, 'operator '), refresh, toggle, paused ? null : reason, out);
  }

  // ---- charts
  function destroyCharts() { for (const u of page.charts) u.destroy(); page.charts = []; }

  // series picks the buckets of one currency (the latest bucket's: a
  // currency switch gives one bucket per currency) as uPlot columns.
  function series(buckets, fields) {
    if (!buckets.length) return { cur: '', data: [[], ...fields.map(() => [])] };
    const cur = buckets[buckets.length - 1].currency;
    const bs = buckets.filter((b) => b.currency === cur);
    const num = (s) => (s === null || s === undefined ? null : parseFloat(s));
    return { cur, data: [bs.map((b) => Date.parse(b.start) / 1000), ...fields.map((f) => bs.map((b) => num(b[f])))] };
  }

  // chart draws data into node; time charts span the requested range.
  function chart(node, title, data, labels, colors, opts) {
    node.replaceChildren();
    if (!data[0].length) { node.append(el('div', { class: 'empty' }, 'no ' + title + ' in this range')); return; }
    const width = Math.max(280, node.clientWidth || 500);
    const u = new uPlot(Object.assign({
      width, height: 220,
      scales: { x: { time: true, range: () => [Date.parse(page.hv.from) / 1000, Date.parse(page.hv.to) / 1000] } },
      legend: { show: true },
      series: [{}, ...labels.map((l, i) => ({ label: l, stroke: colors[i], width: i === 0 ? 2 : 1, points: { show: data[0].length < 3 }, spanGaps: false }))],
      axes: [{}, { size: 60 }],
    }, opts || {}), data, node);
    page.charts.push(u);
  }

  function renderHistory(c) {
    destroyCharts();
    const f = series(c.floorHistory, ['close', 'low', 'high']);
    $('#floor-currency').textContent = f.cur;
    chart($('#floor-chart'), 'floor history', f.data, ['close', 'low', 'high'], ['#2563eb', '#94a3b8', '#f59e0b']);
    const v = series(c.volumeHistory, ['close']);
    $('#volume-currency').textContent = v.cur;
    chart($('#volume-chart'), 'volume history', v.data, ['1d volume'], ['#16a34a']);
    renderRarity();
  }

  async function reloadHistory() {
    page.hv = historyVars(slug, page.range);
    const h = await gql(HISTORY_QUERY, page.hv);
    if (h.collection) renderHistory(h.collection);
  }

  rangeSel.addEventListener('change', () => { page.range = rangeSel.value; reloadHistory().catch(showError); });

  // renderRarity: a histogram of the rarity scores of the tokens loaded so
  // far (rarest first, so the page shows the tail the client reads).
  function renderRarity() {
    const node = $('#rarity-chart');
    const scores = page.tokens.filter((t) => t.rarity).map((t) => t.rarity.score);
    $('#rarity-note').textContent = scores.length ? 'scores of the ' + scores.length + ' ranked token' + (scores.length === 1 ? '' : 's') + ' shown' : '';
    if (!scores.length) { node.replaceChildren(el('div', { class: 'empty' }, 'no ranked tokens')); return; }
    const lo = Math.min(...scores), hi = Math.max(...scores);
    // About two bins per square root of the count, at most 20; one bin
    // when every score is the same.
    const n = hi > lo ? Math.min(20, Math.max(2, Math.ceil(Math.sqrt(scores.length)) * 2)) : 1;
    const w = hi > lo ? (hi - lo) / n : Math.max(Math.abs(lo) * 0.1, 0.1);
    const xs = [], ys = [];
    for (let i = 0; i < n; i++) { xs.push(lo + w * i); ys.push(0); }
    for (const s of scores) ys[Math.min(n - 1, Math.floor((s - lo) / w))]++;
    const idx = page.charts.findIndex((u) => u.root.parentNode === node);
    if (idx >= 0) { page.charts[idx].destroy(); page.charts.splice(idx, 1); }
    chart(node, 'scores', [xs, ys], ['tokens'], ['#7c3aed'], {
      scales: { x: { time: false, range: () => [lo, lo + w * n] } },
      series: [{ label: 'score' }, { label: 'tokens', stroke: '#7c3aed', fill: 'rgba(124,58,237,0.3)', paths: uPlot.paths.bars({ size: [0.9, 60], align: 1 }), points: { show: false } }],
      axes: [{ label: 'rarity score' }, { size: 40, label: 'tokens' }],
    });
  }

  // ---- traits and the trait filter
  // traitDistribution counts normalised values (as rarity scoring sees
  // them) while the tokens filter matches the values as the source sent
  // them: the boxes filter on the raw spellings seen in the tokens loaded
  // without a filter, else on the normalised value.
  function renderTraits() {
    const groups = new Map();
    for (const t of page.c.traitDistribution || []) {
      if (!groups.has(t.type)) groups.set(t.type, []);
      groups.get(t.type).push(t);
    }
    const box = $('#traits');
    if (!groups.size) { box.replaceChildren(el('div', { class: 'empty' }, 'no traits counted yet')); return; }
    box.replaceChildren(...Array.from(groups, ([type, vals]) => el('fieldset', {}, el('legend', {}, type),
      vals.map((v) => {
        const key = type + '\u001f' + v.value;
        const cb = el('input', { type: 'checkbox', 'data-type': type, 'data-value': v.value, checked: page.where.has(key), onchange: () => {
          if (cb.checked) page.where.set(key, { type, value: v.value }); else page.where.delete(key);
          loadTokens(true);
        } });
        return el('label', { class: 'trait' }, cb, ' ' + v.value + ' ', el('span', { class: 'muted' }, v.count + ' · ' + (v.frequency * 100).toFixed(1) + '%'));
      }))));
  }

  function whereArg() {
    if (!page.where.size) return null;
    const byType = new Map();
    for (const { type, value } of page.where.values()) {
      const raws = page.rawTraits.get(type.toLowerCase() + '\u001f' + value.toLowerCase()) || [[type, value]];
      for (const [rt, rv] of raws) {
        if (!byType.has(rt)) byType.set(rt, new Set());
        byType.get(rt).add(rv);
      }
    }
    return { traits: Array.from(byType, ([type, values]) => ({ type, values: Array.from(values) })) };
  }

  function noteRawTraits(tokens) {
    for (const t of tokens) for (const tr of t.traits) {
      const k = tr.type.toLowerCase().trim() + '\u001f' + tr.value.toLowerCase().trim();
      const list = page.rawTraits.get(k) || [];
      if (!list.some(([a, b]) => a === tr.type && b === tr.value)) list.push([tr.type, tr.value]);
      page.rawTraits.set(k, list);
    }
  }

  // ---- tokens
  function tokenImage(url, name) {
    const ph = el('div', { class: 'tok-img placeholder', title: 'no image' }, '◇');
    if (!url) return ph;
    const img = el('img', { class: 'tok-img', src: url, alt: name, loading: 'lazy', referrerpolicy: 'no-referrer' });
    img.addEventListener('error', () => { ph.title = 'image unavailable: ' + url; img.replaceWith(ph); });
    return img;
  }

  function renderTokens(total) {
    const rows = page.tokens.map((t) => el('tr', { class: 'token', 'data-token': t.tokenId },
      el('td', { class: 'num' }, t.rarity ? '#' + t.rarity.rank : '—'),
      el('td', {}, tokenImage(t.imageUrl, t.name)),
      el('td', { class: 'tokid', title: t.tokenId }, t.tokenId.length > 16 ? t.tokenId.slice(0, 6) + '…' + t.tokenId.slice(-6) : t.tokenId),
      el('td', { class: 'name', title: t.name }, t.name),
      el('td', { class: 'num' }, t.rarity ? t.rarity.score.toFixed(3) : ''),
      el('td', { class: 'tags' }, t.traits.map((tr) => el('span', { class: 'pill', title: tr.frequency !== null ? (tr.frequency * 100).toFixed(1) + '% have it' : '' }, tr.type + ': ' + tr.value)))));
    $('#tokens').replaceChildren(el('thead', {}, el('tr', {}, ['Rank', '', 'Token', 'Name', 'Score', 'Traits'].map((h) => el('th', {}, h)))), el('tbody', {}, rows));
    $('#token-count').textContent = page.tokens.length + ' of ' + total + (page.where.size ? ' matching the filter' : '');
    $('#more').hidden = !page.after;
    $('#clear-filter').hidden = !page.where.size;
  }

  let tokenSeq = 0;
  async function loadTokens(reset) {
    const seq = ++tokenSeq;
    try {
      const d = await gql(TOKENS_QUERY, { slug, where: whereArg(), after: reset ? null : page.after });
      if (seq !== tokenSeq) return; // a newer filter won
      const nodes = d.tokens.edges.map((e) => e.node);
      if (!page.where.size) noteRawTraits(nodes);
      page.tokens = reset ? nodes : page.tokens.concat(nodes);
      page.after = d.tokens.pageInfo.hasNextPage ? d.tokens.pageInfo.endCursor : null;
      renderTokens(d.tokens.totalCount);
      renderRarity();
    } catch (err) { showError(err); }
  }

  renderSummary();
  renderActions();
  renderTraits();
  await loadTokens(true);
  renderHistory(d.collection);

  // Live: the collection's state after every committed change.
  const stop = live.subscribe(`subscription($slug: String!) { collectionUpdated(slug: $slug) { changed at collection { ${COLLECTION_FIELDS} traitDistribution { type value count frequency } } } }`, { slug }, (ev) => {
    const u = ev.collectionUpdated;
    const floorBefore = price(page.c.floor);
    page.c = u.collection;
    renderSummary();
    renderActions();
    if (!u.changed.length) return; // the first event: the state we have
    $('#updated').textContent = 'updated live at ' + new Date(u.at).toLocaleTimeString() + ': ' + u.changed.map((c) => c.toLowerCase()).join(', ');
    if (price(page.c.floor) !== floorBefore) flash($('#floor'));
    if (u.changed.includes('FLOOR') || u.changed.includes('VOLUME')) reloadHistory().catch(showError);
    if (u.changed.includes('TOKENS') || u.changed.includes('RARITY')) { renderTraits(); loadTokens(true); }
  });
  return () => { stop(); destroyCharts(); };
}

// ---- routing ------------------------------------------------------------------

let leave = () => {};
let routeSeq = 0;

async function route() {
  const seq = ++routeSeq;
  leave();
  leave = () => {};
  showError(null);
  const view = el('div', {});
  $('#view').replaceChildren(view);
  const m = location.hash.match(/^#\/c\/(.+)$/);
  try {
    await probeRole();
    if (seq !== routeSeq) return;
    const stop = m ? await collectionView(view, decodeURIComponent(m[1])) : await listView(view);
    if (seq !== routeSeq) { stop(); return; }
    leave = stop;
  } catch (err) {
    if (seq === routeSeq) showError(err);
  }
}

$('#token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const t = $('#token-input').value.trim();
  if (t) setToken(t);
});
$('#token-forget').addEventListener('click', () => setToken(''));
if (state.token) $('#token-input').placeholder = 'token set (another?)';
window.addEventListener('hashchange', route);
route();
