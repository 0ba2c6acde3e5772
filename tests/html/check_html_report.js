#!/usr/bin/env node
// tests/html/check_html_report.js: opens an `allocwatch report --format html` page in headless
// Chromium and checks it against the JSON report of the same recordings.
//
// usage: check_html_report.js CHROMIUM REPORT.html REPORT.json OUT_DIR
//
// Checks: the page sets its "rendered" marker; no console error, uncaught exception, browser
// log error (a CSP violation), request for anything but the page itself, or dialog; the charts
// exist with a non-zero size; the memory chart has one point per snapshot, the peak point and
// one marker per failure, the peak and the end; the flame graphs' totals equal the report's
// live-at-exit and peak figures, are drawn to scale and zoom on a click; every leak site and
// failure of the JSON report is shown; the licence notices are there; text from the recording
// stayed text (no element was injected). Then the same page with a document that has the
// optional fields (growth series, a limit, a failure cause, a signal, `stacks`) and one that has
// none of them. Screenshots go to OUT_DIR. Exit 0: passed, 1: failed, 77: chromium cannot start.
'use strict';

const fs = require('fs');
const path = require('path');
const { Browser, StartError } = require('./cdp_browser');

const kRenderTimeoutMs = 20000;
const kOverallTimeoutMs = 50000;
const kWidth = 1280,
  kHeight = 900;

const failures = [];
function check(ok, what) {
  if (!ok) failures.push(what);
  return ok;
}

// Same as formatBytes() in report/render/html/app.js.
function formatBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    ++u;
  }
  const sign = n < 0 ? '-' : '';
  return u === 0 ? sign + v.toFixed(0) + ' B' : sign + v.toFixed(2) + ' ' + units[u];
}

const kDataOpen = '<script type="application/json" id="allocwatch-data">';

// The page with its embedded document replaced by `doc`.
function withDocument(html, doc) {
  const start = html.indexOf(kDataOpen);
  const end = html.indexOf('</script>', start);
  if (start < 0 || end < 0) throw new Error('the page has no embedded report document');
  const json = JSON.stringify(doc)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026');
  return html.slice(0, start + kDataOpen.length) + json + html.slice(end);
}

function embeddedDocument(html) {
  const start = html.indexOf(kDataOpen);
  const end = html.indexOf('</script>', start);
  return JSON.parse(html.slice(start + kDataOpen.length, end));
}

// What the page shows, gathered in the page.
const kInspect = `(() => {
  const box = (e) => { const r = e.getBoundingClientRect(); return { w: r.width, h: r.height }; };
  return Array.from(document.querySelectorAll('article.process')).map((article) => {
    const charts = {};
    for (const c of article.querySelectorAll('[data-chart]')) {
      const kind = c.dataset.chart;
      const info = {
        box: box(c),
        canvases: Array.from(c.querySelectorAll('canvas')).map(box),
        svgs: Array.from(c.querySelectorAll('svg')).map(box),
        rects: c.querySelectorAll('svg rect').length,
        titles: Array.from(c.querySelectorAll('svg g title')).map((t) => t.textContent),
        widths: Array.from(c.querySelectorAll('svg g')).map((g) => {
          const r = g.querySelector('rect'), t = g.querySelector('title');
          return [t ? t.textContent : '', r ? r.getBoundingClientRect().width : 0];
        }),
      };
      const chart = window.echarts && echarts.getInstanceByDom(c);
      if (chart) {
        info.series = chart.getOption().series.map((s) => ({
          name: s.name,
          points: (s.data || []).length,
          markers: s.markLine && s.markLine.data ? s.markLine.data.map((m) => m.name) : [],
        }));
      }
      charts[kind] = info;
    }
    return { text: article.innerText, charts };
  });
})()`;

const kInjected =
  "document.querySelectorAll('img, iframe, object, embed, [onerror], [onload]').length";

async function openReport(browser, file, name, outDir) {
  const page = await browser.newPage(kWidth, kHeight);
  await page.open('file://' + path.resolve(file), kRenderTimeoutMs);
  let marker;
  try {
    marker = await page.waitUntil('document.documentElement.dataset.rendered', kRenderTimeoutMs);
  } catch (e) {
    marker = 'never set (' + e.message + ')';
  }
  check(marker === 'true', name + ': rendered marker is "' + marker + '", expected "true"');
  const shot = await page.screenshot(path.join(outDir, name + '.png'));
  check(
    shot.width > 0 && shot.height > kHeight,
    name + ': screenshot is ' + shot.width + 'x' + shot.height,
  );
  const shown = await page.evaluate(kInspect);
  check(
    (await page.evaluate(kInjected)) === 0,
    name + ": an element came from the recording's text",
  );
  const title = await page.evaluate('document.title');
  const footer = await page.evaluate("document.getElementById('licences').textContent");
  for (const notice of [
    'echarts 6.1.0',
    'Apache ECharts: LICENSE',
    'Apache License',
    'ZRender',
    'd3: LICENSE',
    'Mike Bostock',
    'd3-flame-graph: LICENSE',
  ]) {
    check(footer.includes(notice), name + ': the licence notices lack "' + notice + '"');
  }
  return { page, shown, title };
}

function checkCanvasChart(name, chart) {
  if (!check(chart !== undefined, name + ': missing')) return false;
  check(chart.box.w > 100 && chart.box.h > 100, name + ': box is ' + JSON.stringify(chart.box));
  check(
    chart.canvases.length > 0 && chart.canvases.every((c) => c.w > 0 && c.h > 0),
    name + ': no canvas of non-zero size: ' + JSON.stringify(chart.canvases),
  );
  return check(Array.isArray(chart.series), name + ': no ECharts instance');
}

function checkFlame(name, chart, totalBytes, present, absent) {
  if (!check(chart !== undefined, name + ': missing')) return;
  check(
    chart.svgs.length === 1 && chart.svgs[0].w > 0 && chart.svgs[0].h > 0,
    name + ': no svg of non-zero size: ' + JSON.stringify(chart.svgs),
  );
  check(chart.rects > 1, name + ': ' + chart.rects + ' frames drawn');
  const root = chart.titles.find((t) => t.startsWith('all: '));
  check(
    root !== undefined && root.startsWith('all: ' + formatBytes(totalBytes) + ' '),
    name + ': root frame says "' + root + '", the report says ' + formatBytes(totalBytes),
  );
  // Drawn to scale: the root spans the graph, every frame's width is its share of the root's.
  const svgWidth = chart.svgs.length ? chart.svgs[0].w : 0;
  const rootWidth = (chart.widths.find(([t]) => t.startsWith('all: ')) || ['', 0])[1];
  check(
    rootWidth > 0.95 * svgWidth,
    name + ': root frame is ' + rootWidth + ' px wide in ' + svgWidth + ' px',
  );
  for (const fn of present) {
    const frame = chart.widths.find(([t]) => t.startsWith(fn + ': '));
    if (!check(frame !== undefined, name + ': no frame of ' + fn)) continue;
    const share = Number((/\(([0-9.]+)%\)$/.exec(frame[0]) || [])[1]);
    check(
      Math.abs(frame[1] - (rootWidth * share) / 100) < 2,
      name + ': ' + fn + ' is ' + frame[1] + ' px wide for ' + share + '% of ' + rootWidth + ' px',
    );
  }
  for (const fn of absent) {
    check(!chart.titles.some((t) => t.startsWith(fn + ': ')), name + ': has a frame of ' + fn);
  }
}

function siteFunction(site) {
  const f = (site.frames || [])[site.site_frame || 0];
  return f && f.function;
}

// The recorded report: every figure checked against report.json.
function checkRecorded(report, shown, title) {
  check(
    shown.length === report.processes.length,
    'recorded: ' + shown.length + ' processes shown, the report has ' + report.processes.length,
  );
  const subject = report.processes.findIndex((p) => /html_subject|script>/.test(p.process.exe));
  if (!check(subject >= 0, 'recorded: the subject program is not in the report')) return;
  const proc = report.processes[subject];
  const view = shown[subject];
  check(title.includes(path.basename(proc.process.exe)), 'recorded: title "' + title + '"');
  check(view.text.includes(proc.process.exe), 'recorded: the program path is not shown as text');

  const memory = view.charts.memory;
  if (checkCanvasChart('recorded memory chart', memory)) {
    const heap = memory.series.find((s) => s.name === 'heap live');
    const snapshots = proc.snapshots.length;
    check(snapshots >= 3, 'recorded: only ' + snapshots + ' snapshots in the recording');
    check(
      heap && heap.points === snapshots,
      'recorded memory chart: ' +
        (heap && heap.points) +
        ' heap points for ' +
        snapshots +
        ' snapshots',
    );
    const rss = memory.series.find((s) => s.name === 'RSS');
    check(rss && rss.points === snapshots, 'recorded memory chart: RSS points');
    const peak = memory.series.find((s) => s.name === 'peak (heap + mappings)');
    check(peak && peak.points === 1, 'recorded memory chart: no peak point');
    const events = memory.series.find((s) => s.name === 'events');
    const markers = events ? events.markers : [];
    const expected = proc.failures
      .map((f) => 'failed ' + f.call + ' ' + f.errno_name)
      .concat(['peak', proc.end.how === 'exit' ? 'exit' : proc.end.how]);
    check(
      JSON.stringify(markers) === JSON.stringify(expected),
      'recorded memory chart: markers ' +
        JSON.stringify(markers) +
        ', expected ' +
        JSON.stringify(expected),
    );
  }
  const live = proc.totals.live_bytes + proc.totals.mapped_live_bytes;
  // (leak_config's 3 KB are too narrow to draw; the leak table shows them.)
  checkFlame(
    'recorded flame graph at exit',
    view.charts['flame-exit'],
    live,
    ['main', 'grow_cache', 'map_arena'],
    ['peak_scratch'],
  );
  checkFlame(
    'recorded flame graph at the peak',
    view.charts['flame-peak'],
    proc.peak.live_bytes,
    ['main', 'grow_cache', 'peak_scratch'],
    [],
  );
  check(
    proc.peak.sites.length > 0 && siteFunction(proc.peak.sites[0]) === 'peak_scratch',
    "recorded: the report's top peak site is not peak_scratch",
  );

  const leakNames = proc.leaks.map((s) => s.site);
  check(
    proc.leaks.some((s) => siteFunction(s) === 'grow_cache') &&
      proc.leaks.some((s) => siteFunction(s) === 'leak_config'),
    "recorded: the report's leaks lack grow_cache or leak_config: " + JSON.stringify(leakNames),
  );
  for (const s of proc.leaks.concat(proc.mappings)) {
    check(view.text.includes(s.site), 'recorded: site "' + s.site + '" is not shown');
  }
  check(
    proc.failures.length === 1,
    'recorded: ' + proc.failures.length + ' failure groups, expected 1',
  );
  for (const f of proc.failures) {
    check(
      view.text.includes(f.call + '(') && view.text.includes(f.errno_name),
      'recorded: failure ' + f.call + ' ' + f.errno_name + ' is not shown',
    );
    check(
      f.frames.some((fr) => fr.function === 'fail_huge_alloc') &&
        view.text.includes('fail_huge_alloc ('),
      "recorded: the failure's stack (fail_huge_alloc) is not shown",
    );
  }
  // The growth chart draws what the document has, or says none.
  const hasGrowth = Array.isArray(proc.growth) || (proc.growth && Array.isArray(proc.growth.sites));
  if (!hasGrowth) {
    check(
      view.text.includes('none: this report has no per-site growth series'),
      'recorded: no growth series, but the page does not say none',
    );
  }
}

// Clicking a frame zooms the flame graph into it: the frame then spans the graph.
async function checkZoom(page) {
  const frame = "document.querySelector('[data-chart=flame-exit] svg g[name=grow_cache]')";
  const svgWidth = await page.evaluate(
    "document.querySelector('[data-chart=flame-exit] svg').getBoundingClientRect().width",
  );
  const before = await page.evaluate(
    frame + '.querySelector("rect").getBoundingClientRect().width',
  );
  await page.evaluate(frame + ".dispatchEvent(new MouseEvent('click', { bubbles: true }))");
  let after = before;
  try {
    after = await page.waitUntil(
      '(() => { const w = ' +
        frame +
        '.querySelector("rect").getBoundingClientRect().width;' +
        ' return w > 0.99 * ' +
        svgWidth +
        ' ? w : 0; })()',
      5000,
    );
  } catch (e) {
    /* reported below */
  }
  check(
    before < 0.99 * svgWidth && after > 0.99 * svgWidth,
    'recorded flame graph at exit: clicking grow_cache did not zoom into it (' +
      before +
      ' -> ' +
      after +
      ' px of ' +
      svgWidth +
      ')',
  );
}

// The optional fields filled in by hand, as the growth and limit analyses write them: they
// must be drawn. The per-stack figures come as `stacks` (frames inline) instead of
// `stack_profile`: the flame graphs must be the same.
function fullDocument(doc) {
  const d = JSON.parse(JSON.stringify(doc));
  const proc = d.processes.find((p) => p.failures && p.failures.length > 0);
  const snaps = proc.snapshots;
  const t = (s) => s.time_ns / 1e9;
  proc.growth = {
    sites: [
      {
        site: 'grows_fast (a.c:1)',
        fit: { slope_bytes_per_s: 4096, r2: 0.99 },
        sustained: true,
        series: snaps.map((s, i) => [t(s), 4096 * i]),
      },
      {
        site: 'grows_slowly <b>bold</b> (b.c:2)',
        fit: { slope_bytes_per_s: 16, r2: 0.5 },
        sustained: false,
        series: snaps.map((s, i) => [t(s), 16 * i]),
      },
    ],
  };
  proc.limit = {
    source: 'cgroup',
    limit_bytes: 64 * 1024 * 1024,
    headroom_bytes: 1024 * 1024,
    rate_bytes_per_s: 2048,
    seconds_to_limit: 512,
  };
  for (const s of snaps) s.headroom_bytes = 64 * 1024 * 1024 - s.rss_bytes;
  proc.failures[0].cause = { name: 'address space limit', detail: 'RLIMIT_AS 1 GiB' };
  proc.end.signal = 9;
  const table = proc.stack_profile.frames;
  proc.stacks = proc.stack_profile.stacks.map((st) => ({
    id: st.stack,
    at_exit: { live_bytes: st.live_bytes, mapped_live_bytes: st.mapped_live_bytes },
    at_peak: { live_bytes: st.peak_live_bytes, mapped_live_bytes: st.peak_mapped_live_bytes },
    frames: st.frames.map((i) => table[i]),
  }));
  delete proc.stack_profile;
  return { doc: d, index: d.processes.indexOf(proc) };
}

function checkFull(shown, index, report) {
  const view = shown[index];
  const proc = report.processes[index];
  const growth = view.charts.growth;
  if (checkCanvasChart('optional-fields growth chart', growth)) {
    check(
      growth.series.length === 2 && growth.series.every((s) => s.points > 2),
      'optional-fields growth chart: series ' + JSON.stringify(growth.series),
    );
  }
  check(
    view.text.includes('grows_slowly <b>bold</b> (b.c:2)'),
    'optional-fields: growth site name not shown as text',
  );
  check(
    view.text.includes('4.00 KiB/s') && view.text.includes('not sustained'),
    'optional-fields: growth rate or verdict not shown',
  );
  const memory = view.charts.memory;
  if (checkCanvasChart('optional-fields memory chart', memory)) {
    check(
      memory.series.some((s) => s.name === 'limit (cgroup)' && s.points === 2),
      'optional-fields memory chart: no limit line: ' + JSON.stringify(memory.series),
    );
    check(
      memory.series.some((s) => s.name === 'headroom' && s.points === proc.snapshots.length),
      'optional-fields memory chart: no headroom line: ' + JSON.stringify(memory.series),
    );
    const events = memory.series.find((s) => s.name === 'events');
    check(
      events && events.markers.includes('signal 9'),
      'optional-fields memory chart: no "signal 9" marker',
    );
  }
  check(
    view.text.includes(
      'limit 64.00 MiB (cgroup), headroom 1.00 MiB, growing 2.00 KiB/s: at this ' +
        'rate the limit is reached in 512.0 s',
    ),
    'optional-fields: limit projection not shown',
  );
  check(
    view.text.includes('address space limit; detail: RLIMIT_AS 1 GiB'),
    'optional-fields: failure cause not shown',
  );
  check(view.text.includes('killed by signal 9'), 'optional-fields: ending not shown');
  checkFlame(
    'optional-fields flame graph at exit',
    view.charts['flame-exit'],
    proc.totals.live_bytes + proc.totals.mapped_live_bytes,
    ['grow_cache', 'map_arena'],
    ['peak_scratch'],
  );
  checkFlame(
    'optional-fields flame graph at the peak',
    view.charts['flame-peak'],
    proc.peak.live_bytes,
    ['grow_cache', 'peak_scratch'],
    [],
  );
}

// Only what every document has: each section must say none.
function bareDocument() {
  return {
    schema: 'allocwatch.report',
    version: 1,
    processes: [{ process: { pid: 7, exe: '/bin/bare' } }, {}],
  };
}

function checkBare(shown, navigation) {
  check(shown.length === 2, 'bare: ' + shown.length + ' processes shown');
  check(navigation === 2, 'bare: ' + navigation + ' links to the processes, expected 2');
  const text = shown[0] ? shown[0].text : '';
  for (const phrase of [
    'none: the recording has no snapshots',
    'none: this report has no per-site growth series',
    'none: this report has no per-stack profile',
    'none: no allocation failed',
  ]) {
    check(text.includes(phrase), 'bare: "' + phrase + '" not shown');
  }
}

async function main() {
  const [chromium, htmlFile, jsonFile, outDir] = process.argv.slice(2);
  if (!outDir) {
    console.error('usage: check_html_report.js CHROMIUM REPORT.html REPORT.json OUT_DIR');
    return 2;
  }
  fs.mkdirSync(outDir, { recursive: true });
  const html = fs.readFileSync(htmlFile, 'utf8');
  const report = JSON.parse(fs.readFileSync(jsonFile, 'utf8'));
  const embedded = embeddedDocument(html);
  check(
    Array.isArray(embedded.processes) && embedded.processes.every((p) => p.stack_profile),
    'the embedded document has no stack_profile',
  );

  let browser;
  try {
    browser = activeBrowser = await Browser.launch(chromium);
  } catch (e) {
    if (e instanceof StartError) {
      console.log('SKIP: ' + e.message);
      return 77;
    }
    throw e;
  }
  try {
    const recorded = await openReport(browser, htmlFile, 'recorded', outDir);
    checkRecorded(report, recorded.shown, recorded.title);
    await checkZoom(recorded.page);
    const problems = recorded.page.problems;

    const full = fullDocument(embedded);
    const fullFile = path.join(outDir, 'optional-fields.html');
    fs.writeFileSync(fullFile, withDocument(html, full.doc));
    const withFields = await openReport(browser, fullFile, 'optional-fields', outDir);
    checkFull(withFields.shown, full.index, report);

    const bareFile = path.join(outDir, 'bare.html');
    fs.writeFileSync(bareFile, withDocument(html, bareDocument()));
    const bare = await openReport(browser, bareFile, 'bare', outDir);
    checkBare(
      bare.shown,
      await bare.page.evaluate("document.querySelectorAll('nav.processes a').length"),
    );

    for (const [name, p] of [
      ['recorded', problems],
      ['optional-fields', withFields.page.problems],
      ['bare', bare.page.problems],
    ]) {
      check(p.length === 0, name + ': the page reported problems:\n    ' + p.join('\n    '));
    }
  } finally {
    browser.close();
  }
  if (failures.length > 0) {
    console.log('FAILED (' + failures.length + '):\n  ' + failures.join('\n  '));
    return 1;
  }
  console.log('html report checks passed; screenshots in ' + outDir);
  return 0;
}

let activeBrowser = null;
const overall = setTimeout(() => {
  console.log('FAILED: the checks took more than ' + kOverallTimeoutMs + ' ms');
  if (activeBrowser) activeBrowser.close();
  process.exit(1);
}, kOverallTimeoutMs);
main().then(
  (code) => {
    clearTimeout(overall);
    process.exit(code);
  },
  (e) => {
    console.log('FAILED: ' + (e && e.stack ? e.stack : e));
    process.exit(1);
  },
);
