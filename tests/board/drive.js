// drive.js URL DIR - open lmsync-board's page in headless Chromium (Debian's
// /usr/bin/chromium, or $CHROMIUM) and mirror what it shows, for
// tests/e2e/board.sh:
//   DIR/dom.json     every 250 ms, written atomically: the page's state as
//                    read from the DOM (courses, connections, feed, status,
//                    accessibility findings)
//   DIR/shot         when it appears, a full-page screenshot goes to the
//                    path it holds, then DIR/shot.done is written
//   DIR/stop         when it appears, the browser closes and the script ends
'use strict';
const fs = require('fs');
const path = require('path');
const puppeteer = require('puppeteer-core');

const [url, dir] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Runs in the page: everything the test compares, read from the DOM only.
function readPage() {
  const text = (e) => (e ? e.textContent.trim() : null);
  const fields = (tr) => {
    const o = {};
    for (const td of tr.querySelectorAll('td[data-field]')) o[td.dataset.field] = text(td);
    return o;
  };
  const courses = [...document.querySelectorAll('#courses tr[data-key]')].map((tr) => {
    const o = { key: tr.dataset.key, ...fields(tr) };
    const p = tr.querySelector('progress');
    if (p) Object.assign(o, { bar_value: p.value, bar_max: p.max, bar_label: p.getAttribute('aria-label') });
    return o;
  });
  const connections = [...document.querySelectorAll('#connections tr[data-connection]')]
    .map((tr) => ({ id: tr.dataset.connection, ...fields(tr) }));
  const feed = [...document.querySelectorAll('#feed li')].map((li) => ({
    id: li.dataset.id || null, activity: li.dataset.activity, connection: li.dataset.connection, text: text(li) }));

  // WCAG AA: contrast of every visible text against its effective background.
  const rgb = (s) => { const m = s.match(/[\d.]+/g).map(Number); return { c: m.slice(0, 3), a: m.length > 3 ? m[3] : 1 }; };
  const lum = (c) => { const f = c.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * f[0] + 0.7152 * f[1] + 0.0722 * f[2]; };
  const background = (e) => {
    for (; e; e = e.parentElement) { const b = rgb(getComputedStyle(e).backgroundColor); if (b.a > 0) return b.c; }
    return [255, 255, 255];
  };
  const contrast = [];
  for (const e of document.querySelectorAll('body *')) {
    const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !e.getClientRects().length || e.closest('script,style,[hidden]')) continue;
    const cs = getComputedStyle(e);
    const l1 = lum(rgb(cs.color).c), l2 = lum(background(e));
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const large = parseFloat(cs.fontSize) >= 24 || (parseFloat(cs.fontSize) >= 18.66 && Number(cs.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) contrast.push({ tag: e.tagName, text: text(e).slice(0, 40), ratio: Math.round(ratio * 100) / 100 });
  }
  const a11y = {
    lang: document.documentElement.lang,
    captions: document.querySelectorAll('table caption').length,
    tables: document.querySelectorAll('table').length,
    col_headers_without_scope: document.querySelectorAll('thead th:not([scope])').length,
    unlabeled_bars: [...document.querySelectorAll('progress')].filter((p) => !p.getAttribute('aria-label')).length,
    unlabeled_inputs: [...document.querySelectorAll('input')].filter((i) => !i.closest('label') && !i.labels.length).length,
    contrast_failures: contrast,
  };
  return { status: document.getElementById('status').dataset.state, courses, connections, feed, a11y };
}

function writeAtomic(file, data) {
  fs.writeFileSync(file + '.tmp', data);
  fs.renameSync(file + '.tmp', file);
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1366, height: 900 });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  for (;;) {
    if (fs.existsSync(path.join(dir, 'stop'))) break;
    const state = await page.evaluate(readPage);
    state.errors = errors;
    writeAtomic(path.join(dir, 'dom.json'), JSON.stringify(state));
    const shot = path.join(dir, 'shot');
    if (fs.existsSync(shot)) {
      await page.screenshot({ path: fs.readFileSync(shot, 'utf8').trim(), fullPage: true });
      fs.unlinkSync(shot);
      fs.writeFileSync(shot + '.done', '');
    }
    await sleep(250);
  }
  await browser.close();
})().catch((e) => { console.error(e); process.exit(1); });
