// Drives headless Chromium (Debian's /usr/bin/chromium) against a served
// docs site with playwright-core. tests/docs_site.rs starts the servers and
// runs this; it can also be run by hand:
//
//   node tests/browser/docs.mjs example http://127.0.0.1:8080/ target/docs-browser [file:///…/index.html]
//
// Modes: `example` (the retention project: search, node page, lineage,
// column lineage, selector, dashboards, report, keyboard, contrast),
// `scale` (a large project: first paint and interaction times). It prints one
// JSON line of measured times and exits non-zero on the first failed check.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const [mode, url, outDir] = process.argv.slice(2);
if (!mode || !url || !outDir) {
  console.error('usage: node docs.mjs example|scale URL SCREENSHOT_DIR');
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });
const executablePath = process.env.RDBT_TEST_CHROMIUM || '/usr/bin/chromium';
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
const errors = [];
page.on('pageerror', (e) => errors.push(String(e)));
page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
const times = {};

function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}
async function shot(name) {
  await page.screenshot({ path: path.join(outDir, name + '.png'), fullPage: false });
}
// Sets the hash and waits until the page says it rendered; returns ms.
async function navigate(hash, ready) {
  return page.evaluate(async ({ hash, ready }) => {
    const t0 = performance.now();
    // The router marks the body when a page has rendered.
    delete document.body.dataset.page;
    location.hash = hash;
    for (;;) {
      await new Promise((r) => requestAnimationFrame(r));
      if (document.body.dataset.page !== undefined && document.querySelector(ready)) break;
      if (performance.now() - t0 > 20000) throw new Error('timed out waiting for ' + ready);
    }
    return performance.now() - t0;
  }, { hash, ready });
}
// Types into the search box as a user does and waits for the results.
async function searchTime(text) {
  return page.evaluate(async (text) => {
    const q = document.getElementById('q');
    q.focus();
    const t0 = performance.now();
    q.value = text;
    q.dispatchEvent(new Event('input'));
    await new Promise((r) => requestAnimationFrame(r));
    return performance.now() - t0;
  }, text);
}

try {
  const t0 = Date.now();
  await page.goto(url);
  await page.waitForSelector('body[data-page]');
  times.first_view_ms = Date.now() - t0;
  times.first_contentful_paint_ms = await page.evaluate(() => {
    const e = performance.getEntriesByName('first-contentful-paint')[0];
    return e ? Math.round(e.startTime) : null;
  });

  if (mode === 'example') {
    await shot('overview');
    // Search as you type, then open the result with the keyboard.
    await page.keyboard.press('/');
    check(await page.evaluate(() => document.activeElement.id === 'q'), '"/" focuses the search box');
    await page.keyboard.type('fact_ord');
    await page.waitForSelector('#results li[data-i]');
    const first = await page.textContent('#results li[aria-selected="true"]');
    check(first.includes('fact_order'), 'the first result for "fact_ord" is fact_order, got ' + first);
    await page.keyboard.press('Enter');
    await page.waitForSelector('h1:has-text("fact_order") ~ table');
    check((await page.textContent('main')).includes('order_id'), 'the node page lists its columns');
    const mdTable = await page.$$eval('main table.md th', (ths) => ths.map((t) => t.textContent));
    check(mdTable.join(',') === 'event,sets', 'a markdown table in a description renders as a table: ' + mdTable);
    // Search finds columns too.
    await searchTime('late_delivery_share');
    const byColumn = await page.textContent('#results');
    check(byColumn.includes('mart_churn_drivers'), 'searching a column name finds its model');
    await page.keyboard.press('Escape');

    // Lineage around fact_order, one step each way.
    const lineage = await page.$$eval('#lineage .gnode', (ns) => ns.map((n) => n.textContent));
    check(lineage.some((t) => t.includes('int_order_events')), 'lineage shows the upstream int_order_events: ' + lineage);
    check(lineage.some((t) => t.includes('int_orders')), 'lineage shows the downstream int_orders');
    await page.fill('#up', '4');
    await page.dispatchEvent('#up', 'change');
    const deeper = await page.$$eval('#lineage .gnode', (ns) => ns.length);
    check(deeper > lineage.length, 'a deeper upstream shows more nodes');
    await page.locator('#lineage').screenshot({ path: path.join(outDir, 'lineage.png') });

    // Keyboard: the lineage graph's nodes are links reachable with Tab.
    await page.focus('#down');
    let reached = false;
    for (let i = 0; i < 6 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => !!document.activeElement.closest('#lineage .gnode'));
    }
    check(reached, 'Tab reaches the nodes of the lineage graph');

    // Column-level lineage: customer_id of fact_order.
    await page.click('button.colbtn[data-col="customer_id"]');
    await page.waitForSelector('#colgraph');
    const cols = await page.textContent('#colgraph');
    check(cols.includes('int_order_events.customer_id'), 'customer_id comes from int_order_events.customer_id: ' + cols);
    check(/mart_\w+\.customer_id/.test(cols) || cols.includes('int_orders.customer_id'), 'customer_id feeds downstream columns');
    await page.locator('#collineage').screenshot({ path: path.join(outDir, 'column-lineage.png') });

    // The node page's tests with their last results, and its raw and
    // compiled SQL.
    const tests = await page.textContent('main');
    check(tests.includes('unique_fact_order_order_id'), 'the node page lists its tests');
    check((await page.$$('main td.status-pass')).length > 0, 'the tests show their last result (pass)');
    check((await page.textContent('#code')).includes("ref('int_order_events')"), 'the source tab shows the raw SQL');
    await page.click('.tabs button[data-tab="compiled"]');
    const compiled = await page.textContent('#code');
    check(!compiled.includes('{{') && compiled.includes('int_order_events'), 'the compiled tab shows the compiled SQL: ' + compiled.slice(0, 80));

    // Sources with their freshness, and the exposures.
    await navigate('#/sources', 'main table');
    await page.waitForFunction(() => [...document.querySelectorAll('td[data-i]')].every((td) => td.textContent !== '…'));
    const freshness = await page.$$eval('td[data-i]', (tds) => tds.map((td) => td.className + ' ' + td.textContent));
    check(freshness.length === 2 && freshness.every((f) => /status-(pass|warn|error)/.test(f) && f.includes('newest')), 'sources show their freshness: ' + freshness);
    await navigate('#/exposures', 'main table');
    const exposures = await page.textContent('main');
    check(exposures.includes('retention_dashboard') && exposures.includes('printable'), 'the exposures page links the dashboards');

    // The selector box takes the CLI's syntax.
    times.selector_ms = await navigate('#/graph?select=' + encodeURIComponent('+mart_retention_monthly'), '#graph svg');
    const selected = await page.$$eval('#graph .gnode', (ns) => ns.map((n) => n.textContent));
    check(selected.some((t) => t.includes('int_orders')) && selected.some((t) => t.includes('mart_retention_monthly')), 'the selection +mart_retention_monthly holds its ancestors');
    check(!selected.some((t) => t.includes('mart_churn_drivers')), 'the selection leaves out unrelated marts');
    const example = await page.getAttribute('#sel', 'placeholder');
    check(/^e\.g\. \+\w+\+ /.test(example || ''), 'the selector box suggests a model of this project: ' + example);
    await navigate('#/graph?select=' + encodeURIComponent('nonsense:x'), '#selinfo .error');
    await navigate('#/graph', '#graph svg, #graph canvas');
    await shot('project-graph');

    // The retention dashboard, drawn from the warehouse's data.
    times.dashboard_ms = await navigate('#/dashboard/' + encodeURIComponent('exposure.retention.retention_dashboard'), '.chart svg');
    const charts = await page.$$eval('.chart', (cs) => cs.map((c) => c.dataset.type));
    check(charts.length === 6, 'the dashboard has six charts: ' + charts);
    const heat = await page.$$eval('.chart[data-type="heatmap"] rect', (r) => r.length);
    check(heat > 20, 'the cohort heatmap has cells: ' + heat);
    const points = await page.$$eval('.chart[data-type="line"] circle', (c) => c.length);
    check(points > 10, 'the churn line has points: ' + points);
    check((await page.$$('.chart .error')).length === 0, 'no chart failed');
    await shot('dashboard');

    // The report prints without the navigation.
    await navigate('#/report/' + encodeURIComponent('exposure.retention.retention_report'), '.chart svg');
    await page.emulateMedia({ media: 'print' });
    check(await page.evaluate(() => getComputedStyle(document.querySelector('.top')).display === 'none'), 'print hides the header');
    await page.pdf({ path: path.join(outDir, 'report.pdf') }).catch(() => {});
    await page.emulateMedia({ media: 'screen' });
    await shot('report');

    // Readable contrast: WCAG AA (4.5:1) for text on its background, on a
    // node page (badges, tables, links, muted text, test statuses).
    await navigate('#/node/' + encodeURIComponent('model.retention.fact_order'), 'main table');
    const worst = await page.evaluate(() => {
      const lum = (c) => {
        const [r, g, b] = c.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number).map((v) => {
          v /= 255;
          return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      };
      const bg = (el) => {
        for (let e = el; e; e = e.parentElement) {
          const c = getComputedStyle(e).backgroundColor;
          if (c && !c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') return c;
        }
        return 'rgb(255, 255, 255)';
      };
      let worst = { ratio: 99 };
      for (const el of document.querySelectorAll('main p, main a, main td, main th, .muted, .kind, .top a, .status-pass, .status-fail, .status-warn')) {
        if (!el.textContent.trim()) continue;
        const a = lum(getComputedStyle(el).color), b = lum(bg(el));
        const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        if (ratio < worst.ratio) worst = { ratio, text: el.textContent.slice(0, 40), cls: el.className };
      }
      return worst;
    });
    times.min_contrast = Math.round(worst.ratio * 100) / 100;
    check(worst.ratio >= 4.5, 'text contrast is at least 4.5:1, worst ' + JSON.stringify(worst));

    // The same site opened from disk, with no server: data files are
    // scripts, so a node page still loads its shard.
    const fromDisk = process.argv[5];
    if (fromDisk) {
      await page.goto(fromDisk + '#/node/' + encodeURIComponent('model.retention.fact_order'));
      await page.waitForSelector('body[data-page="node"] #lineage svg');
      check((await page.textContent('main')).includes('order_id'), 'the site works from file://');
    }
  } else if (mode === 'scale') {
    check(await page.$$eval('#tree details', (d) => d.length) > 0, 'the project tree is drawn');
    times.nodes = await page.evaluate(() => window.rdbtSelect('*').length);
    times.search_ms = [];
    for (const q of ['model_0012', 'model_00999', 'synthetic', 'layer_3', 'zzz_nothing']) {
      times.search_ms.push(Math.round(await searchTime(q)));
    }
    check((await page.$$('#results li[data-i]')).length === 0, 'an unknown word finds nothing');
    // Open node pages by picking a search result, as a user does.
    times.node_page_ms = [];
    for (const q of ['model_000012', 'model_004321', 'model_009876']) {
      await searchTime(q);
      const ms = await page.evaluate(async () => {
        const li = document.querySelector('#results li[data-i]');
        const t0 = performance.now();
        delete document.body.dataset.page;
        li.dispatchEvent(new MouseEvent('mousedown', { bubbles: true }));
        for (;;) {
          await new Promise((r) => requestAnimationFrame(r));
          if (document.body.dataset.page === 'node' && document.querySelector('#lineage svg')) break;
          if (performance.now() - t0 > 20000) throw new Error('the node page did not render');
        }
        return performance.now() - t0;
      });
      times.node_page_ms.push(Math.round(ms));
    }
    times.lineage_depth_ms = Math.round(await page.evaluate(async () => {
      const up = document.getElementById('up');
      const t0 = performance.now();
      up.value = '5';
      up.dispatchEvent(new Event('change'));
      await new Promise((r) => requestAnimationFrame(r));
      return performance.now() - t0;
    }));
    check(await page.$$eval('#lineage .gnode', (n) => n.length) > 1, 'the lineage of a synthetic model has its parents');
    times.selector_ms = Math.round(await navigate('#/graph?select=' + encodeURIComponent('+model_000500'), '#graph svg, #graph canvas'));
    times.whole_graph_ms = Math.round(await navigate('#/graph', '#graph canvas, #graph svg'));
    await shot('scale-graph');
  }
  check(errors.length === 0, 'no errors in the page: ' + errors.join(' | '));
  console.log(JSON.stringify({ mode, ok: true, times }));
  await browser.close();
} catch (e) {
  await shot('failure').catch(() => {});
  console.error(String(e && e.stack || e));
  console.log(JSON.stringify({ mode, ok: false, times, error: String(e && e.message || e) }));
  await browser.close();
  process.exit(1);
}
