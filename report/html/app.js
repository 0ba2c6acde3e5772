// report/html/app.js: draws allocwatch's HTML report from the JSON document embedded in the page
// (the JSON data element with id "allocwatch-data": the `--format json` document plus
// `stack_profile`). Charts: Apache ECharts (time series), d3-flame-graph (flame graphs).
//
// Everything that comes from the recording (program names, paths, symbols) reaches the page as
// text only: textContent, canvas text, SVG text. Nothing is parsed as HTML. Optional fields may
// be missing (older or newer documents): the section then says "none" instead of failing.
// When every section is drawn, <html data-rendered="true"> is set; a section that throws is
// reported in place and on the console, and the marker becomes "error".
(function () {
  'use strict';

  const charts = [];
  let failedSections = 0;

  // ---------- small helpers ----------

  function el(tag, className, ...children) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : String(c));  // strings become text nodes
    }
    return e;
  }

  function isNum(v) { return typeof v === 'number' && Number.isFinite(v); }
  function list(v) { return Array.isArray(v) ? v : []; }
  function basename(path) {
    const s = String(path || '');
    const i = s.lastIndexOf('/');
    return i >= 0 ? s.slice(i + 1) : s;
  }

  function formatBytes(n) {
    if (!isNum(n)) return 'none';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
    let v = Math.abs(n);
    let u = 0;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; ++u; }
    const sign = n < 0 ? '-' : '';
    return u === 0 ? sign + v.toFixed(0) + ' B' : sign + v.toFixed(2) + ' ' + units[u];
  }
  function formatCount(n) { return isNum(n) ? Math.round(n).toLocaleString('en-US') : 'none'; }
  function formatSeconds(ns) { return isNum(ns) ? (ns / 1e9).toFixed(2) + ' s' : 'none'; }
  function seconds(ns) { return isNum(ns) ? ns / 1e9 : null; }

  // Same text as DescribeFrame() in report/sites.cc.
  function describeFrame(f) {
    if (!f || typeof f !== 'object') return '?';
    if (f.function) {
      let s = String(f.function);
      if (f.file) s += ' (' + basename(f.file) + (isNum(f.line) && f.line > 0 ? ':' + f.line : '') + ')';
      if (f.inlined) s += ' [inlined]';
      return s;
    }
    if (f.module) return basename(f.module) + '+0x' + Number(f.module_offset || 0).toString(16);
    return '0x' + Number(f.address || 0).toString(16);
  }

  // Name of a frame in a flame graph: the function, or module+offset.
  function flameName(f) {
    if (!f || typeof f !== 'object') return '?';
    if (f.function) return String(f.function) + (f.inlined ? ' [inlined]' : '');
    return describeFrame(f);
  }

  function estimated(proc) { return proc.mode && proc.mode.exact === false ? '~' : ''; }

  function endText(end) {
    if (!end || typeof end !== 'object') return 'unknown';
    if (end.oom_kill) return 'killed by the OOM killer';
    if (isNum(end.signal) && end.signal > 0) return 'killed by signal ' + end.signal;
    switch (end.how) {
      case 'exit': return 'exit()';
      case '_exit': return '_exit(' + end.exit_status + ')';
      case 'exec': return 'exec of ' + (end.exec || '?') + ' (the new program has its own recording)';
      case 'cut_short':
        return 'cut short: no end record (killed, e.g. by SIGKILL or the OOM killer, or still ' +
            'running); figures are as of the last record';
      default: return String(end.how || 'unknown');
    }
  }

  function endMarkerLabel(end) {
    if (!end) return 'end';
    if (end.oom_kill) return 'OOM kill';
    if (isNum(end.signal) && end.signal > 0) return 'signal ' + end.signal;
    switch (end.how) {
      case 'exit': return 'exit';
      case '_exit': return '_exit(' + end.exit_status + ')';
      case 'exec': return 'exec';
      case 'cut_short': return 'cut short';
      default: return String(end.how || 'end');
    }
  }

  function section(parent, title, hint) {
    const s = el('section', 'part');
    s.append(el('h3', null, title));
    if (hint) s.append(el('p', 'hint', hint));
    parent.append(s);
    return s;
  }

  function none(text) { return el('p', 'none', text); }

  // Runs one section's drawing; a failure is shown in place and does not stop the others.
  function guarded(parent, name, draw) {
    try {
      draw();
    } catch (e) {
      ++failedSections;
      console.error('allocwatch report: cannot draw ' + name + ':', e);
      parent.append(el('p', 'error', 'Cannot draw ' + name + ': ' + (e && e.message ? e.message : e)));
    }
  }

  // ---------- header, summary ----------

  function header(proc, parent) {
    const p = proc.process || {};
    parent.append(el('h2', null, basename(p.exe || '?') + ' (pid ' + (p.pid ?? '?') + ')'));
    const dl = el('dl', 'facts');
    const fact = (k, v) => { dl.append(el('dt', null, k), el('dd', null, v)); };
    fact('recording', proc.recording || 'none');
    fact('program', p.exe || 'none');
    fact('command', list(p.argv).join(' ') || 'none');
    if (isNum(p.ppid)) fact('parent', String(p.ppid) + (p.forked ? ' (forked)' : ''));
    const mode = proc.mode || {};
    fact('mode', mode.exact ? 'exact: every allocation recorded'
        : 'sampled: one allocation every ' + formatBytes(mode.sample_bytes) +
          ' on average; figures marked ~ are estimates');
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
      tiles.append(el('div', bad ? 'tile bad' : 'tile', el('div', 'value', value), el('div', 'label', label)));
    };
    tile('allocated over the run', est + formatBytes(t.alloc_bytes));
    tile('peak live (heap + mappings)', est + formatBytes(peak.live_bytes) +
        (isNum(peak.time_ns) ? ' at ' + formatSeconds(peak.time_ns) : ''));
    tile('peak RSS (snapshots)', peak.rss_bytes ? formatBytes(peak.rss_bytes) : 'none');
    tile('heap live at exit', est + formatBytes(t.live_bytes));
    tile('mappings live at exit', formatBytes(t.mapped_live_bytes));
    const failures = isNum(t.failures) ? t.failures : list(proc.failures).length;
    tile('failed allocations', formatCount(failures), failures > 0);
    parent.append(tiles);
  }

  // ---------- memory over time ----------

  // The memory limit in force, when the report has one: `limit` with `limit_bytes` (or
  // `bytes`), `source`, and optionally `headroom_bytes`, `rate_bytes_per_s`, `seconds_to_limit`.
  function limitOf(proc) {
    const l = proc.limit;
    if (!l || typeof l !== 'object') return null;
    const bytes = isNum(l.limit_bytes) ? l.limit_bytes : l.bytes;
    return isNum(bytes) && bytes > 0 ? Object.assign({}, l, { bytes }) : null;
  }

  function limitText(limit) {
    let text = 'limit ' + formatBytes(limit.bytes) + (limit.source ? ' (' + limit.source + ')' : '');
    if (isNum(limit.headroom_bytes)) text += ', headroom ' + formatBytes(limit.headroom_bytes);
    if (isNum(limit.rate_bytes_per_s)) text += ', growing ' + formatBytes(limit.rate_bytes_per_s) + '/s';
    if (isNum(limit.seconds_to_limit)) {
      text += ': at this rate the limit is reached in ' + limit.seconds_to_limit.toFixed(1) + ' s';
    } else if ('seconds_to_limit' in limit) {
      text += ': not reached at this rate';
    }
    return text;
  }

  function timeMarkers(proc) {
    const markers = [];
    for (const f of list(proc.failures)) {
      const t = seconds(f.first_time_ns);
      if (t === null) continue;
      const times = isNum(f.count) && f.count > 1 ? ' x' + f.count : '';
      markers.push({ xAxis: t, name: 'failed ' + (f.call || '?') + ' ' + (f.errno_name || '') + times,
        lineStyle: { color: '#b3261e', type: 'solid', width: 2 },
        label: { color: '#b3261e', position: 'insideStartTop' } });
    }
    const peak = proc.peak || {};
    if (isNum(peak.time_ns) && isNum(peak.live_bytes) && peak.live_bytes > 0) {
      markers.push({ xAxis: seconds(peak.time_ns), name: 'peak',
        lineStyle: { color: '#6b4fbb', type: 'dotted' }, label: { color: '#6b4fbb', position: 'insideEndTop' } });
    }
    const end = proc.end || {};
    if (isNum(end.duration_ns)) {
      const bad = end.how === 'cut_short' || end.oom_kill || (isNum(end.signal) && end.signal > 0);
      markers.push({ xAxis: seconds(end.duration_ns), name: endMarkerLabel(end),
        lineStyle: { color: bad ? '#b3261e' : '#333', type: 'dashed', width: 2 },
        label: { color: bad ? '#b3261e' : '#333', position: 'end' } });
    }
    return markers;
  }

  // Ticks at 1, 2 or 5 times a power of 1024 (0, 2 MiB, 4 MiB...), about five of them.
  function bytesAxis(maxBytes) {
    const axis = { type: 'value', name: 'bytes', min: 0, axisLabel: { formatter: (v) => formatBytes(v) } };
    if (!isNum(maxBytes) || maxBytes <= 0) return axis;
    let step = null;
    for (const unit of [1, 1024, 1048576, 1073741824, 1099511627776, 1125899906842624]) {
      for (const m of [1, 2, 5, 10, 20, 50, 100, 200, 500]) {
        if (step === null && unit * m >= maxBytes / 5) step = unit * m;
      }
    }
    if (step === null) return axis;
    return Object.assign(axis, { interval: step, max: Math.ceil(maxBytes / step) * step });
  }

  function maxOf(series) {
    let max = 0;
    for (const s of series) for (const p of s.data) if (isNum(p[1]) && p[1] > max) max = p[1];
    return max;
  }

  // A round number at or above x (0.309 -> 0.35), so the axis ends on a labelled value.
  function niceCeil(x) {
    if (!isNum(x) || x <= 0) return 1;
    const step = Math.pow(10, Math.floor(Math.log10(x))) / 2;
    return Number((Math.ceil(x / step - 1e-9) * step).toPrecision(6));
  }

  function timeAxis(maxSeconds) {
    // The end of the process may come after the last snapshot: the axis reaches it.
    return { type: 'value', name: 'seconds', nameLocation: 'middle', nameGap: 28, min: 0,
      max: (extent) => niceCeil(Math.max(extent.max, isNum(maxSeconds) ? maxSeconds : 0)),
      axisLabel: { formatter: (v) => String(Number(v.toPrecision(6))) } };
  }

  function makeChart(container) {
    const chart = echarts.init(container, null, { renderer: 'canvas' });
    charts.push(chart);
    return chart;
  }

  function commonOptions() {
    return {
      animation: false,
      grid: { left: 80, right: 40, top: 48, bottom: 56 },
      // Tooltips drawn on the canvas (never as HTML): symbols and paths are untrusted text.
      tooltip: { trigger: 'axis', renderMode: 'richText', valueFormatter: (v) => formatBytes(v) },
      legend: { top: 8, type: 'scroll' },
      dataZoom: [{ type: 'inside' }],
    };
  }

  function memoryChart(proc, parent) {
    const s = section(parent, 'Memory over time',
        'Live heap (allocated minus freed, all calls), live mmap/mremap mappings and resident memory ' +
        '(RSS) at each snapshot. Vertical lines: failed allocations (red), the peak of live recorded ' +
        'memory, and how the process ended.');
    const snaps = list(proc.snapshots).filter((x) => x && isNum(x.time_ns));
    if (snaps.length === 0) {
      s.append(none('none: the recording has no snapshots (the process ended before the first one)'));
      return;
    }
    const point = (key) => snaps.filter((x) => isNum(x[key])).map((x) => [x.time_ns / 1e9, x[key]]);
    const series = [
      { name: 'heap live', type: 'line', showSymbol: snaps.length < 3, data: point('heap_live_bytes') },
      { name: 'mmap live', type: 'line', showSymbol: snaps.length < 3, data: point('mmap_live_bytes') },
      { name: 'RSS', type: 'line', showSymbol: snaps.length < 3, data: point('rss_bytes') },
    ];
    const headroomPoints = point('headroom_bytes');
    if (headroomPoints.length > 0) {
      series.push({ name: 'headroom', type: 'line', showSymbol: false, data: headroomPoints,
        lineStyle: { type: 'dotted' } });
    }
    const limitPoints = point('limit_bytes');
    const limit = limitOf(proc);
    if (limitPoints.length > 0) {
      series.push({ name: 'limit', type: 'line', step: 'end', showSymbol: false, data: limitPoints,
        lineStyle: { type: 'dashed', color: '#b3261e' }, itemStyle: { color: '#b3261e' } });
    } else if (limit) {
      const t0 = snaps[0].time_ns / 1e9, t1 = snaps[snaps.length - 1].time_ns / 1e9;
      series.push({ name: 'limit' + (limit.source ? ' (' + limit.source + ')' : ''), type: 'line',
        showSymbol: false, data: [[t0, limit.bytes], [t1, limit.bytes]],
        lineStyle: { type: 'dashed', color: '#b3261e' }, itemStyle: { color: '#b3261e' } });
    }
    // The markers ride on a series of their own, so hiding a curve keeps them.
    const markers = timeMarkers(proc);
    series.push({ name: 'events', type: 'line', data: [], itemStyle: { color: '#333' },
      markLine: { symbol: 'none', silent: true, animation: false,
        label: { formatter: (p) => p.name, position: 'insideEndTop' }, data: markers } });
    const end = proc.end || {};
    const last = Math.max(snaps[snaps.length - 1].time_ns, isNum(end.duration_ns) ? end.duration_ns : 0);
    const box = el('div', 'chart');
    box.dataset.chart = 'memory';
    s.append(box);
    s.append(el('p', 'hint', limit ? limitText(limit)
        : limitPoints.length > 0 || headroomPoints.length > 0 ? 'limit: as recorded at each snapshot'
        : 'limit: none recorded (no cgroup or commit limit in this report)'));
    makeChart(box).setOption(Object.assign(commonOptions(), {
      xAxis: timeAxis(last / 1e9), yAxis: bytesAxis(maxOf(series)), series }));
  }

  // ---------- growth per call site ----------

  // Per-site series of [time_s, live_bytes]: `growth` as a list of sites or as {sites: [...]},
  // each with `site` and `series`.
  function growthSites(proc) {
    const g = proc.growth;
    const sites = Array.isArray(g) ? g : (g && Array.isArray(g.sites) ? g.sites : []);
    return sites.filter((x) => x && Array.isArray(x.series) && x.series.length > 0);
  }

  function growthChart(proc, parent) {
    const s = section(parent, 'Growth per call site',
        'Live bytes of the top call sites at each snapshot.');
    const sites = growthSites(proc);
    if (sites.length === 0) {
      s.append(none('none: this report has no per-site growth series'));
      return;
    }
    const series = sites.map((x, i) => ({
      name: (i + 1) + '. ' + String(x.site || '?'), type: 'line', showSymbol: false,
      data: x.series.filter((p) => Array.isArray(p) && isNum(p[0]) && isNum(p[1])).map((p) => [p[0], p[1]]),
    }));
    const box = el('div', 'chart');
    box.dataset.chart = 'growth';
    s.append(box);
    const table = el('table');
    table.append(el('tr', null, el('th', null, '#'), el('th', null, 'call site'),
        el('th', 'num', 'growth'), el('th', 'num', 'fit (R\u00b2)'), el('th', null, '')));
    sites.forEach((x, i) => {
      const fit = x.fit && typeof x.fit === 'object' ? x.fit : x;
      const rate = isNum(fit.slope_bytes_per_s) ? formatBytes(fit.slope_bytes_per_s) + '/s' : 'none';
      const r2 = isNum(fit.r2) ? fit.r2.toFixed(2) : 'none';
      const verdict = x.sustained === true ? 'sustained' : x.sustained === false ? 'not sustained' : '';
      table.append(el('tr', null, el('td', 'num', i + 1), el('td', 'site mono', String(x.site || '?')),
          el('td', 'num', rate), el('td', 'num', r2), el('td', null, verdict)));
    });
    s.append(table);
    const maxT = Math.max(...series.map((x) => (x.data.length ? x.data[x.data.length - 1][0] : 0)));
    makeChart(box).setOption(Object.assign(commonOptions(), {
      legend: { top: 8, type: 'scroll', textStyle: { width: 360, overflow: 'truncate' } },
      xAxis: timeAxis(maxT), yAxis: bytesAxis(maxOf(series)), series }));
  }

  // ---------- flame graphs ----------

  // Stacks with their figures at exit and at the peak and their frames (innermost first), from
  // `stack_profile` (frames as indices into its table) or else `stacks` (figures in `at_exit`
  // and `at_peak`, frames inline). Null when the report has neither.
  function profileOf(proc) {
    const p = proc.stack_profile;
    if (p && Array.isArray(p.stacks)) {
      const table = list(p.frames);
      return p.stacks.map((st) => ({
        exit: (st.live_bytes || 0) + (st.mapped_live_bytes || 0),
        peak: (st.peak_live_bytes || 0) + (st.peak_mapped_live_bytes || 0),
        frames: list(st.frames).map((i) => table[i]) }));
    }
    if (Array.isArray(proc.stacks)) {
      const bytes = (f) => (f && typeof f === 'object' ? (f.live_bytes || 0) + (f.mapped_live_bytes || 0) : 0);
      return proc.stacks.map((st) => ({ exit: bytes(st.at_exit), peak: bytes(st.at_peak),
        frames: list(st.frames) }));
    }
    return null;
  }

  // {name, value, children} for d3-flame-graph: value = bytes live in the subtree.
  function flameTree(proc, which) {
    const stacks = profileOf(proc);
    if (!stacks) return null;
    const root = { name: 'all', value: 0, kids: new Map() };
    for (const st of stacks) {
      const v = which === 'peak' ? st.peak : st.exit;
      if (!isNum(v) || v <= 0) continue;
      root.value += v;
      let node = root;
      const path = st.frames.length ? st.frames.slice().reverse() : [null];
      for (const frame of path) {  // outermost first
        const name = frame ? flameName(frame) : '(no stack)';
        let child = node.kids.get(name);
        if (!child) {
          child = { name, value: 0, runtime: Boolean(frame && frame.runtime), kids: new Map() };
          node.kids.set(name, child);
        }
        child.value += v;
        node = child;
      }
    }
    if (root.value <= 0) return null;
    const strip = (n) => ({ name: n.name, value: n.value, runtime: n.runtime,
      children: Array.from(n.kids.values(), strip) });
    return strip(root);
  }

  function flameGraph(proc, parent, which) {
    const title = which === 'peak' ? 'Flame graph at the peak' : 'Flame graph of memory live at exit';
    const hint = which === 'peak'
      ? 'Heap blocks and mappings live at the moment of the peak, by stack: the width is bytes. ' +
        'Click a frame to zoom, click the bottom frame to zoom out.'
      : 'Heap blocks and mappings still live at the end (leaks), by stack: the width is bytes. ' +
        'Click a frame to zoom, click the bottom frame to zoom out.';
    const s = section(parent, title, hint);
    const tree = flameTree(proc, which);
    if (!tree) {
      s.append(none(profileOf(proc) ? 'none: nothing was live' + (which === 'peak' ? ' at the peak' : ' at exit')
          : 'none: this report has no per-stack profile'));
      return;
    }
    const box = el('div', 'flame');
    box.dataset.chart = 'flame-' + which;
    const details = el('div', 'flame-details');
    s.append(box, details);
    const est = estimated(proc);
    const width = Math.max(600, Math.floor(box.getBoundingClientRect().width) || 1100);
    const chart = flamegraph.default()
      .width(width)
      .cellHeight(18)
      .transitionDuration(0)
      .minFrameSize(2)
      .sort(true)
      .title('')
      .inverted(false)
      .setDetailsElement(details)
      // C/C++ runtime frames (libc, libstdc++, std::, operator new) in grey, the program's own
      // in the usual warm colours.
      .setColorMapper((d, color) => (d.data.runtime ? '#c9ced6' : color))
      .setLabelHandler((d) => d.data.name + ': ' + est + formatBytes(d.value) + ' (' +
          (100 * d.value / tree.value).toFixed(1) + '%)');
    d3.select(box).datum(tree).call(chart);
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
    table.append(el('tr', null, el('th', 'num', '#'), el('th', 'num', 'bytes'), el('th', 'num', unit),
        el('th', null, 'call site (callers below)')));
    rows.forEach((site, i) => {
      const frames = list(site.frames);
      const at = isNum(site.site_frame) ? site.site_frame : 0;
      const callers = frames.slice(at + 1, at + 4).map(describeFrame);
      const cell = el('td', 'site');
      cell.append(el('div', 'mono', String(site.site || '?')));
      if (site.kind) cell.append(el('div', 'hint', 'kind: ' + String(site.kind)));
      for (const c of callers) cell.append(el('div', 'mono hint', 'from ' + c));
      table.append(el('tr', null, el('td', 'num', i + 1), el('td', 'num', est + formatBytes(bytes(site))),
          el('td', 'num', est + formatCount(count(site))), cell));
    });
    s.append(table);
  }

  function causeText(cause) {
    if (cause === undefined || cause === null || cause === '') return 'none recorded';
    if (typeof cause !== 'object') return String(cause);
    const head = cause.name || cause.kind || cause.summary || '';
    const rest = Object.entries(cause)
      .filter(([k, v]) => !['name', 'kind', 'summary'].includes(k) && v !== null && typeof v !== 'object')
      .map(([k, v]) => k + ': ' + v);
    return [head, ...rest].filter(Boolean).join('; ') || 'none recorded';
  }

  function failures(proc, parent) {
    const s = section(parent, 'Failed allocations',
        'Each failing call, grouped by call, stack and errno.');
    const groups = list(proc.failures);
    if (groups.length === 0) {
      s.append(none('none: no allocation failed'));
      return;
    }
    for (const f of groups) {
      const box = el('div', 'failure');
      box.append(el('div', 'headline', (f.call || '?') + '(' + formatCount(f.size) + ' bytes) failed: ' +
          (f.errno_name || ('errno ' + f.errno))));
      const dl = el('dl', 'facts');
      const fact = (k, v) => { dl.append(el('dt', null, k), el('dd', null, v)); };
      fact('size asked', isNum(f.size) ? formatBytes(f.size) + ' (' + formatCount(f.size) + ' bytes)' : 'none');
      fact('errno', (f.errno_name || '?') + (isNum(f.errno) ? ' (' + f.errno + ')' : ''));
      fact('times', formatCount(f.count) + ', first at ' + formatSeconds(f.first_time_ns) +
          (isNum(f.last_time_ns) && f.count > 1 ? ', last at ' + formatSeconds(f.last_time_ns) : ''));
      fact('thread', isNum(f.tid) ? String(f.tid) : 'none');
      fact('cause', causeText(f.cause));
      box.append(dl);
      const frames = list(f.frames);
      if (frames.length === 0) {
        box.append(none('stack: none recorded'));
      } else {
        const ol = el('ol', 'stack mono');
        for (const fr of frames) ol.append(el('li', fr && fr.runtime ? 'runtime' : null, describeFrame(fr)));
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
      ['the header', () => { header(proc, part); summary(proc, part); }],
      ['the memory chart', () => memoryChart(proc, part)],
      ['the growth chart', () => growthChart(proc, part)],
      ['the flame graph at exit', () => flameGraph(proc, part, 'exit')],
      ['the flame graph at the peak', () => flameGraph(proc, part, 'peak')],
      ['the leaks', () => siteTable(proc, part, 'Live at exit by call site',
          'Heap blocks still allocated at the end, largest first.', proc.leaks,
          (x) => x.live_bytes, (x) => x.live_count, 'blocks')],
      ['the mappings', () => siteTable(proc, part, 'Mappings live at exit',
          'mmap/mremap mappings not unmapped at the end.', proc.mappings,
          (x) => x.mapped_live_bytes, (x) => x.mmap_calls, 'calls')],
      ['the peak sites', () => siteTable(proc, part, 'At the peak',
          'Who held the memory at the moment of the peak.', proc.peak && proc.peak.sites,
          (x) => (x.live_bytes || 0) + (x.mapped_live_bytes || 0), (x) => x.live_count, 'blocks')],
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
      document.title = 'allocwatch: ' + basename(p.exe || '?') +
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
    window.addEventListener('resize', () => { for (const c of charts) c.resize(); });
  }

  try {
    main();
  } catch (e) {
    ++failedSections;
    console.error('allocwatch report:', e);
  }
  // d3-flame-graph sets frame widths and labels in d3 transitions: the page counts as drawn once
  // every frame has its final width (that of its foreignObject, set at once) and every shown
  // label its text.
  function flamesSettled() {
    for (const g of document.querySelectorAll('.flame svg g.frame')) {
      const rect = g.querySelector('rect');
      const fo = g.querySelector('foreignObject');
      if (!rect || !fo) continue;
      if (Math.abs(Number(rect.getAttribute('width')) - Number(fo.getAttribute('width'))) > 0.01) return false;
      const label = fo.firstElementChild;
      if (label && label.style.display !== 'none' && label.textContent === '') return false;
    }
    return true;
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
