// reel review --web: the page's buttons and keys. The server renders every
// piece of markup (escaped there); this script only fetches it, sends
// decisions with the review's token and moves between cases.
'use strict';

const token = new URLSearchParams(location.search).get('token') || '';
const $ = (id) => document.getElementById(id);
let fingerprint = null;
let current = null;
let planned = null;
// Each plan asked for gets a number; closing a plan (Esc, another case)
// moves it on, so an answer that arrives late is dropped.
let planSeq = 0;
let busy = false;

async function api(method, path, body) {
  const headers = { 'X-Reel-Token': token };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit',
  });
  let j;
  try {
    j = await r.json();
  } catch (e) {
    j = { error: 'the review answered ' + r.status + ' with something unreadable' };
  }
  if (!r.ok) {
    const err = new Error(j.error || r.statusText);
    err.changed = !!j.changed;
    throw err;
  }
  return j;
}

function toast(text, bad) {
  const t = $('toast');
  t.textContent = text;
  t.classList.toggle('bad', !!bad);
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, bad ? 9000 : 4000);
}

function items() {
  return Array.from(document.querySelectorAll('#list li.item'));
}

function visible() {
  return items().filter((li) => !li.classList.contains('hide'));
}

function fillSelect(id, values) {
  const sel = $(id);
  const keep = sel.value;
  while (sel.options.length > 1) sel.remove(1);
  for (const v of values) {
    const o = document.createElement('option');
    o.value = v;
    o.textContent = v;
    sel.appendChild(o);
  }
  sel.value = values.includes(keep) ? keep : '';
}

function filters() {
  const all = items();
  const methods = [...new Set(all.map((li) => li.dataset.method))].sort();
  const deps = [...new Set(all.flatMap((li) => li.dataset.deps.split(' ').filter(Boolean)))].sort();
  fillSelect('f-method', methods);
  fillSelect('f-dep', deps);
}

function applyFilters() {
  const outcome = $('f-outcome').value;
  const method = $('f-method').value;
  const dep = $('f-dep').value;
  const path = $('f-path').value.trim();
  for (const li of items()) {
    let show = true;
    if (outcome === 'pending') show = li.dataset.pending === 'true';
    else if (outcome) show = li.dataset.outcome === outcome;
    if (method && li.dataset.method !== method) show = false;
    if (dep && !li.dataset.deps.split(' ').includes(dep)) show = false;
    if (path && !li.dataset.path.includes(path)) show = false;
    li.classList.toggle('hide', !show);
  }
  const n = visible().length;
  $('counts').textContent = n + ' of ' + items().length + ' shown';
}

async function loadList() {
  const j = await api('GET', '/api/cases');
  $('list').innerHTML = j.html;
  fingerprint = j.fingerprint;
  $('changed').hidden = true;
  filters();
  applyFilters();
  for (const li of items()) li.addEventListener('click', () => select(li.dataset.name));
}

function mark(name) {
  for (const li of items()) {
    const on = li.dataset.name === name;
    li.classList.toggle('sel', on);
    if (on) li.scrollIntoView({ block: 'nearest' });
  }
}

async function select(name) {
  closePlan();
  current = name;
  mark(name);
  history.replaceState(null, '', location.pathname + location.search + '#case=' + encodeURIComponent(name));
  try {
    const j = await api('GET', '/api/case?name=' + encodeURIComponent(name));
    if (current !== name) return;
    $('case').innerHTML = j.html;
  } catch (e) {
    $('case').textContent = e.message;
  }
}

function move(step) {
  const vis = visible();
  if (!vis.length) return;
  let i = vis.findIndex((li) => li.dataset.name === current);
  i = i < 0 ? 0 : Math.min(Math.max(i + step, 0), vis.length - 1);
  select(vis[i].dataset.name);
}

function closePlan() {
  planSeq += 1;
  planned = null;
  $('plan').hidden = true;
  $('plan').textContent = '';
}

const titles = {
  accept: 'Accept',
  reject: 'Reject',
  ignore: 'Ignore a path',
  match_kind: 'Match by kind',
};

async function plan(decision) {
  if (!current || busy) return;
  closePlan();
  const seq = planSeq;
  const name = current;
  try {
    const j = await api('POST', '/api/plan', { case: name, decision });
    if (seq !== planSeq || current !== name) return;
    planned = { decision, version: j.version, name };
    const box = $('plan');
    box.innerHTML =
      '<h2></h2>' + j.html +
      '<div class="go"><button type="button" id="plan-apply">Apply (Enter)</button>' +
      '<button type="button" id="plan-cancel">Cancel (Esc)</button></div>';
    box.querySelector('h2').textContent = titles[decision.kind] + ' · ' + name;
    box.hidden = false;
    $('plan-apply').addEventListener('click', apply);
    $('plan-cancel').addEventListener('click', closePlan);
    $('plan-apply').focus({ preventScroll: true });
    box.scrollTop = 0;
  } catch (e) {
    if (seq !== planSeq) return;
    toast(e.message, true);
    if (e.changed) $('changed').hidden = false;
  }
}

async function apply() {
  if (!planned || busy) return;
  const { decision, name } = planned;
  busy = true;
  let j;
  try {
    j = await api('POST', '/api/apply', { case: name, decision, version: planned.version });
  } catch (e) {
    closePlan();
    toast(e.message, true);
    if (e.changed) $('changed').hidden = false;
    busy = false;
    return;
  }
  closePlan();
  toast(j.says);
  fingerprint = j.fingerprint;
  busy = false;
  try {
    await loadList();
  } catch (e) {
    toast('Applied, but the list could not be read again: ' + e.message, true);
    return;
  }
  // The reviewer may have moved on while it was applied: stay there.
  if (current !== name) return mark(current);
  if (decision.kind === 'accept' || decision.kind === 'reject') {
    const vis = visible();
    const i = vis.findIndex((li) => li.dataset.name === name);
    const open = (li) => li.dataset.name !== name && (li.dataset.pending === 'true' || li.dataset.outcome === 'failed');
    const next = vis.slice(i + 1).find(open) || vis.find(open);
    await select(next ? next.dataset.name : name);
  } else {
    await select(name);
  }
}

async function rerun() {
  if (!current || busy) return;
  busy = true;
  const name = current;
  toast('Re-running ' + name + '…');
  try {
    const j = await api('POST', '/api/rerun', { case: name });
    toast(j.says);
    fingerprint = j.fingerprint;
    await loadList();
    await select(name);
  } catch (e) {
    toast(e.message, true);
  } finally {
    busy = false;
  }
}

function act(kind) {
  const b = document.querySelector('#case [data-act="' + kind + '"]');
  if (kind === 'skip') return move(1);
  if (!b) return;
  if (b.disabled) {
    toast('Nothing pending to ' + kind + ' in ' + current + '.', true);
    return;
  }
  if (kind === 'rerun') return rerun();
  plan({ kind });
}

document.addEventListener('click', (ev) => {
  const b = ev.target.closest('#case button');
  if (!b || b.disabled) return;
  if (b.classList.contains('dact')) {
    const path = b.dataset.path;
    if (b.dataset.act === 'ignore') plan({ kind: 'ignore', path, scope: b.dataset.scope });
    else if (b.dataset.act === 'kind') plan({ kind: 'match_kind', path });
  } else if (b.dataset.act) {
    act(b.dataset.act);
  }
});

document.addEventListener('keydown', (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const typing = ev.target.closest('input, select, textarea');
  if (ev.key === 'Escape') {
    closePlan();
    $('help').hidden = true;
    if (typing) ev.target.blur();
    return;
  }
  if (typing) return;
  // Enter on a focused button is that button's click (Cancel cancels).
  if (ev.target.closest('button') && ev.key === 'Enter') return;
  if (planned && ev.key === 'Enter') {
    ev.preventDefault();
    apply();
    return;
  }
  switch (ev.key) {
    case 'j': move(1); break;
    case 'k': move(-1); break;
    case 'a': act('accept'); break;
    case 'r': act('reject'); break;
    case 's': act('skip'); break;
    case '?': $('help').hidden = !$('help').hidden; break;
    default: return;
  }
  ev.preventDefault();
});

for (const id of ['f-outcome', 'f-method', 'f-dep']) $(id).addEventListener('change', applyFilters);
$('f-path').addEventListener('input', applyFilters);
$('reload').addEventListener('click', async () => {
  await loadList();
  if (current) await select(current);
});

// Someone else (another tab, an editor, git) changed the suite: say so,
// and let decisions be refused until the page shows the files as they are.
setInterval(async () => {
  if (busy || document.hidden) return;
  try {
    const j = await api('GET', '/api/fingerprint');
    if (fingerprint && j.fingerprint !== fingerprint) $('changed').hidden = false;
  } catch (e) {
    // The review stopped; the next action says so.
  }
}, 2000);

(async () => {
  try {
    await loadList();
  } catch (e) {
    $('case').textContent = e.message;
    return;
  }
  let wanted = '';
  try {
    wanted = decodeURIComponent((location.hash.match(/^#case=(.*)$/) || [])[1] || '');
  } catch (e) {
    // A damaged address: start at the top.
  }
  const first = items().find((li) => li.dataset.name === wanted) || visible()[0];
  if (first) await select(first.dataset.name);
  else $('case').textContent = 'This suite has no cases.';
})();
