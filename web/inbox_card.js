// How the inbox page shows one notification (docs/DESIGN.md, "The browser
// side"): its card (title, body, link, icon, times, actions) built as DOM
// nodes from an item of inbox_items.js, and the texts around it.
//
// A JSON object payload with any of title/body/url/icon as strings is a
// card; other JSON is shown formatted, anything else as text. Payload
// content is only ever set with textContent, never as HTML, and only
// http(s) URLs become links or images.

// Events whose name says nothing more than "a notification".
const DEFAULT_EVENTS = new Set(['notification', 'message']);

function parseJson(s) {
  try { return JSON.parse(s); } catch (e) { return null; }
}

// The payload as a notification card, when it is a JSON object with any of
// title/body/url/icon as strings; otherwise null.
export function cardOf(it) {
  const d = parseJson(it.data);
  if (!d || typeof d !== 'object' || Array.isArray(d)) return null;
  const str = (v) => (typeof v === 'string' && v.trim() ? v.trim() : '');
  const card = { title: str(d.title), body: str(d.body), url: safeUrl(d.url), icon: safeUrl(d.icon) };
  if (!card.title && !card.body && !card.url && !card.icon) return null;
  return card;
}

function safeUrl(v) {
  if (typeof v !== 'string' || !v) return '';
  try {
    const u = new URL(v, location.href);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : '';
  } catch (e) { return ''; }
}

function node(tag, cls, text) {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  if (text !== undefined) n.textContent = text;
  return n;
}

const ICONS = {
  read: 'M3.5 10.5l3.5 3.5 9-9',
  unread: 'M10 6.5a3.5 3.5 0 1 1 0 7 3.5 3.5 0 0 1 0-7Z',
  archive: 'M3 4.5h14v3H3zM4.5 7.5v8h11v-8M8 10.5h4',
  unarchive: 'M3 4.5h14v3H3zM4.5 7.5v8h11v-8M10 15v-5M7.75 12.25 10 10l2.25 2.25',
  external: 'M8 4.5H4.5v11h11V12M11 3.5h5.5V9M16.5 3.5 9 11',
  message: 'M4 4.5h12a1 1 0 0 1 1 1v7.5a1 1 0 0 1-1 1H9l-3.5 3v-3H4a1 1 0 0 1-1-1V5.5a1 1 0 0 1 1-1Z',
};
function icon(name) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 20 20');
  svg.setAttribute('width', '16');
  svg.setAttribute('height', '16');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const p = document.createElementNS(ns, 'path');
  p.setAttribute('d', ICONS[name]);
  p.setAttribute('fill', name === 'unread' ? 'currentColor' : 'none');
  p.setAttribute('stroke', 'currentColor');
  p.setAttribute('stroke-width', '1.6');
  p.setAttribute('stroke-linecap', 'round');
  p.setAttribute('stroke-linejoin', 'round');
  svg.append(p);
  return svg;
}

function avatarFor(it, card) {
  const box = node('span', 'avatar');
  box.setAttribute('aria-hidden', 'true');
  const letter = () => {
    const basis = (card && card.title) || it.event || 'N';
    const ch = Array.from(basis.trim())[0] || 'N';
    box.textContent = ch.toUpperCase();
    box.dataset.hue = String(hash(basis) % 6);
  };
  if (card && card.icon) {
    const img = node('img');
    img.alt = '';
    img.loading = 'lazy';
    img.decoding = 'async';
    img.referrerPolicy = 'no-referrer';
    img.src = card.icon;
    img.addEventListener('error', () => { img.remove(); letter(); }, { once: true });
    box.append(img);
    box.classList.add('has-img');
  } else if (card) {
    letter();
  } else {
    box.classList.add('generic');
    box.append(icon('message'));
  }
  return box;
}

function hash(s) {
  let h = 0;
  for (const c of s) h = (h * 31 + c.codePointAt(0)) >>> 0;
  return h;
}

// The list item of `it`: an <li> with data-id/read/seen/archived, the card
// as one button (data-action="open") and its toggle-read and
// toggle-archive buttons. Clears it.fresh (highlighted once).
export function buildItem(it) {
  const card = cardOf(it);
  const li = node('li', 'item');
  li.dataset.id = it.id;
  li.dataset.read = String(it.read);
  li.dataset.seen = String(it.seen);
  li.dataset.archived = String(it.archived);
  if (!it.read && !it.archived) li.classList.add('unread');
  if (it.fresh) {
    // Highlighted once, when it arrives.
    li.classList.add('fresh');
    it.fresh = false;
  }

  const titleId = 'n' + it.id + '-title';
  const bodyId = 'n' + it.id + '-body';
  const metaId = 'n' + it.id + '-meta';

  // The whole card is one button (Enter/Space); its actions sit above it.
  const open = node('button', 'open');
  open.type = 'button';
  open.dataset.action = 'open';
  open.setAttribute('aria-labelledby', titleId);
  open.setAttribute('aria-describedby', `${bodyId} ${metaId}`);

  const dot = node('span', 'dot');
  dot.setAttribute('aria-hidden', 'true');

  const content = node('div', 'content');
  const head = node('div', 'head');
  const title = node('span', 'title');
  title.id = titleId;
  const body = node('div', 'body');
  body.id = bodyId;
  if (card) {
    title.textContent = card.title || card.body || (card.url && hostOf(card.url)) || 'Notification';
    body.textContent = card.title ? card.body : '';
  } else {
    const json = parseJson(it.data);
    if (json !== null && typeof json === 'object') {
      // Structured data that is not a card: shown as formatted JSON.
      title.textContent = DEFAULT_EVENTS.has(it.event) || !it.event ? 'Message' : it.event;
      body.append(node('pre', 'text', JSON.stringify(json, null, 2)));
    } else {
      // Plain text (or a JSON string/number): the text is the message.
      title.textContent = typeof json === 'string' ? json : it.data;
      title.classList.add('plain');
      if (!title.textContent.trim()) title.textContent = 'Message';
    }
  }
  const time = node('time', 'time');
  time.dataset.ts = String(it.createdAt);
  time.dateTime = new Date(it.createdAt).toISOString();
  time.title = new Date(it.createdAt).toLocaleString();
  time.textContent = relativeTime(it.createdAt);
  head.append(title, time);
  content.append(head);
  if (body.textContent) content.append(body);

  const meta = node('div', 'meta');
  meta.id = metaId;
  const parts = [];
  if (!it.read) parts.push(node('span', 'sr-only', 'Unread.'));
  if (card && card.url) {
    const link = node('span', 'link');
    link.append(icon('external'), document.createTextNode(hostOf(card.url)));
    parts.push(link);
  }
  if (it.expiresAt) {
    const exp = node('span', 'expires', expiresText(it.expiresAt));
    exp.dataset.expires = String(it.expiresAt);
    parts.push(exp);
  }
  // The event name, unless it is the default one or already the title.
  if (it.event && !DEFAULT_EVENTS.has(it.event) && title.textContent !== it.event) {
    parts.push(node('span', 'event', it.event));
  }
  meta.append(...parts);
  content.append(meta);

  const actions = node('div', 'actions');
  actions.append(
      actionButton('toggle-read', it.read ? 'Mark as unread' : 'Mark as read',
          it.read ? 'unread' : 'read'),
      actionButton('toggle-archive', it.archived ? 'Unarchive' : 'Archive',
          it.archived ? 'unarchive' : 'archive'));

  li.append(open, dot, avatarFor(it, card), content, actions);
  return li;
}

// An icon button of an item's actions (data-action tells the page's click
// handler what it does).
function actionButton(action, label, iconName) {
  const b = node('button', 'icon-btn');
  b.type = 'button';
  b.dataset.action = action;
  b.setAttribute('aria-label', label);
  b.title = label;
  b.append(icon(iconName));
  return b;
}

function hostOf(url) {
  try { return new URL(url).host; } catch (e) { return url; }
}

export const MINUTE = 60e3;
const HOUR = 60 * MINUTE, DAY = 24 * HOUR;
// "just now", "5 min ago", "yesterday", "Mar 3"...
export function relativeTime(ts, now = Date.now()) {
  const d = now - ts;
  if (d < 45e3) return 'just now';
  if (d < HOUR) return `${Math.max(1, Math.round(d / MINUTE))} min ago`;
  if (d < DAY) return `${Math.round(d / HOUR)} h ago`;
  if (d < 2 * DAY) return 'yesterday';
  if (d < 7 * DAY) return `${Math.floor(d / DAY)} days ago`;
  const date = new Date(ts);
  const opts = { month: 'short', day: 'numeric' };
  if (date.getFullYear() !== new Date(now).getFullYear()) opts.year = 'numeric';
  return date.toLocaleDateString(undefined, opts);
}
export function expiresText(ts, now = Date.now()) {
  const d = ts - now;
  if (d <= 0) return 'Expired';
  if (d < MINUTE) return 'Expires in < 1 min';
  if (d < HOUR) return `Expires in ${Math.round(d / MINUTE)} min`;
  if (d < DAY) return `Expires in ${Math.round(d / HOUR)} h`;
  return `Expires in ${Math.round(d / DAY)} days`;
}

// One line that says what `it` is, for the live region: the card's title
// (or body), a text payload, or "Message"; at most 140 characters.
export function summaryOf(it) {
  const card = cardOf(it);
  const json = card ? null : parseJson(it.data);
  const what = card ? (card.title || card.body || 'Notification')
    : typeof json === 'string' ? json
    : json !== null && typeof json === 'object' ? 'Message' : it.data;
  return what.length > 140 ? what.slice(0, 139) + '…' : what;
}
