// report/render/html/util.js: helpers of the HTML report's scripts (charts.js, app.js): building
// elements from text, formatting figures and frames. Everything from the recording goes into the
// page through el(), which makes text nodes of strings: nothing is parsed as HTML.
(function () {
  'use strict';

  function el(tag, className, ...children) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : String(c)); // strings become text nodes
    }
    return e;
  }

  function isNum(v) {
    return typeof v === 'number' && Number.isFinite(v);
  }
  function list(v) {
    return Array.isArray(v) ? v : [];
  }
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
    while (v >= 1024 && u < units.length - 1) {
      v /= 1024;
      ++u;
    }
    const sign = n < 0 ? '-' : '';
    return u === 0 ? sign + v.toFixed(0) + ' B' : sign + v.toFixed(2) + ' ' + units[u];
  }
  function formatCount(n) {
    return isNum(n) ? Math.round(n).toLocaleString('en-US') : 'none';
  }
  function formatSeconds(ns) {
    return isNum(ns) ? (ns / 1e9).toFixed(2) + ' s' : 'none';
  }
  function seconds(ns) {
    return isNum(ns) ? ns / 1e9 : null;
  }

  // Same text as DescribeFrame() in report/symbols/stack_symbolizer.cc.
  function describeFrame(f) {
    if (!f || typeof f !== 'object') return '?';
    if (f.function) {
      let s = String(f.function);
      if (f.file)
        s += ' (' + basename(f.file) + (isNum(f.line) && f.line > 0 ? ':' + f.line : '') + ')';
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

  function estimated(proc) {
    return proc.mode && proc.mode.exact === false ? '~' : '';
  }

  function endText(end) {
    if (!end || typeof end !== 'object') return 'unknown';
    if (end.oom_kill) return 'killed by the OOM killer';
    if (isNum(end.signal) && end.signal > 0) return 'killed by signal ' + end.signal;
    switch (end.how) {
      case 'exit':
        return 'exit()';
      case '_exit':
        return '_exit(' + end.exit_status + ')';
      case 'exec':
        return 'exec of ' + (end.exec || '?') + ' (the new program has its own recording)';
      case 'cut_short':
        return (
          'cut short: no end record (killed, e.g. by SIGKILL or the OOM killer, or still ' +
          'running); figures are as of the last record'
        );
      default:
        return String(end.how || 'unknown');
    }
  }

  function endMarkerLabel(end) {
    if (!end) return 'end';
    if (end.oom_kill) return 'OOM kill';
    if (isNum(end.signal) && end.signal > 0) return 'signal ' + end.signal;
    switch (end.how) {
      case 'exit':
        return 'exit';
      case '_exit':
        return '_exit(' + end.exit_status + ')';
      case 'exec':
        return 'exec';
      case 'cut_short':
        return 'cut short';
      default:
        return String(end.how || 'end');
    }
  }

  function section(parent, title, hint) {
    const s = el('section', 'part');
    s.append(el('h3', null, title));
    if (hint) s.append(el('p', 'hint', hint));
    parent.append(s);
    return s;
  }

  function none(text) {
    return el('p', 'none', text);
  }

  window.allocwatchReport = {
    el,
    isNum,
    list,
    basename,
    formatBytes,
    formatCount,
    formatSeconds,
    seconds,
    describeFrame,
    flameName,
    estimated,
    endText,
    endMarkerLabel,
    section,
    none,
  };
})();
