// tests/html/cdp_browser.js: a headless Chromium driven over the Chrome DevTools Protocol on a
// pipe (--remote-debugging-pipe: commands on fd 3, replies on fd 4, NUL-terminated JSON).
// Node's standard library only.
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

class StartError extends Error {}

class Browser {
  // Starts chromium; rejects with StartError when it exits or does not answer within
  // `startTimeoutMs`.
  static async launch(executable, { startTimeoutMs = 20000, windowSize = '1280,900' } = {}) {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'allocwatch-chromium-'));
    const args = [
      '--headless',
      '--remote-debugging-pipe',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-extensions',
      '--disable-background-networking',
      '--disable-sync',
      '--hide-scrollbars',
      '--mute-audio',
      '--user-data-dir=' + profile,
      '--window-size=' + windowSize,
      'about:blank',
    ];
    const child = spawn(executable, args, {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
      detached: true, // its own process group, so close() ends every chromium process
      env: Object.assign({}, process.env, { DBUS_SESSION_BUS_ADDRESS: 'disabled:' }),
    });
    const browser = new Browser(child, profile);
    try {
      await browser.send('Browser.getVersion', {}, null, startTimeoutMs);
    } catch (e) {
      const stderr = browser.stderr
        .split('\n')
        .filter((l) => l && !/dbus|bus\.cc/i.test(l))
        .slice(-8);
      browser.close();
      throw new StartError(
        'chromium did not start (' +
          e.message +
          ')' +
          (stderr.length ? ':\n  ' + stderr.join('\n  ') : ''),
      );
    }
    return browser;
  }

  constructor(child, profile) {
    this.child = child;
    this.profile = profile;
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = [];
    this.buffer = '';
    this.stderr = '';
    this.exited = false;
    child.stdio[2].on('data', (d) => {
      this.stderr = (this.stderr + d).slice(-20000);
    });
    child.stdio[4].on('data', (d) => this.onData(d));
    child.on('error', (e) => this.failAll('cannot run chromium: ' + e.message));
    child.on('exit', (code, signal) => {
      this.exited = true;
      this.failAll('chromium exited (' + (signal || 'status ' + code) + ')');
    });
    child.stdio[3].on('error', () => {});
  }

  failAll(message) {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new Error(message));
    }
    this.pending.clear();
  }

  onData(chunk) {
    this.buffer += chunk.toString('utf8');
    let end;
    while ((end = this.buffer.indexOf('\0')) >= 0) {
      const text = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 1);
      let msg;
      try {
        msg = JSON.parse(text);
      } catch (e) {
        continue;
      }
      if (msg.id !== undefined && this.pending.has(msg.id)) {
        const { resolve, reject, timer, method } = this.pending.get(msg.id);
        clearTimeout(timer);
        this.pending.delete(msg.id);
        if (msg.error) reject(new Error(method + ': ' + msg.error.message));
        else resolve(msg.result);
      } else if (msg.method) {
        for (const l of this.listeners) l(msg);
      }
    }
  }

  send(method, params = {}, sessionId = null, timeoutMs = 15000) {
    if (this.exited) return Promise.reject(new Error('chromium is not running'));
    const id = this.nextId++;
    const msg = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(method + ': no answer in ' + timeoutMs + ' ms'));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, method });
      this.child.stdio[3].write(JSON.stringify(msg) + '\0');
    });
  }

  on(listener) {
    this.listeners.push(listener);
  }

  // Resolves with the first event `method` of `sessionId` (or rejects after timeoutMs).
  waitFor(method, sessionId, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('no ' + method + ' in ' + timeoutMs + ' ms')),
        timeoutMs,
      );
      const listener = (msg) => {
        if (msg.method === method && msg.sessionId === sessionId) {
          clearTimeout(timer);
          this.listeners = this.listeners.filter((l) => l !== listener);
          resolve(msg.params);
        }
      };
      this.listeners.push(listener);
    });
  }

  // A new page, attached in flat mode; returns a Page.
  async newPage(width, height) {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true });
    const page = new Page(this, sessionId);
    await page.send('Runtime.enable');
    await page.send('Log.enable');
    await page.send('Page.enable');
    await page.send('Network.enable');
    await page.send('Emulation.setDeviceMetricsOverride', {
      width,
      height,
      deviceScaleFactor: 1,
      mobile: false,
    });
    return page;
  }

  close() {
    if (!this.exited) {
      try {
        process.kill(-this.child.pid, 'SIGKILL');
      } catch (e) {
        /* already gone */
      }
    }
    try {
      fs.rmSync(this.profile, { recursive: true, force: true });
    } catch (e) {
      /* best effort */
    }
  }
}

class Page {
  constructor(browser, sessionId) {
    this.browser = browser;
    this.sessionId = sessionId;
    // Console errors, uncaught exceptions, browser log errors (CSP violations, failed loads),
    // requests for anything but the page itself (it must work offline) and dialogs (alert()
    // would mean a script ran that should not have).
    this.problems = [];
    this.url = null;
    browser.on((msg) => {
      if (msg.sessionId !== sessionId) return;
      const p = msg.params || {};
      if (
        msg.method === 'Runtime.consoleAPICalled' &&
        (p.type === 'error' || p.type === 'assert')
      ) {
        this.problems.push(
          'console.' +
            p.type +
            ': ' +
            (p.args || []).map((a) => (a.value !== undefined ? a.value : a.description)).join(' '),
        );
      } else if (msg.method === 'Runtime.exceptionThrown') {
        const d = p.exceptionDetails || {};
        this.problems.push(
          'uncaught exception: ' + ((d.exception && d.exception.description) || d.text),
        );
      } else if (msg.method === 'Log.entryAdded' && p.entry && p.entry.level === 'error') {
        this.problems.push(
          'log error: ' + p.entry.text + (p.entry.url ? ' (' + p.entry.url + ')' : ''),
        );
      } else if (msg.method === 'Network.requestWillBeSent' && p.request) {
        const url = p.request.url;
        if (url !== this.url && url !== 'about:blank' && !url.startsWith('data:')) {
          this.problems.push('request for ' + url);
        }
      } else if (msg.method === 'Page.javascriptDialogOpening') {
        this.problems.push('dialog opened: ' + p.type + ' ' + p.message);
        this.send('Page.handleJavaScriptDialog', { accept: false }).catch(() => {});
      }
    });
  }

  send(method, params = {}, timeoutMs = 15000) {
    return this.browser.send(method, params, this.sessionId, timeoutMs);
  }

  async open(url, timeoutMs) {
    this.url = new URL(url).href;
    const loaded = this.browser.waitFor('Page.loadEventFired', this.sessionId, timeoutMs);
    const nav = await this.send('Page.navigate', { url });
    if (nav.errorText) throw new Error('cannot open ' + url + ': ' + nav.errorText);
    await loaded;
  }

  // The value of a JavaScript expression (returned by value, so JSON-like).
  async evaluate(expression) {
    const r = await this.send('Runtime.evaluate', {
      expression,
      returnByValue: true,
      awaitPromise: true,
    });
    if (r.exceptionDetails) {
      throw new Error(
        'evaluate failed: ' +
          ((r.exceptionDetails.exception && r.exceptionDetails.exception.description) ||
            r.exceptionDetails.text),
      );
    }
    return r.result.value;
  }

  // Polls `expression` until it is truthy; returns its value, or throws after timeoutMs.
  async waitUntil(expression, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await this.evaluate(expression);
      if (v) return v;
      if (Date.now() > deadline) throw new Error('timed out waiting for ' + expression);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  // A PNG of the whole page.
  async screenshot(file) {
    const metrics = await this.send('Page.getLayoutMetrics');
    const size = metrics.cssContentSize || metrics.contentSize;
    const width = Math.ceil(size.width),
      height = Math.min(Math.ceil(size.height), 16000);
    const shot = await this.send(
      'Page.captureScreenshot',
      {
        format: 'png',
        captureBeyondViewport: true,
        clip: { x: 0, y: 0, width, height, scale: 1 },
      },
      30000,
    );
    fs.writeFileSync(file, Buffer.from(shot.data, 'base64'));
    return { width, height };
  }
}

module.exports = { Browser, StartError };
