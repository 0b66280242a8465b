// rdbt docs: a static single-page site. data/index.js holds what every page
// needs (names, kinds, short descriptions, column names, edges, layers);
// node details come in shards (data/shard-K.js) loaded when a page needs
// them. Everything is plain DOM and SVG so 100,000 nodes stay responsive.
(function () {
  'use strict';
  var S = { index: null, nodes: [], byId: new Map(), children: [], shards: new Map(), waiting: new Map(), hay: null };
  var KINDS = ['model', 'source', 'seed', 'snapshot', 'exposure', 'analysis'];
  var main = function () { return document.getElementById('main'); };

  // ---------- data ----------
  window.rdbtIndex = function (index) {
    S.index = index;
    S.nodes = index.nodes.map(function (t, i) {
      return { i: i, id: t[0], name: t[1], kind: t[2], pkg: t[3] || '', path: t[4] || '', schema: t[5] || '',
        mat: t[6] || '', tags: t[7] ? t[7].split(',') : [], short: t[8] || '', cols: t[9] || '',
        parents: t[10] || [], layer: t[11] || 0, fqn: t[12] || '' };
    });
    S.children = S.nodes.map(function () { return []; });
    S.nodes.forEach(function (n) {
      S.byId.set(n.id, n);
      n.parents.forEach(function (p) { S.children[p].push(n.i); });
    });
    renderTree();
    route();
  };
  window.rdbtShard = function (k, rows) {
    S.shards.set(k, rows);
    var w = S.waiting.get(k);
    if (w) { S.waiting.delete(k); w.forEach(function (f) { f(rows); }); }
  };
  function loadShard(k) {
    if (S.shards.has(k)) return Promise.resolve(S.shards.get(k));
    return new Promise(function (resolve, reject) {
      var w = S.waiting.get(k);
      if (!w) {
        w = []; S.waiting.set(k, w);
        var s = document.createElement('script');
        s.src = 'data/shard-' + k + '.js';
        s.onerror = function () { reject(new Error('cannot load data/shard-' + k + '.js')); };
        document.head.appendChild(s);
      }
      w.push(resolve);
    });
  }
  function detail(i) {
    var size = S.index.shard_size;
    return loadShard(Math.floor(i / size)).then(function (rows) { return rows[i % size]; });
  }

  // ---------- helpers ----------
  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function markdown(text) {
    if (!text) return '<p class="muted">No description.</p>';
    return String(text).split(/\n\s*\n/).map(function (block) {
      var lines = block.split('\n');
      var inline = function (s) {
        return esc(s).replace(/`([^`]+)`/g, '<code>$1</code>').replace(/\*\*([^*]+)\*\*/g, '<b>$1</b>')
          .replace(/\[([^\]]+)\]\((https?:[^)\s]+)\)/g, '<a href="$2" rel="noopener">$1</a>');
      };
      // A pipe table: a header row, a |---|:--:| rule, then rows.
      var rule = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;
      if (lines.length >= 2 && lines[0].indexOf('|') >= 0 && rule.test(lines[1])) {
        var cells = function (l) {
          return l.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map(function (c) { return c.trim(); });
        };
        var aligns = cells(lines[1]).map(function (c) {
          var left = c.charAt(0) === ':', right = c.charAt(c.length - 1) === ':';
          return left && right ? 'center' : right ? 'right' : left ? 'left' : '';
        });
        var td = function (tag, c, k) {
          return '<' + tag + (aligns[k] ? ' style="text-align:' + aligns[k] + '"' : '') + '>' + inline(c) + '</' + tag + '>';
        };
        return '<table class="md"><thead><tr>' + cells(lines[0]).map(function (c, k) { return td('th', c, k); }).join('') +
          '</tr></thead><tbody>' + lines.slice(2).map(function (l) {
            return '<tr>' + cells(l).map(function (c, k) { return td('td', c, k); }).join('') + '</tr>';
          }).join('') + '</tbody></table>';
      }
      if (lines.every(function (l) { return /^\s*[-*] /.test(l); })) {
        return '<ul>' + lines.map(function (l) { return '<li>' + inline(l.replace(/^\s*[-*] /, '')) + '</li>'; }).join('') + '</ul>';
      }
      var h = /^(#{1,4}) (.*)$/.exec(lines[0]);
      if (h && lines.length === 1) return '<h3>' + inline(h[2]) + '</h3>';
      return '<p>' + inline(block) + '</p>';
    }).join('');
  }
  function link(n) { return '<a href="#/node/' + encodeURIComponent(n.id) + '">' + esc(n.name) + '</a>'; }
  function kindBadge(k) { return '<span class="kind">' + esc(k) + '</span>'; }
  function bytes(b) {
    if (b == null) return '';
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return (i ? b.toFixed(1) : b) + ' ' + u[i];
  }
  function statusClass(s) { return 'status-' + String(s || '').toLowerCase(); }
  function setMain(html) { var m = main(); m.innerHTML = html; return m; }
  function fmt(v) {
    if (v == null) return '';
    if (typeof v === 'number') return Number.isInteger(v) ? String(v) : (Math.abs(v) < 1 ? v.toFixed(3) : v.toFixed(2));
    return String(v);
  }
  function markNav(hash) {
    document.querySelectorAll('.top nav a').forEach(function (a) {
      if (a.getAttribute('href') === hash) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    });
  }

  // ---------- router ----------
  function parseHash() {
    var h = location.hash.replace(/^#/, '') || '/';
    var q = '';
    var at = h.indexOf('?');
    if (at >= 0) { q = h.slice(at + 1); h = h.slice(0, at); }
    var params = {};
    q.split('&').forEach(function (kv) {
      if (!kv) return;
      var p = kv.split('=');
      params[decodeURIComponent(p[0])] = decodeURIComponent((p[1] || '').replace(/\+/g, ' '));
    });
    return { parts: h.split('/').filter(Boolean).map(decodeURIComponent), params: params };
  }
  function route() {
    if (!S.index) return;
    var r = parseHash(), p = r.parts;
    markNav('#/' + (p[0] === 'graph' ? 'graph' : p[0] || ''));
    var page = p[0] || '';
    var started = performance.now();
    var done = function () { window.rdbtLastRender = performance.now() - started; document.body.dataset.page = page; };
    if (page === 'node' && S.byId.has(p[1])) return nodePage(S.byId.get(p[1]), r.params).then(done);
    if (page === 'graph') { graphPage(r.params); return done(); }
    if (page === 'sources') { sourcesPage(); return done(); }
    if (page === 'exposures') { exposuresPage(); return done(); }
    if ((page === 'dashboard' || page === 'report') && S.byId.has(p[1])) return dashboardPage(S.byId.get(p[1]), page === 'report').then(done);
    overview(); done();
  }
  window.addEventListener('hashchange', function () { route(); main().focus({ preventScroll: true }); window.scrollTo(0, 0); });

  // ---------- sidebar ----------
  function renderTree() {
    var tree = document.getElementById('tree');
    var byKind = {};
    S.nodes.forEach(function (n) { (byKind[n.kind] = byKind[n.kind] || []).push(n); });
    tree.innerHTML = KINDS.filter(function (k) { return byKind[k]; }).map(function (k) {
      return '<details data-kind="' + k + '"><summary>' + esc(k) + 's (' + byKind[k].length + ')</summary><div class="fill"></div></details>';
    }).join('');
    tree.querySelectorAll('details').forEach(function (d) {
      d.addEventListener('toggle', function () {
        var fill = d.querySelector('.fill');
        if (!d.open || fill.dataset.done) return;
        fill.dataset.done = '1';
        var folders = {};
        byKind[d.dataset.kind].forEach(function (n) {
          var f = n.kind === 'source' ? n.name.split('.')[0] : (n.path.split('/').slice(0, -1).join('/') || '.');
          (folders[f] = folders[f] || []).push(n);
        });
        fill.innerHTML = '<ul>' + Object.keys(folders).sort().map(function (f) {
          var list = folders[f].slice().sort(function (a, b) { return a.name < b.name ? -1 : 1; });
          var shown = list.slice(0, 300).map(function (n) { return '<li>' + link(n) + '</li>'; }).join('');
          var more = list.length > 300 ? '<li class="muted">… ' + (list.length - 300) + ' more (use search)</li>' : '';
          return '<li><details><summary>' + esc(f) + ' (' + list.length + ')</summary><ul>' + shown + more + '</ul></details></li>';
        }).join('') + '</ul>';
      });
    });
  }

  // ---------- search ----------
  var searchBox = document.getElementById('q'), resultsBox = document.getElementById('results');
  var hits = [], active = -1;
  function buildHay() {
    S.hay = S.nodes.map(function (n) { return [n.name.toLowerCase(), n.cols.toLowerCase(), n.short.toLowerCase(), n.tags.join(' ').toLowerCase()]; });
  }
  function search(q) {
    if (!S.hay) buildHay();
    q = q.trim().toLowerCase();
    if (!q) return [];
    var limit = 50, buckets = [[], [], [], [], []];
    for (var i = 0; i < S.hay.length; i++) {
      var h = S.hay[i], b = -1, why = '';
      if (h[0] === q) b = 0;
      else if (h[0].indexOf(q) === 0) b = 1;
      else if (h[0].indexOf(q) > 0) b = 2;
      else if (h[1].indexOf(q) >= 0) {
        b = 3;
        var col = h[1].split(' ').filter(function (c) { return c.indexOf(q) >= 0; })[0];
        why = 'column ' + col;
      } else if (h[2].indexOf(q) >= 0 || h[3].indexOf(q) >= 0) { b = 4; why = h[3].indexOf(q) >= 0 ? 'tag' : 'description'; }
      if (b >= 0 && buckets[b].length < limit) buckets[b].push([i, why]);
      if (buckets[0].length + buckets[1].length >= limit) break;
    }
    return [].concat.apply([], buckets).slice(0, limit);
  }
  function showResults() {
    hits = search(searchBox.value);
    active = hits.length ? 0 : -1;
    if (!searchBox.value.trim()) { resultsBox.hidden = true; return; }
    resultsBox.innerHTML = hits.length ? hits.map(function (h, k) {
      var n = S.nodes[h[0]];
      return '<li role="option" id="hit' + k + '" data-i="' + h[0] + '" aria-selected="' + (k === active) + '">' + kindBadge(n.kind) + esc(n.name) +
        (h[1] ? ' <span class="why">' + esc(h[1]) + '</span>' : '') + '<div class="why">' + esc(n.short.slice(0, 90)) + '</div></li>';
    }).join('') : '<li class="muted">No match</li>';
    resultsBox.hidden = false;
    searchBox.setAttribute('aria-activedescendant', active >= 0 ? 'hit0' : '');
  }
  function openHit(k) {
    var h = hits[k]; if (!h) return;
    resultsBox.hidden = true; searchBox.value = '';
    location.hash = '#/node/' + encodeURIComponent(S.nodes[h[0]].id);
  }
  searchBox.addEventListener('input', showResults);
  searchBox.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      if (!hits.length) return;
      active = (active + (e.key === 'ArrowDown' ? 1 : hits.length - 1)) % hits.length;
      resultsBox.querySelectorAll('li').forEach(function (li, k) { li.setAttribute('aria-selected', String(k === active)); });
      var el = document.getElementById('hit' + active);
      if (el) { el.scrollIntoView({ block: 'nearest' }); searchBox.setAttribute('aria-activedescendant', el.id); }
    } else if (e.key === 'Enter') { e.preventDefault(); openHit(Math.max(active, 0)); }
    else if (e.key === 'Escape') { resultsBox.hidden = true; }
  });
  resultsBox.addEventListener('mousedown', function (e) {
    var li = e.target.closest('li[data-i]');
    if (li) { e.preventDefault(); openHit(Array.prototype.indexOf.call(resultsBox.children, li)); }
  });
  searchBox.addEventListener('blur', function () { setTimeout(function () { resultsBox.hidden = true; }, 150); });
  document.addEventListener('keydown', function (e) {
    if (e.key === '/' && document.activeElement !== searchBox && !/INPUT|TEXTAREA/.test(document.activeElement.tagName)) {
      e.preventDefault(); searchBox.focus();
    }
  });

  // ---------- pages ----------
  function overview() {
    var ix = S.index, c = ix.counts;
    var dash = ix.dashboards.map(function (i) {
      var n = S.nodes[i];
      return '<li><a href="#/dashboard/' + encodeURIComponent(n.id) + '">' + esc(n.name) + '</a> · <a href="#/report/' + encodeURIComponent(n.id) + '">printable</a></li>';
    }).join('');
    setMain('<h1>' + esc(ix.project || 'Project') + '</h1>' +
      '<p class="muted">Generated ' + esc(ix.generated_at || '') + ' · target ' + esc(ix.adapter || '') +
      (ix.catalog_at ? ' · catalog ' + esc(ix.catalog_at) : ' · no catalog') + (ix.run_at ? ' · last run ' + esc(ix.run_at) : '') + '</p>' +
      '<div class="cards">' + ['model', 'source', 'seed', 'snapshot', 'exposure', 'test'].map(function (k) {
        return '<div class="card"><b>' + (c[k] || 0) + '</b>' + k + 's</div>';
      }).join('') + '</div>' +
      (dash ? '<h2>Dashboards</h2><ul>' + dash + '</ul>' : '') +
      '<h2>Explore</h2><ul><li><a href="#/graph">The lineage graph</a>, with the selector syntax of <code>rdbt ls -s</code></li>' +
      '<li>Press <kbd>/</kbd> to search names, descriptions and columns</li><li><a href="#/sources">Sources and their freshness</a></li></ul>');
  }

  function nodePage(n, params) {
    setMain('<h1>' + kindBadge(n.kind) + esc(n.name) + '</h1><p class="muted">Loading…</p>');
    return detail(n.i).then(function (d) {
      var up = n.parents.map(function (p) { return S.nodes[p]; });
      var down = S.children[n.i].map(function (c) { return S.nodes[c]; });
      var facts = [['Relation', d.relation], ['Materialized', n.mat], ['Path', n.path], ['Package', n.pkg], ['Tags', n.tags.join(', ')]];
      if (d.catalog) facts.push(['Warehouse', d.catalog.kind], ['Rows', d.catalog.rows], ['Size', bytes(d.catalog.bytes)]);
      if (d.result) facts.push(['Last run', '<span class="' + statusClass(d.result.status) + '">' + esc(d.result.status) + '</span> ' + esc(d.result.message || '')]);
      var html = '<h1>' + kindBadge(n.kind) + esc(n.name) + '</h1>' + markdown(d.description) +
        '<table class="facts"><tbody>' + facts.filter(function (f) { return f[1] != null && f[1] !== ''; }).map(function (f) {
          return '<tr><th scope="row">' + f[0] + '</th><td>' + (f[0] === 'Last run' ? f[1] : esc(f[1])) + '</td></tr>';
        }).join('') + '</tbody></table>';
      if (d.source) html += sourceSection(d.source);
      if (d.exposure) html += exposureSection(n, d.exposure);
      html += '<h2>Columns</h2>' + columnsTable(d.columns) + '<div id="collineage"></div>';
      html += '<h2>Tests</h2>' + testsTable(d.tests);
      html += '<h2>Lineage</h2><div class="controls noprint"><label>Upstream <input id="up" type="number" min="0" max="20" value="' + (params.up || 1) + '" style="width:4em"></label>' +
        '<label>Downstream <input id="down" type="number" min="0" max="20" value="' + (params.down || 1) + '" style="width:4em"></label>' +
        '<a class="btn" href="#/graph?select=' + encodeURIComponent('+' + selectorName(n) + '+') + '">Open in the graph</a></div><div id="lineage" class="graph"></div>' +
        '<div class="lineage-cols"><div><h3>Upstream (' + up.length + ')</h3><ul>' + up.map(function (u) { return '<li>' + kindBadge(u.kind) + link(u) + '</li>'; }).join('') + '</ul></div><div></div>' +
        '<div><h3>Downstream (' + down.length + ')</h3><ul>' + down.slice(0, 500).map(function (u) { return '<li>' + kindBadge(u.kind) + link(u) + '</li>'; }).join('') + '</ul></div></div>';
      if (d.raw || d.compiled) {
        html += '<h2>Code</h2><div class="tabs" role="tablist"><button role="tab" aria-selected="true" data-tab="raw">Source</button><button role="tab" aria-selected="false" data-tab="compiled">Compiled</button></div>' +
          '<pre id="code" tabindex="0">' + esc(d.raw || '') + '</pre>';
      }
      if (d.config && Object.keys(d.config).length) html += '<h2>Config</h2><pre tabindex="0">' + esc(JSON.stringify(d.config, null, 2)) + '</pre>';
      var m = setMain(html);
      var draw = function () {
        var u = +m.querySelector('#up').value, dn = +m.querySelector('#down').value;
        drawLineage(m.querySelector('#lineage'), neighbourhood([n.i], u, dn), n.i);
      };
      m.querySelector('#up').addEventListener('change', draw);
      m.querySelector('#down').addEventListener('change', draw);
      draw();
      m.querySelectorAll('.tabs button').forEach(function (b) {
        b.addEventListener('click', function () {
          m.querySelectorAll('.tabs button').forEach(function (x) { x.setAttribute('aria-selected', String(x === b)); });
          m.querySelector('#code').textContent = (b.dataset.tab === 'raw' ? d.raw : d.compiled) || '(not compiled; run rdbt compile)';
        });
      });
      m.querySelectorAll('.colbtn').forEach(function (b) {
        b.addEventListener('click', function () { columnLineage(n, b.dataset.col); });
      });
      if (params.column) columnLineage(n, params.column);
    });
  }
  function selectorName(n) { return n.kind === 'source' ? 'source:' + n.name : n.name; }
  function columnsTable(cols) {
    if (!cols || !cols.length) return '<p class="muted">No columns known (declare them in YAML, or run rdbt docs generate after a build).</p>';
    return '<table><thead><tr><th>Column</th><th>Type</th><th>Description</th><th>Tests</th><th>Lineage</th></tr></thead><tbody>' + cols.map(function (c) {
      var hasLineage = (c.up && c.up.length) || (c.down && c.down.length);
      return '<tr><td><code>' + esc(c.name) + '</code></td><td>' + esc(c.type) + '</td><td>' + esc(c.description || '') + '</td><td>' +
        (c.tests || []).map(function (t) { return '<span class="pill ' + statusClass(t[1]) + '">' + esc(t[0]) + '</span>'; }).join('') + '</td><td>' +
        (hasLineage ? '<button class="colbtn" data-col="' + esc(c.name) + '">' + (c.up.length) + ' in · ' + (c.down.length) + ' out</button>' : '') + '</td></tr>';
    }).join('') + '</tbody></table>';
  }
  function testsTable(tests) {
    if (!tests || !tests.length) return '<p class="muted">No tests.</p>';
    return '<table><thead><tr><th>Test</th><th>Column</th><th>Last result</th></tr></thead><tbody>' + tests.map(function (t) {
      return '<tr><td>' + esc(t.name) + ' <span class="muted">' + esc(t.kind === 'unit_test' ? 'unit test' : (t.test || 'singular')) + '</span></td><td>' + esc(t.column || '') +
        '</td><td class="' + statusClass(t.status) + '">' + esc(t.status || 'not run') + (t.message && t.status !== 'pass' ? ' <span class="muted">' + esc(t.message) + '</span>' : '') + '</td></tr>';
    }).join('') + '</tbody></table>';
  }
  function sourceSection(s) {
    var f = s.last;
    return '<h2>Source</h2><table><tbody><tr><th scope="row">Source</th><td>' + esc(s.source_name) + '</td></tr>' +
      '<tr><th scope="row">Loader</th><td>' + esc(s.loader || '') + '</td></tr><tr><th scope="row">Loaded at field</th><td>' + esc(s.loaded_at_field || '') + '</td></tr>' +
      '<tr><th scope="row">Freshness</th><td>' + (f ? '<span class="' + statusClass(f.status) + '">' + esc(f.status) + '</span> · newest row ' + esc(f.max_loaded_at || '') + ' (' + esc(f.age != null ? Math.round(f.age / 60) + ' min old' : '') + ')' : '<span class="muted">not checked (rdbt source freshness)</span>') +
      '</td></tr></tbody></table>' + (s.source_description ? markdown(s.source_description) : '');
  }
  function exposureSection(n, e) {
    var owner = e.owner ? [e.owner.name, e.owner.email].filter(Boolean).join(' · ') : '';
    var dash = e.dashboard && e.dashboard.charts && e.dashboard.charts.length;
    return '<h2>Exposure</h2><table><tbody><tr><th scope="row">Type</th><td>' + esc(e.type) + '</td></tr><tr><th scope="row">Maturity</th><td>' + esc(e.maturity || '') +
      '</td></tr><tr><th scope="row">Owner</th><td>' + esc(owner) + '</td></tr>' + (e.url ? '<tr><th scope="row">URL</th><td>' + (/^https?:\/\//.test(e.url) ? '<a href="' + esc(e.url) + '" rel="noopener">' + esc(e.url) + '</a>' : esc(e.url)) + '</td></tr>' : '') +
      '</tbody></table>' + (dash ? '<p><a class="btn" href="#/dashboard/' + encodeURIComponent(n.id) + '">Open the dashboard</a> <a class="btn" href="#/report/' + encodeURIComponent(n.id) + '">Printable report</a></p>' : '');
  }

  // Column lineage: walks the per-column edges both ways, loading the
  // shards of the nodes it reaches.
  function columnLineage(n, col) {
    var box = document.getElementById('collineage');
    if (!box) return;
    box.innerHTML = '<h3>Column lineage of <code>' + esc(n.name + '.' + col) + '</code></h3><p class="muted">Loading…</p>';
    var walk = function (dir) {
      var out = [], seen = new Set([n.i + '.' + col.toLowerCase()]);
      var step = function (frontier, depth) {
        if (!frontier.length || depth > 8 || out.length > 400) return Promise.resolve();
        return Promise.all(frontier.map(function (f) { return detail(f[0]).then(function (d) { return [f, d]; }); })).then(function (pairs) {
          var next = [];
          pairs.forEach(function (pair) {
            var f = pair[0], d = pair[1];
            var c = (d.columns || []).filter(function (x) { return x.name.toLowerCase() === f[1].toLowerCase(); })[0];
            if (!c) return;
            (dir === 'up' ? c.up : c.down).forEach(function (e) {
              var key = e[0] + '.' + String(e[1]).toLowerCase();
              if (seen.has(key)) return;
              seen.add(key);
              out.push({ node: S.nodes[e[0]], column: e[1], how: e[2], depth: depth });
              next.push([e[0], e[1]]);
            });
          });
          return step(next, depth + 1);
        });
      };
      return step([[n.i, col]], 1).then(function () { return out; });
    };
    Promise.all([walk('up'), walk('down')]).then(function (both) {
      var list = function (items, empty) {
        if (!items.length) return '<p class="muted">' + empty + '</p>';
        return '<ul>' + items.map(function (x) {
          return '<li style="margin-left:' + (x.depth - 1) * 14 + 'px">' + kindBadge(x.node.kind) + '<a href="#/node/' + encodeURIComponent(x.node.id) + '?column=' + encodeURIComponent(x.column) + '">' +
            esc(x.node.name) + '.' + esc(x.column) + '</a> <span class="muted">' + esc(x.how) + '</span></li>';
        }).join('') + '</ul>';
      };
      box.innerHTML = '<h3>Column lineage of <code>' + esc(n.name + '.' + col) + '</code></h3><div class="lineage-cols" id="colgraph">' +
        '<div><h4>Comes from</h4>' + list(both[0], 'No upstream columns (a constant, or a source).') + '</div><div><b>' + esc(col) + '</b></div>' +
        '<div><h4>Feeds</h4>' + list(both[1], 'Nothing downstream reads it.') + '</div></div>';
      box.scrollIntoView({ block: 'nearest' });
    });
  }

  // ---------- graphs ----------
  // The nodes within `up` steps upstream and `down` steps downstream of the
  // seeds, with their signed distance (upstream negative).
  function neighbourhood(seeds, up, down, cap) {
    cap = cap || 600;
    var rank = new Map();
    seeds.forEach(function (s) { rank.set(s, 0); });
    var walk = function (next, limit, sign) {
      var frontier = seeds.slice();
      for (var d = 1; d <= limit && frontier.length && rank.size < cap; d++) {
        var nxt = [];
        frontier.forEach(function (i) {
          next(i).forEach(function (j) {
            if (!rank.has(j) && rank.size < cap) { rank.set(j, sign * d); nxt.push(j); }
          });
        });
        frontier = nxt;
      }
    };
    walk(function (i) { return S.nodes[i].parents; }, up, -1);
    walk(function (i) { return S.children[i]; }, down, 1);
    return rank;
  }
  function drawLineage(box, rank, focus) {
    var cols = new Map();
    rank.forEach(function (r, i) { if (!cols.has(r)) cols.set(r, []); cols.get(r).push(i); });
    var keys = Array.from(cols.keys()).sort(function (a, b) { return a - b; });
    var W = 210, H = 28, GX = 70, GY = 10, pos = new Map(), maxRows = 0;
    keys.forEach(function (k, x) {
      var list = cols.get(k).sort(function (a, b) { return S.nodes[a].name < S.nodes[b].name ? -1 : 1; });
      maxRows = Math.max(maxRows, list.length);
      list.forEach(function (i, y) { pos.set(i, [10 + x * (W + GX), y]); });
    });
    // Centre each column on the tallest one.
    pos.forEach(function (p, i) {
      var count = cols.get(rank.get(i)).length;
      p[1] = 10 + (p[1] + (maxRows - count) / 2) * (H + GY);
    });
    var width = 20 + keys.length * (W + GX) - GX, height = 20 + maxRows * (H + GY);
    var edges = [], boxes = [];
    pos.forEach(function (p, i) {
      S.nodes[i].parents.forEach(function (q) {
        var a = pos.get(q);
        if (!a) return;
        var x1 = a[0] + W, y1 = a[1] + H / 2, x2 = p[0], y2 = p[1] + H / 2, mx = (x1 + x2) / 2;
        var hot = focus != null && (i === focus || q === focus);
        edges.push('<path class="edge' + (hot ? ' hot' : '') + '" d="M' + x1 + ',' + y1 + ' C' + mx + ',' + y1 + ' ' + mx + ',' + y2 + ' ' + x2 + ',' + y2 + '"/>');
      });
      var n = S.nodes[i], label = n.name.length > 28 ? n.name.slice(0, 27) + '…' : n.name;
      boxes.push('<a class="gnode ' + n.kind + (i === focus ? ' focus' : '') + '" href="#/node/' + encodeURIComponent(n.id) + '" data-i="' + i + '" transform="translate(' + p[0] + ',' + p[1] + ')">' +
        '<title>' + esc(n.kind + ' ' + n.name) + '</title><rect width="' + W + '" height="' + H + '"></rect><text x="8" y="18">' + esc(label) + '</text></a>');
    });
    box.innerHTML = '<svg role="img" aria-label="Lineage graph of ' + rank.size + ' nodes" viewBox="0 0 ' + width + ' ' + height + '" width="' + width + '" style="max-width:100%;height:auto">' + edges.join('') + boxes.join('') + '</svg>' +
      (rank.size >= 600 ? '<p class="muted">Showing the first 600 nodes; narrow the depth or the selection.</p>' : '');
  }
  // The whole project at once: one dot per node, by layer, on a canvas.
  function drawOverview(box, highlight) {
    var layers = new Map(), maxLayer = 0;
    S.nodes.forEach(function (n) {
      if (!layers.has(n.layer)) layers.set(n.layer, []);
      layers.get(n.layer).push(n.i);
      maxLayer = Math.max(maxLayer, n.layer);
    });
    var tallest = 0;
    layers.forEach(function (l) { tallest = Math.max(tallest, l.length); });
    var width = Math.max(600, box.clientWidth - 4), height = Math.min(3000, Math.max(300, tallest * 3));
    var dx = (width - 40) / Math.max(1, maxLayer), pos = new Float32Array(S.nodes.length * 2);
    layers.forEach(function (list, layer) {
      var dy = (height - 20) / Math.max(1, list.length);
      list.forEach(function (i, k) { pos[2 * i] = 20 + layer * dx; pos[2 * i + 1] = 10 + k * dy; });
    });
    box.innerHTML = '<canvas width="' + width + '" height="' + height + '" role="img" aria-label="All ' + S.nodes.length + ' nodes by layer; click one to open it"></canvas>';
    var ctx = box.firstChild.getContext('2d');
    ctx.strokeStyle = 'rgba(100,120,150,0.12)';
    ctx.beginPath();
    var drawn = 0;
    for (var i = 0; i < S.nodes.length && drawn < 40000; i++) {
      var ps = S.nodes[i].parents;
      for (var k = 0; k < ps.length; k++, drawn++) { ctx.moveTo(pos[2 * ps[k]], pos[2 * ps[k] + 1]); ctx.lineTo(pos[2 * i], pos[2 * i + 1]); }
    }
    ctx.stroke();
    var colors = { model: '#0a58ca', source: '#146c2e', seed: '#6f42c1', snapshot: '#8a5300', exposure: '#b42318', analysis: '#555' };
    S.nodes.forEach(function (n, i) {
      ctx.fillStyle = highlight && highlight.has(i) ? '#ff8c00' : colors[n.kind] || '#333';
      var r = highlight && highlight.has(i) ? 3 : 1.5;
      ctx.fillRect(pos[2 * i] - r, pos[2 * i + 1] - r, 2 * r, 2 * r);
    });
    box.firstChild.addEventListener('click', function (e) {
      var rect = e.target.getBoundingClientRect(), x = e.clientX - rect.left, y = e.clientY - rect.top, best = -1, bd = 64;
      for (var i = 0; i < S.nodes.length; i++) {
        var d = (pos[2 * i] - x) * (pos[2 * i] - x) + (pos[2 * i + 1] - y) * (pos[2 * i + 1] - y);
        if (d < bd) { bd = d; best = i; }
      }
      if (best >= 0) location.hash = '#/node/' + encodeURIComponent(S.nodes[best].id);
    });
  }
  function graphPage(params) {
    var sel = params.select || '';
    // The placeholder's example is one of this project's own models.
    var example = (S.nodes.filter(function (n) { return n.kind === 'model'; })[0] || S.nodes[0] || { name: 'my_model' }).name;
    var m = setMain('<h1>Lineage</h1><form class="controls" id="selform" role="search"><label for="sel">Select</label>' +
      '<input id="sel" type="text" value="' + esc(sel) + '" placeholder="e.g. +' + esc(example) + '+  tag:nightly  path:models  @' + esc(example) + '" aria-describedby="selhelp">' +
      '<button type="submit">Show</button><a class="btn" href="#/graph">Whole project</a></form>' +
      '<p id="selhelp" class="muted">The selection syntax of <code>rdbt ls -s</code>: names and globs, <code>+</code>/<code>n+</code> for ancestors and descendants, <code>@</code>, ' +
      '<code>tag:</code> <code>path:</code> <code>source:</code> <code>resource_type:</code> <code>package:</code> <code>fqn:</code> <code>config.materialized:</code> <code>exposure:</code>; spaces union, commas intersect, <code>--exclude</code>.</p>' +
      '<div id="selinfo" aria-live="polite"></div><div id="graph" class="graph"></div>');
    m.querySelector('#selform').addEventListener('submit', function (e) {
      e.preventDefault();
      location.hash = '#/graph?select=' + encodeURIComponent(m.querySelector('#sel').value.trim());
    });
    var box = m.querySelector('#graph'), info = m.querySelector('#selinfo');
    if (!sel) {
      if (S.nodes.length <= 400) {
        var all = new Map(); S.nodes.forEach(function (n) { all.set(n.i, n.layer); });
        drawLineage(box, all, null);
      } else drawOverview(box, null);
      info.textContent = S.nodes.length + ' nodes.';
      return;
    }
    var chosen;
    try { chosen = select(sel); } catch (err) { info.innerHTML = '<p class="error" role="alert">' + esc(err.message) + '</p>'; return; }
    var ids = Array.from(chosen);
    info.innerHTML = '<p>' + ids.length + ' selected: ' + ids.slice(0, 30).map(function (i) { return link(S.nodes[i]); }).join(', ') + (ids.length > 30 ? ', …' : '') + '</p>';
    if (ids.length <= 600) {
      var ranks = new Map(), order = Array.from(new Set(ids.map(function (i) { return S.nodes[i].layer; }))).sort(function (a, b) { return a - b; });
      ids.forEach(function (i) { ranks.set(i, order.indexOf(S.nodes[i].layer)); });
      drawLineage(box, ranks, ids.length === 1 ? ids[0] : null);
    } else drawOverview(box, chosen);
  }

  // The CLI's selection syntax over the index.
  function glob(pattern) {
    var re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 'i');
    return function (s) { return re.test(s); };
  }
  function atom(text) {
    var m = /^(@)?(\d*\+)?(.+?)(\+\d*)?$/.exec(text);
    if (!m) throw new Error('cannot read selector `' + text + '`');
    var at = !!m[1], body = m[3], method = 'name', value = body;
    var colon = body.indexOf(':');
    if (colon > 0) { method = body.slice(0, colon); value = body.slice(colon + 1); }
    var test = glob(value), match;
    var path = function (n) { return n.path === value || n.path.indexOf(value.replace(/\/$/, '') + '/') === 0 || glob(value)(n.path); };
    switch (method) {
      case 'name': match = value.indexOf('/') >= 0 ? path : function (n) { return test(n.kind === 'source' ? n.name.split('.')[1] : n.name) || test(n.name) || n.fqn === value || glob(value)(n.fqn); }; break;
      case 'tag': match = function (n) { return n.tags.some(test); }; break;
      case 'path': match = path; break;
      case 'resource_type': match = function (n) { return test(n.kind); }; break;
      case 'package': match = function (n) { return test(n.pkg); }; break;
      case 'fqn': match = function (n) { return test(n.fqn) || n.fqn.indexOf(value + '.') === 0; }; break;
      case 'config.materialized': match = function (n) { return test(n.mat); }; break;
      case 'schema': match = function (n) { return test(n.schema); }; break;
      case 'source': match = function (n) { return n.kind === 'source' && (test(n.name) || test(n.name.split('.')[0])); }; break;
      case 'exposure': match = function (n) { return n.kind === 'exposure' && test(n.name); }; break;
      default: throw new Error('unknown selector method `' + method + ':` (use tag, path, source, resource_type, package, fqn, config.materialized, schema, exposure)');
    }
    var base = [];
    S.nodes.forEach(function (n) { if (match(n)) base.push(n.i); });
    var out = new Set(base);
    var depth = function (s) { return s.length > 1 ? parseInt(s.replace('+', ''), 10) : Infinity; };
    var spread = function (start, next, limit) {
      var frontier = start, d = 0;
      while (frontier.length && d < limit) {
        var nxt = [];
        frontier.forEach(function (i) { next(i).forEach(function (j) { if (!out.has(j)) { out.add(j); nxt.push(j); } }); });
        frontier = nxt; d++;
      }
    };
    var parents = function (i) { return S.nodes[i].parents; }, children = function (i) { return S.children[i]; };
    if (m[2]) spread(base, parents, depth(m[2]));
    if (m[4]) spread(base, children, depth(m[4]));
    if (at) {
      var desc = new Set(base), f = base;
      while (f.length) { var nx = []; f.forEach(function (i) { S.children[i].forEach(function (j) { if (!desc.has(j)) { desc.add(j); nx.push(j); } }); }); f = nx; }
      desc.forEach(function (i) { out.add(i); });
      spread(Array.from(desc), parents, Infinity);
    }
    return out;
  }
  function select(expr) {
    var parts = expr.split(/\s+--exclude\s+|^--exclude\s+/);
    var union = function (text) {
      var result = new Set();
      text.trim().split(/\s+/).filter(Boolean).forEach(function (term) {
        var sets = term.split(',').map(atom);
        sets[0].forEach(function (i) { if (sets.every(function (s) { return s.has(i); })) result.add(i); });
      });
      return result;
    };
    var chosen = union(parts[0] || '');
    if (parts[1]) union(parts[1]).forEach(function (i) { chosen.delete(i); });
    return chosen;
  }
  window.rdbtSelect = function (expr) { return Array.from(select(expr)).map(function (i) { return S.nodes[i].name; }); };

  function sourcesPage() {
    var sources = S.nodes.filter(function (n) { return n.kind === 'source'; });
    var m = setMain('<h1>Sources</h1><table><thead><tr><th>Source</th><th>Description</th><th>Freshness</th></tr></thead><tbody>' + sources.slice(0, 2000).map(function (n) {
      return '<tr><td>' + link(n) + '</td><td>' + esc(n.short) + '</td><td data-i="' + n.i + '" class="muted">…</td></tr>';
    }).join('') + '</tbody></table>');
    m.querySelectorAll('td[data-i]').forEach(function (td) {
      detail(+td.dataset.i).then(function (d) {
        var f = d.source && d.source.last;
        td.className = f ? statusClass(f.status) : 'muted';
        td.textContent = f ? f.status + (f.max_loaded_at ? ' · newest ' + f.max_loaded_at : '') : (d.source && d.source.loaded_at_field ? 'not checked' : 'no loaded_at_field');
      });
    });
  }
  function exposuresPage() {
    var list = S.nodes.filter(function (n) { return n.kind === 'exposure'; });
    setMain('<h1>Exposures</h1><table><thead><tr><th>Exposure</th><th>Description</th><th>Depends on</th><th></th></tr></thead><tbody>' + list.map(function (n) {
      var dash = S.index.dashboards.indexOf(n.i) >= 0;
      return '<tr><td>' + link(n) + '</td><td>' + esc(n.short) + '</td><td>' + n.parents.map(function (p) { return link(S.nodes[p]); }).join(', ') + '</td><td>' +
        (dash ? '<a href="#/dashboard/' + encodeURIComponent(n.id) + '">dashboard</a> · <a href="#/report/' + encodeURIComponent(n.id) + '">printable</a>' : '') + '</td></tr>';
    }).join('') + '</tbody></table>');
  }

  // ---------- dashboards ----------
  function dashboardPage(n, printable) {
    return detail(n.i).then(function (d) {
      var e = d.exposure || {}, charts = (e.dashboard && e.dashboard.charts) || [];
      var html = '<h1>' + esc(e.label || n.name) + '</h1><p class="muted">' + (printable ? 'Report' : 'Dashboard') + ' · data as of ' + esc(S.index.generated_at || '') + ' · ' + link(n) + '</p>' + markdown(d.description) +
        (printable ? '<p class="noprint"><button class="btn" id="print">Print</button></p>' : '') +
        '<div class="' + (printable ? '' : 'grid2') + '">' + charts.map(function (c, k) { return '<section class="chart" id="chart' + k + '" data-type="' + esc(c.type) + '"><h3>' + esc(c.title) + '</h3><div class="body"></div><p class="muted">from ' + esc(c.model) + '</p></section>'; }).join('') + '</div>';
      var m = setMain(html);
      charts.forEach(function (c, k) {
        var body = m.querySelector('#chart' + k + ' .body');
        if (c.error) { body.innerHTML = '<p class="error">' + esc(c.error) + '</p>'; return; }
        body.innerHTML = ({ line: lineChart, bar: barChart, heatmap: heatmap, table: tableChart }[c.type] || tableChart)(c);
      });
      var p = m.querySelector('#print');
      if (p) p.addEventListener('click', function () { window.print(); });
    });
  }
  var PALETTE = ['#0a58ca', '#c2410c', '#15803d', '#7e22ce', '#b91c1c', '#0f766e'];
  function num(v) { return v == null || v === '' ? null : Number(v); }
  function extent(values) {
    var lo = Infinity, hi = -Infinity;
    values.forEach(function (v) { if (v != null && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } });
    if (lo === Infinity) return [0, 1];
    if (lo > 0) lo = 0;
    return lo === hi ? [lo, hi + 1] : [lo, hi];
  }
  function axes(w, h, pad, lo, hi, labels) {
    var out = '<line x1="' + pad + '" y1="' + (h - pad) + '" x2="' + (w - 10) + '" y2="' + (h - pad) + '" stroke="#888"/><line x1="' + pad + '" y1="10" x2="' + pad + '" y2="' + (h - pad) + '" stroke="#888"/>';
    for (var t = 0; t <= 4; t++) {
      var v = lo + (hi - lo) * t / 4, y = h - pad - (h - pad - 10) * t / 4;
      out += '<text x="' + (pad - 4) + '" y="' + (y + 4) + '" text-anchor="end">' + esc(fmt(v)) + '</text><line x1="' + pad + '" x2="' + (w - 10) + '" y1="' + y + '" y2="' + y + '" stroke="#eee"/>';
    }
    var every = Math.max(1, Math.ceil(labels.length / 7));
    labels.forEach(function (l, i) {
      if (i % every) return;
      var x = pad + (w - pad - 10) * (labels.length === 1 ? 0.5 : i / (labels.length - 1));
      out += '<text x="' + x + '" y="' + (h - pad + 14) + '" text-anchor="middle">' + esc(String(l).slice(0, 10)) + '</text>';
    });
    return out;
  }
  function legend(names) {
    return '<div class="legend">' + names.map(function (s, i) { return '<span><i style="background:' + PALETTE[i % PALETTE.length] + '"></i>' + esc(s) + '</span>'; }).join('') + '</div>';
  }
  function lineChart(c) {
    var w = 620, h = 260, pad = 46, xs = c.rows.map(function (r) { return r[0]; }), series = c.columns.slice(1);
    var all = []; c.rows.forEach(function (r) { r.slice(1).forEach(function (v) { all.push(num(v)); }); });
    var ex = extent(all), lo = ex[0], hi = ex[1];
    var X = function (i) { return pad + (w - pad - 10) * (xs.length === 1 ? 0.5 : i / (xs.length - 1)); };
    var Y = function (v) { return h - pad - (h - pad - 10) * (v - lo) / (hi - lo); };
    var lines = series.map(function (s, k) {
      var d = '', pts = '';
      c.rows.forEach(function (r, i) {
        var v = num(r[k + 1]);
        if (v == null) return;
        d += (d ? 'L' : 'M') + X(i).toFixed(1) + ',' + Y(v).toFixed(1);
        pts += '<circle cx="' + X(i).toFixed(1) + '" cy="' + Y(v).toFixed(1) + '" r="2.5" fill="' + PALETTE[k % PALETTE.length] + '"><title>' + esc(s + ' ' + xs[i] + ': ' + fmt(v)) + '</title></circle>';
      });
      return '<path d="' + d + '" fill="none" stroke="' + PALETTE[k % PALETTE.length] + '" stroke-width="2"/>' + pts;
    }).join('');
    return '<svg viewBox="0 0 ' + w + ' ' + h + '" width="100%" role="img" aria-label="' + esc(c.title) + '">' + axes(w, h, pad, lo, hi, xs) + lines + '</svg>' + legend(series);
  }
  function barChart(c) {
    var w = 620, h = 260, pad = 46, cats = c.rows.map(function (r) { return r[0]; }), series = c.columns.slice(1);
    var all = []; c.rows.forEach(function (r) { r.slice(1).forEach(function (v) { all.push(num(v)); }); });
    var ex = extent(all), lo = ex[0], hi = ex[1];
    var slot = (w - pad - 10) / Math.max(1, cats.length), bw = Math.max(1, (slot * 0.8) / series.length);
    var Y = function (v) { return h - pad - (h - pad - 10) * (v - lo) / (hi - lo); };
    var bars = '';
    c.rows.forEach(function (r, i) {
      series.forEach(function (s, k) {
        var v = num(r[k + 1]);
        if (v == null) return;
        var x = pad + i * slot + slot * 0.1 + k * bw, y = Y(Math.max(v, 0)), y0 = Y(Math.min(v, 0));
        bars += '<rect x="' + x.toFixed(1) + '" y="' + y.toFixed(1) + '" width="' + bw.toFixed(1) + '" height="' + Math.max(0.5, y0 - y).toFixed(1) + '" fill="' + PALETTE[k % PALETTE.length] + '"><title>' + esc(cats[i] + ' · ' + s + ': ' + fmt(v)) + '</title></rect>';
      });
    });
    var labels = '', every = Math.max(1, Math.ceil(cats.length / 7));
    cats.forEach(function (l, i) { if (i % every === 0) labels += '<text x="' + (pad + i * slot + slot / 2) + '" y="' + (h - pad + 14) + '" text-anchor="middle">' + esc(String(l).slice(0, 14)) + '</text>'; });
    var frame = axes(w, h, pad, lo, hi, []);
    return '<svg viewBox="0 0 ' + w + ' ' + h + '" width="100%" role="img" aria-label="' + esc(c.title) + '">' + frame + bars + labels + '</svg>' + legend(series);
  }
  function heatmap(c) {
    var xs = [], ys = [], cell = new Map(), vals = [];
    c.rows.forEach(function (r) {
      var x = String(r[0]), y = String(r[1]), v = num(r[2]);
      if (xs.indexOf(x) < 0) xs.push(x);
      if (ys.indexOf(y) < 0) ys.push(y);
      cell.set(x + '\u0000' + y, v); if (v != null) vals.push(v);
    });
    var numeric = function (a) { return a.every(function (s) { return s !== '' && !isNaN(Number(s)); }); };
    var sortv = function (a) { return numeric(a) ? a.sort(function (p, q) { return p - q; }) : a.sort(); };
    sortv(xs); sortv(ys);
    var lo = Math.min.apply(null, vals.length ? vals : [0]), hi = Math.max.apply(null, vals.length ? vals : [1]);
    var cw = Math.max(16, Math.min(48, 560 / Math.max(1, xs.length))), ch = 20, left = 90, top = 24;
    var w = left + xs.length * cw + 10, h = top + ys.length * ch + 10, out = '';
    xs.forEach(function (x, i) { out += '<text x="' + (left + i * cw + cw / 2) + '" y="16" text-anchor="middle">' + esc(x.slice(0, 8)) + '</text>'; });
    ys.forEach(function (y, j) {
      out += '<text x="' + (left - 6) + '" y="' + (top + j * ch + 14) + '" text-anchor="end">' + esc(y.slice(0, 12)) + '</text>';
      xs.forEach(function (x, i) {
        var v = cell.get(x + '\u0000' + y);
        if (v == null) return;
        var t = hi > lo ? (v - lo) / (hi - lo) : 1, shade = Math.round(245 - t * 190);
        out += '<rect x="' + (left + i * cw) + '" y="' + (top + j * ch) + '" width="' + (cw - 1) + '" height="' + (ch - 1) + '" fill="rgb(' + shade + ',' + (shade + 8 > 255 ? 255 : shade + 8) + ',255)"><title>' +
          esc(c.columns[1] + ' ' + y + ', ' + c.columns[0] + ' ' + x + ': ' + fmt(v)) + '</title></rect>';
        if (cw >= 34) out += '<text x="' + (left + i * cw + cw / 2) + '" y="' + (top + j * ch + 14) + '" text-anchor="middle" style="fill:' + (t > 0.55 ? '#fff' : '#222') + '">' + esc(fmt(v)) + '</text>';
      });
    });
    return '<svg viewBox="0 0 ' + w + ' ' + h + '" width="100%" role="img" aria-label="' + esc(c.title) + '">' + out + '</svg><p class="muted">x: ' + esc(c.columns[0]) + ' · y: ' + esc(c.columns[1]) + ' · colour: ' + esc(c.columns[2]) + ' (' + fmt(lo) + ' to ' + fmt(hi) + ')</p>';
  }
  function tableChart(c) {
    var rows = c.rows.slice(0, 200);
    return '<table><thead><tr>' + c.columns.map(function (h) { return '<th>' + esc(h) + '</th>'; }).join('') + '</tr></thead><tbody>' + rows.map(function (r) {
      return '<tr>' + r.map(function (v) { return '<td class="' + (typeof v === 'number' ? 'num' : '') + '">' + esc(fmt(v)) + '</td>'; }).join('') + '</tr>';
    }).join('') + '</tbody></table>' + (c.rows.length > 200 ? '<p class="muted">First 200 of ' + c.rows.length + ' rows.</p>' : '');
  }
})();
