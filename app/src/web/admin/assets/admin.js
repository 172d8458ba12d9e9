// The portal's behaviour on top of server-rendered pages; every page works without it.
// - times in the reader's own time zone (the page says UTC)
// - "are you sure?" on forms with data-confirm
// - reloading a list while a run on it is still under way (data-refresh-seconds)
// - the schedule editor: only the chosen schedule's fields, and a live preview of the next runs
'use strict';

const localTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

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
    count: 5,
  };
}

function renderPreview(output, answer, ok) {
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
  for (const at of answer.nextRuns) {
    const item = document.createElement('li');
    const time = document.createElement('time');
    time.setAttribute('datetime', at);
    time.textContent = at;
    item.append(time);
    runs.append(item);
  }
  output.append(description, runs);
  if (answer.nextRuns.length === 0) output.append('No upcoming runs.');
  showLocalTimes(output);
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
  const preview = async () => {
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
      if (mine === sequence) renderPreview(output, answer, response.ok);
    } catch {
      if (mine === sequence) output.textContent = 'Preview unavailable (offline?)';
    }
  };
  const schedulePreview = () => {
    clearTimeout(timer);
    timer = setTimeout(preview, 250);
  };

  form.addEventListener('input', schedulePreview);
  form.addEventListener('change', () => {
    showChosen();
    schedulePreview();
  });
  // With the live preview the server-side "Preview" button is not needed.
  form.querySelector('button[value="preview"]')?.setAttribute('hidden', '');
  showChosen();
  preview();
}

showLocalTimes(document);
confirmForms();
refreshWhileRunning();
for (const form of document.querySelectorAll('form[data-schedule-editor]')) scheduleEditor(form);
