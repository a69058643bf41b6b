/*
 * ctad_cloudtrail setup page (default/data/ui/views/ctad_setup.xml).
 *
 * Talks to splunkd through Splunk Web's REST proxy (/<locale>/splunkd/__raw/...) the way
 * @splunk/splunk-utils does: same-origin fetch with credentials, the CSRF token from the
 * splunkweb_csrf_token_<port> cookie sent as X-Splunk-Form-Key, X-Requested-With: XMLHttpRequest.
 *   - macro cloudtrail_index      configs/conf-macros/cloudtrail_index       (definition=...)
 *   - Anthropic key               storage/passwords (realm ctad_cloudtrail, name anthropic): never a .conf file
 *   - scheduled searches          saved/searches/<name>/enable | disable
 *   - app configured              apps/local/ctad_cloudtrail (configured=1)
 * No framework needed; inside Splunk it waits for the Simple XML dashboard to be ready.
 */
(function (root) {
    'use strict';

    var APP = 'ctad_cloudtrail';
    var REALM = 'ctad_cloudtrail';
    var KEY_NAME = 'anthropic';
    var INDEX_RE = /^[A-Za-z0-9_*][A-Za-z0-9_\-*]*$/;

    function locale() {
        if (root.$C && root.$C.LOCALE) { return root.$C.LOCALE; }
        var first = (root.location.pathname.split('/')[1] || '');
        return /^[a-z]{2}(-[A-Za-z]{2})?$/.test(first) ? first : 'en-US';
    }

    function cookie(name) {
        var parts = (root.document.cookie || '').split(/;\s*/);
        for (var i = 0; i < parts.length; i++) {
            var eq = parts[i].indexOf('=');
            if (eq > 0 && parts[i].slice(0, eq) === name) { return decodeURIComponent(parts[i].slice(eq + 1)); }
        }
        return null;
    }

    function csrfToken() {
        var port = (root.$C && root.$C.MRSPARKLE_PORT_NUMBER) || root.location.port || '';
        var token = cookie('splunkweb_csrf_token_' + port);
        if (token) { return token; }
        var parts = (root.document.cookie || '').split(/;\s*/);   // Splunk Web behind a proxy on another port
        for (var i = 0; i < parts.length; i++) {
            if (parts[i].indexOf('splunkweb_csrf_token_') === 0) { return decodeURIComponent(parts[i].split('=')[1] || ''); }
        }
        return '';
    }

    function restUrl(path, ns) {
        var base = '/' + locale() + '/splunkd/__raw/';
        var prefix = ns === false ? 'services/' : 'servicesNS/nobody/' + APP + '/';
        return base + prefix + path + (path.indexOf('?') >= 0 ? '&' : '?') + 'output_mode=json';
    }

    function encodeForm(data) {
        return Object.keys(data).map(function (k) {
            return encodeURIComponent(k) + '=' + encodeURIComponent(data[k]);
        }).join('&');
    }

    function rest(method, path, data, ns) {
        var init = {
            method: method,
            credentials: 'include',
            headers: {
                'X-Splunk-Form-Key': csrfToken(),
                'X-Requested-With': 'XMLHttpRequest',
                'Accept': 'application/json'
            }
        };
        if (data) {
            init.headers['Content-Type'] = 'application/x-www-form-urlencoded';
            init.body = encodeForm(data);
        }
        return root.fetch(restUrl(path, ns), init).then(function (resp) {
            return resp.text().then(function (text) {
                var body = null;
                try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
                if (!resp.ok) {
                    var msg = (body && body.messages && body.messages.length) ? body.messages[0].text : resp.statusText;
                    var err = new Error(method + ' ' + path + ': ' + resp.status + ' ' + msg);
                    err.status = resp.status;
                    throw err;
                }
                return body;
            });
        });
    }

    /* "aws, cloudtrail_*" -> '(index="aws" OR index="cloudtrail_*")'; throws on anything that is not an index name. */
    function indexDefinition(text) {
        var names = String(text || '').split(/[\s,]+/).filter(function (s) { return s.length > 0; });
        if (!names.length) { throw new Error('Enter at least one index name.'); }
        names.forEach(function (n) {
            if (!INDEX_RE.test(n)) { throw new Error('Not an index name: "' + n + '" (letters, digits, _, - and * only).'); }
        });
        if (names.length === 1) { return 'index="' + names[0] + '"'; }
        return '(' + names.map(function (n) { return 'index="' + n + '"'; }).join(' OR ') + ')';
    }

    /* 'index=aws' / '(index="a" OR index=b)' -> "aws" / "a, b" for the form. */
    function indexNames(definition) {
        var out = [];
        var re = /index\s*=\s*"?([^"\s)]+)"?/g;
        var m;
        while ((m = re.exec(definition || '')) !== null) { out.push(m[1]); }
        return out.join(', ');
    }

    function passwordPath() {
        return 'storage/passwords/' + encodeURIComponent(REALM + ':' + KEY_NAME + ':');
    }

    function savedSearchPath(name) {
        return 'saved/searches/' + encodeURIComponent(name);
    }

    function Setup(doc) {
        this.doc = doc;
        this.el = function (id) { return doc.getElementById(id); };
        this.initial = {};
    }

    Setup.prototype.status = function (text, kind) {
        var s = this.el('ctad-status');
        s.textContent = text;
        s.className = 'ctad-status' + (kind ? ' ctad-' + kind : '');
        this.el('ctad-setup').setAttribute('data-state', kind || 'busy');
    };

    Setup.prototype.load = function () {
        var self = this;
        var boxes = Array.prototype.slice.call(self.doc.querySelectorAll('input.ctad-search'));
        var macro = rest('GET', 'configs/conf-macros/cloudtrail_index').then(function (body) {
            var def = body.entry[0].content.definition || '';
            self.el('ctad-index-current').textContent = def;
            self.el('ctad-index').value = indexNames(def);
        });
        var key = rest('GET', passwordPath()).then(function () {
            self.el('ctad-key-state').textContent = 'yes';
        }, function (err) {
            if (err.status === 404) { self.el('ctad-key-state').textContent = 'none'; return; }
            throw err;
        });
        var searches = Promise.all(boxes.map(function (box) {
            var name = box.getAttribute('data-search');
            return rest('GET', savedSearchPath(name)).then(function (body) {
                var disabled = body.entry[0].content.disabled;
                box.checked = !(disabled === true || disabled === '1' || disabled === 1 || disabled === 'true');
                self.initial[name] = box.checked;
            });
        }));
        return Promise.all([macro, key, searches]).then(function () {
            self.status('', 'ready');
        }, function (err) {
            self.status('Could not read the current settings: ' + err.message, 'error');
        });
    };

    Setup.prototype.save = function () {
        var self = this;
        var definition;
        try {
            definition = indexDefinition(self.el('ctad-index').value);
        } catch (err) {
            self.status(err.message, 'error');
            return Promise.resolve(false);
        }
        var keyInput = self.el('ctad-key');
        var key = keyInput.value;
        var removeKey = self.el('ctad-key-remove').checked;
        self.status('Saving…', 'busy');
        var steps = [];
        steps.push(function () {
            return rest('POST', 'configs/conf-macros/cloudtrail_index', { definition: definition }).then(function () {
                self.el('ctad-index-current').textContent = definition;
                return 'index macro set to ' + definition;
            });
        });
        if (removeKey) {
            steps.push(function () {
                return rest('DELETE', passwordPath()).then(function () { return 'API key removed'; }, function (err) {
                    if (err.status === 404) { return 'no API key was stored'; }
                    throw err;
                });
            });
        } else if (key) {
            steps.push(function () {
                return rest('POST', passwordPath(), { password: key }).catch(function (err) {
                    if (err.status !== 404) { throw err; }
                    return rest('POST', 'storage/passwords', { name: KEY_NAME, realm: REALM, password: key });
                }).then(function () { return 'API key stored'; });
            });
        }
        Array.prototype.slice.call(self.doc.querySelectorAll('input.ctad-search')).forEach(function (box) {
            var name = box.getAttribute('data-search');
            if (self.initial[name] === box.checked) { return; }
            steps.push(function () {
                return rest('POST', savedSearchPath(name) + (box.checked ? '/enable' : '/disable'), {}).then(function () {
                    self.initial[name] = box.checked;
                    return name + (box.checked ? ' enabled' : ' disabled');
                });
            });
        });
        steps.push(function () {
            return rest('POST', 'apps/local/' + APP, { configured: '1' }, false).then(function () { return 'app marked configured'; });
        });
        var done = [];
        var chain = Promise.resolve();
        steps.forEach(function (step) {
            chain = chain.then(step).then(function (msg) { done.push(msg); });
        });
        return chain.then(function () {
            keyInput.value = '';
            if (removeKey) { self.el('ctad-key-state').textContent = 'none'; self.el('ctad-key-remove').checked = false; }
            else if (key) { self.el('ctad-key-state').textContent = 'yes'; }
            self.status('Saved: ' + done.join('; ') + '.', 'ok');
            return true;
        }, function (err) {
            keyInput.value = '';
            self.status('Save failed: ' + err.message + (done.length ? ' (done before: ' + done.join('; ') + ')' : ''), 'error');
            return false;
        });
    };

    function start(doc) {
        var form = doc.getElementById('ctad-setup-form');
        if (!form) { return null; }
        var setup = new Setup(doc);
        form.addEventListener('submit', function (ev) {
            ev.preventDefault();
            setup.save();
        });
        root.ctadSetup = setup;
        setup.load();
        return setup;
    }

    root.ctadSetupInternals = { indexDefinition: indexDefinition, indexNames: indexNames, restUrl: restUrl };

    if (typeof root.require === 'function' && typeof root.define === 'function' && root.define.amd) {
        // Inside Splunk Web (Simple XML extension): run once the dashboard, and so the <html> panel, is rendered.
        root.require(['splunkjs/mvc/simplexml/ready!'], function () { start(root.document); });
    } else if (root.document.readyState === 'loading') {
        root.document.addEventListener('DOMContentLoaded', function () { start(root.document); });
    } else {
        start(root.document);
    }
}(window));
