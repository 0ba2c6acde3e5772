// report/render/html/charts.js: the HTML report's charts: memory over time and growth per call site
// (Apache ECharts, drawn on a canvas, tooltips included) and the flame graphs (d3-flame-graph,
// SVG text). Each function appends its section to `parent`, or says "none" when the document
// lacks what it draws.
(function () {
  'use strict';

  const {
    el,
    isNum,
    list,
    formatBytes,
    seconds,
    flameName,
    estimated,
    endMarkerLabel,
    section,
    none,
  } = window.allocwatchReport;
  const charts = []; // ECharts instances, resized with the window

  // ---------- memory over time ----------

  // The memory limit in force, when the report has one: `limit` with `limit_bytes` (or
  // `bytes`), `source`, and optionally `headroom_bytes`, `rate_bytes_per_s`, `seconds_to_limit`.
  // Without one, the limit the last brink was measured against.
  function limitOf(proc) {
    const l = proc.limit;
    if (!l || typeof l !== 'object') {
      const brinks = list(proc.brinks).filter((b) => b && isNum(b.limit_bytes) && b.limit_bytes > 0);
      if (brinks.length === 0) return null;
      const b = brinks[brinks.length - 1];
      const source = { cgroup: 'memory cgroup', commit: 'commit limit', address_space: 'RLIMIT_AS' };
      return { bytes: b.limit_bytes, source: (source[b.limit] || 'limit') + ', from the brinks' };
    }
    const bytes = isNum(l.limit_bytes) ? l.limit_bytes : l.bytes;
    return isNum(bytes) && bytes > 0 ? Object.assign({}, l, { bytes }) : null;
  }

  function limitText(limit) {
    let text =
      'limit ' + formatBytes(limit.bytes) + (limit.source ? ' (' + limit.source + ')' : '');
    if (isNum(limit.headroom_bytes)) text += ', headroom ' + formatBytes(limit.headroom_bytes);
    if (isNum(limit.rate_bytes_per_s))
      text += ', growing ' + formatBytes(limit.rate_bytes_per_s) + '/s';
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
      markers.push({
        xAxis: t,
        name: 'failed ' + (f.call || '?') + ' ' + (f.errno_name || '') + times,
        lineStyle: { color: '#b3261e', type: 'solid', width: 2 },
        label: { color: '#b3261e', position: 'insideStartTop' },
      });
    }
    const limitNames = { cgroup: 'cgroup', commit: 'commit limit', address_space: 'RLIMIT_AS' };
    for (const b of list(proc.brinks)) {
      const t = seconds(b.time_ns);
      if (t === null) continue;
      markers.push({
        xAxis: t,
        name: (limitNames[b.limit] || 'limit') + ' headroom < ' + b.percent + ' %',
        lineStyle: { color: '#c77700', type: 'dashed', width: 1 },
        label: { color: '#c77700', position: 'insideMiddleTop' },
      });
    }
    const peak = proc.peak || {};
    if (isNum(peak.time_ns) && isNum(peak.live_bytes) && peak.live_bytes > 0) {
      markers.push({
        xAxis: seconds(peak.time_ns),
        name: 'peak',
        lineStyle: { color: '#6b4fbb', type: 'dotted' },
        label: { color: '#6b4fbb', position: 'insideEndTop' },
      });
    }
    const end = proc.end || {};
    if (isNum(end.duration_ns)) {
      const bad = end.how === 'cut_short' || end.oom_kill || (isNum(end.signal) && end.signal > 0);
      markers.push({
        xAxis: seconds(end.duration_ns),
        name: endMarkerLabel(end),
        lineStyle: { color: bad ? '#b3261e' : '#333', type: 'dashed', width: 2 },
        label: { color: bad ? '#b3261e' : '#333', position: 'end' },
      });
    }
    return markers;
  }

  // Ticks at 1, 2 or 5 times a power of 1024 (0, 2 MiB, 4 MiB...), about five of them.
  function bytesAxis(maxBytes) {
    const axis = {
      type: 'value',
      name: 'bytes',
      min: 0,
      axisLabel: { formatter: (v) => formatBytes(v) },
    };
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
    return {
      type: 'value',
      name: 'seconds',
      nameLocation: 'middle',
      nameGap: 28,
      min: 0,
      max: (extent) => niceCeil(Math.max(extent.max, isNum(maxSeconds) ? maxSeconds : 0)),
      axisLabel: { formatter: (v) => String(Number(v.toPrecision(6))) },
    };
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
    const s = section(
      parent,
      'Memory over time',
      'Heap in use (as the C library counts it, every block), live mmap/mremap mappings and resident ' +
        'memory (RSS) at each snapshot; a point at the peak of live recorded memory. Vertical ' +
        'lines: failed allocations (red), brinks (orange: the headroom under a limit fell ' +
        'below a threshold; their figures are points of the curves), the peak, and how the ' +
        'process ended.',
    );
    // Brinks measured the same figures at the moments a limit came close: points of the curves.
    const brinkFigures = list(proc.brinks)
      .filter((b) => b && isNum(b.time_ns))
      .map((b) => ({
        time_ns: b.time_ns,
        heap_live_bytes: b.heap_in_use_bytes > 0 ? b.heap_in_use_bytes : null,
        mmap_live_bytes: b.mmap_live_bytes,
        rss_bytes: b.rss_bytes,
      }));
    const snaps = list(proc.snapshots)
      .filter((x) => x && isNum(x.time_ns))
      .concat(brinkFigures)
      .sort((a, b) => a.time_ns - b.time_ns);
    if (snaps.length === 0) {
      s.append(
        none('none: the recording has no snapshots (the process ended before the first one)'),
      );
      return;
    }
    const point = (key) => snaps.filter((x) => isNum(x[key])).map((x) => [x.time_ns / 1e9, x[key]]);
    const series = [
      {
        name: 'heap live',
        type: 'line',
        showSymbol: snaps.length < 3,
        data: point('heap_live_bytes'),
      },
      {
        name: 'mmap live',
        type: 'line',
        showSymbol: snaps.length < 3,
        data: point('mmap_live_bytes'),
      },
      { name: 'RSS', type: 'line', showSymbol: snaps.length < 3, data: point('rss_bytes') },
    ];
    const headroomPoints = point('headroom_bytes');
    if (headroomPoints.length > 0) {
      series.push({
        name: 'headroom',
        type: 'line',
        showSymbol: false,
        data: headroomPoints,
        lineStyle: { type: 'dotted' },
      });
    }
    const limitPoints = point('limit_bytes');
    const limit = limitOf(proc);
    if (limitPoints.length > 0) {
      series.push({
        name: 'limit',
        type: 'line',
        step: 'end',
        showSymbol: false,
        data: limitPoints,
        lineStyle: { type: 'dashed', color: '#b3261e' },
        itemStyle: { color: '#b3261e' },
      });
    } else if (limit) {
      const t0 = snaps[0].time_ns / 1e9,
        t1 = snaps[snaps.length - 1].time_ns / 1e9;
      series.push({
        name: 'limit' + (limit.source ? ' (' + limit.source + ')' : ''),
        type: 'line',
        showSymbol: false,
        data: [
          [t0, limit.bytes],
          [t1, limit.bytes],
        ],
        lineStyle: { type: 'dashed', color: '#b3261e' },
        itemStyle: { color: '#b3261e' },
      });
    }
    // The peak of live recorded memory (replayed from the events) falls between snapshots
    // when it was brief: a point of its own shows its height.
    const peak = proc.peak || {};
    if (isNum(peak.time_ns) && isNum(peak.live_bytes) && peak.live_bytes > 0) {
      series.push({
        name: 'peak (heap + mappings)',
        type: 'scatter',
        symbolSize: 9,
        data: [[peak.time_ns / 1e9, peak.live_bytes]],
        itemStyle: { color: '#6b4fbb' },
      });
    }
    // The markers ride on a series of their own, so hiding a curve keeps them.
    const markers = timeMarkers(proc);
    series.push({
      name: 'events',
      type: 'line',
      data: [],
      itemStyle: { color: '#333' },
      markLine: {
        symbol: 'none',
        silent: true,
        animation: false,
        label: { formatter: (p) => p.name, position: 'insideEndTop' },
        data: markers,
      },
    });
    const end = proc.end || {};
    const last = Math.max(
      snaps[snaps.length - 1].time_ns,
      isNum(end.duration_ns) ? end.duration_ns : 0,
    );
    const box = el('div', 'chart');
    box.dataset.chart = 'memory';
    s.append(box);
    s.append(
      el(
        'p',
        'hint',
        limit
          ? limitText(limit)
          : limitPoints.length > 0 || headroomPoints.length > 0
            ? 'limit: as recorded at each snapshot'
            : 'limit: none recorded (no cgroup or commit limit in this report)',
      ),
    );
    makeChart(box).setOption(
      Object.assign(commonOptions(), {
        xAxis: timeAxis(last / 1e9),
        yAxis: bytesAxis(maxOf(series)),
        series,
      }),
    );
  }

  // ---------- where the resident memory goes ----------

  // RSS at each memory snapshot, stacked by what holds it (`memory.series` of the JSON report).
  function rssChart(proc, parent) {
    const s = section(
      parent,
      'Where the resident memory goes',
      'Resident memory (RSS) at each snapshot, stacked by what holds it: the live heap blocks ' +
        '(bytes requested), the allocator\'s overhead on them, free memory kept inside the C ' +
        'library\'s arenas, the program\'s own private mappings (committed, less what madvise gave ' +
        'back), anonymous memory allocwatch ' +
        'does not see (thread stacks, another allocator, a runtime\'s heap), and file-backed ' +
        'and shared pages. Reserved address space (PROT_NONE) is not memory and is not drawn.',
    );
    const memory = proc.memory || {};
    const rows = list(memory.series).filter((x) => x && isNum(x.time_s));
    if (rows.length === 0) {
      s.append(none('none: the recording has no memory snapshots (made before format 4)'));
      return;
    }
    // The anonymous part is split so that its pieces never exceed what is resident: what the
    // heap figures hold beyond resident memory (never touched, given back) is left out.
    const parts = rows.map((x) => {
      const heapKnown = !!x.heap_known;
      let room = Math.max(0, x.anon_bytes || 0);
      const take = (v) => {
        const t = Math.min(room, Math.max(0, v || 0));
        room -= t;
        return t;
      };
      const out = { t: x.time_s };
      out.live = take(x.live_heap_bytes);
      out.overhead = heapKnown ? take(x.heap_overhead_bytes) : 0;
      out.free = heapKnown ? take(x.arena_free_bytes) : 0;
      out.mapped = take((x.mapped_anon_bytes || 0) - (x.discarded_bytes || 0));
      out.unseen = room;
      out.file = Math.max(0, x.file_bytes || 0);
      out.shmem = Math.max(0, x.shmem_bytes || 0);
      return out;
    });
    const layers = [
      ['live heap', 'live'],
      ['allocator overhead', 'overhead'],
      ['free in arenas', 'free'],
      ['own mappings', 'mapped'],
      ['not seen by allocwatch', 'unseen'],
      ['file-backed', 'file'],
      ['shared memory', 'shmem'],
    ];
    const series = layers.map(([name, key]) => ({
      name,
      type: 'line',
      stack: 'rss',
      areaStyle: {},
      showSymbol: parts.length < 3,
      data: parts.map((x) => [x.t, x[key]]),
    }));
    const totals = parts.map((x) => layers.reduce((sum, [, key]) => sum + x[key], 0));
    const box = el('div', 'chart');
    box.dataset.chart = 'rss';
    s.append(box);
    for (const c of list(memory.causes)) {
      if (c && c.summary) s.append(el('p', 'hint', c.summary + (c.remedy ? ' (' + c.remedy + ')' : '')));
    }
    makeChart(box).setOption(
      Object.assign(commonOptions(), {
        xAxis: timeAxis(parts[parts.length - 1].t),
        yAxis: bytesAxis(Math.max(...totals)),
        series,
      }),
    );
  }

  // ---------- growth per call site ----------

  // Per-site series of [time_s, live_bytes]: `growth` as a list of sites or as {sites: [...]},
  // each with `site` and `series`.
  function growthSites(proc) {
    const g = proc.growth;
    const sites = Array.isArray(g) ? g : g && Array.isArray(g.sites) ? g.sites : [];
    return sites.filter((x) => x && Array.isArray(x.series) && x.series.length > 0);
  }

  function growthChart(proc, parent) {
    const s = section(
      parent,
      'Growth per call site',
      'Live bytes of the top call sites at each snapshot.',
    );
    const sites = growthSites(proc);
    if (sites.length === 0) {
      s.append(none('none: this report has no per-site growth series'));
      return;
    }
    const series = sites.map((x, i) => ({
      name: i + 1 + '. ' + String(x.site || '?'),
      type: 'line',
      showSymbol: false,
      data: x.series
        .filter((p) => Array.isArray(p) && isNum(p[0]) && isNum(p[1]))
        .map((p) => [p[0], p[1]]),
    }));
    const box = el('div', 'chart');
    box.dataset.chart = 'growth';
    s.append(box);
    const table = el('table');
    table.append(
      el(
        'tr',
        null,
        el('th', null, '#'),
        el('th', null, 'call site'),
        el('th', 'num', 'growth'),
        el('th', 'num', 'fit (R\u00b2)'),
        el('th', null, ''),
      ),
    );
    sites.forEach((x, i) => {
      const fit = x.fit && typeof x.fit === 'object' ? x.fit : x;
      const rate = isNum(fit.slope_bytes_per_s)
        ? formatBytes(fit.slope_bytes_per_s) + '/s'
        : 'none';
      const r2 = isNum(fit.r2) ? fit.r2.toFixed(2) : 'none';
      const released = x.released && typeof x.released === 'object' ? x.released : null;
      const verdict = released
        ? 'grew to ' + formatBytes(released.peak_bytes) + ', released at the end'
        : x.sustained === true
          ? 'sustained'
          : x.sustained === false
            ? 'not sustained'
            : '';
      table.append(
        el(
          'tr',
          null,
          el('td', 'num', i + 1),
          el('td', 'site mono', String(x.site || '?')),
          el('td', 'num', rate),
          el('td', 'num', r2),
          el('td', null, verdict),
        ),
      );
    });
    s.append(table);
    const maxT = Math.max(...series.map((x) => (x.data.length ? x.data[x.data.length - 1][0] : 0)));
    makeChart(box).setOption(
      Object.assign(commonOptions(), {
        legend: { top: 8, type: 'scroll', textStyle: { width: 360, overflow: 'truncate' } },
        xAxis: timeAxis(maxT),
        yAxis: bytesAxis(maxOf(series)),
        series,
      }),
    );
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
        frames: list(st.frames).map((i) => table[i]),
      }));
    }
    if (Array.isArray(proc.stacks)) {
      const bytes = (f) =>
        f && typeof f === 'object' ? (f.live_bytes || 0) + (f.mapped_live_bytes || 0) : 0;
      return proc.stacks.map((st) => ({
        exit: bytes(st.at_exit),
        peak: bytes(st.at_peak),
        frames: list(st.frames),
      }));
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
      for (const frame of path) {
        // outermost first
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
    const strip = (n) => ({
      name: n.name,
      value: n.value,
      runtime: n.runtime,
      children: Array.from(n.kids.values(), strip),
    });
    return strip(root);
  }

  function flameGraph(proc, parent, which) {
    const title =
      which === 'peak' ? 'Flame graph at the peak' : 'Flame graph of memory live at exit';
    const hint =
      which === 'peak'
        ? 'Heap blocks and mappings live at the moment of the peak, by stack: the width is ' +
          'bytes. Click a frame to zoom, click the bottom frame to zoom out.'
        : 'Heap blocks and mappings still live at the end (leaks), by stack: the width is bytes. ' +
          'Click a frame to zoom, click the bottom frame to zoom out.';
    const s = section(parent, title, hint);
    const tree = flameTree(proc, which);
    if (!tree) {
      s.append(
        none(
          profileOf(proc)
            ? 'none: nothing was live' + (which === 'peak' ? ' at the peak' : ' at exit')
            : 'none: this report has no per-stack profile',
        ),
      );
      return;
    }
    const box = el('div', 'flame');
    box.dataset.chart = 'flame-' + which;
    const details = el('div', 'flame-details');
    s.append(box, details);
    const est = estimated(proc);
    const width = Math.max(600, Math.floor(box.getBoundingClientRect().width) || 1100);
    const chart = flamegraph
      .default()
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
      .setLabelHandler(
        (d) =>
          d.data.name +
          ': ' +
          est +
          formatBytes(d.value) +
          ' (' +
          ((100 * d.value) / tree.value).toFixed(1) +
          '%)',
      );
    d3.select(box).datum(tree).call(chart);
  }

  // d3-flame-graph sets frame widths and labels in d3 transitions: the flame graphs are drawn
  // once every frame has its final width (that of its foreignObject, set at once) and every
  // shown label its text.
  function flamesSettled() {
    for (const g of document.querySelectorAll('.flame svg g.frame')) {
      const rect = g.querySelector('rect');
      const fo = g.querySelector('foreignObject');
      if (!rect || !fo) continue;
      if (Math.abs(Number(rect.getAttribute('width')) - Number(fo.getAttribute('width'))) > 0.01)
        return false;
      const label = fo.firstElementChild;
      if (label && label.style.display !== 'none' && label.textContent === '') return false;
    }
    return true;
  }
  function resizeCharts() {
    for (const c of charts) c.resize();
  }

  Object.assign(window.allocwatchReport, {
    memoryChart,
    rssChart,
    growthChart,
    flameGraph,
    flamesSettled,
    resizeCharts,
  });
})();
