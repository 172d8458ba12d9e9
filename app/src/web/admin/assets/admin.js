// The portal's behaviour on top of server-rendered pages; every page works without it.
// - times in the reader's own time zone (the page says UTC)
// - "are you sure?" on forms with data-confirm
// - reloading a list while a run on it is still under way (data-refresh-seconds)
// - the schedule editor: only the chosen schedule's fields, and a live preview of the next runs
//   (a crontab's in its own time zone, named)
// - copy buttons (data-copy) for a new API token
// - after "Run a speed test now": from the run's page to its speed test once it is stored
// - on a phone: the navigation folded behind a Menu button, and tables shown as cards
'use strict';

// 'long' names the zone ("… 12:00:00 PM GMT+1"), so no time on a page is ambiguous.
const localTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'long' });

function showLocalTimes(root) {
  for (const element of root.querySelectorAll('time[datetime]')) {
    const date = new Date(element.getAttribute('datetime'));
    if (Number.isNaN(date.getTime())) continue;
    element.title = element.textContent;
    element.textContent = localTime.format(date);
  }
}

function confirmForms() {
  document.addEventListener('submit', (event) => {
    const message = event.target.getAttribute('data-confirm');
    if (message && !window.confirm(message)) event.preventDefault();
  });
}

function refreshWhileRunning() {
  const element = document.querySelector('[data-refresh-seconds]');
  if (!element) return;
  const seconds = Number(element.getAttribute('data-refresh-seconds')) || 5;
  setTimeout(() => window.location.reload(), seconds * 1000);
}

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';
}

/** The editor's schedule fields, in the API's shape (the same mapping the server does). */
function scheduleFromForm(form) {
  const value = (name) => form.elements.namedItem(name)?.value?.trim() ?? '';
  const utc = (text) => (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(text) ? `${text}Z` : text);
  const type = form.querySelector('input[name="scheduleType"]:checked')?.value ?? 'crontab';
  const every = value('every');
  const schedule =
    type === 'interval'
      ? { type, every: /^\d+$/.test(every) ? Number(every) : every, period: value('period') }
      : type === 'crontab'
        ? { type, expression: value('expression'), timezone: value('timezone') || 'UTC' }
        : { type, at: utc(value('at')) };
  return {
    schedule,
    startTime: value('startTime') ? utc(value('startTime')) : null,
    expiresAt: value('expiresAt') ? utc(value('expiresAt')) : null,
    oneOff: form.elements.namedItem('oneOff')?.checked ?? false,
    lastRunAt: form.getAttribute('data-last-run-at') || null,
    // The speed test form runs one task; the general editor says which in its select.
    task: value('form') === 'speedtest' ? 'speedtester.run_speedtest' : value('task') || undefined,
    count: 5,
  };
}

/** A crontab's runs in its own zone (the one its description speaks of), others in the reader's. */
function previewFormat(timeZone) {
  try {
    return timeZone
      ? new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'long', timeZone })
      : localTime;
  } catch {
    return localTime; // a zone the browser does not know: the server names the problem
  }
}

function renderPreview(output, answer, ok, timeZone) {
  output.replaceChildren();
  if (!ok) {
    const list = document.createElement('ul');
    list.className = 'field-error';
    for (const issue of answer.issues ?? [{ path: '', message: answer.error ?? 'failed' }]) {
      const item = document.createElement('li');
      item.textContent = `${issue.path.replace(/^schedule\./, '')}: ${issue.message}`;
      list.append(item);
    }
    output.append(list);
    return;
  }
  const description = document.createElement('strong');
  description.textContent = answer.description;
  const runs = document.createElement('ol');
  const format = previewFormat(timeZone);
  for (const at of answer.nextRuns) {
    const item = document.createElement('li');
    const time = document.createElement('time');
    time.setAttribute('datetime', at);
    time.title = at;
    time.textContent = format.format(new Date(at));
    item.append(time);
    runs.append(item);
  }
  output.append(description, runs);
  if (answer.nextRuns.length === 0) output.append('No upcoming runs.');
  for (const warning of answer.warnings ?? []) {
    const note = document.createElement('p');
    note.className = 'warning';
    note.textContent = `Note: ${warning}.`;
    output.append(note);
  }
}

function scheduleEditor(form) {
  const output = form.querySelector('[data-preview]');
  const sections = form.querySelectorAll('[data-schedule]');
  let timer;
  let sequence = 0;

  const showChosen = () => {
    const type = form.querySelector('input[name="scheduleType"]:checked')?.value;
    for (const section of sections) section.hidden = section.getAttribute('data-schedule') !== type;
  };
  // On load, a refused form already shows each problem beside its field: the preview then shows
  // only a schedule that works, not the same problems a second time.
  const preview = async (onLoad = false) => {
    const mine = ++sequence;
    try {
      const response = await fetch('/api/v1/schedules/preview', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken() },
        body: JSON.stringify(scheduleFromForm(form)),
        credentials: 'same-origin',
      });
      const answer = await response.json();
      // An older request answering late must not overwrite a newer preview.
      const { schedule } = scheduleFromForm(form);
      if (onLoad && !response.ok) return;
      if (mine === sequence)
        renderPreview(
          output,
          answer,
          response.ok,
          schedule.type === 'crontab' ? schedule.timezone : undefined,
        );
    } catch {
      if (mine === sequence) output.textContent = 'Preview unavailable (offline?)';
    }
  };
  const schedulePreview = () => {
    clearTimeout(timer);
    timer = setTimeout(() => preview(), 250);
  };

  form.addEventListener('input', schedulePreview);
  form.addEventListener('change', () => {
    showChosen();
    schedulePreview();
  });
  // With the live preview the server-side "Preview" button is not needed.
  form.querySelector('button[value="preview"]')?.setAttribute('hidden', '');
  showChosen();
  preview(true);
}

/** The Menu button folds the navigation (and sign-out) away; the CSS shows it on phones only. */
function foldingNavigation() {
  const header = document.querySelector('header.top');
  const button = header?.querySelector('.menu-toggle');
  if (!button) return;
  const setOpen = (open) => {
    header.classList.toggle('open', open);
    button.setAttribute('aria-expanded', String(open));
  };
  header.classList.add('foldable');
  button.addEventListener('click', () => setOpen(!header.classList.contains('open')));
  document.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || !header.classList.contains('open')) return;
    setOpen(false);
    button.focus();
  });
}

/**
 * Each table gets a wrapper that scrolls sideways instead of the page, and each cell its column's
 * name as data-label: on a phone the CSS shows a row as a card of "column: value" lines. Cells
 * with nothing in them are marked data-empty and left out of the card. The roles keep the table
 * a table for screen readers, which some browsers drop once the cells are display: block.
 */
function tablesAsCards(root) {
  for (const table of root.querySelectorAll('main table')) {
    const headings = [...table.querySelectorAll('thead th')].map((th) => th.textContent.trim());
    if (headings.length === 0) continue;
    table.setAttribute('role', 'table');
    for (const group of table.querySelectorAll('thead, tbody'))
      group.setAttribute('role', 'rowgroup');
    for (const th of table.querySelectorAll('thead th')) th.setAttribute('role', 'columnheader');
    for (const row of table.rows) {
      row.setAttribute('role', 'row');
      if (row.parentElement?.tagName !== 'TBODY') continue;
      for (const [index, cell] of [...row.cells].entries()) {
        cell.setAttribute('role', 'cell');
        cell.setAttribute('data-label', headings[index] ?? '');
        if (cell.children.length === 0 && cell.textContent.trim() === '')
          cell.setAttribute('data-empty', '');
      }
    }
    table.classList.add('cards');
    const wrap = document.createElement('div');
    wrap.className = 'table-wrap';
    table.replaceWith(wrap);
    wrap.append(table);
  }
}

/** Buttons with data-copy="ID" copy that element's text (a new API token) to the clipboard. */
function copyButtons() {
  document.addEventListener('click', async (event) => {
    const button = event.target.closest?.('button[data-copy]');
    if (!button) return;
    const source = document.getElementById(button.getAttribute('data-copy'));
    if (!source) return;
    try {
      await window.navigator.clipboard.writeText(source.textContent.trim());
      button.textContent = 'Copied';
    } catch {
      // No clipboard (plain HTTP, an old browser): select the text for a manual copy.
      window.getSelection()?.selectAllChildren(source);
      button.textContent = 'Selected: press Ctrl+C';
    }
  });
}

foldingNavigation();
copyButtons();
tablesAsCards(document);
showLocalTimes(document);
confirmForms();
refreshWhileRunning();
for (const form of document.querySelectorAll('form[data-schedule-editor]')) scheduleEditor(form);

/**
 * A task result opened from Home's "Run a speed test now" carries ?then=speedtest: once the run
 * is done (the page no longer reloads itself) and has stored a speed test, that test opens. A
 * failed run stays on its result, with the error.
 */
function followToSpeedtest() {
  if (new window.URLSearchParams(window.location.search).get('then') !== 'speedtest') return;
  if (document.querySelector('[data-refresh-seconds]')) return;
  const link = document.querySelector('main a[data-speedtest]');
  if (link) window.location.replace(link.href);
}
followToSpeedtest();
