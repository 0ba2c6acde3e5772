// report/render/html/app.js: draws allocwatch's HTML report from the JSON document embedded in
// the page (the JSON data element with id "allocwatch-data": the `--format json` document plus
// `stack_profile`), with the charts of charts.js and the helpers of util.js.
//
// Everything that comes from the recording (program names, paths, symbols) reaches the page as
// text only: textContent, canvas text, SVG text. Nothing is parsed as HTML. Optional fields may
// be missing (older or newer documents): the section then says "none" instead of failing.
// When every section is drawn, <html data-rendered="true"> is set; a section that throws is
// reported in place and on the console, and the marker becomes "error".
(function () {
  'use strict';

  const {
    el,
    isNum,
    list,
    basename,
    formatBytes,
    formatCount,
    formatSeconds,
    describeFrame,
    estimated,
    endText,
    section,
    none,
    memoryChart,
    rssChart,
    growthChart,
    flameGraph,
    flamesSettled,
    resizeCharts,
  } = window.allocwatchReport;
  let failedSections = 0;

  // Runs one section's drawing; a failure is shown in place and does not stop the others.
  function guarded(parent, name, draw) {
    try {
      draw();
    } catch (e) {
      ++failedSections;
      console.error('allocwatch report: cannot draw ' + name + ':', e);
      parent.append(
        el('p', 'error', 'Cannot draw ' + name + ': ' + (e && e.message ? e.message : e)),
      );
    }
  }

  // ---------- header, summary ----------

  function header(proc, parent) {
    const p = proc.process || {};
    parent.append(el('h2', null, basename(p.exe || '?') + ' (pid ' + (p.pid ?? '?') + ')'));
    const dl = el('dl', 'facts');
    const fact = (k, v) => {
      dl.append(el('dt', null, k), el('dd', null, v));
    };
    fact('recording', proc.recording || 'none');
    fact('program', p.exe || 'none');
    fact('command', list(p.argv).join(' ') || 'none');
    if (isNum(p.ppid)) fact('parent', String(p.ppid) + (p.forked ? ' (forked)' : ''));
    const mode = proc.mode || {};
    fact(
      'mode',
      mode.exact
        ? 'exact: every allocation recorded'
        : 'sampled: one allocation every ' +
            formatBytes(mode.sample_bytes) +
            ' on average; figures marked ~ are estimates',
    );
    fact('run time', formatSeconds(proc.end && proc.end.duration_ns));
    fact('ended by', endText(proc.end));
    if (proc.end && isNum(proc.end.lost_events) && proc.end.lost_events > 0) {
      fact('lost events', formatCount(proc.end.lost_events));
    }
    parent.append(dl);
  }

  function summary(proc, parent) {
    const t = proc.totals || {};
    const peak = proc.peak || {};
    const est = estimated(proc);
    const tiles = el('div', 'tiles');
    const tile = (label, value, bad) => {
      tiles.append(
        el('div', bad ? 'tile bad' : 'tile', el('div', 'value', value), el('div', 'label', label)),
      );
    };
    tile('allocated over the run', est + formatBytes(t.alloc_bytes));
    tile(
      'peak live (heap + mappings)',
      est +
        formatBytes(peak.live_bytes) +
        (isNum(peak.time_ns) ? ' at ' + formatSeconds(peak.time_ns) : ''),
    );
    tile('peak RSS (snapshots and brinks)', peak.rss_bytes ? formatBytes(peak.rss_bytes) : 'none');
    tile('heap live at exit', est + formatBytes(t.live_bytes));
    tile('mappings live at exit', formatBytes(t.mapped_live_bytes));
    const failures = isNum(t.failures) ? t.failures : list(proc.failures).length;
    tile('failed allocations', formatCount(failures), failures > 0);
    parent.append(tiles);
  }

  // ---------- tables ----------

  function siteTable(proc, parent, title, hint, sites, bytes, count, unit) {
    const s = section(parent, title, hint);
    const rows = list(sites);
    if (rows.length === 0) {
      s.append(none('none'));
      return;
    }
    const est = estimated(proc);
    const table = el('table', 'sites');
    table.append(
      el(
        'tr',
        null,
        el('th', 'num', '#'),
        el('th', 'num', 'bytes'),
        el('th', 'num', unit),
        el('th', null, 'call site (callers below)'),
      ),
    );
    rows.forEach((site, i) => {
      const frames = list(site.frames);
      const at = isNum(site.site_frame) ? site.site_frame : 0;
      const callers = frames.slice(at + 1, at + 4).map(describeFrame);
      const cell = el('td', 'site');
      cell.append(el('div', 'mono', String(site.site || '?')));
      if (site.kind) cell.append(el('div', 'hint', 'kind: ' + String(site.kind)));
      for (const c of callers) cell.append(el('div', 'mono hint', 'from ' + c));
      table.append(
        el(
          'tr',
          null,
          el('td', 'num', i + 1),
          el('td', 'num', est + formatBytes(bytes(site))),
          el('td', 'num', est + formatCount(count(site))),
          cell,
        ),
      );
    });
    s.append(table);
  }

  function causeText(cause) {
    if (cause === undefined || cause === null || cause === '') return 'none recorded';
    if (typeof cause !== 'object') return String(cause);
    const head = cause.name || cause.kind || cause.summary || '';
    const rest = Object.entries(cause)
      .filter(
        ([k, v]) => !['name', 'kind', 'summary'].includes(k) && v !== null && typeof v !== 'object',
      )
      .map(([k, v]) => k + ': ' + v);
    return [head, ...rest].filter(Boolean).join('; ') || 'none recorded';
  }

  function failures(proc, parent) {
    const s = section(
      parent,
      'Failed allocations',
      'Each failing call, grouped by call, stack and errno.',
    );
    const groups = list(proc.failures);
    if (groups.length === 0) {
      s.append(none('none: no allocation failed'));
      return;
    }
    for (const f of groups) {
      const box = el('div', 'failure');
      box.append(
        el(
          'div',
          'headline',
          (f.call || '?') +
            '(' +
            formatCount(f.size) +
            ' bytes) failed: ' +
            (f.errno_name || 'errno ' + f.errno),
        ),
      );
      const dl = el('dl', 'facts');
      const fact = (k, v) => {
        dl.append(el('dt', null, k), el('dd', null, v));
      };
      fact(
        'size asked',
        isNum(f.size) ? formatBytes(f.size) + ' (' + formatCount(f.size) + ' bytes)' : 'none',
      );
      fact('errno', (f.errno_name || '?') + (isNum(f.errno) ? ' (' + f.errno + ')' : ''));
      fact(
        'times',
        formatCount(f.count) +
          ', first at ' +
          formatSeconds(f.first_time_ns) +
          (isNum(f.last_time_ns) && f.count > 1
            ? ', last at ' + formatSeconds(f.last_time_ns)
            : ''),
      );
      fact('thread', isNum(f.tid) ? String(f.tid) : 'none');
      fact('cause', causeText(f.cause));
      box.append(dl);
      const frames = list(f.frames);
      if (frames.length === 0) {
        box.append(none('stack: none recorded'));
      } else {
        const ol = el('ol', 'stack mono');
        for (const fr of frames)
          ol.append(el('li', fr && fr.runtime ? 'runtime' : null, describeFrame(fr)));
        box.append(ol);
      }
      s.append(box);
    }
  }

  function warnings(proc, parent) {
    const w = list(proc.warnings);
    if (w.length === 0) return;
    const s = section(parent, 'Warnings', null);
    const ul = el('ul', 'warnings');
    for (const text of w) ul.append(el('li', null, String(text)));
    s.append(ul);
  }

  // ---------- the page ----------

  function drawProcess(proc, app, index) {
    const part = el('article', 'process');
    part.id = 'process-' + index;
    app.append(part);
    const parts = [
      [
        'the header',
        () => {
          header(proc, part);
          summary(proc, part);
        },
      ],
      ['the memory chart', () => memoryChart(proc, part)],
      ['the resident memory chart', () => rssChart(proc, part)],
      ['the growth chart', () => growthChart(proc, part)],
      ['the flame graph at exit', () => flameGraph(proc, part, 'exit')],
      ['the flame graph at the peak', () => flameGraph(proc, part, 'peak')],
      [
        'the leaks',
        () =>
          siteTable(
            proc,
            part,
            'Live at exit by call site',
            'Heap blocks still allocated at the end, largest first.',
            proc.leaks,
            (x) => x.live_bytes,
            (x) => x.live_count,
            'blocks',
          ),
      ],
      [
        'the mappings',
        () =>
          siteTable(
            proc,
            part,
            'Mappings live at exit',
            'mmap/mremap mappings not unmapped at the end.',
            proc.mappings,
            (x) => x.mapped_live_bytes,
            (x) => x.mmap_calls,
            'calls',
          ),
      ],
      [
        'the peak sites',
        () =>
          siteTable(
            proc,
            part,
            'At the peak',
            'Who held the memory at the moment of the peak.',
            proc.peak && proc.peak.sites,
            (x) => (x.live_bytes || 0) + (x.mapped_live_bytes || 0),
            (x) => x.live_count,
            'blocks',
          ),
      ],
      ['the failures', () => failures(proc, part)],
      ['the warnings', () => warnings(proc, part)],
    ];
    for (const [name, draw] of parts) guarded(part, name, draw);
  }

  function main() {
    const app = document.getElementById('app');
    app.textContent = '';
    let doc;
    try {
      doc = JSON.parse(document.getElementById('allocwatch-data').textContent);
    } catch (e) {
      app.append(el('p', 'error', 'The report data cannot be read: ' + e.message));
      throw e;
    }
    const processes = list(doc && doc.processes);
    if (processes.length === 0) app.append(none('none: no process in this report'));
    if (processes.length > 0) {
      const p = processes[0].process || {};
      document.title =
        'allocwatch: ' +
        basename(p.exe || '?') +
        (processes.length > 1 ? ' and ' + (processes.length - 1) + ' more' : '');
    }
    if (processes.length > 1) {
      const nav = el('nav', 'processes', 'Processes: ');
      processes.forEach((proc, i) => {
        const p = (proc && proc.process) || {};
        const a = el('a', null, basename(p.exe || '?') + ' (pid ' + (p.pid ?? '?') + ')');
        a.href = '#process-' + i;
        if (i > 0) nav.append(' \u00b7 ');
        nav.append(a);
      });
      app.append(nav);
    }
    processes.forEach((proc, i) => drawProcess(proc || {}, app, i));
    window.addEventListener('resize', resizeCharts);
  }

  try {
    main();
  } catch (e) {
    ++failedSections;
    console.error('allocwatch report:', e);
  }
  const started = performance.now();
  function markRendered() {
    if (!flamesSettled() && performance.now() - started < 10000) {
      requestAnimationFrame(markRendered);
      return;
    }
    if (!flamesSettled()) {
      ++failedSections;
      console.error('allocwatch report: the flame graphs did not finish drawing');
    }
    document.documentElement.dataset.rendered = failedSections === 0 ? 'true' : 'error';
  }
  requestAnimationFrame(markRendered);
})();
